"""The Pixee REST API v1 as a dlt source: repositories, scans, findings, fixes, webhooks (+ details).

Tables (dataset `pixee`, names and flattening as in the warehouse contract):

| table | endpoint | how it loads |
|---|---|---|
| `repositories` | `GET /repositories` | merge on `id`; incremental on `updated_at` (`updated_since`) |
| `fixes` (+ `fixes__finding_ids`) | `GET /repositories/{id}/fixes` | merge on `id`; incremental, per repo |
| `scans` | `GET /repositories/{id}/scans` | merge on `id`; incremental per repository |
| `findings` | `GET /repositories/{id}/findings` | merge on `id`; incremental per repository |
| `webhooks` | `GET /webhooks` | replace: exactly the current set each run |
| `fix_details` | `GET /fixes/{id}` | details on: merge on `id`, only fixes new or changed in this run |
| `finding_details` | `GET /findings/{id}` | details on: merge on `id`, only findings new or changed |
| `rejected_records` | any of the above | append: records set aside, values kept as text (rejected_rows.py) |

Each table's path, key, column hints and place in the order are its entry in pipelines.extract.endpoints;
the resources below are built from those entries.

Incremental state (the source state, stored with the data by dlt, so a fresh machine resumes):
`repositories` holds the organisation's cursor and `repos` one cursor per repository and list
(`{"hwm": latest updated_at seen, "recent": ids seen in the look-back window}`). The filter sent
is `hwm - lag_seconds`, fixed when the run starts; a repository without a cursor is read in full;
rows the server sends although they are older or unchanged are dropped before loading, so a
server that ignores `updated_since` still leaves exactly one row per object (and the merge on
`id`, keeping the latest `updated_at`, settles copies read twice while an object changed).

Pages of flat lists (findings, scans) travel as Arrow tables typed from the column hints, so
dlt writes them to parquet without normalizing row by row; a page that does not fit (a new
field, a value of another type) goes as dicts, and dlt adds the column or a variant column.

The per-repository resources read from a `Batch` (pipelines.extract.v1.fetcher): a thread pool reads
many repositories at once through the one client and its one token bucket. `pipelines.load.sync` loads
one batch of repositories per dlt load so each batch commits with its cursors; used directly,
`pipeline.run(pixee_source(client))` reads every repository known to the state in one load
(run it twice on a new dataset: the first run learns the repositories).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from pipelines.api.client import PixeeClient
from pipelines.api.paging import iter_pages
from pipelines.errors import ForbiddenError
from pipelines.extract import rejected_rows as records
from pipelines.extract.endpoints import DELETED_AT, Endpoint, detail_tables, endpoint, repository_lists
from pipelines.extract.v1.columns import declared
from pipelines.extract.v1.cursors import Cursor, run_start
from pipelines.extract.v1.fetcher import Batch
from pipelines.extract.v1.items import Checkpoint, ListFailed, Rejected, Vanished, Warn
from pipelines.extract.v1.workers import WorkerPool
from pipelines.load.dlt_files import guard_trace
from pipelines.load.schemas import API_SCHEMA

if TYPE_CHECKING:
    from pipelines.load.deletions import ReadLog

log = logging.getLogger("pipelines.source")
guard_trace()  # every sync loads through this source: its dlt trace never holds the token

SOURCE_NAME = API_SCHEMA
ARROW_ROWS = 10_000


class Tally(Protocol):
    """Where the source reports rows and skipped things (pipelines.publish.run_summary.SyncReport is one)."""

    run_id: str | None

    def add_rows(self, table: str, count: int) -> None: ...

    def warn(self, message: str) -> None: ...

    def vanish(self, repository_id: str) -> None: ...

    def fail(self, message: str) -> None: ...

    def add_rejected(self, table: str, reason: str, column: str | None = None) -> None: ...


class _LogTally:
    run_id = None

    def add_rows(self, table: str, count: int) -> None:
        pass

    def warn(self, message: str) -> None:
        log.warning(message)

    def vanish(self, repository_id: str) -> None:
        log.warning("repository %s vanished (404, confirmed); its rows are kept", repository_id)

    def fail(self, message: str) -> None:
        log.error(message)

    def add_rejected(self, table: str, reason: str, column: str | None = None) -> None:
        log.warning("a %s record or value was set aside in %s: %s", table, records.TABLE, reason)


def webhooks_skipped(exc: ForbiddenError) -> str:
    return f"webhooks skipped: the token may not list them (403, request_id {exc.request_id})"


def read_webhooks(client: PixeeClient, tally: Tally) -> list[list[Any]] | None:
    """Every page of /webhooks (a handful of rows), or None with a warning when the token is
    a repository's (403): the table is then left as it is rather than emptied. Records that
    cannot be loaded travel in the pages as `Rejected` for the webhooks resource to set aside."""
    found: list[Any] = []

    def reject(value: Any, reason: str) -> None:
        found.append(Rejected("webhooks", reason, value))

    try:
        pages: list[list[Any]] = []
        for page in iter_pages(client, "/webhooks", resource="webhooks", reject=reject):
            good, mended = records.mend(page, declared("webhooks"))
            found += [Rejected("webhooks", fix.reason(), fix.row, fix.column) for fix in mended]
            pages.append(good)
    except ForbiddenError as exc:
        tally.warn(webhooks_skipped(exc))
        return None
    return [*pages, found] if found else pages


def set_aside(tally: Tally, rejected: Sequence[Rejected]) -> Any:
    """Rows for rejected_records (an append table of its own, whatever resource yields them)."""
    rows = []
    for item in rejected:
        tally.add_rejected(item.table, item.reason, item.column)
        rows.append(records.rejected_row(item.table, item.reason, item.value, tally.run_id, item.column))
    return dlt.mark.with_table_name(rows, records.TABLE)


def _sets_aside(resource: DltResource) -> DltResource:
    """Give `resource` a rejected_records variant: an append table with its own columns. A
    variant starts as a copy of the resource's hints, so they are emptied first (a findings
    table's non-null id would otherwise reject every rejected record)."""
    resource.apply_hints(
        table_name=records.TABLE,
        write_disposition="append",
        columns={},
        primary_key="",
        merge_key="",
        create_table_variant=True,
    )
    resource.apply_hints(table_name=records.TABLE, columns=records.COLUMNS, create_table_variant=True)  # type: ignore[arg-type]
    return resource


def plan_batch(
    number: int,
    repository_ids: Sequence[str],
    repos_state: dict[str, Any],
    lag_seconds: int,
    details: bool,
    cap: datetime | None = None,
    segment_requests: int = 1 << 40,
    kinds: dict[str, tuple[str, ...]] | None = None,
    full_read: bool = False,
) -> Batch:
    """A batch with its cursors made now, from the state as it stands (the start of the run);
    no cursor moves past `cap` (the run's start); it commits every `segment_requests`; `kinds`
    limits the lists read per repository (event-driven runs); `full_read` reads every list from
    the start (no updated_since), keeping nothing as unchanged."""
    cursors = {
        (repo, kind): Cursor(None if full_read else (repos_state.get(repo) or {}).get(kind), lag_seconds, cap)
        for repo in repository_ids
        for kind in repository_lists()
    }
    return Batch(number, list(repository_ids), cursors, details, segment_requests, kinds=kinds)


@dataclass
class _Reading:
    """What one source's resources share: the client, the run's cap and the batch the lists drain.
    Both are made on first use, inside the extract step, where the source state can be read."""

    client: PixeeClient
    lag_seconds: int
    details: bool
    concurrency: int
    made: Batch | None  # the batch given, else one made on first use
    run_cap: datetime | None  # the cap given, else the server's clock at first use

    def cap(self) -> datetime:
        if self.run_cap is None:
            self.run_cap = run_start(self.client.server_date)
        return self.run_cap

    def batch(self) -> Batch:
        """The batch given, or (the source used directly) one of every repository known to the state."""
        if self.made is None:
            repos_state = dlt.current.source_state().setdefault("repos", {})
            made = plan_batch(0, sorted(repos_state), repos_state, self.lag_seconds, self.details, self.cap())
            pool = WorkerPool(self.concurrency)
            made.on_finish = pool.close
            made.start(pool, self.client)
            self.made = made
        return self.made


def _hints(entry: Endpoint) -> dict[str, Any]:
    """dlt resource hints of a registry entry."""
    key = entry.key[0] if len(entry.key) == 1 else list(entry.key)
    return {
        "name": entry.table,
        "write_disposition": entry.write_disposition,
        "primary_key": key,
        "columns": entry.columns,
    }


def repositories_resource(
    reading: _Reading, report: Tally, reads: ReadLog | None, full_read: bool
) -> DltResource:
    """GET /repositories from the organisation's cursor; every repository listed gets a (maybe
    empty) entry in the state, so its lists are read."""

    def repositories() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.source_state()
        cursor = Cursor(None if full_read else state.get("repositories"), reading.lag_seconds, reading.cap())
        known = state.setdefault("repos", {})
        params = {"updated_since": cursor.since} if cursor.since else None
        rejected: list[Rejected] = []

        def reject(value: Any, reason: str) -> None:
            rejected.append(Rejected("repositories", reason, value))
            if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
                # Its own row cannot load, but its findings, scans and fixes still can.
                known.setdefault(value["id"], {})

        pages = iter_pages(reading.client, "/repositories", params, resource="repositories", reject=reject)
        for page in pages:
            rows = []
            page, mended = records.mend(page, declared("repositories"))
            rejected += [Rejected("repositories", fix.reason(), fix.row, fix.column) for fix in mended]
            for row in page:
                known.setdefault(row["id"], {})  # a repository new to us: its lists are read in full
                row.pop(DELETED_AT, None)  # ours: a server cannot mark its own rows deleted
                if cursor.observe(row):
                    rows.append(row)
            if rows:
                report.add_rows("repositories", len(rows))
                yield rows
            if rejected:
                yield set_aside(report, rejected)
                rejected.clear()
        state["repositories"] = cursor.saved()
        if cursor.ahead:
            report.warn(cursor.skew_warning("repositories"))
        if cursor.since is None and reads is not None:
            reads.read_complete("repositories", None)

    return dlt.resource(repositories, **_hints(endpoint("v1", "repositories")))


def webhooks_resource(
    client: PixeeClient, report: Tally, webhook_pages: Sequence[list[dict[str, Any]]] | None
) -> DltResource:
    """The current webhooks, replacing the table. A replace resource that yields nothing empties
    its table, so pipelines.load.sync reads the webhooks first (`webhook_pages`) and leaves this
    resource out when the token may not."""

    def webhooks() -> Iterator[list[dict[str, Any]]]:
        try:
            pages = webhook_pages if webhook_pages is not None else (read_webhooks(client, report) or [])
            for page in pages:
                rows = [row for row in page if not isinstance(row, Rejected)]
                if len(rows) < len(page):
                    yield set_aside(report, [row for row in page if isinstance(row, Rejected)])
                report.add_rows("webhooks", len(rows))
                yield rows
        except ForbiddenError as exc:
            report.warn(webhooks_skipped(exc))

    return dlt.resource(webhooks, **_hints(endpoint("v1", "webhooks")))


def _note(
    item: Any, table: str, batch: Batch, repos_state: dict[str, Any], report: Tally, reads: ReadLog | None
) -> None:
    """Take what a list's queue carries besides rows: cursors to commit, a vanished repository, a
    failure, a warning."""
    if isinstance(item, Checkpoint):
        if item.repository_id not in batch.vanished:  # else it would come back
            repos_state.setdefault(item.repository_id, {})[item.kind] = item.state
            if item.complete and reads is not None:
                reads.read_complete(table, item.repository_id)
    elif isinstance(item, Vanished):
        # Only its cursors go: every row loaded from it stays in the warehouse.
        repos_state.pop(item.repository_id, None)
        report.vanish(item.repository_id)
        if reads is not None:
            reads.repository_vanished(item.repository_id)
    elif isinstance(item, ListFailed):
        report.fail(item.message)
    elif isinstance(item, Warn):
        report.warn(item.message)


def list_resource(table: str, reading: _Reading, report: Tally, reads: ReadLog | None) -> DltResource:
    """A list read per repository (or a detail table), drained from the batch as its readers fill it."""

    def read() -> Iterator[list[dict[str, Any]] | pa.Table | None]:
        repos_state = dlt.current.source_state().setdefault("repos", {})
        # Arrow pages are gathered into larger tables: dlt's cost per Arrow item is fixed
        # (a table schema computed and validated each time), so they go out only when
        # ARROW_ROWS are together or the batch ends, not whenever the queue runs dry.
        gathered: list[pa.Table] = []
        gathered_rows = 0
        batch = reading.batch()
        for item in batch.drain(table):
            if isinstance(item, pa.Table):
                report.add_rows(table, item.num_rows)
                gathered.append(item)
                gathered_rows += item.num_rows
                if gathered_rows >= ARROW_ROWS:
                    yield pa.concat_tables(gathered)
                    gathered, gathered_rows = [], 0
            elif item is None:
                yield None  # nothing ready: dlt polls the other tables meanwhile
            elif isinstance(item, list):
                report.add_rows(table, len(item))
                yield item
            elif isinstance(item, Rejected):
                yield set_aside(report, [item])
            else:
                _note(item, table, batch, repos_state, report, reads)
        if gathered:
            yield pa.concat_tables(gathered)

    return dlt.resource(read, **_hints(endpoint("v1", table)))


@dlt.source(name=SOURCE_NAME, max_table_nesting=1)
def pixee_source(
    client: PixeeClient,
    lag_seconds: int = 300,
    details: bool = False,
    concurrency: int = 8,
    batch: Batch | None = None,
    tally: Tally | None = None,
    webhook_pages: Sequence[list[dict[str, Any]]] | None = None,
    cap: datetime | None = None,
    reads: ReadLog | None = None,
    full_read: bool = False,
) -> Sequence[DltResource]:
    """Every list of the Pixee API; see the module docstring for tables and loading.

    `cap`: the run's start, past which no cursor moves (default: the server's clock at the first
    response, else this machine's). `reads` collects the complete reads and vanished repositories
    (pipelines.load.deletions); `full_read` reads every list from the start (no updated_since) without
    forgetting the state.
    """
    report: Tally = tally or _LogTally()
    reading = _Reading(client, lag_seconds, details, concurrency, batch, cap)
    resources = [
        repositories_resource(reading, report, reads, full_read),
        webhooks_resource(client, report, webhook_pages),
    ]
    resources += [list_resource(table, reading, report, reads) for table in child_resource_names(details)]
    return [_sets_aside(resource) for resource in resources]


def child_resource_names(details: bool) -> tuple[str, ...]:
    """The resources that drain a batch: the lists read per repository, then (with details) their details."""
    return repository_lists() + (detail_tables() if details else ())


__all__ = [
    "Batch",
    "WorkerPool",
    "child_resource_names",
    "pixee_source",
    "plan_batch",
    "read_webhooks",
]
