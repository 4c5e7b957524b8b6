"""Items as the platform API serves them (docs/platform.md), without `_links`: the app adds those."""

from __future__ import annotations

from typing import Any

from simulator.platform.model import Analysis, Life, Patch, Repository, Scan, Workflow
from simulator.platform.org import DISMISSED, PlatformOrg, integrations
from simulator.timeutil import iso

TRIAGE_TEXT = {
    "true_positive": ("Exploitable as written", "User input reaches the sink without validation."),
    "false_positive": ("Not exploitable", "The value is a constant or sanitised before it reaches the sink."),
    "wont_fix": ("Accepted risk", "The code path is test-only or behind an internal network boundary."),
    "inconclusive": ("Could not decide", "The data flow crosses a framework boundary triage cannot follow."),
    "suspicious": ("Likely exploitable", "The sink is reachable; the input's origin is unclear."),
    "not_triaged": ("Not triaged", "The rule is outside what triage covers."),
    "blocked": ("Blocked", "A repository setting keeps triage from this rule."),
    "excluded": ("Excluded", "The file is excluded from analysis."),
    "error": ("Triage failed", "The analysis could not load the file."),
}
SCALE_MAPS = {
    "sonar": (
        ("BLOCKER", "Critical", 9.5),
        ("CRITICAL", "High", 8.0),
        ("MAJOR", "Medium", 5.5),
        ("MINOR", "Low", 3.0),
        ("INFO", "Info", 0.0),
    ),
    "default": (
        ("critical", "Critical", 9.5),
        ("high", "High", 8.0),
        ("medium", "Medium", 5.5),
        ("low", "Low", 3.0),
        ("note", "Info", 0.0),
    ),
}
SYSTEM_STATUS = (
    ("platform", "platform", "Pixee platform", "ok", "All services are running."),
    ("license", "license", "Enterprise license", "ok", "Valid until 2027-06-30."),
    ("ai-model", "ai-model", "Fix model", "ok", "Responding within its latency budget."),
    ("ai-model-triage", "ai-model", "Triage model", "ok", "Responding within its latency budget."),
    ("database", "database", "Database", "ok", "Primary reachable, replication lag under 1 s."),
)


def repository(repo: Repository) -> dict[str, Any]:
    return {
        "id": repo.id,
        "name": repo.name,
        "full_name": repo.full_name,
        "default_branch": repo.default_branch,
        "type": repo.type,
        "owner": repo.owner,
        "html_url": repo.html_url,
        "created_at": iso(repo.created_at),
    }


def scan(s: Scan) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "repository_id": s.repository_id,
        "detector": s.detector,
        "sha": s.sha,
    }
    if s.branch is not None:
        out["branch"] = s.branch
    out["imported_at"] = iso(s.imported_at)
    out["expires_at"] = iso(s.expires_at)
    return out


def analysis(a: Analysis, s: Scan, now: int) -> dict[str, Any]:
    return {
        "id": a.id,
        "type": a.type,
        "state": a.state(now),
        "branch": s.branch,
        "sha": s.sha,
        "scan_id": s.id,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at(now)),
        "completed_at": iso(a.completed_at(now)),
    }


def patch(p: Patch, now: int) -> dict[str, Any]:
    return {
        "id": p.id,
        "state": "completed-success",
        "type": "pull-request",
        "pr_number": p.pr_number,
        "branch_name": p.branch_name,
        "merge_state": p.merge_state(now),
        "html_url": p.html_url,
        "repository_id": p.repository_id,
        "scan_id": p.scan_id,
        "finding_id": p.finding_id,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at(now)),
    }


def workflow(w: Workflow) -> dict[str, Any]:
    return {
        "id": w.id,
        "name": w.name,
        "event": w.event,
        "action": w.action,
        "tool": w.tool,
        "cadence": w.cadence,
        "branch": w.branch,
        "enabled": w.enabled,
    }


def results(life: Life, s: Scan, now: int) -> list[dict[str, Any]]:
    """The representative results: one per analysis of the scan that has finished by now."""
    out: list[dict[str, Any]] = []
    for a in s.analyses:
        if not a.finished(now) or a.outcome == "skipped":
            continue
        item: dict[str, Any] = {"type": a.type, "analyzed_at": a.done_iso}
        failed = a.outcome == "failed"
        if a.type == "triage":
            verdict = "error" if failed else life.verdict
            summary, reason = TRIAGE_TEXT[verdict]
            item.update(status="failed" if failed else "completed", suggested=verdict)
        elif a.type == "fix":
            if failed:
                status, confidence, summary, reason = (
                    "failed",
                    "no-rating",
                    "Fix failed",
                    "The analysis timed out.",
                )
            elif life.fixable and life.verdict not in DISMISSED:
                status, confidence = "completed", life.confidence
                summary, reason = "Fix proposed", f"Replaces the unsafe call flagged by {life.rule}."
            else:
                status, confidence = "no-recommendations-available", "no-rating"
                summary, reason = "No fix", "No change is needed or none could be proposed."
            item.update(status=status, confidence=confidence)
            # The finding's newest pull request so far, whichever scan's fix opened it.
            p = life.patch_at(now) if status == "completed" else None
            if p is not None:
                item["patch"] = {"id": p.id, "state": "completed-success", "merge_state": p.merge_state(now)}
        else:
            classification = "inconclusive" if failed else life.classification
            item.update(status="failed" if failed else "completed", classification=classification)
            summary = f"Dependency is {classification.replace('-', ' ')}"
            reason = "Reachability analysis of the vulnerable function."
        item["outcome"] = {"summary": summary, "reason": reason}
        out.append(item)
    return out


def finding(life: Life, s: Scan, now: int) -> dict[str, Any]:
    return {
        "id": life.id,
        "title": life.title,
        "rule": life.rule,
        "severity": {"label": life.label, "rank": life.rank},
        "html_url": life.html_url,
        "_embedded": {"representative-results": {"_embedded": {"items": results(life, s, now)}}},
    }


def finding_counts(items: list[dict[str, Any]], s: Scan, now: int) -> dict[str, Any]:
    """The counts a findings list body carries, the same on every page."""
    kinds = [r["type"] for f in items for r in f["_embedded"]["representative-results"]["_embedded"]["items"]]
    expected = sum(1 for a in s.analyses if a.outcome != "skipped")
    done = sum(1 for a in s.analyses if a.finished(now) and a.outcome != "skipped")
    ready = no_fix = 0
    for f in items:
        for r in f["_embedded"]["representative-results"]["_embedded"]["items"]:
            if r["type"] == "fix" and r["status"] == "completed":
                ready += 1
            if r["type"] == "triage" and r.get("suggested") in DISMISSED:
                no_fix += 1
    n = len(items)
    return {
        "total": n,
        "completed_analysis": n if done == expected else 0,
        "in_progress_analysis": 0 if done == expected else n,
        "triage": kinds.count("triage"),
        "fix": kinds.count("fix"),
        "sca": kinds.count("sca"),
        "composite": {"ready_to_fix": ready, "no_fix_necessary": no_fix},
    }


def scales(org: PlatformOrg) -> list[dict[str, Any]]:
    detectors = sorted({d for r in org.repositories.values() for d in r.detectors})
    out = []
    for d in detectors:
        mapping = SCALE_MAPS.get(d, SCALE_MAPS["default"])
        out.append(
            {
                "id": f"scale-{d}",
                "type": d,
                "min": 0.0,
                "max": 10.0,
                "severities": [{"raw": raw, "label": label, "score": score} for raw, label, score in mapping],
            }
        )
    return out


def system_status() -> list[dict[str, Any]]:
    rows = [
        {"id": i, "type": t, "name": n, "status": st, "description": d} for i, t, n, st, d in SYSTEM_STATUS
    ]
    return sorted(rows, key=lambda row: row["id"])


def preferences(org: PlatformOrg) -> dict[str, Any]:
    revision, at = org.preferences_revision()
    levels = ("High and Critical", "Critical", "Medium and above")[revision % 3]
    return {
        "org_id": "default-organization",
        "content": f"# Fix policy (revision {revision + 1})\n\nOpen pull requests for {levels} findings "
        "only; never touch `vendor/`.\n",
        "updated_at": iso(at),
        "updated_by": ("appsec-admin@acme.example", "security-lead@acme.example")[revision % 2],
    }


def extra(org: PlatformOrg) -> list[dict[str, Any]]:
    return sorted(
        (
            {**item, "created_at": iso(item["created_at"])}
            for item in org.extra_items
            if item["created_at"] <= org.now
        ),
        key=lambda i: i["id"],
    )


def all_integrations(org: PlatformOrg) -> list[dict[str, Any]]:
    return integrations(org)
