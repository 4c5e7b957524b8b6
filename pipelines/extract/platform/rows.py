"""Platform items as raw-table rows: links dropped, a finding's representative results flattened."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipelines.extract.endpoints import DELETED_AT, EXPIRED_AT, VERSION

# Ours, never the server's: a row that carries one of these from the wire must not set it.
OURS = (DELETED_AT, EXPIRED_AT, VERSION)
RESULT_TYPES = ("triage", "fix", "sca")


def clean(item: dict[str, Any]) -> dict[str, Any]:
    """The item without HAL's `_links` and `_embedded` and without our own columns, nested
    objects flattened the dlt way (`severity__label`) at any depth: dlt's own flattening stops
    at the source's nesting level and stores deeper objects as JSON."""
    return flatten({k: v for k, v in item.items() if k not in ("_links", "_embedded") and k not in OURS})


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}__"))
        else:
            out[name] = value
    return out


def version_of(row: dict[str, Any]) -> str:
    """A stable hash of a row's content (key order and our own columns do not count)."""
    content = {k: v for k, v in row.items() if k not in OURS}
    text = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:20]


def versioned(item: dict[str, Any]) -> dict[str, Any]:
    row = clean(item)
    row[VERSION] = version_of(row)
    return row


def representative_results(item: dict[str, Any]) -> list[dict[str, Any]]:
    """`_embedded["representative-results"]._embedded.items`, tolerating any part missing."""
    embedded = item.get("_embedded")
    results = embedded.get("representative-results") if isinstance(embedded, dict) else None
    if isinstance(results, list):  # the items embedded directly: the same meaning
        return [r for r in results if isinstance(r, dict)]
    inner = results.get("_embedded") if isinstance(results, dict) else None
    items = inner.get("items") if isinstance(inner, dict) else None
    return [r for r in items if isinstance(r, dict)] if isinstance(items, list) else []


def finding_row(item: dict[str, Any], scan: dict[str, Any]) -> dict[str, Any]:
    """A finding of one scan: the scan's id, repository and detector copied on, and each
    representative result as `<type>__<field>` (dlt flattens the nested objects further:
    `triage__outcome__summary`, `fix__patch__merge_state`)."""
    row = clean(item)
    for result in representative_results(item):
        kind = result.get("type")
        if not isinstance(kind, str) or not kind or any(k.startswith(f"{kind}__") for k in row):
            continue
        fields = {k: v for k, v in result.items() if k not in ("type", "_links", "_embedded")}
        row.update(flatten(fields, f"{kind}__"))
    row["scan_id"] = scan["id"]
    row["repository_id"] = scan.get("repository_id")
    row["detector"] = scan.get("detector")
    row[VERSION] = version_of(row)
    return row
