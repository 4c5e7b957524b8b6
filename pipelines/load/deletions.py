"""What the API stopped returning: `_deleted_at` set after a complete read no longer finds an id.

A list read with no `updated_since` to its end loads every object it lists (nothing is skipped as
unchanged), so after its load the rows of that list not loaded by this run are exactly the ones
the API no longer lists. A repository whose lists answered 404 is gone with all its children.
The seen ids are never held in memory: the warehouse already has them (`_dlt_load_id`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipelines.extract.endpoints import DELETED_AT, deletable
from pipelines.load.history import chunks, rowcount
from pipelines.load.schemas import api_schema

MARKED_TABLES = deletable("v1")
CHILD_TABLES = tuple(t for t in MARKED_TABLES if t != "repositories")


@dataclass
class ReadLog:
    """Complete reads and vanished repositories seen while extracting, until they are marked."""

    repositories_complete: bool = False
    complete: list[tuple[str, str]] = field(default_factory=list)  # (table, repository_id)
    vanished: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def read_complete(self, table: str, repository_id: str | None) -> None:
        with self._lock:
            if table == "repositories":
                self.repositories_complete = True
            elif repository_id is not None:
                self.complete.append((table, repository_id))

    def repository_vanished(self, repository_id: str) -> None:
        with self._lock:
            self.vanished.append(repository_id)

    def take(self) -> tuple[bool, list[tuple[str, str]], list[str]]:
        with self._lock:
            out = (self.repositories_complete, self.complete, self.vanished)
            self.repositories_complete, self.complete, self.vanished = False, [], []
            return out

    def put_back(self, taken: tuple[bool, list[tuple[str, str]], list[str]]) -> None:
        """What `take` returned, back for the next marking (this one failed)."""
        with self._lock:
            self.repositories_complete = self.repositories_complete or taken[0]
            self.complete = taken[1] + self.complete
            self.vanished = taken[2] + self.vanished

    @classmethod
    def of(cls, taken: tuple[bool, list[tuple[str, str]], list[str]]) -> ReadLog:
        return cls(taken[0], list(taken[1]), list(taken[2]))


def mark_disappeared(
    pipeline: Any, log: ReadLog, run_loads: Sequence[str], observed_at: datetime
) -> dict[str, int]:
    """Set `_deleted_at` = observed_at on what the reads logged since the last call no longer
    found; rows per table. Call only after the loads of those reads committed (`run_loads` are
    this run's load ids, the pending package of an earlier run excluded)."""
    repositories_complete, complete, vanished = log.take()
    marked: dict[str, int] = {}
    schema = api_schema(pipeline)
    if not (repositories_complete or complete or vanished) or schema is None:
        return marked
    present = {t["name"] for t in schema.data_tables(seen_data_only=True)}
    loads = list(run_loads) or [""]
    with pipeline.sql_client() as client:
        col = client.escape_column_name

        def update(table: str, where: str, args: Sequence[Any]) -> None:
            if table not in present:
                return
            name = client.make_qualified_table_name(table)
            sql = f"update {name} set {col(DELETED_AT)} = %s where {col(DELETED_AT)} is null and {where}"
            count = rowcount(client, sql, observed_at, *args)
            if count:
                marked[table] = marked.get(table, 0) + count

        not_this_run = f"{col('_dlt_load_id')} not in ({', '.join(['%s'] * len(loads))})"
        if repositories_complete:
            update("repositories", not_this_run, loads)
        by_table: dict[str, list[str]] = {}
        for table, repository_id in complete:
            by_table.setdefault(table, []).append(repository_id)
        for table, ids in by_table.items():
            for chunk in chunks(sorted(set(ids))):
                where = f"{col('repository_id')} in ({', '.join(['%s'] * len(chunk))}) and {not_this_run}"
                update(table, where, [*chunk, *loads])
        for chunk in chunks(sorted(set(vanished))):
            marks = ", ".join(["%s"] * len(chunk))
            update("repositories", f"{col('id')} in ({marks})", chunk)
            for table in CHILD_TABLES:
                update(table, f"{col('repository_id')} in ({marks})", chunk)
    return marked
