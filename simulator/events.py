"""Webhook events a record's planned lifecycle emits in a window of simulated time (contract "Payloads")."""

from __future__ import annotations

import hashlib
from typing import Any

from simulator import catalog, details
from simulator.model import Finding, Fix, Record, Repo, Scan
from simulator.timeutil import iso


def event_id(seed: int, kind: str, obj_id: str, t: int) -> str:
    """Stable per change: the same planned change always makes the same event id."""
    digest = hashlib.blake2b(f"{seed}|{kind}|{obj_id}|{t}".encode(), digest_size=10).hexdigest()
    return f"evt_{digest}"


def envelope(
    seed: int, kind: str, t: int, repo: Repo | None, data: dict[str, Any], key: str
) -> dict[str, Any]:
    return {
        "id": event_id(seed, kind, key, t),
        "type": kind,
        "created_at": iso(t),
        "organization": catalog.ORG_SLUG,
        "repository": repo.name if repo is not None else None,
        "data": data,
    }


def _in(lo: int, hi: int, t: int | None) -> bool:
    return t is not None and lo < t <= hi


def record_events(seed: int, rec: Record, repo: Repo, lo: int, hi: int) -> list[dict[str, Any]]:
    """The events of `rec` whose planned time falls in (lo, hi] (the record's own clock, lag removed).

    Changes the contract announces with no event of their own (a scan queued or started, a finding
    detected or fixed by a scan, a finding resolved by a merged fix) are covered by scan.completed
    and pr.merged, which name the lists they change.
    """
    out: list[dict[str, Any]] = []
    if isinstance(rec, Scan) and _in(lo, hi, rec.completed):
        view = rec.render(rec.completed)
        data = {
            "scan_id": rec.id,
            "state": view["state"],
            "detection_tool": rec.tool,
            "findings_count": view["findings_count"],
            "fixes_generated": view["fixes_generated"],
            "completed_at": view["completed_at"],
        }
        out.append(
            envelope(seed, "scan.completed", rec.completed, repo, data | {"repository_id": repo.id}, rec.id)
        )
    elif isinstance(rec, Finding) and _in(lo, hi, rec.triaged):
        t = rec.triaged
        assert t is not None
        view = rec.render(t)
        data = {
            "finding_id": rec.id,
            "rule_id": rec.rule.rule_id,
            "classification": view["classification"],
            "severity": rec.severity,
            "justification": details.finding_detail(seed, rec, view["classification"])["justification"],
            "confidence": view["confidence"],
            "repository_id": repo.id,
        }
        out.append(envelope(seed, "triage.completed", t, repo, data, rec.id))
    elif isinstance(rec, Fix):
        if _in(lo, hi, rec.created_at):
            data = {
                "fix_id": rec.id,
                "codemod": rec.codemod,
                "detection_tool": rec.tool,
                "ai_generated": rec.ai,
                "finding_ids": list(rec.finding_ids),
                "repository_id": repo.id,
            }
            out.append(envelope(seed, "fix.generated", rec.created_at, repo, data, rec.id))
        if _in(lo, hi, rec.pr_opened):
            t = rec.pr_opened
            assert t is not None
            data = {
                "fix_id": rec.id,
                "pr_url": rec.pr_url,
                "pr_number": rec.pr_number,
                "target_branch": repo.default_branch,
                "files": rec.files_changed,
                "repository_id": repo.id,
            }
            out.append(envelope(seed, "pr.opened", t, repo, data, rec.id))
        if _in(lo, hi, rec.decided):
            t = rec.decided
            assert t is not None
            kind, stamp = ("pr.merged", "merged_at") if rec.merged else ("pr.closed", "closed_at")
            data = {
                "fix_id": rec.id,
                "pr_url": rec.pr_url,
                "pr_number": rec.pr_number,
                stamp: iso(t),
                "repository_id": repo.id,
            }
            out.append(envelope(seed, kind, t, repo, data, rec.id))
    return out


def ping(seed: int, hook_id: str, t: int) -> dict[str, Any]:
    return envelope(seed, "ping", t, None, {"webhook_id": hook_id}, hook_id)
