"""Phase 3b, details backfill: details missing for rows already loaded, a bounded number a run."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import dlt

from pipelines.extract.v1 import pixee_source
from pipelines.extract.v1.fetcher import DETAIL_OF, Batch, WorkerPool
from pipelines.load.sync.batches import segment_requests
from pipelines.load.sync.context import SyncRun
from pipelines.load.sync.steps import LOADER_FILE_FORMAT, normalize_and_load, roomy_memory_limit, run_step

log = logging.getLogger("pipelines.sync")

# Detail requests one run spends on rows loaded before (ten minutes at the configured rate):
# a warehouse loaded without --details fills in over a few runs, never starving the lists.
BACKFILL_MINUTES = 10


def missing_details(
    pipeline: dlt.Pipeline, kind: str, limit: int, this_run: Sequence[str] = ()
) -> tuple[list[str], int]:
    """(up to `limit` ids of `kind` rows without a detail row, how many lack one in all).

    Rows the loads `this_run` wrote had their details asked for in this run already: one that is
    still missing was set aside (rejected_records) or answered 404, and is not asked again now."""
    table, _ = DETAIL_OF[kind]
    with pipeline.sql_client() as client:
        parent = client.make_qualified_table_name(kind)
        try:
            client.execute_sql(f"select 1 from {parent} limit 1")
        except Exception:  # no such rows loaded yet: nothing to backfill
            return [], 0
        try:
            detail = client.make_qualified_table_name(table)
            client.execute_sql(f"select 1 from {detail} limit 1")
            missing = f"select p.id from {parent} p left join {detail} d on d.id = p.id where d.id is null"
        except Exception:  # the detail table does not exist yet: every row lacks its detail
            missing = f"select p.id from {parent} p where true"
        if this_run:
            loads = ", ".join("'" + load.replace("'", "''") + "'" for load in this_run)
            missing += f" and p._dlt_load_id not in ({loads})"
        total = int(client.execute_sql(f"select count(*) from ({missing}) m")[0][0])
        ids = [str(r[0]) for r in client.execute_sql(f"{missing} order by p.id limit {int(limit)}")]
    return ids, total


def backfill_details(run: SyncRun) -> None:
    """Fetch details for fixes and findings loaded without them (an earlier run without
    --details, or a kill between a segment's rows and their details), committed in segments."""
    pipeline, client, settings, report = run.pipeline, run.client, run.settings, run.report
    budget = max(1, int(settings.requests_per_minute * BACKFILL_MINUTES))
    wanted: dict[str, list[str]] = {}
    left = 0
    for kind in ("findings", "fixes"):
        limit = budget - sum(map(len, wanted.values()))
        try:
            ids, total = missing_details(pipeline, kind, limit, report.load_ids)
        except Exception as exc:  # the anti-join past the sync's memory cap: as a load would be
            if "Out of Memory" not in str(exc):
                raise
            with dlt.config.values(
                {"destination.duckdb.credentials.global_config": {"memory_limit": roomy_memory_limit()}}
            ):
                ids, total = missing_details(pipeline, kind, limit, report.load_ids)
        wanted[kind] = ids
        left += total - len(ids)
    fetched = sum(map(len, wanted.values()))
    if fetched:
        batch = Batch(-1, [], {}, True, segment_requests(settings), backfill=wanted)
        pool = WorkerPool(settings.concurrency)
        try:
            batch.start(pool, client)
            while True:
                batch.begin_segment()
                source = pixee_source(client, details=True, batch=batch, tally=report)
                run_step(
                    pipeline.extract,
                    source.with_resources("fix_details", "finding_details"),
                    loader_file_format=LOADER_FILE_FORMAT,
                )
                done = batch.done()
                normalize_and_load(pipeline, report)
                report.checkpoints += 1
                if done:
                    break
        finally:
            batch.cancel()
            pool.close()
    report.details_backfilled = fetched
    report.details_missing = left
    if fetched or left:
        line = (
            f"details backfill: fetched {len(wanted['fixes'])} fix and {len(wanted['findings'])} finding "
            f"details missing for rows loaded earlier"
        )
        line += (
            f"; {left} still missing, for the next runs ({budget} a run)" if left else "; none missing now"
        )
        report.notes.append(line)
        log.info(line)
