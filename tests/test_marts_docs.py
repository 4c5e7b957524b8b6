"""docs/warehouse.md stays true: its example queries run on a built warehouse, its data dictionary is
the one generated from the dbt schema file, and every mart column the models produce is in it."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from pipelines.marts import build_marts
from pipelines.marts_docs import render, updated
from pipelines.settings import REPO_ROOT, Settings
from tests.marts_expected_platform import KEYS
from tests.platform_marts_support import (
    HANDMADE_PLATFORM_AS_OF,
    handmade_platform_snapshots,
    write_platform_warehouse,
)

DOC = (REPO_ROOT / "docs" / "warehouse.md").read_text()


# Marts only a platform source fills: their queries run on a platform warehouse.
PLATFORM_MARTS = ("analysis_daily", "scan_daily")


def all_example_queries() -> list[str]:
    section = DOC.split("## Example queries", 1)[1]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def example_queries() -> list[str]:
    """The queries that answer on any warehouse (the serving-file test runs these on a v1 one)."""
    return [q for q in all_example_queries() if not any(mart in q for mart in PLATFORM_MARTS)]


QUERIES = 12


@pytest.fixture(scope="module")
def warehouse(handmade_warehouse: Path) -> Path:
    return handmade_warehouse


@pytest.fixture(scope="module")
def platform_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("platform_docs")
    pipeline = write_platform_warehouse(handmade_platform_snapshots(), tmp / "warehouse.duckdb", tmp / "p")
    build_marts(pipeline, Settings(), HANDMADE_PLATFORM_AS_OF)
    return tmp / "warehouse.duckdb"


def test_there_are_twelve_example_queries_five_on_the_remediation_marts_two_on_the_platforms() -> None:
    queries = all_example_queries()
    assert len(queries) == QUERIES
    v2 = ("finding_remediation", "remediation_weekly", "fix_outcomes", "scanner_outcomes")
    assert sum(any(mart in q for mart in v2) for q in queries) >= 5
    assert {mart for q in queries for mart in PLATFORM_MARTS if mart in q} == set(PLATFORM_MARTS)


def test_the_data_dictionary_is_the_one_generated_from_the_dbt_schema_file() -> None:
    assert updated(DOC, render()) == DOC, "docs/warehouse.md is stale: run python -m pipelines.marts_docs"


@pytest.mark.parametrize("number", range(QUERIES))
def test_example_query_runs_and_answers(request: pytest.FixtureRequest, number: int) -> None:
    query = all_example_queries()[number]
    platform = any(mart in query for mart in PLATFORM_MARTS)
    warehouse = request.getfixturevalue("platform_warehouse" if platform else "warehouse")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(query).fetchall()
    assert rows, f"example query {number + 1} returned nothing on the edge-case warehouse"
    # and it is Snowflake SQL too once translated (the doc promises it runs there as written)
    translated = sqlglot.transpile(query, read="duckdb", write="snowflake")[0]
    sqlglot.parse_one(translated, read="snowflake", error_level=ErrorLevel.RAISE)


def test_every_mart_column_is_in_the_dictionary(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart in KEYS:
            heading = f"### `{mart}`" if f"### `{mart}`" in DOC else "### Helper tables"
            section = DOC.split(heading, 1)[1].split("\n### ", 1)[0]
            documented = set(re.findall(r"`(\w+)`", section))
            columns = [row[0] for row in con.execute(f"describe pixee_marts.{mart}").fetchall()]
            missing = [c for c in columns if c not in documented]
            assert not missing, f"{mart}: columns not in docs/warehouse.md: {missing}"


def test_dbt_docs_generate_works_offline_with_the_pipelines_credentials(
    handmade_warehouse: Path, tmp_path: Path
) -> None:
    """`pixee-etl dbt docs generate`: manifest and catalog for BI tools, nothing downloaded (no packages,
    no hub: the suite has no network beyond loopback)."""
    import json

    from pipelines.cli import main

    (tmp_path / "copy.duckdb").write_bytes(handmade_warehouse.read_bytes())
    target = tmp_path / "target"
    args = ["dbt", "--duckdb-path", str(tmp_path / "copy.duckdb"), "--target-path", str(target)]
    assert main([*args, "docs", "generate"]) == 0
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    tables = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert {"finding_remediation", "remediation_weekly", "backlog_daily", "stg_findings"} <= tables
    remediation = manifest["nodes"]["model.pixee.finding_remediation"]
    assert "closure" in remediation["description"]
    assert remediation["columns"]["times_reopened"]["description"]
    assert not (REPO_ROOT / "sql" / "dbt_packages").exists()
