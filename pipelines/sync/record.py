"""After each load: its new versions into the history tables, then `_deleted_at` for what went."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt
from dlt.common.destination.exceptions import DestinationException, DestinationTransientException

from pipelines.deletions import ReadLog, mark_disappeared
from pipelines.endpoints import FlavourName
from pipelines.history import record_unrecorded_loads, record_versions
from pipelines.refresh import keep_prior_rows, restore_disappeared
from pipelines.report import SyncReport
from pipelines.sync.steps import DestinationError, cause_line


class RunRecord:
    """What history and deletions need across the loads of one run.

    `mark` runs after every load the run commits (pipelines.history: one INSERT ... SELECT per
    table and load; pipelines.deletions: ids a complete read no longer found), so it holds
    nothing in memory and makes no request.
    """

    def __init__(
        self, report: SyncReport, first_load: int, reconcile: bool, history: bool, flavour: FlavourName = "v1"
    ) -> None:
        self.report = report
        self.flavour: FlavourName = flavour  # which tables are versioned (pipelines.endpoints)
        self.history = history
        self.reads = ReadLog()
        self.first_load = first_load  # report.load_ids before this are an earlier run's package
        self.reconcile = reconcile
        self.versioned = 0  # report.load_ids before this are in the history tables (a pending one too)

    def source_args(self) -> dict[str, Any]:
        return {"reads": self.reads, "full_read": self.reconcile}

    def catch_up(self, pipeline: dlt.Pipeline) -> None:
        """Before this run loads anything: the versions of loads an earlier run committed but was
        killed before recording (their rows are still the main tables' latest)."""
        if not self.history:
            return
        with _destination_errors():
            added = record_unrecorded_loads(pipeline, self.flavour)
        self._count(added)
        if sum(added.values()):
            self.report.warn(
                f"{sum(added.values())} versions an interrupted run loaded were added to the history now"
            )

    def keep_prior(self, pipeline: dlt.Pipeline) -> None:
        """Before a --full-refresh drops the main tables: their rows copied aside (pipelines.refresh)."""
        with _destination_errors():
            keep_prior_rows(pipeline)

    def restore_gone(self, pipeline: dlt.Pipeline) -> None:
        """After a run that read every list to its end: what a refresh dropped and did not find again
        goes back, marked deleted (pipelines.refresh)."""
        with _destination_errors():
            marked = restore_disappeared(pipeline, self.report.observed_at)
        for table, count in marked.items():
            self.report.add_deleted(table, count)

    def _count(self, added: dict[str, int]) -> None:
        for table, count in added.items():
            self.report.history_rows[table] = self.report.history_rows.get(table, 0) + count

    def mark(self, pipeline: dlt.Pipeline) -> None:
        """After a load committed: its new versions into the history tables, then `_deleted_at`
        for what the reads it holds no longer found."""
        started = self.report.observed_at
        with _destination_errors():
            if self.history:
                loads = self.report.load_ids[self.versioned :]
                self._count(record_versions(pipeline, loads, started, self.flavour))
                self.versioned = len(self.report.load_ids)
            marked = mark_disappeared(pipeline, self.reads, self.report.load_ids[self.first_load :], started)
        for table, count in marked.items():
            self.report.add_deleted(table, count)


@contextmanager
def _destination_errors() -> Iterator[None]:
    """A warehouse error while recording is one line (steps.DestinationError), never a traceback."""
    try:
        yield
    except DestinationException as exc:
        raise DestinationError(
            f"the destination failed recording history and deletions: {type(exc).__name__}: "
            f"{cause_line(str(exc))}",
            transient=isinstance(exc, DestinationTransientException),
        ) from None
