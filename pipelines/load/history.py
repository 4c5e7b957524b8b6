"""Every version a run loads, kept once: `<table>_history` filled in the warehouse from each load's rows.

After each load, the rows it wrote to each versioned table of pipelines.extract.endpoints (v1:
`repositories`, `scans`, `findings`, `fixes`; platform: those and `analyses`, `patches`; their
`_dlt_load_id`) are inserted into the history table unless that version (the table's key plus
`updated_at`, or plus `_version` for tables without it) is there already, stamped `observed_at` =
the run's start. One INSERT ... SELECT per table and load, on
DuckDB and Snowflake alike: no extra request, nothing held in memory, no second trip through
dlt's extract, normalize and load (which cost a 1M-finding full sync +67% CPU when the history
rode along as dlt tables; docs/benchmarks.md). The tables are not in dlt's schema, so a
`--full-refresh` (dlt's drop) never touches them.

Which loads are in the history is itself recorded (`_history_loads`, one row per load id), so a
run killed between a load committing and its versions going in loses nothing: the next run starts
by recording every completed load (`_dlt_loads`) not listed there, stamped with the time dlt
created that load's package (its load id), which falls inside the killed run.

A version superseded inside one load (an object changed while its list was read) is merged away
before it reaches the main table and is not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pipelines.extract.endpoints import DELETED_AT, EXPIRED_AT, FlavourName, versioned
from pipelines.load.schemas import api_schema

TABLES = tuple(e.table for e in versioned("v1"))
OBSERVED_AT = "observed_at"
RECORDED_LOADS = "_history_loads"  # not in dlt's schema: a --full-refresh keeps it with the history


def history_table(table: str) -> str:
    return f"{table}_history"


def record_versions(
    pipeline: Any, load_ids: Sequence[str], observed_at: datetime, flavour: FlavourName = "v1"
) -> dict[str, int]:
    """Insert the new versions the loads `load_ids` wrote, stamped observed_at; rows added per
    history table. The loads are then listed as recorded (a repeat adds nothing)."""
    return _record(pipeline, list(load_ids), observed_at, flavour) if load_ids else {}


def record_unrecorded_loads(pipeline: Any, flavour: FlavourName = "v1") -> dict[str, int]:
    """Versions of every completed load not yet recorded (a run killed after a load committed and
    before its versions went in), stamped with their package's creation time; rows added per table."""
    return _record(pipeline, None, None, flavour)


def _record(
    pipeline: Any, load_ids: list[str] | None, observed_at: datetime | None, flavour: FlavourName
) -> dict[str, int]:
    """One INSERT ... SELECT per table and chunk of loads (None: the completed loads not recorded
    yet), then those loads listed in _history_loads."""
    added: dict[str, int] = {}
    schema = api_schema(pipeline)
    if schema is None:
        return added
    present = {t["name"] for t in schema.data_tables(seen_data_only=True)}
    with pipeline.sql_client() as client:
        col = client.escape_column_name
        recorded = client.make_qualified_table_name(RECORDED_LOADS)
        client.execute_sql(
            f"create table if not exists {recorded} ({col('load_id')} varchar not null, "
            f"{col('recorded_at')} timestamp)"
        )
        catching_up = load_ids is None
        if load_ids is None:
            load_ids = _unrecorded(client, recorded)
        if not load_ids:
            return added
        # dlt's load id is the time its package was created, in epoch seconds
        stamp = f"to_timestamp(cast(m.{col('_dlt_load_id')} as double))" if observed_at is None else "%s"
        stamp_args = [] if observed_at is None else [observed_at]
        tables = []  # (table, source, history, columns, version key) of each versioned table and source
        for entry in versioned(flavour):
            table = entry.table
            columns = _history_columns(schema, table) if table in present else []
            keys = [*entry.key, entry.versioned_by or ""]
            stamp_like = entry.stamp_column
            if stamp_like and all(k in columns for k in keys) and stamp_like in columns:
                main = client.make_qualified_table_name(table)
                history = client.make_qualified_table_name(history_table(table))
                _ensure_table(client, main, history, columns, stamp_like)
                tables.append((table, main, history, columns, keys))
                # A --full-refresh dropped the table while some of its loads waited to be recorded:
                # their rows are in the copy it kept aside (pipelines.load.refresh), and only there.
                prior = refresh_copy(client, table) if catching_up else None
                if prior is not None:
                    tables.append((table, prior, history, columns, keys))
        for chunk in chunks(load_ids):
            marks = ", ".join(["%s"] * len(chunk))
            for table, main, history, columns, keys in tables:
                names = ", ".join(col(c) for c in columns)
                same = " and ".join(f"v.{col(k)} = m.{col(k)}" for k in keys)
                have = _source_columns(client, main)
                picked = ", ".join(f"m.{col(c)}" if c.lower() in have else "null" for c in columns)
                sql = (
                    f"insert into {history} ({names}, {col(OBSERVED_AT)}) "
                    f"select {picked}, {stamp} from {main} m "
                    f"where m.{col('_dlt_load_id')} in ({marks}) and m.{col(keys[-1])} is not null "
                    f"and not exists (select 1 from {history} v where {same})"
                )
                count = rowcount(client, sql, *stamp_args, *chunk)
                added[history_table(table)] = added.get(history_table(table), 0) + count
            # Listed after its versions are in: a kill in between only repeats an idempotent insert.
            client.execute_sql(f"delete from {recorded} where {col('load_id')} in ({marks})", *chunk)
            rows = ", ".join(["(%s, current_timestamp)"] * len(chunk))
            client.execute_sql(
                f"insert into {recorded} ({col('load_id')}, {col('recorded_at')}) values {rows}", *chunk
            )
    return added


def refresh_copy(client: Any, table: str) -> str | None:
    """The qualified name of the copy a --full-refresh kept of `table`, if there is one now."""
    from pipelines.load.refresh import PRIOR  # refresh reads this module's bookkeeping too

    return client.make_qualified_table_name(PRIOR + table) if _exists(client, PRIOR + table) else None


def waiting_in(client: Any, table: str) -> bool:
    """Whether `table` (a refresh's copy) holds rows of a completed load not yet recorded.
    Reads only: the caller may hold a transaction that DDL would end (Snowflake commits on it)."""
    col = client.escape_column_name
    loads = client.make_qualified_table_name("_dlt_loads")
    sql = (
        f"select 1 from {table} t join {loads} l on l.{col('load_id')} = t.{col('_dlt_load_id')} "
        f"where l.{col('status')} = 0"
    )
    # Before its first recording succeeds, _history_loads does not exist: every load waits.
    if _exists(client, RECORDED_LOADS):
        recorded = client.make_qualified_table_name(RECORDED_LOADS)
        same = f"r.{col('load_id')} = t.{col('_dlt_load_id')}"
        sql += f" and not exists (select 1 from {recorded} r where {same})"
    return bool(client.execute_sql(sql + " limit 1"))


def _exists(client: Any, name: str) -> bool:
    rows = client.execute_sql(
        "select 1 from information_schema.tables where lower(table_schema) = lower(%s) "
        "and lower(table_name) = lower(%s)",
        client.dataset_name,
        name,
    )
    return bool(rows)


def _source_columns(client: Any, source: str) -> set[str]:
    """The columns `source` has: a refresh's copy predates columns the table gained since."""
    with client.execute_query(f"select * from {source} where 1 = 0") as cursor:
        return {d[0].lower() for d in cursor.description}


def _history_columns(schema: Any, table: str) -> list[str]:
    """Every column but dlt's own and the marks of a row's absence (not a version of it)."""
    marks = (DELETED_AT, EXPIRED_AT)
    return [n for n in schema.get_table_columns(table) if not n.startswith("_dlt") and n not in marks]


def _unrecorded(client: Any, recorded: str) -> list[str]:
    """Completed loads (`_dlt_loads` status 0) that _history_loads does not list, oldest first."""
    col = client.escape_column_name
    dlt_loads = client.make_qualified_table_name("_dlt_loads")
    rows = client.execute_sql(
        f"select l.{col('load_id')} from {dlt_loads} l where l.{col('status')} = 0 and not exists "
        f"(select 1 from {recorded} r where r.{col('load_id')} = l.{col('load_id')}) order by 1"
    )
    return [str(row[0]) for row in rows or []]


def chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _ensure_table(client: Any, main: str, history: str, columns: list[str], stamp_like: str) -> None:
    """The history table, created from the main table's types (observed_at typed as the
    timestamp column `stamp_like`), and any column the main table gained since (drift) added."""
    col = client.escape_column_name
    names = ", ".join(col(c) for c in columns)
    client.execute_sql(
        f"create table if not exists {history} as "
        f"select {names}, {col(stamp_like)} as {col(OBSERVED_AT)} from {main} where 1 = 0"
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
