"""Incremental cursors on updated_at: the filter to send, and which rows are new or changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

# Past this many ids the lag-window memory is dropped: rows in the window are then simply
# re-loaded (the merge makes that harmless), and the state stays small.
MAX_RECENT = 10_000


def parse_ts(value: str) -> datetime:
    """ISO 8601 UTC with a Z, with or without fractional seconds."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_since(moment: datetime) -> str:
    """The updated_since value: whole seconds, rounded down (earlier is always safe)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_start(server_date: str | None) -> datetime:
    """The moment cursors are capped at: the server's clock (its HTTP Date, the clock its
    updated_at stamps come from) rounded up to the next second, else this machine's clock."""
    moment = server_clock(server_date)
    return moment + timedelta(seconds=1) if moment is not None else datetime.now(UTC)


def server_clock(server_date: str | None) -> datetime | None:
    """The server's HTTP Date as an aware UTC datetime; None when absent or unreadable."""
    if not server_date:
        return None
    try:
        moment = parsedate_to_datetime(server_date)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


class Cursor:
    """One list's high-water mark plus the ids seen inside the look-back window.

    `since` is fixed when the cursor is made (the start of the run) and never moves while pages
    are read. `observe(row)` says whether a row is new or changed: rows older than the window are
    not (a server that ignores updated_since sends them anyway), nor rows in the window already
    seen with the same updated_at. `saved()` is the state to commit for the rows observed so far
    (the list is ordered by updated_at, so a partly read list may commit it too).

    `cap` is the run's start: the high-water mark never passes it, so one row stamped in the
    future (a writer's clock skew) cannot hide the changes of the hours until then. Such rows are
    loaded, counted in `ahead`, and remembered in `recent` so later runs do not load them again.
    """

    def __init__(self, saved: dict[str, Any] | None, lag_seconds: int, cap: datetime | None = None) -> None:
        saved = saved or {}
        self.lag = timedelta(seconds=lag_seconds)
        self.cap = cap
        self.hwm: datetime | None = parse_ts(saved["hwm"]) if saved.get("hwm") else None
        if self.hwm is not None and cap is not None and self.hwm > cap:
            self.hwm = cap  # frozen by a future row before the cap existed: thawed here
        self.recent: dict[str, str] = dict(saved.get("recent") or {})
        self.ahead = 0  # rows observed with updated_at after the cap
        self.newest_ahead: str | None = None
        self._floor = self.hwm - self.lag if self.hwm else None
        self.since: str | None = format_since(self._floor) if self._floor else None
        self._max = self.hwm
        # Rows seen in this read near its newest: arrive ordered by updated_at, so older ones
        # are pruned as the newest moves on, and memory stays small however long the list.
        self._seen: dict[str, tuple[str, datetime]] = {}
        self._prune_at = 1024

    def observe(self, row: dict[str, Any]) -> bool:
        raw = row.get("updated_at")
        try:
            ts = parse_ts(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return True  # no usable cursor value: load it, the merge keeps one copy
        if self._floor is not None and (ts < self._floor or self.recent.get(row["id"]) == raw):
            return False
        if self.cap is not None and ts > self.cap:
            self.ahead += 1
            if self.newest_ahead is None or ts > parse_ts(self.newest_ahead):
                self.newest_ahead = raw
            ts_max = self.cap
        else:
            ts_max = ts
        if self._max is None or ts_max > self._max:
            self._max = ts_max
        self._seen[row["id"]] = (raw, ts)
        if len(self._seen) >= self._prune_at:
            floor = self._max - self.lag
            self._seen = {k: v for k, v in self._seen.items() if v[1] >= floor}
            self._prune_at = max(1024, 2 * len(self._seen))
        return True

    def skew_warning(self, what: str) -> str:
        """The report line for rows stamped after the run's start."""
        cap = format_since(self.cap) if self.cap else "?"
        return (
            f"clock skew: {self.ahead} row(s) of {what} stamped after the run started ({cap}), "
            f"newest {self.newest_ahead}; loaded, the cursor stays at the run's start"
        )

    def saved(self) -> dict[str, Any]:
        if self._max is None:
            return {}
        floor = self._max - self.lag
        recent = {**self.recent, **{k: raw for k, (raw, _) in self._seen.items()}}
        # Too many to remember: forget them all (they are re-loaded next run, harmlessly).
        recent = {} if len(recent) > MAX_RECENT else {k: v for k, v in recent.items() if parse_ts(v) >= floor}
        return {"hwm": self._max.isoformat(), "recent": recent}
