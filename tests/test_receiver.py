"""`pixee-etl receive`: signatures, limits, durable acknowledgement, one row per event id."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipelines.events.journal import Journal
from pipelines.events.receiver import ReceiverApp
from tests.webhook_support import SECRET, ReceiverProcess, wait_for

OLD_SECRET = "whsec_old_" + "7" * 24


def _event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"evt_test{n:06d}",
        "type": "pr.merged",
        "created_at": "2026-11-30T10:00:00Z",
        "organization": "acme-corp",
        "repository": "backend-api",
        "data": {"fix_id": f"fix_{n}", "pr_number": n, "repository_id": "repo_1", **extra},
    }


def _post(url: str, body: bytes, secret: str | None = SECRET, signature: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-pixee-signature"] = signature
    elif secret is not None:
        headers["x-pixee-signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(url, content=body, headers=headers, timeout=30)


@pytest.fixture
def receiver(tmp_path: Path) -> Any:
    made: list[ReceiverProcess] = []

    def make(**kwargs: Any) -> ReceiverProcess:
        proc = ReceiverProcess(tmp_path / "events.sqlite", **kwargs)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.stop()


def _stored(journal: Path) -> dict[str, int]:
    with Journal(journal, readonly=True) as j:
        return {e.id: e.deliveries for e in j.events_since(None)}


def test_forged_unsigned_and_replayed_deliveries(receiver: Any) -> None:
    rx = receiver(secrets=(SECRET, OLD_SECRET))
    body = json.dumps(_event(1)).encode()
    assert _post(rx.url, body, secret="whsec_forger_" + "0" * 20).status_code == 401
    assert _post(rx.url, body, secret=None).status_code == 401
    assert _post(rx.url, body, signature="").status_code == 401
    assert _post(rx.url, body + b" ", secret=None, signature=_sig(body)).status_code == 401  # body altered
    assert _stored(rx.journal) == {}, "nothing stored from forged or unsigned deliveries"
    assert _post(rx.url, body).status_code == 200
    replay = _post(rx.url, body)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    # The previous secret still verifies while a subscription is rotated.
    second = json.dumps(_event(2)).encode()
    assert _post(rx.url, second, secret=OLD_SECRET).status_code == 200
    assert _stored(rx.journal) == {"evt_test000001": 2, "evt_test000002": 1}
    assert SECRET not in Path(rx.journal).read_bytes().decode("latin-1")
    assert SECRET not in rx.log.read_text() and OLD_SECRET not in rx.log.read_text()


def _sig(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_oversized_and_malformed_bodies_are_refused(receiver: Any) -> None:
    rx = receiver()
    huge = json.dumps(_event(3, blob="x" * (1024 * 1024))).encode()
    assert _post(rx.url, huge).status_code == 413

    def chunks() -> Any:  # no content-length: the limit must hold while the body streams in
        for _ in range(64):
            yield b"x" * 32768

    streamed = httpx.post(rx.url, content=chunks(), headers={"x-pixee-signature": "00"}, timeout=30)
    assert streamed.status_code == 413
    assert _post(rx.url, b"{not json").status_code == 400
    assert _post(rx.url, b"[1, 2]").status_code == 400
    assert _post(rx.url, json.dumps({"type": "ping"}).encode()).status_code == 400
    assert httpx.get(rx.url.replace("/webhooks/pixee", "/healthz")).json()["events"] == 0
    assert _stored(rx.journal) == {}


def test_sigkill_during_a_burst_loses_no_acknowledged_event(receiver: Any) -> None:
    rx = receiver()
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def sender(offset: int) -> None:
        n = offset
        while not stop.is_set():
            event = _event(n)
            try:
                if _post(rx.url, json.dumps(event).encode()).status_code == 200:
                    with lock:
                        acked.add(event["id"])
            except httpx.HTTPError:
                return  # the receiver is gone
            n += 4

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 40, what="40 acknowledged events")
    rx.kill()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    stored = _stored(rx.journal)
    assert acked, "the burst was acknowledged in part"
    assert acked <= set(stored), f"{len(acked - set(stored))} acknowledged events lost to SIGKILL"
    # Pixee redelivers whatever it did not see acknowledged (and some it did): stored once each.
    again = receiver()
    for event_id in sorted(acked)[:20]:
        n = int(event_id.removeprefix("evt_test"))
        assert _post(again.url, json.dumps(_event(n)).encode()).status_code == 200
    after = _stored(again.journal)
    assert set(after) == set(stored)
    assert all(after[e] == stored[e] + 1 for e in sorted(acked)[:20])


def test_a_receiver_killed_in_a_simulator_burst_ends_with_every_event_once(
    simulator: Any, receiver: Any
) -> None:
    sim = simulator(repositories=40, days=20, webhook_retry_scale=0.002, webhook_duplicate_rate=0.2)
    rx = receiver()
    with httpx.Client(base_url=sim.base_url, headers={"authorization": f"Bearer {sim.org_token}"}) as c:
        assert c.post("/webhooks", json={"url": rx.url, "secret": SECRET}).status_code == 201
    sim.advance(72)  # a burst of a few hundred deliveries
    wait_for(lambda: len(_stored(rx.journal)) >= 10, what="the burst to begin landing")
    rx.kill()
    # Back on the same port within Pixee's retry schedule (scaled): retries fill the gap.
    again = receiver(port=rx.port)
    assert sim.settle_deliveries(120)
    stats = sim.deliveries()
    sent = {entry["event_id"] for entry in stats["log"]}
    stored = _stored(again.journal)
    assert stats["gave_up"] == 0
    assert set(stored) == sent, f"{len(sent - set(stored))} events never stored"
    assert sum(stored.values()) >= len(sent) and stats["duplicated"] > 0


def _children() -> set[int]:
    """Processes whose parent is this one (a server Prefect would start for the events)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found.add(int(stat.parent.name))
    return found


def test_trigger_without_a_prefect_server_says_so_once_and_starts_none(
    receiver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PREFECT_API_URL and no `pixee-etl serve`: one line says so; the events are journaled; no
    throwaway Prefect server is started (no deployment would ever see its events)."""
    env = {"PREFECT_HOME": str(tmp_path / "prefect-home"), "DO_NOT_TRACK": "1"}
    # A flow test earlier in this worker may have pointed the process at its Prefect server.
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    rx = receiver(extra_args=["--trigger"], extra_env=env)
    assert _post(rx.url, json.dumps(_event(1)).encode()).status_code == 200
    said = [line for line in rx.log.read_text().splitlines() if "--trigger" in line]
    assert len(said) == 1 and "no Prefect server to send events to" in said[0], said
    assert "PREFECT_API_URL is not set" in said[0] and "pixee-etl serve" in said[0]
    assert _stored(rx.journal) == {"evt_test000001": 1}


def test_trigger_fires_into_no_throwaway_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from pipelines.events import trigger

    monkeypatch.setattr(trigger, "prefect_home", lambda: tmp_path)  # no serve has run here
    # A flow test earlier in this worker may have pointed the process at its Prefect server.
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        _fires_into_no_server(trigger, tmp_path)


def _fires_into_no_server(trigger: Any, tmp_path: Path) -> None:
    url, where = trigger.prefect_api_url()
    assert (url, where) == (None, str(tmp_path))
    before = _children()
    fire = trigger.PrefectTrigger("duckdb", debounce_seconds=0.0)
    fire({"id": "evt_1"})
    wait_for(lambda: fire._timer is None, 30, "the trigger to fire")
    assert fire.emitted == 0 and _children() == before
    # a serve that runs leaves its server's URL; one that died (its pid gone) does not count
    trigger.write_serve_marker(tmp_path, "http://127.0.0.1:4321/api")
    assert trigger.prefect_api_url()[0] == "http://127.0.0.1:4321/api"
    (tmp_path / trigger.SERVE_MARKER).write_text(json.dumps({"url": "http://x/api", "pid": 2**22 + 7}))
    assert trigger.prefect_api_url()[0] is None


def _deep(levels: int) -> bytes:
    return b'{"id": "evt_deep", "type": "pr.merged", "data": {"x": ' + b"[" * levels + b"]" * levels + b"}}"


HOSTILE_SIGNED = {
    # Before: a RecursionError, answered 500, which Pixee retries on its schedule forever.
    "nested 200,000 deep": _deep(200_000),
    "nested past what a warehouse column holds": _deep(100),
    "an integer beyond 64 bits": json.dumps(_event(4, pr_number=2**70)).encode(),
    # SQLite refuses to store a lone surrogate: it was a 503 on every redelivery.
    "a lone surrogate in the type": b'{"id": "evt_sur", "type": "pr.\\ud800", "data": {}}',
    "a lone surrogate in a field name": b'{"id": "evt_key", "type": "pr.merged", "data": {"\\udc00": 1}}',
}


def test_a_signed_body_no_journal_or_warehouse_can_hold_is_a_400_counted_as_bad(receiver: Any) -> None:
    rx = receiver()
    for name, body in HOSTILE_SIGNED.items():
        answer = _post(rx.url, body)
        assert answer.status_code == 400, (name, answer.status_code, answer.text)
    assert _post(rx.url, json.dumps(_event(5)).encode()).status_code == 200  # still serving
    assert _stored(rx.journal) == {"evt_test000005": 1}
    log = rx.log.read_text()
    assert "Traceback" not in log and log.count("webhook delivery refused: 400") == len(HOSTILE_SIGNED)


def test_the_receiver_counts_each_hostile_signed_body_like_any_bad_body(tmp_path: Path) -> None:
    app = ReceiverApp(Journal(tmp_path / "events.sqlite"), [SECRET])
    for body in HOSTILE_SIGNED.values():
        assert _call(app, body) == 400
    assert app.counts["bad_request"] == len(HOSTILE_SIGNED) and app.counts["stored"] == 0


def _call(app: Any, body: bytes) -> int:
    """One signed POST through the ASGI app in-process; the status it answered."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "path": "/webhooks/pixee",
        "method": "POST",
        "headers": [
            (b"x-pixee-signature", _sig(body).encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])
