"""Test helpers for the marts: a hand-made organisation full of edge cases, a raw loader, comparisons."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dlt

from tests.marts_expected import KEYS, Row, ts

TIMESTAMP_COLUMNS = {
    "repositories": ("last_scan_at", "created_at", "updated_at"),
    "scans": ("started_at", "completed_at", "created_at", "updated_at"),
    "findings": ("detected_at", "triaged_at", "resolved_at", "created_at", "updated_at"),
    "fixes": ("pr_opened_at", "merged_at", "closed_at", "created_at", "updated_at"),
    "webhooks": ("created_at",),
}
HANDMADE_AS_OF = dt.date(2026, 3, 31)


def _finding(fid: str, repo: str, severity: str, detected: str, **extra: Any) -> Row:
    row = {
        "id": fid,
        "repository_id": repo,
        "scan_id": f"scan_{repo}_1",
        "rule_id": extra.pop("rule_id", "python/sql-injection"),
        "detection_tool": extra.pop("detection_tool", "semgrep"),
        "title": f"finding {fid}",
        "severity": severity,
        "cwe": None,  # null everywhere: dlt never creates the column, staging must cope
        "path": "app/main.py",
        "start_line": 10,
        "triage_status": "pending",
        "classification": None,
        "confidence": None,
        "status": "open",
        "detected_at": detected,
        "triaged_at": None,
        "resolved_at": None,
        "created_at": detected,
        "updated_at": "2026-03-30T12:00:00Z",
    }
    row.update(extra)
    if row["classification"]:
        row["triage_status"] = "completed"
        row["confidence"] = 0.9
    return row


def _fix(fid: str, repo: str, finding_ids: list[str], status: str, created: str, **extra: Any) -> Row:
    row = {
        "id": fid,
        "repository_id": repo,
        "finding_ids": finding_ids,
        "codemod": extra.pop("codemod", "pixee:python/secure-random"),
        "detection_tool": "semgrep",
        "summary": f"fix {fid}",
        "ai_generated": extra.pop("ai_generated", False),
        "files_changed": 1,
        "status": status,
        "pr_url": None,
        "pr_number": None,
        "pr_opened_at": None,
        "merged_at": None,
        "closed_at": None,
        "created_at": created,
        "updated_at": "2026-03-30T12:00:00Z",
    }
    row.update(extra)
    return row


def handmade_org() -> dict[str, list[Row]]:
    """A small organisation holding every edge case the marts must get right (as of 2026-03-31)."""
    repo = "repo_backend"
    repositories = [
        {
            "id": rid,
            "name": name,
            "full_name": f"acme-corp/{name}",
            "scm": "github",
            "default_branch": "main",
            "language": "python",
            "enabled": True,
            "settings": {"auto_fix": True, "triage": True, "max_open_prs": 5},
            "last_scan_at": last_scan,
            "created_at": "2025-12-01T00:00:00Z",
            "updated_at": "2026-03-30T00:00:00Z",
        }
        for rid, name, last_scan in (
            (repo, "backend-api", "2026-03-30T06:00:00Z"),
            ("repo_empty", "docs-site", None),  # a repository with no findings and no fixes
            ("repo_payments", "payments", "2026-03-30T07:00:00Z"),
        )
    ]
    scans = [
        {
            "id": f"scan_{rid}_1",
            "repository_id": rid,
            "state": "completed",
            "trigger": "schedule",
            "detection_tool": "semgrep",
            "branch": "main",
            "commit_sha": "abc123",
            "findings_count": 3,
            "fixes_generated": 1,
            "started_at": "2026-01-05T00:00:00Z",
            "completed_at": "2026-01-05T00:10:00Z",
            "duration_seconds": 600,
            "created_at": "2026-01-05T00:00:00Z",
            "updated_at": "2026-01-05T00:10:00Z",
        }
        for rid in (repo, "repo_payments")
    ]
    tp = {"classification": "TRUE_POSITIVE"}
    findings = [
        # detected and resolved the same day by a merged fix: never open at the end of a day
        _finding(
            "f_same_day",
            repo,
            "critical",
            "2026-03-01T10:00:00Z",
            **tp,
            triaged_at="2026-03-01T12:00:00Z",
            status="fixed",
            resolved_at="2026-03-01T20:00:00Z",
        ),
        # open true positive far past its SLA, addressed by a fix whose PR is still open
        _finding("f_old_high", repo, "high", "2026-02-01T08:00:00Z", **tp, triaged_at="2026-02-01T09:30:00Z"),
        # false positive: dismissed when triaged
        _finding(
            "f_fp",
            repo,
            "medium",
            "2026-02-10T00:00:00Z",
            classification="FALSE_POSITIVE",
            triaged_at="2026-02-10T05:30:00Z",
            status="dismissed",
            resolved_at="2026-02-10T05:30:00Z",
            rule_id="python/weak-hash",
        ),
        # pending triage for months, fractional seconds in its timestamp
        _finding("f_pending", repo, "low", "2026-01-05T00:00:00.500000Z", rule_id="python/weak-hash"),
        # reopened: its fix merged, then a later scan reported it again
        _finding("f_reopened", repo, "high", "2026-03-10T23:59:59Z", **tp, triaged_at="2026-03-11T01:00:00Z"),
        # fixed together with f_reopened by one fix: severities critical + high
        _finding(
            "f_crit",
            repo,
            "critical",
            "2026-03-05T06:00:00Z",
            **tp,
            triaged_at="2026-03-05T07:00:00Z",
            status="fixed",
            resolved_at="2026-03-12T09:15:30.250000Z",
        ),
        _finding(
            "f_wontfix",
            repo,
            "medium",
            "2026-03-02T00:00:00Z",
            classification="WONT_FIX",
            triaged_at="2026-03-03T00:00:00Z",
            status="dismissed",
            resolved_at="2026-03-03T00:00:00Z",
        ),
        # its fix's PR was closed unmerged: still open
        _finding(
            "f_closed_pr", repo, "medium", "2026-03-20T12:00:00Z", **tp, triaged_at="2026-03-20T13:00:00Z"
        ),
        # resolved by a later scan without a fix, exactly at midnight: still open at the end of 03-19
        _finding(
            "f_scan_fixed",
            "repo_payments",
            "low",
            "2025-12-15T00:00:00Z",
            **tp,
            triaged_at="2025-12-15T04:00:00Z",
            status="fixed",
            resolved_at="2026-03-20T00:00:00Z",
            detection_tool="codeql",
            rule_id="py/clear-text-logging",
        ),
        _finding(
            "f_new_crit",
            "repo_payments",
            "critical",
            "2026-03-30T23:00:00Z",
            detection_tool="codeql",
            rule_id="py/sql-injection",
        ),
    ]
    fixes = [
        _fix(
            "fix_same_day",
            repo,
            ["f_same_day"],
            "merged",
            "2026-03-01T10:30:00Z",
            ai_generated=True,
            pr_opened_at="2026-03-01T11:00:00Z",
            merged_at="2026-03-01T20:00:00Z",
            pr_number=1,
            pr_url="https://github.com/acme-corp/backend-api/pull/1",
        ),
        _fix(
            "fix_open_pr",
            repo,
            ["f_old_high"],
            "pr_open",
            "2026-02-01T10:00:00Z",
            pr_opened_at="2026-02-01T10:05:00Z",
            pr_number=2,
        ),
        _fix(
            "fix_two_sev",
            repo,
            ["f_reopened", "f_crit"],
            "merged",
            "2026-03-11T02:00:00Z",
            codemod="pixee:python/sql-parameterization",
            pr_opened_at="2026-03-11T02:30:00Z",
            merged_at="2026-03-12T09:15:30.250000Z",
            pr_number=3,
        ),
        _fix(
            "fix_closed",
            repo,
            ["f_closed_pr"],
            "closed",
            "2026-03-20T14:00:00Z",
            pr_opened_at="2026-03-20T15:00:00Z",
            closed_at="2026-03-22T10:00:00Z",
            pr_number=4,
        ),
        _fix("fix_no_findings", repo, [], "generated", "2026-03-25T00:00:00Z"),
    ]
    webhooks = [
        {
            "id": "wh_1",
            "url": "https://hooks.example.com/pixee",
            "events": ["pr.merged"],
            "active": True,
            "created_at": "2026-01-01T00:00:00Z",
        }
    ]
    return {
        "repositories": repositories,
        "scans": scans,
        "findings": findings,
        "fixes": fixes,
        "webhooks": webhooks,
    }


def load_raw(truth: Mapping[str, list[Row]], duckdb_path: Path, pipelines_dir: Path) -> dlt.Pipeline:
    """Load API-shaped dicts the way the connector does: one table per list, merged on id."""
    pipeline = dlt.pipeline(
        pipeline_name="marts_raw",
        destination=dlt.destinations.duckdb(str(duckdb_path)),
        dataset_name="pixee",
        pipelines_dir=str(pipelines_dir),
        progress=None,
    )
    for table, rows in truth.items():
        if not rows:
            continue
        # history tables (the connector's shape): one row per version, keyed (id, updated_at), plus
        # observed_at; `_deleted_at` on the main tables where the rows carry it
        main = table.removesuffix("_history")
        stamps = (*TIMESTAMP_COLUMNS.get(main, ()), "_deleted_at", "observed_at")
        hints = {column: {"data_type": "timestamp"} for column in stamps if any(column in r for r in rows)}
        key = ("id", "updated_at") if table.endswith("_history") else "id"
        pipeline.run(rows, table_name=table, write_disposition="merge", primary_key=key, columns=hints)
    return pipeline


def read_marts(
    execute: Callable[[str], Sequence[Sequence[Any]]], names: Sequence[str], columns_of
) -> dict[str, list[Row]]:
    """Every row of each mart as dicts (column names lower-cased)."""
    out = {}
    for name in names:
        columns = columns_of(name)
        select = ", ".join(columns)
        out[name] = [
            dict(zip(columns, row, strict=True))
            for row in execute(f"select {select} from pixee_marts.{name}")
        ]
    return out


def _normal(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return ts(value)
    return value


def assert_same_rows(
    name: str,
    actual: list[Row],
    expected: list[Row],
    tolerance: float = 1e-6,
    keys: Sequence[str] | None = None,
) -> None:
    """Every expected row, keyed by the mart's grain (`keys`, default the v1 one), equals the actual one
    in every column."""
    keys = keys or KEYS[name]
    by_key = {tuple(_normal(r[k]) for k in keys): r for r in actual}
    assert len(by_key) == len(actual), f"{name}: duplicate keys"
    want = {tuple(_normal(r[k]) for k in keys): r for r in expected}
    assert sorted(by_key, key=repr) == sorted(want, key=repr), f"{name}: different row keys"
    assert expected, f"{name}: nothing to compare"
    for key, row in want.items():
        got = by_key[key]
        assert set(got) == set(row), f"{name}: columns {sorted(set(got) ^ set(row))} differ"
        for column, value in row.items():
            have, value = _normal(got[column]), _normal(value)
            if isinstance(value, float) or isinstance(have, float):
                ok = (have is None and value is None) or (
                    have is not None
                    and value is not None
                    and math.isclose(have, value, rel_tol=1e-9, abs_tol=tolerance)
                )
            else:
                ok = have == value
            assert ok, f"{name} {key} {column}: got {have!r}, expected {value!r}"
