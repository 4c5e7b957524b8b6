"""The `pixee-etl` command: picks a subcommand, parses its flags, runs it, maps errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import sys

from pipelines.errors import PixeeEtlError

# Each module exposes `add_arguments(parser)` and `main(args) -> int`. Imported lazily so that
# `pixee-etl check` does not pay for importing Prefect.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pipelines.commands.run", "one sync into the destination, then the marts"),
    "demo": ("pipelines.commands.demo", "simulator on loopback, sync, advance, sync again, summary"),
    "check": ("pipelines.commands.check", "one request proving the token and URL work"),
    "marts": ("pipelines.commands.marts", "rebuild the marts (dbt run) from the raw tables"),
    "dbt": ("pipelines.commands.dbt", "any dbt command on the marts project: test, docs generate, ..."),
    "simulate": ("simulator.cli", "serve the Pixee API simulator"),
    "serve": ("flows.serve", "run the Prefect schedules in this process"),
}


def _usage() -> str:
    lines = ["usage: pixee-etl COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "pixee-etl COMMAND --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
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
    try:
        return int(module.main(args) or 0)
    except PixeeEtlError as exc:
        print(f"pixee-etl {name}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"pixee-etl {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
