"""The rows of the report's charts: each a filter and an aggregate over one mart, by day, week or month."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from pipelines.publish.html_report.model import Chart
from pipelines.publish.html_report.reader import Reader, Rows, fill_chart, sla_days

BACKLOG_DAYS = 365  # the backlog chart's reach: a year reads well, ten years do not
WEEKS = 52
MONTHS = 24
TOP_REPOSITORIES = 15
TOP_RULES = 15
TOP_CODEMODS = 12
# A first week larger than this many times every later week's is the backlog found at the start
# (a backfill), not a week's work: it would flatten the opened-versus-closed scale.
BACKFILL_FACTOR = 2.0


def _backlog(r: Reader) -> Rows:
    table = r.wh.mart("backlog_daily")
    since = r.day(-BACKLOG_DAYS)
    by_severity = r.rows(
        "backlog_daily",
        f"select day, severity, sum(open_findings) from {table} where day > {since} "
        "group by day, severity order by day, severity",
        ("day", "severity", "open_findings"),
    )
    over = r.rows(
        "backlog_daily",
        f"select day, sum(open_over_sla) from {table} where day > {since} group by day order by day",
        ("day", "open_over_sla"),
    )
    return {"backlog": by_severity, "over_sla": over}


def _opened_closed(r: Reader) -> Rows:
    table = r.wh.mart("remediation_weekly")
    rows = r.rows(
        "remediation_weekly",
        f"select week_start, sum(opened), sum(closed), sum(false_positives) "
        f"from {table} where week_start > {r.day(-7 * WEEKS)} "
        "group by week_start order by week_start",
        ("week_start", "opened", "closed", "false_positives"),
    )
    first = r.rows("remediation_weekly", f"select min(week_start) from {table}", ("first",))[0]["first"]
    return {"weeks": rows, "backfill": _backfill_week(rows, first)}


def _backfill_week(rows: list[dict[str, Any]], first_week: Any) -> list[dict[str, Any]]:
    """The warehouse's first week, when it is in the chart and dwarfs every later week: the
    findings already open when the warehouse started, all "opened" that week. Taken out of the
    chart (and so out of its scale) and named beside it."""
    if not rows or first_week is None or str(rows[0]["week_start"])[:10] != str(first_week)[:10]:
        return []
    later = [max(int(row["opened"] or 0), int(row["closed"] or 0)) for row in rows[1:]]
    head = rows[0]
    if not later or int(head["opened"] or 0) <= BACKFILL_FACTOR * max(max(later), 1):
        return []
    rows.pop(0)
    return [head]


def _ttr_weekly(r: Reader) -> Rows:
    rows = r.rows(
        "remediation_weekly",
        f"select week_start, severity, closed, p50_hours_to_resolve / 24.0, p90_hours_to_resolve / 24.0 "
        f"from {r.wh.mart('remediation_weekly')} where week_start > {r.day(-7 * WEEKS)} and closed > 0 "
        "order by week_start, severity",
        ("week_start", "severity", "closed", "p50_days", "p90_days"),
    )
    # Each severity's SLA, drawn across its panel: a p90 of 45 days means little without the 7.
    days = sla_days(r)
    for row in rows:
        row["sla_days"] = days.get(row["severity"])
    return {"weeks": rows}


def _merge_monthly(r: Reader) -> Rows:
    first_month = dt.date(r.as_of.year, r.as_of.month, 1)
    for _ in range(MONTHS - 1):
        first_month = (first_month - dt.timedelta(days=1)).replace(day=1)
    decided = "case when status = 'merged' then merged_at else closed_at end"
    rows = r.rows(
        "fix_latency",
        f"select month, sum(merged), sum(closed), sum(merged) + sum(closed), "
        "sum(merged) * 1.0 / nullif(sum(merged) + sum(closed), 0) "
        f"from (select cast(date_trunc('month', {decided}) as date) as month, "
        f"case when status = 'merged' then 1 else 0 end as merged, "
        f"case when status = 'closed' then 1 else 0 end as closed "
        f"from {r.wh.mart('fix_latency')} where status in ('merged', 'closed') "
        f"and {decided} >= timestamp '{first_month.isoformat()} 00:00:00' "
        f"and {decided} < {r.current.end}) as decisions group by month order by month",
        ("month", "merged", "closed", "decided", "merge_rate"),
    )
    return {"months": rows}


def _top(r: Reader, mart: str, select: str, where: str, order: str, columns: tuple[str, ...]) -> list[Any]:
    """The rows of one mart that have most of something, up to the chart's limit in `order`."""
    return r.rows(mart, f"select {select} from {r.wh.mart(mart)} where {where} order by {order}", columns)


def _sla_repositories(r: Reader) -> Rows:
    rows = _top(
        r,
        "repository_scorecard",
        "repository_name, open_over_sla, open_findings - open_over_sla",
        "open_over_sla > 0",
        f"open_over_sla desc, repository_name limit {TOP_REPOSITORIES}",
        ("repository", "over_sla", "within_sla"),
    )
    return {"repositories": rows}


def _noisy_rules(r: Reader) -> Rows:
    rows = _top(
        r,
        "triage_outcomes",
        "detection_tool, rule_id, findings, triaged, false_positive, false_positive_rate",
        "false_positive > 0",
        f"false_positive desc, false_positive_rate desc, detection_tool, rule_id limit {TOP_RULES}",
        ("tool", "rule", "findings", "triaged", "false_positive", "false_positive_rate"),
    )
    for row in rows:
        row["label"] = f"{row['rule']} ({row['tool']})"
        row["volume"] = f"{int(row['false_positive']):,} / {int(row['triaged']):,}"
    return {"rules": rows}


def _fix_outcomes(r: Reader) -> Rows:
    table = r.wh.mart("fix_outcomes")
    kind = (
        "case when ai_generated then 'AI-generated' when not ai_generated then 'deterministic' "
        "else 'unknown' end"
    )
    rows = r.rows(
        "fix_outcomes",
        f"with ranked as (select codemod, sum(fixes) as total from {table} group by codemod "
        f"order by total desc, codemod limit {TOP_CODEMODS}) "
        f"select o.codemod, {kind.replace('ai_generated', 'o.ai_generated')}, o.fixes, o.prs_merged, "
        "o.prs_closed_unmerged, o.open_prs, o.fixes - o.prs_merged - o.prs_closed_unmerged - o.open_prs, "
        f"o.merge_rate from {table} as o inner join ranked on ranked.codemod = o.codemod "
        "order by ranked.total desc, o.codemod",
        ("codemod", "kind", "fixes", "merged", "closed unmerged", "open PR", "no PR yet", "merge_rate"),
    )
    by_kind = r.rows(
        "fix_outcomes",
        f"select {kind}, sum(fixes), sum(prs_merged), sum(prs_closed_unmerged), "
        f"sum(prs_merged) * 1.0 / nullif(sum(prs_merged) + sum(prs_closed_unmerged), 0) "
        f"from {table} group by 1 order by 1",
        ("kind", "fixes", "merged", "closed", "merge_rate"),
    )
    return {"codemods": rows, "kinds": by_kind}


def read_charts(r: Reader) -> list[Chart]:
    w = f"as of {r.as_of.isoformat()}"
    # key, title, caption, mart, the function that reads its rows
    rows: tuple[tuple[str, str, str, str, Callable[[Reader], Rows]], ...] = (
        ("backlog", "Open backlog by severity",
         f"Findings open at the end of each day by severity, and how many are past their SLA "
         f"(last {BACKLOG_DAYS} days, {w}).", "backlog_daily", _backlog),
        ("opened_closed", "Opened versus closed per week",
         f"Findings detected, closed, and dismissed as false positives per week, last {WEEKS} weeks.",
         "remediation_weekly", _opened_closed),
        ("ttr_weekly", "Time to remediate per week, by severity",
         "p50 and p90 days from detection to closure of the week's closures, by severity; the dashed "
         "line is the severity's SLA.",
         "remediation_weekly", _ttr_weekly),
        ("merge_monthly", "Merge rate per month",
         f"Pixee PRs merged / (merged + closed unmerged) by month of the decision, last {MONTHS} months.",
         "fix_latency", _merge_monthly),
        ("sla_repositories", "Repositories with the most SLA breaches",
         f"Open findings past their SLA and still within it, per repository ({w}; top {TOP_REPOSITORIES}).",
         "repository_scorecard", _sla_repositories),
        ("noisy_rules", "Noisiest rules",
         f"False-positive rate of triaged findings per rule, the {TOP_RULES} rules with the most false "
         "positives; labels give false positives / triaged.", "triage_outcomes", _noisy_rules),
        ("fix_outcomes", "Fix outcomes by codemod, AI-generated versus deterministic",
         f"What became of each codemod's fixes, split by AI-generated and deterministic (top {TOP_CODEMODS} "
         "codemods by fixes).", "fix_outcomes", _fix_outcomes),
    )  # fmt: skip
    specs = [(Chart(key, title, caption, (mart,)), fill) for key, title, caption, mart, fill in rows]
    return [fill_chart(r, chart, fill) for chart, fill in specs]
