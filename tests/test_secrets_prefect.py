"""The pixee-sync Prefect flow, succeeding and failing with a canary token and Snowflake password:
neither reaches a flow or task state, a Prefect log, an artifact, dlt's files or a table."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.api import client
from tests.secrets_scan import scan_duckdb, scan_files

pytestmark = pytest.mark.timeout(240)

TOKEN = "pxo_CANARY-prefect-9d2e7b4c1a6f"
WRONG_TOKEN = "pxo_CANARY-prefect-wrong-51c8e3"
SNOWFLAKE_PASSWORD = "sf_CANARY-prefect-pw-0b7a3d9e"
SECRETS = (TOKEN, WRONG_TOKEN, SNOWFLAKE_PASSWORD)


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    """A temporary Prefect server: the flow tests' one if it is already up (it is slow to start)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL
    from prefect.testing.utilities import prefect_test_harness

    if PREFECT_API_URL.value() and "prefect-test.db" in str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()):
        yield
        return
    with prefect_test_harness(server_startup_timeout=60):
        yield


def _everything_prefect_kept(flow_run_ids: list[Any]) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    texts = []
    with get_client(sync_client=True) as api:
        for artifact in api.read_artifacts():
            texts += [repr(artifact.data), artifact.description or "", artifact.key or ""]
        # Prefect ships logs from a background worker: wait (bounded) until every run's last line
        # is in, so a secret in a late line cannot pass unseen.
        deadline = time.monotonic() + 120
        while True:
            logs = api.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids)))
            finished = {log.flow_run_id for log in logs if log.message.startswith("Finished in state")}
            if finished >= set(flow_run_ids) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        texts += [log.message for log in logs]
        runs = FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
        for run in api.read_flow_runs(flow_run_filter=runs):
            texts += [run.state.message or "" if run.state else "", repr(run.parameters)]
        for task_run in api.read_task_runs(flow_run_filter=runs):
            texts += [task_run.state.message or "" if task_run.state else ""]
    return "\n".join(texts)


def test_flow_runs_keep_no_secret_in_prefect(
    prefect_api: None,
    simulator: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import flows.pixee_sync as module

    caplog.set_level(logging.DEBUG)
    sim = simulator(repositories=2, days=10)
    sim.app.token_scope[TOKEN] = None  # the simulator accepts the canary as an organisation token
    for key, value in {
        "PIXEE_BASE_URL": sim.base_url,
        "PIXEE_TOKEN": TOKEN,
        "PIXEE_REQUESTS_PER_MINUTE": "60000",
        "PIXEE_BURST": "100",
        "PIXEE_SNOWFLAKE_PASSWORD": SNOWFLAKE_PASSWORD,
        "DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD": SNOWFLAKE_PASSWORD,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PIXEE_PROFILE", raising=False)
    # No Prefect task retries (minutes apart) nor client backoff: failures arrive at once.
    monkeypatch.setattr(module, "extract_and_load", module.extract_and_load.with_options(retries=0))
    monkeypatch.setattr(
        "pipelines.load.sync.make_client", lambda s, **kw: client.make_client(s, backoff_base=0.005, **kw)
    )
    where = {"duckdb_path": str(tmp_path / "warehouse.duckdb"), "pipelines_dir": str(tmp_path / "dlt")}
    one_list = f"/repositories/{sorted(r['id'] for r in sim.truth()['repositories'])[1]}/findings"

    states = [module.pixee_sync(**where, return_state=True)]
    assert states[0].is_completed(), states[0].message
    sim.inject("http_500", path_prefix=one_list, count=6)
    states.append(module.pixee_sync(**where, return_state=True))
    sim.inject("retry_after:3600", path_prefix=one_list, count=1)
    states.append(module.pixee_sync(**where, return_state=True))
    monkeypatch.setenv("PIXEE_TOKEN", WRONG_TOKEN)
    states.append(module.pixee_sync(**where, return_state=True))
    assert [s.is_failed() for s in states] == [False, True, True, True]

    kept = _everything_prefect_kept([s.state_details.flow_run_id for s in states])
    kept += "\n" + caplog.text + "\n" + "\n".join(str(s.message) for s in states)
    leaks = [f"Prefect or a log shows {s[:4]}..." for s in SECRETS if s in kept]
    leaks += scan_files(tmp_path, SECRETS) + scan_duckdb(tmp_path / "warehouse.duckdb", SECRETS)
    assert not leaks, "\n".join(leaks)
    assert "rate limited for 3600 s" in kept and "request_id" in kept  # the failures were recorded
