"""Phase 1, resume: state from the warehouse, and what an interrupted run extracted loaded first."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import dlt

from pipelines.api.redaction import redact
from pipelines.errors import DestinationError, PixeeEtlError, in_chain
from pipelines.load.destinations import make_pipeline
from pipelines.load.sync.context import SyncRun
from pipelines.load.sync.steps import normalize_and_load, run_step
from pipelines.publish.run_summary import SyncReport

# Where packages that could not be loaded are moved (beside dlt's working dir, never inside it).
SET_ASIDE = "set-aside"


def resume(run: SyncRun) -> None:
    """Make run.pipeline the one to sync with: a fresh machine restores state and schema from the
    warehouse; a batch a killed run extracted but did not load goes in before anything new is read.

    A package the warehouse refuses (a job that fails again: DuckDB out of memory even with
    more, a constraint) must not wedge every later run: it is set aside, the state of the last
    committed load is restored, and its rows are read again. `--full-refresh` sets pending
    packages aside without trying them: it reads everything anew."""
    pipeline, report = run.pipeline, run.report
    run_step(pipeline.sync_destination)
    if not pipeline.has_pending_data:
        return
    if run.full_refresh:
        run.pipeline = set_aside(run, "--full-refresh reads everything anew")
        return
    try:
        normalize_and_load(pipeline, report)
        remove_double_loads(pipeline, report)
        return
    except DestinationError as exc:
        if not exc.job_failed:
            raise  # the warehouse is unreachable: the package waits for the next run
        reason = str(exc)
    except PixeeEtlError:
        raise
    except Exception as exc:  # dlt's half-moved package folders: anything but our own errors
        if in_chain(exc, KeyboardInterrupt):  # a signal dlt intercepted: the package is fine
            raise
        reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        reason = f"{type(exc).__name__}: {reason}"
    run.pipeline = set_aside(run, f"it cannot be loaded ({reason})")


def set_aside(run: SyncRun, why: str) -> dlt.Pipeline:
    """Move the pending packages out of dlt's way and start from the warehouse's state, as a
    fresh machine would: the uncommitted batch is simply read again."""
    working = Path(run.pipeline.working_dir)
    target = working.parent / f"{working.name}-{SET_ASIDE}" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = 0
    for folder in ("normalize/extracted", "load/new", "load/normalized"):
        source = working / folder
        for package in sorted(source.iterdir()) if source.is_dir() else ():
            if package.is_dir():
                (target / folder).mkdir(parents=True, exist_ok=True)
                shutil.move(str(package), str(target / folder / package.name))
                moved += 1
    run.report.warn(
        f"{moved} package(s) an earlier run left were set aside in {target}: {why}; "
        "the state of the last committed load was restored, so their rows are read again"
    )
    shutil.rmtree(working, ignore_errors=True)
    fresh = make_pipeline(run.settings, pipelines_dir=run.pipelines_dir)
    run_step(fresh.sync_destination)
    return fresh


def remove_double_loads(pipeline: dlt.Pipeline, report: SyncReport) -> None:
    """After resuming a package: a kill between the warehouse committing a copy job and dlt
    recording it makes dlt run the job again, and the merge then inserts both copies (the same
    _dlt_id twice; a dlt bug, https://github.com/dlt-hub/dlt/issues/3023). Keep one copy of each
    such row, in every table."""
    tables = [  # every schema's: with events on, the pipeline has two
        t["name"]
        for schema in pipeline.schemas.values()
        for t in schema.data_tables(seen_data_only=True)
        if "_dlt_id" in t.get("columns", {})
    ]
    if not tables:
        return
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
