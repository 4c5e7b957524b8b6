"""dlt's trace file kept free of secrets: a trace that holds one is not written to disk.

dlt pickles the last run's trace (steps, exception messages, resolved config) into the
pipeline's working directory after every step, whatever the outcome. An exception text that
quotes a record or a header could carry the token there; such a trace is dropped instead.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
from typing import Any

from dlt.pipeline import trace as dlt_trace

from pipelines.api.redaction import holds_secret

log = logging.getLogger("pipelines.dlt_files")
# dlt.pipeline is also a function; the module that calls save_trace is this one.
dlt_pipeline = importlib.import_module("dlt.pipeline.pipeline")


def guard_trace() -> None:
    """Install the check on dlt's save_trace (idempotent)."""
    if getattr(dlt_pipeline.save_trace, "pixee_guarded", False):
        return
    original = dlt_trace.save_trace

    def save_trace(trace_dir: str, trace: Any) -> None:
        try:
            dump = pickle.dumps(trace)
        except Exception:  # dlt itself warns and skips an unpicklable trace
            dump = b""
        if dump and holds_secret(dump):
            path = os.path.join(trace_dir, dlt_trace.TRACE_FILE_NAME)
            if os.path.isfile(path):
                os.unlink(path)
            log.debug("dlt's trace held a secret; not written to %s", trace_dir)
            return
        original(trace_dir, trace)

    save_trace.pixee_guarded = True  # type: ignore[attr-defined]
    dlt_pipeline.save_trace = save_trace  # type: ignore[assignment]
