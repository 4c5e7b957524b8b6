"""Build the report: read the marts, draw the charts, write one HTML file atomically; say what it took."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import ConfigError
from pipelines.publish.html_report.charts import render_svg
from pipelines.publish.html_report.data import ReportData, read_report_data
from pipelines.publish.html_report.page import page_html
from pipelines.settings import Settings
from pipelines.transform.checks import Warehouse
from pipelines.transform.dbt_runner import destination_dialect


@dataclass(frozen=True)
class ReportResult:
    """Where the report went, for which date, how big it is and how long it took."""

    path: Path
    as_of: dt.date
    size_bytes: int
    seconds: float
    charts: int
    missing: tuple[str, ...]

    def summary(self) -> str:
        line = (
            f"report as of {self.as_of}: {self.path} ({self.size_bytes / 1024:,.0f} KB, "
            f"{self.charts} charts, {self.seconds:.1f}s)"
        )
        if self.missing:
            line += f"; marts not built yet: {', '.join(self.missing)}"
        return line


def default_name(as_of: dt.date) -> str:
    return f"pixee-report-{as_of.isoformat()}.html"


def resolve_out(out: Path | None, as_of: dt.date) -> Path:
    """The file to write: `out`, or the default name inside `out` (a directory) or the current one."""
    if out is None:
        return Path.cwd() / default_name(as_of)
    path = out.expanduser()
    if path.is_dir():
        return path / default_name(as_of)
    parent = path.parent
    if not parent.is_dir():
        raise ConfigError(f"report: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"report: directory {parent} is not writable by this user")
    return path


def build_report(wh: Warehouse, as_of: dt.date | None = None) -> tuple[str, ReportData]:
    """The report's HTML and the numbers in it."""
    data = read_report_data(wh, as_of)
    svgs = {
        chart.key: render_svg(chart) if chart.rows else None for chart in data.charts if not chart.missing
    }
    return page_html(data, svgs, dt.datetime.now(dt.UTC)), data


def write_report(wh: Warehouse, out: Path | None = None, as_of: dt.date | None = None) -> ReportResult:
    """Build the report and put it at `out` in one rename, so a reader never opens half a file."""
    started = time.monotonic()
    if out is not None:
        resolve_out(out, as_of or dt.date.today())  # a bad --out fails before the marts are read
    text, data = build_report(wh, as_of)
    path = resolve_out(out, data.as_of)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"report: cannot write {path}: {exc.strerror or exc}") from None
    return ReportResult(
        path=path.resolve(),
        as_of=data.as_of,
        size_bytes=path.stat().st_size,
        seconds=time.monotonic() - started,
        charts=sum(1 for c in data.charts if c.rows),
        missing=data.missing,
    )


def report_from_pipeline(
    pipeline: Any, settings: Settings, out: Path | None = None, as_of: dt.date | None = None
) -> ReportResult:
    """write_report through the pipeline's destination connection (DuckDB or Snowflake)."""
    dialect = destination_dialect(pipeline, settings)
    with pipeline.sql_client() as client:
        return write_report(Warehouse.for_settings(client.execute_sql, dialect, settings), out, as_of)
