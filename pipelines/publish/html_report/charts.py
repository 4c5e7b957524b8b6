"""The report's charts as Vega-Lite specs, rendered to inline SVG when the report is built (vl-convert)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from pipelines.publish.html_report.model import Chart
from pipelines.transform.dbt_runner import SEVERITIES

# Critical stands apart from high in hue and lightness (two reds made it a dark sliver under high),
# and its top edge is drawn as a line of its own so a handful of critical findings still shows.
SEVERITY_COLOURS = ["#6a1b9a", "#e6550d", "#fdae6b", "#c6dbef"]
CRITICAL_LINE = "#4a148c"
SLA_LINE = "#333333"
OVER_SLA = "over SLA"
OUTCOMES = ["merged", "closed unmerged", "open PR", "no PR yet"]
OUTCOME_COLOURS = ["#1a9850", "#d73027", "#4575b4", "#bdbdbd"]
WIDTH = 520
HEIGHT = 220
# One font stack for Vega's text measurement and the browser's rendering; nothing is downloaded.
FONT = "Helvetica, Arial, 'Liberation Sans', sans-serif"
CONFIG: dict[str, Any] = {
    "font": FONT,
    "view": {"stroke": None},
    "axis": {"labelFontSize": 11, "titleFontSize": 11, "grid": True, "gridColor": "#eeeeee"},
    "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "top"},
    "background": "white",
}
Spec = dict[str, Any]


def utc_x(field: str, title: str | None) -> dict[str, Any]:
    return {"field": field, "type": "temporal", "title": title, "scale": {"type": "utc"}}


def framed(chart: Chart, dataset: str) -> Spec:
    """A full-size chart drawn from one of its datasets."""
    return {"data": {"name": dataset}, "datasets": chart.data, "width": WIDTH, "height": HEIGHT}


def _colour(
    field: str, domain: list[str], colours: list[str], label_expr: str | None = None
) -> dict[str, Any]:
    """One fixed colour per value of `field`, in the legend as `label_expr` names it."""
    colour: dict[str, Any] = {
        "field": field,
        "type": "nominal",
        "title": None,
        "scale": {"domain": domain, "range": colours},
    }
    if label_expr:
        colour["legend"] = {"labelExpr": label_expr}
    return colour


def backlog(chart: Chart) -> Spec:
    return {
        "datasets": chart.data,
        "width": WIDTH,
        "height": HEIGHT,
        "layer": [
            {
                "data": {"name": "backlog"},
                "mark": {"type": "area", "interpolate": "step-after"},
                "encoding": {
                    "x": utc_x("day", "day"),
                    "y": {
                        "field": "open_findings",
                        "type": "quantitative",
                        "stack": True,
                        "title": "open findings",
                    },
                    "color": _colour("severity", [*SEVERITIES, OVER_SLA], [*SEVERITY_COLOURS, "#111111"]),
                    "order": {"field": "severity_rank", "type": "quantitative"},
                },
                "transform": [
                    {"calculate": f"indexof({list(SEVERITIES)!r}, datum.severity)", "as": "severity_rank"}
                ],
            },
            {
                # critical is the bottom of the stack: its own count is its area's top edge
                "data": {"name": "backlog"},
                "transform": [{"filter": "datum.severity == 'critical'"}],
                "mark": {
                    "type": "line",
                    "strokeWidth": 2.5,
                    "interpolate": "step-after",
                    "color": CRITICAL_LINE,
                },
                "encoding": {
                    "x": utc_x("day", "day"),
                    "y": {"field": "open_findings", "type": "quantitative"},
                },
            },
            {
                "data": {"name": "over_sla"},
                "mark": {"type": "line", "strokeWidth": 2, "strokeDash": [5, 3], "interpolate": "step-after"},
                "encoding": {
                    "x": utc_x("day", "day"),
                    "y": {"field": "open_over_sla", "type": "quantitative"},
                    "color": {"datum": OVER_SLA},
                },
            },
        ],
    }


def opened_closed(chart: Chart) -> Spec:
    return {
        **framed(chart, "weeks"),
        "transform": [{"fold": ["opened", "closed", "false_positives"], "as": ["what", "findings"]}],
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": utc_x("week_start", "week starting"),
            "y": {"field": "findings", "type": "quantitative", "title": "findings"},
            "color": _colour(
                "what",
                ["opened", "closed", "false_positives"],
                ["#d6604d", "#4393c3", "#999999"],
                "replace(datum.label, '_', ' ')",
            ),
        },
    }


def ttr_weekly(chart: Chart) -> Spec:
    line = {
        "mark": {"type": "line", "point": {"size": 18}},
        "encoding": {
            "x": utc_x("week_start", None),
            "y": {"field": "days", "type": "quantitative", "title": "days"},
            "color": _colour(
                "percentile",
                ["p50_days", "p90_days"],
                ["#2166ac", "#b2182b"],
                "datum.label == 'p50_days' ? 'p50' : 'p90'",
            ),
        },
    }
    # The severity's SLA across its panel (and inside its y scale), labelled at the right end.
    sla = {"field": "sla_days", "type": "quantitative", "aggregate": "max"}
    rule = {
        "transform": [{"filter": "isValid(datum.sla_days)"}],
        "mark": {"type": "rule", "strokeDash": [4, 3], "strokeWidth": 1.5, "color": SLA_LINE},
        "encoding": {"y": sla},
    }
    label = {
        "transform": [
            {"filter": "isValid(datum.sla_days)"},
            {"aggregate": [{"op": "max", "field": "sla_days", "as": "sla_days"}]},
            {"calculate": "'SLA ' + datum.sla_days + ' d'", "as": "sla_label"},
        ],
        "mark": {"type": "text", "align": "right", "dy": -5, "fontSize": 10, "color": SLA_LINE, "x": "width"},
        "encoding": {"y": {"field": "sla_days", "type": "quantitative"}, "text": {"field": "sla_label"}},
    }
    return {
        "data": {"name": "weeks"},
        "datasets": chart.data,
        "transform": [{"fold": ["p50_days", "p90_days"], "as": ["percentile", "days"]}],
        "facet": {"field": "severity", "type": "nominal", "sort": list(SEVERITIES), "title": None},
        "columns": 2,
        "resolve": {"scale": {"y": "independent"}},
        "spec": {"width": WIDTH // 2 - 40, "height": 110, "layer": [line, rule, label]},
    }


def merge_monthly(chart: Chart) -> Spec:
    x = {
        "field": "month",
        "type": "ordinal",
        "timeUnit": "utcyearmonth",
        "title": "month of decision",
        "axis": {"format": "%b %Y", "labelAngle": -40},
    }
    return {
        **framed(chart, "months"),
        "layer": [
            {
                "mark": {"type": "bar", "color": "#4c78a8"},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "merge_rate",
                        "type": "quantitative",
                        "title": "merge rate",
                        "axis": {"format": "%"},
                        "scale": {"domain": [0, 1]},
                    },
                },
            },
            {
                "mark": {"type": "text", "dy": -6, "fontSize": 10, "color": "#333333"},
                "encoding": {
                    "x": x,
                    "y": {"field": "merge_rate", "type": "quantitative"},
                    "text": {"field": "decided", "type": "quantitative", "format": ","},
                },
            },
        ],
    }


def _horizontal(field: str, title: str, fmt: str | None = None) -> dict[str, Any]:
    axis = {"format": fmt} if fmt else {}
    return {"field": field, "type": "quantitative", "title": title, "axis": axis}


def sla_repositories(chart: Chart) -> Spec:
    return {
        "data": {"name": "repositories"},
        "datasets": chart.data,
        "width": WIDTH - 160,
        "transform": [{"fold": ["over_sla", "within_sla"], "as": ["sla", "findings"]}],
        "mark": "bar",
        "encoding": {
            "y": {
                "field": "repository",
                "type": "nominal",
                "sort": None,
                "title": None,
                "axis": {"labelLimit": 160},
            },
            "x": _horizontal("findings", "open findings"),
            "color": _colour(
                "sla",
                ["over_sla", "within_sla"],
                ["#cb181d", "#d9d9d9"],
                "datum.label == 'over_sla' ? 'over SLA' : 'within SLA'",
            ),
            "order": {"field": "sla", "sort": "ascending"},
        },
    }


def noisy_rules(chart: Chart) -> Spec:
    y = {"field": "label", "type": "nominal", "sort": None, "title": None, "axis": {"labelLimit": 220}}
    return {
        "data": {"name": "rules"},
        "datasets": chart.data,
        "width": WIDTH - 240,
        "layer": [
            {
                "mark": {"type": "bar", "color": "#fd8d3c"},
                "encoding": {
                    "y": y,
                    "x": {
                        **_horizontal("false_positive_rate", "false-positive rate", "%"),
                        "scale": {"domain": [0, 1]},
                    },
                },
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 10, "color": "#333333"},
                "encoding": {
                    "y": y,
                    "x": {"field": "false_positive_rate", "type": "quantitative"},
                    "text": {"field": "volume", "type": "nominal"},
                },
            },
        ],
    }


def fix_outcomes(chart: Chart) -> Spec:
    return {
        "data": {"name": "codemods"},
        "datasets": {"codemods": chart.data["codemods"]},
        "transform": [
            {"fold": OUTCOMES, "as": ["outcome", "fixes_of_outcome"]},
            {"calculate": f"indexof({OUTCOMES!r}, datum.outcome)", "as": "outcome_rank"},
        ],
        "facet": {
            "column": {
                "field": "kind",
                "type": "nominal",
                "title": None,
                "sort": ["AI-generated", "deterministic", "unknown"],
            }
        },
        "spec": {
            "width": 170,
            "mark": "bar",
            "encoding": {
                "y": {
                    "field": "codemod",
                    "type": "nominal",
                    "sort": None,
                    "title": None,
                    "axis": {"labelLimit": 200},
                },
                "x": _horizontal("fixes_of_outcome", "fixes"),
                "color": _colour("outcome", OUTCOMES, OUTCOME_COLOURS),
                "order": {"field": "outcome_rank", "type": "quantitative"},
            },
        },
    }


SPECS: dict[str, Callable[[Chart], Spec]] = {
    "backlog": backlog,
    "opened_closed": opened_closed,
    "ttr_weekly": ttr_weekly,
    "merge_monthly": merge_monthly,
    "sla_repositories": sla_repositories,
    "noisy_rules": noisy_rules,
    "fix_outcomes": fix_outcomes,
}


def spec_for(chart: Chart) -> Spec:
    """The Vega-Lite spec of a chart with its rows inline (no URL: nothing is fetched)."""
    from pipelines.publish.html_report import platform  # platform draws with this module: not at the top

    spec = {**SPECS, **platform.SPECS}[chart.key](chart)
    return {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "config": CONFIG, **spec}


_ID = re.compile(r'\bid="([^"]+)"')


def _scoped_ids(svg: str, prefix: str) -> str:
    """Vega numbers its clip paths and gradients per render (clip1, ...); several SVGs in one page
    would share those ids and clip each other's marks, so each chart's ids get its own prefix."""
    ids = set(_ID.findall(svg))
    for name in sorted(ids, key=len, reverse=True):
        svg = svg.replace(f'id="{name}"', f'id="{prefix}-{name}"')
        svg = svg.replace(f"url(#{name})", f"url(#{prefix}-{name})")
        svg = svg.replace(f'href="#{name}"', f'href="#{prefix}-{name}"')
    return svg


def render_svg(chart: Chart) -> str:
    """The chart as one <svg> element, sized by CSS, with ids scoped to the chart."""
    import vl_convert

    svg = vl_convert.vegalite_to_svg(spec_for(chart))
    svg = svg[svg.index("<svg") :]  # no XML declaration inside HTML
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{html.escape(chart.title)}" ', 1)
    return _scoped_ids(svg, f"chart-{chart.key}")
