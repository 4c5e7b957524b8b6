"""`pixee-etl run`: one sync under the destination's lock, the marts (unless --no-marts), the serving file."""

from __future__ import annotations

import argparse
import logging
import sys

from pipelines.cli.arguments import add_settings_arguments, settings_from_args
from pipelines.cli.marts import as_of_date
from pipelines.load.destinations import destination_for
from pipelines.load.lock import destination_lock
from pipelines.run import RunContext, RunRequest, run_once


def configure_logging() -> None:
    """Plain timestamped lines on stderr for our loggers; httpx's per-request lines stay quiet."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
    logging.getLogger("pipelines").setLevel(logging.INFO)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # dlt logs a failed load job with the whole traceback it caught; the sync reports the same
    # failure as one line (pipelines.load.sync.steps), and a traceback is not for operators.
    logging.getLogger("dlt").setLevel(logging.CRITICAL)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    parser.add_argument("--as-of", type=as_of_date, help="UTC date the marts are built for (default: today)")
    parser.add_argument(
        "--full-refresh", action="store_true", help="drop raw tables (not history) and state; read all"
    )
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help="read every list in full, drop nothing, and mark what the API no longer lists (_deleted_at)",
    )
    parser.add_argument(
        "--details",
        action="store_true",
        default=None,
        help="also load fix_details and finding_details for new or changed fixes and findings",
    )
    parser.add_argument("--wait", action="store_true", help="wait for another run on this destination to end")
    parser.add_argument(
        "--no-marts",
        action="store_true",
        help="sync only: leave the marts as they are (for teams that run `pixee-etl marts` or dbt "
        "themselves, or several syncs before one build)",
    )


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    settings.require_token()
    destination_for(settings)  # a bad path is one line and exit 2 before the lock writes anything
    configure_logging()
    context = RunContext(
        settings,
        as_of=args.as_of,
        lock=destination_lock(settings, wait=args.wait, remedy="retry later or pass --wait"),
    )
    request = RunRequest(
        full_refresh=args.full_refresh,
        reconcile=args.reconcile,
        details=args.details,
        progress=True,
        marts=not args.no_marts,
        announce_api=True,
    )
    run_once(context, request)
    return 0
