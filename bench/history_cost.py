"""What the history tables cost a full sync: measurement 3's organisation, synced with and without them.

`python -m bench.history_cost [--findings N] [--pairs K]`: one simulator process, then K pairs of
full syncs into fresh DuckDB files (without history, then with), each in its own process (peak
RSS and CPU are its own). Prints one JSON line per sync and the medians; docs/benchmarks.md keeps
the numbers ("History tables: cost of a full sync").
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.cli import Sizes
from bench.runs import UNLIMITED_RPM, our_sync, run_isolated
from bench.simproc import SimProcess


def main(argv: list[str] | None = None) -> int:
    sizes = Sizes()
    parser = argparse.ArgumentParser(prog="python -m bench.history_cost")
    parser.add_argument("--findings", type=int, default=sizes.throughput_findings)
    parser.add_argument("--repositories", type=int, default=sizes.throughput_repositories)
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args(argv)
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with SimProcess(args.repositories, args.findings) as sim, tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs):
            for history in (False, True):
                workdir = Path(tmp) / f"{pair}-{'with' if history else 'without'}"
                result = run_isolated(
                    our_sync, sim.base_url, sim.token, str(workdir), UNLIMITED_RPM, 1000, True, history
                )
                line = {
                    "history": history,
                    "wall_seconds": round(result["wall_seconds"], 1),
                    "rows": result["rows"],
                    "rows_per_second": round(result["rows"] / result["wall_seconds"]),
                    "peak_rss_mb": round(result["peak_rss_mb"]),
                    "cpu_seconds": round(result["cpu_seconds"], 1),
                    "history_rows": result["history_rows"],
                }
                print(json.dumps(line), flush=True)
                runs[history].append(line)
    without = statistics.median(r["wall_seconds"] for r in runs[False])
    with_ = statistics.median(r["wall_seconds"] for r in runs[True])
    print(
        json.dumps(
            {
                "median_wall_without": without,
                "median_wall_with": with_,
                "slowdown": round(with_ / without - 1, 3),
                "peak_rss_without": max(r["peak_rss_mb"] for r in runs[False]),
                "peak_rss_with": max(r["peak_rss_mb"] for r in runs[True]),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
