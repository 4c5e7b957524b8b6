"""The report's numbers: tiles and chart rows, read from the marts through transform.checks.Warehouse.

Every metric is defined by a mart (warehouse-contract.md); the SQL here only filters and
aggregates mart rows into 30-day windows, weeks or months, and picks the rows a chart shows.

Long (~600 lines) because it is one query per tile, chart and table, each short and independent;
the platform-only charts are already in html_report/platform.py.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pipelines.errors import ConfigError, ReportError
from pipelines.transform.checks import Warehouse, _as_date
from pipelines.transform.dbt_runner import SEVERITIES

WINDOW_DAYS = 30
BACKLOG_DAYS = 365  # the backlog chart's reach: a year reads well, ten years do not
WEEKS = 52
MONTHS = 24
TOP_REPOSITORIES = 15
TOP_RULES = 15
TOP_CODEMODS = 12
OVERDUE_ROWS = 25  # the overdue table's length: what a lead chases this week, the rest counted
OVERDUE_SEVERITIES = ("critical", "high")
# A first week larger than this many times every later week's is the backlog found at the start
# (a backfill), not a week's work: it would flatten the opened-versus-closed scale.
BACKFILL_FACTOR = 2.0
# The windows compare the marts' UTC timestamps with UTC literals: on DuckDB that must not depend on
# the zone of the machine the report runs on. (Snowflake: dlt's connection already sets TIMEZONE=UTC.)
SESSION_SETUP: dict[str, tuple[str, ...]] = {"duckdb": ("set TimeZone = 'UTC'",)}
# The version 2 marts: a warehouse built before them still gets the rest of the report.
SEVERITY_ORDER = (*SEVERITIES, "unknown")
V2_MARTS = ("finding_remediation", "remediation_weekly", "fix_outcomes", "scanner_outcomes")

Kind = Literal["count", "hours", "ratio"]


@dataclass(frozen=True)
class Window:
    """A run of whole UTC days, first and last included."""

    first: dt.date
    last: dt.date

    @property
    def start(self) -> str:
        return f"timestamp '{self.first.isoformat()} 00:00:00'"

    @property
    def end(self) -> str:
        """The exclusive upper bound: midnight after the last day."""
        return f"timestamp '{(self.last + dt.timedelta(days=1)).isoformat()} 00:00:00'"

    def label(self) -> str:
        return f"{self.first.isoformat()} to {self.last.isoformat()}"


def windows(as_of: dt.date) -> tuple[Window, Window]:
    """The 30 days ending on the as-of date, and the 30 days before them."""
    current = Window(as_of - dt.timedelta(days=WINDOW_DAYS - 1), as_of)
    previous = Window(current.first - dt.timedelta(days=WINDOW_DAYS), current.first - dt.timedelta(days=1))
    return current, previous


@dataclass(frozen=True)
class Tile:
    """A headline number, the same number for the previous 30 days, and where it comes from."""

    key: str
    label: str
    kind: Kind
    better: Literal["lower", "higher"]
    marts: tuple[str, ...]
    definition: str
    value: float | None = None
    previous: float | None = None
    detail: str = ""
    missing: tuple[str, ...] = ()
    measures: str = ""  # shown on the tile: what is counted, so no number is read for another


@dataclass(frozen=True)
class Table:
    """Rows a lead reads one by one (the overdue findings), with how many there are in all."""

    key: str
    title: str
    caption: str
    marts: tuple[str, ...]
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chart:
    """One chart's rows (named datasets of plain values), its one-line caption and its marts."""

    key: str
    title: str
    caption: str
    marts: tuple[str, ...]
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    note: str = ""
    missing: tuple[str, ...] = ()
    unavailable: str = ""  # why this source has nothing to chart here (shown instead of the chart)

    @property
    def rows(self) -> int:
        return sum(len(rows) for rows in self.data.values())


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, for one as-of date."""

    as_of: dt.date
    built_at: dt.datetime | None
    marts_schema: str
    tiles: list[Tile]
    charts: list[Chart]
    missing: tuple[str, ...]
    organisation: str | None = None
    tables: list[Table] = field(default_factory=list)


# What each tile shows and where it comes from, and the short phrase on the tile that says what it
# counts (an SLA figure over closures must not read as one over the backlog); the functions below
# fill in the numbers. The open backlog's SLA comes first: it is what a lead is asked about.
_TILE_ROWS: tuple[tuple[str, str, Kind, Literal["lower", "higher"], str, str, str], ...] = (
    ("open_over_sla", "Open past SLA", "count", "lower", "backlog_daily",
     "open findings older than their severity's SLA days; change against 30 days earlier",
     "open backlog now: findings older than their SLA"),
    ("open_findings", "Open findings", "count", "lower", "backlog_daily",
     "open at the end of the as-of date; change against 30 days earlier",
     "open backlog now, every severity"),
    ("ttr_p50", "Time to remediate (p50)", "hours", "lower", "finding_remediation",
     "median hours_to_resolve of the closures resolved in the last 30 days",
     "findings closed in the last 30 days"),
    ("sla_attainment", "Closed within SLA", "ratio", "higher", "finding_remediation",
     "share of the last 30 days' closures resolved within their SLA (within_sla)",
     "closures of the last 30 days only, not the open backlog"),
    ("net_resolve_rate", "Net resolve rate", "ratio", "higher", "finding_remediation",
     "closures resolved in the last 30 days / findings detected in them",
     "closed / opened in the last 30 days"),
    ("merge_rate", "Merge rate", "ratio", "higher", "fix_latency",
     "Pixee PRs merged / (merged + closed unmerged), decided in the last 30 days",
     "Pixee PRs decided in the last 30 days"),
)  # fmt: skip
TILES: dict[str, Tile] = {row[0]: Tile(*row[:4], (row[4],), row[5], measures=row[6]) for row in _TILE_ROWS}


def _plain(value: Any) -> Any:
    """JSON-ready: Decimal to float, dates to ISO strings."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class _Reader:
    """Runs the report's SQL on one warehouse; an error names the mart it was reading."""

    def __init__(self, wh: Warehouse, as_of: dt.date) -> None:
        self.wh = wh
        self.as_of = as_of
        self.present = wh.tables(wh.marts_schema)
        self.current, self.previous = windows(as_of)

    def missing(self, marts: Sequence[str]) -> tuple[str, ...]:
        return tuple(m for m in marts if m not in self.present)

    def rows(self, mart: str, sql: str, columns: Sequence[str]) -> list[dict[str, Any]]:
        try:
            result = self.wh.query(sql)
        except Exception as exc:  # the driver's own error, first line only: it may quote whole SQL
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ReportError(f"report: reading mart {self.wh.marts_schema}.{mart} failed: {first}") from exc
        return [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in result]

    def day(self, offset_days: int = 0) -> str:
        return f"date '{(self.as_of + dt.timedelta(days=offset_days)).isoformat()}'"

    def in_windows(self, column: str) -> str:
        """'current' / 'previous' for a timestamp in one of the two windows, NULL otherwise."""
        return (
            f"case when {column} >= {self.current.start} and {column} < {self.current.end} then 'current' "
            f"when {column} >= {self.previous.start} and {column} < {self.previous.end} then 'previous' end"
        )


# -- tiles ----------------------------------------------------------------------------------------


def _backlog_tiles(r: _Reader) -> list[Tile]:
    open_tile, over_tile = TILES["open_findings"], TILES["open_over_sla"]
    if missing := r.missing(("backlog_daily",)):
        return [replace(open_tile, missing=missing), replace(over_tile, missing=missing)]
    table = r.wh.mart("backlog_daily")
    rows = r.rows(
        "backlog_daily",
        f"select day, sum(open_findings), sum(open_over_sla) from {table} "
        f"where day in ({r.day()}, {r.day(-WINDOW_DAYS)}) group by day",
        ("day", "open", "over"),
    )
    by_day = {str(row["day"])[:10]: row for row in rows}
    first = r.rows("backlog_daily", f"select min(day) from {table}", ("first",))[0]["first"]
    earlier_known = first is not None and _as_date(first) <= r.as_of - dt.timedelta(days=WINDOW_DAYS)
    now = by_day.get(r.as_of.isoformat(), {})
    then = by_day.get((r.as_of - dt.timedelta(days=WINDOW_DAYS)).isoformat(), {})

    def previous(column: str) -> float | None:
        # before the first detection nothing was open: 0, not unknown
        return _number(then.get(column)) if then else (0.0 if earlier_known else None)

    by_severity = r.rows(
        "backlog_daily",
        f"select severity, sum(open_findings) from {table} where day = {r.day()} and open_findings > 0 "
        "group by severity",
        ("severity", "open"),
    )
    counts = {row["severity"]: int(row["open"]) for row in by_severity}
    open_detail = ", ".join(f"{sev} {counts[sev]:,}" for sev in SEVERITY_ORDER if sev in counts)
    open_now, over_now = int(now.get("open") or 0), int(now.get("over") or 0)
    # The share a lead quotes: of the open backlog, how much is past its SLA.
    over_detail = f"{over_now / open_now:.0%} of {open_now:,} open" if open_now else "nothing open"
    days = sla_days(r)
    if days:
        over_detail += "; SLA " + ", ".join(f"{sev} {days[sev]} d" for sev in SEVERITY_ORDER if sev in days)
    return [
        replace(
            over_tile,
            value=_number(now.get("over")) if now else 0.0,
            previous=previous("over"),
            detail=over_detail,
        ),
        replace(
            open_tile,
            value=_number(now.get("open")) if now else 0.0,
            previous=previous("open"),
            detail=open_detail,
        ),
    ]


def sla_days(r: _Reader) -> dict[str, int]:
    """Each severity's SLA in days, from the sla_policy mart (empty when it is not built)."""
    if "sla_policy" not in r.present:
        return {}
    policy = r.rows(
        "sla_policy", f"select severity, sla_days from {r.wh.mart('sla_policy')}", ("severity", "days")
    )
    return {row["severity"]: int(row["days"]) for row in policy if row["days"] is not None}


def _remediation_tiles(r: _Reader) -> list[Tile]:
    ttr, sla, net = (TILES[k] for k in ("ttr_p50", "sla_attainment", "net_resolve_rate"))
    if missing := r.missing(ttr.marts):
        return [replace(t, missing=missing) for t in (ttr, sla, net)]
    # The mart's own definitions, as remediation_weekly sums them: a closure is a row with
    # hours_to_resolve (the mart leaves it NULL for false positives, open and deleted findings),
    # attainment is closures within_sla over all closures, and every detection counts as opened.
    table = r.wh.mart("finding_remediation")
    rows = r.rows(
        "finding_remediation",
        f"with closures as (select {r.in_windows('resolved_at')} as w, hours_to_resolve, within_sla "
        f"from {table} where hours_to_resolve is not null), "
        f"detections as (select {r.in_windows('detected_at')} as w from {table}), "
        "closed as (select w, quantile_cont(hours_to_resolve, 0.5) as p50, count(*) as closed, "
        "sum(case when within_sla then 1 else 0 end) as within "
        "from closures where w is not null group by w), "
        "opened as (select w, count(*) as opened from detections where w is not null group by w), "
        "periods as (select 'current' as w union all select 'previous' as w) "
        "select periods.w, closed.p50, coalesce(closed.closed, 0), coalesce(closed.within, 0), "
        "closed.within * 1.0 / nullif(closed.closed, 0), coalesce(opened.opened, 0), "
        "coalesce(closed.closed, 0) * 1.0 / nullif(opened.opened, 0) "
        "from periods left join closed on closed.w = periods.w left join opened on opened.w = periods.w",
        ("w", "p50", "closed", "within", "attainment", "opened", "net_rate"),
    )
    by_w = {row["w"]: row for row in rows}
    now, before = by_w.get("current", {}), by_w.get("previous", {})
    closed_now = int(now.get("closed") or 0)
    return [
        replace(
            ttr,
            value=_number(now.get("p50")),
            previous=_number(before.get("p50")),
            detail=f"{closed_now:,} closures",
        ),
        replace(
            sla,
            value=_number(now.get("attainment")),
            previous=_number(before.get("attainment")),
            detail=f"{int(now.get('within') or 0):,} of {closed_now:,} within SLA",
        ),
        replace(
            net,
            value=_number(now.get("net_rate")),
            previous=_number(before.get("net_rate")),
            detail=f"{closed_now:,} closed / {int(now.get('opened') or 0):,} opened",
        ),
    ]


def _merge_tile(r: _Reader) -> Tile:
    tile = TILES["merge_rate"]
    if missing := r.missing(tile.marts):
        return replace(tile, missing=missing)
    decided = "case when status = 'merged' then merged_at when status = 'closed' then closed_at end"
    rows = r.rows(
        "fix_latency",
        f"select w, sum(merged), sum(closed), sum(merged) * 1.0 / nullif(sum(merged) + sum(closed), 0) "
        f"from (select {r.in_windows(decided)} as w, "
        f"case when status = 'merged' then 1 else 0 end as merged, "
        f"case when status = 'closed' then 1 else 0 end as closed "
        f"from {r.wh.mart('fix_latency')} where status in ('merged', 'closed')) as decisions "
        f"where w is not null group by w",
        ("w", "merged", "closed", "rate"),
    )
    by_w = {row["w"]: row for row in rows}
    now = by_w.get("current", {})
    merged, closed = int(now.get("merged") or 0), int(now.get("closed") or 0)
    return replace(
        tile,
        value=_number(now.get("rate")),
        previous=_number(by_w.get("previous", {}).get("rate")),
        detail=f"{merged:,} merged / {merged + closed:,} decided",
    )


# -- charts ---------------------------------------------------------------------------------------


def _chart(r: _Reader, chart: Chart, fill: Callable[[_Reader], dict[str, list[dict[str, Any]]]]) -> Chart:
    if missing := r.missing(chart.marts):
        return replace(chart, missing=missing)
    return replace(chart, data=fill(r))


def _backlog(r: _Reader) -> dict[str, list[dict[str, Any]]]:
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


def _opened_closed(r: _Reader) -> dict[str, list[dict[str, Any]]]:
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


def _ttr_weekly(r: _Reader) -> dict[str, list[dict[str, Any]]]:
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


def _merge_monthly(r: _Reader) -> dict[str, list[dict[str, Any]]]:
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


def _sla_repositories(r: _Reader) -> dict[str, list[dict[str, Any]]]:
    rows = r.rows(
        "repository_scorecard",
        f"select repository_name, open_over_sla, open_findings - open_over_sla "
        f"from {r.wh.mart('repository_scorecard')} where open_over_sla > 0 "
        f"order by open_over_sla desc, repository_name limit {TOP_REPOSITORIES}",
        ("repository", "over_sla", "within_sla"),
    )
    return {"repositories": rows}


def _noisy_rules(r: _Reader) -> dict[str, list[dict[str, Any]]]:
    rows = r.rows(
        "triage_outcomes",
        f"select detection_tool, rule_id, findings, triaged, false_positive, false_positive_rate "
        f"from {r.wh.mart('triage_outcomes')} where false_positive > 0 "
        f"order by false_positive desc, false_positive_rate desc, detection_tool, rule_id limit {TOP_RULES}",
        ("tool", "rule", "findings", "triaged", "false_positive", "false_positive_rate"),
    )
    for row in rows:
        row["label"] = f"{row['rule']} ({row['tool']})"
        row["volume"] = f"{int(row['false_positive']):,} / {int(row['triaged']):,}"
    return {"rules": rows}


def _fix_outcomes(r: _Reader) -> dict[str, list[dict[str, Any]]]:
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


def _charts(r: _Reader) -> list[Chart]:
    w = f"as of {r.as_of.isoformat()}"
    # key, title, caption, mart, the function that reads its rows
    rows: tuple[tuple[str, str, str, str, Callable[[_Reader], dict[str, list[dict[str, Any]]]]], ...] = (
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
    return [_chart(r, chart, fill) for chart, fill in specs]


# -- tables ---------------------------------------------------------------------------------------


def _overdue(r: _Reader) -> Table:
    """Open critical and high findings past their SLA, the longest overdue first."""
    table = Table(
        "overdue",
        "Overdue critical and high findings",
        f"Open at the end of {r.as_of.isoformat()} and past their severity's SLA, the longest overdue "
        f"first (the first {OVERDUE_ROWS}); age in days since detection.",
        ("finding_remediation",),
        ("repository", "rule", "severity", "age (days)", "days overdue", "finding"),
    )
    if missing := r.missing(table.marts):
        return replace(table, missing=missing)
    mart = r.wh.mart("finding_remediation")
    severities = ", ".join(f"'{s}'" for s in OVERDUE_SEVERITIES)
    where = f"days_overdue > 0 and not is_deleted and severity in ({severities})"
    rank = "case severity when 'critical' then 0 else 1 end"
    rows = r.rows(
        "finding_remediation",
        # age as backlog_daily counts it: days_overdue is (age - sla_days) whenever it is positive
        f"select repository_name, rule_id, severity, days_overdue + sla_days, days_overdue, finding_id "
        f"from {mart} where {where} "
        f"order by days_overdue desc, {rank}, repository_name, finding_id limit {OVERDUE_ROWS}",
        table.columns,
    )
    total = r.rows("finding_remediation", f"select count(*) from {mart} where {where}", ("n",))[0]["n"]
    return replace(table, rows=rows, total=int(total or 0))


def organisation(wh: Warehouse) -> str | None:
    """The organisation the repositories belong to (owner part of their `full_name`), if known."""
    if "repositories" not in wh.tables(wh.raw_schema):
        return None
    try:
        rows = wh.query(
            f"select split_part(full_name, '/', 1) as owner, count(*) as repositories "
            f"from {wh.raw('repositories')} where full_name like '%/%' "
            "group by owner order by repositories desc, owner limit 1"
        )
    except Exception:  # a raw table without full_name: the title goes without the name
        return None
    return str(rows[0][0]) if rows and rows[0][0] else None


# -- the whole report -----------------------------------------------------------------------------


def marts_as_of(wh: Warehouse) -> tuple[dt.date, dt.datetime | None]:
    """The date the marts were built for, and when; ConfigError when they were never built."""
    if "marts_build" not in wh.tables(wh.marts_schema):
        raise ConfigError(
            f"no marts in schema {wh.marts_schema}: run `pixee-etl run` or `pixee-etl marts` first"
        )
    rows = wh.query(f"select as_of, built_at from {wh.mart('marts_build')} order by as_of desc limit 1")
    if not rows or rows[0][0] is None:
        raise ConfigError(f"{wh.marts_schema}.marts_build is empty: run `pixee-etl marts` first")
    as_of, built_at = rows[0]
    if isinstance(built_at, str):
        built_at = dt.datetime.fromisoformat(built_at)
    return _as_date(as_of), built_at  # type: ignore[return-value]


def read_report_data(wh: Warehouse, as_of: dt.date | None = None) -> ReportData:
    """Tiles and charts for the date the marts are built for (`as_of`, when given, must be that date)."""
    for statement in SESSION_SETUP.get(wh.dialect, ()):
        wh.execute(statement)
    built_for, built_at = marts_as_of(wh)
    if as_of is not None and as_of != built_for:
        raise ConfigError(
            f"the marts in {wh.marts_schema} are built as of {built_for}, not {as_of}: "
            f"rebuild them with `pixee-etl marts --as-of {as_of}`, then run the report again"
        )
    r = _Reader(wh, built_for)
    tiles = [*_backlog_tiles(r), *_remediation_tiles(r), _merge_tile(r)]
    charts = _charts(r)
    from pipelines.publish.html_report import platform  # imports this module: not at the top

    if platform.has_platform_source(r):
        charts = [*(platform.without_counterpart(c) for c in charts), *platform.platform_charts(r)]
    missing = sorted({m for item in [*tiles, *charts] for m in item.missing})
    tables = [_overdue(r)]
    missing = sorted({*missing, *(m for t in tables for m in t.missing)})
    return ReportData(
        built_for, built_at, wh.marts_schema, tiles, charts, tuple(missing), organisation(wh), tables
    )
