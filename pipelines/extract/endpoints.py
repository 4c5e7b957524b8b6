"""One registry of the API's tables: where each comes from, its key, columns, cursor, versions and deletions.

Both flavours' tables are here, side by side. The platform source, history, deletions, expiry and
the run summary read their lists from this module; adding a resource is one entry (and its test).

| field | meaning |
|---|---|
| `flavour` | `v1` (the overview API) or `platform` (the HAL API discovered from `/api/v1`) |
| `path` / `relation` | v1: the list's path; platform: the root's link relation (or `parent` link) |
| `parent` | the table whose rows link to this list (`scans` for findings) |
| `key` | the primary key the raw table merges on |
| `columns` | dlt column hints: every documented field typed, so all-null columns exist too |
| `incremental` | the filter a run sends (`updated_since`, `updated-after`, `created-after`), None: full |
| `versioned_by` | `updated_at` or `_version` (a content hash): a new `<table>_history` row per change |
| `deletable` / `expirable` | gets `_deleted_at` / `_expired_at` when a complete read no longer finds it |
| `detail` | the table filled from each row's own GET, if any |
| `walk` | `list` (paged), `document` (one row), `each` (one walk per parent row), `detail` |
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.extract.v1 import columns as v1_columns

TColumns = dict[str, dict[str, Any]]
FlavourName = Literal["v1", "platform"]

VERSION = "_version"  # a hash of a row's content, for tables whose items carry no updated_at
DELETED_AT = v1_columns.DELETED_AT
EXPIRED_AT = "_expired_at"  # a scan the API stopped serving (its seven days are over); never dropped


@dataclass(frozen=True)
class Endpoint:
    """One raw table and the endpoint it is read from."""

    table: str
    flavour: FlavourName
    key: tuple[str, ...] = ("id",)
    columns: TColumns = field(default_factory=dict)
    path: str | None = None
    relation: str | None = None
    parent: str | None = None
    incremental: str | None = None
    versioned_by: str | None = None
    deletable: bool = False
    expirable: bool = False
    detail: str | None = None
    walk: Literal["list", "document", "each", "detail"] = "list"
    write_disposition: Literal["merge", "replace"] = "merge"

    @property
    def history_table(self) -> str:
        return f"{self.table}_history"

    @property
    def stamp_column(self) -> str | None:
        """A timestamp column whose type the history's `observed_at` takes (the versioning column
        itself when that is updated_at)."""
        if self.versioned_by == "updated_at":
            return "updated_at"
        return next(
            (name for name, hint in self.columns.items() if hint.get("data_type") == "timestamp"), None
        )


def _cols(kind: str, *names: str) -> TColumns:
    return {name: {"data_type": kind, "nullable": True} for name in names}


def _key(*names: str) -> TColumns:
    return {name: {"data_type": "text", "nullable": False, "primary_key": True} for name in names}


_UPDATED: TColumns = {"updated_at": {"data_type": "timestamp", "nullable": True, "dedup_sort": "desc"}}
_VERSION: TColumns = _cols("text", VERSION)

# -- v1: the overview API (pipelines.extract.v1) --------------------------------------------------------

V1: tuple[Endpoint, ...] = (
    Endpoint(
        "repositories",
        "v1",
        path="/repositories",
        columns=v1_columns.REPOSITORIES,
        incremental="updated_since",
        versioned_by="updated_at",
        deletable=True,
    ),
    Endpoint(
        "scans",
        "v1",
        path="/repositories/{id}/scans",
        parent="repositories",
        walk="each",
        columns=v1_columns.SCANS,
        incremental="updated_since",
        versioned_by="updated_at",
        deletable=True,
    ),
    Endpoint(
        "findings",
        "v1",
        path="/repositories/{id}/findings",
        parent="repositories",
        walk="each",
        columns=v1_columns.FINDINGS,
        incremental="updated_since",
        versioned_by="updated_at",
        deletable=True,
        detail="finding_details",
    ),
    Endpoint(
        "fixes",
        "v1",
        path="/repositories/{id}/fixes",
        parent="repositories",
        walk="each",
        columns=v1_columns.FIXES,
        incremental="updated_since",
        versioned_by="updated_at",
        deletable=True,
        detail="fix_details",
    ),
    Endpoint("webhooks", "v1", path="/webhooks", columns=v1_columns.WEBHOOKS, write_disposition="replace"),
    Endpoint(
        "fix_details", "v1", path="/fixes/{id}", parent="fixes", walk="detail", columns=v1_columns.FIX_DETAILS
    ),
    Endpoint(
        "finding_details",
        "v1",
        path="/findings/{id}",
        parent="findings",
        walk="detail",
        columns=v1_columns.FINDING_DETAILS,
    ),
)

# -- platform: the HAL API discovered from GET /api/v1 (pipelines.extract.platform) ------------------------

_RESULT_COLUMNS: TColumns = {
    **_cols(
        "text", "triage__status", "triage__suggested", "triage__outcome__summary", "triage__outcome__reason"
    ),
    **_cols("timestamp", "triage__analyzed_at"),
    **_cols("text", "fix__status", "fix__confidence", "fix__outcome__summary", "fix__outcome__reason"),
    **_cols("text", "fix__patch__id", "fix__patch__state", "fix__patch__merge_state"),
    **_cols("timestamp", "fix__analyzed_at"),
    **_cols("text", "sca__status", "sca__classification", "sca__outcome__summary", "sca__outcome__reason"),
    **_cols("timestamp", "sca__analyzed_at"),
}

PLATFORM: tuple[Endpoint, ...] = (
    Endpoint(
        "repositories",
        "platform",
        relation="repositories",
        versioned_by=VERSION,
        deletable=True,
        columns={
            **_key("id"),
            **_cols("text", "name", "full_name", "default_branch", "type", "html_url"),
            **_cols("timestamp", "created_at"),
            **_VERSION,
            **_cols("timestamp", DELETED_AT),
        },
    ),
    Endpoint(
        "scans",
        "platform",
        relation="scans",
        versioned_by=VERSION,
        expirable=True,
        columns={
            **_key("id"),
            **_cols("text", "repository_id", "detector", "sha", "branch"),
            **_cols("timestamp", "imported_at", "expires_at"),
            **_VERSION,
            **_cols("timestamp", EXPIRED_AT),
        },
    ),
    Endpoint(
        "findings",
        "platform",
        relation="findings",
        parent="scans",
        walk="each",
        key=("scan_id", "id"),
        versioned_by=VERSION,
        columns={
            **_key("scan_id", "id"),
            **_cols("text", "repository_id", "detector", "title", "rule", "severity__label", "html_url"),
            **_cols("bigint", "severity__rank"),
            **_RESULT_COLUMNS,
            **_VERSION,
        },
    ),
    Endpoint(
        "analyses",
        "platform",
        relation="analyses",
        incremental="updated-after",
        versioned_by="updated_at",
        columns={
            **_key("id"),
            **_cols("text", "type", "state", "branch", "sha", "scan_id"),
            **_cols("timestamp", "created_at", "completed_at"),
            **_UPDATED,
        },
    ),
    Endpoint(
        "patches",
        "platform",
        relation="patches",
        incremental="created-after",
        versioned_by="updated_at",
        detail="patches",
        columns={
            **_key("id"),
            **_cols("text", "state", "type", "branch_name", "merge_state", "html_url"),
            **_cols("text", "repository_id", "scan_id", "finding_id"),
            **_cols("bigint", "pr_number"),
            **_cols("timestamp", "created_at"),
            **_UPDATED,
        },
    ),
    Endpoint(
        "workflows",
        "platform",
        relation="workflows",
        parent="repositories",
        walk="each",
        columns={
            **_key("id"),
            **_cols("text", "repository_id", "name", "event", "action", "tool", "cadence", "branch"),
            **_cols("bool", "enabled"),
        },
    ),
    Endpoint(
        "integrations",
        "platform",
        relation="integrations",
        write_disposition="replace",
        columns={**_key("id"), **_cols("text", "type")},
    ),
    Endpoint(
        "scales",
        "platform",
        relation="scales",
        write_disposition="replace",
        columns={**_key("id"), **_cols("text", "type")},
    ),
    Endpoint(
        "system_status",
        "platform",
        relation="system-status",
        write_disposition="replace",
        columns={**_key("id"), **_cols("text", "type", "name", "status", "description")},
    ),
    Endpoint(
        "preferences",
        "platform",
        relation="preferences",
        walk="document",
        key=("org_id",),
        write_disposition="replace",
        columns={**_key("org_id"), **_cols("text", "updated_by"), **_cols("timestamp", "updated_at")},
    ),
)

ENDPOINTS: tuple[Endpoint, ...] = (*V1, *PLATFORM)
# Root relations that are no collection to load: the root itself, HAL's curies, and the key's
# own identity (`check` reads it).
NOT_LOADED = frozenset({"self", "curies", "users-me"})
UNKNOWN_PREFIX = "collection_"


def endpoints(flavour: FlavourName) -> tuple[Endpoint, ...]:
    return V1 if flavour == "v1" else PLATFORM


def endpoint(flavour: FlavourName, table: str) -> Endpoint:
    for entry in endpoints(flavour):
        if entry.table == table:
            return entry
    raise KeyError(f"no {flavour} table {table!r}")


def versioned(flavour: FlavourName) -> Iterator[Endpoint]:
    """The tables with a `<table>_history`."""
    return (e for e in endpoints(flavour) if e.versioned_by)


def deletable(flavour: FlavourName) -> tuple[str, ...]:
    return tuple(e.table for e in endpoints(flavour) if e.deletable)


def root_relations() -> dict[str, Endpoint]:
    """Platform root relation -> its endpoint, for the lists read from the root's links."""
    return {e.relation: e for e in PLATFORM if e.relation and e.parent is None}


def unknown_table(relation: str) -> str:
    """`collection_<relation>` for a root relation the connector does not know, a valid table name."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in relation.lower())
    return UNKNOWN_PREFIX + cleaned.strip("_")


def table_order() -> tuple[str, ...]:
    """Every table once, v1 first, in the order the run summary lists them."""
    seen: dict[str, None] = {}
    for entry in ENDPOINTS:
        seen.setdefault(entry.table, None)
    return tuple(seen)
