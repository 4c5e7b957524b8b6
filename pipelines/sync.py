"""Runs one sync: repositories and webhooks, then repositories' lists in checkpointed batches."""

from __future__ import annotations

import logging
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import dlt
import httpx
from dlt.common.destination.exceptions import DestinationException, DestinationTransientException
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.client import PixeeClient, make_client, redact
from pipelines.deletions import ReadLog, mark_disappeared
from pipelines.destinations import make_pipeline
from pipelines.errors import PixeeEtlError
from pipelines.history import record_versions
from pipelines.report import SyncReport
from pipelines.settings import Settings
from pipelines.source import (
    SOURCE_NAME,
    WorkerPool,
    child_resource_names,
    pixee_source,
    plan_batch,
    read_webhooks,
)
from pipelines.source.fetcher import Batch

log = logging.getLogger("pipelines.sync")
E = TypeVar("E", bound=BaseException)

# dlt's default for DuckDB (insert-values) holds gigabytes for a few hundred thousand rows.
LOADER_FILE_FORMAT = "parquet"
# DuckDB sizes its buffers to 80% of RAM, and while a batch merges into a large table they made
# most of a sync's peak memory (1M findings: 645-670 MB, 537 MB with this cap, as fast); what
# does not fit spills to DuckDB's temporary directory. Set for the sync only, so marts built in
# the same process keep DuckDB's default; DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG wins.
DUCKDB_GLOBAL_CONFIG = {"memory_limit": "128MB"}
PROGRESS_SECONDS = 0.5
LOG_PROGRESS_SECONDS = 30.0


def sync(
    settings: Settings,
    *,
    full_refresh: bool = False,
    details: bool | None = None,
    progress: bool = False,
    pipelines_dir: str | None = None,
    batch_repositories: int | None = None,
    transport: httpx.BaseTransport | None = None,
    reconcile: bool = False,
    history: bool = True,
) -> SyncReport:
    """Sync the API into the settings' destination; returns the report (also on report.pipeline).

    `full_refresh` drops the main tables and the state (the history tables stay, pipelines.history)
    and reads everything; `reconcile` reads every list from the start without dropping anything,
    so what the API no longer lists gets `_deleted_at` (pipelines.deletions). `history=False`
    leaves the history tables alone (for measuring what they cost; the contract wants them).
    `batch_repositories` defaults to settings.batch_repositories (PIXEE_BATCH_REPOSITORIES).
    Raises AuthError, ApiError, RateLimitCeilingError (committed batches are kept), ConfigError
    or DestinationError.
    """
    batch_repositories = batch_repositories or settings.batch_repositories
    details = settings.details if details is None else details
    report = SyncReport(
        settings.requests_per_minute,
        settings.burst,
        full_refresh=full_refresh,
        details=details,
        concurrency=settings.concurrency,
        reconcile=reconcile,
    )
    # dlt gzips its intermediate files by default: an eighth of a big sync's CPU for files that
    # live seconds on local disk (the loaded parquet keeps its own compression). The environment
    # (DATA_WRITER__DISABLE_COMPRESSION=false) still wins over this.
    dlt.config["data_writer.disable_compression"] = True
    # Pages of flat lists travel as Arrow tables (pipelines.source.arrow); they get the same
    # _dlt_id and _dlt_load_id columns as rows normalized from dicts, so both mix in one table.
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    pipeline = make_pipeline(settings, pipelines_dir=pipelines_dir)
    report.pipeline = pipeline
    with (
        dlt.config.values({"destination.duckdb.credentials.global_config": DUCKDB_GLOBAL_CONFIG}),
        make_client(settings, transport=transport) as client,
        _progress(report, client, progress),
    ):
        try:
            # A fresh machine restores state and schema from the warehouse; a batch a killed run
            # committed but did not load goes in before anything new is read.
            _step(pipeline.sync_destination)
            if pipeline.has_pending_data:
                pipeline = _finish_pending(pipeline, settings, pipelines_dir, report)
                report.pipeline = pipeline
            before = _columns(pipeline)
            run = _RunContext(report, ReadLog(), len(report.load_ids), reconcile, history)
            hooks = read_webhooks(client, report)
            first = pixee_source(
                client,
                lag_seconds=settings.lag_seconds,
                details=details,
                tally=report,
                webhook_pages=hooks,
                **run.source_args(),
            ).with_resources("repositories", *(["webhooks"] if hooks is not None else []))
            _step(
                pipeline.extract,
                first,
                refresh="drop_sources" if full_refresh else None,
                loader_file_format=LOADER_FILE_FORMAT,
            )
            _load_repositories(pipeline, client, settings, details, report, batch_repositories, run)
            report.schema_changes = _schema_changes(before, _columns(pipeline))
        finally:
            report.finish(client.stats)
    for row in report.as_rows()[:-1]:
        log.info(
            "%s: %d rows, %d requests, %d 429s, %d retries, %.1f s rate-limit wait",
            row["table"],
            row["rows"],
            row["requests"],
            row["throttled_429"],
            row["retries"],
            row["wait_seconds"],
        )
    return report


def _load_repositories(
    pipeline: dlt.Pipeline,
    client: PixeeClient,
    settings: Settings,
    details: bool,
    report: SyncReport,
    batch_repositories: int,
    run: _RunContext,
) -> None:
    """Load what was extracted, then every known repository's lists, a batch per load.

    Reading runs ahead of loading: the first batch is read while the repositories load, and
    each next batch (on threads the current one leaves idle) while the current one loads, so
    the token bucket never waits for DuckDB.
    """
    state = pipeline.state.get("sources", {}).get(SOURCE_NAME, {})
    repos_state: dict[str, Any] = state.get("repos", {})
    repository_ids = sorted(repos_state)
    report.repositories_read = len(repository_ids)
    size = max(1, batch_repositories)
    batches: list[Batch] = [
        plan_batch(
            i, repository_ids[start : start + size], repos_state, settings.lag_seconds, details, run.reconcile
        )
        for i, start in enumerate(range(0, len(repository_ids), size))
    ]
    pool = WorkerPool(settings.concurrency)
    try:
        if batches:
            batches[0].start(pool, client)
        _normalize_and_load(pipeline, report)  # the repositories and webhooks
        run.mark(pipeline)
        for i, batch in enumerate(batches):
            source = pixee_source(
                client,
                lag_seconds=settings.lag_seconds,
                details=details,
                batch=batch,
                tally=report,
                **run.source_args(),
            ).with_resources(*child_resource_names(details))
            _step(pipeline.extract, source, loader_file_format=LOADER_FILE_FORMAT)
            # Batch i is now an extracted package, which survives a kill (the next run loads it
            # first). Reading i+1 only from here on bounds what a kill can lose to one batch.
            if i + 1 < len(batches):
                batches[i + 1].start(pool, client)
            _normalize_and_load(pipeline, report)
            run.mark(pipeline)
            report.batches += 1
    finally:
        for batch in batches:
            batch.cancel()
        pool.close()


class _RunContext:
    """What history and deletions need across the steps of one run (kept apart for the merge)."""

    def __init__(
        self, report: SyncReport, reads: ReadLog, first_load: int, reconcile: bool, history: bool
    ) -> None:
        self.report = report
        self.history = history
        self.reads = reads
        self.first_load = first_load  # report.load_ids before this are an earlier run's package
        self.reconcile = reconcile
        self.versioned = 0  # report.load_ids before this are in the history tables (a pending one too)

    def source_args(self) -> dict[str, Any]:
        return {"reads": self.reads, "full_read": self.reconcile}

    def mark(self, pipeline: dlt.Pipeline) -> None:
        """After a load committed: its new versions into the history tables, then `_deleted_at`
        for what the reads it holds no longer found."""
        started = self.report.started_at
        try:
            if self.history:
                added = record_versions(pipeline, self.report.load_ids[self.versioned :], started)
                self.versioned = len(self.report.load_ids)
                for table, count in added.items():
                    self.report.history_rows[table] = self.report.history_rows.get(table, 0) + count
            marked = mark_disappeared(pipeline, self.reads, self.report.load_ids[self.first_load :], started)
        except DestinationException as exc:
            raise _destination_error("recording history and deletions", exc) from None
        for table, count in marked.items():
            self.report.add_deleted(table, count)


class DestinationError(PixeeEtlError):
    """The warehouse refused or could not be reached; `transient` says whether a retry may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def _step(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One dlt step; our own errors and the destination's come out as one line each."""
    try:
        return step(*args, **kwargs)
    except PipelineStepFailed as exc:
        cause = _our_error(exc)
        if cause is not None:
            raise cause from None
        destination = _in_chain(exc, DestinationException)
        if destination is not None:
            raise _destination_error(exc.step, destination) from None
        if exc.step == "sync":
            # sync_destination only talks to the warehouse, and a driver's own error (Snowflake's
            # OperationalError for an unreachable account) is no dlt DestinationException.
            log.debug("the destination failed during sync", exc_info=exc.exception)
            text = str(exc.exception).strip()
            raise DestinationError(
                f"the destination failed during sync: {type(exc.exception).__name__}: "
                f"{redact(text.splitlines()[0] if text else '')}",
                transient=True,
            ) from None
        raise


def _destination_error(step: str, destination: DestinationException) -> DestinationError:
    first = redact(str(destination).strip().splitlines()[0] if str(destination).strip() else "")
    return DestinationError(
        f"the destination failed during {step}: {type(destination).__name__}: {first}",
        transient=isinstance(destination, DestinationTransientException),
    )


def _finish_pending(
    pipeline: dlt.Pipeline, settings: Settings, pipelines_dir: str | None, report: SyncReport
) -> dlt.Pipeline:
    """Load what an interrupted run extracted; when its files are beyond repair (a kill inside
    dlt's own commit), start from the warehouse's state instead, as a fresh machine would: the
    uncommitted batch is simply read again."""
    try:
        _normalize_and_load(pipeline, report)
        _remove_double_loads(pipeline, report)
        return pipeline
    except PixeeEtlError:
        raise
    except Exception as exc:  # dlt's half-moved package folders: anything but our own errors
        reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        report.warn(
            f"an interrupted run left packages that cannot be loaded ({type(exc).__name__}: {reason}); "
            "dropped them and restored the state from the warehouse, so their batch is read again"
        )
    working_dir = pipeline.working_dir
    shutil.rmtree(working_dir, ignore_errors=True)
    fresh = make_pipeline(settings, pipelines_dir=pipelines_dir)
    _step(fresh.sync_destination)
    return fresh


def _normalize_and_load(pipeline: dlt.Pipeline, report: SyncReport) -> None:
    """Everything extracted so far into the destination, through parquet files."""
    _step(pipeline.normalize)
    info = _step(pipeline.load)
    report.load_ids.extend(info.loads_ids)


def _remove_double_loads(pipeline: dlt.Pipeline, report: SyncReport) -> None:
    """After resuming a package: a kill between the warehouse committing a copy job and dlt
    recording it makes dlt run the job again, and the merge then inserts both copies (the same
    _dlt_id twice; dlt-hub/dlt#3023). Keep one copy of each such row, in every table."""
    if not pipeline.default_schema_name:
        return
    tables = [
        t["name"]
        for t in pipeline.default_schema.data_tables(seen_data_only=True)
        if "_dlt_id" in t.get("columns", {})
    ]
    with pipeline.sql_client() as client:
        for name in tables:
            table = client.make_qualified_table_name(name)
            try:
                rows = client.execute_sql(f"select count(*) - count(distinct _dlt_id) from {table}")
            except Exception:  # a table the warehouse does not hold yet
                continue
            extra = int(rows[0][0]) if rows else 0
            if not extra:
                continue
            twice = f"select _dlt_id from {table} group by _dlt_id having count(*) > 1"
            with client.begin_transaction():
                client.execute_sql(
                    f"create temporary table pixee_double_loaded as "
                    f"select distinct * from {table} where _dlt_id in ({twice})"
                )
                client.execute_sql(
                    f"delete from {table} where _dlt_id in (select _dlt_id from pixee_double_loaded)"
                )
                client.execute_sql(f"insert into {table} select * from pixee_double_loaded")
                client.execute_sql("drop table pixee_double_loaded")
            report.warn(f"{name}: {extra} rows loaded twice by a job an interrupted run left; removed")


def _our_error(exc: BaseException) -> PixeeEtlError | None:
    return _in_chain(exc, PixeeEtlError)


def _in_chain(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of `kind` among exc and its causes."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _columns(pipeline: dlt.Pipeline) -> dict[str, set[str]]:
    if not pipeline.default_schema_name:
        return {}
    tables = pipeline.default_schema.data_tables()
    return {t["name"]: set(t.get("columns", {})) for t in tables}


def _schema_changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[str]:
    """New columns and type variants in tables that existed before this sync (drift, not creation)."""
    changes = []
    for table, cols in sorted(after.items()):
        if table not in before:
            continue
        for col in sorted(cols - before[table]):
            if "__v_" in col:
                changes.append(f"{table}.{col.split('__v_')[0]} changed type: new values land in {col}")
            else:
                changes.append(f"{table}.{col} is a new column")
    return changes


@contextmanager
def _progress(report: SyncReport, client: PixeeClient, live: bool) -> Iterator[None]:
    """A live status line on a terminal; elsewhere a plain log line now and then."""
    stop = threading.Event()
    tty = live and sys.stderr.isatty()
    interval = PROGRESS_SECONDS if tty else LOG_PROGRESS_SECONDS

    def tick() -> None:
        while not stop.wait(interval):
            report.absorb(client.stats)
            if tty:
                sys.stderr.write("\r" + redact(report.progress_line()) + "\x1b[K")
                sys.stderr.flush()
            else:
                log.info("progress: %s", report.progress_line())

    thread = threading.Thread(target=tick, name="pixee-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
