"""The same SQL translated for Snowflake: every statement is Snowflake SQL with no DuckDB-only function
left, and under fakesnow (DuckDB underneath) the marts give the same numbers as on DuckDB.

The raw tables are created in fake Snowflake with Snowflake types (TIMESTAMP_TZ, NUMBER, FLOAT) and
filled from the DuckDB load; build_marts then runs through dlt's own Snowflake sql_client, the code
path a real Snowflake destination takes. What fakesnow does not prove is listed in README "Marts".
"""

from __future__ import annotations

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

from pipelines.destinations import snowflake_credentials
from pipelines.marts import build_marts, load_models, run_models
from pipelines.settings import Settings, load_settings
from tests.marts_expected import KEYS, expected_marts
from tests.marts_support import HANDMADE_AS_OF, assert_same_rows, handmade_org, load_raw

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


@pytest.fixture
def snowflake_pipeline(duckdb_raw: Path, tmp_path: Path) -> Iterator[tuple[dlt.Pipeline, Settings]]:
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


def _read(client: Any, table: str) -> list[dict[str, Any]]:
    with client.execute_query(f"select * from pixee_marts.{table}") as cursor:
        columns = [d[0].lower() for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def test_snowflake_marts_equal_duckdb_marts_and_python(
    snowflake_pipeline, duckdb_raw: Path, tmp_path: Path
) -> None:
    pipeline, settings = snowflake_pipeline
    report = build_marts(pipeline, settings, HANDMADE_AS_OF)
    assert report.dialect == "snowflake"
    with pipeline.sql_client() as client:
        snowflake_marts = {name: _read(client, name) for name in KEYS}
    duck_pipeline = dlt.pipeline(
        "marts_duck",
        destination=dlt.destinations.duckdb(str(duckdb_raw)),
        dataset_name="pixee",
        pipelines_dir=str(tmp_path / "duck"),
    )
    # the DuckDB file is module-scoped and read-only elsewhere: build into a copy
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(duckdb_raw.read_bytes())
    duck_pipeline = dlt.pipeline(
        "marts_duck",
        destination=dlt.destinations.duckdb(str(copy)),
        dataset_name="pixee",
        pipelines_dir=str(tmp_path / "duck"),
    )
    duck_report = build_marts(duck_pipeline, Settings(), HANDMADE_AS_OF)
    assert duck_report.rows == report.rows
    with duck_pipeline.sql_client() as client:
        duck_marts = {name: _read(client, name) for name in KEYS}
    expected = expected_marts(handmade_org(), HANDMADE_AS_OF, settings.sla_days)
    for name in KEYS:
        assert_same_rows(name, snowflake_marts[name], duck_marts[name])
        assert_same_rows(name, snowflake_marts[name], expected[name])


def test_every_translated_statement_is_snowflake_sql_without_duckdb_functions(snowflake_pipeline) -> None:
    pipeline, settings = snowflake_pipeline
    sent: list[str] = []
    with pipeline.sql_client() as client:

        def execute(sql: str) -> Any:
            sent.append(sql)
            return client.execute_sql(sql)

        run_models(execute, "snowflake", settings, HANDMADE_AS_OF)
    models = [s for s in sent if re.match(r"CREATE OR REPLACE (VIEW|TABLE) \S+ AS ", s)]
    assert len(models) == len(load_models())
    for statement in sent:
        tree = sqlglot.parse_one(statement, read="snowflake", error_level=ErrorLevel.RAISE)
        assert not isinstance(tree, exp.Command), statement[:80]
        unknown = {f.name for f in tree.find_all(exp.Anonymous)}
        assert not unknown, f"functions sqlglot does not know as Snowflake: {unknown} in {statement[:80]}"
        upper = statement.upper()
        for name in DUCKDB_ONLY:
            assert not re.search(rf"\b{name}\(", upper), f"{name} survived translation: {statement[:120]}"
        # DATEDIFF takes (unit, start, end) in Snowflake: the unit must come first
        for match in re.finditer(r"DATEDIFF\(([^,]+),", statement):
            assert match.group(1).strip() in ("MICROSECOND", "DAY"), statement[:120]
    text = "\n".join(models)
    assert "PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY" in text
    assert '"PIXEE_MARTS"."BACKLOG_DAILY"' in text and '"PIXEE"."FINDINGS"' in text
