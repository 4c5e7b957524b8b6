"""Prefect flow `pixee-sync`: extract-and-load, marts, publish, data checks, HTML report, summary; one
run per destination at once.

The sync, the marts and the serving file run through pipelines.run.run_once, the sequence `pixee-etl
run` and the demo call, with thin Prefect tasks (retries, states) in place of its library steps;
the checks (pipelines.transform.checks) and the HTML report (pipelines.publish.html_report)
follow under the same hold.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed, State
from prefect.tasks import exponential_backoff

from flows.summary import read_summary, summary_markdown
from pipelines.errors import AuthError, ConfigError, LockHeldError, OverlapSkipped, PixeeEtlError
from pipelines.load.destinations import destination_key
from pipelines.load.lock import destination_lock
from pipelines.load.sync import sync
from pipelines.publish.html_report import ReportResult, report_from_pipeline
from pipelines.publish.run_summary import SyncReport
from pipelines.publish.serving import PublishReport, publish
from pipelines.run import RunContext, RunRequest, RunSteps, run_once
from pipelines.settings import Settings, load_settings
from pipelines.transform.checks import CheckReport, Warehouse, run_checks
from pipelines.transform.dbt_runner import MartsReport, build_marts

# Transient failures (an API that stayed down through the client's own retries, a Retry-After
# over the ceiling, a warehouse hiccup) get another go after a pause; these never do.
NEVER_RETRY: tuple[type[BaseException], ...] = (AuthError, ConfigError)
TASK_RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=60)(TASK_RETRIES)  # 1, 2, 4 minutes
# How long a run with overlap="wait" waits for the one holding the destination.
DEFAULT_MAX_WAIT_SECONDS = 2 * 3600


def _transient(task: Any, task_run: Any, state: State) -> bool:
    """retry_condition_fn: retry unless the failure is one a retry cannot cure (401, bad config)."""
    try:
        state.result()
    except NEVER_RETRY:
        return False
    except Exception:
        return True
    return False


def _ensure_limit(name: str) -> bool:
    """A global concurrency limit of 1 for the destination (it holds across machines and workers);
    returns whether a run holds it right now."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another run created it meanwhile
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
            return False
    return limit.active_slots >= limit.limit


@contextmanager
def exclusive(
    settings: Settings, *, overlap: str, max_wait_seconds: float, say: Callable[[str], None] = print
) -> Iterator[str]:
    """Hold the destination for the block: Prefect's global limit (every machine, every worker), then
    the file lock (this machine, also against a `pixee-etl run` outside Prefect).

    Busy: with overlap="skip" raise OverlapSkipped at once; with "wait" say so and queue, up to
    max_wait_seconds. A crashed holder frees the limit when its lease lapses, the file lock at exit.
    """
    from prefect.concurrency.sync import concurrency

    name = destination_key(settings)
    wait = overlap == "wait"
    busy = f"another pixee-sync run holds {name} ({settings.destination}, dataset {settings.dataset})"
    waiting = f"{busy}; waiting up to {max_wait_seconds:.0f} s for it to finish"
    with ExitStack() as stack:

        def acquire(timeout: float) -> None:
            stack.enter_context(concurrency(name, occupy=1, timeout_seconds=timeout, strict=True))

        try:
            # Look first, so that a busy destination is said plainly, then ask for the slot; a run
            # that took it meanwhile shows as a short first attempt timing out.
            if _ensure_limit(name):
                if not wait:
                    raise TimeoutError
                say(waiting)
                acquire(max_wait_seconds)
            else:
                try:
                    acquire(1.0 if wait else 5.0)
                except TimeoutError:
                    if not wait:
                        raise
                    say(waiting)
                    acquire(max_wait_seconds)
        except TimeoutError:
            raise OverlapSkipped(
                f"{busy}; gave up after waiting {max_wait_seconds:.0f} s"
                if wait
                else f"{busy}; skipping this run, the next one catches up"
            ) from None
        deadline = time.monotonic() + max_wait_seconds
        while True:
            try:
                stack.enter_context(destination_lock(settings, what="pixee-sync flow"))
                break
            except LockHeldError as held:
                if not wait or time.monotonic() > deadline:
                    raise OverlapSkipped(f"destination busy, skipping this run: {held}") from None
                say(f"destination busy, waiting: {held}")
            time.sleep(5.0)
        yield name


@task(
    name="extract-and-load",
    retries=TASK_RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=0.2,
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def extract_and_load(
    settings: Settings, full_refresh: bool, pipelines_dir: str | None, reconcile: bool = False
) -> SyncReport:
    """pipelines.load.sync.sync: the API into the destination, incremental, reconciling or full."""
    report = sync(settings, full_refresh=full_refresh, pipelines_dir=pipelines_dir, reconcile=reconcile)
    get_run_logger().info("sync done: %s rows, %s requests", report.rows, report.total_requests)
    get_run_logger().info("%s; %s", report.history_line(), report.deletions_line())
    return report


@task(
    name="marts",
    retries=1,
    retry_delay_seconds=30,
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def marts(report: SyncReport, settings: Settings, as_of: dt.date) -> MartsReport:
    """pipelines.transform.dbt_runner.build_marts on the pipeline the sync loaded through."""
    result = build_marts(report.pipeline, settings, as_of=as_of)
    get_run_logger().info(result.summary())
    return result


@task(
    name="publish",
    retries=1,
    retry_delay_seconds=30,
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def publish_serving(report: SyncReport, settings: Settings) -> PublishReport | None:
    """pipelines.publish.serving.publish: the DuckDB serving file readers open (nothing on Snowflake)."""
    published = publish(report.pipeline, settings)
    if published:
        get_run_logger().info(published.summary())
    return published


@task(name="data-checks", cache_policy=NO_CACHE)
def data_checks(report: SyncReport, settings: Settings, as_of: dt.date, full_refresh: bool) -> CheckReport:
    """transform.checks.run_checks; the result carries failures for the report, which fails the flow."""
    checks = run_checks(report.pipeline, settings, as_of=as_of, full_refresh=full_refresh)
    logger = get_run_logger()
    for result in checks.results:
        (logger.info if result.ok else logger.error)("%s: %s", result.name, result.message)
    return checks


def report_path(settings: Settings, as_of: dt.date, report_dir: str | None = None) -> Path:
    """Where a run's HTML report goes: `report_dir`, else reports/ beside the DuckDB file (or in the
    working directory for Snowflake); one file per profile and day, the day's last run wins."""
    if report_dir:
        folder = Path(report_dir).expanduser()
    elif settings.destination == "duckdb":
        folder = settings.duckdb_path.expanduser().resolve().parent / "reports"
    else:
        folder = Path.cwd() / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"pixee-report-{settings.profile}-{as_of.isoformat()}.html"


@task(name="html-report", cache_policy=NO_CACHE)
def html_report(
    sync_report: SyncReport, settings: Settings, as_of: dt.date, report_dir: str | None
) -> ReportResult:
    """pipelines.publish.html_report: the marts as one self-contained HTML file, linked from the summary."""
    result = report_from_pipeline(
        sync_report.pipeline, settings, report_path(settings, as_of, report_dir), as_of
    )
    get_run_logger().info(result.summary())
    return result


def _report_or_error(state: State) -> ReportResult | str:
    """The report task's result, or its error in one line for the summary."""
    if not state.is_failed():
        return state.result()
    error = state.result(raise_on_failure=False)
    return str(error) if isinstance(error, BaseException) else str(state.message)


def artifact_key(profile: str, what: str) -> str:
    """Prefect artifact keys allow lower-case letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", f"pixee-sync-{profile}-{what}".lower())


@task(name="report", cache_policy=NO_CACHE)
def report_artifacts(
    sync_report: SyncReport,
    settings: Settings,
    as_of: dt.date,
    full_refresh: bool,
    checks: CheckReport,
    report: ReportResult | str,
) -> str:
    """Two artifacts: requests per resource (table) and the marts summary (markdown), which links the
    HTML report (or says why there is none: `report` is then the error)."""
    rows = sync_report.as_rows()
    create_table_artifact(
        key=artifact_key(settings.profile, "requests"),
        table=rows,
        description=f"Rows, requests, 429s, retries and rate utilisation per resource ({settings.profile}).",
    )
    with sync_report.pipeline.sql_client() as client:
        dialect = "snowflake" if settings.destination == "snowflake" else "duckdb"
        summary = read_summary(Warehouse.for_settings(client.execute_sql, dialect, settings), as_of)
    markdown = summary_markdown(
        summary,
        profile=settings.profile,
        full_refresh=full_refresh,
        sync_totals=rows[-1],
        checks=checks.results,
        report=report,
    )
    create_markdown_artifact(
        key=artifact_key(settings.profile, "summary"),
        markdown=markdown,
        description=f"Backlog, SLA breaches, time to remediate and merge rate as of {as_of}.",
    )
    return markdown


def _failed(state: State, step: str, settings: Settings, as_of: dt.date, full_refresh: bool) -> State:
    """A run that failed before the report still leaves a summary saying what failed (the state's
    message is our one-line error, which never holds a secret); the flow ends in that state."""
    kind = "full read of every list" if full_refresh else "incremental sync"
    create_markdown_artifact(
        key=artifact_key(settings.profile, "summary"),
        markdown=(
            f"# pixee-etl: {kind}, profile `{settings.profile}`, as of {as_of}: **failed**\n\n"
            f"The `{step}` task failed: {state.message}\n\n"
            "Nothing after it ran. Batches the sync committed before the failure are kept; "
            "the next run resumes from them.\n"
        ),
        description=f"pixee-sync failed in {step}.",
    )
    return state


class _StepFailed(Exception):
    """A task of the run ended Failed; the flow ends in its state."""

    def __init__(self, state: State, step: str) -> None:
        super().__init__(state.message)
        self.state, self.step = state, step


def _outcome(state: State, step: str) -> Any:
    if state.is_failed():
        raise _StepFailed(state, step)
    return state.result()


def _flow_sync(context: RunContext, request: RunRequest, flavour: Any) -> SyncReport:
    """The sync as a Prefect task (retried when transient)."""
    settings, pipelines_dir = context.settings, context.pipelines_dir
    state = extract_and_load(
        settings, request.full_refresh, pipelines_dir, request.reconcile, return_state=True
    )
    return _outcome(state, "extract-and-load")


def _flow_marts(context: RunContext, synced: SyncReport) -> MartsReport:
    return _outcome(marts(synced, context.settings, context.marts_day(), return_state=True), "marts")


def _flow_publish(context: RunContext, synced: SyncReport) -> PublishReport | None:
    # Readers see the new marts as soon as they exist, whatever the checks say of them: the
    # working file holds them already, and a failed check fails the run loudly.
    return _outcome(publish_serving(synced, context.settings, return_state=True), "publish")


FLOW_STEPS = RunSteps(sync=_flow_sync, marts=_flow_marts, publish=_flow_publish)


@flow(name="pixee-sync", log_prints=True)
def pixee_sync(
    profile: str | None = None,
    full_refresh: bool = False,
    as_of: dt.date | None = None,
    overlap: Literal["skip", "wait"] = "skip",
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS,
    duckdb_path: str | None = None,
    pipelines_dir: str | None = None,
    report_dir: str | None = None,
    reconcile: bool = False,
) -> dict[str, Any] | State:
    """One sync of the Pixee API into the profile's destination, then marts, checks and report.

    `reconcile` (the weekly deployment) reads every list in full without dropping anything, so
    what the API no longer lists gets `_deleted_at`; `full_refresh` drops the main tables first.

    Never two at once on one destination: with overlap="skip" a run that finds the destination
    busy ends as Completed/Skipped and says who holds it; with "wait" it queues behind.
    """
    logger = get_run_logger()
    settings = load_settings(profile, duckdb_path=duckdb_path)
    settings.require_token()  # fail in one line before taking any lock
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    context = RunContext(
        settings,
        as_of=as_of,
        pipelines_dir=pipelines_dir,
        say=lambda text: None,  # each task logs its own lines to the flow run
    )
    request = RunRequest(full_refresh=full_refresh, reconcile=reconcile)
    try:
        # The checks and the report read the warehouse too, so the hold spans them as well as
        # run_once's steps.
        guard = exclusive(settings, overlap=overlap, max_wait_seconds=max_wait_seconds, say=logger.warning)
        with guard as held:
            logger.info("holding %s; %s", held, "full refresh" if full_refresh else "incremental")
            done = run_once(context, request, FLOW_STEPS)
            sync_report, published = done.synced, done.published
            checks = data_checks(sync_report, settings, as_of, full_refresh)
            drawn = html_report(sync_report, settings, as_of, report_dir, return_state=True)
            report = _report_or_error(drawn)
            # both a full refresh and a reconciliation read every list in full: "full read" names both
            report_artifacts(sync_report, settings, as_of, full_refresh or reconcile, checks, report)
            finished = dt.datetime.now(dt.UTC)
    except _StepFailed as failed:
        # a reconciliation's failed read is named a full read, as the report names it
        read_all = full_refresh or (reconcile and failed.step == "extract-and-load")
        return _failed(failed.state, failed.step, settings, as_of, read_all)
    except OverlapSkipped as skipped:
        logger.warning(str(skipped))
        return Completed(name="Skipped", message=str(skipped))
    if checks.failures:
        try:
            checks.raise_for_failures()
        except PixeeEtlError as failed:
            logger.error(str(failed))
            return Failed(message=str(failed))
    if isinstance(report, str):  # the data is in and checked; the run still owes its report
        return Failed(message=f"the HTML report was not written: {report}")
    return {
        "profile": settings.profile,
        "full_refresh": full_refresh,
        "reconcile": reconcile,
        "deleted": dict(sync_report.deleted),
        "history_rows": dict(sync_report.history_rows),
        "as_of": as_of.isoformat(),
        "rows": sync_report.rows,
        "requests": sync_report.total_requests,
        "marts": dict(done.marts.rows),  # type: ignore[union-attr]
        "started": done.started.isoformat(),
        "finished": finished.isoformat(),
        "destination": held,
        "report": str(report.path),
        "serving_file": str(published.path) if published else None,
    }
