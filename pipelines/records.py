"""Records no warehouse can hold (not an object, no id, a 65-bit integer, absurd nesting, a lone
surrogate) and the `rejected_records` rows they become instead of sinking the sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pipelines.redaction import redact

TABLE = "rejected_records"
# Real records nest two or three levels; json and dlt's normalizer recurse per level and give
# up (RecursionError, orjson's 255) long before a hostile record's thousands.
MAX_DEPTH = 64
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # BIGINT: DuckDB, Snowflake, Arrow and orjson all stop here
RAW_CHARS = 2000  # of the offending record, kept so an operator can see what the server sent
COLUMNS: dict[str, dict[str, Any]] = {
    "table_name": {"data_type": "text", "nullable": False},
    "reason": {"data_type": "text", "nullable": False},
    "run_id": {"data_type": "text"},
    "raw_value": {"data_type": "text"},
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
    """Why a record's values cannot be stored (an integer beyond 64 bits, nesting past
    MAX_DEPTH), or None. A few microseconds a row: asked only of rows that go to dlt as dicts
    (rows typed to Arrow have already proved they fit)."""
    return _value_problem(record, 1)


def problem(record: Any) -> str | None:
    """Why `record` cannot be loaded as a row merged on `id`, or None when it can."""
    return shape_problem(record) or value_problem(record)


def split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """(rows whose values can be stored, [(row, reason)] for the others)."""
    good: list[dict[str, Any]] = []
    bad: list[tuple[dict[str, Any], str]] = []
    for row in rows:
        reason = value_problem(row)
        if reason is None:
            good.append(row)
        else:
            bad.append((row, reason))
    return good, bad


def _value_problem(value: dict[str, Any] | list[Any], depth: int) -> str | None:
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
        if kind is float or kind is bool or item is None:
            continue
        if kind is int:
            if not INT_MIN <= item <= INT_MAX:  # type: ignore[operator]
                return "an integer beyond 64 bits"
        elif kind is dict or kind is list:
            found = _value_problem(item, depth + 1)
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


def rejected_row(table: str, reason: str, value: Any, run_id: str | None) -> dict[str, Any]:
    return {
        "table_name": table,
        "reason": reason,
        "run_id": run_id,
        "raw_value": raw_text(value),
        "observed_at": datetime.now(UTC),
    }
