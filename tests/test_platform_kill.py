"""SIGKILL a platform `pixee-etl run` mid-way: the next run resumes within a checkpoint, equal to truth."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.faults_support import etl_env, kill_after_requests, run_etl, start_etl
from tests.platform_support import Served

CHECKPOINT_REQUESTS = 45  # what a kill may cost, in requests (production: a minute at the rate)
RPM, BURST = 1200.0, 3  # a run spends a few seconds requesting, so kills land mid-sync


def findings_pages(stats: dict[str, Any]) -> int:
    return int(stats["by_kind"].get("findings", 0))


def test_sigkill_mid_run_resumes_within_a_checkpoint_and_ends_equal_to_what_was_served(
    simulator: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(api="platform", repositories=12, days=8)
    served = Served()
    served.see(sim.truth())
    env = {"PIXEE_CHECKPOINT_REQUESTS": str(CHECKPOINT_REQUESTS)}

    clean_home = tmp_path / "clean"
    clean_home.mkdir()
    sim.reset_stats()
    clean = run_etl(
        etl_env(sim, clean_home, rpm=60000.0, **env),
        "run", "--no-marts", "--duckdb-path", str(clean_home / "w.duckdb"),
        cwd=clean_home,
    )  # fmt: skip
    assert clean.returncode == 0, clean.stderr[-1500:]
    assert "api: platform" in clean.stdout
    total = sim.stats()["requests_total"]
    one_run = findings_pages(sim.stats())
    assert one_run > 3 * CHECKPOINT_REQUESTS  # the findings alone span several checkpoints

    rng = random.Random(int(os.environ.get("PIXEE_KILL_SEED", "20261204")))
    points = [rng.randrange(total // 4, 3 * total // 4), total - 3]
    refetched: dict[int, int] = {}
    for point in points:
        home = tmp_path / f"kill-{point}"
        home.mkdir()
        db = home / "w.duckdb"
        environ = etl_env(sim, home, rpm=RPM, burst=BURST, **env)
        sim.reset_stats()
        proc = start_etl(environ, "run", "--no-marts", "--duckdb-path", str(db), cwd=home)
        killed, _, _ = kill_after_requests(proc, sim, point)
        assert killed, f"the run ended before its request {point}"
        first = findings_pages(sim.stats())
        sim.reset_stats()
        resumed = run_etl(environ, "run", "--no-marts", "--duckdb-path", str(db), cwd=home)
        assert resumed.returncode == 0, resumed.stderr[-1500:]
        problems = served.differences(db)
        assert not problems, f"killed after {point} requests:\n" + "\n".join(problems)
        refetched[point] = first + findings_pages(sim.stats()) - one_run
    print(
        f"\nplatform kill/resume: {one_run} findings pages a run; SIGKILLs at {points} of {total}: "
        f"re-read {refetched}"
    )
    # A segment is a third of the budget; the one loading and the one read meanwhile, plus the
    # scan being read when the segment filled, are what a kill can cost.
    assert max(refetched.values()) <= CHECKPOINT_REQUESTS, refetched
