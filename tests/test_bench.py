"""Smoke run of `python -m bench` with tiny organisations, so the benchmark command cannot rot."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from bench.cli import main
from bench.runs import MeasuredChildDied, run_isolated

TINY = [
    "--rate-repositories", "2",
    "--rate-findings", "300",
    "--requests-per-minute", "6000",
    "--latency-ms", "1",
    "--throughput-repositories", "2",
    "--throughput-findings", "500",
]  # fmt: skip


def test_bench_writes_all_four_tables(tmp_path: Path) -> None:
    out, raw = tmp_path / "benchmarks.md", tmp_path / "bench.json"
    # A section measured by hand, kept by name, survives the rewrite.
    by_hand = "<!-- bench.by_hand -->\n## Measured by hand\n| a | b |\n<!-- /bench.by_hand -->"
    out.write_text(f"# old\n\n## 1. Rate-limit utilisation\nstale\n\n{by_hand}\n")
    assert main(["--quick", *TINY, "--output", str(out), "--json", str(raw)]) == 0
    assert by_hand in out.read_text() and "stale" not in out.read_text()

    doc = out.read_text()
    for heading in (
        "## Machine",
        "## 1. Rate-limit utilisation",
        "## 2. Requests spent",
        "## 3. Throughput with no rate limit",
        "## 4. Marts",
        "## Closing note: goals met and missed",
    ):
        assert heading in doc
    for row in (
        "| pixee-etl |",
        "| dlt rest_api (peer) |",
        "| full sync |",
        "| incremental, after a simulated day |",
        "| ceiling: httpx + json, no load |",
        "| pixee-etl sync into DuckDB |",
        "| **all marts: build time** |",
    ):
        assert row in doc
    assert "nan" not in doc.lower().split()

    results = json.loads(raw.read_text())
    rate = results["rate"]
    # Both clients read the whole organisation: the same rows as the simulator serves.
    served = sum(rate["org"][kind] for kind in ("repositories", "webhooks", "fixes", "scans", "findings"))
    assert rate["ours"]["rows"] == rate["peer"]["rows"] == served
    assert results["throughput"]["ours"]["rows"] == results["throughput"]["ceiling"]["rows"]
    assert set(results["throughput"]["marts"]["rows"]) >= {"backlog_daily", "repository_scorecard"}


def test_only_a_full_run_writes_the_published_benchmarks() -> None:
    """A --quick (or resized) run must not overwrite the tracked docs/benchmarks.md."""
    from bench.cli import PUBLISHED, QUICK, SCRATCH, Sizes, default_output

    assert default_output(Sizes()) == PUBLISHED
    assert default_output(QUICK) == SCRATCH / "benchmarks-quick.md"
    assert default_output(Sizes(throughput_findings=10)) == SCRATCH / "benchmarks-custom.md"
    assert PUBLISHED.name == "benchmarks.md" and "out" in SCRATCH.parts


def _killed_mid_measurement() -> dict[str, object]:
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def _raises_mid_measurement() -> dict[str, object]:
    raise ValueError("the organisation was empty")


def test_a_measurement_whose_process_dies_says_how_and_one_that_raises_raises_it() -> None:
    with pytest.raises(
        MeasuredChildDied, match=r"_killed_mid_measurement died without a result \(signal SIGKILL\)"
    ):
        run_isolated(_killed_mid_measurement)
    with pytest.raises(ValueError, match="the organisation was empty"):
        run_isolated(_raises_mid_measurement)
