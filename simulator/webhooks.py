"""Delivers webhook events like Pixee: signed, at least once, unordered, retried on Pixee's schedule.

Each event is POSTed to every active webhook that subscribes to its type, with `X-Pixee-Signature`
= hex HMAC-SHA256 of the raw body under that webhook's secret. A delivery that gets no 2xx within
the timeout is tried again after 30 s, 2 min, 10 min and 1 h (times `retry_scale`, so tests take
seconds), then given up. Knobs duplicate a share of deliveries and drop a share for good (a
receiver that was down past the schedule). Only loopback URLs are delivered to unless
`allow_remote` is set: a test tool must never send traffic off this machine.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import ipaddress
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from random import Random
from typing import Any
from urllib.parse import urlsplit

import httpx

from simulator.model import Webhook

RETRY_SCHEDULE_SECONDS = (30.0, 120.0, 600.0, 3600.0)
LOG_LIMIT = 5000


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class DeliveryKnobs:
    """How the deliverer misbehaves; changeable while it runs (POST /_sim/deliveries/config)."""

    retry_scale: float = 1.0
    duplicate_rate: float = 0.0
    drop_rate: float = 0.0
    timeout_seconds: float = 10.0
    allow_remote: bool = False
    omit_repository_id: bool = False

    def update(self, spec: dict[str, Any]) -> None:
        for name, value in spec.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(
                    f"unknown delivery knob {name!r}; known: {', '.join(self.__dataclass_fields__)}"
                )
            kind = type(getattr(self, name))
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be a boolean")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
            if name.endswith("_rate") and value > 1:
                raise ValueError(f"{name} must be between 0 and 1")
            setattr(self, name, kind(value))


@dataclass
class _Delivery:
    hook_id: str
    url: str
    secret: str
    event: dict[str, Any]
    body: bytes
    attempt: int = 0


class Deliverer:
    """A few threads POSTing due deliveries from a heap ordered by due time."""

    def __init__(self, seed: int, knobs: DeliveryKnobs | None = None, threads: int = 4) -> None:
        self.knobs = knobs or DeliveryKnobs()
        self.rng = Random(f"{seed}/deliveries")
        self.lock = threading.Condition()
        self.heap: list[tuple[float, int, _Delivery]] = []
        self.seq = itertools.count()
        self.in_flight = 0
        self.counts: Counter[str] = Counter()
        self.dropped_ids: list[str] = []
        self.log: list[dict[str, Any]] = []
        self.stopping = False
        self.client = httpx.Client(follow_redirects=False)
        self.threads = [
            threading.Thread(target=self._work, name=f"pixee-sim-deliver-{i}", daemon=True)
            for i in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def publish(self, events: list[dict[str, Any]], hooks: list[Webhook], *, droppable: bool = True) -> None:
        """Queue every event for every hook that takes it, in a shuffled order (unordered delivery)."""
        knobs = self.knobs
        with self.lock:
            events = list(events)
            self.rng.shuffle(events)
            now = time.monotonic()
            for event in events:
                self.counts["events"] += 1
                for hook in hooks:
                    if not hook.active or not (
                        "*" in hook.events or event["type"] in hook.events or event["type"] == "ping"
                    ):
                        continue
                    if not (knobs.allow_remote or loopback_url(hook.url)):
                        self.counts["refused_remote"] += 1
                        continue
                    if droppable and knobs.drop_rate and self.rng.random() < knobs.drop_rate:
                        self.counts["dropped"] += 1
                        self.dropped_ids.append(event["id"])
                        continue
                    sent = event
                    if knobs.omit_repository_id and isinstance(event.get("data"), dict):
                        sent = {
                            **event,
                            "data": {k: v for k, v in event["data"].items() if k != "repository_id"},
                        }
                    body = json.dumps(sent, separators=(",", ":")).encode()
                    copies = 2 if knobs.duplicate_rate and self.rng.random() < knobs.duplicate_rate else 1
                    self.counts["duplicated"] += copies - 1
                    for copy in range(copies):
                        delivery = _Delivery(hook.id, hook.url, hook.secret, sent, body)
                        heapq.heappush(self.heap, (now + copy * 0.05, next(self.seq), delivery))
            self.lock.notify_all()

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.stopping and (not self.heap or self.heap[0][0] > time.monotonic()):
                    self.lock.wait(None if not self.heap else max(0.0, self.heap[0][0] - time.monotonic()))
                if self.stopping:
                    return
                _, _, delivery = heapq.heappop(self.heap)
                self.in_flight += 1
            status = self._post(delivery)
            with self.lock:
                self.in_flight -= 1
                self.counts["attempts"] += 1
                ok = status is not None and 200 <= status < 300
                if len(self.log) < LOG_LIMIT:
                    self.log.append(
                        {
                            "event_id": delivery.event["id"],
                            "type": delivery.event["type"],
                            "webhook_id": delivery.hook_id,
                            "attempt": delivery.attempt,
                            "status": status,
                            "at": time.time(),  # wall clock of the answer, for latency benches
                        }
                    )
                if ok:
                    self.counts["delivered"] += 1
                elif delivery.attempt < len(RETRY_SCHEDULE_SECONDS):
                    self.counts["retried"] += 1
                    wait = RETRY_SCHEDULE_SECONDS[delivery.attempt] * self.knobs.retry_scale
                    delivery.attempt += 1
                    heapq.heappush(self.heap, (time.monotonic() + wait, next(self.seq), delivery))
                else:
                    self.counts["gave_up"] += 1
                self.lock.notify_all()

    def _post(self, delivery: _Delivery) -> int | None:
        headers = {
            "content-type": "application/json",
            "user-agent": "Pixee-Webhooks/1.0 (simulator)",
            "x-pixee-event": delivery.event["type"],
            "x-pixee-delivery": f"{delivery.event['id']}/{delivery.attempt}",
            "x-pixee-signature": sign(delivery.secret, delivery.body),
        }
        try:
            response = self.client.post(
                delivery.url, content=delivery.body, headers=headers, timeout=self.knobs.timeout_seconds
            )
        except httpx.HTTPError:
            return None
        return response.status_code

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                **{k: self.counts[k] for k in ("events", "attempts", "delivered", "retried", "gave_up")},
                "dropped": self.counts["dropped"],
                "duplicated": self.counts["duplicated"],
                "refused_remote": self.counts["refused_remote"],
                "pending": len(self.heap) + self.in_flight,
                "dropped_ids": list(self.dropped_ids),
                "log": list(self.log),
            }

    def settled(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.heap or self.in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.1))
            return True

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.lock.notify_all()
        for thread in self.threads:
            thread.join(timeout=self.knobs.timeout_seconds + 1)
        self.client.close()
