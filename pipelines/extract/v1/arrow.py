"""Pages of flat lists as Arrow tables, typed from the column hints, so dlt skips row-by-row normalizing."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.extract.endpoints import DELETED_AT, TColumns, arrow_lists

_TYPES = {"text": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "bool": pa.bool_()}
_TIMESTAMP = pa.timestamp("us", tz="UTC")
# Lists whose objects are flat (no nested object, no list): the bulk of every organisation.
ARROW_LISTS: dict[str, TColumns] = arrow_lists()


def _schema(cols: TColumns) -> tuple[pa.Schema, list[str]]:
    fields, stamps = [], []
    for name, col in cols.items():
        if name == DELETED_AT:
            continue  # ours, never the API's: a row that sends it does not fit, and goes as dicts
        kind = col["data_type"]
        if kind == "timestamp":
            stamps.append(name)
        # Timestamps are read as text, then cast (ISO 8601 with Z, with or without fractions).
        fields.append(pa.field(name, _TYPES.get(kind, pa.string()), nullable=col.get("nullable", True)))
    return pa.schema(fields), stamps


_SCHEMAS = {kind: _schema(cols) for kind, cols in ARROW_LISTS.items()}
# pyarrow casts a float into an integer column by truncating it (1.5 -> 1), where dlt's
# normalizer keeps it in a variant column: such rows go the dict path, so both paths agree.
_INTEGERS = {
    kind: tuple(name for name, col in cols.items() if col["data_type"] == "bigint")
    for kind, cols in ARROW_LISTS.items()
}


def page_to_arrow(kind: str, rows: list[dict[str, Any]]) -> pa.Table | None:
    """The page as a typed Arrow table, or None when it does not fit the known columns (a new
    field, a value of another type): that page then goes through dlt's normalizer, which adds
    the column or a variant column and says so."""
    if kind not in _SCHEMAS or not rows:
        return None
    schema, stamps = _SCHEMAS[kind]
    known = set(schema.names)
    if any(not known.issuperset(row) for row in rows):
        return None
    integers = _INTEGERS[kind]
    if any(type(row.get(name)) is float for row in rows for name in integers):
        return None
    try:
        table = pa.Table.from_pylist(rows, schema=schema)
        for name in stamps:
            i = table.schema.get_field_index(name)
            table = table.set_column(i, pa.field(name, _TIMESTAMP), pc.cast(table[name], _TIMESTAMP))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return None
    return table
