"""Phase 2b, events: with [events] on, plan which lists to read from the receiver's journal."""

from __future__ import annotations

import dlt

from pipelines.events.runs import EventRun
from pipelines.load.sync.context import SyncRun
from pipelines.load.sync.steps import LOADER_FILE_FORMAT, normalize_and_load, run_step
from pipelines.publish.run_summary import SyncReport


def plan_events(run: SyncRun) -> EventRun | None:
    """With events on: plan this run from the journal and load its events; the summary says
    which mode runs and why. None with events off."""
    if not run.settings.events_enabled:
        return None
    pipeline, report = run.pipeline, run.report
    forced = "a full refresh was asked for" if run.full_refresh else None
    events = EventRun(run.settings, pipeline, force_reason=forced)
    report.mode = events.plan.summary()
    for name in sorted(set(events.plan.unresolved)):
        report.warn(f"an event names repository {name!r}, which is not known; its lists were not read for it")
    # Loaded on its own, before any list is read: the plan is recorded as in flight first, and
    # dlt wants one schema per load (two sources in one load make it re-read its schemas).
    run_step(pipeline.extract, events.start_source(), loader_file_format=LOADER_FILE_FORMAT)
    normalize_and_load(pipeline, report)
    return events


def finish_events(pipeline: dlt.Pipeline, events: EventRun | None, report: SyncReport) -> None:
    """Every planned list is loaded: commit that the plan is done."""
    if events is None:
        return
    run_step(pipeline.extract, events.finish_source(), loader_file_format=LOADER_FILE_FORMAT)
    normalize_and_load(pipeline, report)
