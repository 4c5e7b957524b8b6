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

from pipelines.client import ApiError, AuthError, NotFoundError, PixeeClient, segment
from pipelines.paging import iter_pages
from pipelines.records import problem, split
from pipelines.source.arrow import ARROW_LISTS, page_to_arrow
from pipelines.source.columns import FINDING_DETAIL_FIELDS, FIX_DETAIL_FIELDS
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


@dataclass
class Vanished:
    """A list answered 404 and so did GET /repositories/{id}: the repository was deleted."""

    repository_id: str


@dataclass
class ListFailed:
    """A list could not be read to its end this run (e.g. a 404 the repository itself does not
    confirm): its cursor stays where it was, and the sync ends saying so."""

    repository_id: str
    kind: str
    message: str


@dataclass
class Warn:
    """Something skipped that the report should count."""

    message: str


@dataclass
class Rejected:
    """A record that cannot be loaded (pipelines.records): it goes to rejected_records instead."""

    table: str
    reason: str
    value: Any


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
    vanished: set[str] = field(default_factory=set)  # confirmed by GET /repositories/{id}: 404
    _gone: dict[str, bool] = field(default_factory=dict)
    _outstanding: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.queues = {table: PageQueue(QUEUE_BYTES) for table in TABLES}

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
            path = f"/repositories/{segment(repository_id)}/{kind}"

            def reject(value: Any, reason: str) -> None:
                self.put(kind, Rejected(kind, reason, value))

            for page in iter_pages(client, path, params, resource=kind, reject=reject):
                rows = [row for row in page if cursor.observe(row)]
                pending += rows
                if len(pending) >= chunk:
                    self._put_rows(kind, pending)
                    pending = []
                if detail:
                    for row in rows:
                        self._submit(pool, lambda i=row["id"]: self._read_detail(client, kind, i))
        except NotFoundError as exc:
            self._put_rows(kind, pending)
            # One 404 is no proof (a proxy, a replica behind, a bad deploy): forget the repository
            # only when the repository itself answers 404 too.
            gone, why = self._confirm_gone(client, repository_id)
            if gone:
                self.put(kind, Vanished(repository_id))
            else:
                self.put(
                    kind,
                    ListFailed(
                        repository_id,
                        kind,
                        f"{exc.endpoint or kind} answered 404 (request_id {exc.request_id or '-'}) but "
                        f"{why}; its cursor is kept and the next run reads it again",
                    ),
                )
            return
        self._put_rows(kind, pending)
        if cursor.ahead:
            self.put(kind, Warn(cursor.skew_warning(f"{kind} of {repository_id}")))
        self.put(kind, Checkpoint(repository_id, kind, cursor.saved()))

    def _confirm_gone(self, client: PixeeClient, repository_id: str) -> tuple[bool, str]:
        """(True, _) when GET /repositories/{id} answers 404; else (False, what it answered).
        Asked once per repository and batch, however many of its lists answered 404."""
        with self._lock:
            known = self._gone.get(repository_id)
        if known is not None:
            return known, "the repository itself still answers"
        try:
            client.get_json(f"/repositories/{segment(repository_id)}", resource="repositories")
            gone, why = False, "the repository itself still answers"
        except NotFoundError:
            gone, why = True, ""
        except AuthError:
            raise
        except ApiError as exc:  # 403, 5xx past the retries: not a confirmation either way
            gone, why = False, f"GET /repositories/{repository_id} could not confirm it ({exc})"
        with self._lock:
            self._gone[repository_id] = gone
            if gone:
                self.vanished.add(repository_id)
        return gone, why

    def _put_rows(self, kind: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        # Typed here, on the reading thread, so the loader only writes parquet.
        table = page_to_arrow(kind, rows)
        if table is None:
            # Rows that go to dlt as dicts: one that cannot be stored is set aside, not loaded.
            rows, bad = split(rows)
            for row, reason in bad:
                self.put(kind, Rejected(kind, reason, row))
            table = page_to_arrow(kind, rows) if bad else None
        if rows:
            self.put(kind, rows if table is None else table)

    def _read_detail(self, client: PixeeClient, kind: str, object_id: str) -> None:
        table, path = DETAIL_OF[kind]
        fields = FIX_DETAIL_FIELDS if kind == "fixes" else FINDING_DETAIL_FIELDS
        try:
            body = client.get_json(path.format(id=segment(object_id)), resource=table)
        except NotFoundError:
            self.put(table, Warn(f"{path.format(id=object_id)} answered 404; detail skipped"))
            return
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            body = body["data"]  # tolerate a detail wrapped like a page
        reason = problem(body)
        if reason is None and body["id"] != object_id:
            # Merged on id: another object's id would overwrite that object's detail.
            reason = f"the detail of {object_id} came back with another id"
        if reason is not None:
            self.put(table, Rejected(table, reason, body))
            return
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
