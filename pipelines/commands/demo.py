"""`pixee-etl demo`: the simulator on loopback, a full sync, a simulated day, an incremental sync, a tour."""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from pipelines.commands.run import configure_logging
from pipelines.destinations import destination_for
from pipelines.lock import destination_lock
from pipelines.publish.html_report import report_from_pipeline
from pipelines.publish.run_summary import SyncReport
from pipelines.publish.serving import PublishReport
from pipelines.run import RunContext, RunRequest, run_once
from pipelines.settings import Secret, Settings, load_settings

# The simulator and the client share one rate, high enough that the demo takes seconds, paced
# exactly like a real sync (the client's bucket mirrors the server's, so no 429 is expected).
DEMO_RPM = 1200.0
DEMO_BURST = 20
RAW_TABLES = ("repositories", "scans", "findings", "fixes", "fixes__finding_ids", "webhooks")
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


def demo_settings(base_url: str, token: str, duckdb_path: Path) -> Settings:
    """The default profile aimed at the simulator; nothing is read from PIXEE_* variables."""
    settings = load_settings(env={})
    return replace(
        settings,
        base_url=base_url,
        token=Secret(token),
        tier="demo",
        requests_per_minute=DEMO_RPM,
        burst=DEMO_BURST,
        duckdb_path=duckdb_path,
        # Its own dlt working directory, apart from `pixee-etl run`'s.
        pipeline_name="pixee_demo",
    )


def main(args: argparse.Namespace) -> int:
    if getattr(args, "api", "v1") == "platform":
        from pipelines.commands.demo_platform import main as platform_main

        return platform_main(args)
    from simulator import SimConfig, Simulator

    configure_logging()
    config = SimConfig(
        seed=args.seed,
        repositories=args.repositories,
        days=args.days or 120,
        requests_per_minute=DEMO_RPM,
        burst=DEMO_BURST,
    )
    path = Path(args.duckdb_path)
    with Simulator(config) as sim:
        truth = sim.truth()
        print(
            f"A simulated Pixee organisation on {sim.base_url} (seed {args.seed}): "
            f"{len(truth['repositories'])} repositories, {len(truth['scans']):,} scans, "
            f"{len(truth['findings']):,} findings, {len(truth['fixes']):,} fixes.\n"
        )
        settings = demo_settings(sim.base_url, sim.org_token, path)
        destination_for(settings)  # a bad path is one line and exit 2 before the lock writes anything
        with destination_lock(settings, what="pixee-etl demo"):
            context = RunContext(settings, clock=lambda: sim.now, say=lambda text: print(_indent(text)))
            print(f"1. Full sync into {path} at {DEMO_RPM:g} requests/min (burst {DEMO_BURST})")
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
            print(_indent(report.summary()) + "\n")
        # The report line comes before the tour, whose last lines are SQL to paste into the hint.
        print(f"Report: {report.path} (open it in a browser; it needs no network)\n")
        print(tour(published, full.synced, incremental.synced, sim.now.date().isoformat()))
    return 0


def tour(published: PublishReport, full: SyncReport, incremental: SyncReport, as_of: str) -> str:
    """What a newcomer should look at: tables, request counts, a few mart numbers, SQL to try,
    all read from the serving file, the one readers open."""
    path = _shown(published.path)
    lines = [f"What is in {path} now:"]
    with duckdb.connect(str(published.path), read_only=True) as con:
        for table in RAW_TABLES:
            count = _scalar(con, f"select count(*) from pixee.{table}")
            lines.append(f"  pixee.{table:<20} {count:>8,} rows")
        open_by = con.execute(
            "select coalesce(sum(open_findings), 0), coalesce(sum(open_critical), 0), "
            "coalesce(sum(open_high), 0), coalesce(sum(open_over_sla), 0), "
            "coalesce(sum(prs_merged), 0), coalesce(sum(prs_closed_unmerged), 0) "
            "from pixee_marts.repository_scorecard"
        ).fetchone() or (0, 0, 0, 0, 0, 0)
        p50 = _scalar(
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
        "",
        f"Try it: {duckdb_shell(published.path)}",
        _indent(EXAMPLE_SQL),
    ]
    return "\n".join(lines)


def duckdb_shell(path: Path) -> str:
    """The command that opens `path` read-only in the DuckDB CLI installed with pixee-etl (the
    duckdb-cli package puts `duckdb` beside this Python), as a path that works from here."""
    beside = Path(sys.executable).parent / "duckdb"
    cli = str(beside) if beside.exists() else shutil.which("duckdb")
    if cli is None:  # pixee-etl installed without its dependencies
        return f"duckdb -readonly {_shown(path)}   (the DuckDB CLI: pip install duckdb-cli)"
    return f"{_shown(Path(cli))} -readonly {_shown(path)}"


def _shown(path: Path) -> str:
    """The path relative to the current directory when it lies below it, else absolute."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return row[0] if row else None


def _indent(text: str) -> str:
    return "\n".join("   " + line if line else line for line in text.splitlines())
