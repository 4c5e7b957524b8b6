"""The real `pixee-etl` CLI for subprocess tests, with test-sized knobs set from the environment.

PIXEE_TEST_BACKOFF_SECONDS: the client's first retry backoff (0.5 s otherwise), so retry
exhaustion takes milliseconds. PIXEE_TEST_DEBUG=1: every logger at DEBUG, httpx and httpcore
included, as a worst case for the secrets tests. PIXEE_TEST_KILL_AFTER_COPY=<table>: SIGKILL
this process the moment DuckDB has committed the first copy of <table>'s file into its table,
before dlt records the job as done (a kill the random kill points hit only by luck);
PIXEE_TEST_KILL_SIGNAL=TERM|INT sends that signal there instead (inside dlt's load, which
intercepts signals), once. PIXEE_TEST_KILL_BEFORE_HISTORY=<n>: SIGKILL this process as the n-th
load's versions are about to go into the history tables (that load committed, its versions not).
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
        from pipelines.client import PixeeClient

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
        from pipelines.sync import record

        record_versions = record.record_versions
        calls: list[int] = []

        def die_before(*args: object, **kwargs: object) -> dict[str, int]:
            calls.append(1)
            if len(calls) == int(before_history):
                os.kill(os.getpid(), signal.SIGKILL)
            return record_versions(*args, **kwargs)  # type: ignore[arg-type]

        record.record_versions = die_before  # type: ignore[assignment]
    if os.environ.get("PIXEE_TEST_DEBUG"):
        from pipelines.commands import run

        configure = run.configure_logging

        def configure_debug() -> None:
            configure()
            logging.getLogger().setLevel(logging.DEBUG)
            for name in ("pipelines", "httpx", "httpcore", "dlt", "urllib3", "snowflake"):
                logging.getLogger(name).setLevel(logging.DEBUG)

        run.configure_logging = configure_debug
    return cli.main()  # this process's command line, as the installed `pixee-etl` does


if __name__ == "__main__":
    sys.exit(main())
