"""A full refresh forgets nothing: what it drops is kept aside; what it no longer finds goes back marked.

`--full-refresh` drops the main tables (dlt's `drop_sources`) and reads the present. Without more,
a deleted finding or repository, with its `_deleted_at`, would leave the warehouse, and the
marts' past days would change after the fact. So, before the drop, each of `repositories`,
`scans`, `findings` and `fixes` (and their child tables, `fixes__finding_ids`) is copied to
`_refresh_prior_<table>`; once a run has read every list to its end since (the refresh itself,
or the run after a refresh that was stopped), each prior row whose id the new table lacks goes
back, in its last observed state, with `_deleted_at` kept or set to that run's start. Then the
copies are dropped, unless they hold versions the history has not recorded yet (recording failed
before the refresh): those copies stay until a run's catch-up records them from there. A refresh
stopped part way keeps the copies of the first attempt, never the
half-read tables of the second.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipelines.extract.v1.columns import DELETED_AT
from pipelines.load.deletions import MARKED_TABLES
from pipelines.load.history import waiting_in
from pipelines.load.schemas import api_schema

PRIOR = "_refresh_prior_"


def keep_prior_rows(pipeline: Any) -> list[str]:
    """Copy the main tables and their child tables aside before a refresh drops them; the
    tables copied (none when copies from an unfinished refresh are still there)."""
    schema = api_schema(pipeline)
    if schema is None:
        return []
    tables = _tables(schema)
    with pipeline.sql_client() as client:
        have = _existing(client)
        if any(f"{PRIOR}{t}".lower() in have for t in tables):
            return []  # an earlier refresh stopped before restoring: its copies hold the past
        copied = [t for t in tables if t.lower() in have]
        with client.begin_transaction():
            for table in copied:
                client.execute_sql(
                    f"create table {client.make_qualified_table_name(PRIOR + table)} as "
                    f"select * from {client.make_qualified_table_name(table)}"
                )
    return copied


def restore_disappeared(pipeline: Any, started: datetime, history: bool = True) -> dict[str, int]:
    """After a run that read every list to its end: prior rows whose id is gone go back with
    `_deleted_at` (kept, or `started`); the copies are dropped, but with `history` on not while
    they hold versions not recorded yet. Rows newly marked, per table."""
    marked: dict[str, int] = {}
    schema = api_schema(pipeline)
    if schema is None:
        return marked
    with pipeline.sql_client() as client:
        have = _existing(client)
        priors = [t for t in _tables(schema) if f"{PRIOR}{t}".lower() in have]
        if not priors:
            return marked
        col = client.escape_column_name
        q = client.make_qualified_table_name
        # A copy holding versions the history has not recorded yet stays until a catch-up
        # records them (pipelines.load.history reads the copies too); then it goes.
        keep = history and any(waiting_in(client, q(PRIOR + t)) for t in priors if "__" not in t)
        with client.begin_transaction():
            for table in (t for t in MARKED_TABLES if t in priors and t.lower() in have):
                prior, main = q(PRIOR + table), q(table)
                gone = (
                    f"select o.{col('_dlt_id')} from {prior} o where not exists "
                    f"(select 1 from {main} m where m.{col('id')} = o.{col('id')})"
                )
                # Children first: once the parents are back, `gone` no longer finds them.
                for child in (c for c in priors if c.startswith(f"{table}__") and c.lower() in have):
                    names = ", ".join(col(c) for c in _shared_columns(client, q(PRIOR + child), q(child)))
                    client.execute_sql(
                        f"insert into {q(child)} ({names}) select {names} from {q(PRIOR + child)} "
                        f"where {col('_dlt_parent_id')} in ({gone})"
                    )
                columns = [c for c in _shared_columns(client, prior, main) if c != DELETED_AT.lower()]
                names = ", ".join(col(c) for c in columns)
                picked = ", ".join(f"p.{col(c)}" for c in columns)
                unmarked = client.execute_sql(
                    f"select count(*) from {prior} p where p.{col('_dlt_id')} in ({gone}) "
                    f"and p.{col(DELETED_AT)} is null"
                )
                marked[table] = int(unmarked[0][0]) if unmarked else 0
                client.execute_sql(
                    f"insert into {main} ({names}, {col(DELETED_AT)}) "
                    f"select {picked}, coalesce(p.{col(DELETED_AT)}, %s) from {prior} p "
                    f"where p.{col('_dlt_id')} in ({gone})",
                    started,
                )
            if not keep:
                for table in priors:
                    client.execute_sql(f"drop table if exists {q(PRIOR + table)}")
    return {t: n for t, n in marked.items() if n}


def _tables(schema: Any) -> list[str]:
    """The main tables a refresh drops that hold objects, and their child tables."""
    names = [t["name"] for t in schema.data_tables()]
    return [n for n in names if n in MARKED_TABLES or n.split("__")[0] in MARKED_TABLES]


def _existing(client: Any) -> set[str]:
    rows = client.execute_sql(
        "select table_name from information_schema.tables where lower(table_schema) = lower(%s)",
        client.dataset_name,
    )
    return {str(name).lower() for (name,) in rows or []}


def _columns(client: Any, table: str) -> list[str]:
    with client.execute_query(f"select * from {table} where 1 = 0") as cursor:
        return [d[0].lower() for d in cursor.description]


def _shared_columns(client: Any, prior: str, main: str) -> list[str]:
    """The columns both tables have, in the copy's order (a refresh may have changed the schema)."""
    theirs = set(_columns(client, main))
    return [c for c in _columns(client, prior) if c in theirs]
