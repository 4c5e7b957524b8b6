"""The pixee-sync flow under Prefect's test harness: simulator -> DuckDB -> marts -> checks -> artifacts,
a broken check failing the flow, a 401 that is not retried, and runs that never overlap."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.errors import ApiError, AuthError, ConfigError, RateLimitCeilingError
from pipelines.load.lock import destination_lock
from pipelines.settings import load_settings

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole session: it is slow to start."""
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as patch:
        # A run waiting for the destination polls the server every <= 1 s instead of <= 30 s.
        patch.setenv("PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS", "1")
        with prefect_test_harness(server_startup_timeout=60):
            yield


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    from simulator import SimConfig, Simulator

    with Simulator(SimConfig(seed=7, repositories=3, days=30, requests_per_minute=None)) as simulator:
        yield simulator


@pytest.fixture
def env(sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The flow reads its settings like `pixee-etl run` does: profile + PIXEE_* environment."""
    monkeypatch.setenv("PIXEE_BASE_URL", sim.base_url)
    monkeypatch.setenv("PIXEE_TOKEN", sim.org_token)
    monkeypatch.setenv("PIXEE_REQUESTS_PER_MINUTE", "60000")
    monkeypatch.setenv("PIXEE_BURST", "100")
    monkeypatch.delenv("PIXEE_PROFILE", raising=False)
    return {"duckdb_path": str(tmp_path / "warehouse.duckdb"), "pipelines_dir": str(tmp_path / "dlt")}


def _artifacts(flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.type: a for a in found}


def _logs(flow_run_id: Any) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return "\n".join(log.message for log in logs)


def _run_log(caplog: pytest.LogCaptureFixture, flow_run_id: Any) -> str:
    """What a flow run's logger said, from the records this process kept."""
    return "\n".join(
        r.getMessage() for r in caplog.records if str(getattr(r, "flow_run_id", "")) == str(flow_run_id)
    )


def _task_runs(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def test_flow_syncs_builds_marts_passes_checks_and_reports(
    prefect_harness: None, sim: Any, env: dict[str, str]
) -> None:
    from flows.pixee_sync import pixee_sync

    state = pixee_sync(**env, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    today = dt.datetime.now(dt.UTC).date()
    assert result["as_of"] == today.isoformat()
    assert result["rows"] > 0 and result["marts"]["fix_latency"] == len(sim.truth()["fixes"])
    with duckdb.connect(result["serving_file"], read_only=True) as served:  # published for readers
        assert served.execute("select count(*) from pixee_marts.fix_latency").fetchone()[0] == len(
            sim.truth()["fixes"]
        )

    artifacts = _artifacts(state.state_details.flow_run_id)
    assert set(artifacts) == {"table", "markdown"}
    table = artifacts["table"].data
    table = table if isinstance(table, list) else json.loads(table)
    by_table = {row["table"]: row for row in table}
    assert {"repositories", "findings", "fixes", "scans", "webhooks", "total"} <= set(by_table)
    assert by_table["fixes"]["rows"] == len(sim.truth()["fixes"])
    assert {"rows", "requests", "throttled_429", "retries", "utilisation"} <= set(by_table["total"])
    assert by_table["total"]["requests"] > 0

    markdown = artifacts["markdown"].data
    with duckdb.connect(env["duckdb_path"], read_only=True) as con:
        open_today, over_sla = con.execute(
            "select sum(open_findings), sum(open_over_sla) from warehouse.pixee_marts.backlog_daily "
            "where day = ?",
            [today],
        ).fetchone()
    assert f"| **total** | **{int(open_today):,}** | **{int(over_sla):,}** |" in markdown
    for heading in (
        "## Open backlog today",
        "## SLA breaches",
        "## Time to remediate, last 30 days",
        "## Merge rate",
    ):
        assert heading in markdown
    assert "checks passed." in markdown
    # the run's HTML report, beside the warehouse, linked from the summary
    report = Path(result["report"])
    assert report.is_file() and report.parent == Path(env["duckdb_path"]).parent / "reports"
    assert f"[{report.name}]({report.as_uri()})" in markdown and "## Report" in markdown
    everything = str(table) + markdown
    assert sim.org_token not in everything and sim.base_url not in everything

    # An hour later the incremental run finds the new activity and the counts have not dropped.
    sim.advance(2)
    again = pixee_sync(**env, return_state=True)
    assert again.is_completed(), again.message


def test_a_broken_check_fails_the_flow_with_its_message(prefect_harness: None, env: dict[str, str]) -> None:
    from flows.pixee_sync import pixee_sync

    assert pixee_sync(**env, return_state=True).is_completed()
    # Something outside the connector deletes a repository the fixes point at.
    with duckdb.connect(env["duckdb_path"]) as con:
        repo = con.execute("select repository_id from warehouse.pixee.fixes limit 1").fetchone()[0]
        con.execute("delete from warehouse.pixee.repositories where id = ?", [repo])
    state = pixee_sync(**env, return_state=True)
    assert state.is_failed()
    assert "data check(s) failed" in state.message
    # dbt's relationships test names the column and the missing repository
    assert "relationships stg_pixee__fixes.repository_id: " in state.message
    assert f"e.g. {repo}" in state.message
    # The report still ran and shows the failure next to the numbers.
    markdown = _artifacts(state.state_details.flow_run_id)["markdown"].data
    assert "dbt:relationships_stg_pixee__fixes_repository_id" in markdown


def test_a_run_whose_report_cannot_be_written_fails_and_says_why(
    prefect_harness: None, env: dict[str, str], tmp_path: Path
) -> None:
    from flows.pixee_sync import pixee_sync

    taken = tmp_path / "not-a-directory"
    taken.write_text("")
    state = pixee_sync(**env, report_dir=str(taken), return_state=True)
    assert state.is_failed() and "the HTML report was not written" in str(state.message)
    markdown = _artifacts(state.state_details.flow_run_id)["markdown"].data
    assert "**The HTML report was not written:**" in markdown and "## Open backlog today" in markdown


def test_a_401_fails_once_without_retrying(
    prefect_harness: None, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.pixee_sync import pixee_sync

    monkeypatch.setenv("PIXEE_TOKEN", "pxo_wrong-token-never-echoed")
    state = pixee_sync(**env, return_state=True)
    assert state.is_failed()
    [extract] = [
        t for t in _task_runs(state.state_details.flow_run_id) if t.name.startswith("extract-and-load")
    ]
    assert extract.run_count == 1 and extract.state.is_failed()
    assert "pxo_wrong-token-never-echoed" not in (state.message or "") + (extract.state.message or "")
    # People looking at the run in Prefect see what failed, in the summary where the numbers would be.
    markdown = _artifacts(state.state_details.flow_run_id)["markdown"].data
    assert "**failed**" in markdown and "The `extract-and-load` task failed" in markdown and "401" in markdown
    assert "pxo_wrong-token-never-echoed" not in markdown


def test_a_run_finding_the_destination_busy_is_skipped_and_says_so(
    prefect_harness: None, sim: Any, env: dict[str, str]
) -> None:
    from flows.pixee_sync import pixee_sync

    settings = load_settings(duckdb_path=env["duckdb_path"])
    sim.reset_stats()
    with destination_lock(settings, what="pixee-etl run (test)"):
        state = pixee_sync(**env, overlap="skip", return_state=True)
    assert state.is_completed() and state.name == "Skipped"
    assert "destination busy, skipping this run" in state.message
    assert "pixee-etl run (test)" in state.message  # who holds it
    assert sim.stats()["requests_total"] == 0  # nothing was read


def test_a_run_on_another_worker_holding_the_limit_makes_this_one_skip(
    prefect_harness: None, sim: Any, env: dict[str, str]
) -> None:
    from prefect.concurrency.sync import concurrency

    from flows.pixee_sync import _ensure_limit, pixee_sync
    from pipelines.load.destinations import destination_key

    name = destination_key(load_settings(duckdb_path=env["duckdb_path"]))
    _ensure_limit(name)
    sim.reset_stats()
    # What a run on another machine does: hold the destination's global concurrency slot.
    with concurrency(name, occupy=1, strict=True):
        state = pixee_sync(**env, overlap="skip", return_state=True)
    assert state.is_completed() and state.name == "Skipped"
    assert state.message == (
        f"another pixee-sync run holds {name} (duckdb, dataset pixee); "
        "skipping this run, the next one catches up"
    )
    assert sim.stats()["requests_total"] == 0


# Two whole flows one after the other, each with two dbt invocations (run, test): generous bounds.
@pytest.mark.timeout(900)
def test_two_runs_at_once_do_not_overlap(
    prefect_harness: None, sim: Any, env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    from flows.pixee_sync import pixee_sync
    from pipelines.load.destinations import destination_key

    name = destination_key(load_settings(duckdb_path=env["duckdb_path"]))
    # One 429 with Retry-After: 3 makes whichever run syncs first hold the destination for >= 3 s,
    # so the other certainly finds it busy.
    sim.inject("retry_after:3", count=1)
    states: list[Any] = []

    def run() -> None:
        states.append(pixee_sync(**env, overlap="wait", return_state=True))

    # Prefect's loggers do not propagate to the root: listen on the flow-run logger itself.
    flow_runs = logging.getLogger("prefect.flow_runs")
    flow_runs.addHandler(caplog.handler)
    try:
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=800)
    finally:
        flow_runs.removeHandler(caplog.handler)
    assert len(states) == 2 and all(s.is_completed() for s in states), [s.message for s in states]
    (first, first_state), (second, second_state) = sorted(
        ((s.result(), s) for s in states), key=lambda pair: pair[0]["started"]
    )
    # The second started only after the first had finished: they ran one after the other...
    assert first["finished"] <= second["started"]
    assert first["destination"] == second["destination"] == name
    # ...and the second said so in its flow-run log, where people look.
    # (Read from the run logger's records, each carrying its flow run's id, which is what Prefect
    # ships to the API: its background shipping, not this project's, is what CI saw go missing.)
    said = _run_log(caplog, second_state.state_details.flow_run_id)
    assert f"another pixee-sync run holds {name} (duckdb, dataset pixee); waiting up to 7200 s" in said
    first_said = _run_log(caplog, first_state.state_details.flow_run_id)
    assert f"holding {name}" in first_said and "another pixee-sync run holds" not in first_said


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (ApiError("server error", status=503), True),
        (RateLimitCeilingError("wait"), True),
        (OSError("connection reset"), True),
        (AuthError("unauthorized", status=401), False),
        (ConfigError("bad profile"), False),
    ],
)
def test_only_transient_failures_are_retried(error: Exception, retried: bool) -> None:
    from prefect.states import Failed

    from flows.pixee_sync import _transient

    assert _transient(None, None, Failed(data=error)) is retried
