"""Runs one sync: four phases and their steps, one module each, each committing what it says and nothing more.

```
sync(settings)                              what it commits to the warehouse
 |
 |- 1 resume        (resume.py)             state and schema restored from the warehouse;
 |                                           a package a killed run extracted is loaded first,
 |                                           or set aside if the warehouse refuses it again
 |                                           -> that run's last segment: rows with their cursors;
 |                                              the versions of loads not yet in the history;
 |                                              with --full-refresh, copies of the main tables
 |                                              (pipelines.load.refresh) before phase 3 drops them
 |- 2 organisation  (organisation.py)       GET /webhooks (every page), then /repositories since
 |                                           its cursor, extracted as one package
 |                                           -> nothing yet (loaded at the start of phase 3)
 |- 2b events       (events.py)             with [events] on: the plan (which lists the events
 |                                           since the last run imply), recorded in flight
 |                                           -> the journal's events and the plan, one load
 |- 3 batches       (batches.py)            phase 2's package, then the known repositories'
 |                                           lists in batches, each committed in segments of
 |                                           checkpoint_requests / 3 requests (the next read
 |                                           while one loads), inside a repository too
 |                                           -> per load: a segment's rows of every table and,
 |                                              in the same load, the cursors that cover them;
 |                                              a load with a failed job commits no cursor
 |                                           after each load (record.py): its new versions into
 |                                           <table>_history, and _deleted_at for what a complete
 |                                           read no longer found
 |- 3b details      (details.py)            with --details: details missing for rows loaded
 |                                           before (bounded: ten minutes of the rate a run)
 |                                           -> per segment: the detail rows fetched
 |- 3c events done  (events.py)             with [events] on: the plan is done
 |                                           -> the plan's completion
 |- 3d refreshed    (record.py)             after a --full-refresh read every list to its end:
 |                                           -> the rows it no longer found, back with _deleted_at
 '- 4 finish        (finish.py)             schema drift and one log line per table
                                             -> nothing
```
That is the v1 flavour. A platform API (pipelines.api.flavour) shares phases 1 and 4 and reads in
between as pipelines.extract.platform.sync describes: the root's collections, in units committed in
segments with the state that covers them.
Every phase takes the run's working state, one context.SyncRun (pipeline, client, options, the
server's clock), and counts what it did on the run's report (pipelines.publish.run_summary), the one
thing sync returns. Every dlt step runs through steps.run_step, so a failure is one line
(steps.DestinationError, or our own error) and never a traceback; progress.py draws the live
status line meanwhile.
A kill at any point loses at most the segments in flight (about checkpoint_requests requests):
an extracted package is finished by phase 1 of the next run, or (files beyond repair, a job
the warehouse keeps refusing) set aside and the state of the last committed load restored.
"""

from __future__ import annotations

import time

import dlt
import httpx

from pipelines.api.client import make_client
from pipelines.api.flavour import Flavour, FlavourName, resolve
from pipelines.errors import DestinationError, IncompleteSyncError
from pipelines.load.destinations import make_pipeline
from pipelines.load.sync.batches import load_repositories, segment_requests
from pipelines.load.sync.context import SyncRun
from pipelines.load.sync.details import backfill_details
from pipelines.load.sync.events import finish_events, plan_events
from pipelines.load.sync.finish import columns_of, log_tables, schema_changes
from pipelines.load.sync.organisation import extract_organisation
from pipelines.load.sync.progress import progress as live_progress
from pipelines.load.sync.record import RunRecord
from pipelines.load.sync.resume import resume
from pipelines.load.sync.steps import LOADER_FILE_FORMAT, run_step
from pipelines.publish.run_summary import SyncReport
from pipelines.settings import Settings

# DuckDB sizes its buffers to 80% of RAM, and while a batch merges into a large table they made
# most of a sync's peak memory (1M findings: 645-670 MB, 537 MB with this cap, as fast); what
# does not fit spills to DuckDB's temporary directory. Set for the sync only, so marts built in
# the same process keep DuckDB's default; DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG wins.
DUCKDB_GLOBAL_CONFIG = {"memory_limit": "128MB"}
_step = run_step  # the name tests and older callers use

__all__ = ["DUCKDB_GLOBAL_CONFIG", "LOADER_FILE_FORMAT", "DestinationError", "make_client", "sync"]


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
    flavour: Flavour | FlavourName | None = None,
) -> SyncReport:
    """Sync the API into the settings' destination; returns the report (`.pipeline`: where it loaded).

    `full_refresh` drops the main tables and the state (the history tables stay, pipelines.load.history)
    and reads everything; `reconcile` reads every list from the start without dropping anything,
    so what the API no longer lists gets `_deleted_at` (pipelines.load.deletions). `history=False`
    leaves the history tables alone (for measuring what they cost; the contract wants them).
    `batch_repositories` defaults to settings.batch_repositories (PIXEE_BATCH_REPOSITORIES).
    Raises AuthError, ApiError, RateLimitCeilingError (committed batches are kept), ConfigError
    or DestinationError; IncompleteSyncError (carrying the report) when everything else loaded
    but some lists were not read to their end (an unconfirmed 404), their cursors kept.

    `flavour` is the API's flavour when the caller has already resolved it (`run` prints it
    first; a Flavour carries the root's links, so the root is read once), or its name; None
    resolves settings.api_flavour here (pipelines.api.flavour: "auto" costs one request). One path
    for both: phases 1 and 4 are shared, the reading in between is the flavour's
    (pipelines.extract.platform for the platform API).
    """
    started = time.monotonic()
    details = settings.details if details is None else details
    report = SyncReport(
        settings.requests_per_minute,
        settings.burst,
        full_refresh=full_refresh,
        concurrency=settings.concurrency,
        reconcile=reconcile,
    )
    _configure_dlt()
    pipeline = make_pipeline(settings, pipelines_dir=pipelines_dir)
    with (
        dlt.config.values(
            {
                "destination.duckdb.credentials.global_config": DUCKDB_GLOBAL_CONFIG,
                # A package with a failed job must never complete: its cursors would commit
                # without that table's rows (a LOAD__RAISE_ON_FAILED_JOBS=false elsewhere).
                "load.raise_on_failed_jobs": True,
            }
        ),
        make_client(settings, transport=transport) as client,
        live_progress(report, client, progress),
    ):
        run = SyncRun(
            settings,
            pipeline,
            client,
            report,
            pipelines_dir=pipelines_dir,
            full_refresh=full_refresh,
            details=details,
            reconcile=reconcile,
            history=history,
            batch_repositories=batch_repositories or settings.batch_repositories,
            started=started,
        )
        try:
            resume(run)
            before = columns_of(run.pipeline)
            read(run, flavour)
            report.schema_changes = schema_changes(before, columns_of(run.pipeline))
        finally:
            run.finish()
    return _finished(report)


def _configure_dlt() -> None:
    """dlt's settings every sync wants; the environment still wins over each."""
    # dlt gzips its intermediate files by default: an eighth of a big sync's CPU for files that
    # live seconds on local disk (the loaded parquet keeps its own compression). The environment
    # (DATA_WRITER__DISABLE_COMPRESSION=false) still wins over this.
    dlt.config["data_writer.disable_compression"] = True
    # Pages of flat lists travel as Arrow tables (pipelines.extract.v1.arrow); they get the same
    # _dlt_id and _dlt_load_id columns as rows normalized from dicts, so both mix in one table.
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True


def read(run: SyncRun, flavour: Flavour | FlavourName | None) -> None:
    """Between resume and finish: the flavour's reading (resolved here when the caller did not),
    after the versions an earlier run left unrecorded."""
    if flavour is None:
        flavour = resolve(run.settings, run.client)
    name: FlavourName = flavour if isinstance(flavour, str) else flavour.name
    run.report.flavour = name
    run.begin(RunRecord(run, name))
    run.record.catch_up(run.pipeline)
    if name == "platform":
        from pipelines.extract.platform.sync import sync_platform  # it uses this package's steps

        links = None if isinstance(flavour, str) or not flavour.links else flavour.links
        sync_platform(run, links=links, segment_requests=segment_requests(run.settings))
    else:
        sync_v1(run)


def sync_v1(run: SyncRun) -> None:
    """Phases 2 to 3d: the v1 flavour's organisation, lists, details and events, in that order."""
    if run.full_refresh:
        run.record.keep_prior(run.pipeline)
    events = plan_events(run)
    extract_organisation(run)
    load_repositories(run, events)
    # A failed list keeps the plan in flight: the next run reads its lists again.
    if not run.report.lists_failed:
        finish_events(run.pipeline, events, run.report)
    if run.details:
        backfill_details(run)
    if not run.report.lists_failed:
        run.record.restore_gone(run.pipeline)


def _finished(report: SyncReport) -> SyncReport:
    log_tables(report)
    if report.failures:
        raise IncompleteSyncError(report.failures, report, lists=report.lists_failed)
    return report
