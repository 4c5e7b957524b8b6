"""Per-token token buckets: capacity = burst, refilled at rpm/60 per second; a refusal costs nothing."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """One token's bucket. `take()` returns 0 when admitted, else the whole seconds to wait."""

    def __init__(
        self, requests_per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = requests_per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> int:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


class RateLimiter:
    """A bucket per token, all with the same rate; None rate = everything admitted."""

    def __init__(
        self, requests_per_minute: float | None, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.configure(requests_per_minute, burst)

    def configure(self, requests_per_minute: float | None, burst: int) -> None:
        with self.lock:
            self.requests_per_minute = requests_per_minute
            self.burst = burst
            self.buckets: dict[str, TokenBucket] = {}  # a new rate starts every token with a full bucket

    def take(self, token: str) -> int:
        """0 when the request may proceed, else the Retry-After seconds."""
        with self.lock:
            if self.requests_per_minute is None:
                return 0
            bucket = self.buckets.get(token)
            if bucket is None:
                bucket = self.buckets[token] = TokenBucket(self.requests_per_minute, self.burst, self.clock)
            return bucket.take()
