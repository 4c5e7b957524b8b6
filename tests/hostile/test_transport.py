"""Hostile transport: bodies and headers that trickle, 429 forever, Retry-After as a date and on
503, corrupt gzip, a DNS typo and a closed port. Each ends as served (after retries) or in one
line that names the host or endpoint and the cause, with committed batches kept."""

from __future__ import annotations

import email.utils
import gzip
import json
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipelines.api.client import PixeeClient
from pipelines.api.rate_limit import TokenBucket
from pipelines.errors import ApiError, RateLimitCeilingError
from pipelines.load.sync import sync
from pipelines.settings import Secret, Settings
from tests.hostile.support import HostileProxy, Proxied, Reply, Upstream, loaded_repositories, one_line
from tests.test_client import FakeClock  # time that passes only when the bucket sleeps

TOKEN = "pxo_hostile-transport-8d2f61ac"
PAGE = {"data": [{"id": f"f_{i}", "title": "x" * 20} for i in range(3)], "pagination": {"has_more": False}}
ERROR_429 = {"error": {"code": "rate_limited", "message": "slow down", "request_id": "req_429"}}


def client_for(server: HostileProxy, clock: FakeClock | None = None, **settings: Any) -> PixeeClient:
    base = {"base_url": server.base_url, "token": Secret(TOKEN), "requests_per_minute": 60000.0, "burst": 100}  # type: ignore[attr-defined]
    bucket = TokenBucket(60000, 100, clock=clock, sleep=clock.sleep) if clock else None
    return PixeeClient(
        Settings(**{**base, **settings}),  # type: ignore[arg-type]
        bucket=bucket,
        backoff_base=0.001,
        max_attempts=3,
        sleep=clock.sleep if clock else time.sleep,
    )


def first_then(bad: Reply, times: int = 1) -> Callable[[str, str, Upstream], Reply]:
    """`bad` for the first `times` requests, then the page."""
    served = {"n": 0}

    def tamper(path: str, query: str, upstream: Upstream) -> Reply:
        served["n"] += 1
        return bad if served["n"] <= times else Reply(body=PAGE)

    return tamper


def trickled(**delays: float) -> Reply:
    return Reply(body=PAGE, **delays)


@pytest.mark.parametrize(
    "bad",
    [
        trickled(byte_delay=0.2),
        trickled(header_delay=0.2),
        Reply(body=b"\x1f\x8b\x08\x00garbage, not gzip", headers={"Content-Encoding": "gzip"}),
        Reply(body=gzip.compress(json.dumps(PAGE).encode())[:-12], headers={"Content-Encoding": "gzip"}),
    ],
    ids=["body-trickles", "headers-trickle", "gzip-garbage", "gzip-truncated"],
)
def test_a_bad_response_is_retried_and_then_served(proxy: Callable[..., HostileProxy], bad: Reply) -> None:
    server = proxy()
    server.tamper = first_then(bad)
    # A trickle takes 20 s and more; the deadline leaves a loaded machine ample time for the retry.
    with client_for(server, request_deadline_seconds=2.0) as client:
        assert client.get_json("/repositories", resource="repositories") == PAGE
        assert client.stats.snapshot()["repositories"].retries == 1


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            trickled(byte_delay=0.05),
            "no complete response from 127.0.0.1 within request_deadline_seconds=0.5",
        ),
        (
            trickled(header_delay=0.05),
            "no complete response from 127.0.0.1 within request_deadline_seconds=0.5",
        ),
        (Reply(body=b"garbage", headers={"Content-Encoding": "gzip"}), "sent a body that does not decode"),
        (Reply(body=b"[" * 5000 + b"]" * 5000), "200 with a body that is nested too deeply to decode"),
    ],
    ids=["body-trickles", "headers-trickle", "gzip-garbage", "nesting-beyond-the-decoder"],
)
def test_a_response_bad_every_time_fails_in_one_line(
    proxy: Callable[..., HostileProxy], bad: Reply, expected: str
) -> None:
    server = proxy()
    server.tamper = first_then(bad, times=99)
    deadline = 0.5 if "request_deadline" in expected else 60.0  # only trickles meet the deadline
    with client_for(server, request_deadline_seconds=deadline) as client, pytest.raises(ApiError) as failed:
        client.get_json("/repositories", resource="repositories")
    message = str(failed.value)
    assert message.startswith("gave up after 3 attempts (") and expected in message, message
    assert "endpoint /api/v1/repositories" in message and one_line(message)


def test_an_endless_body_is_cut_off_at_the_size_cap(
    proxy: Callable[..., HostileProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pipelines.api.client.MAX_BODY_BYTES", 10_000)
    server = proxy()
    server.tamper = lambda p, q, u: Reply(body={"data": ["x" * 100] * 500})
    with client_for(server) as client, pytest.raises(ApiError) as failed:
        client.get_json("/repositories", resource="repositories")
    assert "127.0.0.1 sent a body above 10,000 bytes" in str(failed.value)


def test_429_forever_ends_at_the_runs_rate_limit_budget(proxy: Callable[..., HostileProxy]) -> None:
    server = proxy()
    server.tamper = lambda p, q, u: Reply(429, ERROR_429, {"Retry-After": "0"})
    clock = FakeClock()
    with (
        client_for(server, clock, max_rate_limit_wait_seconds=30.0) as client,
        pytest.raises(RateLimitCeilingError) as failed,
    ):
        client.get_json("/repositories", resource="repositories")
    message = str(failed.value)
    # Retry-After: 0 still counts a second a time: 30 requests, not an endless stream of them.
    assert message.startswith(
        "rate limited for 31 s in total this run; committed progress kept; the next run resumes"
    )
    assert "max_rate_limit_wait_seconds=30" in message and one_line(message)
    assert len(server.seen) == 31


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_as_an_http_date_is_waited_out(proxy: Callable[..., HostileProxy], status: int) -> None:
    server = proxy()
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    server.tamper = first_then(Reply(status, ERROR_429, {"Retry-After": when}))
    clock = FakeClock()
    with client_for(server, clock) as client:
        assert client.get_json("/repositories", resource="repositories") == PAGE
    assert 35 <= sum(clock.slept) <= 41, clock.slept  # the date's distance, not a default second
    assert client.rate_limited_seconds == sum(clock.slept)


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", ""])
def test_a_meaningless_or_past_retry_after_still_waits_a_second(
    proxy: Callable[..., HostileProxy], value: str
) -> None:
    server = proxy()
    server.tamper = first_then(Reply(429, ERROR_429, {"Retry-After": value}))
    clock = FakeClock()
    with client_for(server, clock) as client:
        assert client.get_json("/repositories", resource="repositories") == PAGE
    assert clock.slept == [1.0]


def test_503_with_retry_after_is_honoured_and_a_long_one_ends_the_run(
    proxy: Callable[..., HostileProxy],
) -> None:
    server = proxy()
    server.tamper = first_then(Reply(503, b"<html>maintenance</html>", {"Retry-After": "7"}), times=2)
    clock = FakeClock()
    with client_for(server, clock) as client:
        assert client.get_json("/repositories", resource="repositories") == PAGE
    assert clock.slept == [7.0, 7.0]

    server.tamper = first_then(Reply(503, b"down for the night", {"Retry-After": "36000"}))
    with client_for(server, FakeClock()) as client, pytest.raises(RateLimitCeilingError) as failed:
        client.get_json("/repositories", resource="repositories")
    assert str(failed.value).startswith(
        "rate limited for 36000 s; committed progress kept; the next run resumes"
    )


def test_a_dns_typo_names_the_host_and_says_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    settings = Settings(base_url="https://app.pixe.ai/api/v1", token=Secret(TOKEN))
    with (
        PixeeClient(settings, max_attempts=2, backoff_base=0.001) as client,
        pytest.raises(ApiError) as failed,
    ):
        client.get_json("/repositories")
    message = str(failed.value)
    assert "cannot resolve host 'app.pixe.ai' (DNS: " in message and "check PIXEE_BASE_URL" in message, (
        message
    )
    assert one_line(message)


def test_a_closed_port_says_refused_naming_the_host() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    settings = Settings(base_url=f"http://127.0.0.1:{port}/api/v1", token=Secret(TOKEN))
    with (
        PixeeClient(settings, max_attempts=2, backoff_base=0.001) as client,
        pytest.raises(ApiError) as failed,
    ):
        client.get_json("/repositories")
    assert "connection to 127.0.0.1 refused" in str(failed.value), failed.value


def test_a_trickling_page_mid_sync_is_retried_and_the_warehouse_matches(
    proxied: Callable[..., Proxied], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    run = proxied(repositories=2, days=10)
    sim, server = run.sim, run.server
    repo = sorted(r["id"] for r in sim.truth()["repositories"])[1]
    served: dict[str, int] = {}

    def tamper(path: str, query: str, upstream: Upstream) -> Reply | None:
        # The first findings page trickles, the first /repositories body is corrupt gzip.
        served[path] = served.get(path, 0) + 1
        if served[path] > 1:
            return None
        if path == f"/repositories/{repo}/findings":
            return Reply(upstream.status, upstream.body, byte_delay=0.02)
        if path == "/repositories":
            return Reply(200, b"\x1f\x8b not gzip at all", {"Content-Encoding": "gzip"})
        return None

    server.tamper = tamper
    # The trickle would take minutes; 3 s leaves a loaded machine ample time for every other page.
    settings = run.settings(request_deadline_seconds=3.0)
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    assert report.retries >= 2
    assert_matches_truth(sim, settings.duckdb_path)


def test_429_forever_mid_sync_ends_the_run_keeping_committed_batches(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    proxy: Callable[..., HostileProxy],
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=3, days=10)
    repos = sorted(r["id"] for r in sim.truth()["repositories"])
    server = proxy(sim)
    server.tamper = lambda p, q, u: (
        Reply(429, ERROR_429, {"Retry-After": "1"}) if p.startswith(f"/repositories/{repos[1]}/") else None
    )
    settings = sim_settings(sim, base_url=server.base_url, concurrency=1, max_rate_limit_wait_seconds=2.0)  # type: ignore[attr-defined]
    with pytest.raises(RateLimitCeilingError) as failed:
        sync(settings, pipelines_dir=str(tmp_path / "dlt"), batch_repositories=1)
    assert str(failed.value).startswith("rate limited for 3 s in total this run; committed progress kept")
    # The batch before it stays; that the next run resumes from there is test_faults' ceiling case.
    assert repos[0] in loaded_repositories(settings.duckdb_path)
    assert repos[1] not in loaded_repositories(settings.duckdb_path)


def moved(status: int) -> Callable[[str, str, Upstream], Reply]:
    """Every request answered `status` to the same URL under /api/v1/moved, which serves the page."""

    def tamper(path: str, query: str, upstream: Upstream) -> Reply:
        if path.startswith("/moved/"):
            return Reply(body=PAGE)
        return Reply(status, b"", {"Location": f"/api/v1/moved{path}?{query}".rstrip("?")})

    return tamper


@pytest.mark.parametrize("status", [307, 308])
def test_a_307_or_308_within_the_origin_is_followed_with_the_token(
    proxy: Callable[..., HostileProxy], status: int
) -> None:
    server = proxy()
    server.tamper = moved(status)
    with client_for(server) as client:
        assert client.get_json("/repositories", {"limit": 100}, resource="repositories") == PAGE
    assert server.seen == [("/repositories", "limit=100"), ("/moved/repositories", "limit=100")]


def test_a_redirect_loop_or_to_another_origin_fails_in_one_line_and_never_carries_the_token(
    proxy: Callable[..., HostileProxy],
) -> None:
    server, elsewhere = proxy(), proxy()  # another port: another origin
    server.tamper = lambda p, q, u: Reply(307, b"", {"Location": "/api/v1/again"})
    with client_for(server) as client, pytest.raises(ApiError) as looped:
        client.get_json("/repositories", resource="repositories")
    assert "more than 5 redirects in a row" in str(looped.value) and one_line(str(looped.value))
    assert len(server.seen) == 6

    server.tamper = lambda p, q, u: Reply(308, b"", {"Location": f"{elsewhere.base_url}/repositories"})  # type: ignore[attr-defined]
    with client_for(server) as client, pytest.raises(ApiError) as away:
        client.get_json("/repositories", resource="repositories")
    message = str(away.value)
    assert "another host or scheme (or none); refusing to send the token there" in message, message
    assert "endpoint /api/v1/repositories" in message and one_line(message)
    assert elsewhere.seen == []


def test_a_list_moved_by_307_within_the_origin_loads_as_served(
    proxied: Callable[..., Proxied], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    # Before: a 307 was an error like any 4xx, and the repository's findings were not read.
    run = proxied(repositories=2, days=10)
    sim, server = run.sim, run.server
    repo = sorted(r["id"] for r in sim.truth()["repositories"])[1]

    def tamper(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path != f"/repositories/{repo}/findings" or "moved=1" in query:
            return None
        return Reply(307, b"", {"Location": f"/api/v1{path}?{query}&moved=1"})

    server.tamper = tamper
    settings = run.settings()
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    assert report.failures == []
    assert_matches_truth(sim, settings.duckdb_path)
    asked = [q for p, q in server.seen if p == f"/repositories/{repo}/findings"]
    moved_to = [q for q in asked if "moved=1" in q]
    assert moved_to and len(moved_to) * 2 == len(asked)  # each page: a 307, then the page
