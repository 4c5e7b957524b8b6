"""Column hints of the raw tables: types for every documented field, so all-null columns exist too."""

from __future__ import annotations

from typing import Any

TColumns = dict[str, dict[str, Any]]


def _cols(kind: str, *names: str) -> TColumns:
    return {name: {"data_type": kind, "nullable": True} for name in names}


# Of two copies of one object in a load (updated mid-walk, or re-read in the lag window),
# the merge keeps the one with the latest updated_at.
_ID: TColumns = {"id": {"data_type": "text", "nullable": False, "primary_key": True}}
_UPDATED: TColumns = {"updated_at": {"data_type": "timestamp", "nullable": True, "dedup_sort": "desc"}}
# Ours, not the API's: when a complete read of the list no longer found the object (NULL while it
# is listed). A row loaded again carries no value for it, so the merge sets it back to NULL.
DELETED_AT = "_deleted_at"
_DELETED: TColumns = {DELETED_AT: {"data_type": "timestamp", "nullable": True}}

REPOSITORIES: TColumns = {
    **_ID,
    **_cols("text", "name", "full_name", "scm", "default_branch", "language"),
    **_cols("bool", "enabled", "settings__auto_fix", "settings__triage"),
    **_cols("bigint", "settings__max_open_prs"),
    **_cols("timestamp", "last_scan_at", "created_at"),
    **_UPDATED,
    **_DELETED,
}

SCANS: TColumns = {
    **_ID,
    **_cols("text", "repository_id", "state", "trigger", "detection_tool", "branch", "commit_sha"),
    **_cols("bigint", "findings_count", "fixes_generated", "duration_seconds"),
    **_cols("timestamp", "started_at", "completed_at", "created_at"),
    **_UPDATED,
    **_DELETED,
}

FINDINGS: TColumns = {
    **_ID,
    **_cols(
        "text",
        "repository_id",
        "scan_id",
        "rule_id",
        "detection_tool",
        "title",
        "severity",
        "cwe",
        "path",
        "triage_status",
        "classification",
        "status",
    ),
    **_cols("bigint", "start_line"),
    **_cols("double", "confidence"),
    **_cols("timestamp", "detected_at", "triaged_at", "resolved_at", "created_at"),
    **_UPDATED,
    **_DELETED,
}

FIXES: TColumns = {
    **_ID,
    **_cols("text", "repository_id", "codemod", "detection_tool", "summary", "status", "pr_url"),
    **_cols("bool", "ai_generated"),
    **_cols("bigint", "files_changed", "pr_number"),
    **_cols("timestamp", "pr_opened_at", "merged_at", "closed_at", "created_at"),
    **_UPDATED,
    **_DELETED,
}

WEBHOOKS: TColumns = {
    **_ID,
    **_cols("text", "url"),
    **_cols("bool", "active"),
    **_cols("timestamp", "created_at"),
}

FIX_DETAILS: TColumns = {
    **_ID,
    **_cols("text", "diff", "rationale"),
    **_cols("bigint", "quality__safety", "quality__effectiveness", "quality__cleanliness"),
}

FINDING_DETAILS: TColumns = {**_ID, **_cols("text", "justification")}

# Which fields of a detail response land in its table (the rest repeat the list row).
FIX_DETAIL_FIELDS = ("id", "diff", "rationale", "quality")
FINDING_DETAIL_FIELDS = ("id", "justification")

BY_TABLE: dict[str, TColumns] = {
    "repositories": REPOSITORIES,
    "scans": SCANS,
    "findings": FINDINGS,
    "fixes": FIXES,
    "webhooks": WEBHOOKS,
    "fix_details": FIX_DETAILS,
    "finding_details": FINDING_DETAILS,
}


def declared(table: str) -> dict[str, str]:
    """The table's declared column types, by flattened name (pipelines.extract.rejected_rows.mend)."""
    return {name: col["data_type"] for name, col in BY_TABLE.get(table, {}).items()}
