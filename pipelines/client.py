"""The one HTTP client of pixee-etl: bearer auth, one token bucket per token, retries, redaction."""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from pipelines import deadline as deadlines
from pipelines import tls
from pipelines.errors import (
    ApiError,
    AuthError,
    BadPageError,
    ForbiddenError,
    NotFoundError,
    RateLimitCeilingError,
    shown,
)
from pipelines.redaction import add_secret, holds_secret, redact, scrub, secrets
from pipelines.settings import Settings, validate_base_url

log = logging.getLogger("pipelines.client")

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=120.0)
USER_AGENT = "pixee-etl/0.1 (+dlt)"
# A page is ~150 kB and a detail body a few; a body far above this is a server gone wrong.
MAX_BODY_BYTES = 64 << 20
# 307/308 hops followed for one request: a moved endpoint takes one, a loop is cut short.
MAX_REDIRECTS = 5


# ---------------------------------------------------------------------------------------------------
# Redaction: the token never reaches a log line, whatever logger or handler emits it.


def register_secret(value: str) -> None:
    """Remember a secret so every log record and error text that passes redact() hides it."""
    add_secret(value)
    if value and len(value) >= 4:
        _install_log_filter()


class RedactingFilter(logging.Filter):
    """Formats the record once and replaces every registered secret by '***'."""

    def filter(self, record: logging.LogRecord) -> bool:
        if secrets():
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
_factory_lock = threading.Lock()


def _install_log_filter() -> None:
    """Attach the filter where every record passes: the record factory, so handlers added later
    (Prefect's, pytest's) see redacted records too, and httpx/httpcore never log headers."""
    global _factory_installed
    with _factory_lock:
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
        # Wall time with at least one caller asleep here: the sum of the callers' waits counts
        # every thread's sleep, 8 threads waiting 30 s together as 240 s.
        self._sleepers = 0
        self._sleeping_since = 0.0
        self._wall_waited = 0.0

    def wall_wait_seconds(self) -> float:
        """Seconds of wall time during which some caller was waiting for a token (ever, so far)."""
        with self._lock:
            ongoing = self._clock() - self._sleeping_since if self._sleepers else 0.0
            return self._wall_waited + max(0.0, ongoing)

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
            if delay > 0:
                if not self._sleepers:
                    self._sleeping_since = now
                self._sleepers += 1
        if delay <= 0:
            return waited
        try:
            while delay > 0:
                self._sleep(delay)
                waited += delay
                with self._lock:
                    # A 429 seen by another thread while we slept pushes everyone back.
                    delay = max(0.0, self._blocked_until - self._clock())
        finally:
            with self._lock:
                self._sleepers -= 1
                if not self._sleepers:
                    self._wall_waited += max(0.0, self._clock() - self._sleeping_since)
        return waited

    def penalize(self, seconds: float) -> float:
        """The server said wait `seconds` (429): nobody sends before then, and refill restarts empty.

        Returns the seconds of blocking this adds (threads told to wait at once add it once)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            until = now + seconds
            added = max(0.0, until - max(now, self._blocked_until))
            self._blocked_until = max(self._blocked_until, until)
            self._tokens = min(self._tokens, 0.0)
            self._last = max(self._last, until)
            return added


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
    """One attempt failed in a way worth retrying; carries what the final error should say, and
    how long the server asked us to wait (a 503 with Retry-After), if it did."""

    def __init__(
        self,
        reason: str,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason, self.status, self.request_id = reason, status, request_id
        self.retry_after = retry_after


def _error_body(response: httpx.Response, content: bytes) -> tuple[Any, str | None, str | None]:
    """(code, message, request_id) from the documented error body, tolerating anything else."""
    request_id = response.headers.get("x-request-id")
    try:
        error = json.loads(content).get("error") or {}
    except (ValueError, AttributeError, RecursionError):
        return None, None, request_id
    if not isinstance(error, dict):
        return None, None, request_id
    found = error.get("request_id")
    message = error.get("message")
    return (
        error.get("code"),
        message if isinstance(message, str) else None,
        str(found) if isinstance(found, str | int) and found != "" else request_id,
    )


def _problem(response: httpx.Response, content: bytes, endpoint: str) -> str | None:
    """An RFC 9457 problem document (application/problem+json, the platform API's errors) as
    'title: detail (instance ...)', shown() so no part of it (a detail echoing the key, a
    megabyte of text) reaches a message; None when the body is not one. An instance that is
    only the endpoint's path is left out: the message names the endpoint already."""
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or (media != "application/problem+json" and "error" in body):
        return None
    title, detail, instance = (body.get(k) for k in ("title", "detail", "instance"))
    parts = [shown(v, 160) for v in (title, detail) if isinstance(v, str | int) and str(v).strip()]
    if not parts:
        return None
    text = ": ".join(dict.fromkeys(parts))  # a detail that repeats the title says it once
    if isinstance(instance, str) and instance.strip() and urlsplit(instance).path != endpoint:
        text += f" (instance {shown(instance, 120)})"
    return text


def _retry_after(response: httpx.Response, *, default: float | None) -> float | None:
    """Seconds the server asks us to wait: Retry-After as delay-seconds or as an HTTP-date
    (RFC 9110, 10.2.3); `default` when it is missing or unreadable."""
    raw = response.headers.get("retry-after", "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else default  # "inf" and "nan" are no delay
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return default
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an obsolete form may come without a zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _chain(exc: BaseException) -> list[BaseException]:
    """exc and what caused it, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _describe_transport_error(exc: httpx.HTTPError, host: str) -> str:
    """What went wrong on the wire, naming the host and the cause: a DNS typo must not read
    like a server that is down."""
    chain = _chain(exc)
    detail = shown(str(exc) or type(exc).__name__, 160)
    # The ssl error itself, when it is in the chain, says why in its verify_message.
    failures = [e for e in chain if tls.is_verification_failure(e)]
    failures.sort(key=lambda e: not isinstance(e, ssl.SSLCertVerificationError))
    if failures:
        refused = failures[0]
        reason = shown(getattr(refused, "verify_message", None) or refused, 120)
        if "mismatch" in reason.lower():  # trusted, but issued for another host name or address
            return f"the TLS certificate of {host} is not valid for that name ({reason}); use a name it holds"
        return f"the TLS certificate of {host} is not trusted ({reason}); {tls.FIX}"
    if any(isinstance(e, socket.gaierror) for e in chain) or "name or service not known" in detail.lower():
        return f"cannot resolve host {host!r} (DNS: {detail}); check PIXEE_BASE_URL (or PIXEE_SERVER)"
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timeout connecting to {host}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout waiting for {host} ({type(exc).__name__})"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in detail.lower():
        return f"connection to {host} refused (nothing listens there, or a firewall says no)"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return f"TLS handshake with {host} failed ({detail})"
    if isinstance(exc, httpx.DecodingError):
        return f"{host} sent a body that does not decode ({detail})"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"{host} broke off the response ({type(exc).__name__}: {detail})"
    return f"connection error with {host} ({type(exc).__name__}: {detail})"


_REQUIRED = object()  # get_json's default for not_json: a 200 must be JSON


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
        self.host = parts.hostname or parts.netloc
        register_secret(token)
        self.bucket = bucket or bucket_for(self.base_url, token, settings.requests_per_minute, settings.burst)
        self.max_retry_after = settings.max_retry_after_seconds
        self.max_rate_limit_wait = settings.max_rate_limit_wait_seconds
        self.request_deadline = settings.request_deadline_seconds
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._limited = 0.0  # seconds every request of this run was held back by the server
        self._limited_lock = threading.Lock()
        self.stats = ClientStats()
        self.server_date: str | None = None  # the first response's Date header: the run's start
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
            verify=tls.context(settings.ca_bundle),
        )
        deadlines.install(self._http)

    # -- public -------------------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for an API path ('/repositories') or an absolute URL or path a link gave;
        refuses any other host so the bearer token is only ever sent to the configured API."""
        if path_or_url.startswith("//"):
            raise ApiError("the API linked to a protocol-relative URL (another host?); refusing to follow it")
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

    def resolve_link(self, href: str, page_url: str) -> str:
        """A link from a page resolved against that page's URL (RFC 3986, as a browser would),
        or ApiError when it leads off the configured origin or outside the API's base path."""
        try:
            url = urljoin(page_url, href)
            parts = urlsplit(url)
            _ = parts.port  # ValueError for a port beyond 65535
            httpx.URL(url)  # InvalidURL for a control character; UnicodeError for a lone surrogate
        except (ValueError, httpx.InvalidURL) as exc:
            raise ApiError(f"the next link {shown(href, 80)!r} is not a URL ({shown(exc, 80)})") from None
        if f"{parts.scheme}://{parts.netloc}" != self._origin:
            raise ApiError(f"the next link {shown(href, 80)!r} leads to another host or scheme; refusing it")
        if not (parts.path + "/").startswith(urlsplit(self.base_url).path + "/"):
            raise ApiError(f"the next link {shown(href, 80)!r} leads outside {urlsplit(self.base_url).path}")
        return url

    def get_json(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        resource: str = "other",
        validate: Callable[[Any], None] | None = None,
        not_json: Any = _REQUIRED,
    ) -> Any:
        """The decoded JSON body of a successful GET.

        `validate` may raise BadPageError for a 200 that is not a well-formed page; that is retried
        like a 503. A 200 that is not JSON is retried too, unless `not_json` is given: then it is
        returned instead (a probe, where "not JSON" is an answer).
        Raises AuthError (401), ForbiddenError (403), NotFoundError (404), ApiError
        (other 4xx, or transient faults that outlived the retries), RateLimitCeilingError.
        """
        url = self.url_for(path_or_url)
        endpoint = urlsplit(url).path
        attempt = 0
        while True:
            waited = self.bucket.acquire()
            self.stats.update(resource, wait_seconds=waited, started=1)
            try:
                return self._attempt(url, params, endpoint, resource, validate, not_json=not_json)
            except _Transient as fault:
                attempt += 1
                if attempt >= self.max_attempts:
                    raise ApiError(
                        f"gave up after {attempt} attempts ({fault.reason})",
                        status=fault.status,
                        endpoint=endpoint,
                        request_id=fault.request_id,
                    ) from None
                if fault.retry_after is not None:
                    # 503 with Retry-After: the server said when; everyone on the token waits.
                    self._wait_for_server(fault.retry_after, endpoint, f"HTTP {fault.status}")
                    self.stats.update(resource, retries=1)
                    continue
                # Full jitter: spreads retries of many threads over the whole window.
                delay = random.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))
                log.info("retrying %s after %s (attempt %d, %.1f s)", endpoint, fault.reason, attempt, delay)
                self.stats.update(resource, retries=1, backoff_seconds=delay)
                self._sleep(delay)
            except _Throttled as throttled:
                self.stats.update(resource, throttled_429=1)
                self._wait_for_server(throttled.seconds, endpoint, "429")

    @property
    def rate_limited_seconds(self) -> float:
        """Seconds this client's requests were held back by 429s and 503 Retry-Afters so far."""
        return self._limited

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

    # -- waiting for the server ---------------------------------------------------------------

    def _wait_for_server(self, seconds: float, endpoint: str, why: str) -> None:
        """Hold every request on the token back `seconds`, or end the run (progress kept) when
        one wait is above max_retry_after_seconds or the run's waits add up past
        max_rate_limit_wait_seconds: a server that says 429 forever must not hold the lock forever."""
        if seconds > self.max_retry_after:
            raise RateLimitCeilingError(
                f"rate limited for {seconds:.0f} s; committed progress kept; the next run resumes "
                f"(Retry-After on {endpoint} ({why}) is above "
                f"max_retry_after_seconds={self.max_retry_after:.0f})"
            )
        with self._limited_lock:
            if self._limited + seconds > self.max_rate_limit_wait:
                raise RateLimitCeilingError(
                    f"rate limited for {self._limited + seconds:.0f} s in total this run; committed "
                    f"progress kept; the next run resumes (waits above "
                    f"max_rate_limit_wait_seconds={self.max_rate_limit_wait:.0f}; last on {endpoint}, {why})"
                )
            self._limited += self.bucket.penalize(seconds)
        log.info("%s on %s: waiting %.0f s, slowing every request on this token", why, endpoint, seconds)

    # -- one attempt --------------------------------------------------------------------------

    def _attempt(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        endpoint: str,
        resource: str,
        validate: Callable[[Any], None] | None,
        json_body: Mapping[str, Any] | None = None,
        not_json: Any = _REQUIRED,
    ) -> Any:
        started = time.monotonic()
        try:
            self.stats.update(resource, requests=1)
            with deadlines.within(self.request_deadline) as deadline:
                response, content = self._send(url, params, json_body, endpoint, deadline)
        except httpx.TimeoutException as exc:
            if time.monotonic() - started >= self.request_deadline:
                raise _Transient(
                    f"no complete response from {self.host} within request_deadline_seconds="
                    f"{self.request_deadline:g} (a body that trickles?)"
                ) from None
            raise _Transient(_describe_transport_error(exc, self.host)) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            if any(tls.is_verification_failure(e) for e in _chain(exc)):
                # An untrusted certificate stays untrusted: retrying only delays the line that says why.
                raise ApiError(_describe_transport_error(exc, self.host)) from None
            raise _Transient(_describe_transport_error(exc, self.host)) from None
        finally:
            self.stats.update(resource, finished=1)
        if self.server_date is None:
            self.server_date = response.headers.get("date")
        status = response.status_code
        if status == 200 or (status == 201 and json_body is not None):
            request_id = response.headers.get("x-request-id")
            try:
                body = json.loads(content)
            except (ValueError, RecursionError) as exc:
                if not_json is not _REQUIRED:
                    return not_json
                what = "nested too deeply to decode" if isinstance(exc, RecursionError) else "not valid JSON"
                raise _Transient(f"200 with a body that is {what}", status, request_id) from None
            if holds_secret(content, pieces=False):
                # A server that echoes the token into a record must not get it into a table.
                body = scrub(body)
            if validate is not None:
                try:
                    validate(body)
                except BadPageError as exc:
                    raise _Transient(f"200 with a malformed page: {exc}", status, request_id) from None
            return body
        if status == 429:
            raise _Throttled(max(1.0, _retry_after(response, default=1.0) or 1.0))
        code, message, request_id = _error_body(response, content)
        problem = _problem(response, content, endpoint)
        if status in RETRYABLE_STATUS or 500 <= status < 600:
            wait = _retry_after(response, default=None) if status == 503 else None
            raise _Transient(f"HTTP {status}", status, request_id, retry_after=wait)
        text = problem or shown(message or response.reason_phrase or "error", 300)
        if status == 401:
            said = f": {problem}" if problem else ""
            raise AuthError(
                f"the API refused the token (401 unauthorized{said}); check PIXEE_TOKEN",
                status=401,
                code=code if isinstance(code, str) else None,
                endpoint=endpoint,
                request_id=request_id,
            )
        kind = {403: ForbiddenError, 404: NotFoundError}.get(status, ApiError)
        raise kind(
            text,
            status=status,
            code=code if isinstance(code, str) else None,
            endpoint=endpoint,
            request_id=request_id,
        )

    def _send(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        json_body: Mapping[str, Any] | None,
        endpoint: str,
        deadline: float,
    ) -> tuple[httpx.Response, bytes]:
        """One request and its body, following a 307/308 (the method and body kept) within this
        origin, MAX_REDIRECTS at most: httpx's own following would take the token anywhere."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._http.send(
                self._http.build_request(
                    "GET" if json_body is None else "POST",
                    url,
                    params=params,
                    json=None if json_body is None else dict(json_body),
                ),
                stream=True,
            )
            try:
                content = self._read_body(response, deadline)
            finally:
                response.close()
            if response.status_code not in (307, 308):
                return response, content
            url = self._redirect_target(url, response, endpoint)
            params = None  # the Location carries the query it wants
        raise ApiError(
            f"more than {MAX_REDIRECTS} redirects in a row; not following further",
            status=response.status_code,
            endpoint=endpoint,
        )

    def _redirect_target(self, url: str, response: httpx.Response, endpoint: str) -> str:
        status = response.status_code
        location = response.headers.get("location", "")
        try:
            target = urljoin(url, location)
            parts = urlsplit(target)
            _ = parts.port  # ValueError for a port beyond 65535
            httpx.URL(target)
        except (ValueError, httpx.InvalidURL) as exc:
            raise ApiError(
                f"{status} redirect to {shown(location, 80)!r}, which is not a URL ({shown(exc, 80)})",
                status=status,
                endpoint=endpoint,
            ) from None
        if not location or f"{parts.scheme}://{parts.netloc}" != self._origin:
            raise ApiError(
                f"{status} redirect to {shown(location, 80)!r}, another host or scheme (or none); "
                "refusing to send the token there",
                status=status,
                endpoint=endpoint,
            )
        return target

    def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        """The decoded body, or a transient fault past the deadline or MAX_BODY_BYTES."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _Transient(
                    f"{self.host} sent a body above {MAX_BODY_BYTES:,} bytes", response.status_code
                )
            if time.monotonic() >= deadline:
                raise httpx.ReadTimeout("request deadline passed")
        return b"".join(chunks)


class _Throttled(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def segment(value: str) -> str:
    """An id as one URL path segment, percent-encoded: an id holding '/', '?', '#' or '..' names
    that object and nothing else (never another endpoint, never a query)."""
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def make_client(settings: Settings, **kwargs: Any) -> PixeeClient:
    """The client for these settings (kwargs: transport, bucket, retry tuning for tests)."""
    return PixeeClient(settings, **kwargs)


def iter_secrets() -> Iterable[str]:
    """The secrets registered so far (tests assert none of them reached an output)."""
    return secrets()
