"""One sync's working state (SyncRun): the pipeline, the client, the options, the server's clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import dlt
from dlt.extract.source import DltSource

from pipelines.api.client import PixeeClient
from pipelines.extract.v1 import pixee_source
from pipelines.extract.v1.cursors import run_start, server_clock
from pipelines.publish.run_summary import SyncReport
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.load.sync.record import RunRecord


@dataclass
class SyncRun:
    """What every phase of one sync reads and moves on; what the sync produced is `report`.

    The phases take it whole rather than a list of arguments each, so that a phase's inputs are
    named once here; only the report outlives the run (pipelines.load.sync.sync returns it)."""

    settings: Settings
    pipeline: dlt.Pipeline  # resume may swap it for a fresh one (a package set aside)
    client: PixeeClient
    report: SyncReport
    pipelines_dir: str | None = None
    full_refresh: bool = False
    details: bool = False
    reconcile: bool = False
    history: bool = True
    batch_repositories: int = 1
    # The run's start on the server's clock (its first answer): no cursor moves past it.
    cursor_cap: datetime | None = None
    # The server's Date at that answer: history and _deleted_at stamp it (the clock of updated_at).
    server_started_at: datetime | None = None
    started: float = field(default_factory=time.monotonic)  # the sync's elapsed counts from here
    record: RunRecord = field(init=False, repr=False)  # set by begin(), once resume has loaded

    @property
    def observed_at(self) -> datetime:
        """The run's start as history and deletions stamp it: on the server's clock, the one its
        updated_at come from (the marts compare them), else this machine's."""
        return self.server_started_at or self.report.started_at

    def begin(self, record: RunRecord) -> None:
        """After resume: what history and deletions need across this run's own loads."""
        self.record = record

    def read_clock(self) -> None:
        """The server's clock from the client's answers so far: the cursors' cap and the stamp."""
        self.cursor_cap = run_start(self.client.server_date)
        self.server_started_at = server_clock(self.client.server_date)

    def v1_source(self, **kwargs: Any) -> DltSource:
        """The v1 source as this run reads it: its lag, details, cap and record (pipelines.extract.v1)."""
        return pixee_source(
            self.client,
            lag_seconds=self.settings.lag_seconds,
            details=self.details,
            tally=self.report,
            cap=self.cursor_cap,
            **self.record.source_args(),
            **kwargs,
        )

    def finish(self) -> None:
        """The client's counters, the wall time and where the rows went into the report (also
        after a failure: an incomplete sync's report still leads to its marts)."""
        self.report.finish(self.client.stats, time.monotonic() - self.started)
        self.report.landed(self.pipeline, self.server_started_at)
