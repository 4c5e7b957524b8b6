"""The one HTTP client of pixee-etl: bearer auth, one token bucket per token, retries, redaction."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from pipelines.errors import ApiError, AuthError, RateLimitCeilingError
from pipelines.settings import Settings, validate_base_url

log = logging.getLogger("pipelines.client")

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=120.0)
USER_AGENT = "pixee-etl/0.1 (+dlt)"


class ForbiddenError(ApiError):
    """403: the token may not see this path (a repository token on /webhooks, say)."""


class NotFoundError(ApiError):
    """404: the object is gone (a repository deleted between list and child call, say)."""


class BadPageError(Exception):
    """A 200 whose body is not what a page must be; retried like a transient fault."""


# ---------------------------------------------------------------------------------------------------
# Redaction: the token never reaches a log line, whatever logger or handler emits it.


_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember a secret so every log record and error text that passes redact() hides it."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)
        _install_log_filter()


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    """Formats the record once and replaces every registered secret by '***'."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string must not hide the record
                message = str(record.msg)
            cleaned = redact(message)
            if cleaned != message or record.args:
                record.msg, record.args = cleaned, None
            if record.exc_info and record.exc_info[1] is not None:
                # Tracebacks are rendered by the handler; render now so the secret can be removed.
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


_FILTER = RedactingFilter()
_factory_installed = False


def _install_log_filter() -> None:
    """Attach the filter where every record passes: the record factory, so handlers added later
    (Prefect's, pytest's) see redacted records too, and httpx/httpcore never log headers."""
    global _factory_installed
    with _secrets_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _FILTER.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
    # httpcore's DEBUG trace names every header event; keep it quiet whatever the root level is.
    for name in ("httpcore", "hpack"):
        logging.getLogger(name).setLevel(logging.WARNING)


# ---------------------------------------------------------------------------------------------------
# The token bucket.


class TokenBucket:
    """Client-side copy of the server's bucket: capacity `burst`, refilled at rate/60 per second.

    Thread-safe: callers reserve a slot under the lock and sleep outside it, so N threads share
    one budget. Part of the burst is held back: the server counts a request when it arrives, and
    a request delayed on its way (a busy machine, a slow thread) lets later ones bunch up behind
    it. Holding back rate x `headroom_seconds` tokens (at least one, less than the burst) absorbs
    that much delay: the server's bucket then always holds that many tokens more than ours.
    The steady rate is the server's; only the opening burst is smaller.
    """

    def __init__(
        self,
        requests_per_minute: float,
        burst: int,
        *,
        headroom_seconds: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_minute <= 0 or burst < 1:
            raise ValueError("requests_per_minute and burst must be positive")
        self.rate = requests_per_minute / 60.0
        headroom = min(burst - 1.0, max(1.0, self.rate * headroom_seconds)) if headroom_seconds else 0.0
        self.capacity = max(1.0, burst - headroom)
        self.requests_per_minute = requests_per_minute
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._last = clock()
        self._blocked_until = 0.0

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def acquire(self) -> float:
        """Take one token, sleeping until it is there; returns the seconds spent waiting."""
        waited = 0.0
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1.0
            # A negative balance is a queue of reservations: this caller's slot is -tokens/rate away.
            delay = max(0.0, -self._tokens / self.rate, self._blocked_until - now)
        while delay > 0:
            self._sleep(delay)
            waited += delay
            with self._lock:
                # A 429 seen by another thread while we slept pushes everyone back.
                delay = max(0.0, self._blocked_until - self._clock())
        return waited

    def penalize(self, seconds: float) -> None:
        """The server said wait `seconds` (429): nobody sends before then, and refill restarts empty."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            until = now + seconds
            self._blocked_until = max(self._blocked_until, until)
            self._tokens = min(self._tokens, 0.0)
            self._last = max(self._last, until)


_buckets: dict[str, TokenBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(base_url: str, token: str, requests_per_minute: float, burst: int) -> TokenBucket:
    """The process-wide bucket of one token: every client, resource and thread on it shares it,
    so a second sync in the same process continues where the server's bucket stands."""
    key = hashlib.sha256(f"{base_url}\0{token}".encode()).hexdigest()
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None or (bucket.requests_per_minute, bucket.burst) != (requests_per_minute, burst):
            bucket = _buckets[key] = TokenBucket(requests_per_minute, burst)
        return bucket


# ---------------------------------------------------------------------------------------------------
# Statistics per resource, read by the sync report and the live progress line.


@dataclass
class RequestStats:
    """What one resource's requests cost."""

    requests: int = 0
    throttled_429: int = 0
    retries: int = 0
    wait_seconds: float = 0.0  # rate-limit waits: the bucket and Retry-After
    backoff_seconds: float = 0.0
    first_request: float | None = None
    last_response: float | None = None

    @property
    def elapsed(self) -> float:
        if self.first_request is None or self.last_response is None:
            return 0.0
        return self.last_response - self.first_request


@dataclass
class ClientStats:
    """Thread-safe counters keyed by resource name."""

    by_resource: dict[str, RequestStats] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, resource: str, **changes: float) -> None:
        with self._lock:
            stats = self.by_resource.setdefault(resource, RequestStats())
            now = time.monotonic()
            for name, value in changes.items():
                if name == "started":
                    if stats.first_request is None:
                        stats.first_request = now
                elif name == "finished":
                    stats.last_response = now
                else:
                    setattr(stats, name, getattr(stats, name) + value)

    def snapshot(self) -> dict[str, RequestStats]:
        with self._lock:
            return {k: RequestStats(**vars(v)) for k, v in self.by_resource.items()}

    def totals(self) -> RequestStats:
        snap = self.snapshot().values()
        total = RequestStats()
        for s in snap:
            total.requests += s.requests
            total.throttled_429 += s.throttled_429
            total.retries += s.retries
            total.wait_seconds += s.wait_seconds
            total.backoff_seconds += s.backoff_seconds
        firsts = [s.first_request for s in snap if s.first_request is not None]
        lasts = [s.last_response for s in snap if s.last_response is not None]
        total.first_request = min(firsts) if firsts else None
        total.last_response = max(lasts) if lasts else None
        return total


# ---------------------------------------------------------------------------------------------------
# The client.


class _Transient(Exception):
    """One attempt failed in a way worth retrying; carries what the final error should say."""

    def __init__(self, reason: str, status: int | None = None, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.request_id = reason, status, request_id


def _error_body(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """(code, message, request_id) from the documented error body, tolerating anything else."""
    request_id = response.headers.get("x-request-id")
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return None, None, request_id
    if not isinstance(error, dict):
        return None, None, request_id
    return error.get("code"), error.get("message"), error.get("request_id") or request_id


def _retry_after(response: httpx.Response) -> float:
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 1.0  # the contract promises whole seconds; a missing header must still slow us down


class PixeeClient:
    """GETs JSON from the Pixee API under the token's rate limit, retrying what is transient.

    One instance per sync; safe to share between threads (httpx.Client is).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        bucket: TokenBucket | None = None,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        token = settings.require_token().reveal()
        self.base_url = validate_base_url(settings.base_url)
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        register_secret(token)
        self.bucket = bucket or bucket_for(self.base_url, token, settings.requests_per_minute, settings.burst)
        self.max_retry_after = settings.max_retry_after_seconds
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self.stats = ClientStats()
        self._http = httpx.Client(
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(
                max_connections=settings.concurrency + 4, max_keepalive_connections=settings.concurrency + 4
            ),
            follow_redirects=False,  # a redirect could carry the bearer header to another host
        )

    # -- public -------------------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for an API path ('/repositories') or a link the API gave us; refuses
        any other host so the bearer token is only ever sent to the configured API."""
        if path_or_url.startswith(("http://", "https://")):
            url = path_or_url
        elif path_or_url.startswith(urlsplit(self.base_url).path + "/"):
            url = urljoin(self._origin, path_or_url)  # HAL links are absolute paths
        else:
            url = self.base_url + "/" + path_or_url.lstrip("/")
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self._origin:
            raise ApiError("the API linked to another host; refusing to send the token there")
        return url

    def get_json(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        resource: str = "other",
        validate: Callable[[Any], None] | None = None,
    ) -> Any:
        """The decoded JSON body of a successful GET.

        `validate` may raise BadPageError for a 200 that is not a well-formed page; that is retried
        like a 503. Raises AuthError (401), ForbiddenError (403), NotFoundError (404), ApiError
        (other 4xx, or transient faults that outlived the retries), RateLimitCeilingError.
        """
        url = self.url_for(path_or_url)
        endpoint = urlsplit(url).path
        attempt = 0
        while True:
            waited = self.bucket.acquire()
            self.stats.update(resource, wait_seconds=waited, started=1)
            try:
                return self._attempt(url, params, endpoint, resource, validate)
            except _Transient as fault:
                attempt += 1
                if attempt >= self.max_attempts:
                    raise ApiError(
                        f"gave up after {attempt} attempts ({fault.reason})",
                        status=fault.status,
                        endpoint=endpoint,
                        request_id=fault.request_id,
                    ) from None
                # Full jitter: spreads retries of many threads over the whole window.
                delay = random.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))
                log.info("retrying %s after %s (attempt %d, %.1f s)", endpoint, fault.reason, attempt, delay)
                self.stats.update(resource, retries=1, backoff_seconds=delay)
                self._sleep(delay)
            except _Throttled as throttled:
                seconds = throttled.seconds
                self.stats.update(resource, throttled_429=1)
                if seconds > self.max_retry_after:
                    raise RateLimitCeilingError(
                        f"rate limited for {seconds:.0f} s; committed progress kept; the next run resumes "
                        f"(Retry-After is above max_retry_after_seconds={self.max_retry_after:.0f})"
                    ) from None
                log.info("429 on %s: waiting %.0f s, slowing every request on this token", endpoint, seconds)
                self.bucket.penalize(seconds)

    def post_json(self, path: str, body: Mapping[str, Any], *, resource: str = "other") -> Any:
        """POST a JSON body once (a POST is not idempotent: a retried one could subscribe twice);
        only a 429, which the server answers without acting, is waited out and sent again."""
        url = self.url_for(path)
        endpoint = urlsplit(url).path
        while True:
            self.stats.update(resource, wait_seconds=self.bucket.acquire(), started=1)
            try:
                return self._attempt(url, None, endpoint, resource, None, json_body=body)
            except _Transient as fault:
                raise ApiError(
                    f"{fault.reason}; the request was not retried, it may or may not have taken effect",
                    status=fault.status,
                    endpoint=endpoint,
                    request_id=fault.request_id,
                ) from None
            except _Throttled as throttled:
                self.stats.update(resource, throttled_429=1)
                if throttled.seconds > self.max_retry_after:
                    raise RateLimitCeilingError(f"rate limited for {throttled.seconds:.0f} s") from None
                self.bucket.penalize(throttled.seconds)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PixeeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one attempt --------------------------------------------------------------------------

    def _attempt(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        endpoint: str,
        resource: str,
        validate: Callable[[Any], None] | None,
        json_body: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            self.stats.update(resource, requests=1)
            if json_body is None:
                response = self._http.get(url, params=params)
            else:
                response = self._http.post(url, json=dict(json_body))
        except httpx.TimeoutException as exc:
            raise _Transient(f"timeout: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise _Transient(f"connection error: {type(exc).__name__}") from None
        finally:
            self.stats.update(resource, finished=1)
        status = response.status_code
        if status == 200 or (status == 201 and json_body is not None):
            request_id = response.headers.get("x-request-id")
            try:
                body = json.loads(response.content)
            except ValueError:
                raise _Transient("200 with a body that is not valid JSON", status, request_id) from None
            if validate is not None:
                try:
                    validate(body)
                except BadPageError as exc:
                    raise _Transient(f"200 with a malformed page: {exc}", status, request_id) from None
            return body
        if status == 429:
            raise _Throttled(_retry_after(response))
        code, message, request_id = _error_body(response)
        if status in RETRYABLE_STATUS or 500 <= status < 600:
            raise _Transient(f"HTTP {status}", status, request_id)
        text = redact(message or response.reason_phrase or "error")
        if status == 401:
            raise AuthError(
                "the API refused the token (401 unauthorized); check PIXEE_TOKEN",
                status=401,
                code=code,
                endpoint=endpoint,
                request_id=request_id,
            )
        kind = {403: ForbiddenError, 404: NotFoundError}.get(status, ApiError)
        raise kind(text, status=status, code=code, endpoint=endpoint, request_id=request_id)


class _Throttled(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def make_client(settings: Settings, **kwargs: Any) -> PixeeClient:
    """The client for these settings (kwargs: transport, bucket, retry tuning for tests)."""
    return PixeeClient(settings, **kwargs)


def iter_secrets() -> Iterable[str]:
    """The secrets registered so far (tests assert none of them reached an output)."""
    return tuple(_secrets)
