"""Each version read, once: rows of the `<table>_history` tables, keyed by (id, updated_at)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.source import columns
from pipelines.source.columns import TColumns

HISTORY_OF = ("repositories", "scans", "findings", "fixes")
_TIMESTAMP = pa.timestamp("us", tz="UTC")
# insert-only: a version already in the table is left as it is, so `observed_at` stays the start of
# the run that first read it; re-reading (look-back window, a server ignoring updated_since, a full
# refresh) adds nothing. One MERGE ... WHEN NOT MATCHED per load, on DuckDB and Snowflake alike.
WRITE_DISPOSITION: dict[str, str] = {"disposition": "merge", "strategy": "insert-only"}
PRIMARY_KEY = ("id", "updated_at")
_MAIN_COLUMNS = {
    "repositories": columns.REPOSITORIES,
    "scans": columns.SCANS,
    "findings": columns.FINDINGS,
    "fixes": columns.FIXES,
}


def history_table(table: str) -> str:
    return f"{table}_history"


def history_columns(table: str) -> TColumns:
    """The main table's column hints, keyed by (id, updated_at), plus observed_at."""
    cols: TColumns = {}
    for name, hint in _MAIN_COLUMNS[table].items():
        if name.startswith("_"):
            continue  # _deleted_at belongs to the object, not to a version
        cols[name] = {k: v for k, v in hint.items() if k not in ("primary_key", "dedup_sort")}
    for name in PRIMARY_KEY:
        cols[name] = {**cols[name], "nullable": False, "primary_key": True}
    cols["observed_at"] = {"data_type": "timestamp", "nullable": False}
    return cols


def versions(item: Any, observed_at: datetime) -> Any:
    """The history rows of one item of a main table: an Arrow table or a list of dicts.

    Rows without updated_at cannot be versioned and are left out (the main table still has them);
    list fields (fixes' finding_ids) are left out, as the contract allows. None when nothing is left.
    """
    if isinstance(item, pa.Table):
        table = item
        if table.column("updated_at").null_count:
            table = table.filter(pc.is_valid(table.column("updated_at")))
        if not table.num_rows:
            return None
        if table.schema.field("updated_at").nullable:
            # the key is never null here; saying so matches the column hints (dlt warns otherwise)
            i = table.schema.get_field_index("updated_at")
            table = table.cast(table.schema.set(i, table.schema.field(i).with_nullable(False)))
        stamp = pa.repeat(pa.scalar(observed_at, type=_TIMESTAMP), table.num_rows)
        return table.append_column(pa.field("observed_at", _TIMESTAMP, nullable=False), stamp)
    rows = [
        {**{k: v for k, v in row.items() if not isinstance(v, list)}, "observed_at": observed_at}
        for row in item
        if isinstance(row, dict) and isinstance(row.get("updated_at"), str) and row["updated_at"]
    ]
    return rows or None
