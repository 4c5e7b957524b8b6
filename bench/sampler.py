"""A sampling profiler over all threads (sys._current_frames), so a missed goal is named from data.

cProfile sees one thread and slows pure-Python code several times; sampling every few
milliseconds costs little and shows where the loader thread and the fetch threads spend time.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable
from types import FrameType

# (path fragment, category) for the loader (main) thread: the outermost dlt step on the stack.
MAIN_STEPS = (("/dlt/normalize/", "normalize"), ("/dlt/load/", "load"), ("/dlt/extract/", "extract"))


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _frames(frame: FrameType | None) -> list[FrameType]:
    out = []
    # A frame torn down while we walk it can hand back something that is not a frame (seen on
    # 3.11 under load): stop there rather than lose the sampler.
    while isinstance(frame, FrameType):
        out.append(frame)
        frame = frame.f_back
    return out  # innermost first


def _is_waiting(frame: FrameType) -> bool:
    name, path = frame.f_code.co_name, frame.f_code.co_filename
    return path.endswith(("/threading.py", "/queue.py")) or name in ("wait", "acquire", "get")


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
    return step


def classify_fetch(frame: FrameType) -> str:
    stack = _frames(frame)
    leaf = stack[0]
    for f in stack:
        name, path = f.f_code.co_name, f.f_code.co_filename
        if path.endswith("/queue.py") and name == "put":
            return "blocked: page queue full (loader behind)"
        if name == "acquire" and "pipelines/api/rate_limit" in path:
            return "waiting on the token bucket"
        if name == "_work" and "pipelines/extract/v1" in path and _is_waiting(leaf):
            return "idle: no repository to read"
        if "/json/" in path:
            return "JSON decode"
        if "/httpcore/" in path or "/httpx/" in path or "/h11/" in path:
            return "HTTP (socket wait + httpx/h11)"
    return "other Python (paging, rows, tally)"


class StackSampler:
    """Counts, per role (main / fetch), what each thread is doing every `interval` seconds."""

    def __init__(self, interval: float = 0.01, probe: Callable[[], bool] | None = None) -> None:
        self.interval = interval
        # probe(): a condition sampled with the stacks (the client's bucket is full); `during`
        # counts what the fetch threads were doing while it held.
        self.probe = probe
        self.ticks = 0
        self.probe_hits = 0
        self.errors = 0
        self.during: Counter[str] = Counter()
        # Resident memory (VmRSS, MB) sampled with the loader thread's step: the largest seen in
        # each step, and the RSS when sampling began (imports and setup).
        self.rss_by_step: dict[str, float] = {}
        self.rss_start = 0.0
        self._main_step = "pipeline glue"
        self.counts: dict[str, Counter[str]] = {"main": Counter(), "fetch": Counter()}
        # Per thread id: (role, seconds on a CPU, seconds runnable but waiting for a CPU), from
        # /proc/self/task/<tid>/schedstat: tells a busy machine apart from a blocked thread.
        self.sched: dict[int, tuple[str, float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._base: dict[int, tuple[str, float, float]] = {}

    def __enter__(self) -> StackSampler:
        main = threading.main_thread()
        self.rss_start = _rss_mb()
        self._read_sched([main], main.ident)
        self._base = dict(self.sched)  # the main thread's life before the measured work
        self.sched.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        main_id = threading.main_thread().ident
        ticks = 0
        while not self._stop.wait(self.interval):
            ticks += 1
            try:
                self._tick(ticks, main_id)
            except Exception:  # a sample lost is nothing; a dead sampler loses the profile
                self.errors += 1
        self._read_sched(threading.enumerate(), main_id)

    def _tick(self, ticks: int, main_id: int | None) -> None:
        own = threading.get_ident()
        threads = threading.enumerate()
        names = {t.ident: t.name for t in threads}
        if ticks % 25 == 1:
            self._read_sched(threads, main_id)
        rss = _rss_mb()
        step = self._main_step
        self.rss_by_step[step] = max(self.rss_by_step.get(step, 0.0), rss)
        hit = self.probe() if self.probe is not None else False
        self.ticks += 1
        self.probe_hits += hit
        for ident, frame in sys._current_frames().items():
            if ident == own or not isinstance(frame, FrameType):
                continue
            if ident == main_id:
                role, category = "main", classify_main(frame)
                self._main_step = category
            elif names.get(ident, "").startswith(("pixee-fetch", "ceiling-fetch")):
                role, category = "fetch", classify_fetch(frame)
            else:
                continue
            self.counts[role][category] += 1
            if hit and role == "fetch":
                self.during[category] += 1

    def _read_sched(self, threads: list[threading.Thread], main_id: int | None) -> None:
        for thread in threads:
            if thread.native_id is None:
                continue
            if thread.ident == main_id:
                role = "main"
            elif thread.name.startswith(("pixee-fetch", "ceiling-fetch")):
                role = "fetch"
            else:
                continue
            try:
                with open(f"/proc/self/task/{thread.native_id}/schedstat") as stat:
                    on_cpu, waiting, _ = (int(x) for x in stat.read().split())
            except (OSError, ValueError):
                continue
            self.sched[thread.native_id] = (role, on_cpu / 1e9, waiting / 1e9)

    def cpu(self) -> dict[str, dict[str, float]]:
        """Per role: seconds on a CPU and seconds waiting for one (summed over that role's threads)."""
        out: dict[str, dict[str, float]] = {}
        for tid, (role, on_cpu, waiting) in self.sched.items():
            _, on_cpu_before, waiting_before = self._base.get(tid, (role, 0.0, 0.0))
            on_cpu, waiting = on_cpu - on_cpu_before, waiting - waiting_before
            entry = out.setdefault(role, {"on_cpu": 0.0, "runqueue_wait": 0.0, "threads": 0})
            entry["on_cpu"] += on_cpu
            entry["runqueue_wait"] += waiting
            entry["threads"] += 1
        return out

    def probe_summary(self) -> dict[str, object]:
        """Share of samples where the probe held, and the fetch threads' doings meanwhile."""
        total = sum(self.during.values()) or 1
        return {
            "share": self.probe_hits / self.ticks if self.ticks else 0.0,
            "fetch_during": [(name, n / total) for name, n in self.during.most_common()],
        }

    def shares(self) -> dict[str, list[tuple[str, float]]]:
        """Per role, (category, share of that role's samples), largest first."""
        out = {}
        for role, counter in self.counts.items():
            total = sum(counter.values())
            if total:
                out[role] = [(name, n / total) for name, n in counter.most_common()]
        return out
