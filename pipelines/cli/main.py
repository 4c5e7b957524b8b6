"""The `pixee-etl` command: picks a subcommand, parses its flags, runs it, maps errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from types import FrameType

from pipelines.api.redaction import redact
from pipelines.errors import Interrupted, PixeeEtlError, in_chain
from pipelines.load.disk import disk_full

# Each module exposes `add_arguments(parser)` and `main(args) -> int`. Imported lazily so that
# `pixee-etl check` does not pay for importing Prefect.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pipelines.cli.run", "one sync into the destination, then the marts"),
    "demo": ("pipelines.cli.demo", "simulator on loopback, sync, advance, sync again, summary"),
    "check": ("pipelines.cli.check", "one request proving the token and URL work"),
    "marts": ("pipelines.cli.marts", "rebuild the marts (dbt run) from the raw tables"),
    "report": ("pipelines.cli.html_report", "the marts as one self-contained HTML report"),
    "dbt": ("pipelines.cli.dbt", "any dbt command on the marts project: test, docs generate, ..."),
    "simulate": ("simulator.cli", "serve the Pixee API simulator"),
    "serve": ("flows.serve", "run the Prefect schedules in this process"),
    "receive": ("pipelines.cli.receive", "serve the signed-webhook receiver for event-driven runs"),
    "webhooks": ("pipelines.cli.webhooks", "register a webhook subscription, or list them"),
}

# What an interrupted command leaves behind, said in the one line it prints. A sync commits batch
# by batch (rows with their cursors), so whatever was committed stays and the next run resumes.
RESUMES = "interrupted; committed progress kept; the next run resumes"
INTERRUPTED = {
    "run": RESUMES,
    "demo": RESUMES,
    "marts": "interrupted; the raw tables are untouched; the next marts or run rebuilds the marts",
}


def _usage() -> str:
    lines = ["usage: pixee-etl COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "pixee-etl COMMAND --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The `pixee-etl` command; argv None means this process's own command line (the process
    ends after), a list means a caller in-process that goes on afterwards."""
    own_process = argv is None
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"pixee-etl: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"pixee-etl {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    # dlt sets its own logger's level (and handler, on stderr) each time it initialises, undoing
    # any level set before: a failed job then printed hundreds of lines of tracebacks that the
    # command reports as one line. Its own setting keeps it quiet; RUNTIME__LOG_LEVEL still wins.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")
    if name != "serve":  # serve stops through Prefect's runner, which pauses its schedules first
        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)
        # dlt's own handlers (normalize and load) defer a signal to the end of the job in hand and
        # drop it when that was the step's last job (its pool runner returns without looking):
        # a SIGTERM then went unanswered and the run carried on. Every point of a sync is safe to
        # stop at (a SIGKILL anywhere resumes, tests/test_kill_resume.py), so the signal unwinds now.
        os.environ.setdefault("RUNTIME__INTERCEPT_SIGNALS", "false")
    try:
        return int(module.main(args) or 0)
    except BaseException as exc:
        # The command is over: a worker thread still winding down (a fetch whose connection the
        # unwinding closed) must not log after the line below, which is the run's last word.
        # Process-wide, so only when the process ends next; an in-process caller keeps its logs.
        if own_process:
            logging.disable(logging.CRITICAL)
        # An interrupt anywhere in the chain wins: dlt wraps it into PipelineStepFailed, and
        # cleanup may fail because of it.
        signum = _signal_of(exc)
        if signum is not None:
            print(f"pixee-etl {name}: {INTERRUPTED.get(name, 'interrupted')}", file=sys.stderr, flush=True)
            return 128 + signum
        if isinstance(exc, PixeeEtlError):
            # One line, whatever the message quotes (a server's text); never a secret.
            print(f"pixee-etl {name}: {redact(' '.join(str(exc).split()))}", file=sys.stderr)
            return exc.exit_code
        full = disk_full(exc, f"pixee-etl {name}")  # a full disk anywhere is still one line
        if full is not None:
            print(f"pixee-etl {name}: {redact(' '.join(str(full).split()))}", file=sys.stderr)
            return full.exit_code
        raise


# The signal that arrived, kept aside: DuckDB turns a KeyboardInterrupt raised during a query into
# `RuntimeError: Query interrupted`, so the exception that reaches main may no longer say it.
_received: list[int] = []


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C (every `finally` runs, the lock is let go), then exits 143."""
    _received.append(signum)
    raise Interrupted(signum)


def _signal_of(exc: BaseException) -> int | None:
    """The signal that ended the command, if one did: ours, dlt's (SignalReceivedException carries
    `signal_code`), a plain KeyboardInterrupt (SIGINT), or one our handler saw whose exception
    something below rewrote."""
    interrupt = in_chain(exc, KeyboardInterrupt)
    if interrupt is None:
        return _received[0] if _received else None
    return int(getattr(interrupt, "signum", None) or getattr(interrupt, "signal_code", None) or signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
