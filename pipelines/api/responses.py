"""What an answer means: a retryable fault, a throttle, or the one-line error an operator reads."""

from __future__ import annotations

import email.utils
import json
import math
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from pipelines.api import tls
from pipelines.api.redaction import holds_secret, scrub
from pipelines.errors import ApiError, AuthError, BadPageError, ForbiddenError, NotFoundError, shown

# Statuses a later attempt may get past (any other 5xx is treated alike).
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class Transient(Exception):
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


def error_body(response: httpx.Response, content: bytes) -> tuple[Any, str | None, str | None]:
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


def problem_text(response: httpx.Response, content: bytes, endpoint: str) -> str | None:
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


def retry_after(response: httpx.Response, *, default: float | None) -> float | None:
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


def exception_chain(exc: BaseException) -> list[BaseException]:
    """exc and what caused it, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def describe_transport_error(exc: httpx.HTTPError, host: str) -> str:
    """What went wrong on the wire, naming the host and the cause: a DNS typo must not read
    like a server that is down."""
    chain = exception_chain(exc)
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


class Throttled(Exception):
    """A 429: wait `seconds` (the server's Retry-After, at least one) and ask again."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


REQUIRED = object()  # get_json's default for not_json: a 200 must be JSON


def classify(
    response: httpx.Response,
    content: bytes,
    endpoint: str,
    *,
    posted: bool,
    validate: Callable[[Any], None] | None,
    not_json: Any = REQUIRED,
) -> Any:
    """The JSON body of a success; else raise what the answer means: Transient (retry), Throttled
    (429), AuthError, ForbiddenError, NotFoundError or ApiError."""
    status = response.status_code
    if status == 200 or (status == 201 and posted):
        request_id = response.headers.get("x-request-id")
        try:
            body = json.loads(content)
        except (ValueError, RecursionError) as exc:
            if not_json is not REQUIRED:
                return not_json
            what = "nested too deeply to decode" if isinstance(exc, RecursionError) else "not valid JSON"
            raise Transient(f"200 with a body that is {what}", status, request_id) from None
        if holds_secret(content, pieces=False):
            # A server that echoes the token into a record must not get it into a table.
            body = scrub(body)
        if validate is not None:
            try:
                validate(body)
            except BadPageError as exc:
                raise Transient(f"200 with a malformed page: {exc}", status, request_id) from None
        return body
    if status == 429:
        raise Throttled(max(1.0, retry_after(response, default=1.0) or 1.0))
    code, message, request_id = error_body(response, content)
    problem = problem_text(response, content, endpoint)
    if status in RETRYABLE_STATUS or 500 <= status < 600:
        wait = retry_after(response, default=None) if status == 503 else None
        raise Transient(f"HTTP {status}", status, request_id, retry_after=wait)
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
