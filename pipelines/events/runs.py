"""Event-driven runs, the dlt side: journal -> `pixee.webhook_events`, and the plan's state.

The state (dlt source `pixee_events`, stored in the warehouse with the data like the sync's
cursors): `watermark` (events delivered since then are read again next run: an event can arrive
before its change is visible, so the look-back matches the lists' `lag_seconds`), `last_run`,
`last_reconcile`, and `inflight`: what the current run planned ("reconcile", or the pairs
per repository), cleared by `finish()` once every batch has loaded. A run that died leaves it set,
so the next one reads those lists again (or reconciles again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
from dlt.extract.source import DltSource

from pipelines.events.journal import Journal, StoredEvent, parse_stamp, stamp, utc_now
from pipelines.events.plan import EventPlan, plan
from pipelines.extract.rejected_rows import value_problem
from pipelines.settings import Settings

log = logging.getLogger("pipelines.webhooks")

SOURCE_NAME = "pixee_events"


def column_hints(key: str, **kinds: str) -> dict[str, Any]:
    """dlt column hints: `key` the text primary key, then each column with its data type."""
    primary = {"data_type": "text", "nullable": False, "primary_key": True}
    return {key: primary, **{name: {"data_type": kind} for name, kind in kinds.items()}}


COLUMNS = column_hints(
    "id",
    type="text",
    created_at="timestamp",
    organization="text",
    repository="text",
    repository_id="text",
    received_at="timestamp",
    deliveries="bigint",
)


def row(event: StoredEvent) -> dict[str, Any]:
    """The warehouse row: the envelope's fields, delivery facts, and `data` (flattened by dlt)."""
    data = event.body.get("data") if isinstance(event.body.get("data"), dict) else {}
    if value_problem(data) is not None:
        # Journaled before the receiver refused such values: no warehouse column holds it, and
        # one such event must not fail every forward and run after it.
        data = {}
    return {
        "id": event.id,
        "type": event.type,
        "created_at": event.created_at,
        "organization": event.organization,
        "repository": event.repository,
        "repository_id": event.repository_id or data.get("repository_id"),
        "received_at": event.received_at,
        "deliveries": event.deliveries,
        "data": data,
    }


def _utc(value: Any) -> datetime:
    """A timestamp the warehouse returned (aware or naive UTC, or text) as an aware datetime."""
    if isinstance(value, str):
        return parse_stamp(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class EventRun:
    """One run's event plan: made at the start, consulted when batches are planned, closed at the end."""

    def __init__(
        self,
        settings: Settings,
        pipeline: dlt.Pipeline,
        *,
        now: datetime | None = None,
        force_reason: str | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.now = now or utc_now()
        state = pipeline.state.get("sources", {}).get(SOURCE_NAME, {})
        self.state: dict[str, Any] = dict(state.get("events") or {})
        self.events: list[StoredEvent] = []
        sessions: list[tuple[datetime, datetime, datetime | None]] = []
        last_received: datetime | None = None
        if settings.events_source == "warehouse":
            self.events, sessions, last_received = self._from_warehouse()
        else:
            path = Path(settings.events_journal)
            if path.is_file():
                with Journal(path, readonly=True) as journal:
                    self.events = journal.events_since(self.state.get("watermark"))
                    sessions = journal.sessions()
                    last = journal.last_received()
                    last_received = parse_stamp(last) if last else None
            elif force_reason is None:
                force_reason = f"there is no event journal at {path} (is `pixee-etl receive` running here?)"
        self.plan: EventPlan = plan(
            self.events,
            state=self.state,
            sessions=sessions,
            last_received=last_received,
            names=self._names(),
            now=self.now,
            reconcile_hours=settings.reconcile_hours,
            missed_after=timedelta(seconds=settings.events_missed_after_seconds),
            force_reason=force_reason,
        )
        log.info("%s", self.plan.summary())

    def _from_warehouse(
        self,
    ) -> tuple[list[StoredEvent], list[tuple[datetime, datetime, datetime | None]], datetime | None]:
        """What the receiver forwarded (pipelines.events.forward): events delivered since the
        watermark, its sessions, and the latest delivery; empty when nothing was forwarded yet."""
        watermark = self.state.get("watermark")
        since = stamp(parse_stamp(watermark)) if watermark else "1970-01-01T00:00:00.000000Z"
        try:
            with self.pipeline.sql_client() as client:
                events_table = client.make_qualified_table_name("webhook_events")
                sessions_table = client.make_qualified_table_name("webhook_receiver_sessions")
                rows = client.execute_sql(
                    f"select id, type, repository, repository_id, last_received_at from {events_table} "
                    f"where last_received_at >= '{since}'"
                )
                latest = client.execute_sql(f"select max(last_received_at) from {events_table}")
                sessions = client.execute_sql(f"select started_at, beat_at, stopped_at from {sessions_table}")
        except Exception as exc:  # nothing forwarded yet: the tables do not exist
            log.info("no forwarded events in the warehouse (%s)", type(exc).__name__)
            return [], [], None
        events = [
            StoredEvent(0, str(i), str(t), None, None, r, rid, "", stamp(_utc(last)), 1, {})
            for i, t, r, rid, last in rows
        ]
        spans = [(_utc(a), _utc(b), _utc(c) if c is not None else None) for a, b, c in sessions]
        return events, spans, _utc(latest[0][0]) if latest and latest[0][0] is not None else None

    def _names(self) -> dict[str, str]:
        """Repository name -> id from the warehouse, for events that carry no repository_id."""
        try:
            with self.pipeline.sql_client() as client:
                table = client.make_qualified_table_name("repositories")
                return {
                    str(name): str(rid) for rid, name in client.execute_sql(f"select id, name from {table}")
                }
        except Exception:  # the first run: no repositories table yet
            return {}

    def _source(self, rows: list[dict[str, Any]], events_state: dict[str, Any]) -> DltSource:
        forwarded = self.settings.events_source == "warehouse"

        @dlt.source(name=SOURCE_NAME, max_table_nesting=1)
        def pixee_events() -> Any:
            def webhook_events() -> Iterator[list[dict[str, Any]]]:
                dlt.current.source_state()["events"] = events_state
                if rows:
                    yield rows

            if forwarded:
                # The receiver's pipeline owns webhook_events then; this one only carries the
                # plan's state, under a name that never becomes a table (it yields no rows).
                return dlt.resource(webhook_events, name="webhook_event_plan")
            return dlt.resource(
                webhook_events,
                name="webhook_events",
                write_disposition="merge",
                primary_key="id",
                columns=COLUMNS,
            )

        return pixee_events()

    def _rows(self) -> list[dict[str, Any]]:
        # Forwarded events are in the warehouse already (the receiver loaded them).
        return [] if self.settings.events_source == "warehouse" else [row(e) for e in self.events]

    def start_source(self) -> DltSource:
        """Extracted with the repositories: this run's events into the warehouse, the plan marked inflight."""
        run_start = self.now
        watermark = run_start - timedelta(seconds=self.settings.lag_seconds)
        new_state = {
            **self.state,
            "watermark": stamp(watermark),
            "last_run": stamp(run_start),
            "inflight": "reconcile"
            if self.plan.mode == "reconcile"
            else {repo: sorted(kinds) for repo, kinds in self.plan.lists.items()},
        }
        self.state = new_state
        return self._source(self._rows(), new_state)

    def finish_source(self) -> DltSource:
        """Extracted after the last batch loaded: the plan is done (and a reconciliation recorded)."""
        done = {**self.state, "inflight": None}
        if self.plan.mode == "reconcile":
            done["last_reconcile"] = stamp(self.now)
        self.state = done
        return self._source([], done)
