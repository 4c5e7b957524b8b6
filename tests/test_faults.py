"""Faults mid-sync: Retry-After above the ceiling, bad pages and 5xx retried, then a clean failure."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.api import client
from pipelines.load.sync import sync
from pipelines.settings import DEFAULT_PROFILES_DIR
from tests.faults_support import (
    batch_pages,
    child_pages,
    etl_env,
    refetched_pages,
    route_counts,
    run_etl,
)

Check = Callable[..., None]


def profile_with(tmp_path: Path, **run: object) -> Path:
    """A copy of the duckdb profile with [run] keys changed; returns the profiles directory."""
    text = (DEFAULT_PROFILES_DIR / "duckdb.toml").read_text()
    for key, value in run.items():
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        if not n:
            text = text.replace("[run]\n", f"[run]\n{key} = {value}\n")
    directory = tmp_path / "profiles"
    directory.mkdir(exist_ok=True)
    (directory / "duckdb.toml").write_text(text)
    return directory


def loaded_repositories(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select repository_id from pixee.scans union select repository_id from pixee.findings "
            "union select repository_id from pixee.fixes"
        ).fetchall()
    return {r for (r,) in rows}


def test_retry_after_above_the_ceiling_ends_the_run_and_the_next_run_resumes(
    simulator: Callable[..., Any], assert_matches_truth: Check, tmp_path: Path
) -> None:
    # Several pages of findings per repository: a full read costs more than an incremental one.
    sim = simulator(repositories=5, days=20, findings=1500)
    truth = sim.truth()
    repos = sorted(r["id"] for r in truth["repositories"])
    db = tmp_path / "warehouse.duckdb"
    profiles = profile_with(tmp_path, max_retry_after_seconds=2, concurrency=1)
    env = etl_env(sim, tmp_path, batch=1, PIXEE_PROFILES_DIR=str(profiles))
    # A Retry-After within the ceiling is waited out; one above it ends the run.
    sim.inject("retry_after:1", path_prefix=f"/repositories/{repos[1]}/", count=1)
    sim.inject("retry_after:7", path_prefix=f"/repositories/{repos[3]}/", count=1)

    failed = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert failed.returncode not in (0, 2), failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert lines[-1].startswith(
        "pixee-etl run: rate limited for 7 s; committed progress kept; the next run resumes"
    )
    assert "Traceback" not in failed.stderr
    # The batches before the long wait are committed: one repository each.
    assert set(repos[:3]) <= loaded_repositories(db)
    assert repos[3] not in loaded_repositories(db)

    sim.reset_stats()
    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_matches_truth(sim, db)
    # The next run read the committed repositories incrementally, not again in full.
    committed, _ = refetched_pages(
        0, child_pages(route_counts(sim.stats())), batch_pages(truth, 1), [1] * 5, 3
    )
    assert committed >= 3


BAD_PAGES = ["truncated_json", "non_json_200", "missing_data", "reset", "http_500", "http_503_html"]


@pytest.mark.parametrize("fault", BAD_PAGES)
def test_bad_pages_and_server_errors_are_retried(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
    fault: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Retries without the production backoff (0.5 s doubling), so six of them take no time.
    monkeypatch.setattr(
        "pipelines.load.sync.make_client", lambda s, **kw: client.make_client(s, backoff_base=0.005, **kw)
    )
    sim = simulator(repositories=2, days=10)
    repo = sorted(r["id"] for r in sim.truth()["repositories"])[1]
    for prefix in ("/repositories", f"/repositories/{repo}/findings", "/webhooks"):
        sim.inject(fault, path_prefix=prefix, count=2)
    settings = sim_settings(sim)
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    assert report.retries == 6
    assert_matches_truth(sim, settings.duckdb_path)


def test_bad_pages_past_the_retries_fail_naming_endpoint_and_request_id(
    simulator: Callable[..., Any], assert_matches_truth: Check, tmp_path: Path
) -> None:
    sim = simulator(repositories=4, days=10)
    repos = sorted(r["id"] for r in sim.truth()["repositories"])
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, batch=1, PIXEE_PROFILES_DIR=str(profile_with(tmp_path, concurrency=1)))
    # Every kind of bad page in a row on one list: as many as the client's attempts.
    path = f"/repositories/{repos[2]}/findings"
    for fault in ("reset", "non_json_200", "missing_data", "reset", "truncated_json", "truncated_json"):
        sim.inject(fault, path_prefix=path, count=1)

    failed = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert failed.returncode not in (0, 2), failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("pixee-etl run: "), failed.stderr
    assert f"/api/v1{path}" in last
    assert re.search(r"request_id req_[0-9a-f]{8}", last), last
    assert "Traceback" not in failed.stderr
    # The list fails alone: every other list, the repository's own scans and fixes too, loads.
    assert loaded_repositories(db) == set(repos)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "select count(*) from pixee.findings where repository_id = ?", [repos[2]]
        ).fetchone() == (0,)

    sim.inject("reset", path_prefix=path, count=1)  # and a reset on the next run is just retried
    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_matches_truth(sim, db)


@pytest.mark.parametrize("status", [401, 403])
def test_401_or_403_mid_sync_fails_at_once_in_one_line_keeping_committed_batches(
    simulator: Callable[..., Any], tmp_path: Path, status: int
) -> None:
    sim = simulator(repositories=3, days=10)
    repos = sorted(r["id"] for r in sim.truth()["repositories"])
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, batch=1, PIXEE_PROFILES_DIR=str(profile_with(tmp_path, concurrency=1)))
    path = f"/repositories/{repos[1]}/findings"
    sim.inject(f"http_{status}", path_prefix=path, count=1)

    failed = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert failed.returncode == 1, failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("pixee-etl run: ") and f"/api/v1{path}" in last and f"status {status}" in last
    assert re.search(r"request_id req_[0-9a-f]{8}", last), last
    assert "Traceback" not in failed.stderr
    by_status = sim.stats()["by_route"]["GET /repositories/{id}/findings"]
    assert by_status[str(status)] == 1  # not retried
    assert repos[0] in loaded_repositories(db)


def test_a_destination_driver_error_while_syncing_state_is_one_line(tmp_path: Path) -> None:
    """Snowflake's OperationalError for an unreachable account (not a dlt DestinationException)
    came out of sync_destination as a traceback; it is one DestinationError line instead. The
    real Snowflake path needs a network, so the step is driven here with the driver's error."""
    import dlt
    from dlt.pipeline.exceptions import PipelineStepFailed
    from snowflake.connector.errors import OperationalError

    from pipelines.errors import DestinationError
    from pipelines.load.sync import _step

    pipeline = dlt.pipeline("faults", destination="duckdb", pipelines_dir=str(tmp_path))

    def unreachable() -> None:
        try:
            raise OperationalError("250001: Could not connect to Snowflake backend after 2 attempt(s).")
        except OperationalError as exc:
            raise PipelineStepFailed(pipeline, "sync", None, exc, None) from exc

    with pytest.raises(DestinationError) as failed:
        _step(unreachable)
    assert str(failed.value).startswith("the destination failed during sync: OperationalError: 250001")
    assert len(str(failed.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("fault", "variant"),
    [
        ("missing_data", {"envelope": "hal"}),
        ("truncated_json", {"envelope": "hal"}),
        ("non_json_200", {"details": True}),
        ("reset", {"details": True}),
    ],
    ids=["hal-missing-items", "hal-truncated", "detail-non-json", "detail-reset"],
)
def test_bad_pages_in_hal_lists_and_detail_bodies_are_retried(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    variant: dict[str, Any],
) -> None:
    monkeypatch.setattr(
        "pipelines.load.sync.make_client", lambda s, **kw: client.make_client(s, backoff_base=0.005, **kw)
    )
    details = bool(variant.pop("details", False))
    sim = simulator(repositories=2, days=10, **variant)
    prefixes = ["/fixes/", "/findings/"] if details else ["/repositories", "/webhooks"]
    for prefix in prefixes:
        sim.inject(fault, path_prefix=prefix, count=2)
    settings = sim_settings(sim)
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"), details=details)
    assert report.retries == 2 * len(prefixes)
    tables = ["repositories", "scans", "findings", "fixes", "webhooks"]
    assert_matches_truth(
        sim, settings.duckdb_path, tables + (["fix_details", "finding_details"] if details else [])
    )
