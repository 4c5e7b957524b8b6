"""Finds secrets anywhere a run leaves text: files (gz, parquet and dlt state decoded) and DuckDB tables."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from dlt.common.versioned_state import decompress_state


def _needles(secrets: Sequence[str]) -> list[tuple[str, bytes]]:
    """Each secret whole, and its middle (a secret cut short in a log line is still a leak)."""
    out = []
    for secret in secrets:
        middle = secret[len(secret) // 4 : len(secret) // 4 + 12]
        out += [(secret, secret.encode()), (secret, middle.encode())]
    return out


def _texts(path: Path) -> Iterable[tuple[str, bytes]]:
    data = path.read_bytes()
    yield "bytes", data
    if path.suffix == ".gz":
        yield "gunzipped", gzip.decompress(data)
    if path.suffix == ".parquet":
        yield "parquet rows", repr(pq.read_table(path).to_pylist()).encode()


def scan_files(root: Path, secrets: Sequence[str]) -> list[str]:
    """'<file> (<how read>) holds <secret>' for every file under root that holds a secret."""
    needles = _needles(secrets)
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix in (".duckdb", ".wal"):
            continue  # read through DuckDB below: its pages may be compressed
        for how, text in _texts(path):
            for secret, needle in needles:
                if needle in text:
                    found.append(f"{path} ({how}) holds {secret[:4]}...")
    return found


def scan_duckdb(db: Path, secrets: Sequence[str]) -> list[str]:
    """Every column of every table, cast to text; dlt's compressed state rows decoded first."""
    needles = _needles(secrets)
    found = []
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            rows = con.execute(f'select * from "{schema}"."{table}"').fetchall()
            text = repr(rows)
            if table == "_dlt_pipeline_state":
                names = [d[0] for d in con.execute(f'select * from "{schema}"."{table}" limit 0').description]
                i = names.index("state")
                text += repr([decompress_state(row[i]) for row in rows])
            for secret, needle in needles:
                if needle.decode() in text:
                    found.append(f"table {schema}.{table} holds {secret[:4]}...")
    return found
