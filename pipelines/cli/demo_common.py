"""What both demos share: the simulator's rate, the settings aimed at it, and how the tour prints."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb

from pipelines.settings import Secret, Settings, load_settings

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
