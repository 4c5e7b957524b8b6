"""One registry of the API's tables: where each comes from, its key, columns, cursor, versions and deletions.

Both flavours' tables, side by side: the sources, history, deletions, expiry, the events plan, the
demos and the run summary read their table lists from here, so adding a resource is one entry and its test.

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
| `arrow` | v1: rows are flat, so pages travel as Arrow tables typed from `columns` |
| `child_tables` | v1: list fields dlt loads as `<table>__<field>` that the marts read |
| `resource_rank` | v1 lists read per repository: the order the source yields them |
| `read_rank` | v1 lists read per repository: the order a batch queues their reads |
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

TColumns = dict[str, dict[str, Any]]
FlavourName = Literal["v1", "platform"]

VERSION = "_version"  # a hash of a row's content, for tables whose items carry no updated_at
# Ours, not the API's: when a complete read of the list no longer found the object (NULL while it
# is listed). A row loaded again carries no value for it, so the merge sets it back to NULL.
DELETED_AT = "_deleted_at"
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
    arrow: bool = False
    child_tables: tuple[str, ...] = ()
    resource_rank: int = 0
    read_rank: int = 0

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


# Of two copies of one object in a load (updated mid-walk, or re-read in the look-back window),
# the merge keeps the one with the latest updated_at.
_UPDATED: TColumns = {"updated_at": {"data_type": "timestamp", "nullable": True, "dedup_sort": "desc"}}
_VERSION: TColumns = _cols("text", VERSION)
_DELETED: TColumns = _cols("timestamp", DELETED_AT)

# -- v1: the overview API (pipelines.extract.v1) --------------------------------------------------------


def _per_repository(
    table: str, columns: TColumns, resource_rank: int, read_rank: int, **more: Any
) -> Endpoint:
    """A v1 list read once per repository from its cursor; an object it no longer lists is deleted."""
    return Endpoint(
        table,
        "v1",
        path=f"/repositories/{{id}}/{table}",
        parent="repositories",
        walk="each",
        columns={**_key("id"), **columns, **_UPDATED, **_DELETED},
        incremental="updated_since",
        versioned_by="updated_at",
        deletable=True,
        resource_rank=resource_rank,
        read_rank=read_rank,
        **more,
    )


def _v1_detail(table: str, path: str, parent: str, columns: TColumns) -> Endpoint:
    """A v1 table filled from each `parent` row's own GET (with --details)."""
    return Endpoint(table, "v1", path=path, parent=parent, walk="detail", columns={**_key("id"), **columns})


# Per-repository lists: the source yields fixes, scans, findings; a batch queues the longest
# first (findings outnumber fixes, fixes outnumber scans), since a page walk is sequential.
V1: tuple[Endpoint, ...] = (
    Endpoint(
        "repositories",
        "v1",
        path="/repositories",
        columns={
            **_key("id"),
            **_cols("text", "name", "full_name", "scm", "default_branch", "language"),
            **_cols("bool", "enabled", "settings__auto_fix", "settings__triage"),
            **_cols("bigint", "settings__max_open_prs"),
            **_cols("timestamp", "last_scan_at", "created_at"),
            **_UPDATED,
            **_DELETED,
        },
        incremental="updated_since",
        versioned_by="updated_at",
        deletable=True,
    ),
    _per_repository(
        "scans",
        {
            **_cols("text", "repository_id", "state", "trigger", "detection_tool", "branch", "commit_sha"),
            **_cols("bigint", "findings_count", "fixes_generated", "duration_seconds"),
            **_cols("timestamp", "started_at", "completed_at", "created_at"),
        },
        resource_rank=1,
        read_rank=2,
        arrow=True,
    ),
    _per_repository(
        "findings",
        {
            **_cols("text", "repository_id", "scan_id", "rule_id", "detection_tool", "title", "severity"),
            **_cols("text", "cwe", "path", "triage_status", "classification", "status"),
            **_cols("bigint", "start_line"),
            **_cols("double", "confidence"),
            **_cols("timestamp", "detected_at", "triaged_at", "resolved_at", "created_at"),
        },
        resource_rank=2,
        read_rank=0,
        arrow=True,
        detail="finding_details",
    ),
    _per_repository(
        "fixes",
        {
            **_cols("text", "repository_id", "codemod", "detection_tool", "summary", "status", "pr_url"),
            **_cols("bool", "ai_generated"),
            **_cols("bigint", "files_changed", "pr_number"),
            **_cols("timestamp", "pr_opened_at", "merged_at", "closed_at", "created_at"),
        },
        resource_rank=0,
        read_rank=1,
        detail="fix_details",
        child_tables=("fixes__finding_ids",),
    ),
    Endpoint(
        "webhooks",
        "v1",
        path="/webhooks",
        columns={
            **_key("id"),
            **_cols("text", "url"),
            **_cols("bool", "active"),
            **_cols("timestamp", "created_at"),
        },
        write_disposition="replace",
    ),
    _v1_detail(
        "fix_details",
        "/fixes/{id}",
        "fixes",
        {
            **_cols("text", "diff", "rationale"),
            **_cols("bigint", "quality__safety", "quality__effectiveness", "quality__cleanliness"),
        },
    ),
    _v1_detail("finding_details", "/findings/{id}", "findings", _cols("text", "justification")),
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


def _small(table: str, relation: str, *texts: str) -> Endpoint:
    """A small collection without a time filter: one walk a run, the table replaced whole."""
    return Endpoint(
        table,
        "platform",
        relation=relation,
        write_disposition="replace",
        columns={**_key("id"), **_cols("text", *texts)},
    )


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
            **_DELETED,
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
    _small("integrations", "integrations", "type"),
    _small("scales", "scales", "type"),
    _small("system_status", "system-status", "type", "name", "status", "description"),
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


def _each_repository() -> list[Endpoint]:
    return [e for e in V1 if e.walk == "each" and e.parent == "repositories"]


def repository_lists() -> tuple[str, ...]:
    """The v1 lists read once per repository, in the order the source yields them."""
    return tuple(e.table for e in sorted(_each_repository(), key=lambda e: e.resource_rank))


def read_order() -> tuple[str, ...]:
    """The v1 lists read once per repository, in the order a batch queues their reads."""
    return tuple(e.table for e in sorted(_each_repository(), key=lambda e: e.read_rank))


def detail_tables() -> tuple[str, ...]:
    """The v1 tables filled from each row's own GET, in the order the source yields them."""
    return tuple(e.table for e in V1 if e.walk == "detail")


def details_of() -> dict[str, Endpoint]:
    """v1 list -> the detail endpoint each of its rows is read from."""
    return {e.table: endpoint("v1", e.detail) for e in V1 if e.detail}


def arrow_lists() -> dict[str, TColumns]:
    """The v1 lists whose flat rows travel as Arrow tables, with the columns that type them."""
    return {e.table: e.columns for e in V1 if e.arrow}
