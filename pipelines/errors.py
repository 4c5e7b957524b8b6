"""The exceptions pixee-etl raises on purpose; each message is one line an operator can act on."""

from __future__ import annotations

from typing import TypeVar

from pipelines.redaction import redact

E = TypeVar("E", bound=BaseException)


def shown(value: object, limit: int = 120) -> str:
    """A value from a response as a message may show it: one line, at most `limit` characters,
    no secret in it."""
    text = redact(" ".join(str(value).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PixeeEtlError(Exception):
    """Base of every error pixee-etl raises deliberately; the CLI prints it as one line."""

    exit_code = 1


class ConfigError(PixeeEtlError):
    """Bad or missing configuration (token, URL, profile, path); nothing was written."""

    exit_code = 2


class ApiError(PixeeEtlError):
    """The Pixee API answered with an error that retries did not cure."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        endpoint: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.endpoint = endpoint
        # A server may put anything in a request_id (the token echoed, a megabyte of text).
        self.request_id = shown(request_id) if request_id else request_id
        parts = [message]
        if endpoint:
            parts.append(f"endpoint {endpoint}")
        if status is not None:
            parts.append(f"status {status}")
        if request_id:
            parts.append(f"request_id {self.request_id}")
        # Every part may come from a response (a server can echo anything into a request_id).
        super().__init__(redact(" ".join("; ".join(parts).split())))


class AuthError(ApiError):
    """401: the token is wrong or expired; never retried."""


class RateLimitCeilingError(PixeeEtlError):
    """The server asked us to wait longer than the configured maximum; committed work is kept."""


class LockHeldError(PixeeEtlError):
    """Another run holds the lock on this destination."""


class IncompleteSyncError(PixeeEtlError):
    """Some lists could not be read to their end (or bookkeeping after a load did not finish);
    everything else is committed, their cursors are kept, and the next run reads them again (or
    finishes the bookkeeping). `report` is the sync's SyncReport."""

    def __init__(self, failures: list[str], report: object, *, lists: bool = True) -> None:
        first = failures[0]
        more = f" (and {len(failures) - 1} more, listed in the summary)" if len(failures) > 1 else ""
        what = "list(s) not read this run" if lists else "step(s) after the loads did not finish"
        super().__init__(f"{len(failures)} {what}: {first}{more}")
        self.report = report


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) arrived: a KeyboardInterrupt, so it unwinds like Ctrl-C, naming the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def in_chain(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of `kind` among exc and its causes and contexts."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
