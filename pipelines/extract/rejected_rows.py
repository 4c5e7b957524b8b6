"""Records no warehouse can hold (not an object, no id) and values no column can (a 65-bit integer,
absurd nesting, a lone surrogate, NaN where no float column is declared): a record goes to
`rejected_records` whole; a value is stored as text in its row, which is kept, and is listed there
with its column named."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pipelines.api.redaction import redact

TABLE = "rejected_records"
# Real records nest two or three levels; json and dlt's normalizer recurse per level and give
# up (RecursionError, orjson's 255) long before a hostile record's thousands.
MAX_DEPTH = 64
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # BIGINT: DuckDB, Snowflake, Arrow and orjson all stop here
TEXT_VARIANT = "__v_text"  # dlt's name for a column's text variant
RAW_CHARS = 2000  # of the offending record, kept so an operator can see what the server sent
COLUMNS: dict[str, dict[str, Any]] = {
    "table_name": {"data_type": "text", "nullable": False},
    "reason": {"data_type": "text", "nullable": False},
    "run_id": {"data_type": "text"},
    "raw_value": {"data_type": "text"},
    # Set when one value was stored as text and its row kept; empty when the record was set aside.
    "column_name": {"data_type": "text"},
    "observed_at": {"data_type": "timestamp", "nullable": False},
}


def shape_problem(record: Any) -> str | None:
    """Why `record` is no row merged on `id` (not an object, no string id), or None. Cheap:
    the page parser asks it of every item."""
    if type(record) is dict and type(record.get("id")) is str and record["id"]:
        return None
    if not isinstance(record, dict):
        return f"the record is a JSON {_json_type(record)}, not an object"
    record_id = record.get("id")
    if record_id is None or record_id == "":
        return "the record has no id"
    return f"the record's id is a JSON {_json_type(record_id)}, not a string"


def value_problem(record: dict[str, Any]) -> str | None:
    """Why some value of a record cannot be stored as it is (an integer beyond 64 bits, nesting
    past MAX_DEPTH, a lone surrogate), or None: what a webhook event may not hold at all."""
    return _value_problem(record, 1)


@dataclass
class Mended:
    """A value of `row` stored as text (or escaped): `column` as the warehouse names it."""

    row: dict[str, Any]
    column: str
    problem: str

    def reason(self) -> str:
        return f"{self.column}: {self.problem}; the row is kept, the value stored as text"


def mend(
    rows: list[dict[str, Any]], declared: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[Mended]]:
    """(the rows, each value no column can hold replaced, [what was replaced]).

    An integer beyond 64 bits or a value nested past MAX_DEPTH becomes its JSON text, a lone
    surrogate its escape; NaN and the infinities stay floats in a column declared `double`, as
    on the Arrow path, else become text ("NaN", "Infinity"). `declared` maps flattened column
    names to their declared types: text meant for a column declared otherwise goes to its text
    variant (`<column>__v_text`, as dlt names one), since dlt would cast digits back to a number.
    Rows with nothing to mend are returned as they are, at the cost of one cheap walk."""
    out: list[dict[str, Any]] = []
    mended: list[Mended] = []
    for row in rows:
        if _value_problem(row, 1, floats=True) is None:
            out.append(row)
            continue
        found: list[tuple[str, str]] = []
        out.append(_mend_object(row, "", 1, declared or {}, found))
        mended += [Mended(row, column, what) for column, what in found]
    return out, mended


def _mend_object(
    obj: dict[str, Any], prefix: str, depth: int, declared: Mapping[str, str], found: list[tuple[str, str]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not (key.isascii() or _encodes(key)):
            key = _escaped(key)
            found.append((prefix + key, "a field name that is not valid Unicode (a lone surrogate), escaped"))
        seen = len(found)
        mended = _mend_value(value, prefix + key, depth, declared, found)
        if len(found) > seen and type(mended) is str and declared.get(prefix + key, "text") != "text":
            key += TEXT_VARIANT
        out[key] = mended
    return out


def _mend_value(
    value: Any, column: str, depth: int, declared: Mapping[str, str], found: list[tuple[str, str]]
) -> Any:
    kind = type(value)
    if kind is str:
        if value.isascii() or _encodes(value):
            return value
        found.append((column, "a string that is not valid Unicode (a lone surrogate), escaped"))
        return _escaped(value)
    if kind is int:
        if INT_MIN <= value <= INT_MAX:
            return value
        found.append((column, "an integer beyond 64 bits"))
        return str(value)
    if kind is float:
        if math.isfinite(value):
            return value
        text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if declared.get(column) == "double":
            # Kept a float: dlt writes dict rows through JSON, where a float NaN becomes null,
            # while a Decimal survives and is cast back to the column's double.
            return Decimal(text)
        found.append((column, f"{text}, which only a float column holds"))
        return text
    if kind is dict or kind is list:
        if _deeper_than(value, MAX_DEPTH - depth):
            found.append((column, f"nested deeper than {MAX_DEPTH} levels"))
            return _json_text(value)
        if kind is dict:
            return _mend_object(value, column + "__", depth + 1, declared, found)
        return [_mend_value(item, column, depth + 1, declared, found) for item in value]
    return value


def _deeper_than(value: Any, levels: int) -> bool:
    """Whether `value` holds objects or arrays more than `levels` deep (stops at the first such)."""
    if type(value) not in (dict, list):
        return False
    if levels <= 0:
        return True
    items = value.values() if type(value) is dict else value
    return any(_deeper_than(item, levels - 1) for item in items if type(item) in (dict, list))


def _escaped(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode()


def _json_text(value: Any) -> str:
    try:  # ASCII: a lone surrogate inside comes out as its escape, which any column holds
        return json.dumps(value, default=str)
    except (RecursionError, ValueError):
        return "<nested too deep to show>"


def _value_problem(value: dict[str, Any] | list[Any], depth: int, floats: bool = False) -> str | None:
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if type(value) is dict and not all(key.isascii() or _encodes(key) for key in value):
        return "a field name that is not valid Unicode (a lone surrogate)"
    # The cheap types first: this runs over every field of every row that goes to dlt as a dict.
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is str:
            if not (item.isascii() or _encodes(item)):  # type: ignore[union-attr]
                return "a string that is not valid Unicode (a lone surrogate)"
            continue
        if kind is float:
            if floats and not math.isfinite(item):  # type: ignore[arg-type]
                return "NaN or an infinity"
            continue
        if kind is bool or item is None:
            continue
        if kind is int:
            if not INT_MIN <= item <= INT_MAX:  # type: ignore[operator]
                return "an integer beyond 64 bits"
        elif kind is dict or kind is list:
            found = _value_problem(item, depth + 1, floats)
            if found:
                return found
    return None


def _encodes(text: str) -> bool:
    """JSON may escape half a surrogate pair ("\\ud800"); no warehouse, Arrow or orjson takes it."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def raw_text(value: Any) -> str:
    """The record as JSON, cut to RAW_CHARS, with no secret in it."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (RecursionError, ValueError):
        text = repr(value)[: RAW_CHARS * 2] if not isinstance(value, dict | list) else "<too deep to show>"
    # A lone surrogate is shown escaped: the row itself must be storable.
    text = redact(text[: RAW_CHARS * 2].encode("utf-8", "backslashreplace").decode())
    return text if len(text) <= RAW_CHARS else text[: RAW_CHARS - 3] + "..."


def rejected_row(
    table: str, reason: str, value: Any, run_id: str | None, column: str | None = None
) -> dict[str, Any]:
    return {
        "table_name": table,
        "reason": reason,
        "run_id": run_id,
        "raw_value": raw_text(value),
        "column_name": column,
        "observed_at": datetime.now(UTC),
    }
