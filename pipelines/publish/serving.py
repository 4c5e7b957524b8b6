"""The DuckDB serving file: a read-only copy of the working file that each run publishes for readers.

dlt loads the working file, and DuckDB lets one process write a file only while no other process
has it open, even read-only. So readers (BI tools, notebooks, the duckdb CLI) never open the working
file: after the marts, each run writes a complete new file in a storage version older DuckDB
releases read, and renames it onto the serving path. A reader with the previous file open keeps
reading that consistent snapshot (the rename does not touch its inode) and sees the new one when it
reconnects; the writer never waits for a reader.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.errors import ConfigError, PixeeEtlError, WorkingFileInUseError
from pipelines.load.disk import disk_full
from pipelines.settings import Settings

# The catalog the publishing connection attaches the new file under, for the length of the copy.
PUBLISH_CATALOG = "pixee_publish"
# Where DuckDB names the process holding a file it could not lock.
_HOLDER = re.compile(r"Conflicting lock is held in (?P<process>.+?) \(PID (?P<pid>\d+)\)")


@dataclass(frozen=True)
class PublishReport:
    """One published serving file: where, in which storage version, its size and the time it took."""

    path: Path
    storage_version: str
    bytes: int
    tables: int
    elapsed_seconds: float

    def summary(self) -> str:
        return (
            f"serving file {self.path} published in {self.elapsed_seconds:.1f}s ({self.tables} tables, "
            f"{self.bytes / 1e6:,.1f} MB, DuckDB storage {self.storage_version}): "
            "readers open this one, read-only"
        )


def catalog_name(path: Path) -> str:
    """The catalog DuckDB names a file's database after: its file name up to the first dot, lower-cased.

    DuckDB resolves catalog and schema names case-insensitively, so Pixee.duckdb clashes with schema
    pixee exactly as pixee.duckdb does.
    """
    return path.name.split(".", 1)[0].lower()


def serving_path(settings: Settings) -> Path:
    """The configured serving path, or the working file's name with `.serving` before its suffix
    (pixee_warehouse.duckdb -> pixee_warehouse.serving.duckdb: the same catalog name for readers)."""
    if settings.serving_path is not None:
        return settings.serving_path
    working = settings.duckdb_path
    return working.with_name(f"{working.stem}.serving{working.suffix or '.duckdb'}")


def check_serving(settings: Settings) -> None:
    """ConfigError naming what is wrong with the serving path or storage version, before any run."""
    working, serving = settings.duckdb_path, serving_path(settings)
    if serving.resolve() == working.resolve():
        raise ConfigError(f"serving_path {serving} is the working file; readers need a file of their own")
    if catalog_name(serving) in reserved_catalogs(settings):
        raise ConfigError(
            f"serving file {serving.name}: DuckDB would name its catalog {catalog_name(serving)!r}, "
            f"like a schema in it, and make {catalog_name(serving)}.<table> ambiguous for every reader; "
            "pick another file name"
        )
    parent = serving.parent
    if not parent.is_dir():
        raise ConfigError(f"serving path {serving}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"serving path {serving}: directory {parent} is not writable by this user")
    if serving.is_dir():
        raise ConfigError(f"serving path {serving} is a directory; give a file name")
    with duckdb.connect() as con:
        try:
            con.execute(f"attach ':memory:' as probe (storage_version {_literal(settings.storage_version)})")
        except duckdb.Error:
            raise ConfigError(
                f"storage_version {settings.storage_version!r} is not a DuckDB version this DuckDB "
                f"({duckdb.__version__}) can write; use one like 'v1.1.0'"
            ) from None


def reserved_catalogs(settings: Settings) -> set[str]:
    """Schema names a DuckDB file holding this warehouse has; a catalog of the same name is ambiguous."""
    names = (settings.dataset, settings.marts_dataset)
    return {n.lower() for name in names for n in (name, f"{name}_staging")}


def check_working_file_free(settings: Settings) -> None:
    """WorkingFileInUseError, one line naming the process, when another process holds the working file.

    DuckDB's own refusal comes back from dlt as a long connection error about credentials; this
    opens the file the way the load will, before anything is read from the API.
    """
    path = settings.duckdb_path
    if settings.destination != "duckdb" or not path.exists():
        return
    try:
        duckdb.connect(str(path)).close()
    except duckdb.ConnectionException:
        return  # this process has it open (a flow run before in the same process): not a reader
    except duckdb.Error as exc:
        holder = _HOLDER.search(str(exc))
        if holder is None:  # not a lock: a damaged or foreign file, said in one line all the same
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PixeeEtlError(f"DuckDB file {path} cannot be opened: {first}") from None
        raise WorkingFileInUseError(
            f"DuckDB file {path} is open in another process ({holder['process']}, PID {holder['pid']}); "
            f"it is the working file: readers use the serving file {serving_path(settings)} (read-only)"
        ) from None


def publish(pipeline: dlt.Pipeline, settings: Settings) -> PublishReport | None:
    """Copy the working file into a new serving file and rename it into place; None on Snowflake,
    where readers and the writer share the warehouse anyway.

    Every schema of the working file is copied except dlt's merge staging: tables as tables, views
    as views re-created without the working catalog's name (they resolve inside whichever file they
    are read from). Runs under the destination's lock, after the marts.
    """
    if settings.destination != "duckdb":
        return None
    started = time.monotonic()
    serving = serving_path(settings).absolute()
    for stale in serving.parent.glob(f".{serving.name}.*.publishing*"):
        stale.unlink(missing_ok=True)  # a publish killed mid-way; the lock says none is running
    partial = serving.with_name(f".{serving.name}.{os.getpid()}.publishing")
    try:
        try:
            with pipeline.sql_client() as client:
                tables = _copy(client.execute_sql, partial, settings)
            _fsync(partial)
        except Exception as exc:
            # The copy is about the working file's size; the previous serving file stays in place.
            full = disk_full(exc, "publishing the serving file", partial, _size(settings.duckdb_path))
            if full is not None:
                raise full from None
            raise
        partial.chmod(0o444)
        # A WAL beside the serving path can only be a leftover of someone who opened an earlier
        # serving file for writing; next to the new file it would be replayed into the wrong data.
        serving.with_name(serving.name + ".wal").unlink(missing_ok=True)
        os.replace(partial, serving)
        _fsync(serving.parent)
    finally:
        partial.unlink(missing_ok=True)
        partial.with_name(partial.name + ".wal").unlink(missing_ok=True)
    return PublishReport(
        path=serving,
        storage_version=settings.storage_version,
        bytes=serving.stat().st_size,
        tables=tables,
        elapsed_seconds=time.monotonic() - started,
    )


def _copy(execute: Any, partial: Path, settings: Settings) -> int:
    """Attach the new file, copy tables then views into it, detach (which checkpoints); table count."""
    catalog = str(execute("select current_database()")[0][0])
    skipped = f"{settings.dataset}_staging"  # dlt's merge staging: not for readers
    relations = execute(
        "select schema_name, table_name, 'table' from duckdb_tables() "
        "where database_name = current_database() and not internal and not temporary "
        "union all select schema_name, view_name, sql from duckdb_views() "
        "where database_name = current_database() and not internal and not temporary"
    )
    relations = [r for r in relations if r[0] != skipped]
    version = _literal(settings.storage_version)
    execute(f"attach {_literal(str(partial))} as {PUBLISH_CATALOG} (storage_version {version})")
    try:
        for schema in sorted({r[0] for r in relations}):
            execute(f"create schema if not exists {PUBLISH_CATALOG}.{_ident(schema)}")
        tables = [(s, t) for s, t, kind in relations if kind == "table"]
        for schema, table in tables:
            execute(
                f"create table {PUBLISH_CATALOG}.{_ident(schema)}.{_ident(table)} as "
                f"select * from {_ident(catalog)}.{_ident(schema)}.{_ident(table)}"
            )
        views = [sql for _, _, sql in relations if sql != "table"]
        if views:
            # The view's own SQL, run inside the new file: it binds to the copied tables there.
            qualified = re.compile(re.escape(_ident(catalog)) + r"\.")
            execute(f"use {PUBLISH_CATALOG}")
            try:
                _create_views([qualified.sub("", sql) for sql in views], execute)
            finally:
                execute(f"use {_ident(catalog)}")
    except BaseException:
        with contextlib.suppress(Exception):
            execute(f"detach {PUBLISH_CATALOG}")
        raise
    execute(f"detach {PUBLISH_CATALOG}")  # checkpoints: the file is complete, with no WAL beside it
    return len(tables)


def _create_views(statements: list[str], execute: Any) -> None:
    """Run the CREATE VIEW statements, those a view reads first: DuckDB binds a view when it is
    created, and duckdb_views() lists them in no particular order."""
    pending = list(statements)
    while pending:
        failed: list[str] = []
        error: Exception | None = None
        for sql in pending:
            try:
                execute(sql)
            except Exception as exc:  # a view it reads is not there yet, or a real error
                failed.append(sql)
                error = exc
        if len(failed) == len(pending):
            assert error is not None
            raise error
        pending = failed


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _size(path: Path | str | None) -> int | None:
    try:
        return Path(path).stat().st_size if path else None
    except OSError:
        return None
