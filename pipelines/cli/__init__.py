"""The `pixee-etl` command line: main.py picks a subcommand, one module per subcommand beside it."""

from pipelines.cli.main import COMMANDS, main

__all__ = ["COMMANDS", "main"]
