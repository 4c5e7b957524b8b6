"""The receiver's forwarder: journal rows into the warehouse in small batches, for runs on any worker.

Where runs land on any machine (Snowflake under a Prefect work pool), the receiver's disk is no
place for events: `pixee-etl receive --forward-seconds N` loads, every N seconds, the events
delivered since the last forward (`webhook_events`, merged on id, with `last_received_at`) and its
heartbeats (`webhook_receiver_sessions`) into the destination through its own dlt pipeline, and a
run with `[events] source = "warehouse"` plans from those tables instead of a journal file. The
journal stays the durable acknowledgement (a 2xx never waits for the warehouse); a forward that
fails is tried again at the next tick from the same mark, and the merge makes repeats harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import dlt

from pipelines.events.journal import Journal
from pipelines.events.runs import COLUMNS, column_hints, row
from pipelines.load.destinations import make_pipeline
from pipelines.settings import Settings

log = logging.getLogger("pipelines.webhooks")

SOURCE_NAME = "pixee_receiver"
SESSION_COLUMNS = column_hints("session", started_at="timestamp", beat_at="timestamp", stopped_at="timestamp")
FORWARD_COLUMNS = {**COLUMNS, "last_received_at": {"data_type": "timestamp"}}


def forward_pipeline(settings: Settings, pipelines_dir: str | None = None) -> dlt.Pipeline:
    """The forwarder's own pipeline (its own state), into the run's destination and dataset."""
    return make_pipeline(
        replace(settings, pipeline_name=f"{settings.pipeline_name}_receiver"), pipelines_dir=pipelines_dir
    )


@dlt.source(name=SOURCE_NAME, max_table_nesting=1)
def receiver_source(events: list[dict[str, Any]], sessions: list[dict[str, Any]]) -> Any:
    @dlt.resource(name="webhook_events", write_disposition="merge", primary_key="id", columns=FORWARD_COLUMNS)
    def webhook_events() -> Iterator[list[dict[str, Any]]]:
        if events:
            yield events

    @dlt.resource(
        name="webhook_receiver_sessions",
        write_disposition="merge",
        primary_key="session",
        columns=SESSION_COLUMNS,
    )
    def webhook_receiver_sessions() -> Iterator[list[dict[str, Any]]]:
        if sessions:
            yield sessions

    return webhook_events, webhook_receiver_sessions


class Forwarder:
    """Forwards what was delivered since its mark; `forward_once` for tests, `run` for the receiver."""

    def __init__(self, settings: Settings, journal: Journal, *, pipelines_dir: str | None = None) -> None:
        self.journal = journal
        # Its working files beside the journal, not in ~/.dlt: two receivers (or a receiver and a
        # test) on one machine must never load each other's packages.
        where = pipelines_dir or str(journal.path.with_name(journal.path.name + ".pipelines"))
        self.pipeline = forward_pipeline(settings, where)
        self.mark = journal.meta("forwarded_through")

    def forward_once(self) -> int:
        """One batch into the warehouse; the number of events sent. Raises what the load raised."""
        events = self.journal.events_since(self.mark)
        rows = [{**row(e), "last_received_at": e.last_received_at} for e in events]
        sessions = [
            {"session": s, "started_at": a, "beat_at": b, "stopped_at": c}
            for s, a, b, c in self.journal.session_rows()
        ]
        try:
            self.pipeline.run(receiver_source(rows, sessions), loader_file_format="parquet")
        except Exception:
            # The rows are in the journal and the mark has not moved: drop what this attempt left
            # half-loaded, so the next tick sends everything again instead of retrying a stale package.
            self.pipeline.drop_pending_packages()
            raise
        # The next batch starts at the newest delivery sent (inclusive): one committed while this
        # batch loaded is sent next time rather than skipped, at the cost of one repeated row.
        newest = max((e.last_received_at for e in events), default=None)
        self.mark = newest or self.mark
        if self.mark:
            self.journal.set_meta("forwarded_through", self.mark)
        return len(rows)

    def run(self, every: float, stop: threading.Event) -> None:
        while not stop.wait(every):
            try:
                sent = self.forward_once()
                if sent:
                    log.info("forwarded %d events to the warehouse", sent)
            except Exception as exc:  # the warehouse is away: the journal keeps them, try next tick
                log.warning(
                    "forwarding to the warehouse failed (%s); retrying in %.0f s", type(exc).__name__, every
                )
