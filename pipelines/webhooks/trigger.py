"""The receiver's Prefect trigger: one `pixee.webhook.received` event per burst of stored events.

A deployment trigger on that event (prefect.yaml, and `pixee-etl serve` with events enabled)
starts the incremental sync, so a merged fix reaches the marts within a minute rather than at
the next cron tick. Debounced on both edges: the first event of a quiet spell emits at once,
later ones within `debounce_seconds` are folded into one trailing emission, so a burst of
hundreds of deliveries makes one or two runs. Emitted from a timer thread, never on the
request's path: the acknowledgement does not wait for Prefect.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger("pipelines.webhooks")

EVENT = "pixee.webhook.received"


def resource_id(profile: str) -> str:
    """The resource the trigger matches: one per profile, so two profiles' receivers never mix."""
    return f"pixee-etl.profile.{profile}"


class PrefectTrigger:
    """Callable per stored event (ReceiverApp's on_stored)."""

    def __init__(self, profile: str, debounce_seconds: float = 5.0) -> None:
        self.profile = profile
        self.debounce = debounce_seconds
        self._lock = threading.Lock()
        self._last_emit = 0.0
        self._pending = 0
        self._timer: threading.Timer | None = None
        self.emitted = 0

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
            if self._timer is not None:
                return  # a trailing emission is already due: this event rides on it
            wait = max(0.0, self._last_emit + self.debounce - time.monotonic())
            self._timer = threading.Timer(wait, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            count, self._pending, self._timer = self._pending, 0, None
            self._last_emit = time.monotonic()
        try:
            from prefect.events import emit_event

            emit_event(
                event=EVENT,
                resource={"prefect.resource.id": resource_id(self.profile)},
                payload={"events": count},
            )
            self.emitted += 1
        except Exception as exc:  # Prefect away: the cron schedule still picks the events up
            log.warning(
                "could not emit %s to Prefect (%s); the next scheduled run reads the events", EVENT, exc
            )


def trigger_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """A triggered run waits for a running sync rather than skipping: events that arrived during
    that run are after its start, and only the next run reads them."""
    return {**parameters, "overlap": "wait"}


def event_triggers(profile: str, parameters: dict[str, Any]) -> list[Any]:
    """The incremental deployment's trigger: run on every (debounced) `pixee.webhook.received`."""
    from prefect.events import DeploymentEventTrigger

    return [
        DeploymentEventTrigger(
            name=f"pixee-etl {profile}: webhook events",
            expect={EVENT},
            match={"prefect.resource.id": resource_id(profile)},
            posture="Reactive",
            threshold=1,
            within=0,
            parameters=trigger_parameters(parameters),
        )
    ]
