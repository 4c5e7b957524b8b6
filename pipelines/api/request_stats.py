"""What the client's requests cost, per resource: read by the sync's summary and the live progress line."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    """What one resource's requests cost."""

    requests: int = 0
    throttled_429: int = 0
    retries: int = 0
    wait_seconds: float = 0.0  # rate-limit waits: the bucket and Retry-After
    backoff_seconds: float = 0.0
    first_request: float | None = None
    last_response: float | None = None

    @property
    def elapsed(self) -> float:
        if self.first_request is None or self.last_response is None:
            return 0.0
        return self.last_response - self.first_request


@dataclass
class ClientStats:
    """Thread-safe counters keyed by resource name."""

    by_resource: dict[str, RequestStats] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, resource: str, **changes: float) -> None:
        with self._lock:
            stats = self.by_resource.setdefault(resource, RequestStats())
            now = time.monotonic()
            for name, value in changes.items():
                if name == "started":
                    if stats.first_request is None:
                        stats.first_request = now
                elif name == "finished":
                    stats.last_response = now
                else:
                    setattr(stats, name, getattr(stats, name) + value)

    def snapshot(self) -> dict[str, RequestStats]:
        with self._lock:
            return {k: RequestStats(**vars(v)) for k, v in self.by_resource.items()}

    def totals(self) -> RequestStats:
        snap = self.snapshot().values()
        total = RequestStats()
        for s in snap:
            total.requests += s.requests
            total.throttled_429 += s.throttled_429
            total.retries += s.retries
            total.wait_seconds += s.wait_seconds
            total.backoff_seconds += s.backoff_seconds
        firsts = [s.first_request for s in snap if s.first_request is not None]
        lasts = [s.last_response for s in snap if s.last_response is not None]
        total.first_request = min(firsts) if firsts else None
        total.last_response = max(lasts) if lasts else None
        return total
