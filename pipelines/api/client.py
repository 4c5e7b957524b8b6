"""The one HTTP client of pixee-etl: bearer auth, the token's bucket, retries, redirects, deadlines.

A request passes one layer per method, each with one job:
```
get_json / post_json        retry policy: backoff with jitter, Retry-After, 429 waits (one per verb)
 -> _attempt                one request, answered: pipelines.api.responses.classify says what it means
 -> _send_within_deadline   the request deadline, counted; transport failures become faults
 -> _send                   307/308 followed within this origin only, the token never elsewhere
 -> _read_body              the body, cut at MAX_BODY_BYTES or the deadline
```
Around it: pipelines.api.rate_limit (the bucket), pipelines.api.request_stats (what requests cost),
pipelines.api.redaction (the token out of every log line and error).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from pipelines.api import deadline as deadlines
from pipelines.api import tls
from pipelines.api.rate_limit import TokenBucket, bucket_for
from pipelines.api.redaction import register_secret, secrets
from pipelines.api.request_stats import ClientStats
from pipelines.api.responses import (
    REQUIRED,
    Throttled,
    Transient,
    classify,
    describe_transport_error,
    exception_chain,
)
from pipelines.errors import (
    ApiError,
    RateLimitCeilingError,
    shown,
)
from pipelines.settings import Settings, validate_base_url

log = logging.getLogger("pipelines.api.client")

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=120.0)
USER_AGENT = "pixee-etl/0.1 (+dlt)"
# A page is ~150 kB and a detail body a few; a body far above this is a server gone wrong.
MAX_BODY_BYTES = 64 << 20
# 307/308 hops followed for one request: a moved endpoint takes one, a loop is cut short.
MAX_REDIRECTS = 5


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
        not_json: Any = REQUIRED,
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
            except Transient as fault:
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
            except Throttled as throttled:
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
            except Transient as fault:
                raise ApiError(
                    f"{fault.reason}; the request was not retried, it may or may not have taken effect",
                    status=fault.status,
                    endpoint=endpoint,
                    request_id=fault.request_id,
                ) from None
            except Throttled as throttled:
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

    # -- one request, layer by layer -----------------------------------------------------------

    def _attempt(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        endpoint: str,
        resource: str,
        validate: Callable[[Any], None] | None,
        json_body: Mapping[str, Any] | None = None,
        not_json: Any = REQUIRED,
    ) -> Any:
        """One request, answered: its body, or the fault or error its answer means (api.responses)."""
        response, content = self._send_within_deadline(url, params, json_body, endpoint, resource)
        if self.server_date is None:
            self.server_date = response.headers.get("date")
        return classify(
            response, content, endpoint, posted=json_body is not None, validate=validate, not_json=not_json
        )

    def _send_within_deadline(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        json_body: Mapping[str, Any] | None,
        endpoint: str,
        resource: str,
    ) -> tuple[httpx.Response, bytes]:
        """One request under the request deadline, counted; a transport failure becomes a
        transient fault, except a certificate that is not trusted (retrying cannot cure it)."""
        started = time.monotonic()
        try:
            self.stats.update(resource, requests=1)
            with deadlines.within(self.request_deadline) as deadline:
                return self._send(url, params, json_body, endpoint, deadline)
        except httpx.TimeoutException as exc:
            if time.monotonic() - started >= self.request_deadline:
                raise Transient(
                    f"no complete response from {self.host} within request_deadline_seconds="
                    f"{self.request_deadline:g} (a body that trickles?)"
                ) from None
            raise Transient(describe_transport_error(exc, self.host)) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            if any(tls.is_verification_failure(e) for e in exception_chain(exc)):
                # An untrusted certificate stays untrusted: retrying only delays the line that says why.
                raise ApiError(describe_transport_error(exc, self.host)) from None
            raise Transient(describe_transport_error(exc, self.host)) from None
        finally:
            self.stats.update(resource, finished=1)

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
                raise Transient(
                    f"{self.host} sent a body above {MAX_BODY_BYTES:,} bytes", response.status_code
                )
            if time.monotonic() >= deadline:
                raise httpx.ReadTimeout("request deadline passed")
        return b"".join(chunks)


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
