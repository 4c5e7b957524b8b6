"""Expected mart rows computed in plain Python from API objects, independently of the SQL in sql/."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}
Row = dict[str, Any]


def ts(value: Any) -> dt.datetime | None:
    """An API timestamp (ISO 8601 with Z, or a datetime) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def hours(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 3600.0


def quantile_cont(values: Iterable[float | None], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, SQL percentile_cont)."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    position = q * (len(xs) - 1)
    low = math.floor(position)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (xs[high] - xs[low]) * (position - low)


def mean(values: Iterable[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return statistics.fmean(xs) if xs else None


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def end_of_day(day: dt.date) -> dt.datetime:
    """The instant day D ends: D + 1 day at 00:00 UTC."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)


def is_open(finding: Mapping[str, Any], day: dt.date) -> bool:
    """Open at the end of day D: detected before D + 1 day and not resolved before it."""
    detected, resolved = ts(finding["detected_at"]), ts(finding.get("resolved_at"))
    return (
        detected is not None
        and detected < end_of_day(day)
        and (resolved is None or resolved >= end_of_day(day))
    )


def fix_latency(truth: Mapping[str, list[Row]]) -> list[Row]:
    findings = {f["id"]: f for f in truth["findings"]}
    repos = {r["id"]: r for r in truth["repositories"]}
    rows = []
    for fix in truth["fixes"]:
        ids = set(fix.get("finding_ids") or [])
        known = [findings[i] for i in ids if i in findings]
        ranked = [f["severity"] for f in known if f.get("severity") in SEVERITY_RANK]
        detections = [ts(f["detected_at"]) for f in known if f.get("detected_at")]
        detected = min(detections) if detections else None
        generated, opened = ts(fix["created_at"]), ts(fix.get("pr_opened_at"))
        merged = ts(fix.get("merged_at"))
        rows.append(
            {
                "fix_id": fix["id"],
                "repository_id": fix["repository_id"],
                "repository_name": repos.get(fix["repository_id"], {}).get("name"),
                "codemod": fix.get("codemod"),
                "detection_tool": fix.get("detection_tool"),
                "ai_generated": fix.get("ai_generated"),
                "status": fix.get("status"),
                "severity": max(ranked, key=SEVERITY_RANK.__getitem__) if ranked else None,
                "finding_count": len(ids),
                "detected_at": detected,
                "generated_at": generated,
                "pr_opened_at": opened,
                "merged_at": merged,
                "closed_at": ts(fix.get("closed_at")),
                "hours_detect_to_fix": hours(detected, generated),
                "hours_fix_to_pr": hours(generated, opened),
                "hours_pr_to_merge": hours(opened, merged),
                "hours_detect_to_merge": hours(detected, merged),
            }
        )
    return rows


def fix_latency_weekly(latency: list[Row]) -> list[Row]:
    weeks: dict[tuple[dt.date, str], list[Row]] = defaultdict(list)
    for row in latency:
        if row["merged_at"] is None:
            continue
        merged_day = row["merged_at"].date()
        monday = merged_day - dt.timedelta(days=merged_day.weekday())
        weeks[(monday, row["severity"] or "unknown")].append(row)
    return [
        {
            "week_start": week,
            "severity": severity,
            "merged_fixes": len(rows),
            "p50_hours_detect_to_merge": quantile_cont((r["hours_detect_to_merge"] for r in rows), 0.5),
            "p90_hours_detect_to_merge": quantile_cont((r["hours_detect_to_merge"] for r in rows), 0.9),
            "mean_hours_detect_to_merge": mean(r["hours_detect_to_merge"] for r in rows),
            "p50_hours_pr_to_merge": quantile_cont((r["hours_pr_to_merge"] for r in rows), 0.5),
        }
        for (week, severity), rows in weeks.items()
    ]


def backlog_daily(truth: Mapping[str, list[Row]], as_of: dt.date, sla_days: Mapping[str, int]) -> list[Row]:
    pairs: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for finding in truth["findings"]:
        if finding.get("detected_at"):
            pairs[(finding["repository_id"], finding.get("severity") or "unknown")].append(finding)
    rows = []
    for (repo, severity), findings in pairs.items():
        day = min(ts(f["detected_at"]).date() for f in findings)
        sla = sla_days.get(severity)
        while day <= as_of:
            row = dict.fromkeys(
                (
                    "open_findings",
                    "open_true_positive",
                    "open_untriaged",
                    "opened",
                    "resolved",
                    "open_over_sla",
                    "open_age_0_7",
                    "open_age_8_30",
                    "open_age_31_90",
                    "open_age_over_90",
                ),
                0,
            )
            for f in findings:
                if ts(f["detected_at"]).date() == day:
                    row["opened"] += 1
                if f.get("resolved_at") and ts(f["resolved_at"]).date() == day:
                    row["resolved"] += 1
                if not is_open(f, day):
                    continue
                age = (day - ts(f["detected_at"]).date()).days
                row["open_findings"] += 1
                row["open_true_positive"] += f.get("classification") == "TRUE_POSITIVE"
                row["open_untriaged"] += f.get("classification") is None
                row["open_over_sla"] += sla is not None and age > sla
                bucket = (
                    "open_age_0_7"
                    if age <= 7
                    else "open_age_8_30"
                    if age <= 30
                    else "open_age_31_90"
                    if age <= 90
                    else "open_age_over_90"
                )
                row[bucket] += 1
            rows.append({"day": day, "repository_id": repo, "severity": severity, **row})
            day += dt.timedelta(days=1)
    return rows


def repository_scorecard(
    truth: Mapping[str, list[Row]], latency: list[Row], as_of: dt.date, sla_days: Mapping[str, int]
) -> list[Row]:
    rows = []
    for repo in truth["repositories"]:
        findings = [f for f in truth["findings"] if f["repository_id"] == repo["id"]]
        fixes = [f for f in truth["fixes"] if f["repository_id"] == repo["id"]]
        open_now = [f for f in findings if is_open(f, as_of)]
        classes = [f.get("classification") for f in findings]
        triaged = sum(c is not None for c in classes)
        merged = sum(f.get("status") == "merged" for f in fixes)
        closed = sum(f.get("status") == "closed" for f in fixes)
        to_merge = [r["hours_detect_to_merge"] for r in latency if r["repository_id"] == repo["id"]]
        over_sla = 0
        for f in open_now:
            sla = sla_days.get(f.get("severity") or "unknown")
            over_sla += sla is not None and (as_of - ts(f["detected_at"]).date()).days > sla
        rows.append(
            {
                "repository_id": repo["id"],
                "repository_name": repo.get("name"),
                "last_scan_at": ts(repo.get("last_scan_at")),
                "open_findings": len(open_now),
                "open_critical": sum(f.get("severity") == "critical" for f in open_now),
                "open_high": sum(f.get("severity") == "high" for f in open_now),
                "open_over_sla": over_sla,
                "findings_total": len(findings),
                "triaged": triaged,
                "true_positive": classes.count("TRUE_POSITIVE"),
                "false_positive": classes.count("FALSE_POSITIVE"),
                "wont_fix": classes.count("WONT_FIX"),
                "triage_coverage": ratio(triaged, len(findings)),
                "false_positive_rate": ratio(classes.count("FALSE_POSITIVE"), triaged),
                "fixes_generated": len(fixes),
                "prs_opened": sum(f.get("pr_opened_at") is not None for f in fixes),
                "prs_merged": merged,
                "prs_closed_unmerged": closed,
                "open_prs": sum(f.get("status") == "pr_open" for f in fixes),
                "merge_rate": ratio(merged, merged + closed),
                "p50_hours_detect_to_merge": quantile_cont(to_merge, 0.5),
                "mean_hours_detect_to_merge": mean(to_merge),
            }
        )
    return rows


def triage_outcomes(truth: Mapping[str, list[Row]]) -> list[Row]:
    rules: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for finding in truth["findings"]:
        rules[(finding.get("detection_tool"), finding.get("rule_id"))].append(finding)
    rows = []
    for (tool, rule), findings in rules.items():
        classes = [f.get("classification") for f in findings]
        triaged = sum(c is not None for c in classes)
        to_triage = [
            hours(ts(f["detected_at"]), ts(f.get("triaged_at"))) for f in findings if f.get("classification")
        ]
        rows.append(
            {
                "detection_tool": tool,
                "rule_id": rule,
                "findings": len(findings),
                "triaged": triaged,
                "true_positive": classes.count("TRUE_POSITIVE"),
                "false_positive": classes.count("FALSE_POSITIVE"),
                "wont_fix": classes.count("WONT_FIX"),
                "false_positive_rate": ratio(classes.count("FALSE_POSITIVE"), triaged),
                "p50_hours_to_triage": quantile_cont(to_triage, 0.5),
            }
        )
    return rows


def sla_policy(sla_days: Mapping[str, int]) -> list[Row]:
    return [{"severity": severity, "sla_days": days} for severity, days in sla_days.items()]


KEYS = {
    "fix_latency": ("fix_id",),
    "fix_latency_weekly": ("week_start", "severity"),
    "backlog_daily": ("day", "repository_id", "severity"),
    "repository_scorecard": ("repository_id",),
    "triage_outcomes": ("detection_tool", "rule_id"),
    "sla_policy": ("severity",),
}


def expected_marts(
    truth: Mapping[str, list[Row]], as_of: dt.date, sla_days: Mapping[str, int]
) -> dict[str, list[Row]]:
    """Every mart, as rows of dicts, for the objects in `truth` as they stand."""
    latency = fix_latency(truth)
    return {
        "fix_latency": latency,
        "fix_latency_weekly": fix_latency_weekly(latency),
        "backlog_daily": backlog_daily(truth, as_of, sla_days),
        "repository_scorecard": repository_scorecard(truth, latency, as_of, sla_days),
        "triage_outcomes": triage_outcomes(truth),
        "sla_policy": sla_policy(sla_days),
    }
