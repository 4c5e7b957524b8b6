"""Events that need no one machine's disk: the receiver forwards them, runs plan from the warehouse."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from pipelines.events import trigger
from pipelines.events.journal import Journal
from pipelines.load.sync import sync
from pipelines.settings import REPO_ROOT
from tests.test_event_runs import _problems, _requests
from tests.webhook_support import SECRET, ReceiverProcess, wait_for


def test_a_run_on_another_machine_plans_from_forwarded_events(
    simulator: Any, sim_settings: Any, tmp_path: Path
) -> None:
    sim = simulator(repositories=15, days=20, webhook_retry_scale=0.001)
    # The run's machine has no journal: it must plan from what the receiver put in the warehouse.
    settings = sim_settings(
        sim, events_enabled=True, events_source="warehouse", events_journal=tmp_path / "absent.sqlite"
    )
    first = sync(settings)
    assert first.mode.startswith("mode: poll")
    receiver_dir = tmp_path / "receiver-machine"
    receiver_dir.mkdir()
    rx = ReceiverProcess(
        receiver_dir / "events.sqlite",
        extra_args=["--forward-seconds", "0.3", "--duckdb-path", str(settings.duckdb_path)],
    )
    try:
        with httpx.Client(base_url=sim.base_url, headers={"authorization": f"Bearer {sim.org_token}"}) as c:
            assert c.post("/webhooks", json={"url": rx.url, "secret": SECRET}).status_code == 201
        sim.advance(24)
        assert sim.settle_deliveries(60)

        def forwarded() -> bool:
            with Journal(rx.journal, readonly=True) as journal:
                last = journal.last_received()
                mark = journal._con.execute(
                    "select value from meta where key = 'forwarded_through'"
                ).fetchone()
            return last is not None and mark is not None and mark[0] >= last

        wait_for(forwarded, 90, "the receiver to forward every event")
    finally:
        rx.stop()  # DuckDB takes one writer at a time; on Snowflake both run at once
    sim.reset_stats()
    second = sync(settings)
    assert second.mode.startswith("mode: events"), second.mode
    lists = sum(n for route, n in _requests(sim).items() if route.startswith("GET /repositories/{id}/"))
    assert 0 < lists < 3 * 15
    assert not _problems(sim, settings.duckdb_path)


def test_the_trigger_folds_a_burst_into_few_prefect_events(monkeypatch: Any) -> None:
    emitted: list[dict[str, Any]] = []

    def send(url: str, profile: str, count: int) -> None:
        emitted.append(
            {
                "event": trigger.EVENT,
                "resource": {"prefect.resource.id": trigger.resource_id(profile)},
                "payload": {"events": count},
            }
        )

    monkeypatch.setattr(trigger, "send_event", send)
    server = ("http://127.0.0.1:4200/api", "PREFECT_API_URL")
    fire = trigger.PrefectTrigger("duckdb", debounce_seconds=0.5, api_url=lambda: server)
    threads = [threading.Thread(target=fire, args=({"id": f"evt_{i}"},)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_for(lambda: fire._timer is None and sum(e["payload"]["events"] for e in emitted) == 200, 30, "emits")
    assert 1 <= len(emitted) <= 2, "a burst makes one run (two when it straddles the debounce)"
    assert emitted[0]["event"] == "pixee.webhook.received"
    assert emitted[0]["resource"] == {"prefect.resource.id": "pixee-etl.profile.duckdb"}
    time.sleep(0)  # nothing else pending


def test_prefect_yaml_triggers_the_incremental_deployment_on_webhook_events() -> None:
    declared = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    hourly = next(d for d in declared["deployments"] if d["name"] == "snowflake-hourly-incremental")
    [declared_trigger] = hourly["triggers"]
    [planned] = trigger.event_triggers("snowflake", hourly["parameters"])
    assert declared_trigger["expect"] == sorted(planned.expect)
    assert declared_trigger["match"] == {"prefect.resource.id": trigger.resource_id("snowflake")}
    assert declared_trigger["parameters"] == planned.parameters
    assert (declared_trigger["posture"], declared_trigger["threshold"]) == ("Reactive", 1)
