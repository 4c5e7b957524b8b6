"""Reads many repositories' lists at once inside the one token bucket, into bounded per-table queues."""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from pipelines.client import NotFoundError, PixeeClient
from pipelines.paging import iter_pages
from pipelines.source.arrow import ARROW_LISTS, page_to_arrow
from pipelines.source.columns import DELETED_AT, FINDING_DETAIL_FIELDS, FIX_DETAIL_FIELDS
from pipelines.source.cursors import Cursor

log = logging.getLogger("pipelines.source")

CHILD_LISTS = ("fixes", "scans", "findings")
READ_ORDER = ("findings", "fixes", "scans")
DETAIL_OF = {"fixes": ("fix_details", "/fixes/{id}"), "findings": ("finding_details", "/findings/{id}")}
TABLES = (*CHILD_LISTS, "fix_details", "finding_details")
# Bytes of rows waiting per table: bounds memory however large the organisation. Deep enough
# that the next batch is read while the current one normalizes and loads (a shallow queue
# stalls the readers then): ~500 pages of findings as Arrow (~30 kB a page), ~100 as dicts.
QUEUE_BYTES = 16 << 20
DICT_ROW_BYTES = 1500  # a decoded JSON object of a list, measured: findings 1.5 kB, fixes 1.3 kB
# Rows of one list typed to Arrow at once: pyarrow's cost per call is half of a 100-row page's.
ARROW_CHUNK_ROWS = 1000


def weight(item: Any) -> int:
    """Approximate bytes an item holds while it waits in a queue."""
    if isinstance(item, pa.Table):
        return item.nbytes
    if isinstance(item, list):
        return len(item) * DICT_ROW_BYTES
    return 0


class PageQueue:
    """A FIFO bounded by bytes (see weight), not by items: compact Arrow pages may wait in
    numbers while pages of dicts (a list that drifted) are held to the same memory."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: collections.deque[tuple[Any, int]] = collections.deque()
        self._used = 0
        self._space = threading.Condition(threading.Lock())

    def put(self, item: Any, timeout: float) -> bool:
        """False when there was no room within `timeout`; an item larger than the whole
        capacity still goes in once the queue is empty."""
        size = weight(item)
        with self._space:
            if not self._space.wait_for(
                lambda: not self._items or self._used + size <= self.capacity, timeout
            ):
                return False
            self._items.append((item, size))
            self._used += size
            return True

    def get_nowait(self) -> Any:
        with self._space:
            if not self._items:
                raise queue.Empty
            item, size = self._items.popleft()
            self._used -= size
            self._space.notify_all()
            return item


class _Cancelled(Exception):
    """The batch was abandoned (an error elsewhere, or the sync ended); stop quietly."""


@dataclass
class Checkpoint:
    """A repository's list was read to the end: its cursor state may be committed."""

    repository_id: str
    kind: str
    state: dict[str, Any]
    complete: bool = False  # read with no updated_since: every object it lists was loaded


@dataclass
class Vanished:
    """The repository answered 404: it was deleted since it was listed."""

    repository_id: str


@dataclass
class Warn:
    """Something skipped that the report should count."""

    message: str


def project(row: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {k: row[k] for k in fields if k in row}


class WorkerPool:
    """`size` daemon threads running tasks by priority: an earlier batch always goes first, so a
    prefetched batch only uses threads the current one cannot keep busy."""

    def __init__(self, size: int) -> None:
        self._tasks: queue.PriorityQueue[tuple[int, int, Callable[[], None] | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads = [
            threading.Thread(target=self._work, name=f"pixee-fetch-{i}", daemon=True)
            for i in range(max(1, size))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, priority: int, task: Callable[[], None]) -> None:
        self._tasks.put((priority, next(self._seq), task))

    def _work(self) -> None:
        while True:
            _, _, task = self._tasks.get()
            if task is None:
                return
            task()

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put((1 << 62, next(self._seq), None))


@dataclass
class Batch:
    """A group of repositories loaded (and checkpointed) together.

    Cursors are made when the batch is planned, from the state at the start of the run.
    """

    number: int
    repository_ids: list[str]
    cursors: dict[tuple[str, str], Cursor]
    details: bool
    queues: dict[str, PageQueue] = field(default_factory=dict)
    error: BaseException | None = None
    cancelled: bool = False
    finished: bool = False
    started: bool = False
    on_finish: Callable[[], None] | None = None
    _outstanding: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.queues = {table: PageQueue(QUEUE_BYTES) for table in TABLES}
        self.finished = not self.repository_ids  # nothing to read: drained at once, started or not

    # -- producer side ------------------------------------------------------------------------

    def start(self, pool: WorkerPool, client: PixeeClient) -> None:
        """Queue every list read of this batch (idempotent)."""
        with self._lock:
            if self.started:
                return
            self.started = True
        if not self.repository_ids:
            self._finish()
            return
        # Longest lists first (findings outnumber fixes, fixes outnumber scans): a page walk is
        # sequential, so a long one started last would leave the other threads idle at the end.
        for kind in READ_ORDER:
            for repository_id in self.repository_ids:
                self._submit(pool, lambda r=repository_id, k=kind: self._read_list(pool, client, r, k))

    def _submit(self, pool: WorkerPool, work: Callable[[], None]) -> None:
        with self._lock:
            self._outstanding += 1

        def run() -> None:
            try:
                if not self.cancelled:
                    work()
            except _Cancelled:
                pass
            except BaseException as exc:  # handed to the consumer, which raises it inside dlt
                with self._lock:
                    if self.error is None:
                        self.error = exc
                self.cancelled = True
            finally:
                with self._lock:
                    self._outstanding -= 1
                    done = self._outstanding == 0
                if done:
                    self._finish()

        pool.submit(self.number, run)

    def _finish(self) -> None:
        self.finished = True
        if self.on_finish is not None:
            self.on_finish()

    def put(self, table: str, item: Any) -> None:
        while True:
            if self.cancelled:
                raise _Cancelled
            if self.queues[table].put(item, timeout=0.2):
                return

    def _read_list(self, pool: WorkerPool, client: PixeeClient, repository_id: str, kind: str) -> None:
        cursor = self.cursors[(repository_id, kind)]
        params = {"updated_since": cursor.since} if cursor.since else None
        detail = DETAIL_OF.get(kind) if self.details else None
        chunk = ARROW_CHUNK_ROWS if kind in ARROW_LISTS else 1
        pending: list[dict[str, Any]] = []
        try:
            for page in iter_pages(client, f"/repositories/{repository_id}/{kind}", params, resource=kind):
                rows = [row for row in page if _has_id(row, kind, self) and cursor.observe(row)]
                for row in rows:
                    row.pop(DELETED_AT, None)  # ours: a server cannot mark its own rows deleted
                pending += rows
                if len(pending) >= chunk:
                    self._put_rows(kind, pending)
                    pending = []
                if detail:
                    for row in rows:
                        self._submit(pool, lambda i=row["id"]: self._read_detail(client, kind, i))
        except NotFoundError:
            self._put_rows(kind, pending)
            self.put(kind, Vanished(repository_id))
            return
        self._put_rows(kind, pending)
        self.put(kind, Checkpoint(repository_id, kind, cursor.saved(), complete=cursor.since is None))

    def _put_rows(self, kind: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            # Typed here, on the reading thread, so the loader only writes parquet.
            table = page_to_arrow(kind, rows)
            self.put(kind, rows if table is None else table)

    def _read_detail(self, client: PixeeClient, kind: str, object_id: str) -> None:
        table, path = DETAIL_OF[kind]
        fields = FIX_DETAIL_FIELDS if kind == "fixes" else FINDING_DETAIL_FIELDS
        try:
            body = client.get_json(path.format(id=object_id), resource=table)
        except NotFoundError:
            self.put(table, Warn(f"{path.format(id=object_id)} answered 404; detail skipped"))
            return
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            body = body["data"]  # tolerate a detail wrapped like a page
        self.put(table, [project(body, fields)])

    # -- consumer side ------------------------------------------------------------------------

    def drain(self, table: str) -> Iterator[Any]:
        """Items for one table, as they arrive; None while nothing is ready (dlt then polls the
        other resources instead of blocking on this one)."""
        q = self.queues[table]
        while True:
            if self.error is not None:
                raise self.error
            finished = self.finished
            try:
                item = q.get_nowait()
            except queue.Empty:
                if finished:
                    if self.error is not None:
                        raise self.error from None
                    return
                yield None
                continue
            yield item

    def cancel(self) -> None:
        self.cancelled = True


def _has_id(row: Any, kind: str, batch: Batch) -> bool:
    """A record without an id cannot be merged: reject it, loudly, rather than load it."""
    if isinstance(row, dict) and isinstance(row.get("id"), str) and row["id"]:
        return True
    shape = f"keys {sorted(row)[:8]}" if isinstance(row, dict) else type(row).__name__
    batch.put(kind, Warn(f"a {kind} record without an id was rejected (not loaded): {shape}"))
    return False
