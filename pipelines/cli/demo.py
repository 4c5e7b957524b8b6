"""`pixee-etl demo`: the simulator on loopback, a full sync, a simulated day, an incremental sync, a tour."""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

from pipelines.cli import demo_common as common
from pipelines.extract.endpoints import V1
from pipelines.publish.html_report import report_from_pipeline
from pipelines.publish.run_summary import SyncReport
from pipelines.publish.serving import PublishReport
from pipelines.run import RunRequest, run_once

# The tour counts every v1 list (not the details) and the child tables the marts read.
RAW_TABLES = tuple(table for e in V1 if e.walk != "detail" for table in (e.table, *e.child_tables))
EXAMPLE_SQL = """\
-- open backlog by severity, the last 14 days
select day, severity, sum(open_findings) as open_findings
from pixee_marts.backlog_daily where day > current_date - 14 group by all order by day, severity;

-- time to remediate by codemod
select codemod, count(*) as merged, round(median(hours_detect_to_merge), 1) as p50_hours
from pixee_marts.fix_latency where merged_at is not null group by codemod order by merged desc limit 10;

-- repositories breaching their SLA
select repository_name, open_findings, open_over_sla, merge_rate
from pixee_marts.repository_scorecard order by open_over_sla desc;"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duckdb-path", default="pixee_demo.duckdb", help="where the demo warehouse goes")
    parser.add_argument("--seed", type=int, default=7, help="the simulated organisation's seed")
    parser.add_argument("--repositories", type=int, default=12, help="repositories in the organisation")
    parser.add_argument(
        "--days", type=int, default=None, help="days of history before today (v1: 120; platform: its default)"
    )
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours between the two syncs")
    parser.add_argument("--details", action="store_true", help="also load fix and finding details")
    parser.add_argument(
        "--api",
        choices=("v1", "platform"),
        default="v1",
        help="which API the simulator speaks: v1 (the overview API) or platform (the HAL API of "
        "self-hosted deployments)",
    )


def main(args: argparse.Namespace) -> int:
    if getattr(args, "api", "v1") == "platform":
        from pipelines.cli.demo_platform import main as platform_main

        return platform_main(args)
    path = Path(args.duckdb_path)
    with common.demo_simulator(args, days=args.days or 120) as sim:
        truth = sim.truth()
        print(
            f"A simulated Pixee organisation on {sim.base_url} (seed {args.seed}): "
            f"{len(truth['repositories'])} repositories, {len(truth['scans']):,} scans, "
            f"{len(truth['findings']):,} findings, {len(truth['fixes']):,} fixes.\n"
        )
        settings = common.demo_settings(sim.base_url, sim.org_token, path)
        with common.demo_context(settings, sim) as context:
            print(common.full_sync_line(path))
            full = run_once(
                context, RunRequest(full_refresh=True, details=args.details, progress=True, publish=False)
            )
            print()

            print(f"2. {args.hours:g} simulated hours pass: scans, triage, fixes, PRs merged and closed")
            sim.advance(args.hours)

            print("3. Incremental sync: only what changed")
            incremental = run_once(context, RunRequest(details=args.details, progress=True))
            published = incremental.published
            assert published is not None  # the demo is DuckDB
            print()

            print("4. The report: tiles and charts from the marts, one HTML file")
            # beside the warehouse, named for its date: the demo's files stay together
            report = report_from_pipeline(incremental.synced.pipeline, settings, path.parent, sim.now.date())
            print(common.indented(report.summary()) + "\n")
        # The report line comes before the tour, whose last lines are SQL to paste into the hint.
        print(f"Report: {report.path} (open it in a browser; it needs no network)\n")
        print(tour(published, full.synced, incremental.synced, sim.now.date().isoformat()))
    return 0


def tour(published: PublishReport, full: SyncReport, incremental: SyncReport, as_of: str) -> str:
    """What a newcomer should look at: tables, request counts, a few mart numbers, SQL to try,
    all read from the serving file, the one readers open."""
    lines = [common.tour_heading(published.path)]
    with duckdb.connect(str(published.path), read_only=True) as con:
        for table in RAW_TABLES:
            count = common.scalar(con, f"select count(*) from pixee.{table}")
            lines.append(f"  pixee.{table:<20} {count:>8,} rows")
        open_by = con.execute(
            "select coalesce(sum(open_findings), 0), coalesce(sum(open_critical), 0), "
            "coalesce(sum(open_high), 0), coalesce(sum(open_over_sla), 0), "
            "coalesce(sum(prs_merged), 0), coalesce(sum(prs_closed_unmerged), 0) "
            "from pixee_marts.repository_scorecard"
        ).fetchone() or (0, 0, 0, 0, 0, 0)
        p50 = common.scalar(
            con,
            "select round(median(hours_detect_to_merge), 1) from pixee_marts.fix_latency "
            "where merged_at is not null",
        )
    opened, critical, high, over_sla, merged, closed = (int(v) for v in open_by)
    decided = merged + closed
    ratio = full.total_requests / incremental.total_requests if incremental.total_requests else float("nan")
    lines += [
        "",
        f"Requests: full sync {full.total_requests:,} ({full.rows:,} rows), "
        f"incremental {incremental.total_requests:,} ({incremental.rows:,} rows): {ratio:.1f}x fewer.",
        "",
        f"From the marts (as of {as_of}):",
        f"  open findings {opened:,} (critical {critical}, high {high}); over their SLA {over_sla:,}",
        f"  Pixee PRs merged {merged:,}, closed unmerged {closed:,}"
        + (f": merge rate {merged / decided:.0%}" if decided else ""),
        f"  median hours from detection to merged fix: {p50 if p50 is not None else 'n/a'}",
        *common.try_it(published.path, EXAMPLE_SQL),
    ]
    return "\n".join(lines)
