"""Two `pixee-etl run` on one DuckDB file never run at once: the second names the holder, or waits."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines.load.lock import destination_lock, lock_path
from tests.faults_support import etl_env, run_etl, start_etl


def test_second_run_is_refused_and_names_the_holder(
    simulator: Callable[..., Any], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    sim = simulator(repositories=3, days=10)
    db = tmp_path / "warehouse.duckdb"
    # One request a second: the first run is still syncing when the second has come and gone.
    env = etl_env(sim, tmp_path, rpm=60.0, burst=1)
    first = start_etl(env, "run", "--duckdb-path", str(db), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while sim.stats()["requests_total"] < 1:  # the lock is taken before the first request
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never sent a request"
            time.sleep(0.01)
        second = run_etl(env, "run", "--duckdb-path", str(db), cwd=tmp_path)
        assert first.poll() is None, "the first run ended before the second tried the lock"
    finally:
        first.kill()  # SIGKILL: what a crash does to the holder
        first.communicate()

    assert second.returncode != 0
    message = second.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f'"pid": {first.pid}' in message and "--wait" in message
    assert "held by" in message
    assert second.stdout == ""

    # The kernel dropped the killed run's lock: the next run gets it and finishes the sync.
    done = run_etl(etl_env(sim, tmp_path), "run", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_matches_truth(sim, db)


def test_wait_starts_once_the_holder_lets_go(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=2, days=5)
    settings = sim_settings(sim)
    env = etl_env(sim, tmp_path)
    with destination_lock(settings, what="test holder"):
        holder = json.loads(lock_path(settings).read_text())
        assert holder["what"] == "test holder"
        waiting = start_etl(env, "run", "--wait", "--duckdb-path", str(settings.duckdb_path), cwd=tmp_path)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in waiting.stderr], daemon=True).start()  # type: ignore[union-attr]
        # It says once that it waits, and for whom; until the lock is free it sends no request.
        said = lines.get(timeout=120)
        assert f"waiting for test holder (pid {os.getpid()} on " in said, said
        assert f"to release {lock_path(settings)}" in said
        assert waiting.poll() is None
        assert sim.stats()["requests_total"] == 0
    assert waiting.wait(timeout=120) == 0
    # The next thing it says: when it got the lock, and after how long.
    got = lines.get(timeout=30)
    assert f"got the lock on {lock_path(settings)} after waiting " in got, got
    assert_matches_truth(sim, settings.duckdb_path)


def test_a_duckdb_file_held_open_elsewhere_fails_in_one_line_naming_the_holder(
    simulator: Callable[..., Any], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    """Not our lock but DuckDB's: an analyst's session holding the file for writing."""
    sim = simulator(repositories=2, days=5)
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path)
    session = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('open', flush=True); "
            "time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert session.stdout is not None and session.stdout.readline().strip() == "open"
        refused = run_etl(env, "run", "--duckdb-path", str(db), cwd=tmp_path)
        rebuild = run_etl(env, "marts", "--duckdb-path", str(db), cwd=tmp_path)
    finally:
        session.kill()
        session.communicate()
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith(f"pixee-etl run: DuckDB file {db} is open in another process")
    assert f"PID {session.pid}" in line
    assert f"serving file {db.with_name('warehouse.serving.duckdb')} (read-only)" in line
    assert len(line) < 200 + len(str(db)) * 2, line  # DuckDB's own was 690 characters
    assert sim.stats()["requests_total"] == 0  # refused before anything was read
    # `pixee-etl marts` too (it printed dlt's traceback): the same line, exit 1
    assert rebuild.returncode == 1
    assert rebuild.stderr.strip() == line.replace("pixee-etl run:", "pixee-etl marts:", 1)

    done = run_etl(env, "run", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-1500:]
    assert_matches_truth(sim, db)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["dbt", "test"], "run the same `pixee-etl dbt` command again once it has ended"),
        (["marts"], "run `pixee-etl marts` again once it has ended"),
    ],
    ids=["dbt", "marts"],
)
def test_a_command_without_wait_is_never_told_to_pass_it(
    handmade_warehouse: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    from pipelines.cli import main
    from pipelines.settings import load_settings

    db = tmp_path / "warehouse.duckdb"
    db.write_bytes(handmade_warehouse.read_bytes())
    settings = load_settings(duckdb_path=str(db), env={})
    with destination_lock(settings, what="test holder"):
        code = main([argv[0], "--duckdb-path", str(db), *argv[1:]])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1, err
    assert "held by" in err and says in err
    assert "pass --wait" not in err  # dbt and marts refuse a --wait flag
