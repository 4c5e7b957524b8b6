"""The real `pixee-etl` CLI for subprocess tests, with test-sized knobs set from the environment.

PIXEE_TEST_BACKOFF_SECONDS: the client's first retry backoff (0.5 s otherwise), so retry
exhaustion takes milliseconds. PIXEE_TEST_DEBUG=1: every logger at DEBUG, httpx and httpcore
included, as a worst case for the secrets tests. PIXEE_TEST_KILL_AFTER_COPY=<table>: SIGKILL
this process the moment DuckDB has committed the first copy of <table>'s file into its table,
before dlt records the job as done (a kill the random kill points hit only by luck);
PIXEE_TEST_KILL_SIGNAL=TERM|INT sends that signal there instead (inside dlt's load, which
intercepts signals), once. PIXEE_TEST_KILL_BEFORE_HISTORY=<n>: SIGKILL this process as the n-th
load's versions are about to go into the history tables (that load committed, its versions not).
PIXEE_TEST_FILL_DISK_AT=<step>:<n>:<file>: as dlt's n-th <step> (extract, normalize, load)
starts, fill the disk holding <file> by writing it until no byte is left (the test frees it by
deleting the file).
PIXEE_TEST_REFUSE_BOOKKEEPING=1: history recording and deletions fail after every load, as DuckDB
out of memory does, also with more memory.
Nothing else differs from `pixee-etl`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys


def main() -> int:
    from pipelines import cli

    backoff = os.environ.get("PIXEE_TEST_BACKOFF_SECONDS")
    if backoff:
        from pipelines.api.client import PixeeClient

        assert PixeeClient.__init__.__kwdefaults__ is not None
        PixeeClient.__init__.__kwdefaults__["backoff_base"] = float(backoff)
    kill_after = os.environ.get("PIXEE_TEST_KILL_AFTER_COPY")
    if kill_after:
        from dlt.destinations.impl.duckdb.duck import DuckDbCopyJob

        copy = DuckDbCopyJob.run

        kill_signal = signal.Signals[f"SIG{os.environ.get('PIXEE_TEST_KILL_SIGNAL', 'KILL')}"]
        sent: list[bool] = []

        def copy_then_die(job: DuckDbCopyJob) -> None:
            copy(job)
            if job.load_table_name == kill_after and not sent:
                sent.append(True)
                os.kill(os.getpid(), kill_signal)

        DuckDbCopyJob.run = copy_then_die  # type: ignore[method-assign]
    before_history = os.environ.get("PIXEE_TEST_KILL_BEFORE_HISTORY")
    if before_history:
        from pipelines.load.sync import record

        record_versions = record.record_versions
        calls: list[int] = []

        def die_before(*args: object, **kwargs: object) -> dict[str, int]:
            calls.append(1)
            if len(calls) == int(before_history):
                os.kill(os.getpid(), signal.SIGKILL)
            return record_versions(*args, **kwargs)  # type: ignore[arg-type]

        record.record_versions = die_before  # type: ignore[assignment]
    if os.environ.get("PIXEE_TEST_REFUSE_BOOKKEEPING"):
        refuse_bookkeeping()
    fill_at = os.environ.get("PIXEE_TEST_FILL_DISK_AT")
    if fill_at:
        step, n, filler = fill_at.split(":", 2)
        fill_disk_at(step, int(n), filler)
    if os.environ.get("PIXEE_TEST_DEBUG"):
        from pipelines.cli import run

        configure = run.configure_logging

        def configure_debug() -> None:
            configure()
            logging.getLogger().setLevel(logging.DEBUG)
            for name in ("pipelines", "httpx", "httpcore", "dlt", "urllib3", "snowflake"):
                logging.getLogger(name).setLevel(logging.DEBUG)

        run.configure_logging = configure_debug
    return cli.main()  # this process's command line, as the installed `pixee-etl` does


def refuse_bookkeeping() -> None:
    """History recording, its catch-up and deletions fail as DuckDB out of memory does, also
    with more memory: the bookkeeping after each load never succeeds."""
    from dlt.destinations.exceptions import DatabaseTransientException

    from pipelines.load.sync import record

    def refuse(*args: object, **kwargs: object) -> dict[str, int]:
        raise DatabaseTransientException(
            Exception("Out of Memory Error: failed to pin block of size 256.0 KiB")
        )

    record.record_versions = refuse  # type: ignore[assignment]
    record.record_unrecorded_loads = refuse  # type: ignore[assignment]
    record.mark_disappeared = refuse  # type: ignore[assignment]


def fill_disk_at(step: str, n: int, filler: str) -> None:
    """As dlt's n-th `step` starts, another writer takes every free byte of the disk holding
    `filler` (the file it writes): the disk fills during that step, for real."""
    import functools

    import dlt

    original = getattr(dlt.Pipeline, step)
    calls: list[int] = []

    @functools.wraps(original)
    def fill_then_step(self: dlt.Pipeline, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == n:
            fill(filler)
        return original(self, *args, **kwargs)

    setattr(dlt.Pipeline, step, fill_then_step)


def fill(path: str) -> None:
    """Write `path` until the disk holding it has no byte left."""
    block = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError:
            pass
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
