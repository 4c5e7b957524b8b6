"""`pixee-etl dbt ARGS...`: any dbt command on the marts project, with the destination's own credentials."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from pipelines.cli.arguments import add_settings_arguments, settings_from_args
from pipelines.cli.marts import as_of_date, require_warehouse
from pipelines.errors import ConfigError
from pipelines.load.destinations import make_pipeline
from pipelines.load.lock import destination_lock
from pipelines.transform.dbt_runner import SQL_DIR, invoke_dbt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    parser.add_argument("--as-of", type=as_of_date, help="the as_of var (default: today, UTC)")
    parser.add_argument(
        "--target-path",
        type=Path,
        default=SQL_DIR / "target",
        help="where dbt writes manifest, catalog and compiled SQL (default: sql/target)",
    )
    parser.add_argument(
        "dbt_args", nargs=argparse.REMAINDER, help="e.g. test, docs generate, run -s fix_latency"
    )


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    command = [a for a in args.dbt_args if a != "--"]
    if not command:
        raise ConfigError("name a dbt command, e.g. `pixee-etl dbt test` or `pixee-etl dbt docs generate`")
    require_warehouse(settings)
    as_of = args.as_of or dt.datetime.now(dt.UTC).date()
    with destination_lock(
        settings,
        what="pixee-etl dbt",
        remedy="run the same `pixee-etl dbt` command again once it has ended (dbt takes no --wait)",
    ):
        outcome = invoke_dbt(
            command, make_pipeline(settings), settings, as_of, target_dir=args.target_path, quiet=False
        )
    return 0 if outcome.success else 1
