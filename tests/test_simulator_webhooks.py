"""The simulator delivers signed webhook events: at least once, unordered, retried, duplicated, dropped."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.webhook_support import SECRET, Capture, Served, wait_for

TYPES = {"fix.generated", "pr.opened", "pr.merged", "pr.closed", "triage.completed", "scan.completed", "ping"}


def _subscribe(sim: Any, url: str, **spec: Any) -> dict[str, Any]:
    with httpx.Client(base_url=sim.base_url, headers={"authorization": f"Bearer {sim.org_token}"}) as c:
        answer = c.post("/webhooks", json={"url": url, "secret": SECRET, **spec})
        assert answer.status_code == 201, answer.text
        listed = c.get("/webhooks", params={"limit": 100}).json()["data"]
    assert all("secret" not in h for h in listed), "the secret is returned only once, on creation"
    return answer.json()


@pytest.fixture
def capture() -> Any:
    made: list[Served] = []

    def make(fail_first: int = 0) -> tuple[Capture, Served]:
        app = Capture(fail_first)
        served = Served(app)
        made.append(served)
        return app, served

    yield make
    for served in made:
        served.stop()


def test_events_are_signed_pinged_and_match_the_changes(simulator: Any, capture: Any) -> None:
    sim = simulator(repositories=6, days=30, webhook_retry_scale=0.001)
    app, served = capture()
    hook = _subscribe(sim, served.url)
    assert hook["secret"] == SECRET
    wait_for(lambda: any(s["event"]["type"] == "ping" for s in app.seen), what="the ping")
    moved = sim.advance(48)
    assert sim.settle_deliveries(60)
    events = app.events()
    for seen in app.seen:
        expected = hmac.new(SECRET.encode(), seen["body"], hashlib.sha256).hexdigest()
        assert seen["headers"]["x-pixee-signature"] == expected
    assert {e["type"] for e in events.values()} <= TYPES
    assert {e["type"] for e in events.values()} - {"ping"}, "two days of an organisation make events"
    repos = {r["id"]: r for r in sim.truth()["repositories"]}
    fixes = {f["id"]: f for f in sim.truth()["fixes"]}
    for event in events.values():
        assert event["organization"] == "acme-corp"
        if event["type"] == "ping":
            assert event["data"] == {"webhook_id": hook["id"]} and event["repository"] is None
            continue
        assert repos[event["data"]["repository_id"]]["name"] == event["repository"]
        if event["type"] == "pr.merged":
            assert fixes[event["data"]["fix_id"]]["merged_at"] is not None
    # Every fix created in the window announced itself.
    generated = {e["data"]["fix_id"] for e in events.values() if e["type"] == "fix.generated"}
    assert len(generated) == moved["created"]["fixes"]
    stats = sim.deliveries()
    assert stats["refused_remote"] > 0, "the generated webhooks' remote URLs are never delivered to"
    assert stats["delivered"] == len(app.seen)


def test_failed_deliveries_are_retried_and_knobs_duplicate_and_drop(simulator: Any, capture: Any) -> None:
    sim = simulator(repositories=6, days=30, webhook_retry_scale=0.001)
    app, served = capture(fail_first=2)
    _subscribe(sim, served.url)
    with httpx.Client(base_url=sim.base_url, headers={"authorization": f"Bearer {sim.org_token}"}) as c:
        knobs = {"duplicate_rate": 0.5, "drop_rate": 0.3}
        assert c.post("/_sim/deliveries/config", json=knobs).status_code == 200
        assert c.post("/_sim/deliveries/config", json={"drop_rate": 2}).status_code == 400
        c.post("/_sim/advance", json={"hours": 72})
        wait_for(lambda: c.get("/_sim/deliveries").json()["pending"] == 0, what="deliveries to settle")
        stats = c.get("/_sim/deliveries").json()
    tries = Counter(s["event"]["id"] for s in app.seen)
    assert stats["dropped"] > 0 and stats["duplicated"] > 0
    assert not set(stats["dropped_ids"]) & set(tries), "a dropped event never arrives"
    assert all(n >= 3 for n in tries.values()), "two failures, then the retry that succeeds"
    assert stats["retried"] >= 2 * len(tries)
    attempts = {entry["attempt"] for entry in stats["log"]}
    assert {0, 1, 2} <= attempts


def test_inactive_and_deleted_webhooks_get_nothing_and_remote_urls_are_refused(
    simulator: Any, capture: Any
) -> None:
    sim = simulator(repositories=4, days=30, webhook_retry_scale=0.001)
    app, served = capture()
    _subscribe(sim, served.url, active=False)
    gone = _subscribe(sim, served.url)
    with httpx.Client(base_url=sim.base_url, headers={"authorization": f"Bearer {sim.org_token}"}) as c:
        assert c.delete(f"/webhooks/{gone['id']}").status_code == 204
        assert c.post("/webhooks", json={"url": "http://10.1.2.3/hook"}).status_code == 400
    assert sim.settle_deliveries(30)
    pings = len(app.seen)
    sim.advance(48)
    assert sim.settle_deliveries(30)
    assert len(app.seen) == pings, "no deliveries to an inactive or a deleted webhook"
