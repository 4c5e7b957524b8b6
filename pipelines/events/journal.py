"""The receiver's durable journal: SQLite in WAL mode with synchronous=FULL, one row per event id.

An event is acknowledged only after its row is committed, and with synchronous=FULL a commit
returns only once the WAL is fsync'd, so an acknowledged event survives a kill -9 or a power
cut. A repeated id (Pixee retries, duplicates) increments `deliveries` on the one row. The
journal also records when the receiver was up (sessions with a heartbeat), so a run can tell
whether events may have been missed while it was down.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
create table if not exists events (
    seq integer primary key autoincrement,
    id text not null unique,
    type text not null,
    created_at text,
    organization text,
    repository text,
    repository_id text,
    received_at text not null,
    last_received_at text not null,
    deliveries integer not null,
    body text not null
);
create index if not exists events_last_received on events (last_received_at);
create table if not exists meta (key text primary key, value text);
create table if not exists sessions (
    session text primary key,
    started_at text not null,
    beat_at text not null,
    stopped_at text
);
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(dt: datetime) -> str:
    """ISO 8601 UTC with microseconds: sorts as text in time order."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class StoredEvent:
    """One journal row: the verified event and how often it was delivered."""

    seq: int
    id: str
    type: str
    created_at: str | None
    organization: str | None
    repository: str | None
    repository_id: str | None
    received_at: str
    last_received_at: str
    deliveries: int
    body: dict[str, Any]


class Journal:
    """One SQLite file; writes serialised by a lock, each one committed (fsync'd) before it returns."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        if readonly:
            self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._con.execute("pragma journal_mode=wal")
            self._con.execute("pragma synchronous=full")
            self._con.executescript(SCHEMA)
        self._con.execute("pragma busy_timeout=10000")

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the receiver's side -----------------------------------------------------------------

    def record(self, event: dict[str, Any], now: datetime | None = None) -> bool:
        """Store a verified event durably; True when its id is new, False for a redelivery."""
        at = stamp(now or utc_now())
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        repository_id = data.get("repository_id") if isinstance(data.get("repository_id"), str) else None
        row = (
            event["id"],
            event["type"],
            _text(event.get("created_at")),
            _text(event.get("organization")),
            _text(event.get("repository")),
            repository_id,
            at,
            at,
            1,
            json.dumps(event, separators=(",", ":"), sort_keys=True),
        )
        with self._lock:
            self._con.execute("begin immediate")
            try:
                known = self._con.execute("select 1 from events where id = ?", (event["id"],)).fetchone()
                if known:
                    self._con.execute(
                        "update events set deliveries = deliveries + 1, last_received_at = ? where id = ?",
                        (at, event["id"]),
                    )
                else:
                    self._con.execute(
                        "insert into events (id, type, created_at, organization, repository, repository_id,"
                        " received_at, last_received_at, deliveries, body) values (?,?,?,?,?,?,?,?,?,?)",
                        row,
                    )
                self._con.execute("commit")
            except BaseException:
                self._con.execute("rollback")
                raise
        return not known

    def beat(self, session: str, now: datetime | None = None, *, stopped: bool = False) -> None:
        at = stamp(now or utc_now())
        with self._lock:
            self._con.execute(
                "insert into sessions (session, started_at, beat_at) values (?, ?, ?) "
                "on conflict (session) do update set beat_at = excluded.beat_at",
                (session, at, at),
            )
            if stopped:
                self._con.execute("update sessions set stopped_at = ? where session = ?", (at, session))

    # -- the run's side ----------------------------------------------------------------------

    def events_since(self, since: str | None) -> list[StoredEvent]:
        """Events delivered (first or again) at or after `since` (a stamp), oldest first."""
        query = (
            "select seq, id, type, created_at, organization, repository, repository_id, received_at,"
            " last_received_at, deliveries, body from events"
        )
        with self._lock:
            if since is None:
                rows = self._con.execute(query + " order by seq").fetchall()
            else:
                rows = self._con.execute(
                    query + " where last_received_at >= ? order by seq", (since,)
                ).fetchall()
        return [StoredEvent(*row[:10], body=json.loads(row[10])) for row in rows]

    def sessions(self) -> list[tuple[datetime, datetime, datetime | None]]:
        """(started, last heartbeat, stopped or None) of every receiver session, oldest first."""
        with self._lock:
            rows = self._con.execute(
                "select started_at, beat_at, stopped_at from sessions order by started_at"
            ).fetchall()
        return [(parse_stamp(a), parse_stamp(b), parse_stamp(c) if c else None) for a, b, c in rows]

    def session_rows(self) -> list[tuple[str, str, str, str | None]]:
        """(session, started_at, beat_at, stopped_at) stamps, as stored."""
        with self._lock:
            return self._con.execute(
                "select session, started_at, beat_at, stopped_at from sessions"
            ).fetchall()

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._con.execute("select value from meta where key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._con.execute(
                "insert into meta (key, value) values (?, ?) "
                "on conflict (key) do update set value = excluded.value",
                (key, value),
            )

    def last_received(self) -> str | None:
        """When the latest verified delivery (event or ping) arrived, as a stamp."""
        with self._lock:
            row = self._con.execute("select max(last_received_at) from events").fetchone()
        return row[0] if row else None

    def count(self) -> tuple[int, int]:
        """(events, deliveries) stored."""
        with self._lock:
            row = self._con.execute("select count(*), coalesce(sum(deliveries), 0) from events").fetchone()
        return int(row[0]), int(row[1])


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
