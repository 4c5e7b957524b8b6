"""Simulated time: integer milliseconds since the epoch, rendered as ISO 8601 UTC with a Z."""

from __future__ import annotations

import time
from datetime import UTC, datetime

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def to_ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def iso(ms: int | None) -> str | None:
    """Whole seconds render without a fraction, others with milliseconds: the contract allows both."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{millis:03d}Z" if millis else f"{stamp}Z"


def parse_iso_us(text: str) -> int:
    """An ISO 8601 timestamp as integer microseconds since the epoch; naive means UTC. ValueError if bad."""
    dt = datetime.fromisoformat(text.strip().replace(" ", "+") if "T" in text else text.strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ceil_ms(us: int) -> int:
    """The first whole millisecond at or after `us` microseconds: items with updated_at >= since."""
    return -((-us) // 1000)
