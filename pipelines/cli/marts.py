"""`pixee-etl marts`: rebuild the marts (the dbt project in sql/) from the raw tables, then publish."""

from __future__ import annotations

import argparse
import datetime as dt

from pipelines.cli.arguments import add_settings_arguments, settings_from_args
from pipelines.errors import ConfigError
from pipelines.load.destinations import make_pipeline
from pipelines.load.lock import destination_lock
from pipelines.publish.serving import publish
from pipelines.settings import Settings
from pipelines.transform.dbt_runner import build_marts


def as_of_date(text: str) -> dt.date:
    """An --as-of value: a calendar date YYYY-MM-DD (UTC)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--as-of {text!r} is not a date like 2026-03-31") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    parser.add_argument("--as-of", type=as_of_date, help="UTC date the marts are built for (default: today)")


def require_warehouse(settings: Settings) -> None:
    """ConfigError when the DuckDB file to build from does not exist (nothing is created)."""
    if settings.destination == "duckdb" and not settings.duckdb_path.exists():
        raise ConfigError(f"DuckDB file {settings.duckdb_path} does not exist; run `pixee-etl run` first")


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    require_warehouse(settings)
    # the destination's lock: a rebuild never reads a sync that is half loaded
    with destination_lock(
        settings, what="pixee-etl marts", remedy="run `pixee-etl marts` again once it has ended"
    ):
        pipeline = make_pipeline(settings)
        report = build_marts(pipeline, settings, args.as_of)
        print(report.summary())
        published = publish(pipeline, settings)
    if published:
        print(published.summary())
    return 0
