"""Column hints of the v1 raw tables, as the endpoint registry declares them, and what a detail keeps."""

from __future__ import annotations

from pipelines.extract import endpoints
from pipelines.extract.endpoints import DELETED_AT, TColumns

__all__ = [
    "DELETED_AT",
    "FINDING_DETAIL_FIELDS",
    "FIX_DETAIL_FIELDS",
    "TColumns",
    "declared",
    "detail_fields",
    "hints",
]


def hints(table: str) -> TColumns:
    """The v1 table's column hints, empty for a table the registry does not know."""
    return next((entry.columns for entry in endpoints.V1 if entry.table == table), {})


def detail_fields(table: str) -> tuple[str, ...]:
    """Which fields of a detail response land in its table (the rest repeat the list row): the
    top-level names its columns were flattened from."""
    return tuple(dict.fromkeys(name.split("__")[0] for name in hints(table)))


FIX_DETAIL_FIELDS = detail_fields("fix_details")
FINDING_DETAIL_FIELDS = detail_fields("finding_details")


def declared(table: str) -> dict[str, str]:
    """The table's declared column types, by flattened name (pipelines.extract.rejected_rows.mend)."""
    return {name: col["data_type"] for name, col in hints(table).items()}
