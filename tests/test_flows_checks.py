"""Data checks: the SQL checks on a DuckDB file filled by hand, and dbt's tests through run_checks on a
built warehouse; each passes on good data and names what broke."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipelines.errors import DataCheckError
from pipelines.settings import load_settings
from pipelines.transform.checks import Warehouse, run_checks_on

AS_OF = dt.date(2026, 11, 28)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[tuple[duckdb.DuckDBPyConnection, Warehouse]]:
    # Named like its schema on purpose: the checks must qualify names with the catalog.
    con = duckdb.connect(str(tmp_path / "pixee.duckdb"))
    fill = """
        create schema pixee;
        create schema pixee_marts;
        create table pixee.repositories (id varchar, name varchar);
        insert into pixee.repositories values ('repo_1', 'api'), ('repo_2', 'web');
        create table pixee.fixes (id varchar, repository_id varchar);
        insert into pixee.fixes values ('fix_1', 'repo_1'), ('fix_2', 'repo_2');
        create table pixee.fixes__finding_ids (value varchar, _dlt_parent_id varchar);
        create table pixee.findings (id varchar, repository_id varchar);
        insert into pixee.findings values ('f_1', 'repo_1'), ('f_2', 'repo_1'), ('f_3', 'repo_2');
        create table pixee.webhooks (id varchar);
        insert into pixee.webhooks values ('wh_1'), ('wh_2');
        create table pixee._dlt_loads (load_id varchar);
        create table pixee_marts.marts_build (as_of date, built_at timestamp);
        insert into pixee_marts.marts_build values (date '2026-11-28', now());
        create table pixee_marts.backlog_daily (day date, repository_id varchar, severity varchar);
        insert into pixee_marts.backlog_daily values
            (date '2026-11-27', 'repo_1', 'high'), (date '2026-11-28', 'repo_1', 'high');
        create table pixee_marts.fix_latency (fix_id varchar);
        insert into pixee_marts.fix_latency values ('fix_1'), ('fix_2');
    """
    con.execute(fill.replace("pixee.", "pixee.pixee.").replace("pixee_marts.", "pixee.pixee_marts."))
    settings = load_settings(env={})
    yield con, Warehouse.for_settings(lambda sql: con.execute(sql).fetchall(), "duckdb", settings)
    con.close()


def _failed(report: object) -> dict[str, str]:
    return {r.name: r.message for r in report.failures}  # type: ignore[attr-defined]


def test_good_data_passes_and_becomes_the_baseline(
    warehouse: tuple[duckdb.DuckDBPyConnection, Warehouse],
) -> None:
    con, wh = warehouse
    report = run_checks_on(wh, as_of=AS_OF)
    assert report.failures == []
    assert report.row_counts == {"findings": 3, "fixes": 2, "repositories": 2, "webhooks": 2}
    recorded = con.execute(
        "select table_name, row_count from pixee.pixee_marts._pixee_row_counts order by 1"
    ).fetchall()
    assert recorded == [("findings", 3), ("fixes", 2), ("repositories", 2), ("webhooks", 2)]


def test_run_checks_runs_dbt_tests_and_names_a_fix_without_its_repository(
    handmade_warehouse: Path, tmp_path: Path
) -> None:
    import dlt

    from pipelines.settings import Settings
    from pipelines.transform.checks import run_checks
    from tests.marts_support import HANDMADE_AS_OF

    (tmp_path / "copy.duckdb").write_bytes(handmade_warehouse.read_bytes())
    with duckdb.connect(str(tmp_path / "copy.duckdb")) as con:
        con.execute("delete from pixee.repositories where id = 'repo_backend'")
    pipeline = dlt.pipeline(
        "checks_copy",
        destination=dlt.destinations.duckdb(str(tmp_path / "copy.duckdb")),
        dataset_name="pixee",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    report = run_checks(pipeline, Settings(), as_of=HANDMADE_AS_OF)
    names = {r.name for r in report.results}
    assert {
        "dbt:unique_stg_pixee__findings_finding_id",
        "dbt:unique_stg_pixee__fixes_fix_id",
        "marts_fresh",
    } <= names
    with pytest.raises(DataCheckError) as info:
        report.raise_for_failures()
    message = str(info.value)
    assert "relationships stg_pixee__fixes.repository_id: 5 failing row(s), e.g. repo_backend" in message
    assert "relationships stg_pixee__findings.repository_id: 8 failing row(s)" in message
    assert "unique" not in message  # nothing else is wrong


def test_stale_marts_fail(warehouse: tuple[duckdb.DuckDBPyConnection, Warehouse]) -> None:
    _, wh = warehouse
    failed = _failed(run_checks_on(wh, as_of=AS_OF + dt.timedelta(days=1)))
    assert failed == {"marts_fresh": "marts are as of 2026-11-28, expected 2026-11-29"}


def test_row_counts_never_drop_on_incremental_runs(
    warehouse: tuple[duckdb.DuckDBPyConnection, Warehouse],
) -> None:
    con, wh = warehouse
    assert run_checks_on(wh, as_of=AS_OF).failures == []
    # Webhooks are replaced each run: one deleted upstream is not a failure.
    con.execute("delete from pixee.pixee.webhooks where id = 'wh_2'")
    assert run_checks_on(wh, as_of=AS_OF).failures == []
    con.execute("delete from pixee.pixee.findings where id = 'f_3'")
    with pytest.raises(DataCheckError) as info:
        run_checks_on(wh, as_of=AS_OF).raise_for_failures()
    assert "row_counts: rows dropped on an incremental run" in str(info.value)
    assert "findings 3 -> 2" in str(info.value)
    # A failed run does not move the baseline: the next incremental run still fails...
    assert "row_counts" in _failed(run_checks_on(wh, as_of=AS_OF))
    # ...until a full refresh re-baselines the counts.
    assert run_checks_on(wh, as_of=AS_OF, full_refresh=True).failures == []
    assert run_checks_on(wh, as_of=AS_OF).failures == []
