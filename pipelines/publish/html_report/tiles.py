"""The report's headline tiles: each a number for the last 30 days (or now) and the 30 days before."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipelines.publish.html_report.model import WINDOW_DAYS, Tile
from pipelines.publish.html_report.reader import Reader, number, sla_days
from pipelines.transform.checks import _as_date
from pipelines.transform.dbt_runner import SEVERITIES

SEVERITY_ORDER = (*SEVERITIES, "unknown")


def _tile_words() -> dict[str, Tile]:
    """Each tile's label, definition and mart from tiles.toml (the report's words, kept as data)."""
    table = tomllib.loads(Path(__file__).with_name("tiles.toml").read_text(encoding="utf-8"))
    tiles = {}
    for key, words in table.items():
        mart = words.pop("mart")
        tiles[key] = Tile(key, marts=(mart,), **words)
    return tiles


TILES = _tile_words()


def _backlog_tiles(r: Reader) -> list[Tile]:
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
        return number(then.get(column)) if then else (0.0 if earlier_known else None)

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
            value=number(now.get("over")) if now else 0.0,
            previous=previous("over"),
            detail=over_detail,
        ),
        replace(
            open_tile,
            value=number(now.get("open")) if now else 0.0,
            previous=previous("open"),
            detail=open_detail,
        ),
    ]


def _remediation_tiles(r: Reader) -> list[Tile]:
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
    within_now = int(now.get("within") or 0)
    return [
        _filled(ttr, now, before, "p50", f"{closed_now:,} closures"),
        _filled(sla, now, before, "attainment", f"{within_now:,} of {closed_now:,} within SLA"),
        _filled(
            net, now, before, "net_rate", f"{closed_now:,} closed / {int(now.get('opened') or 0):,} opened"
        ),
    ]


def _merge_tile(r: Reader) -> Tile:
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
    return _filled(
        tile, now, by_w.get("previous", {}), "rate", f"{merged:,} merged / {merged + closed:,} decided"
    )


def _filled(tile: Tile, now: Mapping[str, Any], before: Mapping[str, Any], column: str, detail: str) -> Tile:
    """The tile with `column` of the current and the previous window's row."""
    return replace(tile, value=number(now.get(column)), previous=number(before.get(column)), detail=detail)


def read_tiles(r: Reader) -> list[Tile]:
    """Every tile, in the order the page shows them."""
    return [*_backlog_tiles(r), *_remediation_tiles(r), _merge_tile(r)]
