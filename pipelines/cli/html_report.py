"""`pixee-etl report`: the marts as one self-contained HTML file of tiles and charts."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.arguments import add_settings_arguments, settings_from_args
from pipelines.cli.marts import as_of_date
from pipelines.errors import ConfigError
from pipelines.load.destinations import make_pipeline
from pipelines.load.lock import destination_lock
from pipelines.publish.html_report import report_from_pipeline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    parser.add_argument(
        "--out",
        type=Path,
        help="the HTML file to write, or a directory for it (default: ./pixee-report-<as-of>.html)",
    )
    parser.add_argument(
        "--as-of",
        type=as_of_date,
        help="UTC date the marts are built for (default: theirs; `pixee-etl marts --as-of` builds others)",
    )
    parser.add_argument("--wait", action="store_true", help="wait for a run on this destination to end")


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if settings.destination == "duckdb" and not settings.duckdb_path.exists():
        raise ConfigError(f"DuckDB file {settings.duckdb_path} does not exist; run `pixee-etl run` first")
    # the destination's lock: the report never reads marts that a rebuild is replacing
    with destination_lock(
        settings, wait=args.wait, what="pixee-etl report", remedy="retry later or pass --wait"
    ):
        result = report_from_pipeline(make_pipeline(settings), settings, args.out, args.as_of)
    print(result.summary())
    return 0
