"""The exceptions pixee-etl raises on purpose; each message is one line an operator can act on.

Our exception hierarchy:

* PixeeEtlError                  the CLI prints it as one line and exits with its exit_code (1)
  + ConfigError                  bad or missing configuration; nothing written (exit 2)
  + ApiError                     the API answered with an error that retries did not cure
  |  + AuthError                 401: the token is wrong or expired
  |  + ForbiddenError            403: the token may not see this path
  |  + NotFoundError             404: the object is gone
  + BadPageError                 a 200 that is not a page (the client retries it; never escapes it)
  + RateLimitCeilingError        Retry-After over the configured maximum
  + IncompleteSyncError          lists not read to their end; everything else committed
  + LockHeldError                another run holds the destination
  + OverlapSkipped               the flow found the destination held and was told to skip
  + DestinationError             the warehouse refused a load or could not be reached
  + DiskFullError                a disk filled up; committed work stays
  + MartsError                   a dbt model (or dbt itself) failed
  + DataCheckError               one or more data checks failed
  + WorkingFileInUseError        another process holds the DuckDB working file
  + ReportError                  a mart could not be read for the HTML report
  + ServerStartError             the local Prefect server did not come up
* Interrupted (KeyboardInterrupt)  SIGTERM or SIGINT: unwinds like Ctrl-C (exit 130/143)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from pipelines.api.redaction import redact

E = TypeVar("E", bound=BaseException)


class CheckFailure(Protocol):
    """A failed data check as DataCheckError names it (pipelines.transform.checks.CheckResult)."""

    @property
    def name(self) -> str: ...

    @property
    def message(self) -> str: ...


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


class ForbiddenError(ApiError):
    """403: the token may not see this path (a repository token on /webhooks, say)."""


class NotFoundError(ApiError):
    """404: the object is gone (a repository deleted between list and child call, say)."""


class BadPageError(PixeeEtlError):
    """A 200 whose body is not what a page must be; retried like a transient fault."""


class RateLimitCeilingError(PixeeEtlError):
    """The server asked us to wait longer than the configured maximum; committed work is kept."""


class LockHeldError(PixeeEtlError):
    """Another run holds the lock on this destination."""


class OverlapSkipped(PixeeEtlError):
    """Another run holds this destination and the run was told to skip rather than wait."""


class DestinationError(PixeeEtlError):
    """The warehouse refused or could not be reached; `transient` says whether a retry may help,
    `job_failed` whether it refused a load job (the package itself, not the connection), and
    `out_of_memory` whether DuckDB ran out of its memory cap doing so."""

    def __init__(
        self, message: str, *, transient: bool, job_failed: bool = False, out_of_memory: bool = False
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.job_failed = job_failed
        self.out_of_memory = out_of_memory


class DiskFullError(PixeeEtlError):
    """A disk filled up; what was committed before stays, the next run resumes once there is room."""


class MartsError(PixeeEtlError):
    """A model (or dbt itself) failed; the message names each failed model and dbt's reason."""


class DataCheckError(PixeeEtlError):
    """One or more data checks failed; the message lists every failure, one per line."""

    def __init__(self, failures: Sequence[CheckFailure]) -> None:
        self.failures = list(failures)
        lines = [f"{len(self.failures)} data check(s) failed:"]
        lines += [f"  {f.name}: {f.message}" for f in self.failures]
        super().__init__("\n".join(lines))


class WorkingFileInUseError(PixeeEtlError):
    """Another process has the DuckDB working file open, so no run can write it."""


class ReportError(PixeeEtlError):
    """A mart could not be read for the report; the message names the mart."""


class ServerStartError(PixeeEtlError):
    """The local Prefect server exited or did not answer in time."""


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
