"""The receiver's Prefect trigger: one `pixee.webhook.received` event per burst of stored events.

A deployment trigger on that event (prefect.yaml, and `pixee-etl serve` with events enabled)
starts the incremental sync, so a merged fix reaches the marts within a minute rather than at
the next cron tick. Debounced on both edges: the first event of a quiet spell emits at once,
later ones within `debounce_seconds` are folded into one trailing emission, so a burst of
hundreds of deliveries makes one or two runs. Emitted from a timer thread, never on the
request's path: the acknowledgement does not wait for Prefect.

The events go to the configured PREFECT_API_URL or, without one, to the server `pixee-etl serve`
started for itself (it leaves its URL in PREFECT_HOME while it runs). Never to a throwaway server
of Prefect's own making: no deployment listens there, so the events would trigger nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("pipelines.webhooks")

EVENT = "pixee.webhook.received"
# Where `pixee-etl serve` says which local server it runs, inside PREFECT_HOME.
SERVE_MARKER = "pixee-etl-serve.json"
NO_SERVER = (
    "--trigger: no Prefect server to send events to (PREFECT_API_URL is not set and no `pixee-etl serve` "
    "runs one under {home}); events are journaled and the next scheduled run reads them"
)


def prefect_home() -> Path:
    from prefect.settings import PREFECT_HOME

    return Path(str(PREFECT_HOME.value())).expanduser()


def write_serve_marker(home: Path, url: str) -> Path:
    """Called by serve once its local server answers: the receiver finds it here."""
    marker = home / SERVE_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(tmp, marker)
    return marker


def remove_serve_marker(home: Path) -> None:
    """Called by serve on its way out; a marker another serve wrote since is left alone."""
    marker = home / SERVE_MARKER
    try:
        if json.loads(marker.read_text()).get("pid") == os.getpid():
            marker.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def serve_api_url(home: Path) -> str | None:
    """The API URL of the server a running `pixee-etl serve` started, or None (none, or it died)."""
    try:
        marker = json.loads((home / SERVE_MARKER).read_text())
        pid, url = int(marker["pid"]), str(marker["url"])
        os.kill(pid, 0)  # a serve killed with -9 leaves its marker: it must still be alive
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url


def prefect_api_url() -> tuple[str | None, str]:
    """(API URL, where it came from) for the events; (None, PREFECT_HOME) when there is none."""
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        return str(configured), "PREFECT_API_URL"
    home = prefect_home()
    url = serve_api_url(home)
    if url:
        return url, f"the local server of `pixee-etl serve`, found in {home / SERVE_MARKER}"
    return None, str(home)


def send_event(url: str, profile: str, count: int) -> None:
    """One event to the Prefect API at `url` (Prefect Cloud through its own configured client)."""
    from prefect.events import Event
    from prefect.events.clients import EventsClient, PrefectEventsClient, get_events_client
    from prefect.settings import PREFECT_CLOUD_API_URL

    event = Event(
        event=EVENT, resource={"prefect.resource.id": resource_id(profile)}, payload={"events": count}
    )

    async def emit() -> None:
        client: EventsClient = (
            get_events_client()
            if url.startswith(str(PREFECT_CLOUD_API_URL.value()))
            else PrefectEventsClient(api_url=url, reconnection_attempts=1)
        )
        async with client:
            await client.emit(event)

    asyncio.run(emit())


def resource_id(profile: str) -> str:
    """The resource the trigger matches: one per profile, so two profiles' receivers never mix."""
    return f"pixee-etl.profile.{profile}"


class PrefectTrigger:
    """Callable per stored event (ReceiverApp's on_stored)."""

    def __init__(
        self,
        profile: str,
        debounce_seconds: float = 5.0,
        api_url: Callable[[], tuple[str | None, str]] = prefect_api_url,
    ) -> None:
        self.profile = profile
        self.debounce = debounce_seconds
        self.api_url = api_url  # looked up per emission: serve may start (or restart) after us
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
            # The timer thread runs in the caller's context: a fresh thread would read Prefect's
            # process-wide settings, not those the caller set (temporary_settings is a contextvar).
            self._timer = threading.Timer(wait, contextvars.copy_context().run, args=(self._fire,))
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            count, self._pending, self._timer = self._pending, 0, None
            self._last_emit = time.monotonic()
        try:
            url, where = self.api_url()
            if url is None:
                log.debug(NO_SERVER.format(home=where))
                return
            send_event(url, self.profile, count)
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
