"""Phase 3, batches: every known repository's lists, committed in segments a kill can afford."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.extract.v1 import SOURCE_NAME, WorkerPool, child_resource_names, plan_batch
from pipelines.extract.v1.fetcher import Batch
from pipelines.load.sync.context import SyncRun
from pipelines.load.sync.steps import LOADER_FILE_FORMAT, normalize_and_load, run_step
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.events.runs import EventRun

# A segment is a third of what a kill may cost: the one loading and the one read meanwhile
# (fetcher.Batch), with room for requests in flight and rows not yet typed to Arrow.
SEGMENTS_PER_CHECKPOINT = 3


def segment_requests(settings: Settings) -> int:
    """Requests per committed segment: a kill loses about checkpoint_requests at most (default:
    one minute at the configured rate), whether the organisation is many small repositories or
    a few large ones."""
    budget = settings.checkpoint_requests or int(settings.requests_per_minute)
    return max(1, budget // SEGMENTS_PER_CHECKPOINT)


def load_repositories(run: SyncRun, events: EventRun | None = None) -> None:
    """Load what phase 2 extracted, then every known repository's lists, batch by batch; a batch
    commits in one load, or in several (segments) when it takes more requests than a kill may cost.

    Reading runs ahead of loading: the first batch is read while the repositories load, and
    each next segment or batch (on threads the current one leaves idle) while the current one
    loads, so the token bucket never waits for DuckDB. With `events`, only the lists its plan
    names are read.
    """
    pipeline, client, report, record = run.pipeline, run.client, run.report, run.record
    settings = run.settings
    state = pipeline.state.get("sources", {}).get(SOURCE_NAME, {})
    repos_state: dict[str, Any] = state.get("repos", {})
    repository_ids = sorted(repos_state)
    kinds = events.plan.selection(repos_state) if events is not None else None
    if kinds is not None:
        repository_ids = [r for r in repository_ids if r in kinds]
    report.repositories_read = len(repository_ids)
    size = max(1, run.batch_repositories)
    segment = segment_requests(settings)
    batches: list[Batch] = [
        plan_batch(
            i,
            repository_ids[start : start + size],
            repos_state,
            settings.lag_seconds,
            run.details,
            run.cursor_cap,
            segment,
            kinds,
            full_read=record.reconcile,
        )
        for i, start in enumerate(range(0, len(repository_ids), size))
    ]
    pool = WorkerPool(settings.concurrency)
    try:
        if batches:
            batches[0].start(pool, client)
        normalize_and_load(pipeline, report)  # the repositories and webhooks
        record.mark(pipeline)
        for i, batch in enumerate(batches):
            while True:
                batch.begin_segment()
                source = run.v1_source(batch=batch).with_resources(*child_resource_names(run.details))
                run_step(pipeline.extract, source, loader_file_format=LOADER_FILE_FORMAT)
                # The segment is now an extracted package, which survives a kill (the next run
                # loads it first). The next batch is read only once this one is all extracted.
                last = batch.done()
                if last and i + 1 < len(batches):
                    batches[i + 1].start(pool, client)
                normalize_and_load(pipeline, report)
                record.mark(pipeline)
                report.checkpoints += 1
                if last:
                    break
            report.batches += 1
    finally:
        for batch in batches:
            batch.cancel()
        pool.close()
