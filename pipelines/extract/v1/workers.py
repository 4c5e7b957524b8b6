"""The fetcher's threads and queues: a pool that serves earlier batches first, queues bounded by bytes."""

from __future__ import annotations

import collections
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa

# Bytes of rows waiting per table: bounds memory however large the organisation. Deep enough
# that the next batch is read while the current one normalizes and loads (a shallow queue
# stalls the readers then): ~500 pages of findings as Arrow (~30 kB a page), ~100 as dicts.
QUEUE_BYTES = 16 << 20
DICT_ROW_BYTES = 1500  # a decoded JSON object of a list, measured: findings 1.5 kB, fixes 1.3 kB


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

    def empty(self) -> bool:
        with self._space:
            return not self._items

    def get_nowait(self) -> Any:
        with self._space:
            if not self._items:
                raise queue.Empty
            item, size = self._items.popleft()
            self._used -= size
            self._space.notify_all()
            return item


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
