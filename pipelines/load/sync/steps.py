"""How the sync drives dlt: one step at a time, its errors as one line, loads through parquet."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any

import dlt
from dlt.common.destination.exceptions import DestinationException, DestinationTransientException
from dlt.load.exceptions import LoadClientJobException
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.api.redaction import redact
from pipelines.errors import DestinationError, PixeeEtlError, in_chain
from pipelines.load.disk import disk_full, tree_bytes
from pipelines.publish.run_summary import SyncReport

log = logging.getLogger("pipelines.sync")

# dlt's default for DuckDB (insert-values) holds gigabytes for a few hundred thousand rows.
LOADER_FILE_FORMAT = "parquet"


TRACEBACK = "Traceback (most recent call last):"
RAISED = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*: ")


def cause_line(text: str) -> str:
    """One line for an error text: its first line, and when dlt's message ends where a copied
    traceback begins ("... Last failure message was: Traceback ..."), the traceback's last line
    (the actual error) in its place."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    first = lines[0]
    if first.endswith(TRACEBACK) and len(lines) > 1:
        raised = [line for line in lines[1:] if RAISED.match(line)]
        first = first[: -len(TRACEBACK)].rstrip() + " " + (raised[-1] if raised else lines[-1])
    return redact(first)


def run_step(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """One dlt step; our own errors, the destination's and a full disk come out as one line each."""
    try:
        return step(*args, **kwargs)
    except (PipelineStepFailed, OSError) as exc:
        cause = in_chain(exc, PixeeEtlError) if isinstance(exc, PipelineStepFailed) else None
        if cause is not None:  # ours first: its text may quote a server's own "disk full"
            raise cause from None
        pipeline = getattr(step, "__self__", None)
        working = getattr(pipeline, "working_dir", None)
        name = exc.step if isinstance(exc, PipelineStepFailed) else getattr(step, "__name__", "")
        doing = f"dlt's {name} step" if name else "the sync"
        # What the step rewrites is about the package in hand: the pipeline's working files.
        full = disk_full(exc, doing, working, (lambda: tree_bytes(working)) if working else None)
        if full is not None:
            raise full from None
        if isinstance(exc, OSError):
            raise
        destination = in_chain(exc, DestinationException)
        if destination is not None:
            log.debug("the destination failed during %s", exc.step, exc_info=exc.exception)
            text = str(destination)
            kind = type(destination).__name__
            raise DestinationError(
                f"the destination failed during {exc.step}: {kind}: {cause_line(text)}",
                transient=isinstance(destination, DestinationTransientException),
                job_failed=isinstance(destination, LoadClientJobException),
                out_of_memory="Out of Memory" in text,
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
    """Everything extracted so far into the destination, through parquet files.

    A load DuckDB cannot finish within the sync's memory cap (a batch of large detail bodies) is
    retried once at once with DuckDB's own default (80% of RAM), and the report says so; a
    package is committed whole or not at all (its cursors with it), never with a failed table.
    """
    run_step(pipeline.normalize)
    try:
        info = run_step(pipeline.load)
    except DestinationError as exc:
        if not exc.out_of_memory:
            raise
        more = roomy_memory_limit()
        report.warn(f"a load ran out of DuckDB's memory cap; retried with memory_limit {more} ({exc})")
        with dlt.config.values({"destination.duckdb.credentials.global_config": {"memory_limit": more}}):
            info = run_step(pipeline.load)
    if info.has_failed_jobs:  # only with raise_on_failed_jobs off, which pipelines.load.sync never sets
        raise DestinationError(
            "the destination failed during load: a job failed; the batch is not committed",
            transient=False,
            job_failed=True,
        )
    report.load_ids.extend(info.loads_ids)


def roomy_memory_limit() -> str:
    """DuckDB's own default memory limit: 80% of this machine's RAM."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(256, int(total * 0.8) >> 20)}MB"
