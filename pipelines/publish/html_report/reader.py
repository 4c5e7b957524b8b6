"""Runs the report's SQL on the marts: one reader per report, holding its date and windows."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from pipelines.errors import ReportError
from pipelines.publish.html_report.model import Chart, windows
from pipelines.transform.checks import Warehouse

Rows = dict[str, list[dict[str, Any]]]  # a chart's named datasets


def plain(value: Any) -> Any:
    """JSON-ready: Decimal to float, dates to ISO strings."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def number(value: Any) -> float | None:
    return None if value is None else float(value)


class Reader:
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
        return [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in result]

    def day(self, offset_days: int = 0) -> str:
        return f"date '{(self.as_of + dt.timedelta(days=offset_days)).isoformat()}'"

    def in_windows(self, column: str) -> str:
        """'current' / 'previous' for a timestamp in one of the two windows, NULL otherwise."""
        return (
            f"case when {column} >= {self.current.start} and {column} < {self.current.end} then 'current' "
            f"when {column} >= {self.previous.start} and {column} < {self.previous.end} then 'previous' end"
        )


def sla_days(r: Reader) -> dict[str, int]:
    """Each severity's SLA in days, from the sla_policy mart (empty when it is not built)."""
    if "sla_policy" not in r.present:
        return {}
    policy = r.rows(
        "sla_policy", f"select severity, sla_days from {r.wh.mart('sla_policy')}", ("severity", "days")
    )
    return {row["severity"]: int(row["days"]) for row in policy if row["days"] is not None}


def fill_chart(r: Reader, chart: Chart, fill: Callable[[Reader], Rows]) -> Chart:
    """The chart with its rows, or with the marts it lacks named."""
    if missing := r.missing(chart.marts):
        return replace(chart, missing=missing)
    return replace(chart, data=fill(r))
