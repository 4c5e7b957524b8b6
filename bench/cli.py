"""`python -m bench`: run the four measurements in one process tree; a full run writes docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine
from bench.history_cost import kept_section
from bench.minimum import minimum_requests
from bench.report import render
from bench.runs import (
    UNLIMITED_RPM,
    ceiling_fetch,
    marts_build,
    our_sync,
    peer_sync,
    profiled_sync,
    run_isolated,
)
from bench.simproc import SimProcess

REPO_ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = REPO_ROOT / "docs" / "benchmarks.md"
SCRATCH = REPO_ROOT / "bench" / "out"  # git-ignored
PROFILE_MAX_FINDINGS = 100_000


@dataclass
class Sizes:
    """How big each organisation is and how the rate-limited server behaves."""

    rate_repositories: int = 100
    rate_findings: int = 150_000  # ~1,950 requests: a little over 3 minutes at 600/min
    requests_per_minute: float = 600.0
    burst: int = 10
    latency_ms: float = 200.0
    throughput_repositories: int = 200
    throughput_findings: int = 1_000_000


QUICK = Sizes(
    rate_repositories=10, rate_findings=5_000, throughput_repositories=20, throughput_findings=30_000
)


def default_output(sizes: Sizes) -> Path:
    """Only a run at the published sizes replaces the tracked docs/benchmarks.md; a --quick or
    resized run goes to bench/out/, so iterating never overwrites the published figures."""
    if sizes == Sizes():
        return PUBLISHED
    return SCRATCH / ("benchmarks-quick.md" if sizes == QUICK else "benchmarks-custom.md")


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def _settle(sim: SimProcess, burst: int, requests_per_minute: float) -> None:
    """Let the server's bucket fill back to its burst, then zero its counters, before a run."""
    time.sleep(burst / (requests_per_minute / 60.0) + 1.0)
    sim.reset_stats()


def _with_server(result: dict[str, Any], sim: SimProcess) -> dict[str, Any]:
    stats = sim.stats()
    result["server_requests"] = stats["requests_total"]
    result["server_429"] = stats["rate_limited"]
    result["server_peak_concurrent"] = stats["peak_concurrent"]
    return result


def rate_and_requests(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    """Measurements 1 and 2 on one rate-limited organisation: ours, the peer, then incrementals."""
    out: dict[str, Any] = {}
    with SimProcess(
        sizes.rate_repositories,
        sizes.rate_findings,
        requests_per_minute=sizes.requests_per_minute,
        burst=sizes.burst,
        latency_ms=sizes.latency_ms,
    ) as sim:
        truth = sim.truth()
        out["org"] = {kind: len(rows) for kind, rows in truth.items()}
        out["minimum"] = minimum_requests(truth)
        del truth
        ours_dir, peer_dir = workdir / "rate-ours", workdir / "rate-peer"
        args = (sim.base_url, sim.token, str(ours_dir), sizes.requests_per_minute, sizes.burst)
        _settle(sim, sizes.burst, sizes.requests_per_minute)
        log(f"1. full sync (ours), minimum {sum(out['minimum'].values())} requests")
        out["ours"] = _with_server(run_isolated(our_sync, *args, True), sim)
        _settle(sim, sizes.burst, sizes.requests_per_minute)
        log("1. full sync (peer: dlt rest_api)")
        out["peer"] = _with_server(run_isolated(peer_sync, sim.base_url, sim.token, str(peer_dir)), sim)
        _settle(sim, sizes.burst, sizes.requests_per_minute)
        log("2. incremental sync, nothing changed")
        out["no_change"] = _with_server(run_isolated(our_sync, *args, False), sim)
        out["advanced"] = sim.advance(24)
        _settle(sim, sizes.burst, sizes.requests_per_minute)
        log("2. incremental sync after a simulated day")
        out["day"] = _with_server(run_isolated(our_sync, *args, False), sim)
    return out


def throughput_and_marts(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    """Measurements 3 and 4 on one large organisation with no rate limit."""
    out: dict[str, Any] = {}
    ours_dir = workdir / "throughput"
    log(f"3. generating {sizes.throughput_findings:,} findings in the simulator")
    with SimProcess(sizes.throughput_repositories, sizes.throughput_findings) as sim:
        out["simulator_generate_peak_rss_mb"] = sim.peak_rss_mb()
        for name, fn, args in (
            ("ceiling", ceiling_fetch, (sim.base_url, sim.token)),
            ("ours", our_sync, (sim.base_url, sim.token, str(ours_dir), UNLIMITED_RPM, 1000, True)),
        ):
            log(f"3. {name}")
            sim.reset_stats()
            cpu_before = sim.cpu_seconds()
            result = _with_server(run_isolated(fn, *args), sim)
            result["server_cpu_seconds"] = sim.cpu_seconds() - cpu_before
            out[name] = result
        out["simulator_peak_rss_mb"] = sim.peak_rss_mb()
        log("4. marts")
        out["marts"] = run_isolated(marts_build, sim.base_url, sim.token, str(ours_dir))
    # A smaller organisation for the cProfile run: the profiler's overhead makes its time no
    # measurement, only its proportions are reported.
    findings = min(PROFILE_MAX_FINDINGS, max(1, sizes.throughput_findings // 5))
    repositories = max(1, sizes.throughput_repositories // 5)
    log(f"3. cProfile of the loader thread on {findings:,} findings")
    with SimProcess(repositories, findings) as sim:
        profiled = run_isolated(profiled_sync, sim.base_url, sim.token, str(workdir / "profile"))
    out["profile_run"] = {**profiled, "findings": findings, "repositories": repositories}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small organisations (about a minute)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where the report goes (default: docs/benchmarks.md for a full run, else bench/out/)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    parser.add_argument("--workdir", type=Path, default=None, help="keep DuckDB files here (default: temp)")
    sizing = parser.add_argument_group("sizes (override the default or --quick ones)")
    for field, value in asdict(Sizes()).items():
        sizing.add_argument(f"--{field.replace('_', '-')}", type=type(value), default=None)
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else Sizes()
    sizes = Sizes(
        **{**asdict(sizes), **{k: v for k, v in vars(args).items() if k in asdict(sizes) and v is not None}}
    )
    output: Path = args.output or default_output(sizes)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pixee-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"code": machine.code_state(REPO_ROOT), **machine.describe()},
        "sizes": asdict(sizes),
        "quick": args.quick,
    }
    try:
        results["rate"] = rate_and_requests(sizes, workdir)
        results["throughput"] = throughput_and_marts(sizes, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results["bench_seconds"] = time.monotonic() - started
    results["machine"]["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    output.parent.mkdir(parents=True, exist_ok=True)
    # bench.history_cost and bench.publish write sections of their own; a full bench run keeps them.
    text = render(results) + kept_section(output)
    from bench.publish import carry_section, existing_section  # it imports this module

    kept = existing_section(output.read_text()) if output.exists() else None
    output.write_text(carry_section(text, kept) if kept else text)  # bench.publish's own section
    log(f"wrote {output} in {results['bench_seconds']:.0f} s")
    return 0
