"""Hostile nights for the sync's state: a transient 404, a row from the future, a half-loaded
batch, a package DuckDB cannot load, `--details` on an existing warehouse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.errors import DestinationError, IncompleteSyncError
from pipelines.load.sync import DUCKDB_GLOBAL_CONFIG, sync
from tests.faults_support import etl_env, run_etl

Check = Callable[..., None]


def cursors(db: Path) -> dict[str, Any]:
    """The per-repository cursors of the newest committed state in the warehouse."""
    import base64
    import json
    import zlib

    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "select s.state from pixee._dlt_pipeline_state s join pixee._dlt_loads l "
            "on l.load_id = s._dlt_load_id where l.status = 0 order by l.load_id desc limit 1"
        ).fetchone()
    assert row is not None
    state = json.loads(zlib.decompress(base64.b64decode(row[0])))
    return dict(state["sources"]["pixee"]["repos"])


def repo_rows(db: Path, table: str, repository_id: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(f"select count(*) from pixee.{table} where repository_id = ?", [repository_id])
        return int(row.fetchone()[0])  # type: ignore[index]


def test_a_transient_404_on_a_list_keeps_the_repository_and_fails_that_list_for_the_run(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=3, days=20)
    repo = sorted(r["id"] for r in sim.truth()["repositories"])[1]
    settings = sim_settings(sim)
    dlt_dir = str(tmp_path / "dlt")
    sync(settings, pipelines_dir=dlt_dir)
    before = cursors(settings.duckdb_path)[repo]["findings"]
    sim.advance(48)  # the repository's own updated_at stays old; its findings change
    sim.inject("http_404", path_prefix=f"/repositories/{repo}/findings", count=1)

    with pytest.raises(IncompleteSyncError) as failed:
        sync(settings, pipelines_dir=dlt_dir)

    report = failed.value.report
    assert str(failed.value).startswith("1 list(s) not read this run: ")
    assert f"/repositories/{repo}/findings answered 404" in str(failed.value)
    assert "the repository itself still answers" in str(failed.value)
    assert report.vanished_repositories == []  # type: ignore[attr-defined]
    # The findings cursor stayed; the repository and its other lists moved on.
    after = cursors(settings.duckdb_path)
    assert after[repo]["findings"] == before
    assert set(after[repo]) == {"fixes", "scans", "findings"}

    sync(settings, pipelines_dir=dlt_dir)  # the 404 passed: the next run reads it again
    assert_matches_truth(sim, settings.duckdb_path)


def test_a_transient_404_ends_run_with_one_line_after_the_summary(
    simulator: Callable[..., Any], assert_matches_truth: Check, tmp_path: Path
) -> None:
    sim = simulator(repositories=2, days=10)
    repo = sorted(r["id"] for r in sim.truth()["repositories"])[0]
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path)
    sim.inject("http_404", path_prefix=f"/repositories/{repo}/scans", count=1)

    failed = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert failed.returncode == 1, failed.stderr[-2000:]
    assert "Traceback" not in failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("pixee-etl run: 1 list(s) not read this run: /api/v1/repositories/"), last
    assert "failed: " in failed.stdout  # the summary was printed, naming the list
    assert repo_rows(db, "findings", repo) > 0  # its other lists loaded

    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_matches_truth(sim, db)


def test_a_confirmed_vanish_drops_cursors_but_no_rows_and_is_reported(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(repositories=3, days=20)
    repo = sorted(r["id"] for r in sim.truth()["repositories"])[2]
    settings = sim_settings(sim)
    dlt_dir = str(tmp_path / "dlt")
    sync(settings, pipelines_dir=dlt_dir)
    loaded = {t: repo_rows(settings.duckdb_path, t, repo) for t in ("scans", "findings", "fixes")}
    sim.delete("repositories", repo)
    sim.reset_stats()

    report = sync(settings, pipelines_dir=dlt_dir)

    assert report.vanished_repositories == [repo]
    assert report.failures == []
    assert any(f"repository {repo} vanished" in w for w in report.warnings)
    assert sim.stats()["by_route"]["GET /repositories/{id}"] == {"404": 1}  # asked once, not per list
    assert repo not in cursors(settings.duckdb_path)
    assert {t: repo_rows(settings.duckdb_path, t, repo) for t in loaded} == loaded


def test_a_row_from_the_future_is_loaded_reported_and_does_not_freeze_the_cursor(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=2, days=20)
    truth = sim.truth()
    repo = sorted(r["id"] for r in truth["repositories"])[0]
    mine = sorted(f["id"] for f in truth["findings"] if f["repository_id"] == repo)
    settings = sim_settings(sim)
    dlt_dir = str(tmp_path / "dlt")
    sync(settings, pipelines_dir=dlt_dir)
    sim.update("findings", mine[0], stamped_at=sim.now + timedelta(hours=1), title="stamped an hour ahead")

    skewed = sync(settings, pipelines_dir=dlt_dir)

    assert_matches_truth(sim, settings.duckdb_path)  # the future row is loaded
    [warning] = [w for w in skewed.warnings if w.startswith("clock skew")]
    assert f"1 row(s) of findings of {repo}" in warning
    hwm = datetime.fromisoformat(cursors(settings.duckdb_path)[repo]["findings"]["hwm"])
    assert hwm <= sim.now + timedelta(seconds=1)

    # Ten minutes later another finding changes: an uncapped cursor (an hour ahead) would hide it.
    sim.advance(10 / 60)
    sim.update("findings", mine[1], title="changed after the skewed one")
    later = sync(settings, pipelines_dir=dlt_dir)
    assert_matches_truth(sim, settings.duckdb_path)
    assert not [w for w in later.warnings if w.startswith("clock skew")]  # reported once, not each run


def test_a_load_past_duckdbs_memory_cap_is_retried_with_more_memory(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sync's cap, made small enough that merging a batch with its detail bodies fails the
    way a large one fails under the real cap (dlt retries the job, then gives up)."""
    monkeypatch.setitem(DUCKDB_GLOBAL_CONFIG, "memory_limit", "8MB")
    sim = simulator(repositories=2, days=30)
    settings = sim_settings(sim)

    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"), details=True)

    [warning] = [w for w in report.warnings if "memory cap" in w]
    assert "Out of Memory" in warning and "Traceback" not in warning
    tables = ["repositories", "scans", "findings", "fixes", "webhooks", "fix_details", "finding_details"]
    assert_matches_truth(sim, settings.duckdb_path, tables)


def test_a_package_the_warehouse_refuses_commits_no_cursor_is_set_aside_and_full_refresh_works(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    """A DBA made findings.classification NOT NULL; the next untriaged findings fail that table's
    merge in the warehouse while the batch's scans and fixes merge fine."""
    sim = simulator(repositories=2, days=20)
    settings = sim_settings(sim)
    dlt_dir = str(tmp_path / "dlt")
    sync(settings, pipelines_dir=dlt_dir, batch_repositories=1)
    before = cursors(settings.duckdb_path)
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("delete from pixee.findings where classification is null")
        con.execute("alter table pixee.findings alter column classification set not null")
    started = sim.now
    sim.advance(24 * 5)
    changed = [f for f in sim.truth()["findings"] if datetime.fromisoformat(f["updated_at"]) > started]
    assert any(f["classification"] is None for f in changed)

    with pytest.raises(DestinationError) as refused:
        sync(settings, pipelines_dir=dlt_dir, batch_repositories=1)
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert "NOT NULL constraint failed" in message, message
    # No cursor of the refused batch moved, though its scans and fixes may have merged.
    after = cursors(settings.duckdb_path)
    refused_repo = next(r for r in sorted(before) if after[r] == before[r])
    assert after[refused_repo] == before[refused_repo]

    # The next run does not retry the refused package forever: it sets it aside, reads its rows
    # again from the committed cursors, and fails on them in one line again.
    with pytest.raises(DestinationError):
        report = sync(settings, pipelines_dir=dlt_dir, batch_repositories=1)
    # beside the destination's own working dir (<pipelines_dir>/<destination key>/pixee)
    assert any((tmp_path / "dlt").glob("*/pixee-set-aside/**/load_package_state.json")), "none set aside"

    report = sync(settings, pipelines_dir=dlt_dir, batch_repositories=1, full_refresh=True)
    assert any("set aside" in w and "--full-refresh" in w for w in report.warnings), report.warnings
    assert_matches_truth(sim, settings.duckdb_path)


def test_details_on_an_existing_warehouse_backfill_what_is_missing_bounded_and_say_so(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = simulator(repositories=2, days=20)
    settings = sim_settings(sim)
    dlt_dir = str(tmp_path / "dlt")
    sync(settings, pipelines_dir=dlt_dir)  # loaded without details
    truth = sim.truth()
    rows = len(truth["fixes"]) + len(truth["findings"])
    monkeypatch.setattr("pipelines.load.sync.details.BACKFILL_MINUTES", 50 / settings.requests_per_minute)

    first = sync(settings, pipelines_dir=dlt_dir, details=True)

    assert first.details_backfilled == 50 and first.details_missing == rows - 50
    assert f"{rows - 50} still missing, for the next runs (50 a run)" in first.summary_table()
    monkeypatch.setattr("pipelines.load.sync.details.BACKFILL_MINUTES", 10)
    rest = sync(settings, pipelines_dir=dlt_dir, details=True)
    assert rest.details_backfilled == rows - 50 and "none missing now" in rest.summary_table()
    tables = ["repositories", "scans", "findings", "fixes", "webhooks", "fix_details", "finding_details"]
    assert_matches_truth(sim, settings.duckdb_path, tables)
    again = sync(settings, pipelines_dir=dlt_dir, details=True)
    assert again.details_backfilled == 0 and "details backfill" not in again.summary_table()
