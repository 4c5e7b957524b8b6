"""The flags every subcommand that touches a destination shares, and the Settings they make."""

from __future__ import annotations

import argparse

from pipelines.settings import Settings, load_settings


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every command that touches a destination takes."""
    parser.add_argument(
        "--profile",
        help="a profile name in profiles/ (or $PIXEE_PROFILES_DIR) or a path to a .toml file; default duckdb",
    )
    parser.add_argument("--duckdb-path", help="the DuckDB file (default from the profile)")


def settings_from_args(args: argparse.Namespace, **extra: object) -> Settings:
    return load_settings(args.profile, duckdb_path=args.duckdb_path, **extra)
