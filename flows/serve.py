"""`pixee-etl serve`: the profile's hourly and weekly schedules, run by Prefect in this one process."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flows.local_server import local_server
from flows.schedules import planned_deployments
from pipelines.cli.arguments import add_settings_arguments, settings_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    parser.add_argument(
        "--limit", type=int, default=1, help="flow runs at once in this process (default 1: one destination)"
    )


@contextmanager
def _prefect_api() -> Iterator[str]:
    """Where the schedules live, as a phrase: the configured PREFECT_API_URL, or a local server
    started for this serve (flows.local_server) and stopped after it, the API URL pointed at it
    for this process and the flow runs it starts."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield f"the Prefect server at {configured}"
        return
    print(
        f"pixee-etl serve: starting a local Prefect server (database and log in {PREFECT_HOME.value()})",
        flush=True,
    )
    from pipelines.events.trigger import remove_serve_marker, write_serve_marker

    home = Path(PREFECT_HOME.value())
    log_path = home / "pixee-etl-server.log"
    with local_server(log_path) as url, temporary_settings(updates={PREFECT_API_URL: url}):
        before = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = url  # the flow runs are processes of their own
        # `pixee-etl receive --trigger` without PREFECT_API_URL sends its events here, where the
        # deployments' triggers listen, rather than to a server of its own that nothing watches.
        write_serve_marker(home, url)
        try:
            yield f"a local Prefect server at {url}, stopped with serve"
        finally:
            remove_serve_marker(home)
            if before is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = before


async def _run(runner: Any, on_started: Callable[[], None]) -> None:
    """runner.start(), announcing readiness only once it polls: a Ctrl-C from then on pauses the
    schedules on the way out (one that arrives earlier stops it before anything is polled)."""
    serving = asyncio.create_task(runner.start())
    while not runner.started and not serving.done():
        await asyncio.sleep(0.05)
    if runner.started:
        on_started()
    await serving


def main(args: argparse.Namespace) -> int:
    # A shell starts a script's background job with SIGINT ignored, and Python then leaves it
    # ignored: `kill -INT` never reached the runner, so nothing paused the schedules. serve is
    # stopped by Ctrl-C (or SIGINT from a supervisor) whoever started it.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    settings = settings_from_args(args)
    settings.require_token()  # every scheduled run needs it: fail now, not at the first run
    planned = planned_deployments(settings)

    with _prefect_api() as where:
        return _serve(args, settings, planned, where)


def _serve(args: argparse.Namespace, settings: Any, planned: list[Any], where: str) -> int:
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner
    from prefect.schedules import Cron

    from flows.pixee_sync import pixee_sync

    print(
        f"pixee-etl serve: profile {settings.profile!r}, {settings.destination}, against {where}", flush=True
    )
    # Paused on shutdown: no runs pile up in the server while nobody serves them.
    runner = Runner(name=f"pixee-etl-serve-{settings.profile}", pause_on_shutdown=True, limit=args.limit)
    try:
        for plan in planned:
            parameters = dict(plan.parameters)
            if args.duckdb_path:
                parameters["duckdb_path"] = args.duckdb_path
            triggers = None
            if settings.events_enabled and not parameters.get("full_refresh"):
                from pipelines.events.trigger import event_triggers

                # `pixee-etl receive --trigger` emits the event: a merged fix is in the marts in a minute.
                triggers = event_triggers(settings.profile, parameters)
            deployment = pixee_sync.to_deployment(
                name=plan.name,
                schedules=[Cron(plan.cron, timezone=plan.timezone)],
                parameters=parameters,
                description=plan.description,
                tags=["pixee-etl", settings.profile],
                triggers=triggers,
            )
            runner.add_deployment(deployment)
            upcoming = plan.next_runs(1)[0].isoformat()
            print(
                f"registered {plan.full_name}: {plan.cron!r} in {plan.timezone}, next run {upcoming}",
                flush=True,
            )
        ready = f"pixee-etl serve: ready, serving {len(planned)} schedules; Ctrl-C stops"
        asyncio.run(_run(runner, lambda: print(ready, flush=True)))  # returns after a SIGTERM
    except (KeyboardInterrupt, TerminationSignal):
        pass
    print("pixee-etl serve: stopped; schedules paused until the next serve", file=sys.stderr, flush=True)
    return 0
