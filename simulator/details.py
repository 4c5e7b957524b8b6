"""What GET /fixes/{id} and GET /findings/{id} add to list fields: diff, rationale, quality, justification.

Rendered on demand from a per-object seeded stream, so a million findings cost nothing until asked.
"""

from __future__ import annotations

from random import Random
from typing import Any

from simulator import catalog
from simulator.model import Finding, Fix


def _codemod(fix: Fix) -> catalog.Codemod | None:
    for codemods in catalog.CODEMODS.values():
        for codemod in codemods:
            if codemod.id == fix.codemod:
                return codemod
    return None


def fix_detail(seed: int, fix: Fix, paths: list[str]) -> dict[str, Any]:
    rng = Random(f"{seed}/fix-detail/{fix.id}")
    codemod = _codemod(fix)
    before = codemod.before if codemod else "legacyCall(input);"
    after = codemod.after if codemod else "safeCall(input);"
    hunks = []
    for path in paths or ["README.md"]:
        line = rng.randint(10, 400)
        added = after.splitlines() or [""]
        body = [f"-    {before}"] + [f"+    {a}" for a in added if a] if after else [f"-    {before}"]
        n_add = sum(1 for b in body if b.startswith("+"))
        hunks.append(
            f"--- a/{path}\n+++ b/{path}\n@@ -{line},3 +{line},{2 + n_add} @@\n"
            f"     // context\n" + "\n".join(body) + "\n     // context\n"
        )
    summary = codemod.summary if codemod else fix.summary
    rationale = (
        f"{summary}. The change addresses {len(fix.finding_ids)} finding(s) reported by {fix.tool}; "
        "it follows the remediation guidance for this weakness and keeps behaviour unchanged for valid input."
    )
    quality = {
        "safety": rng.randint(70, 100),
        "effectiveness": rng.randint(60, 100),
        "cleanliness": rng.randint(55, 100),
    }
    return {"diff": "".join(hunks), "rationale": rationale, "quality": quality}


def finding_detail(seed: int, finding: Finding, classification: str | None) -> dict[str, Any]:
    if classification is None:
        return {"justification": None}
    rng = Random(f"{seed}/finding-detail/{finding.id}")
    rule = finding.rule
    reasons = {
        "TRUE_POSITIVE": (
            f"Untrusted input reaches the flagged call at {finding.path}:{finding.line} without validation; "
            f"the pattern matches {rule.cwe or 'the rule'} and is reachable from a request handler."
        ),
        "FALSE_POSITIVE": (
            f"The value at {finding.path}:{finding.line} is a constant or is validated before use, so the "
            f"{rule.tool} rule {rule.rule_id} does not apply here."
        ),
        "WONT_FIX": (
            f"The code at {finding.path} is test or tooling code that never runs in production; the team "
            f"accepted the risk."
        ),
    }
    extra = rng.choice(
        (
            "",
            " Similar occurrences in this file were triaged the same way.",
            " The data flow was traced through two helper functions.",
        )
    )
    return {"justification": reasons.get(classification, "Triaged.") + extra}
