"""What the history tables cost a full sync: measurement 3's organisation, synced with and without them.

`python -m bench.history_cost [--findings N] [--pairs K]`: one simulator process, then K pairs of
full syncs into fresh DuckDB files (without history, then with), each in its own process (peak
RSS and CPU are its own). Prints one JSON line per sync and the medians; docs/benchmarks.md keeps
the numbers ("History tables: cost of a full sync").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.runs import UNLIMITED_RPM, our_sync, run_isolated
from bench.simproc import SimProcess
from pipelines.settings import REPO_ROOT

BEGIN, END = "<!-- bench.history_cost -->", "<!-- /bench.history_cost -->"
DOC = REPO_ROOT / "docs" / "benchmarks.md"


def kept_section(path: Path) -> str:
    """Every kept section of an existing benchmarks file ("" if none): this measurement's and the
    hand-measured ones, each between `<!-- bench.NAME -->` and `<!-- /bench.NAME -->`, so that
    `python -m bench`, which rewrites the file, keeps them."""
    text = path.read_text() if path.exists() else ""
    blocks = re.finditer(r"<!-- bench\.([\w.]+) -->.*?<!-- /bench\.\1 -->", text, flags=re.DOTALL)
    return "".join("\n" + block.group(0) + "\n" for block in blocks)


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{section.strip()}\n{END}"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def render(lines: list[dict[str, Any]], summary: dict[str, Any], findings: int, repositories: int) -> str:
    rows = [
        f"| {'with' if r['history'] else 'without'} | {r['wall_seconds']:.1f} | {r['rows']:,} | "
        f"{r['rows_per_second']:,} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']} | "
        f"{sum(r['history_rows'].values()):,} |"
        for r in lines
    ]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "\n".join(
        [
            "## History tables: cost of a full sync",
            f"`python -m bench.history_cost` at {datetime.now(UTC):%Y-%m-%d %H:%M UTC}: measurement 3's "
            f"organisation ({findings:,} findings in {repositories} repositories, no rate limit), full "
            "syncs into fresh DuckDB files without and with the history tables, alternating, each in "
            f"its own process. Load average at the end: {load} (the machine was shared: wall times "
            "are noisy, the CPU seconds of the syncing process less so).",
            "",
            "| history | wall s | rows | rows/s | CPU s | peak RSS MB | history rows |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Median wall time: {summary['median_wall_without']:.1f} s without, "
            f"{summary['median_wall_with']:.1f} s with history: **{summary['slowdown']:+.1%}** "
            f"(goal: at most +20%); CPU {summary['cpu_without']:.1f} s -> {summary['cpu_with']:.1f} s "
            f"({summary['cpu_slowdown']:+.1%}); peak RSS {summary['peak_rss_without']} MB -> "
            f"{summary['peak_rss_with']} MB.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    from bench.cli import Sizes  # here: bench.cli imports this module

    sizes = Sizes()
    parser = argparse.ArgumentParser(prog="python -m bench.history_cost")
    parser.add_argument("--findings", type=int, default=sizes.throughput_findings)
    parser.add_argument("--repositories", type=int, default=sizes.throughput_repositories)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--write", action="store_true", help=f"write the section into {DOC}")
    args = parser.parse_args(argv)
    lines: list[dict[str, Any]] = []
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
                lines.append(line)
    without = statistics.median(r["wall_seconds"] for r in runs[False])
    with_ = statistics.median(r["wall_seconds"] for r in runs[True])
    cpu_without = statistics.median(r["cpu_seconds"] for r in runs[False])
    cpu_with = statistics.median(r["cpu_seconds"] for r in runs[True])
    summary = {
        "median_wall_without": without,
        "median_wall_with": with_,
        "slowdown": round(with_ / without - 1, 3),
        "cpu_without": cpu_without,
        "cpu_with": cpu_with,
        "cpu_slowdown": round(cpu_with / cpu_without - 1, 3),
        "peak_rss_without": max(r["peak_rss_mb"] for r in runs[False]),
        "peak_rss_with": max(r["peak_rss_mb"] for r in runs[True]),
    }
    print(json.dumps(summary))
    if args.write:
        write_section(DOC, render(lines, summary, args.findings, args.repositories))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
