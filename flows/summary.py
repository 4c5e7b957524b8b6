"""The run summary people read in Prefect: backlog by severity, SLA breaches, time to remediate, merge rate.

Plain functions over the marts (no Prefect import), so the same text can be printed anywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.publish.html_report import ReportResult
from pipelines.transform.checks import CheckResult, Warehouse

SEVERITY_ORDER = ("critical", "high", "medium", "low", "unknown")
WINDOW_DAYS = 30


@dataclass
class MartsSummary:
    """The numbers of the markdown summary, read from the marts for one as-of date."""

    as_of: dt.date
    backlog: list[tuple[str, int, int]] = field(default_factory=list)  # severity, open, over SLA
    worst_repositories: list[tuple[str, int]] = field(default_factory=list)  # name, open over SLA
    merged_in_window: int = 0
    p50_hours: float | None = None
    p90_hours: float | None = None
    prs_merged: int = 0
    prs_closed_unmerged: int = 0

    @property
    def open_total(self) -> int:
        return sum(row[1] for row in self.backlog)

    @property
    def sla_breaches(self) -> int:
        return sum(row[2] for row in self.backlog)

    @property
    def merge_rate(self) -> float | None:
        decided = self.prs_merged + self.prs_closed_unmerged
        return self.prs_merged / decided if decided else None


def read_summary(wh: Warehouse, as_of: dt.date) -> MartsSummary:
    """Today's numbers from backlog_daily, fix_latency and repository_scorecard."""
    summary = MartsSummary(as_of=as_of)
    marts = wh.tables(wh.marts_schema)
    day = f"date '{as_of.isoformat()}'"
    if "backlog_daily" in marts:
        rows = wh.query(
            f"select severity, sum(open_findings), sum(open_over_sla) from {wh.mart('backlog_daily')} "
            f"where day = {day} group by severity"
        )
        rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
        summary.backlog = sorted(
            ((str(s), int(o or 0), int(b or 0)) for s, o, b in rows), key=lambda r: rank.get(r[0], 99)
        )
    if "repository_scorecard" in marts:
        table = wh.mart("repository_scorecard")
        worst = wh.query(
            f"select repository_name, open_over_sla from {table} where open_over_sla > 0 "
            "order by open_over_sla desc, repository_name limit 5"
        )
        summary.worst_repositories = [(str(n), int(c)) for n, c in worst]
        totals = wh.query(f"select sum(prs_merged), sum(prs_closed_unmerged) from {table}")
        if totals:
            summary.prs_merged, summary.prs_closed_unmerged = (int(v or 0) for v in totals[0])
    if "fix_latency" in marts:
        start = as_of - dt.timedelta(days=WINDOW_DAYS - 1)
        end = as_of + dt.timedelta(days=1)
        rows = wh.query(
            "select count(*), quantile_cont(hours_detect_to_merge, 0.5), "
            f"quantile_cont(hours_detect_to_merge, 0.9) from {wh.mart('fix_latency')} "
            f"where merged_at >= timestamp '{start.isoformat()} 00:00:00' "
            f"and merged_at < timestamp '{end.isoformat()} 00:00:00' and hours_detect_to_merge is not null"
        )
        if rows:
            count, p50, p90 = rows[0]
            summary.merged_in_window = int(count or 0)
            summary.p50_hours = float(p50) if p50 is not None else None
            summary.p90_hours = float(p90) if p90 is not None else None
    return summary


def _hours(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.1f} h ({value / 24:,.1f} days)"


def summary_markdown(
    summary: MartsSummary,
    *,
    profile: str,
    full_refresh: bool,
    sync_totals: dict[str, Any] | None = None,
    checks: Sequence[CheckResult] = (),
    report: ReportResult | str | None = None,
) -> str:
    """The markdown artifact; numbers and names only, never the API's URL, a token or a credential.
    `report` is the run's HTML report (linked by its file URL), or the reason it failed."""
    kind = "full read of every list" if full_refresh else "incremental sync"
    lines = [f"# pixee-etl: {kind}, profile `{profile}`, as of {summary.as_of}", ""]
    if sync_totals:
        util = sync_totals.get("utilisation")
        lines += [
            f"Synced {sync_totals['rows']:,} rows with {sync_totals['requests']:,} requests "
            f"({sync_totals['throttled_429']:,} answered 429, {sync_totals['retries']:,} retries, "
            f"rate use {'n/a' if util is None else f'{util:.0%}'}).",
            "",
        ]
    if isinstance(report, ReportResult):
        lines += [
            "## Report",
            "",
            f"Charts and tiles as of {report.as_of}: [{report.path.name}]({report.path.as_uri()}) "
            f"({report.size_bytes / 1024:,.0f} KB, one file that needs no network), "
            f"in `{report.path.parent}`.",
            "",
        ]
    elif report is not None:
        lines += ["## Report", "", f"**The HTML report was not written:** {report}", ""]
    lines += ["## Open backlog today", "", "| severity | open | over SLA |", "|---|---:|---:|"]
    lines += [f"| {sev} | {open_:,} | {over:,} |" for sev, open_, over in summary.backlog]
    lines += [f"| **total** | **{summary.open_total:,}** | **{summary.sla_breaches:,}** |", ""]
    lines += ["## SLA breaches", ""]
    if summary.sla_breaches:
        worst = ", ".join(f"{name} ({count:,})" for name, count in summary.worst_repositories)
        lines += [f"{summary.sla_breaches:,} open findings are past their severity's SLA. Most: {worst}.", ""]
    else:
        lines += ["No open finding is past its SLA.", ""]
    lines += [
        f"## Time to remediate, last {WINDOW_DAYS} days",
        "",
        f"{summary.merged_in_window:,} fixes merged: p50 {_hours(summary.p50_hours)}, "
        f"p90 {_hours(summary.p90_hours)} from detection to merge.",
        "",
        "## Merge rate",
        "",
    ]
    rate = summary.merge_rate
    decided = summary.prs_merged + summary.prs_closed_unmerged
    lines += [
        f"{'n/a' if rate is None else f'{rate:.0%}'} of decided pull requests were merged "
        f"({summary.prs_merged:,} merged, {summary.prs_closed_unmerged:,} closed unmerged, "
        f"{decided:,} decided).",
        "",
    ]
    if checks:
        failed = [c for c in checks if not c.ok]
        lines += ["## Data checks", ""]
        if failed:
            lines += [f"**{len(failed)} of {len(checks)} failed:**", ""]
            lines += [f"- `{c.name}`: {c.message}" for c in failed]
        else:
            lines += [f"All {len(checks)} checks passed."]
        lines.append("")
    return "\n".join(lines)
