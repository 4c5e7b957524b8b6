"""sql/ as a dbt package another team installs: integration_tests/ (a host project with its own vars
and one model of its own on `fix_latency`) installs it with `dbt deps` from a `local:` path, offline,
and `dbt build` passes on a warehouse the connector loaded, on DuckDB and under fakesnow; the marts
it builds follow the host's vars, not the package's defaults."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from pipelines.settings import REPO_ROOT, Settings
from pipelines.transform.dbt_runner import SQL_DIR, dbt_vars, invoke_dbt
from tests.marts_expected import expected_marts
from tests.marts_support import HANDMADE_AS_OF, assert_same_rows, handmade_org, load_raw
from tests.test_marts_snowflake import _on_fake_snowflake

HOST_DIR = REPO_ROOT / "integration_tests"
# the SLA days integration_tests/dbt_project.yml sets (stricter than the package's defaults)
HOST_SLA_DAYS = {"critical": 5, "high": 20, "medium": 90, "low": 180}
UNIT_TESTS = {"pixee_closure_after_its_sla_and_a_false_positive", "pixee_a_week_with_no_closures"}
# the raw tables every load writes (the others depend on the token and the settings)
LOADED = ("repositories", "scans", "findings", "fixes")
Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def duckdb_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("raw")
    load_raw(handmade_org(), tmp / "warehouse.duckdb", tmp / "pipelines")
    return tmp / "warehouse.duckdb"


def _host_project(tmp_path: Path) -> Path:
    """integration_tests/ and sql/ side by side in tmp_path (packages.yml says `local: ../sql`),
    the package installed by `dbt deps`: the repository stays as it was."""
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages", "package-lock.yml")
    shutil.copytree(SQL_DIR, tmp_path / "sql", ignore=ignore)
    host = shutil.copytree(HOST_DIR, tmp_path / "integration_tests", ignore=ignore)
    from dbt.cli.main import dbtRunner

    deps = dbtRunner().invoke(
        ["deps", "--project-dir", str(host), "--log-level", "none", "--no-send-anonymous-usage-stats",
         "--no-version-check"]
    )  # fmt: skip
    assert deps.success, deps.exception
    assert (host / "dbt_packages" / "pixee" / "dbt_project.yml").exists()
    return host


def _build(pipeline: dlt.Pipeline, settings: Settings, host: Path, *options: str) -> list[Any]:
    """`dbt build` of the host project with no --vars: its own dbt_project.yml sets them."""
    command = ["build", *options]
    outcome = invoke_dbt(command, pipeline, settings, HANDMADE_AS_OF, project_dir=host, variables={})
    statuses = {r.node.name: str(getattr(r.status, "value", r.status)) for r in outcome.results}
    messages = {r.node.name: r.message for r in outcome.results}
    failed = [
        f"{n}: {s} {messages[n]}" for n, s in statuses.items() if s not in ("success", "pass", "skipped")
    ]
    assert outcome.success and not failed, failed
    return outcome.results


def _freshness(pipeline: dlt.Pipeline, settings: Settings, host: Path) -> dict[str, str]:
    """`dbt source freshness` of the raw tables every load writes: {table: status}."""
    selection = [f"source:pixee.{table}" for table in LOADED]
    command = ["source", "freshness", "--select", *selection]
    outcome = invoke_dbt(command, pipeline, settings, HANDMADE_AS_OF, project_dir=host, variables={})
    return {r.node.name: str(getattr(r.status, "value", r.status)) for r in outcome.results}


def _assert_host_build(
    results: Sequence[Any], read: Callable[[str], Rows], *, unit_tests: bool = True
) -> None:
    names = {r.node.name for r in results}
    packages = {r.node.package_name for r in results}
    assert packages == {"pixee", "pixee_integration_tests"}
    # the package's own pieces are prefixed, so a host's `calendar` or `stg_findings` never clashes
    package_models = {
        r.node.name for r in results if r.node.package_name == "pixee" and r.node.resource_type == "model"
    }
    internal = {n for n in package_models if n.startswith(("stg_", "int_"))}
    assert internal and all(n.startswith(("stg_pixee__", "int_pixee__")) for n in internal)
    # the package's unit tests ran as part of the build
    assert (names >= UNIT_TESTS) == unit_tests
    # the marts follow the host's vars: its as-of date and its stricter SLA
    expected = expected_marts(handmade_org(), HANDMADE_AS_OF, HOST_SLA_DAYS)
    assert {r["severity"]: r["sla_days"] for r in read("sla_policy")} == HOST_SLA_DAYS
    for mart in ("fix_latency", "finding_remediation", "remediation_weekly"):
        assert_same_rows(mart, read(mart), expected[mart])
    # the host's own model, on ref('fix_latency')
    merged: dict[str, list[float]] = {}
    for fix in expected["fix_latency"]:
        if fix["status"] == "merged":
            merged.setdefault(fix["repository_id"], []).append(fix["hours_detect_to_merge"])
    ours = {r["repository_id"]: r for r in read("merged_fixes_by_repository")}
    assert merged and set(ours) == set(merged)
    for repository, hours in merged.items():
        assert ours[repository]["merged_fixes"] == len(hours)
        assert ours[repository]["max_hours_detect_to_merge"] == pytest.approx(max(hours))


def test_a_host_project_installs_and_builds_the_package_on_duckdb(duckdb_raw: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(duckdb_raw.read_bytes())
    pipeline = dlt.pipeline(
        "host_duckdb",
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name="pixee",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    results = _build(pipeline, Settings(), _host_project(tmp_path))

    def read(table: str) -> Rows:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            cursor = con.execute(f"select * from pixee_marts.{table}")
            columns = [d[0] for d in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    _assert_host_build(results, read)
    assert _freshness(pipeline, Settings(), tmp_path / "integration_tests") == dict.fromkeys(LOADED, "pass")


def test_a_host_project_installs_and_builds_the_package_on_snowflake(
    duckdb_raw: Path, tmp_path: Path
) -> None:
    host = _host_project(tmp_path)
    with _on_fake_snowflake(duckdb_raw, tmp_path) as (pipeline, settings):
        # dbt-snowflake runs a unit test in a temporary table named with its database, which
        # fakesnow (DuckDB underneath) cannot create; the unit tests run on DuckDB above
        results = _build(pipeline, settings, host, "--exclude", "resource_type:unit_test")

        def read(table: str) -> Rows:
            with (
                pipeline.sql_client() as client,
                client.execute_query(f"select * from pixee_marts.{table}") as cursor,
            ):
                columns = [d[0].lower() for d in cursor.description]
                return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

        _assert_host_build(results, read, unit_tests=False)
        assert _freshness(pipeline, settings, host) == dict.fromkeys(LOADED, "pass")


def test_raw_tables_under_other_names_are_read_through_the_schema_and_identifier_vars(
    duckdb_raw: Path, tmp_path: Path
) -> None:
    """A team whose loader wrote the raw tables into another schema, one of them under another name,
    points the package at them with vars; the marts come out the same."""
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(duckdb_raw.read_bytes())
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema appsec_raw")
        for (table,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'pixee'"
        ).fetchall():
            renamed = "pixee_findings" if table == "findings" else table
            con.execute(f"create table appsec_raw.{renamed} as select * from pixee.{table}")
        con.execute("drop schema pixee cascade")
    pipeline = dlt.pipeline(
        "renamed_raw",
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name="pixee",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    variables = dbt_vars(Settings(), HANDMADE_AS_OF) | {
        "pixee_schema": "appsec_raw",
        "pixee_findings_identifier": "pixee_findings",
    }
    outcome = invoke_dbt(["run"], pipeline, Settings(), HANDMADE_AS_OF, variables=variables)
    assert outcome.success
    expected = expected_marts(handmade_org(), HANDMADE_AS_OF, Settings().sla_days)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart in ("finding_remediation", "backlog_daily"):
            cursor = con.execute(f"select * from pixee_marts.{mart}")
            columns = [d[0] for d in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
            assert_same_rows(mart, rows, expected[mart])


def test_a_unit_test_fails_the_build_when_the_sla_rule_breaks(duckdb_raw: Path, tmp_path: Path) -> None:
    """The unit tests check something: a closure counted within its SLA when it was late fails the
    edge case's unit test, and the mart is not built on the broken SQL."""
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse.write_bytes(duckdb_raw.read_bytes())
    project = shutil.copytree(SQL_DIR, tmp_path / "sql", ignore=shutil.ignore_patterns("target", "logs"))
    mart = project / "models" / "marts" / "finding_remediation.sql"
    rule = "then resolved_at <= due_at end as within_sla"
    assert rule in mart.read_text()
    mart.write_text(mart.read_text().replace(rule, "then resolved_at <= due_at or true end as within_sla"))
    pipeline = dlt.pipeline(
        "broken_sla",
        destination=dlt.destinations.duckdb(str(warehouse)),
        dataset_name="pixee",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    command = ["build", "--select", "+finding_remediation", "--exclude", "resource_type:test"]
    outcome = invoke_dbt(command, pipeline, Settings(), HANDMADE_AS_OF, project_dir=project)
    statuses = {r.node.name: str(getattr(r.status, "value", r.status)) for r in outcome.results}
    assert not outcome.success
    assert statuses["pixee_closure_after_its_sla_and_a_false_positive"] == "fail"
    assert statuses["finding_remediation"] == "skipped"
