"""A live status line while the sync runs (a terminal), or a log line now and then (elsewhere)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.api.client import PixeeClient
from pipelines.api.redaction import redact
from pipelines.publish.run_summary import SyncReport

log = logging.getLogger("pipelines.sync")
PROGRESS_SECONDS = 0.5
LOG_PROGRESS_SECONDS = 30.0


@contextmanager
def progress(report: SyncReport, client: PixeeClient, live: bool) -> Iterator[None]:
    """A live status line on a terminal; elsewhere a plain log line now and then."""
    stop = threading.Event()
    tty = live and sys.stderr.isatty()
    interval = PROGRESS_SECONDS if tty else LOG_PROGRESS_SECONDS

    # The bucket is the token's, shared across runs in this process: this run's share from here.
    waited_before = client.bucket.wall_wait_seconds()

    def tick() -> None:
        while not stop.wait(interval):
            report.absorb(client.stats)
            line = report.progress_line(client.bucket.wall_wait_seconds() - waited_before)
            if tty:
                sys.stderr.write("\r" + redact(line) + "\x1b[K")
                sys.stderr.flush()
            else:
                log.info("progress: %s", line)

    thread = threading.Thread(target=tick, name="pixee-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if tty:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
