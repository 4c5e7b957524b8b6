"""A sampling profiler over all threads (sys._current_frames), so a missed goal is named from data.

cProfile sees one thread and slows pure-Python code several times; sampling every few
milliseconds costs little and shows where the loader thread and the fetch threads spend time.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from types import FrameType

# (path fragment, category) for the loader (main) thread: the outermost dlt step on the stack.
MAIN_STEPS = (("/dlt/normalize/", "normalize"), ("/dlt/load/", "load"), ("/dlt/extract/", "extract"))
# (path fragment, owner) of the innermost Python frame: whose code the thread is running.
OWNERS = (
    ("/pipelines/", "pipelines (ours)"),
    ("/dlt/", "dlt"),
    ("/duckdb", "duckdb"),
    ("/pyarrow/", "pyarrow"),
    ("/json/", "json"),
)


def _frames(frame: FrameType | None) -> list[FrameType]:
    out = []
    while frame is not None:
        out.append(frame)
        frame = frame.f_back
    return out  # innermost first


def _is_waiting(frame: FrameType) -> bool:
    name, path = frame.f_code.co_name, frame.f_code.co_filename
    return path.endswith(("/threading.py", "/queue.py")) or name in ("wait", "acquire", "get")


def _owner(stack: list[FrameType]) -> str:
    """Whose Python code the innermost frame is: ours, dlt's, or a library's."""
    path = stack[0].f_code.co_filename
    for fragment, name in OWNERS:
        if fragment in path:
            return name
    return "stdlib/other"


def classify_main(frame: FrameType) -> str:
    stack = _frames(frame)
    step = "pipeline glue"
    for outer in reversed(stack):
        path = outer.f_code.co_filename
        hit = next((name for fragment, name in MAIN_STEPS if fragment in path), None)
        if hit:
            step = hit
            break
    if step == "extract" and _is_waiting(stack[0]):
        return "extract: waiting for pages from the fetch threads"
    return f"{step}: {_owner(stack)}"


def classify_fetch(frame: FrameType) -> str:
    stack = _frames(frame)
    leaf = stack[0]
    for f in stack:
        name, path = f.f_code.co_name, f.f_code.co_filename
        if path.endswith("/queue.py") and name == "put":
            return "blocked: page queue full (loader behind)"
        if name == "acquire" and "pipelines/client" in path:
            return "waiting on the token bucket"
        if name == "_work" and "pipelines/source" in path and _is_waiting(leaf):
            return "idle: no repository to read"
        if "/json/" in path:
            return "JSON decode"
        if "/httpcore/" in path or "/httpx/" in path or "/h11/" in path:
            return "HTTP (socket wait + httpx/h11)"
    return "other Python (paging, rows, tally)"


class StackSampler:
    """Counts, per role (main / fetch), what each thread is doing every `interval` seconds."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.counts: dict[str, Counter[str]] = {"main": Counter(), "fetch": Counter()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        main_id = threading.main_thread().ident
        own = threading.get_ident()
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == own:
                    continue
                if ident == main_id:
                    self.counts["main"][classify_main(frame)] += 1
                elif names.get(ident, "").startswith(("pixee-fetch", "ceiling-fetch")):
                    self.counts["fetch"][classify_fetch(frame)] += 1

    def shares(self) -> dict[str, list[tuple[str, float]]]:
        """Per role, (category, share of that role's samples), largest first."""
        out = {}
        for role, counter in self.counts.items():
            total = sum(counter.values())
            if total:
                out[role] = [(name, n / total) for name, n in counter.most_common()]
        return out
