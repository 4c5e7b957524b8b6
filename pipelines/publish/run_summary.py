"""What a sync did: rows, requests, 429s, retries, waits and rate utilisation, per table and in total."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.api.redaction import redact
from pipelines.api.request_stats import ClientStats
from pipelines.extract.endpoints import table_order
from pipelines.extract.rejected_rows import TABLE as REJECTED_TABLE

# v1 lists first as they always were, then the platform's (pipelines.extract.endpoints); "root" leads.
RESOURCE_ORDER = (
    "root",
    "repositories",
    "webhooks",
    *(t for t in table_order() if t not in ("repositories", "webhooks")),
)


@dataclass
class ResourceStats:
    """One table's share of the sync."""

    name: str
    rows: int = 0
    requests: int = 0
    throttled_429: int = 0
    retries: int = 0
    wait_seconds: float = 0.0
    elapsed: float = 0.0


class _Total:
    """A report attribute read as one ResourceStats counter summed over every table."""

    def __init__(self, counter: str) -> None:
        self.counter = counter

    def __get__(self, report: SyncReport | None, owner: type | None = None) -> Any:
        if report is None:
            return self
        return sum(getattr(r, self.counter) for r in report.resources.values())


def allowed_requests(requests_per_minute: float, burst: int, seconds: float) -> float:
    """What a token bucket admits in `seconds` starting full: the burst, then the rate."""
    return burst + requests_per_minute / 60.0 * seconds


@dataclass
class SyncReport:
    """The outcome of one sync; `summary_table()` for people, `as_rows()` for Prefect artifacts."""

    requests_per_minute: float
    burst: int
    # How the run read, as the summary's lines describe it (the sync's options are its SyncRun's).
    full_refresh: bool = False
    reconcile: bool = False
    concurrency: int = 1
    flavour: str = "v1"  # which API the run read (pipelines.extract.endpoints)
    mode: str = ""  # event-driven runs: which mode ran and why (pipelines.events.plan)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    elapsed: float = 0.0  # wall time of the whole sync, loads included
    request_window: float = 0.0  # first request sent -> last response received
    resources: dict[str, ResourceStats] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    schema_changes: list[str] = field(default_factory=list)
    batches: int = 0
    details_backfilled: int = 0  # detail requests for rows loaded in earlier runs without them
    details_missing: int = 0  # rows still without details after this run's bounded backfill
    notes: list[str] = field(default_factory=list)  # what the sync did beyond the table above
    checkpoints: int = 0  # loads of repositories' lists: one per batch, more in large repositories
    repositories_read: int = 0
    load_ids: list[str] = field(default_factory=list)  # the _dlt_load_id of every load this run made
    # Repositories whose lists and own GET answered 404: their cursors were dropped, their rows kept.
    vanished_repositories: list[str] = field(default_factory=list)
    # Lists not read to their end this run (cursor kept): the sync ends non-zero naming them.
    failures: list[str] = field(default_factory=list)
    step_failures: int = 0  # of the failures, those of bookkeeping after a load, not of a list
    # Records set aside in rejected_records, per table, and each table's first reason.
    rejected: dict[str, int] = field(default_factory=dict)
    rejected_reasons: dict[str, str] = field(default_factory=dict)
    # Values stored as text in rows that loaded, per "table.column" (also in rejected_records).
    text_values: dict[str, int] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}")
    deleted: dict[str, int] = field(default_factory=dict)  # rows given _deleted_at by this run
    expired: int = 0  # scans given _expired_at by this run (platform flavour)
    history_rows: dict[str, int] = field(default_factory=dict)  # versions this run added, per table
    # Where and when the rows landed, set once as the sync ends (landed()); read-only to callers.
    _pipeline: Any = field(default=None, repr=False)
    _observed_at: datetime | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pipeline(self) -> Any:
        """The dlt.Pipeline the sync loaded through (the marts and the serving file read it)."""
        return self._pipeline

    @property
    def observed_at(self) -> datetime:
        """The stamp this run's history versions and _deleted_at carry: its start on the server's
        clock (the one updated_at come from), else this machine's."""
        return self._observed_at or self.started_at

    def landed(self, pipeline: Any, observed_at: datetime | None) -> None:
        """Where the run's rows went and the stamp they carry (pipelines.load.sync.context)."""
        self._pipeline, self._observed_at = pipeline, observed_at

    # -- filled while the sync runs (pipelines.extract.v1.Tally) ----------------------------------

    def resource(self, name: str) -> ResourceStats:
        with self._lock:
            return self.resources.setdefault(name, ResourceStats(name))

    def add_rows(self, table: str, count: int) -> None:
        stats = self.resource(table)
        with self._lock:
            stats.rows += count

    def warn(self, message: str) -> None:
        message = redact(message)
        with self._lock:
            if message not in self.warnings:
                self.warnings.append(message)

    def vanish(self, repository_id: str) -> None:
        with self._lock:
            if repository_id in self.vanished_repositories:
                return
            self.vanished_repositories.append(repository_id)
        self.warn(
            f"repository {repository_id} vanished (its lists and GET /repositories/{repository_id} "
            "answer 404); its rows are kept, its cursors dropped"
        )

    def fail(self, message: str, *, step: bool = False) -> None:
        """A list not read to its end, or with `step`, bookkeeping after a load that did not
        finish (history, deletions): the run ends exit 1 either way, but only a list keeps a
        refresh's restore and an event plan waiting."""
        with self._lock:
            if message not in self.failures:
                self.failures.append(message)
                self.step_failures += step

    @property
    def lists_failed(self) -> bool:
        return len(self.failures) > self.step_failures

    def add_rejected(self, table: str, reason: str, column: str | None = None) -> None:
        """A record set aside, or with `column`, one value stored as text in a row that loaded."""
        with self._lock:
            if column is not None:
                key = f"{table}.{column}"
                self.text_values[key] = self.text_values.get(key, 0) + 1
                return
            self.rejected[table] = self.rejected.get(table, 0) + 1
            self.rejected_reasons.setdefault(table, reason)

    def add_deleted(self, table: str, count: int) -> None:
        with self._lock:
            self.deleted[table] = self.deleted.get(table, 0) + count

    def add_expired(self, count: int) -> None:
        with self._lock:
            self.expired += count

    def deletions_line(self) -> str:
        """What this run marked as no longer listed by the API, and whether it could have."""
        marked = ", ".join(f"{t} {n:,}" for t, n in sorted(self.deleted.items())) or "none"
        if self.flavour == "platform":
            return (
                f"marked deleted: {marked}; scans expired: {self.expired:,} (the repositories and scans "
                "lists are read whole every run; expired scans keep their rows and findings)"
            )
        how = (
            "a full refresh re-reads everything"
            if self.full_refresh
            else "--reconcile: every list read in full"
            if self.reconcile
            else "complete reads only (new repositories, vanished ones); --reconcile reads every list in full"
        )
        return f"marked deleted: {marked} ({how})"

    def history_line(self) -> str:
        versions = ", ".join(f"{t} {n:,}" for t, n in sorted(self.history_rows.items())) or "none"
        return f"history: new versions {versions}"

    def absorb(self, stats: ClientStats) -> None:
        """Copy the client's request counters in (at the end, or for a progress line)."""
        snapshot = stats.snapshot()
        for name, s in snapshot.items():
            r = self.resource(name)
            r.requests, r.throttled_429, r.retries = s.requests, s.throttled_429, s.retries
            r.wait_seconds, r.elapsed = s.wait_seconds, s.elapsed
        totals = stats.totals()
        self.request_window = totals.elapsed

    def finish(self, stats: ClientStats, elapsed: float) -> None:
        self.absorb(stats)
        self.elapsed = elapsed

    # -- derived ------------------------------------------------------------------------------

    # Every table's counter added up (the summary's total line; flows and the bench read them).
    rows = _Total("rows")
    total_requests = _Total("requests")
    throttled_429 = _Total("throttled_429")
    retries = _Total("retries")
    wait_seconds = _Total("wait_seconds")

    @property
    def allowed_requests(self) -> float:
        return allowed_requests(self.requests_per_minute, self.burst, self.request_window)

    @property
    def utilisation(self) -> float | None:
        """Budget-consuming requests (429s consume nothing) over what the rate allowed meanwhile."""
        if not self.total_requests:
            return None
        return (self.total_requests - self.throttled_429) / self.allowed_requests

    def _ordered(self) -> list[ResourceStats]:
        rank = {name: i for i, name in enumerate(RESOURCE_ORDER)}
        return sorted(self.resources.values(), key=lambda r: (rank.get(r.name, 99), r.name))

    def as_rows(self) -> list[dict[str, Any]]:
        """One dict per table plus a total row (for a Prefect table artifact)."""
        rows = []
        for r in self._ordered():
            share = allowed_requests(self.requests_per_minute, self.burst, r.elapsed) if r.elapsed else 0
            util = (r.requests - r.throttled_429) / share if share else None
            rows.append(
                _row(r.name, r.rows, r.requests, r.throttled_429, r.retries, r.wait_seconds, r.elapsed, util)
            )
        rows.append(
            _row(
                "total",
                self.rows,
                self.total_requests,
                self.throttled_429,
                self.retries,
                self.wait_seconds,
                self.elapsed,
                self.utilisation,
            )
        )
        return rows

    def summary_table(self) -> str:
        header = ("table", "rows", "requests", "429s", "retries", "wait s", "elapsed s", "rate use")
        lines = []
        for row in self.as_rows():
            util = row["utilisation"]
            lines.append(
                (
                    row["table"],
                    f"{row['rows']:,}",
                    f"{row['requests']:,}",
                    str(row["throttled_429"]),
                    str(row["retries"]),
                    f"{row['wait_seconds']:.1f}",
                    f"{row['elapsed_seconds']:.1f}",
                    "-" if util is None else f"{util:.0%}",
                )
            )
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

        def fmt(cells: tuple[str, ...]) -> str:
            pairs = enumerate(zip(cells, widths, strict=True))
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

        out = [fmt(header), fmt(tuple("-" * w for w in widths))]
        out += [fmt(line) for line in lines[:-1]]
        out += [fmt(tuple("-" * w for w in widths)), fmt(lines[-1])]
        out.append(
            f"rate {self.requests_per_minute:g}/min burst {self.burst}: "
            f"{self.total_requests - self.throttled_429} requests in a {self.request_window:.1f} s "
            f"request window, {self.allowed_requests:.0f} allowed; wait s is summed over the "
            f"{self.concurrency} reading threads"
        )
        for note in self.notes:
            out.append(note)
        if self.mode:
            out.append(self.mode)
        out.append(self.history_line())
        out.append(self.deletions_line())
        for change in self.schema_changes:
            out.append(f"schema change: {change}")
        for warning in self.warnings:
            out.append(f"warning: {warning}")
        for failure in self.failures:
            out.append(f"failed: {failure}")
        if self.rejected:
            count = sum(self.rejected.values())
            parts = ", ".join(
                f"{table} {n} (e.g. {self.rejected_reasons[table]})"
                for table, n in sorted(self.rejected.items())
            )
            out.append(
                f"rejected: {count} record{'' if count == 1 else 's'} could not be loaded and "
                f"{'was' if count == 1 else 'were'} set aside in {REJECTED_TABLE} "
                f"(run_id {self.run_id}): {parts}"
            )
        if self.text_values:
            count = sum(self.text_values.values())
            parts = ", ".join(f"{column} {n}" for column, n in sorted(self.text_values.items()))
            out.append(
                f"stored as text: {count} value{'' if count == 1 else 's'} no column could hold, "
                f"{'its row' if count == 1 else 'their rows'} kept (listed in {REJECTED_TABLE}, "
                f"run_id {self.run_id}): {parts}"
            )
        return redact("\n".join(out))

    def progress_line(self, wall_wait: float | None = None) -> str:
        """`wall_wait`: seconds of this run's wall time spent waiting for the rate limit. Without it
        the line says the figure is summed over the threads (8 threads waiting together count 8 times)."""
        wait = (
            f"rate-limit wait {wall_wait:.0f} s"
            if wall_wait is not None
            else f"rate-limit wait {self.wait_seconds:.0f} s summed over threads"
        )
        return (
            f"requests {self.total_requests:,}  rows {self.rows:,}  "
            f"429s {self.throttled_429}  retries {self.retries}  {wait}"
        )


def _row(
    table: str,
    rows: int,
    requests: int,
    throttled_429: int,
    retries: int,
    wait_seconds: float,
    elapsed: float,
    utilisation: float | None,
) -> dict[str, Any]:
    """One line of as_rows(), rounded as the artifact and the summary table show it."""
    return {
        "table": table,
        "rows": rows,
        "requests": requests,
        "throttled_429": throttled_429,
        "retries": retries,
        "wait_seconds": round(wait_seconds, 1),
        "elapsed_seconds": round(elapsed, 1),
        "utilisation": round(utilisation, 3) if utilisation is not None else None,
    }
