"""How the sync drives dlt: one step at a time, its errors as one line, loads through parquet."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dlt
from dlt.common.destination.exceptions import DestinationException, DestinationTransientException
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.client import redact
from pipelines.errors import PixeeEtlError, in_chain
from pipelines.report import SyncReport

log = logging.getLogger("pipelines.sync")

# dlt's default for DuckDB (insert-values) holds gigabytes for a few hundred thousand rows.
LOADER_FILE_FORMAT = "parquet"


class DestinationError(PixeeEtlError):
    """The warehouse refused or could not be reached; `transient` says whether a retry may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def run_step(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One dlt step; our own errors and the destination's come out as one line each."""
    try:
        return step(*args, **kwargs)
    except PipelineStepFailed as exc:
        cause = in_chain(exc, PixeeEtlError)
        if cause is not None:
            raise cause from None
        destination = in_chain(exc, DestinationException)
        if destination is not None:
            first = redact(str(destination).strip().splitlines()[0] if str(destination).strip() else "")
            raise DestinationError(
                f"the destination failed during {exc.step}: {type(destination).__name__}: {first}",
                transient=isinstance(destination, DestinationTransientException),
            ) from None
        if exc.step == "sync":
            # sync_destination only talks to the warehouse, and a driver's own error (Snowflake's
            # OperationalError for an unreachable account) is no dlt DestinationException.
            log.debug("the destination failed during sync", exc_info=exc.exception)
            text = str(exc.exception).strip()
            raise DestinationError(
                f"the destination failed during sync: {type(exc.exception).__name__}: "
                f"{redact(text.splitlines()[0] if text else '')}",
                transient=True,
            ) from None
        raise


def normalize_and_load(pipeline: dlt.Pipeline, report: SyncReport) -> None:
    """Everything extracted so far into the destination, through parquet files."""
    run_step(pipeline.normalize)
    info = run_step(pipeline.load)
    report.load_ids.extend(info.loads_ids)

