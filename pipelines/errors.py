"""The exceptions pixee-etl raises on purpose; each message is one line an operator can act on."""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


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
        self.request_id = request_id
        parts = [message]
        if endpoint:
            parts.append(f"endpoint {endpoint}")
        if status is not None:
            parts.append(f"status {status}")
        if request_id:
            parts.append(f"request_id {request_id}")
        super().__init__("; ".join(parts))


class AuthError(ApiError):
    """401: the token is wrong or expired; never retried."""


class RateLimitCeilingError(PixeeEtlError):
    """The server asked us to wait longer than the configured maximum; committed work is kept."""


class LockHeldError(PixeeEtlError):
    """Another run holds the lock on this destination."""


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
