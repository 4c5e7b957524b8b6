"""SIGKILL `pixee-etl run` at seeded random points; the next run resumes and ends equal to the truth."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipelines.load.destinations import destination_key
from pipelines.load.sync import sync
from pipelines.settings import Settings
from tests.faults_support import (
    batch_pages,
    child_pages,
    etl_env,
    kill_after_requests,
    refetched_pages,
    route_counts,
    run_etl,
    start_etl,
)

BATCH = 2  # repositories per checkpoint: 6 repositories make 3 batches
KILL_POINTS = 4
# Slow enough that a run spends a few seconds requesting (so kills land mid-sync), fast enough
# that the test stays short.
RPM, BURST = 1200.0, 3


def kill_then_resume(
    sim: Any, home: Path, point: int, batch: int | None = None, **env: str
) -> tuple[Path, dict[str, int], subprocess.CompletedProcess[str]]:
    """SIGKILL a `run` after `point` requests, then run again: (the DuckDB file, requests per
    route of the killed run, the resumed run); the simulator's stats then hold the resumed run's."""
    home.mkdir()
    db = home / "warehouse.duckdb"
    environ = etl_env(sim, home, rpm=RPM, burst=BURST, batch=batch, **env)
    sim.reset_stats()
    proc = start_etl(environ, "run", "--no-marts", "--duckdb-path", str(db), cwd=home)
    killed, _, _ = kill_after_requests(proc, sim, point)
    assert killed, f"the run ended before its request {point}"
    first = route_counts(sim.stats())
    sim.reset_stats()
    return db, first, run_etl(environ, "run", "--no-marts", "--duckdb-path", str(db), cwd=home)


def test_sigkill_at_random_points_resumes_to_truth_refetching_at_most_one_batch(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=6, days=30)
    truth = sim.truth()
    full = batch_pages(truth, BATCH)
    n_repos = len(truth["repositories"])
    sizes = [min(BATCH, n_repos - i) for i in range(0, n_repos, BATCH)]
    one_batch = max(full)

    # What an uninterrupted full run and the incremental run after it request.
    settings = replace(sim_settings(sim), duckdb_path=tmp_path / "clean.duckdb")
    sim.reset_stats()
    sync(settings, pipelines_dir=str(tmp_path / "clean-dlt"), batch_repositories=BATCH)
    clean = route_counts(sim.stats())
    sim.reset_stats()
    sync(settings, pipelines_dir=str(tmp_path / "clean-dlt"), batch_repositories=BATCH)
    incremental = child_pages(route_counts(sim.stats()))
    assert child_pages(clean) == sum(full)
    assert incremental == 3 * n_repos  # one page per list and repository when nothing changed
    total = sum(clean.values())

    # PIXEE_KILL_SEED explores other kill points (the default keeps the suite reproducible).
    rng = random.Random(int(os.environ.get("PIXEE_KILL_SEED", "20261128")))
    # One seeded point in each stretch of the run, and one after its last request (the last load).
    edges = [2 + (total - 2) * i // (KILL_POINTS - 1) for i in range(KILL_POINTS)]
    points = [*(rng.randrange(lo, hi) for lo, hi in itertools.pairwise(edges)), total]
    refetched: dict[int, int] = {}
    failures: list[str] = []
    for point in points:
        db, first, resumed = kill_then_resume(sim, tmp_path / f"kill-{point}", point, batch=BATCH)
        if resumed.returncode != 0:
            known = "normalize/extracted" in resumed.stderr  # the commit-window test below
            failures.append(
                f"killed after {point} requests: the next run failed"
                f"{' (dlt commit window, see the test below)' if known else ''}: {resumed.stderr[-600:]}"
            )
            continue
        try:
            assert_matches_truth(sim, db)
        except AssertionError as exc:
            failures.append(f"killed after {point} requests: warehouse != truth: {exc}")
            continue

        # Pages of repositories' lists read twice: the killed run's work that was not committed.
        committed, refetched[point] = refetched_pages(
            child_pages(first), child_pages(route_counts(sim.stats())), full, sizes, 3
        )
        if refetched[point] > one_batch:
            failures.append(
                f"killed after {point} requests ({committed} batches committed): {refetched[point]} "
                f"pages re-fetched, more than one batch ({one_batch} pages)"
            )

    worst = max(refetched.values(), default=None)
    print(
        f"\nkill/resume: {len(points)} SIGKILLs at requests {points} of {total}; pages re-fetched "
        f"{refetched}; worst case {worst} (a batch is {full} pages)"
    )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("twin", [True, False], ids=["half-deleted-after-commit", "unknown-corruption"])
def test_a_kill_inside_dlts_commit_window_does_not_block_the_next_run(
    simulator: Callable[..., Any], assert_matches_truth: Callable[..., None], tmp_path: Path, twin: bool
) -> None:
    """dlt renames a normalized package into place, then deletes its extracted copy ("Committing
    storage, do not kill this process"). A SIGKILL inside that delete leaves an extracted package
    without its files (seen in the random kills above); made here by hand, once beside its
    committed twin as a kill leaves it, once alone (files dlt cannot read, whatever the cause)."""
    sim = simulator(repositories=2, days=5)
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path)
    assert run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path).returncode == 0
    working = tmp_path / "dlt" / "pipelines" / destination_key(Settings(duckdb_path=db)) / "pixee"
    load_id = max(p.name for p in (working / "load" / "loaded").iterdir()) if twin else "1795895025.6718016"
    leftover = working / "normalize" / "extracted" / load_id
    leftover.mkdir(parents=True)
    (leftover / "load_package_state.json").write_text("{}")
    sim.advance(24)

    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert done.returncode == 0, done.stderr[-1500:]
    assert_matches_truth(sim, db)
    assert not leftover.exists()


@pytest.mark.parametrize("table", ["fixes", "webhooks"])  # a merge table, a replace table
def test_a_kill_between_a_copy_and_its_record_loads_nothing_twice(
    simulator: Callable[..., Any], assert_matches_truth: Callable[..., None], tmp_path: Path, table: str
) -> None:
    """dlt re-runs a load job it did not record as done. A kill right after DuckDB committed a
    copy into a merge table's staging table (or the state table) must still end with one row
    per object and the state matching the rows."""
    sim = simulator(repositories=4, days=10)
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, batch=2)
    killed = run_etl(
        {**env, "PIXEE_TEST_KILL_AFTER_COPY": table},
        "run",
        "--no-marts",
        "--duckdb-path",
        str(db),
        cwd=tmp_path,
    )
    assert killed.returncode == -9, killed.stderr[-1500:]

    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert done.returncode == 0, done.stderr[-1500:]
    assert_matches_truth(sim, db)


def test_a_full_refresh_killed_midway_is_finished_by_the_next_plain_run(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    tmp_path: Path,
) -> None:
    """--full-refresh drops the raw tables and the state in its first load; a kill after that
    leaves a half-filled warehouse whose state says which repositories still need a full read."""
    sim = simulator(repositories=6, days=30)
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, rpm=RPM, burst=BURST, batch=BATCH)
    settings = replace(sim_settings(sim), duckdb_path=db)
    sync(settings, pipelines_dir=str(tmp_path / "dlt" / "pipelines"), batch_repositories=BATCH)
    sim.advance(12)
    sim.reset_stats()
    proc = start_etl(env, "run", "--no-marts", "--full-refresh", "--duckdb-path", str(db), cwd=tmp_path)
    killed, _, _ = kill_after_requests(proc, sim, 12)  # past the first batch, before the last
    assert killed

    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert done.returncode == 0, done.stderr[-1500:]
    assert_matches_truth(sim, db)


CHECKPOINT_REQUESTS = 45  # what a kill may cost, in requests (production: a minute at the rate)


def test_sigkill_in_a_few_large_repositories_refetches_at_most_a_checkpoint(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    tmp_path: Path,
) -> None:
    """Three large repositories are one batch: without checkpoints inside a repository, a kill
    near its end re-read everything. Segments commit every third of checkpoint_requests."""
    sim = simulator(repositories=3, days=30, findings=6000)
    truth = sim.truth()
    [one_batch] = batch_pages(truth, 10)
    settings = replace(
        sim_settings(sim), duckdb_path=tmp_path / "clean.duckdb", checkpoint_requests=CHECKPOINT_REQUESTS
    )
    sim.reset_stats()
    clean_report = sync(settings, pipelines_dir=str(tmp_path / "clean-dlt"))
    clean = route_counts(sim.stats())
    assert child_pages(clean) == one_batch
    assert clean_report.checkpoints >= 3, one_batch  # one batch, committed in several segments
    total = sum(clean.values())

    rng = random.Random(int(os.environ.get("PIXEE_KILL_SEED", "20261201")))
    # One seeded point mid-way, and one near the end, where a batch-only checkpoint lost all.
    points = [rng.randrange(total // 3, 2 * total // 3), total - 3]
    refetched: dict[int, int] = {}
    failures: list[str] = []
    for point in points:
        home = tmp_path / f"kill-{point}"
        db, killed_run, resumed = kill_then_resume(
            sim, home, point, PIXEE_CHECKPOINT_REQUESTS=str(CHECKPOINT_REQUESTS)
        )
        first = child_pages(killed_run)
        if resumed.returncode != 0:
            failures.append(f"killed after {point} requests: the next run failed: {resumed.stderr[-600:]}")
            continue
        try:
            assert_matches_truth(sim, db)
        except AssertionError as exc:
            failures.append(f"killed after {point} requests: warehouse != truth: {exc}")
            continue
        # Pages read by both runs beyond what one uninterrupted run reads: the kill's cost
        # (including one look-back page for each list the killed run had committed).
        refetched[point] = first + child_pages(route_counts(sim.stats())) - one_batch

    worst = max(refetched.values(), default=None)
    print(
        f"\nkill/resume, 3 large repositories in one batch of {one_batch} pages, checkpoint_requests "
        f"{CHECKPOINT_REQUESTS}: SIGKILLs at requests {points} of {total}; pages re-fetched {refetched}; "
        f"worst case {worst}"
    )
    assert not failures, "\n".join(failures)
    # The budget, plus one look-back page for each of the 9 lists and the 8 reading threads' requests.
    assert worst is not None and worst <= CHECKPOINT_REQUESTS + 9 + 8 < one_batch, refetched
