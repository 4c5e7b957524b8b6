"""SimConfig: every knob of the simulator, shared by the Python API and `pixee-etl simulate`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

# requests per minute, burst: the documented tiers (api-contract.md, "Rate limits"). Kept here
# rather than imported from pipelines so the simulator stays independent of the connector.
TIERS: dict[str, tuple[float, int]] = {"standard": (60.0, 10), "enterprise": (300.0, 50)}
ENVELOPES = ("cursor", "hal")
APIS = ("v1", "platform")
# Days of history before now when `days` is not given: the v1 organisation has months of fixes to
# show; the platform API forgets scans after a week, so a month of history is plenty there.
DEFAULT_DAYS = {"v1": 120, "platform": 30}
KNOWN_RELATIONS = (
    "self",
    "repositories",
    "scans",
    "analyses",
    "patches",
    "integrations",
    "scales",
    "system-status",
    "preferences",
    "users-me",
)


def default_now() -> datetime:
    """The current UTC time floored to the hour, so a demo's history ends 'today'."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class SimConfig:
    """How big the organisation is, how the server behaves, and which seed drives both."""

    seed: int = 7
    repositories: int = 12
    days: int = None  # type: ignore[assignment]  # None = DEFAULT_DAYS of the api; an int after init
    findings: int | None = None  # target number of visible findings at start; None = natural size
    requests_per_minute: float | None = None  # None = no rate limit
    burst: int = 10
    tier: str | None = None  # "standard" | "enterprise": sets requests_per_minute and burst
    envelope: str = "cursor"  # "cursor" | "hal"
    ignore_updated_since: bool = False
    latency_ms: float = 0.0
    error_rate: float = 0.0
    now: datetime | None = None  # simulated now (aware UTC); None = current hour (see default_now)
    visibility_lag_seconds: int = 0
    # Webhook deliveries (simulator.webhooks): Pixee's retry schedule times this, a share of
    # deliveries sent twice, a share of events never delivered, and whether non-loopback URLs
    # may be delivered to at all (never by default: a test tool must not send traffic away).
    webhook_retry_scale: float = 1.0
    webhook_duplicate_rate: float = 0.0
    webhook_drop_rate: float = 0.0
    webhook_allow_remote: bool = False
    # Pixee's CLI documents that scans expire from the API some days after import: a scan leaves
    # its list this many days after it was created (None = scans never expire).
    scan_retention_days: float | None = None
    # Share of dismissed findings (FALSE_POSITIVE / WONT_FIX) that are reopened 1-20 days later.
    reopen_dismissed_rate: float = 0.0
    # Days between two scheduled scans of a repository, drawn uniformly from this range: the
    # default keeps every repository busy; (10, 30) makes a day in which only a few change.
    scan_interval_days: tuple[float, float] = (1.0, 3.0)
    # Which API the simulator speaks: the v1 overview API, or the HAL platform API of Pixee's CLI
    # (docs/platform.md). The platform flavour keeps scans scan_retention_days (default 7) and
    # ignores findings, envelope, visibility lag, scan interval, reopen rate and webhooks; the
    # knobs below apply to it only.
    api: str = "v1"
    relative_hrefs: bool = False  # links as paths ("/api/v1/scans?...") instead of absolute URLs
    extra_relation: str | None = None  # a root relation no client knows, e.g. "sbom-exports"
    ignore_time_filters: bool = False  # updated-after/-before, created-after/-before answer everything

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ValueError(f"api must be one of {APIS}, not {self.api!r}")
        if self.days is None:
            self.days = DEFAULT_DAYS[self.api]
        if self.extra_relation is not None and (
            not re.fullmatch(r"[a-z][a-z0-9-]{0,40}", self.extra_relation)
            or self.extra_relation in KNOWN_RELATIONS
        ):
            raise ValueError(
                "extra_relation must be a new lower-case relation name such as 'sbom-exports', "
                f"not {self.extra_relation!r}"
            )
        if self.tier is not None:
            if self.tier not in TIERS:
                raise ValueError(f"tier must be one of {sorted(TIERS)}, not {self.tier!r}")
            self.requests_per_minute, self.burst = TIERS[self.tier]
        if self.envelope not in ENVELOPES:
            raise ValueError(f"envelope must be one of {ENVELOPES}, not {self.envelope!r}")
        if self.repositories < 1:
            raise ValueError("repositories must be at least 1")
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if self.findings is not None and self.findings < 0:
            raise ValueError("findings must be >= 0")
        if self.requests_per_minute is not None and self.requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be > 0 (None turns rate limiting off)")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.scan_retention_days is not None and self.scan_retention_days <= 0:
            raise ValueError("scan_retention_days must be > 0 (None keeps scans for good)")
        low, high = self.scan_interval_days
        if not 0.0 < low <= high:
            raise ValueError("scan_interval_days must be (low, high) with 0 < low <= high")
        if not 0.0 <= self.reopen_dismissed_rate <= 1.0:
            raise ValueError("reopen_dismissed_rate must be between 0 and 1")
        if self.latency_ms < 0 or self.visibility_lag_seconds < 0:
            raise ValueError("latency_ms and visibility_lag_seconds must be >= 0")
        if self.webhook_retry_scale < 0:
            raise ValueError("webhook_retry_scale must be >= 0")
        if not (0.0 <= self.webhook_duplicate_rate <= 1.0 and 0.0 <= self.webhook_drop_rate <= 1.0):
            raise ValueError("webhook_duplicate_rate and webhook_drop_rate must be between 0 and 1")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware (UTC)")
