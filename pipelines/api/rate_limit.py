"""The client-side token bucket: one per token in a process, a copy of the server's, so a sync spends
every request it is allowed and never draws a 429."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Client-side copy of the server's bucket: capacity `burst`, refilled at rate/60 per second.

    Thread-safe: callers reserve a slot under the lock and sleep outside it, so N threads share
    one budget. Part of the burst is held back: the server counts a request when it arrives, and
    a request delayed on its way (a busy machine, a slow thread) lets later ones bunch up behind
    it. Holding back rate x `headroom_seconds` tokens (at least one, less than the burst) absorbs
    that much delay: the server's bucket then always holds that many tokens more than ours.
    The steady rate is the server's; only the opening burst is smaller.
    """

    def __init__(
        self,
        requests_per_minute: float,
        burst: int,
        *,
        headroom_seconds: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests_per_minute <= 0 or burst < 1:
            raise ValueError("requests_per_minute and burst must be positive")
        self.rate = requests_per_minute / 60.0
        headroom = min(burst - 1.0, max(1.0, self.rate * headroom_seconds)) if headroom_seconds else 0.0
        self.capacity = max(1.0, burst - headroom)
        self.requests_per_minute = requests_per_minute
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._last = clock()
        self._blocked_until = 0.0
        # Wall time with at least one caller asleep here: the sum of the callers' waits counts
        # every thread's sleep, 8 threads waiting 30 s together as 240 s.
        self._sleepers = 0
        self._sleeping_since = 0.0
        self._wall_waited = 0.0

    def wall_wait_seconds(self) -> float:
        """Seconds of wall time during which some caller was waiting for a token (ever, so far)."""
        with self._lock:
            ongoing = self._clock() - self._sleeping_since if self._sleepers else 0.0
            return self._wall_waited + max(0.0, ongoing)

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def acquire(self) -> float:
        """Take one token, sleeping until it is there; returns the seconds spent waiting."""
        waited = 0.0
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1.0
            # A negative balance is a queue of reservations: this caller's slot is -tokens/rate away.
            delay = max(0.0, -self._tokens / self.rate, self._blocked_until - now)
            if delay > 0:
                if not self._sleepers:
                    self._sleeping_since = now
                self._sleepers += 1
        if delay <= 0:
            return waited
        try:
            while delay > 0:
                self._sleep(delay)
                waited += delay
                with self._lock:
                    # A 429 seen by another thread while we slept pushes everyone back.
                    delay = max(0.0, self._blocked_until - self._clock())
        finally:
            with self._lock:
                self._sleepers -= 1
                if not self._sleepers:
                    self._wall_waited += max(0.0, self._clock() - self._sleeping_since)
        return waited

    def penalize(self, seconds: float) -> float:
        """The server said wait `seconds` (429): nobody sends before then, and refill restarts empty.

        Returns the seconds of blocking this adds (threads told to wait at once add it once)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            until = now + seconds
            added = max(0.0, until - max(now, self._blocked_until))
            self._blocked_until = max(self._blocked_until, until)
            self._tokens = min(self._tokens, 0.0)
            self._last = max(self._last, until)
            return added


_buckets: dict[str, TokenBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(base_url: str, token: str, requests_per_minute: float, burst: int) -> TokenBucket:
    """The process-wide bucket of one token: every client, resource and thread on it shares it,
    so a second sync in the same process continues where the server's bucket stands."""
    key = hashlib.sha256(f"{base_url}\0{token}".encode()).hexdigest()
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None or (bucket.requests_per_minute, bucket.burst) != (requests_per_minute, burst):
            bucket = _buckets[key] = TokenBucket(requests_per_minute, burst)
        return bucket
