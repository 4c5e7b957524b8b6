"""What both demos share: the simulator's rate, the settings aimed at it, and how the tour prints."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pipelines.cli.run import configure_logging
from pipelines.load.destinations import destination_for
from pipelines.load.lock import destination_lock
from pipelines.run import RunContext
from pipelines.settings import Secret, Settings, load_settings

if TYPE_CHECKING:
    from simulator import Simulator

# The simulator and the client share one rate, high enough that the demo takes seconds, paced
# exactly like a real sync (the client's bucket mirrors the server's, so no 429 is expected).
DEMO_RPM = 1200.0
DEMO_BURST = 20


def demo_settings(base_url: str, token: str, duckdb_path: Path) -> Settings:
    """The default profile aimed at the simulator; nothing is read from PIXEE_* variables."""
    settings = load_settings(env={})
    return replace(
        settings,
        base_url=base_url,
        token=Secret(token),
        tier="demo",
        requests_per_minute=DEMO_RPM,
        burst=DEMO_BURST,
        duckdb_path=duckdb_path,
        # Its own dlt working directory, apart from `pixee-etl run`'s.
        pipeline_name="pixee_demo",
    )


def demo_simulator(args: argparse.Namespace, **config: Any) -> Simulator:
    """The simulated organisation a demo syncs from, at the demo's rate (logging configured first)."""
    from simulator import SimConfig, Simulator  # the simulator is imported by the demo alone

    configure_logging()
    return Simulator(
        SimConfig(
            seed=args.seed,
            repositories=args.repositories,
            requests_per_minute=DEMO_RPM,
            burst=DEMO_BURST,
            **config,
        )
    )


@contextmanager
def demo_context(settings: Settings, sim: Simulator) -> Iterator[RunContext]:
    """The context both of a demo's syncs run in, on the simulator's clock, inside the destination's lock."""
    destination_for(settings)  # a bad path is one line and exit 2 before the lock writes anything
    with destination_lock(settings, what="pixee-etl demo"):
        yield RunContext(settings, clock=lambda: sim.now, say=lambda text: print(indented(text)))


def full_sync_line(path: str) -> str:
    """The heading of a demo's first sync: where it loads and at what pace."""
    return f"1. Full sync into {path} at {DEMO_RPM:g} requests/min (burst {DEMO_BURST})"


def tour_heading(path: Path) -> str:
    return f"What is in {shown(path)} now:"


def try_it(path: Path, example_sql: str) -> list[str]:
    """The tour's last lines: the command that opens the serving file, and SQL to paste into it."""
    return ["", f"Try it: {duckdb_shell(path)}", indented(example_sql)]


def duckdb_shell(path: Path) -> str:
    """The command that opens `path` read-only in the DuckDB CLI installed with pixee-etl (the
    duckdb-cli package puts `duckdb` beside this Python), as a path that works from here."""
    beside = Path(sys.executable).parent / "duckdb"
    cli = str(beside) if beside.exists() else shutil.which("duckdb")
    if cli is None:  # pixee-etl installed without its dependencies
        return f"duckdb -readonly {shown(path)}   (the DuckDB CLI: pip install duckdb-cli)"
    return f"{shown(Path(cli))} -readonly {shown(path)}"


def shown(path: Path) -> str:
    """The path relative to the current directory when it lies below it, else absolute."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return row[0] if row else None


def indented(text: str) -> str:
    return "\n".join("   " + line if line else line for line in text.splitlines())
