"""Reads many repositories' lists at once inside the one token bucket, into bounded per-table queues.

The worker threads, the queues and the consumer side share one locking discipline (cancellation,
checkpoints, a list failing alone), all of it in `Batch`; the pool and the queues themselves are in
pipelines.extract.v1.workers, what travels besides rows in pipelines.extract.v1.items.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.api.client import PixeeClient, segment
from pipelines.api.paging import iter_pages
from pipelines.errors import ApiError, AuthError, NotFoundError
from pipelines.extract.endpoints import detail_tables, details_of, endpoint, read_order, repository_lists
from pipelines.extract.rejected_rows import mend, shape_problem
from pipelines.extract.v1.arrow import ARROW_LISTS, page_to_arrow
from pipelines.extract.v1.columns import DELETED_AT, declared, detail_fields
from pipelines.extract.v1.cursors import Cursor
from pipelines.extract.v1.items import Checkpoint, ListFailed, Rejected, Vanished, Warn
from pipelines.extract.v1.workers import QUEUE_BYTES, PageQueue, WorkerPool

__all__ = ["Batch", "Checkpoint", "ListFailed", "Rejected", "Vanished", "Warn", "WorkerPool"]

log = logging.getLogger("pipelines.source")

# list -> (its detail table, the detail's path)
DETAIL_OF = {kind: (entry.table, entry.path or "") for kind, entry in details_of().items()}
DETAIL_TABLES = detail_tables()
# Rows of one list typed to Arrow at once: pyarrow's cost per call is half of a 100-row page's.
ARROW_CHUNK_ROWS = 1000


class _Cancelled(Exception):
    """The batch was abandoned (the run is being stopped, or the sync ended); stop quietly."""


def fails_alone(exc: ApiError) -> bool:
    """Whether `exc` is one list's or one object's failure, not the run's: an API error that
    outlived the retries. A refused token ends every list (as the rate-limit ceiling does,
    which is no ApiError)."""
    return not isinstance(exc, AuthError)


def project(row: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {k: row[k] for k in fields if k in row}


@dataclass
class Batch:
    """A group of repositories read together and committed in one or more segments.

    Cursors are made when the batch is planned, from the state at the start of the run.

    Segments bound what a kill loses, however large a repository: the consumer (the dlt extract)
    ends a segment once it has taken the rows of `segment_requests` requests, and the readers
    wait while they are two segments ahead of what is committed. Each list's rows and its
    (partial) cursor travel in one queue in order, so whatever a segment takes is consistent.
    A kill costs at most about 2 * segment_requests requests, plus those in flight.
    """

    number: int
    repository_ids: list[str]
    cursors: dict[tuple[str, str], Cursor]
    details: bool
    segment_requests: int = 1 << 40
    # Details to fetch for rows already loaded ("fixes"/"findings" -> ids): a backfill batch.
    backfill: dict[str, list[str]] = field(default_factory=dict)
    queues: dict[str, PageQueue] = field(default_factory=dict)
    error: BaseException | None = None
    cancelled: bool = False
    finished: bool = False
    started: bool = False
    on_finish: Callable[[], None] | None = None
    vanished: set[str] = field(default_factory=set)  # confirmed by GET /repositories/{id}: 404
    _gone: dict[str, bool] = field(default_factory=dict)
    _confirming: threading.Lock = field(default_factory=threading.Lock)
    # Event-driven runs: the lists to read per repository (None = all of them).
    kinds: dict[str, tuple[str, ...]] | None = None
    _outstanding: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0  # made by this batch's readers so far
    consumed: int = 0  # of those, the ones whose rows the consumer has taken
    _mark: int = 0  # consumed when the current segment began: everything before is committed
    _cut: bool = False
    _pace: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.queues = {table: PageQueue(QUEUE_BYTES) for table in (*repository_lists(), *DETAIL_TABLES)}
        # Nothing to read (the empty batch of a full refresh's drop): drained at once, started or not.
        self.finished = not self.repository_ids and not any(self.backfill.values())
        # Rows of a list wait to be typed to Arrow in chunks; in small segments they are put
        # sooner, so no more than a segment's share waits on any one reader.
        self._flush_pages = max(1, self.segment_requests // 16)

    # -- segments -----------------------------------------------------------------------------

    def begin_segment(self) -> None:
        """A new segment (a dlt extract) starts consuming: readers may run on."""
        with self._pace:
            self._mark = self.consumed
            self._cut = False
            self._pace.notify_all()

    def done(self) -> bool:
        """Every read finished and every item consumed."""
        return self.finished and all(q.empty() for q in self.queues.values())

    def _request(self) -> None:
        """Called before each request: waits while the readers are two segments ahead of what is
        committed (one is loading), so a kill finds little read and uncommitted."""
        with self._pace:
            while self.requests - self._mark >= 2 * self.segment_requests:
                if self.cancelled:
                    raise _Cancelled
                self._pace.wait(0.2)
            self.requests += 1

    def _segment_full(self) -> bool:
        """Whether the segment being extracted ends here: it took a segment's requests, or the
        readers are waiting and nothing more is ready (rows they still hold go in the next)."""
        if not self._cut:
            taken = self.consumed - self._mark
            waiting = self.requests - self._mark >= 2 * self.segment_requests
            if taken >= self.segment_requests or (
                waiting and taken > 0 and all(q.empty() for q in self.queues.values())
            ):
                self._cut = True
        return self._cut

    def _account(self, table: str, item: Any) -> None:
        """Count the requests an item consumed covers: a list's checkpoints carry theirs, and
        each detail row (or its 404 warning) is one request."""
        units = getattr(item, "requests", None)
        if units is None:
            units = 1 if table in DETAIL_TABLES and isinstance(item, list | Warn) else 0
        if units:
            with self._pace:
                self.consumed += units

    # -- producer side ------------------------------------------------------------------------

    def start(self, pool: WorkerPool, client: PixeeClient) -> None:
        """Queue every list read of this batch (idempotent)."""
        with self._lock:
            if self.started:
                return
            self.started = True
        if not self.repository_ids and not any(self.backfill.values()):
            self._finish()
            return
        for kind, ids in self.backfill.items():
            for object_id in ids:
                self._submit(pool, lambda k=kind, i=object_id: self._read_detail(client, k, i))
        # Longest lists first (the registry's read_rank): a page walk is sequential, so a long
        # one started last would leave the other threads idle at the end.
        for kind in read_order():
            for repository_id in self.repository_ids:
                if self.kinds is not None and kind not in self.kinds.get(repository_id, ()):
                    continue
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
        unflushed = 0
        made = 0  # requests since the list's last checkpoint
        path = (endpoint("v1", kind).path or "").format(id=segment(repository_id))

        def reject(value: Any, reason: str) -> None:
            self.put(kind, Rejected(kind, reason, value))

        pages = iter_pages(client, path, params, resource=kind, reject=reject)
        try:
            while True:
                self._request()
                made += 1
                page = next(pages, None)
                if page is None:
                    break
                rows = [row for row in page if cursor.observe(row)]
                for row in rows:
                    row.pop(DELETED_AT, None)  # ours: a server cannot mark its own rows deleted
                pending += rows
                unflushed += 1
                if len(pending) >= chunk or unflushed >= self._flush_pages:
                    self._put_rows(kind, pending)
                    pending, unflushed = [], 0
                    # The list is ordered by (updated_at, id): what was read so far may commit.
                    self.put(kind, Checkpoint(repository_id, kind, cursor.saved(), made))
                    made = 0
                if detail:
                    for row in rows:
                        self._submit(pool, lambda i=row["id"]: self._read_detail(client, kind, i))
        except NotFoundError as exc:
            self._put_rows(kind, pending)
            # One 404 is no proof (a proxy, a replica behind, a bad deploy): forget the repository
            # only when the repository itself answers 404 too.
            gone, why = self._confirm_gone(client, repository_id)
            if gone:
                self.put(kind, Vanished(repository_id, made))
            else:
                self.put(
                    kind,
                    ListFailed(
                        repository_id,
                        kind,
                        f"{exc.endpoint or kind} answered 404 (request_id {exc.request_id or '-'}) but "
                        f"{why}; its cursor is kept and the next run reads it again",
                        made,
                    ),
                )
            return
        except ApiError as exc:
            if not fails_alone(exc):
                raise
            # Rows read since the last checkpoint are dropped: the list is read again from its
            # cursor next run, and half a list that loops or breaks is not what the server holds.
            self.put(
                kind,
                ListFailed(
                    repository_id,
                    kind,
                    f"{kind} of {repository_id}: {exc}; its cursor is kept and the next run reads it again",
                    made,
                ),
            )
            return
        self._put_rows(kind, pending)
        if cursor.ahead:
            self.put(kind, Warn(cursor.skew_warning(f"{kind} of {repository_id}")))
        self.put(kind, Checkpoint(repository_id, kind, cursor.saved(), made, complete=cursor.since is None))

    def _confirm_gone(self, client: PixeeClient, repository_id: str) -> tuple[bool, str]:
        """(True, _) when GET /repositories/{id} answers 404; else (False, what it answered).
        Asked once per repository and batch, however many of its lists answered 404."""
        # One at a time (a rare event): a vanished repository's lists 404 together, and each
        # must find the answer the first one got rather than ask again.
        with self._confirming:
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
            # Rows that go to dlt as dicts: a value no column can hold is stored as text.
            rows, mended = mend(rows, declared(kind))
            for fix in mended:
                self.put(kind, Rejected(kind, fix.reason(), fix.row, fix.column))
            table = page_to_arrow(kind, rows) if mended else None
        if rows:
            self.put(kind, rows if table is None else table)

    def _read_detail(self, client: PixeeClient, kind: str, object_id: str) -> None:
        table, path = DETAIL_OF[kind]
        fields = detail_fields(table)
        self._request()
        try:
            body = client.get_json(path.format(id=segment(object_id)), resource=table)
        except NotFoundError:
            self.put(table, Warn(f"{path.format(id=object_id)} answered 404; detail skipped"))
            return
        except ApiError as exc:
            if not fails_alone(exc):
                raise
            # The row it belongs to loads without it; the next run's backfill asks again.
            self.put(
                table,
                ListFailed("", table, f"{table} of {object_id}: {exc}; the next run asks for it again", 1),
            )
            return
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            body = body["data"]  # tolerate a detail wrapped like a page
        reason = shape_problem(body)
        if reason is None and body["id"] != object_id:
            # Merged on id: another object's id would overwrite that object's detail.
            reason = f"the detail of {object_id} came back with another id"
        if reason is not None:
            self.put(table, Rejected(table, reason, body))
            return
        rows, mended = mend([project(body, fields)], declared(table))
        for fix in mended:
            self.put(table, Rejected(table, fix.reason(), fix.row, fix.column))
        self.put(table, rows)

    # -- consumer side ------------------------------------------------------------------------

    def drain(self, table: str) -> Iterator[Any]:
        """Items for one table, as they arrive; None while nothing is ready (dlt then polls the
        other resources instead of blocking on this one)."""
        q = self.queues[table]
        while True:
            if self.error is not None:
                raise self.error
            if self._segment_full():
                return  # the rest goes to the next segment
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
            self._account(table, item)
            yield item

    def cancel(self) -> None:
        self.cancelled = True
