"""The same dbt project under dbt-snowflake: every model compiles to Snowflake SQL with no DuckDB-only
function left, and under fakesnow (DuckDB underneath) the marts give the numbers of the Python
computation, as on DuckDB, over a v1 warehouse and over a platform one.

The raw tables are created in fake Snowflake with Snowflake types (TIMESTAMP_TZ, NUMBER, FLOAT) and
filled from the DuckDB load; build_marts then runs dbt-snowflake in-process with the credentials of
a dlt Snowflake pipeline, the code path a real Snowflake destination takes. What fakesnow does not
prove is listed in docs/warehouse.md, "What fakesnow does not prove".
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from pipelines.load.destinations import snowflake_credentials
from pipelines.settings import Settings, load_settings
from pipelines.transform.dbt_runner import SQL_DIR, build_marts
from tests.marts_expected import KEYS, expected_marts
from tests.marts_expected_platform import KEYS as PLATFORM_KEYS
from tests.marts_expected_platform import expected_platform_marts
from tests.marts_support import HANDMADE_AS_OF, assert_same_rows, handmade_org, load_raw
from tests.platform_marts_support import (
    HANDMADE_PLATFORM_AS_OF,
    handmade_platform_snapshots,
    write_platform_warehouse,
)

SNOWFLAKE_TYPES = {
    "VARCHAR": "varchar",
    "BIGINT": "number(19, 0)",
    "DOUBLE": "float",
    "BOOLEAN": "boolean",
    "TIMESTAMP WITH TIME ZONE": "timestamp_tz",
}
# Functions DuckDB has and Snowflake does not (or spells differently); none may survive translation.
DUCKDB_ONLY = (
    "GENERATE_SERIES",
    "QUANTILE_CONT",
    "QUANTILE",
    "DATE_DIFF",
    "EPOCH",
    "STRFTIME",
    "RANGE",
    "LIST_VALUE",
    "STRUCT_PACK",
)


@pytest.fixture(scope="module")
def duckdb_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("raw")
    load_raw(handmade_org(), tmp / "warehouse.duckdb", tmp / "pipelines")
    return tmp / "warehouse.duckdb"


@pytest.fixture(scope="module")
def platform_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("platform_raw")
    write_platform_warehouse(handmade_platform_snapshots(), tmp / "warehouse.duckdb", tmp / "pipelines")
    return tmp / "warehouse.duckdb"


@contextlib.contextmanager
def _on_fake_snowflake(duckdb_raw: Path, tmp_path: Path) -> Iterator[tuple[dlt.Pipeline, Settings]]:
    """A dlt Snowflake pipeline on fakesnow; its raw schema holds the DuckDB raw tables, Snowflake-typed."""
    import fakesnow
    import snowflake.connector

    settings = load_settings("snowflake", env={})
    creds = snowflake_credentials(settings, env={"PIXEE_SNOWFLAKE_PASSWORD": "not-a-real-password"})
    with (
        fakesnow.patch(create_schema_on_connect=False),
        duckdb.connect(str(duckdb_raw), read_only=True) as src,
    ):
        conn = snowflake.connector.connect(**creds.to_connector_params())
        cursor = conn.cursor()
        cursor.execute(f"create schema if not exists {settings.dataset}")
        tables = src.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'pixee' and table_name not like '_dlt%'"
        ).fetchall()
        for (table,) in tables:
            columns = src.execute(
                "select column_name, data_type from information_schema.columns "
                f"where table_schema = 'pixee' and table_name = '{table}' order by ordinal_position"
            ).fetchall()
            ddl = ", ".join(f"{name} {SNOWFLAKE_TYPES[kind]}" for name, kind in columns)
            cursor.execute(f"create table {settings.dataset}.{table} ({ddl})")
            rows = src.execute(f"select * from pixee.{table}").fetchall()
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"insert into {settings.dataset}.{table} values ({marks})", rows)
        conn.close()
        pipeline = dlt.pipeline(
            "marts_sf",
            destination=dlt.destinations.snowflake(credentials=creds, use_timestamp_tz=True),
            dataset_name=settings.dataset,
            pipelines_dir=str(tmp_path),
        )
        yield pipeline, settings


@pytest.fixture
def snowflake_pipeline(duckdb_raw: Path, tmp_path: Path) -> Iterator[tuple[dlt.Pipeline, Settings]]:
    with _on_fake_snowflake(duckdb_raw, tmp_path) as pipeline_and_settings:
        yield pipeline_and_settings


def _read(client: Any, table: str) -> list[dict[str, Any]]:
    with client.execute_query(f"select * from pixee_marts.{table}") as cursor:
        columns = [d[0].lower() for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def test_snowflake_marts_equal_python_and_compile_to_snowflake_sql(
    snowflake_pipeline: Any, tmp_path: Path
) -> None:
    pipeline, settings = snowflake_pipeline
    report = build_marts(pipeline, settings, HANDMADE_AS_OF, target_dir=tmp_path / "target")
    assert report.dialect == "snowflake"
    with pipeline.sql_client() as client:
        snowflake_marts = {name: _read(client, name) for name in KEYS}
    expected = expected_marts(handmade_org(), HANDMADE_AS_OF, settings.sla_days)
    assert report.rows == {name: len(rows) for name, rows in expected.items()}
    for name in KEYS:
        assert_same_rows(name, snowflake_marts[name], expected[name])
    _assert_snowflake_sql(tmp_path / "target", platform=False)


def test_snowflake_marts_over_a_platform_source_equal_python(platform_raw: Path, tmp_path: Path) -> None:
    with _on_fake_snowflake(platform_raw, tmp_path) as (pipeline, settings):
        report = build_marts(pipeline, settings, HANDMADE_PLATFORM_AS_OF, target_dir=tmp_path / "target")
        with pipeline.sql_client() as client:
            snowflake_marts = {name: _read(client, name) for name in PLATFORM_KEYS}
    expected = expected_platform_marts(
        handmade_platform_snapshots(), HANDMADE_PLATFORM_AS_OF, settings.sla_days
    )
    assert report.rows == {name: len(rows) for name, rows in expected.items()}
    for name, keys in PLATFORM_KEYS.items():
        assert_same_rows(name, snowflake_marts[name], expected[name], keys=keys)
    _assert_snowflake_sql(tmp_path / "target", platform=True)


def _assert_snowflake_sql(target: Path, *, platform: bool) -> None:
    """What dbt-snowflake sent, model by model: Snowflake SQL, no DuckDB-only function."""
    compiled = sorted((target / "run").rglob("*.sql"))
    models = [
        p
        for p in (SQL_DIR / "models").rglob("*.sql")
        if platform or not p.name.startswith("stg_pixee__platform_")
    ]
    assert len(compiled) == len(models)
    for path in compiled:
        statement = path.read_text()
        for tree in sqlglot.parse(statement, read="snowflake", error_level=ErrorLevel.RAISE):
            if tree is None:
                continue
            assert not isinstance(tree, exp.Command), f"{path.name}: {statement[:80]}"
            unknown = {f.name for f in tree.find_all(exp.Anonymous)} - {"SEQ4"}
            assert not unknown, f"{path.name}: functions sqlglot does not know as Snowflake: {unknown}"
        upper = statement.upper()
        for name in DUCKDB_ONLY:
            assert not re.search(rf"\b{name}\(", upper), f"{name} in {path.name}"
    text = "\n".join(p.read_text() for p in compiled)
    assert "percentile_cont(0.5) within group (order by" in text
