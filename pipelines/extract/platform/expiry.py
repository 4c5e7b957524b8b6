"""Scans the API stopped serving keep their rows: `_expired_at` set, never dropped; and the too-late warning.

The platform API forgets a scan seven days after its import (gone from the list, 404 on its
links). The warehouse keeps it: after a load holding a complete read of the scans list, every
scan row that load did not write gets `_expired_at` = the run's start (on the server's clock),
and so does a scan whose findings answered 404. A scan served again is loaded again without
the column, so the merge sets it back to NULL. Its findings stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pipelines.extract.endpoints import EXPIRED_AT, PLATFORM
from pipelines.load.history import chunks, rowcount
from pipelines.load.schemas import api_schema

EXPIRY = timedelta(days=7)  # the API's: a scan answers 404 seven days after its import
WARN_AFTER = timedelta(days=6)  # a run at least this often loses nothing
[EXPIRING] = [e.table for e in PLATFORM if e.expirable]  # the scans


def mark_expired(
    pipeline: Any,
    run_loads: Sequence[str],
    observed_at: datetime,
    complete: bool,
    gone: Sequence[str] = (),
) -> int:
    """Set `_expired_at` on the scans a complete read (`complete`, loaded in `run_loads`) no
    longer found and on the scans in `gone` (404); scans newly marked."""
    schema = api_schema(pipeline)
    if schema is None or EXPIRING not in {t["name"] for t in schema.data_tables(seen_data_only=True)}:
        return 0
    if not complete and not gone:
        return 0
    marked = 0
    with pipeline.sql_client() as client:
        col = client.escape_column_name
        scans = client.make_qualified_table_name(EXPIRING)
        unmarked = f"update {scans} set {col(EXPIRED_AT)} = %s where {col(EXPIRED_AT)} is null"
        if complete:
            loads = list(run_loads) or [""]
            marks = ", ".join(["%s"] * len(loads))
            marked += rowcount(
                client, f"{unmarked} and {col('_dlt_load_id')} not in ({marks})", observed_at, *loads
            )
        for chunk in chunks(sorted(set(gone))):
            marks = ", ".join(["%s"] * len(chunk))
            marked += rowcount(client, f"{unmarked} and {col('id')} in ({marks})", observed_at, *chunk)
    return marked


def late_warning(previous: datetime | None, now: datetime) -> str | None:
    """One line when the previous run is older than the expiry window allows: which imports
    may have expired unread (their scans and findings never reach the warehouse)."""
    if previous is None or now - previous <= WARN_AFTER:
        return None
    lost_until = now - EXPIRY
    days = (now - previous).total_seconds() / 86400
    if lost_until <= previous:
        return (
            f"the previous run was {days:.1f} days ago, close to the API's 7-day scan expiry: "
            "run at least every 6 days, or scans expire before they are read"
        )
    return (
        f"the previous run was {days:.1f} days ago, beyond the API's 7-day scan expiry: scans imported "
        f"between {previous:%Y-%m-%d %H:%M} and {lost_until:%Y-%m-%d %H:%M} UTC expired unread, with "
        "their findings (run at least every 6 days)"
    )
