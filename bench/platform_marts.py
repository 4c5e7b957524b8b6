"""Marts build time over a platform source: python -m bench.platform_marts [--repositories N] [--days D].

The platform simulator (no rate limit) synced by the connector in full, then once a simulated day
for `--runs` days, into a fresh DuckDB file; then the marts built twice as of the last day (the
first build also creates the tables), each in this process. Prints the raw table sizes, each build's
wall time and the slowest models of the second build (dbt's own timings). Not part of python -m bench.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import duckdb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.platform_marts", description=__doc__)
    parser.add_argument("--repositories", type=int, default=200)
    parser.add_argument("--days", type=int, default=30, help="days of simulated history before the first run")
    parser.add_argument("--runs", type=int, default=3, help="daily incremental runs after the full one")
    args = parser.parse_args(argv)

    from pipelines.load.sync import sync
    from pipelines.settings import Secret, Settings
    from pipelines.transform.dbt_runner import build_marts
    from simulator import SimConfig, Simulator

    work = Path(tempfile.mkdtemp(prefix="bench-platform-marts-"))
    config = SimConfig(
        api="platform", seed=7, repositories=args.repositories, days=args.days, requests_per_minute=None
    )
    with Simulator(config) as sim:
        settings = Settings(
            base_url=sim.base_url,
            token=Secret(sim.org_token),
            requests_per_minute=600_000.0,
            burst=1000,
            duckdb_path=work / "warehouse.duckdb",
        )
        started = time.monotonic()
        report = sync(settings, full_refresh=True, pipelines_dir=str(work / "dlt"))
        print(f"full sync {time.monotonic() - started:.1f} s, {report.rows:,} rows")
        for _ in range(args.runs):
            sim.advance(24)
            report = sync(settings, pipelines_dir=str(work / "dlt"))
        as_of = sim.now.date()
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        for table in ("repositories", "scans", "findings", "findings_history", "analyses", "patches"):
            rows = con.execute(f"select count(*) from pixee.{table}").fetchone()[0]
            print(f"  pixee.{table:<18} {rows:>9,}")
    for build in (1, 2):
        marts = build_marts(report.pipeline, settings, as_of, target_dir=work / "target")
        print(f"build {build}: {marts.summary()}")
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    timings = sorted(
        ((r["execution_time"], r["unique_id"].rsplit(".", 1)[-1]) for r in results), reverse=True
    )
    print(f"models {sum(t for t, _ in timings):.1f} s in all; slowest:")
    for seconds, name in timings[:5]:
        print(f"  {seconds:6.2f} s  {name}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
