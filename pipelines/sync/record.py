"""After each load: its new versions into the history tables, then `_deleted_at` for what went."""

from __future__ import annotations

from typing import Any

import dlt
from dlt.common.destination.exceptions import DestinationException, DestinationTransientException

from pipelines.deletions import ReadLog, mark_disappeared
from pipelines.history import record_versions
from pipelines.report import SyncReport
from pipelines.sync.steps import DestinationError, cause_line


class RunRecord:
    """What history and deletions need across the loads of one run.

    `mark` runs after every load the run commits (pipelines.history: one INSERT ... SELECT per
    table and load; pipelines.deletions: ids a complete read no longer found), so it holds
    nothing in memory and makes no request.
    """

    def __init__(self, report: SyncReport, first_load: int, reconcile: bool, history: bool) -> None:
        self.report = report
        self.history = history
        self.reads = ReadLog()
        self.first_load = first_load  # report.load_ids before this are an earlier run's package
        self.reconcile = reconcile
        self.versioned = 0  # report.load_ids before this are in the history tables (a pending one too)

    def source_args(self) -> dict[str, Any]:
        return {"reads": self.reads, "full_read": self.reconcile}

    def mark(self, pipeline: dlt.Pipeline) -> None:
        """After a load committed: its new versions into the history tables, then `_deleted_at`
        for what the reads it holds no longer found."""
        started = self.report.started_at
        try:
            if self.history:
                added = record_versions(pipeline, self.report.load_ids[self.versioned :], started)
                self.versioned = len(self.report.load_ids)
                for table, count in added.items():
                    self.report.history_rows[table] = self.report.history_rows.get(table, 0) + count
            marked = mark_disappeared(pipeline, self.reads, self.report.load_ids[self.first_load :], started)
        except DestinationException as exc:
            raise DestinationError(
                f"the destination failed recording history and deletions: {type(exc).__name__}: "
                f"{cause_line(str(exc))}",
                transient=isinstance(exc, DestinationTransientException),
            ) from None
        for table, count in marked.items():
            self.report.add_deleted(table, count)
