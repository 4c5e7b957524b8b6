"""Phase 1, resume: state from the warehouse, and what an interrupted run extracted loaded first."""

from __future__ import annotations

import shutil

import dlt

from pipelines.client import redact
from pipelines.destinations import make_pipeline
from pipelines.errors import PixeeEtlError, in_chain
from pipelines.report import SyncReport
from pipelines.settings import Settings
from pipelines.sync.steps import normalize_and_load, run_step


def resume(
    pipeline: dlt.Pipeline, settings: Settings, pipelines_dir: str | None, report: SyncReport
) -> dlt.Pipeline:
    """The pipeline to sync with: a fresh machine restores state and schema from the warehouse;
    a batch a killed run extracted but did not load goes in before anything new is read."""
    run_step(pipeline.sync_destination)
    if pipeline.has_pending_data:
        pipeline = finish_pending(pipeline, settings, pipelines_dir, report)
    return pipeline


def finish_pending(
    pipeline: dlt.Pipeline, settings: Settings, pipelines_dir: str | None, report: SyncReport
) -> dlt.Pipeline:
    """Load what an interrupted run extracted; when its files are beyond repair (a kill inside
    dlt's own commit), start from the warehouse's state instead, as a fresh machine would: the
    uncommitted batch is simply read again."""
    try:
        normalize_and_load(pipeline, report)
        remove_double_loads(pipeline, report)
        return pipeline
    except PixeeEtlError:
        raise
    except Exception as exc:  # dlt's half-moved package folders: anything but our own errors
        if in_chain(exc, KeyboardInterrupt):  # a signal dlt intercepted: the package is fine
            raise
        reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        report.warn(
            f"an interrupted run left packages that cannot be loaded ({type(exc).__name__}: {reason}); "
            "dropped them and restored the state from the warehouse, so their batch is read again"
        )
    working_dir = pipeline.working_dir
    shutil.rmtree(working_dir, ignore_errors=True)
    fresh = make_pipeline(settings, pipelines_dir=pipelines_dir)
    run_step(fresh.sync_destination)
    return fresh


def remove_double_loads(pipeline: dlt.Pipeline, report: SyncReport) -> None:
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
