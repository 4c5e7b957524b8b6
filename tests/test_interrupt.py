"""Ctrl-C or SIGTERM during `pixee-etl run`: exit 130/143, one line, no traceback, lock let go, next run
resumes to the truth."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines.settings import REPO_ROOT
from tests.faults_support import batch_pages, child_pages, etl_env, route_counts, run_etl, start_etl

LINE = "pixee-etl run: interrupted; committed progress kept; the next run resumes"


def _assert_interrupted(returncode: int, stderr: str, signum: int) -> None:
    assert returncode == 128 + signum, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == LINE, stderr[-2000:]
    assert "Traceback" not in stderr and "PipelineStepFailed" not in stderr, stderr[-4000:]


def test_sigterm_mid_sync_exits_143_in_one_line_and_the_next_run_resumes(
    simulator: Callable[..., Any], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    """SIGTERM (what a scheduler or `kill` sends) while the sync reads; a Ctrl-C that lands outside
    dlt is a plain KeyboardInterrupt, the same unwinding (and one that lands inside is the next test)."""
    signum = signal.SIGTERM
    sim = simulator(repositories=6, days=30)
    db = tmp_path / "warehouse.duckdb"
    # 20 requests a second, 2 repositories a batch: the sync is still reading when the signal comes.
    slow = etl_env(sim, tmp_path, rpm=1200.0, burst=2, batch=2)
    run = start_etl(slow, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        # Past the repositories and well into the repositories' lists (a full read is ~40 pages).
        while sim.stats()["requests_total"] < 15:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.01)
        assert run.poll() is None, "the run ended before the signal"
        run.send_signal(signum)
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    _assert_interrupted(run.returncode, stderr, signum)

    # The lock went with the process: a run without --wait gets it, and ends equal to the truth.
    sim.reset_stats()
    done = run_etl(etl_env(sim, tmp_path), "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_matches_truth(sim, db)


def test_ctrl_c_inside_dlts_load_exits_130_in_one_line_and_the_next_run_resumes(
    simulator: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    tmp_path: Path,
) -> None:
    """A Ctrl-C while dlt loads (sent from its copy job) comes out of the load wrapped in dlt's
    PipelineStepFailed: still one line and 130, and the package it left is loaded next time."""
    sim = simulator(repositories=4, days=30)
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, batch=2)
    killed = run_etl(
        {**env, "PIXEE_TEST_KILL_AFTER_COPY": "findings", "PIXEE_TEST_KILL_SIGNAL": "INT"},
        "run",
        "--duckdb-path",
        str(db),
        cwd=tmp_path,
    )
    _assert_interrupted(killed.returncode, killed.stderr, signal.SIGINT)

    sim.reset_stats()
    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_matches_truth(sim, db)
    # The batch being loaded was kept (its package is loaded first): not everything is read again.
    assert child_pages(route_counts(sim.stats())) < sum(batch_pages(sim.truth(), 2))


# A command whose work is one long DuckDB query, as the tail of dlt's load or the marts' dbt run is.
# DuckDB answers a signal that lands mid-query by raising `RuntimeError: Query interrupted` in place
# of the KeyboardInterrupt our handler raised: the exception that reaches the CLI no longer says it.
_SIGNAL_MID_QUERY = """
import os, signal, sys, threading, types
from pipelines import cli

SIGNUM = signal.Signals[sys.argv[1]]
command = types.ModuleType("long_query")
command.add_arguments = lambda parser: None

def main(args):
    import duckdb
    connection = duckdb.connect()
    threading.Timer(0.5, os.kill, (os.getpid(), SIGNUM)).start()
    connection.sql("select count(*) from range(100000000000) a").fetchall()
    return 0

command.main = main
sys.modules["long_query"] = command
cli.COMMANDS["run"] = ("long_query", "")
sys.argv[1:] = ["run"]
sys.exit(cli.main())
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_that_duckdb_turns_into_query_interrupted_still_exits_in_one_line(
    signum: signal.Signals, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_MID_QUERY, signum.name],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    _assert_interrupted(done.returncode, done.stderr, signum)
