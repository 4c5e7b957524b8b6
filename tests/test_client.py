"""The HTTP client: retries, 429 handling, fail-fast errors, the TLS rule and redaction.

These use httpx.MockTransport (swapping the transport is the httpx way) to script exact
fault sequences; everything end to end runs against the simulator in test_connector*.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import httpx
import pytest

from pipelines.api.client import PixeeClient
from pipelines.api.paging import envelope_of
from pipelines.api.rate_limit import TokenBucket
from pipelines.api.redaction import redact, register_secret
from pipelines.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ForbiddenError,
    NotFoundError,
    RateLimitCeilingError,
)
from pipelines.settings import Secret, Settings, load_settings

TOKEN = "pixee-test-token-7f3a9c"
BASE = "http://127.0.0.1:9/api/v1"


class FakeClock:
    """Time that passes only when someone sleeps: bucket arithmetic without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def settings(**kw: object) -> Settings:
    base = {"base_url": BASE, "token": Secret(TOKEN), "requests_per_minute": 6000.0, "burst": 50}
    return Settings(**{**base, **kw})  # type: ignore[arg-type]


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], clock: FakeClock | None = None, **kw: object
) -> PixeeClient:
    clock = clock or FakeClock()
    bucket = TokenBucket(6000, 50, clock=clock, sleep=clock.sleep)
    return PixeeClient(
        settings(**kw),
        transport=httpx.MockTransport(handler),
        bucket=bucket,
        sleep=clock.sleep,
        max_attempts=4,
    )


def error(status: int, code: str, request_id: str = "req_abc") -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} happened", "request_id": request_id}}
    return httpx.Response(status, json=body)


def page(items: list[dict[str, object]]) -> httpx.Response:
    return httpx.Response(200, json={"data": items, "pagination": {"next_cursor": None, "has_more": False}})


def scripted(*responses: httpx.Response | Exception) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def test_bearer_token_sent_and_json_returned() -> None:
    handler = scripted(page([{"id": "repo_1"}]))
    body = client_for(handler).get_json("/repositories", {"limit": 1})
    request = handler.seen[0]  # type: ignore[attr-defined]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.url.path == "/api/v1/repositories"
    assert body["data"] == [{"id": "repo_1"}]


@pytest.mark.parametrize(
    "fault",
    [
        error(500, "internal_error"),
        httpx.Response(503, text="<html>Service Unavailable</html>"),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(504, text=""),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.Response(200, text='{"data": [{"id": "f_1"'),  # truncated JSON
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json={"items": []}),  # missing its envelope
    ],
)
def test_transient_faults_are_retried_then_succeed(fault: httpx.Response | Exception) -> None:
    clock = FakeClock()
    handler = scripted(fault, fault, page([{"id": "x"}]))
    client = client_for(handler, clock)
    body = client.get_json("/repositories", resource="repositories", validate=envelope_of)
    assert body["data"] == [{"id": "x"}]
    stats = client.stats.snapshot()["repositories"]
    assert (stats.requests, stats.retries) == (3, 2)


def test_backoff_is_exponential_with_full_jitter_and_bounded() -> None:
    clock = FakeClock()
    client = client_for(scripted(error(500, "internal_error", "req_last")), clock)
    with pytest.raises(ApiError) as info:
        client.get_json("/repositories/repo_9/findings", {"cursor": "abc"}, resource="findings")
    message = str(info.value)
    assert "gave up after 4 attempts" in message
    assert "/api/v1/repositories/repo_9/findings" in message
    assert "req_last" in message and "127.0.0.1" not in message
    backoffs = clock.slept
    assert len(backoffs) == 3
    # full jitter: each delay lies in [0, base * 2**n]
    for n, delay in enumerate(backoffs):
        assert 0 <= delay <= 0.5 * 2**n


def test_401_fails_at_once_in_one_line_without_the_token() -> None:
    handler = scripted(error(401, "unauthorized"))
    with pytest.raises(AuthError) as info:
        client_for(handler).get_json("/repositories")
    assert len(handler.seen) == 1  # type: ignore[attr-defined]
    text = str(info.value)
    assert "\n" not in text and TOKEN not in text and "401" in text


def test_403_and_404_have_their_own_errors() -> None:
    with pytest.raises(ForbiddenError):
        client_for(scripted(error(403, "forbidden"))).get_json("/webhooks")
    with pytest.raises(NotFoundError):
        client_for(scripted(error(404, "not_found"))).get_json("/repositories/repo_gone/fixes")
    with pytest.raises(ApiError, match="invalid_cursor happened"):
        client_for(scripted(error(400, "invalid_cursor"))).get_json("/repositories")


def test_429_waits_retry_after_and_slows_the_whole_bucket() -> None:
    clock = FakeClock()
    throttled = httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"code": "rate_limited"}})
    client = client_for(scripted(throttled, page([])), clock)
    client.get_json("/repositories", resource="repositories")
    assert clock.now >= 3.0
    stats = client.stats.snapshot()["repositories"]
    assert stats.throttled_429 == 1 and stats.retries == 0
    # The bucket restarted empty after the wait: the next request waits for a fresh token.
    before = clock.now
    client.bucket.acquire()
    assert clock.now > before


def test_retry_after_above_the_ceiling_stops_the_run() -> None:
    throttled = httpx.Response(429, headers={"Retry-After": "3600"})
    client = client_for(scripted(throttled), max_retry_after_seconds=60.0)
    with pytest.raises(RateLimitCeilingError, match="rate limited for 3600 s; committed progress kept"):
        client.get_json("/repositories")


def test_bucket_admits_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, 10, headroom_seconds=0, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        assert bucket.acquire() == 0
    bucket.acquire()
    assert clock.now == pytest.approx(1.0)
    for _ in range(5):
        bucket.acquire()
    assert clock.now == pytest.approx(6.0)


def test_bucket_holds_back_a_share_of_the_burst_for_arrival_jitter() -> None:
    # 0.2 s of requests at the rate, at least one token, never the whole burst.
    assert TokenBucket(60, 10).capacity == 9  # standard tier: one token
    assert TokenBucket(300, 50).capacity == 49
    assert TokenBucket(600, 10).capacity == 8  # 10/s x 0.2 s
    assert TokenBucket(6000, 10).capacity == 1
    assert TokenBucket(60, 1).capacity == 1


def test_plain_http_off_loopback_is_refused() -> None:
    with pytest.raises(ConfigError, match="HTTPS is required"):
        PixeeClient(settings(base_url="http://api.example.com/api/v1"))
    with pytest.raises(ConfigError, match="HTTPS is required"):
        load_settings(env={"PIXEE_BASE_URL": "http://10.0.0.5/api/v1", "PIXEE_TOKEN": TOKEN})


def test_links_to_another_host_are_refused() -> None:
    client = client_for(scripted(page([])))
    assert client.url_for("/api/v1/repositories?page-number=2").startswith("http://127.0.0.1:9/api/v1/")
    with pytest.raises(ApiError, match="another host"):
        client.url_for("https://evil.example.com/api/v1/repositories")


def test_token_redacted_from_every_log_record(caplog: pytest.LogCaptureFixture) -> None:
    register_secret(TOKEN)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("some.library").debug("headers: %s", {"authorization": f"Bearer {TOKEN}"})
    try:
        raise RuntimeError(f"boom {TOKEN}")
    except RuntimeError:
        logging.getLogger("other").exception("failed")
    client_for(scripted(page([]))).get_json("/repositories")
    assert TOKEN not in caplog.text
    assert "***" in caplog.text
    assert redact(f"x{TOKEN}y") == "x***y"
    assert TOKEN not in json.dumps([r.getMessage() for r in caplog.records])


def test_the_progress_lines_rate_limit_wait_is_wall_time_not_a_sum_over_threads() -> None:
    """Eight threads queued on one bucket (10 requests/s, no burst) wait 0.1 .. 0.8 s each, together
    3.6 s, within 0.8 s of wall time: the line a user watches says 0.8 s, not 3.6."""
    import threading
    import time

    from pipelines.publish.run_summary import SyncReport

    bucket = TokenBucket(600, 1, headroom_seconds=0)
    bucket.acquire()  # the one token: everyone after it queues
    waits: list[float] = []
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: waits.append(bucket.acquire())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    wall = bucket.wall_wait_seconds()
    assert sum(waits) > 3.0 and 0.7 <= wall <= elapsed + 0.05
    report = SyncReport(600.0, 1)
    assert report.progress_line(wall).endswith(f"rate-limit wait {wall:.0f} s")
    assert report.progress_line().endswith("summed over threads")
