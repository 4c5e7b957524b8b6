"""After each load: its new versions into the history tables, then `_deleted_at` for what went."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import dlt
from dlt.common.destination.exceptions import DestinationException, DestinationTransientException

from pipelines.errors import DestinationError
from pipelines.extract.endpoints import FlavourName
from pipelines.load.deletions import ReadLog, mark_disappeared
from pipelines.load.disk import disk_full
from pipelines.load.history import record_unrecorded_loads, record_versions
from pipelines.load.refresh import keep_prior_rows, restore_disappeared
from pipelines.load.sync.steps import cause_line, roomy_memory_limit
from pipelines.publish.run_summary import SyncReport

if TYPE_CHECKING:
    from pipelines.load.sync.context import SyncRun

T = TypeVar("T")


class RunRecord:
    """What history and deletions need across the loads of one run.

    `mark` runs after every load the run commits (pipelines.load.history: one INSERT ... SELECT per
    table and load; pipelines.load.deletions: ids a complete read no longer found), so it holds
    nothing in memory and makes no request.

    None of it may wedge the sync: each step retries once with DuckDB's own memory limit when
    the sync's cap is too small (as loads do), and a step that still fails is one failure line
    while the loads go on. Its work waits, never lost: versions not recorded are recorded by the
    next run's catch-up (loads are listed once recorded), deletions by the next mark of this run,
    a refresh's restore by the next run that reads every list.
    """

    def __init__(self, run: SyncRun, flavour: FlavourName = "v1") -> None:
        self.run = run
        self.report = run.report
        self.flavour: FlavourName = flavour  # which tables are versioned (pipelines.extract.endpoints)
        self.history = run.history
        self.reads = ReadLog()
        # report.load_ids before this are an earlier run's package (resume loaded it)
        self.first_load = len(run.report.load_ids)
        self.reconcile = run.reconcile
        self.versioned = 0  # report.load_ids before this are in the history tables (a pending one too)
        self.history_waits = False  # recording failed this run: the next run's catch-up does it

    def source_args(self) -> dict[str, Any]:
        return {"reads": self.reads, "full_read": self.reconcile}

    def catch_up(self, pipeline: dlt.Pipeline) -> None:
        """Before this run loads anything: the versions of loads an earlier run committed but was
        killed before recording (their rows are still the main tables' latest)."""
        if not self.history:
            return
        added = self._attempt(
            "recording the versions of earlier loads", lambda: record_unrecorded_loads(pipeline, self.flavour)
        )
        if added is None:
            return  # this run's own loads are still recorded after each: the two never overlap
        self._count(added)
        if sum(added.values()):
            self.report.warn(
                f"{sum(added.values())} versions an interrupted run loaded were added to the history now"
            )

    def keep_prior(self, pipeline: dlt.Pipeline) -> None:
        """Before a --full-refresh drops the main tables: their rows copied aside (pipelines.load.refresh).
        A copy that fails ends the run before anything is dropped."""
        with_more_memory(self.report, "copying the tables a refresh drops", lambda: keep_prior_rows(pipeline))

    def restore_gone(self, pipeline: dlt.Pipeline) -> None:
        """After a run that read every list to its end: what a refresh dropped and did not find again
        goes back, marked deleted (pipelines.load.refresh); the copies stay for the next run if not."""
        marked = self._attempt(
            "restoring what a refresh no longer found",
            lambda: restore_disappeared(pipeline, self.run.observed_at, history=self.history),
            "its copies are kept for the next run that reads every list",
        )
        for table, count in (marked or {}).items():
            self.report.add_deleted(table, count)

    def _count(self, added: dict[str, int]) -> None:
        for table, count in added.items():
            self.report.history_rows[table] = self.report.history_rows.get(table, 0) + count

    def mark(self, pipeline: dlt.Pipeline) -> None:
        """After a load committed: its new versions into the history tables, then `_deleted_at`
        for what the reads it holds no longer found."""
        started = self.run.observed_at
        if self.history and not self.history_waits:
            added = self._attempt(
                "recording history",
                lambda: record_versions(
                    pipeline, self.report.load_ids[self.versioned :], started, self.flavour
                ),
                "the next run records their versions first",
            )
            if added is None:
                self.history_waits = True  # not tried again after each load: one failure line
            else:
                self._count(added)
                self.versioned = len(self.report.load_ids)
        taken = self.reads.take()
        marked = self._attempt(
            "marking what the API no longer lists",
            lambda: mark_disappeared(
                pipeline, ReadLog.of(taken), self.report.load_ids[self.first_load :], started
            ),
            "tried again after the next load, else a run with --reconcile marks them",
        )
        if marked is None:
            self.reads.put_back(taken)  # tried again after the next load
        for table, count in (marked or {}).items():
            self.report.add_deleted(table, count)

    def _attempt(self, what: str, step: Callable[[], T], later: str = "the next run tries again") -> T | None:
        """`step`, or None once it failed even with more memory: reported as one failure line
        saying when its work is done instead (`later`)."""
        try:
            return with_more_memory(self.report, what, step)
        except DestinationError as exc:
            self.report.fail(f"{what} failed ({exc}); the loaded rows are committed; {later}", step=True)
            return None


def with_more_memory(report: SyncReport, what: str, step: Callable[[], T]) -> T:
    """`step`, retried once with DuckDB's default memory limit when the sync's cap was too small."""
    try:
        with _destination_errors(what):
            return step()
    except DestinationError as exc:
        if not exc.out_of_memory:
            raise
        more = roomy_memory_limit()
        report.warn(f"{what} ran out of DuckDB's memory cap; retried with memory_limit {more}")
        with (
            dlt.config.values({"destination.duckdb.credentials.global_config": {"memory_limit": more}}),
            _destination_errors(what),
        ):
            return step()


@contextmanager
def _destination_errors(what: str) -> Iterator[None]:
    """A warehouse error while recording is one line (steps.DestinationError), never a traceback."""
    try:
        yield
    except DestinationException as exc:
        full = disk_full(exc, what)  # nothing else can be written either: the run ends here
        if full is not None:
            raise full from None
        text = str(exc)
        raise DestinationError(
            f"the destination failed {what}: {type(exc).__name__}: {cause_line(text)}",
            transient=isinstance(exc, DestinationTransientException),
            out_of_memory="Out of Memory" in text,
        ) from None
