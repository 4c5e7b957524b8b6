"""One run per destination at a time: an OS file lock that says who holds it."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipelines.errors import LockHeldError
from pipelines.publish.serving import check_working_file_free
from pipelines.settings import Settings

log = logging.getLogger("pipelines.load.lock")


def lock_path(settings: Settings) -> Path:
    """The lock file: beside the DuckDB file, or per Snowflake database in the user's cache."""
    if settings.destination == "duckdb":
        return settings.duckdb_path.with_name(settings.duckdb_path.name + ".pixee-lock")
    key = "|".join(settings.snowflake.get(k, "") for k in ("account", "database")) + "|" + settings.dataset
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pixee-etl"
    return cache / f"snowflake-{digest}.lock"


@contextmanager
def destination_lock(
    settings: Settings,
    *,
    wait: bool = False,
    what: str = "pixee-etl run",
    poll_seconds: float = 1.0,
    remedy: str = "retry when it has ended",
) -> Iterator[None]:
    """Hold the destination's lock for the block; LockHeldError (or wait) if another run has it.

    `remedy` ends the refusal: only a command that takes --wait may tell the user to pass it.

    The kernel drops a flock when its process dies, so a SIGKILLed run never leaves a stale lock.
    WorkingFileInUseError when another process (a reader) holds the DuckDB working file itself.
    """
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole block
    waiting_since: float | None = None
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                if not wait:
                    raise LockHeldError(f"{path} is held by {holder}; {remedy}") from None
                if waiting_since is None:  # said once, not every poll
                    waiting_since = time.monotonic()
                    log.info("waiting for %s to release %s", _described(holder), path)
                time.sleep(poll_seconds)
        if waiting_since is not None:
            log.info("got the lock on %s after waiting %.0f s", path, time.monotonic() - waiting_since)
        handle.seek(0)
        handle.truncate()
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "what": what,
        }
        handle.write(json.dumps(holder))
        handle.flush()
        # Our lock keeps other runs out; a reader holding the working file would fail the load
        # later in a long dlt error, so name it now, before anything is read from the API.
        check_working_file_free(settings)
        yield
    finally:
        handle.close()


def _described(holder: str) -> str:
    """The holder's record as a phrase ("pixee-etl run, pid 12 on host, since ..."), or as written."""
    try:
        who = json.loads(holder)
        return f"{who['what']} (pid {who['pid']} on {who['host']}, since {who['since']})"
    except (ValueError, TypeError, KeyError):
        return holder if len(holder) <= 200 else holder[:200] + "..."  # anyone may write that file
