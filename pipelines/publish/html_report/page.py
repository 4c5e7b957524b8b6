"""The report page: one HTML document, styles inline, charts as inline SVG, no script and no URL fetched."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from html import escape

from pipelines.publish.html_report.model import WINDOW_DAYS, Chart, ReportData, Table, Tile, windows

# Nothing may load: no script at all, styles only inline, images only as data: URIs. A name
# from the API that slipped past escaping still could not fetch or run anything.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
STYLE = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --good: #1a7f37; --bad: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px; color: var(--ink); background: #fff;
  font: 14px/1.45 Helvetica, Arial, "Liberation Sans", sans-serif; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 15px; margin: 0 0 2px; }
.meta, .caption, .detail, .source, footer { color: var(--muted); }
.meta { margin: 0 0 16px; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.notice { border: 1px solid #d4a72c; background: #fff8c5; padding: 8px 12px; margin: 0 0 16px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px;
  margin: 0 0 20px; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; min-width: 0; }
.tile h2 { font-size: 13px; font-weight: 600; color: var(--muted); }
.tile .measures { font-size: 12px; color: var(--ink); }
.tile .value { font-size: 26px; font-weight: 700; margin: 2px 0; }
.tile p { margin: 0; }
/* a mart's name is one long word: it breaks rather than runs out of its tile */
.tile h2, .tile p, figure .caption { overflow-wrap: anywhere; }
.overdue { margin: 0 0 20px; }
.overdue table { border-collapse: collapse; width: 100%; font-size: 13px; }
.overdue th, .overdue td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line);
  overflow-wrap: anywhere; }
.overdue td.number, .overdue th.number { text-align: right; font-variant-numeric: tabular-nums; }
.overdue tr.critical td:first-child { border-left: 4px solid #6a1b9a; }
.overdue tr.high td:first-child { border-left: 4px solid #e6550d; }
.tile .change { font-size: 12px; }
.good { color: var(--good); }
.bad { color: var(--bad); }
.detail, .source { font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 16px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 12px; }
figure .caption { margin: 0 0 8px; font-size: 12px; }
figure svg { display: block; max-width: 100%; height: auto; }
.empty, .missing { color: var(--muted); font-style: italic; padding: 24px 0; margin: 0; }
.note { font-size: 12px; margin: 8px 0 0; }
footer { margin-top: 20px; font-size: 12px; }
footer dt { font-weight: 600; color: var(--ink); }
footer dd { margin: 0 0 4px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .tiles { grid-template-columns: repeat(3, 1fr); gap: 8px; }
  .charts { display: block; }
  figure, .tile, .overdue tr { break-inside: avoid; page-break-inside: avoid; }
  figure { margin: 0 0 10px; border-color: #999; }
}
"""


def _hours(value: float, in_days: bool | None = None) -> str:
    """Days from two days up (or when told, so that a change reads in its value's unit), else hours."""
    if in_days if in_days is not None else abs(value) >= 48:
        return f"{value / 24:,.1f} days"
    return f"{value:,.1f} h"


def format_value(tile: Tile, value: float | None) -> str:
    """A tile's number as a person reads it."""
    if value is None:
        return "n/a"
    if tile.kind == "ratio":
        return f"{value:.0%}"
    if tile.kind == "hours":
        return _hours(value)
    return f"{value:,.0f}"


def format_change(tile: Tile) -> tuple[str, str]:
    """The change against the previous 30 days, and whether it is good news (a CSS class)."""
    if tile.value is None or tile.previous is None:
        return "no earlier data to compare", ""
    delta = tile.value - tile.previous
    if tile.kind == "ratio":
        text, zero = f"{delta * 100:+.1f} pp", round(delta * 1000) == 0
    elif tile.kind == "hours":
        text, zero = _hours(delta, in_days=abs(tile.value) >= 48), round(delta, 1) == 0
        text = text if text.startswith("-") else f"+{text}"
    else:
        text, zero = f"{delta:+,.0f}", delta == 0
    if zero:
        return f"no change from the previous {WINDOW_DAYS} days", ""
    arrow = "▲" if delta > 0 else "▼"
    good = (delta < 0) == (tile.better == "lower")
    return f"{arrow} {text.replace('-', '−')} vs the previous {WINDOW_DAYS} days", "good" if good else "bad"


def _number_attr(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def tile_html(tile: Tile, marts_schema: str) -> str:
    source = ", ".join(f"{marts_schema}.{m}" for m in tile.marts)
    attrs = (
        f'class="tile" data-tile="{escape(tile.key)}" data-value="{_number_attr(tile.value)}" '
        f'data-previous="{_number_attr(tile.previous)}" title="{escape(tile.definition)}"'
    )
    if tile.missing:
        return (
            f'<div {attrs} data-missing="{escape(" ".join(tile.missing))}"><h2>{escape(tile.label)}</h2>'
            f'<p class="value">—</p><p class="missing-note detail">needs {escape(source)}, '
            "not built in this warehouse</p></div>"
        )
    change, tone = format_change(tile)
    detail = f'<p class="detail">{escape(tile.detail)}</p>' if tile.detail else ""
    measures = f'<p class="measures">{escape(tile.measures)}</p>' if tile.measures else ""
    return (
        f"<div {attrs}><h2>{escape(tile.label)}</h2>{measures}"
        f'<p class="value">{escape(format_value(tile, tile.value))}</p>'
        f'<p class="change {tone}">{escape(change)}</p>{detail}'
        # a break opportunity after each dot: a narrow tile wraps schema.mart at the dot
        f'<p class="source">{escape(source).replace(".", ".<wbr>")}</p></div>'
    )


def _kinds_note(chart: Chart) -> str:
    parts = []
    for row in chart.data.get("kinds", []):
        rate = row.get("merge_rate")
        shown = "n/a" if rate is None else f"{rate:.0%}"
        parts.append(f"{row['kind']}: {int(row['fixes'] or 0):,} fixes, merge rate {shown}")
    return "; ".join(parts)


def _backfill_note(chart: Chart) -> str:
    parts = []
    for row in chart.data.get("backfill", []):
        parts.append(
            "Left out of the chart and its scale: the warehouse's first week "
            f"({str(row['week_start'])[:10]}, "
            f"{int(row['opened'] or 0):,} opened, {int(row['closed'] or 0):,} closed), the findings already "
            "open when it started rather than a week's work."
        )
    return " ".join(parts)


NOTES: Mapping[str, Callable[[Chart], str]] = {"fix_outcomes": _kinds_note, "opened_closed": _backfill_note}


NUMERIC = ("age (days)", "days overdue")


def table_html(table: Table, marts_schema: str) -> str:
    """A table of rows (the overdue findings), or what is missing, or that there are none."""
    source = ", ".join(f"{marts_schema}.{m}" for m in table.marts)
    head = (
        f'<section class="overdue" data-table="{escape(table.key)}" data-rows="{len(table.rows)}" '
        f'data-total="{table.total}"'
        + (f' data-missing="{escape(" ".join(table.missing))}"' if table.missing else "")
        + f'><h2>{escape(table.title)}</h2><p class="caption detail">{escape(table.caption)} '
        f"From <code>{escape(source)}</code>.</p>"
    )
    if table.missing:
        return (
            head
            + f'<p class="missing">Needs {escape(source)}, which is not built in this warehouse.</p>'
            + "</section>"
        )
    if not table.rows:
        return head + '<p class="empty">None: no open critical or high finding is past its SLA.</p></section>'

    def cell(column: str, value: object) -> str:
        if column in NUMERIC:
            return f'<td class="number">{int(value or 0):,}</td>'  # type: ignore[call-overload]
        return f"<td>{escape(str(value))}</td>"

    header = "".join(
        f'<th class="number">{escape(c)}</th>' if c in NUMERIC else f"<th>{escape(c)}</th>"
        for c in table.columns
    )
    body = "".join(
        f'<tr class="{escape(str(row.get("severity", "")))}">'
        + "".join(cell(c, row[c]) for c in table.columns)
        + "</tr>"
        for row in table.rows
    )
    more = table.total - len(table.rows)
    tail = f'<p class="note">and {more:,} more past their SLA.</p>' if more > 0 else ""
    return head + f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>{tail}</section>"


def chart_html(chart: Chart, svg: str | None, marts_schema: str) -> str:
    source = ", ".join(f"{marts_schema}.{m}" for m in chart.marts)
    head = (
        f'<figure data-chart="{escape(chart.key)}" data-rows="{chart.rows}"'
        + (f' data-missing="{escape(" ".join(chart.missing))}"' if chart.missing else "")
        + (' data-unavailable="true"' if chart.unavailable else "")
        + f'><h2>{escape(chart.title)}</h2><p class="caption">{escape(chart.caption)} '
        f"From <code>{escape(source)}</code>.</p>"
    )
    if chart.missing:
        body = f'<p class="missing">Needs {escape(source)}, which is not built in this warehouse.</p>'
    elif chart.unavailable:
        body = f'<p class="empty unavailable">{escape(chart.unavailable)}</p>'
    elif svg is None:
        body = f'<p class="empty">No rows in {escape(source)} for this period yet.</p>'
    else:
        body = svg
    note = NOTES[chart.key](chart) if chart.key in NOTES and not (chart.missing or chart.unavailable) else ""
    return head + body + (f'<p class="note">{escape(note)}</p>' if note else "") + "</figure>"


def page_html(data: ReportData, svgs: Mapping[str, str | None], generated_at: dt.datetime) -> str:
    """The whole document."""
    current, previous = windows(data.as_of)
    built = f", built {data.built_at:%Y-%m-%d %H:%M} UTC" if data.built_at else ""
    meta = (
        f"As of <time>{data.as_of.isoformat()}</time> (UTC). Marts in <code>{escape(data.marts_schema)}"
        f"</code>{built}. Last {WINDOW_DAYS} days: {current.label()}, compared with {previous.label()}. "
        f"Report generated {generated_at:%Y-%m-%d %H:%M} UTC."
    )
    notice = ""
    if data.missing:
        names = ", ".join(f"{data.marts_schema}.{m}" for m in data.missing)
        notice = (
            f'<section class="notice" data-missing="{escape(" ".join(data.missing))}">'
            f"Not built in this warehouse: <code>{escape(names)}</code>. The tiles and charts that read them "
            "say so; rebuild the marts with a version that has them to fill them in.</section>"
        )
    tiles = "".join(tile_html(t, data.marts_schema) for t in data.tiles)
    tables = "".join(table_html(t, data.marts_schema) for t in data.tables)
    title = "Pixee remediation report" + (f": {data.organisation}" if data.organisation else "")
    charts = "".join(chart_html(c, svgs.get(c.key), data.marts_schema) for c in data.charts)
    definitions = "".join(
        f"<dt>{escape(t.label)}</dt><dd>{escape(t.definition)}; from "
        f"<code>{escape(', '.join(t.marts))}</code>.</dd>"
        for t in data.tiles
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}, as of {data.as_of.isoformat()}</title>"
        f"<style>{STYLE}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><p class="meta">{meta}</p></header>'
        f'{notice}<section class="tiles">{tiles}</section>{tables}'
        f'<section class="charts">{charts}</section>'
        f"<footer><dl>{definitions}</dl><p>Every number comes from the marts named beside it "
        "(warehouse-contract.md says what each column means); the charts were drawn when the report "
        "was built and need no network.</p></footer>"
        "</body></html>\n"
    )
