"""The report over a platform source: its two own charts (analyses and scans per day) and a line, in
place of a chart, where the platform API has no counterpart for what a chart shows."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from pipelines.publish.html_report.charts import framed, utc_x
from pipelines.publish.html_report.model import Chart
from pipelines.publish.html_report.reader import Reader, Rows, fill_chart

PLATFORM_MARTS = ("analysis_daily", "scan_daily")
DAYS = 90  # the reach of the two daily charts
# Charts whose subject the platform API does not name: what the page says instead of an empty chart.
NO_COUNTERPART = {
    "fix_outcomes": (
        "Not for this source: Pixee's platform API names neither the codemod nor whether a patch was "
        "AI-generated, so there is nothing to split; the merge rate above counts its patches."
    ),
}


def has_platform_source(r: Reader) -> bool:
    """Whether the marts hold a platform source's rows (only a platform source fills these marts)."""
    for mart in PLATFORM_MARTS:
        if mart in r.present and r.rows(mart, f"select count(*) from {r.wh.mart(mart)}", ("n",))[0]["n"]:
            return True
    return False


def without_counterpart(chart: Chart) -> Chart:
    """The chart as the page shows it for a platform source: a line instead, where it has no subject."""
    if chart.key in NO_COUNTERPART and not chart.missing:
        return replace(chart, data={}, unavailable=NO_COUNTERPART[chart.key])
    return chart


def _analyses(r: Reader) -> Rows:
    since = r.as_of - dt.timedelta(days=DAYS)
    rows = r.rows(
        "analysis_daily",
        f"select day, type, completed, failed from {r.wh.mart('analysis_daily')} "
        f"where day > date '{since.isoformat()}' and (completed > 0 or failed > 0) order by day, type",
        ("day", "type", "completed", "failed"),
    )
    return {"days": rows}


def _scans(r: Reader) -> Rows:
    since = r.as_of - dt.timedelta(days=DAYS)
    rows = r.rows(
        "scan_daily",
        "select day, detector, scans_imported, findings_listed, scans_expired "
        f"from {r.wh.mart('scan_daily')} "
        f"where day > date '{since.isoformat()}' and (scans_imported > 0 or scans_expired > 0) "
        "order by day, detector",
        ("day", "detector", "scans_imported", "findings_listed", "scans_expired"),
    )
    return {"days": rows}


def platform_charts(r: Reader) -> list[Chart]:
    """The two charts of a platform source's own marts."""
    specs = (
        (Chart("analysis_daily", "Analyses completed and failed per day",
               f"Pixee's triage, fix and SCA analyses that completed or failed each day, by type "
               f"(last {DAYS} days).", ("analysis_daily",)), _analyses),
        (Chart("scan_daily", "Scans imported per day, by detector",
               f"Scans imported each day on every branch, by detector (last {DAYS} days); the platform "
               "keeps a scan seven days, the warehouse for good.", ("scan_daily",)), _scans),
    )  # fmt: skip
    return [fill_chart(r, chart, fill) for chart, fill in specs]


def _daily_bars(
    chart: Chart, y: dict[str, Any], colour: str, transform: list[dict[str, Any]]
) -> dict[str, Any]:
    """Stacked bars per UTC day, one colour a series: both daily charts are drawn this way."""
    return {
        **framed(chart, "days"),
        "transform": transform,
        "mark": "bar",
        "encoding": {
            "x": {**utc_x("day", "day"), "timeUnit": "utcyearmonthdate"},
            "y": {**y, "type": "quantitative", "stack": True},
            "color": {"field": colour, "type": "nominal", "title": None},
        },
    }


def analysis_daily_spec(chart: Chart) -> dict[str, Any]:
    transform = [
        {"fold": ["completed", "failed"], "as": ["outcome", "analyses"]},
        {"calculate": "datum.type + ' ' + datum.outcome", "as": "series"},
        {"filter": "datum.analyses > 0"},
    ]
    return _daily_bars(chart, {"field": "analyses", "title": "analyses"}, "series", transform)


def scan_daily_spec(chart: Chart) -> dict[str, Any]:
    y = {"field": "scans_imported", "title": "scans imported"}
    return _daily_bars(chart, y, "detector", [{"filter": "datum.scans_imported > 0"}])


SPECS = {"analysis_daily": analysis_daily_spec, "scan_daily": scan_daily_spec}
