"""The report's numbers: tiles, chart rows and the overdue table, read from the marts through
transform.checks.Warehouse.

Every metric is defined by a mart (warehouse-contract.md); the SQL in tiles.py, chart_data.py and
here only filters and aggregates mart rows into 30-day windows, weeks or months, and picks the rows
a chart shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from pipelines.errors import ConfigError
from pipelines.publish.html_report import platform
from pipelines.publish.html_report.chart_data import read_charts
from pipelines.publish.html_report.model import ReportData, Table
from pipelines.publish.html_report.reader import Reader
from pipelines.publish.html_report.tiles import read_tiles
from pipelines.transform.checks import Warehouse, _as_date

OVERDUE_ROWS = 25  # the overdue table's length: what a lead chases this week, the rest counted
OVERDUE_SEVERITIES = ("critical", "high")
# The windows compare the marts' UTC timestamps with UTC literals: on DuckDB that must not depend on
# the zone of the machine the report runs on. (Snowflake: dlt's connection already sets TIMEZONE=UTC.)
SESSION_SETUP: dict[str, tuple[str, ...]] = {"duckdb": ("set TimeZone = 'UTC'",)}


def _overdue(r: Reader) -> Table:
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
    r = Reader(wh, built_for)
    tiles = read_tiles(r)
    charts = read_charts(r)
    if platform.has_platform_source(r):
        charts = [*(platform.without_counterpart(c) for c in charts), *platform.platform_charts(r)]
    missing = sorted({m for item in [*tiles, *charts] for m in item.missing})
    tables = [_overdue(r)]
    missing = sorted({*missing, *(m for t in tables for m in t.missing)})
    return ReportData(
        built_for, built_at, wh.marts_schema, tiles, charts, tuple(missing), organisation(wh), tables
    )
