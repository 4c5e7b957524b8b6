"""Event-driven runs on the simulator: cost what changed, equal the truth, reconcile after lost events."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipelines.load.sync import sync
from tests.conftest import diff_table, table_rows
from tests.webhook_support import SECRET, ReceiverProcess

TABLES = ["repositories", "scans", "findings", "fixes", "webhooks"]


@pytest.fixture
def receiver(tmp_path: Path) -> Any:
    proc = ReceiverProcess(tmp_path / "events.sqlite")
    yield proc
    proc.stop()


def _subscribe(sim: Any, url: str) -> None:
    with httpx.Client(base_url=sim.base_url, headers={"authorization": f"Bearer {sim.org_token}"}) as c:
        assert c.post("/webhooks", json={"url": url, "secret": SECRET}).status_code == 201


def _requests(sim: Any) -> dict[str, int]:
    by_route = sim.stats()["by_route"]
    return {route: sum(codes.values()) for route, codes in by_route.items()}


def _problems(sim: Any, db: Path) -> list[str]:
    """Warehouse vs truth. Scans still queued or running are left out on both sides: no event
    announces a scan until it completes (api-contract "Payloads"); only a reconciliation sees them."""
    truth = sim.truth()
    problems: list[str] = []
    for table in TABLES:
        objects = truth[table]
        if table != "scans":
            problems += diff_table(db, table, objects)
            continue
        in_flight = {s["id"] for s in objects if s["state"] in ("queued", "running")}
        settled = [s for s in objects if s["id"] not in in_flight]
        problems += [p for p in diff_table(db, table, settled) if "unexpected" not in p]
        extra = {r["id"] for r in table_rows(db, "scans")} - {s["id"] for s in settled}
        if extra - in_flight:
            problems.append(
                f"scans: {len(extra - in_flight)} unexpected, e.g. {sorted(extra - in_flight)[:3]}"
            )
    return problems


def test_an_event_driven_run_reads_only_what_changed_in_1000_repositories(
    simulator: Any, sim_settings: Any, receiver: ReceiverProcess, tmp_path: Path
) -> None:
    # A small organisation per repository keeps the 1,000-repository polling run affordable; scans
    # every 10 to 30 days make a day in which a few dozen repositories change, as in a real fleet.
    sim = simulator(
        repositories=1000, days=10, findings=2000, webhook_retry_scale=0.001, scan_interval_days=(10.0, 30.0)
    )
    _subscribe(sim, receiver.url)
    settings = sim_settings(
        sim, events_enabled=True, events_journal=receiver.journal, batch_repositories=250, concurrency=8
    )
    assert sim.settle_deliveries(30)
    sim.reset_stats()
    first = sync(settings)
    assert first.mode.startswith("mode: poll") and "no run has polled every list yet" in first.mode
    polled = _requests(sim)
    # In auto mode every run reads the root once to tell the API's flavour (404 on a v1 server).
    assert polled.pop("GET <unmatched>") == 1
    polling = sum(polled.values())
    # 2 + 3 x 1,000, except that 1,000 repositories take 10 pages of /repositories.
    assert polling == polled["GET /repositories"] + 1 + 3 * 1000 and polled["GET /repositories"] == 10

    moved = sim.advance(24)  # a simulated day
    assert sim.settle_deliveries(60)
    sim.reset_stats()
    second = sync(settings)
    assert second.mode.startswith("mode: events"), second.mode
    requests = _requests(sim)
    assert requests.pop("GET <unmatched>") == 1
    lists = sum(n for route, n in requests.items() if route.startswith("GET /repositories/{id}/"))
    touched = {
        (e["repository_id"], kind)
        for e in table_rows(settings.duckdb_path, "webhook_events")
        for kind in _lists_of(e["type"])
    }
    assert requests["GET /repositories"] == 1 and requests["GET /webhooks"] == 1
    assert lists <= len(touched), (lists, len(touched))
    assert sum(requests.values()) <= 2 + len(touched)
    assert sum(requests.values()) < polling / 10, f"{sum(requests.values())} requests vs {polling} polling"
    assert 0 < len({repo for repo, _ in touched}) < 200, "a day of a few repositories' changes"
    print(
        f"\nevent-driven run: {sum(requests.values())} requests for {len(touched)} lists touched "
        f"by {second.mode}; polling: {polling}; moved: {moved['created']}"
    )
    assert not _problems(sim, settings.duckdb_path), _problems(sim, settings.duckdb_path)[:10]


def _lists_of(kind: str) -> tuple[str, ...]:
    from pipelines.events.plan import LISTS_BY_TYPE

    return LISTS_BY_TYPE.get(kind, ())


def test_dropped_deliveries_are_repaired_by_the_reconciliation(
    simulator: Any, sim_settings: Any, receiver: ReceiverProcess
) -> None:
    sim = simulator(repositories=20, days=30, webhook_retry_scale=0.001, webhook_duplicate_rate=0.3)
    _subscribe(sim, receiver.url)
    settings = sim_settings(sim, events_enabled=True, events_journal=receiver.journal)
    assert sim.settle_deliveries(30)
    sync(settings)
    sim.deliverer.knobs.drop_rate = 1.0  # every event of this day is lost for good
    sim.advance(24)
    assert sim.settle_deliveries(60)
    assert sim.deliveries()["dropped"] > 0
    behind = sync(settings)
    assert behind.mode.startswith("mode: events")
    assert _problems(sim, settings.duckdb_path), "the lost events' changes are missing until a reconciliation"
    due = sync(replace(settings, reconcile_hours=1e-6))
    assert due.mode.startswith("mode: poll") and "every list was last polled" in due.mode
    assert "mode: poll" in due.summary_table()
    assert not _problems(sim, settings.duckdb_path)
    # Event-driven runs keep the history as polling ones do (their pipeline has a second schema).
    for table in ("scans", "findings", "fixes"):
        history = {(r["id"], r["updated_at"]) for r in table_rows(settings.duckdb_path, f"{table}_history")}
        current = {(r["id"], r["updated_at"]) for r in table_rows(settings.duckdb_path, table)}
        assert current <= history, f"{table}: {len(current - history)} versions not in {table}_history"
    events = table_rows(settings.duckdb_path, "webhook_events")
    assert len({e["id"] for e in events}) == len(events), "one row per event id"
    assert all("secret" not in str(e).lower() for e in events)


def test_an_event_run_whose_list_fails_keeps_its_plan_and_the_next_run_reads_it(
    simulator: Any, sim_settings: Any, receiver: ReceiverProcess
) -> None:
    """The events a failed list was planned from are not used up: the next event-driven run reads
    that list again, though no new event names it, and the warehouse ends equal to what was served."""
    from pipelines.errors import IncompleteSyncError
    from tests.hostile.support import HostileProxy, Reply

    sim = simulator(repositories=12, days=20, webhook_retry_scale=0.001)
    _subscribe(sim, receiver.url)
    server = HostileProxy(sim.base_url)
    try:
        # No look-back: the events of one run are not read again by the next (the simulator's changes
        # are visible at once), so only the plan kept in flight can bring the failed lists back.
        settings = sim_settings(
            sim, base_url=server.start(), events_enabled=True, events_journal=receiver.journal, lag_seconds=0
        )
        assert sim.settle_deliveries(30)
        assert sync(settings).mode.startswith("mode: poll")
        sim.advance(24)
        assert sim.settle_deliveries(60)
        refused = {"error": {"code": "bad_request", "message": "cursor rejected", "request_id": "req_400"}}
        failing: list[str] = []

        def refuse_findings(path: str, query: str, upstream: Any) -> Reply | None:
            if not path.endswith("/findings"):
                return None
            failing.append(path)
            return Reply(400, refused)

        server.tamper = refuse_findings
        with pytest.raises(IncompleteSyncError) as failed:
            sync(settings)
        assert failed.value.report.mode.startswith("mode: events"), failed.value.report.mode
        assert failing, "the day's events named no findings list: nothing was tested"
        behind = _problems(sim, settings.duckdb_path)
        assert any("findings" in p for p in behind), "the refused lists are behind"

        server.tamper = None
        failing.clear()
        again = sync(settings)  # no delivery since: only the plan kept in flight names these lists
        assert again.mode.startswith("mode: events (0 events since the last run -> "), again.mode
        assert "-> 0 lists" not in again.mode and failing == [], again.mode
        assert not _problems(sim, settings.duckdb_path), _problems(sim, settings.duckdb_path)[:10]
        third = sync(settings)  # read once: the plan is done now
        assert third.mode.startswith("mode: events") and "-> 0 lists" in third.mode, third.mode
    finally:
        server.stop()
