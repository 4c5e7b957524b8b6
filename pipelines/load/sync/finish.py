"""Phase 4, finish: what changed in the schema, and one log line per table."""

from __future__ import annotations

import logging

import dlt

from pipelines.load.schemas import api_schema
from pipelines.publish.run_summary import SyncReport

log = logging.getLogger("pipelines.sync")


def columns_of(pipeline: dlt.Pipeline) -> dict[str, set[str]]:
    schema = api_schema(pipeline)
    if schema is None:
        return {}
    tables = schema.data_tables()
    return {t["name"]: set(t.get("columns", {})) for t in tables}


def schema_changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[str]:
    """New columns in tables that existed before this sync (drift, not creation), and type
    variants anywhere: a field that changed type within the load that created its table is
    as much a change as one between loads."""
    changes = []
    for table, cols in sorted(after.items()):
        known = before.get(table)
        for col in sorted(cols - (known or set())):
            if known is None and "__v_" not in col:
                continue
            if "__v_" in col:
                changes.append(f"{table}.{col.split('__v_')[0]} changed type: new values land in {col}")
            else:
                changes.append(f"{table}.{col} is a new column")
    return changes


def log_tables(report: SyncReport) -> None:
    for row in report.as_rows()[:-1]:
        log.info(
            "%s: %d rows, %d requests, %d 429s, %d retries, %.1f s rate-limit wait",
            row["table"],
            row["rows"],
            row["requests"],
            row["throttled_429"],
            row["retries"],
            row["wait_seconds"],
        )
