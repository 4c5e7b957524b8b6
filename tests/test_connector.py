"""The connector end to end: simulator on loopback -> sync -> a real DuckDB file equal to the truth."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines.errors import ApiError, AuthError, RateLimitCeilingError
from pipelines.load.sync import sync
from pipelines.settings import Secret
from tests.conftest import id_counts

Check = Callable[..., None]
RAW = ["repositories", "scans", "findings", "fixes", "webhooks"]


def run(settings: Any, tmp_path: Path, **kwargs: Any) -> Any:
    return sync(settings, pipelines_dir=str(tmp_path / "pipelines"), **kwargs)


def useful_requests(report: Any) -> int:
    """Requests that returned a page (not retried faults, not 429s)."""
    return int(report.total_requests - report.retries - report.throttled_429)


def no_duplicates(db: Path) -> None:
    for table in ["repositories", "scans", "findings", "fixes"]:
        rows, ids = id_counts(db, table)
        assert rows == ids, f"{table}: {rows - ids} duplicate rows"


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"ignore_updated_since": True},
        {"envelope": "hal"},
        {"error_rate": 0.05},
    ],
    ids=["cursor", "server-ignores-updated_since", "hal-envelope", "5pct-5xx"],
)
def test_full_then_incremental_sync_equals_truth(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
    variant: dict[str, Any],
) -> None:
    # Big enough that findings take several pages per repository.
    sim = simulator(repositories=4, days=120, findings=3000, **variant)
    settings = sim_settings(sim)
    full = run(settings, tmp_path)
    assert_matches_truth(sim, settings.duckdb_path)
    assert full.warnings == []

    sim.advance(24)
    incremental = run(settings, tmp_path)
    assert_matches_truth(sim, settings.duckdb_path)
    no_duplicates(settings.duckdb_path)
    print(
        f"\n{variant or 'cursor'}: full sync {full.total_requests} requests / {full.rows} rows; "
        f"after a day {incremental.total_requests} requests / {incremental.rows} rows"
    )
    assert incremental.rows < full.rows / 2
    if not variant.get("ignore_updated_since"):
        assert useful_requests(incremental) < useful_requests(full) * 0.6
    if variant.get("error_rate"):
        assert full.retries + incremental.retries > 0


def test_details_only_for_new_or_changed(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator()
    settings = sim_settings(sim)
    tables = [*RAW, "fix_details", "finding_details"]
    full = run(settings, tmp_path, details=True)
    assert_matches_truth(sim, settings.duckdb_path, tables)
    fixes, findings = full.resources["fixes"].rows, full.resources["findings"].rows
    assert full.resources["fix_details"].requests == fixes
    assert full.resources["finding_details"].requests == findings

    sim.advance(72)  # scans every one to three days: a window with new findings in it
    again = run(settings, tmp_path, details=True)
    assert_matches_truth(sim, settings.duckdb_path, tables)
    # One detail request per fix or finding that the incremental read found new or changed.
    assert again.resource("fix_details").requests == again.resource("fixes").rows
    assert again.resource("finding_details").requests == again.resource("findings").rows
    assert 0 < again.resource("finding_details").requests < findings


def test_repository_token_skips_webhooks_with_a_warning(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator()
    repo_id, token = next(iter(sim.repo_tokens.items()))
    settings = sim_settings(sim, token=token)
    report = run(settings, tmp_path)
    assert any("webhooks skipped" in w for w in report.warnings)
    assert_matches_truth(sim, settings.duckdb_path, ["repositories", "scans", "findings", "fixes"], repo_id)


def test_server_rate_below_client_rate_429s_are_honoured(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=2, days=10, requests_per_minute=600, burst=3)
    settings = sim_settings(sim, requests_per_minute=6000.0, burst=20)
    report = run(settings, tmp_path)
    assert report.throttled_429 > 0
    assert report.total_requests - report.throttled_429 == sum(
        n for (route, status), n in _by_status(sim).items() if status != 429
    )
    assert_matches_truth(sim, settings.duckdb_path)


def test_matching_rates_get_no_429(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    # Details make one request per fix and finding: well past the burst, at the steady rate.
    sim = simulator(repositories=1, days=10, requests_per_minute=3000, burst=10)
    settings = sim_settings(sim, requests_per_minute=3000.0, burst=10)
    report = run(settings, tmp_path, details=True)
    assert report.total_requests > 50
    assert report.throttled_429 == 0
    assert sum(n for (_, status), n in _by_status(sim).items() if status == 429) == 0
    assert_matches_truth(sim, settings.duckdb_path, [*RAW, "fix_details", "finding_details"])


def test_fresh_machine_resumes_incrementally_from_the_warehouse(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator()
    settings = sim_settings(sim)
    full = run(settings, tmp_path)
    shutil.rmtree(tmp_path / "pipelines")  # only the DuckDB file is left
    sim.advance(24)
    again = run(settings, tmp_path)
    assert again.rows < full.rows / 2
    assert_matches_truth(sim, settings.duckdb_path)


def test_deleted_webhook_disappears_and_vanished_repository_is_skipped(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator()
    settings = sim_settings(sim)
    run(settings, tmp_path)
    hook = sim.truth()["webhooks"][0]["id"]
    repo = sim.truth()["repositories"][-1]["id"]
    sim.delete("webhooks", hook)
    sim.delete("repositories", repo)
    report = run(settings, tmp_path)
    assert any(repo in w and "vanished" in w for w in report.warnings)
    assert_matches_truth(sim, settings.duckdb_path, ["webhooks"])
    # The vanished repository is no longer asked for.
    third = run(settings, tmp_path)
    assert not any(repo in w for w in third.warnings)


def test_full_refresh_starts_over(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator()
    settings = sim_settings(sim)
    full = run(settings, tmp_path)
    again = run(settings, tmp_path, full_refresh=True)
    assert again.rows == full.rows
    assert_matches_truth(sim, settings.duckdb_path)


def test_rate_limit_ceiling_keeps_committed_batches_and_next_run_resumes(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=4)
    settings = sim_settings(sim, max_retry_after_seconds=30.0, concurrency=1)
    repos = sorted(r["id"] for r in sim.truth()["repositories"])
    sim.inject("retry_after:3600", path_prefix=f"/repositories/{repos[2]}/", count=1)
    with pytest.raises(RateLimitCeilingError, match="committed progress kept"):
        run(settings, tmp_path, batch_repositories=1)
    # The first two repositories' batches were committed before the ceiling was hit.
    loaded = {r for (r,) in _query(settings.duckdb_path, "select distinct repository_id from pixee.findings")}
    assert set(repos[:2]) <= loaded and repos[2] not in loaded
    sim.reset_stats()
    run(settings, tmp_path, batch_repositories=1)
    assert_matches_truth(sim, settings.duckdb_path)


def test_failing_runs_never_show_the_token(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = simulator(repositories=1, days=5)
    bad = "pixee-wrong-token-51f0c2d9"
    with pytest.raises(AuthError) as auth:
        run(sim_settings(sim, token=bad), tmp_path)
    sim.inject("http_500", path_prefix="/repositories", count=100)
    settings = sim_settings(sim)
    with pytest.raises(ApiError) as api:
        run(settings, tmp_path)
    assert "request_id" in str(api.value)
    out = capsys.readouterr()
    everything = "\n".join([caplog.text, out.out, out.err, str(auth.value), str(api.value)])
    for secret in (bad, sim.org_token):
        assert secret not in everything
    # Nor in any file the runs left: dlt's working directory (state, traces) and the warehouse.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert bad.encode() not in data and sim.org_token.encode() not in data, path
    assert isinstance(settings.token, Secret)


def _by_status(sim: Any) -> dict[tuple[str, int], int]:
    stats = sim.stats()
    return {(route, int(status)): n for route, by in stats["by_route"].items() for status, n in by.items()}


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize(
    "fault", ["truncated_json", "non_json_200", "missing_data", "reset", "http_503_html"]
)
def test_bad_pages_are_retried_and_the_warehouse_stays_exact(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
    fault: str,
) -> None:
    sim = simulator(repositories=2, days=20)
    repo = sim.truth()["repositories"][0]["id"]
    sim.inject(fault, path_prefix=f"/repositories/{repo}/findings", count=2)
    sim.inject(fault, path_prefix="/repositories", count=1)
    report = run(sim_settings(sim), tmp_path)
    assert report.retries >= 3
    assert_matches_truth(sim, sim_settings(sim).duckdb_path)


def test_schema_drift_is_reported_and_does_not_corrupt_columns(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(repositories=1, days=20)
    settings = sim_settings(sim)
    run(settings, tmp_path)
    first, second = (f["id"] for f in sim.truth()["findings"][:2])
    sim.update("findings", first, risk_score=0.7)
    sim.update("findings", second, start_line="line twelve")
    report = run(settings, tmp_path)
    assert "findings.risk_score is a new column" in report.schema_changes
    assert any(c.startswith("findings.start_line changed type") for c in report.schema_changes)
    (kind,) = _query(
        settings.duckdb_path,
        "select data_type from information_schema.columns "
        "where table_schema = 'pixee' and table_name = 'findings' and column_name = 'start_line'",
    )
    assert kind == ("BIGINT",)
    assert "schema change: findings.risk_score is a new column" in report.summary_table()


def test_webhooks_forbidden_leaves_the_table_as_it_was(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=1, days=10)
    settings = sim_settings(sim)
    run(settings, tmp_path)
    sim.inject("http_403", path_prefix="/webhooks", count=1)
    report = run(settings, tmp_path)
    assert any("webhooks skipped" in w for w in report.warnings)
    assert_matches_truth(sim, settings.duckdb_path, ["webhooks"])  # skipped, not emptied


def test_a_package_left_by_a_killed_run_is_loaded_before_new_reads(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    from pipelines.api.client import make_client
    from pipelines.extract.v1 import pixee_source
    from pipelines.load.destinations import make_pipeline

    sim = simulator(repositories=2, days=20)
    settings = sim_settings(sim)
    run(settings, tmp_path)
    sim.advance(24)
    # A run that extracted the changed repositories (and their cursor) but died before loading.
    pipeline = make_pipeline(settings, pipelines_dir=str(tmp_path / "pipelines"))
    with make_client(settings) as client:
        pipeline.extract(pixee_source(client).with_resources("repositories", "webhooks"))
    assert pipeline.has_pending_data
    report = run(settings, tmp_path)
    assert report.resource("repositories").rows == 0  # the pending package already had them
    assert_matches_truth(sim, settings.duckdb_path)


def test_the_source_alone_in_a_plain_dlt_pipeline(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Check,
    tmp_path: Path,
) -> None:
    import dlt

    from pipelines.api.client import make_client
    from pipelines.extract.v1 import pixee_source

    sim = simulator(repositories=2, days=20)
    settings = sim_settings(sim)
    pipeline = dlt.pipeline(
        "standalone",
        destination=dlt.destinations.duckdb(str(settings.duckdb_path)),
        dataset_name="pixee",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    with make_client(settings) as client:
        for _ in range(2):  # the first run learns the repositories, the second reads their lists
            pipeline.run(pixee_source(client), loader_file_format="parquet")
    assert_matches_truth(sim, settings.duckdb_path)
