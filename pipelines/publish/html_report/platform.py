"""The report over a platform source: its two own charts (analyses and scans per day) and a line, in
place of a chart, where the platform API has no counterpart for what a chart shows."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pipelines.publish.html_report.data import Chart

if TYPE_CHECKING:
    from pipelines.publish.html_report.data import _Reader

PLATFORM_MARTS = ("analysis_daily", "scan_daily")
DAYS = 90  # the reach of the two daily charts
# Charts whose subject the platform API does not name: what the page says instead of an empty chart.
NO_COUNTERPART = {
    "fix_outcomes": (
        "Not for this source: Pixee's platform API names neither the codemod nor whether a patch was "
        "AI-generated, so there is nothing to split; the merge rate above counts its patches."
    ),
}


def has_platform_source(r: _Reader) -> bool:
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


def _analyses(r: _Reader) -> dict[str, list[dict[str, Any]]]:
    since = r.as_of - dt.timedelta(days=DAYS)
    rows = r.rows(
        "analysis_daily",
        f"select day, type, completed, failed from {r.wh.mart('analysis_daily')} "
        f"where day > date '{since.isoformat()}' and (completed > 0 or failed > 0) order by day, type",
        ("day", "type", "completed", "failed"),
    )
    return {"days": rows}


def _scans(r: _Reader) -> dict[str, list[dict[str, Any]]]:
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


def platform_charts(r: _Reader) -> list[Chart]:
    """The two charts of a platform source's own marts."""
    specs = (
        (Chart("analysis_daily", "Analyses completed and failed per day",
               f"Pixee's triage, fix and SCA analyses that completed or failed each day, by type "
               f"(last {DAYS} days).", ("analysis_daily",)), _analyses),
        (Chart("scan_daily", "Scans imported per day, by detector",
               f"Scans imported each day on every branch, by detector (last {DAYS} days); the platform "
               "keeps a scan seven days, the warehouse for good.", ("scan_daily",)), _scans),
    )  # fmt: skip
    out = []
    for chart, fill in specs:
        if missing := r.missing(chart.marts):
            out.append(replace(chart, missing=missing))
        else:
            out.append(replace(chart, data=fill(r)))
    return out


def analysis_daily_spec(chart: Chart) -> dict[str, Any]:
    from pipelines.publish.html_report.charts import HEIGHT, WIDTH, _utc_x

    return {
        "data": {"name": "days"},
        "datasets": chart.data,
        "width": WIDTH,
        "height": HEIGHT,
        "transform": [
            {"fold": ["completed", "failed"], "as": ["outcome", "analyses"]},
            {"calculate": "datum.type + ' ' + datum.outcome", "as": "series"},
            {"filter": "datum.analyses > 0"},
        ],
        "mark": "bar",
        "encoding": {
            "x": {**_utc_x("day", "day"), "timeUnit": "utcyearmonthdate"},
            "y": {"field": "analyses", "type": "quantitative", "stack": True, "title": "analyses"},
            "color": {"field": "series", "type": "nominal", "title": None},
        },
    }


def scan_daily_spec(chart: Chart) -> dict[str, Any]:
    from pipelines.publish.html_report.charts import HEIGHT, WIDTH, _utc_x

    return {
        "data": {"name": "days"},
        "datasets": chart.data,
        "width": WIDTH,
        "height": HEIGHT,
        "transform": [{"filter": "datum.scans_imported > 0"}],
        "mark": "bar",
        "encoding": {
            "x": {**_utc_x("day", "day"), "timeUnit": "utcyearmonthdate"},
            "y": {
                "field": "scans_imported",
                "type": "quantitative",
                "stack": True,
                "title": "scans imported",
            },
            "color": {"field": "detector", "type": "nominal", "title": None},
        },
    }


SPECS = {"analysis_daily": analysis_daily_spec, "scan_daily": scan_daily_spec}
