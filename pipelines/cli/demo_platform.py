"""`pixee-etl demo --api platform`: the platform simulator, two syncs with simulated hours between, a tour."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from pipelines.cli import demo_common as common
from pipelines.errors import PixeeEtlError
from pipelines.extract.endpoints import EXPIRED_AT, PLATFORM
from pipelines.publish.html_report import report_from_pipeline
from pipelines.publish.run_summary import SyncReport
from pipelines.publish.serving import PublishReport
from pipelines.run import LIBRARY_STEPS, RunContext, RunRequest, Summarised, marts_step, run_once

EXAMPLE_SQL = """\
-- findings whose triage changed between runs, with each version the warehouse saw
select scan_id, id, triage__status, triage__suggested, observed_at
from pixee.findings_history where (scan_id, id) in
  (select scan_id, id from pixee.findings_history group by all having count(*) > 1)
order by scan_id, id, observed_at limit 20;

-- scans the API no longer serves, kept with their findings
select s.detector, count(distinct s.id) as scans, count(f.id) as findings
from pixee.scans s left join pixee.findings f on f.scan_id = s.id
where s._expired_at is not null group by all;"""


def main(args: argparse.Namespace) -> int:
    path = Path(args.duckdb_path)
    with common.demo_simulator(args, api="platform", days=args.days) as sim:
        truth = sim.truth()
        print(
            f"A simulated Pixee deployment speaking the platform API on {sim.base_url} (seed {args.seed}): "
            + ", ".join(f"{len(v):,} {k}" for k, v in truth.items() if isinstance(v, list) and k in _COUNTED)
            + ".\n"
        )
        settings = replace(common.demo_settings(sim.base_url, sim.org_token, path), api_flavour="platform")
        with common.demo_context(settings, sim) as context:
            steps = replace(LIBRARY_STEPS, marts=_marts_or_skipped)
            print(common.full_sync_line(path))
            full = run_once(context, RunRequest(full_refresh=True, progress=True, publish=False), steps)
            print()

            print(
                f"2. {args.hours:g} simulated hours pass: scans imported, triage and fixes done, scans expire"
            )
            sim.advance(args.hours)

            print("3. Incremental sync: only what changed")
            incremental = run_once(context, RunRequest(progress=True), steps)
            published = incremental.published
            assert published is not None  # the demo is DuckDB
            print()

            print("4. The report: tiles and charts from the marts, one HTML file")
            report = _report(incremental.synced, settings, path, sim)
            print(common.indented(report) + "\n")
        print(tour(published, full.synced, incremental.synced))
    return 0


_COUNTED = ("repositories", "scans", "findings", "analyses", "patches")


@dataclass(frozen=True)
class SkippedMarts:
    """The one line a platform demo shows in place of the marts' summary when they could not build."""

    line: str

    def summary(self) -> str:
        return self.line


def _marts_or_skipped(context: RunContext, synced: SyncReport) -> Summarised:
    """The marts, or one line saying why they were skipped (a dbt project that does not cover a
    platform source yet fails on it; the raw tables and history are what this demo shows)."""
    try:
        return marts_step(context, synced)
    except PixeeEtlError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return SkippedMarts(f"marts: skipped for this platform warehouse ({first[:200]})")


def _report(report: SyncReport, settings: Any, path: Path, sim: Any) -> str:
    """The report beside the warehouse (as the v1 demo writes it), or one line saying why not."""
    try:
        written = report_from_pipeline(report.pipeline, settings, path.parent, sim.now.date())
    except PixeeEtlError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"report: skipped ({first[:200]})"
    return f"{written.summary()}\nReport: {written.path} (open it in a browser; it needs no network)"


def tour(published: PublishReport, full: SyncReport, incremental: SyncReport) -> str:
    """Tables, versions, expired scans and request counts, all read from the serving file."""
    lines = [common.tour_heading(published.path)]
    with duckdb.connect(str(published.path), read_only=True) as con:
        have = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'pixee'"
            ).fetchall()
        }
        known = [t for e in PLATFORM for t in (e.table, e.history_table if e.versioned_by else None)]
        unknown = sorted(t for t in have if t.startswith("collection_"))
        for table in [t for t in known if t in have] + unknown:
            rows = common.scalar(con, f"select count(*) from pixee.{table}")
            lines.append(f"  pixee.{table:<22} {rows:>8,} rows")
        twice = (
            common.scalar(
                con,
                "select count(*) from (select scan_id, id from pixee.findings_history group by all "
                "having count(*) > 1)",
            )
            if "findings_history" in have
            else 0
        )
        expired = (
            common.scalar(con, f"select count(*) from pixee.scans where {EXPIRED_AT} is not null")
            if "scans" in have
            else 0
        )
    ratio = full.total_requests / incremental.total_requests if incremental.total_requests else float("nan")
    lines += [
        "",
        f"Findings with two or more versions in the history: {twice:,}; scans kept after the API "
        f"expired them: {expired:,}.",
        f"Requests: full sync {full.total_requests:,} ({full.rows:,} rows), "
        f"incremental {incremental.total_requests:,} ({incremental.rows:,} rows): {ratio:.1f}x fewer.",
        *common.try_it(published.path, EXAMPLE_SQL),
    ]
    return "\n".join(lines)
