"""Runs into different destinations at once keep apart: each has its own dlt working directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.load.destinations import destination_key
from pipelines.load.sync import sync
from tests.faults_support import batch_pages, child_pages, etl_env, route_counts, start_etl


def test_two_runs_into_two_duckdb_files_at_once_both_end_equal_to_the_truth(
    simulator: Callable[..., Any], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    # One simulator each, so that each run's requests can be told apart; one user, one dlt data dir.
    sims = [simulator(repositories=4, days=20, seed=seed) for seed in (3, 4)]
    dbs = [tmp_path / "a.duckdb", tmp_path / "b.duckdb"]
    runs = [
        start_etl(
            etl_env(sim, tmp_path, rpm=1200.0, burst=2, batch=2),
            "run",
            "--duckdb-path",
            str(db),
            cwd=tmp_path,
        )
        for sim, db in zip(sims, dbs, strict=True)
    ]
    try:
        # Both are syncing at the same moment (each has sent requests and neither has ended).
        deadline = time.monotonic() + 90
        while not all(sim.stats()["requests_total"] >= 5 for sim in sims):
            for run in runs:
                if run.poll() is not None:
                    raise AssertionError(
                        f"a run ended before both were syncing: {run.communicate()[1][-3000:]}"
                    )
            assert time.monotonic() < deadline, "the runs never overlapped"
            time.sleep(0.01)
        ended = [run.communicate(timeout=180) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.communicate()
    for run, (_, err) in zip(runs, ended, strict=True):
        assert run.returncode == 0, err[-3000:]
    for sim, db in zip(sims, dbs, strict=True):
        assert_matches_truth(sim, db)


def test_a_warehouse_loaded_through_the_old_shared_directory_carries_on_incrementally(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    tmp_path: Path,
) -> None:
    """Before each destination had its own directory, every run used <pipelines dir>/pixee. An
    upgraded user's next run starts a new directory: it must read incrementally, from the state
    in the warehouse, not everything again."""
    sim = simulator(repositories=3, days=20)
    settings = sim_settings(sim)
    base = tmp_path / "pipelines"
    sync(settings, pipelines_dir=str(base))
    # What the old version left: the same pipeline (same name, so the same state in the
    # warehouse) in the shared directory, and nothing in the new one.
    (base / destination_key(settings) / "pixee").rename(base / "pixee")
    (base / destination_key(settings)).rmdir()

    sim.reset_stats()
    report = sync(settings, pipelines_dir=str(base))

    assert sum(batch_pages(sim.truth(), 10)) > 3 * 3  # a full read takes more pages
    assert child_pages(route_counts(sim.stats())) == 3 * 3  # one page per list and repository
    assert not report.warnings
    assert (base / destination_key(settings) / "pixee").is_dir()
    assert_matches_truth(sim, settings.duckdb_path)
