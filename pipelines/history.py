"""Every version a run loads, kept once: `<table>_history` filled in the warehouse from each load's rows.

After each load, the rows it wrote to `repositories`, `scans`, `findings` and `fixes` (their
`_dlt_load_id`) are inserted into the history table unless that (`id`, `updated_at`) is there
already, stamped `observed_at` = the run's start. One INSERT ... SELECT per table and load, on
DuckDB and Snowflake alike: no extra request, nothing held in memory, no second trip through
dlt's extract, normalize and load (which cost a 1M-finding full sync +67% CPU when the history
rode along as dlt tables; docs/benchmarks.md). The tables are not in dlt's schema, so a
`--full-refresh` (dlt's drop) never touches them.

A version superseded inside one load (an object changed while its list was read) is merged away
before it reaches the main table and is not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pipelines.source.columns import DELETED_AT

TABLES = ("repositories", "scans", "findings", "fixes")
OBSERVED_AT = "observed_at"


def history_table(table: str) -> str:
    return f"{table}_history"


def record_versions(pipeline: Any, load_ids: Sequence[str], observed_at: datetime) -> dict[str, int]:
    """Insert the new versions the loads `load_ids` wrote; rows added per history table."""
    added: dict[str, int] = {}
    if not load_ids or not pipeline.default_schema_name:
        return added
    schema = pipeline.default_schema
    present = {t["name"] for t in schema.data_tables(seen_data_only=True)}
    with pipeline.sql_client() as client:
        col = client.escape_column_name
        for table in TABLES:
            if table not in present:
                continue
            columns = [
                name
                for name in schema.get_table_columns(table)
                if not name.startswith("_dlt") and name != DELETED_AT
            ]
            if "id" not in columns or "updated_at" not in columns:
                continue
            main = client.make_qualified_table_name(table)
            history = client.make_qualified_table_name(history_table(table))
            _ensure_table(client, main, history, columns)
            names = ", ".join(col(c) for c in columns)
            loads = ", ".join(["%s"] * len(load_ids))
            sql = (
                f"insert into {history} ({names}, {col(OBSERVED_AT)}) "
                f"select {', '.join('m.' + col(c) for c in columns)}, %s from {main} m "
                f"where m.{col('_dlt_load_id')} in ({loads}) and m.{col('updated_at')} is not null "
                f"and not exists (select 1 from {history} v where v.{col('id')} = m.{col('id')} "
                f"and v.{col('updated_at')} = m.{col('updated_at')})"
            )
            count = rowcount(client, sql, observed_at, *load_ids)
            added[history_table(table)] = count
    return added


def _ensure_table(client: Any, main: str, history: str, columns: list[str]) -> None:
    """The history table, created from the main table's types (observed_at typed as updated_at),
    and any column the main table gained since (schema drift) added to it."""
    col = client.escape_column_name
    names = ", ".join(col(c) for c in columns)
    client.execute_sql(
        f"create table if not exists {history} as "
        f"select {names}, {col('updated_at')} as {col(OBSERVED_AT)} from {main} where 1 = 0"
    )
    with client.execute_query(f"select * from {history} where 1 = 0") as cursor:
        have = {d[0].lower() for d in cursor.description}
    missing = [c for c in columns if c.lower() not in have]
    if not missing:
        return
    types = _column_types(client, main)
    for name in missing:
        kind = types.get(name.lower())
        if kind:
            client.execute_sql(f"alter table {history} add column {col(name)} {kind}")


def _column_types(client: Any, main: str) -> dict[str, str]:
    """Column -> the warehouse's own type name, from information_schema (DuckDB and Snowflake)."""
    schema_name = client.dataset_name
    table_name = main.split(".")[-1].strip('"')
    rows = client.execute_sql(
        "select column_name, data_type from information_schema.columns "
        "where lower(table_schema) = lower(%s) and lower(table_name) = lower(%s)",
        schema_name,
        table_name,
    )
    return {str(name).lower(): str(kind) for name, kind in rows or []}


def rowcount(client: Any, sql: str, *args: Any) -> int:
    """Rows a DML statement changed: both DuckDB and Snowflake answer with a row holding the count."""
    with client.execute_query(sql, *args) as cursor:
        try:
            rows = cursor.fetchall()
        except Exception:  # a driver that returns no result set for DML
            rows = None
        if rows and rows[0] and isinstance(rows[0][0], int):
            return int(rows[0][0])
        count = getattr(cursor, "rowcount", None)
        return int(count) if isinstance(count, int) and count >= 0 else 0
