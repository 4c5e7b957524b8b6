"""Simulator: one generated organisation served by uvicorn on loopback from a background thread."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import datetime
from types import TracebackType
from typing import Any

import uvicorn

from simulator import events
from simulator.app import SimApp, SimulatedReset, finding_detail_view, fix_detail_view
from simulator.config import SimConfig
from simulator.org import KINDS, Org
from simulator.timeutil import from_ms, to_ms
from simulator.webhooks import Deliverer, DeliveryKnobs


class _DropSimulatedResets(logging.Filter):
    """uvicorn logs every exception an app raises; a reset we inject on purpose is not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SimulatedReset))


logging.getLogger("uvicorn.error").addFilter(_DropSimulatedResets())


class Simulator:
    """A seeded Pixee API v1 on 127.0.0.1. Generate on construction, serve on start(), stop() to end."""

    def __new__(cls, cfg: SimConfig | None = None, **kwargs: Any) -> Simulator:
        # SimConfig(api="platform") gets the platform flavour behind the same constructor.
        if cls is Simulator and cfg is not None and cfg.api == "platform":
            from simulator.platform.server import PlatformSimulator

            return super().__new__(PlatformSimulator)
        return super().__new__(cls)

    def __init__(self, cfg: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cfg = cfg or SimConfig()
        self.host = host
        self.port = port
        self.org = Org(self.cfg)
        self.org_token = f"pxo_{secrets.token_urlsafe(24)}"
        self.repo_tokens: dict[str, str] = {
            repo_id: f"pxr_{secrets.token_urlsafe(24)}" for repo_id in self.org.records["repositories"]
        }
        self.app = SimApp(self.org, self.cfg, self.org_token, self.repo_tokens)
        self.app.control = self._control
        self.deliverer = Deliverer(
            self.cfg.seed,
            DeliveryKnobs(
                retry_scale=self.cfg.webhook_retry_scale,
                duplicate_rate=self.cfg.webhook_duplicate_rate,
                drop_rate=self.cfg.webhook_drop_rate,
                allow_remote=self.cfg.webhook_allow_remote,
            ),
        )
        self.org.event_sink = lambda evs: self.deliverer.publish(evs, self.org.live_webhooks())
        self.app.on_webhook_created = lambda hook: self.deliverer.publish(
            [events.ping(self.cfg.seed, hook.id, self.org.now)], [hook], droppable=False
        )
        self.base_url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> str:
        if self._thread is not None:
            return self.base_url  # type: ignore[return-value]
        # uvicorn binds the socket itself: a socket handed in through `sockets=` is served without
        # TCP_NODELAY here, which costs every response a 40 ms delayed-ACK stall.
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
            backlog=512,
            date_header=False,  # the app sends Date on the simulated clock
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="pixee-simulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"the simulator could not listen on {self.host}:{self.port}")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://{self.host}:{port}/api/v1"
        return self.base_url

    def stop(self) -> None:
        self.deliverer.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the organisation -------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return from_ms(self.org.now)

    def truth(self, at: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
        """What the lists serve now, or served at `at` (aware UTC, not after now): Org.truth."""
        if at is not None and at.tzinfo is None:
            raise ValueError("at must be timezone-aware (UTC)")
        return self.org.truth(None if at is None else to_ms(at))

    def detail_truth(self) -> dict[str, list[dict[str, Any]]]:
        org = self.org
        with org.lock:
            fixes = [fix_detail_view(org, rec) for rec in org.iter_visible("fixes")]
            findings = [finding_detail_view(org, rec) for rec in org.iter_visible("findings")]
        return {
            "fix_details": [{k: f[k] for k in ("id", "diff", "rationale", "quality")} for f in fixes],
            "finding_details": [{k: f[k] for k in ("id", "justification")} for f in findings],
        }

    def advance(self, hours: float) -> dict[str, Any]:
        return self.org.advance(hours)

    def update(
        self, kind: str, id: str, *, stamped_at: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Change fields of an object; `stamped_at` forces its updated_at (a writer's clock skew)."""
        _check_kind(kind)
        return self.org.update(kind, id, at_ms=None if stamped_at is None else to_ms(stamped_at), **fields)

    def delete(self, kind: str, id: str) -> None:
        _check_kind(kind)
        self.org.delete(kind, id)

    # -- the server's behaviour -------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()

    def set_rate_limit(self, requests_per_minute: float | None, burst: int = 10) -> None:
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be > 0, or None for no limit")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.cfg.requests_per_minute, self.cfg.burst = requests_per_minute, burst
        self.app.limiter.configure(requests_per_minute, burst)

    def deliveries(self) -> dict[str, Any]:
        """Webhook delivery counts, the ids dropped for good, and a log of attempts."""
        return self.deliverer.snapshot()

    def settle_deliveries(self, timeout: float = 60.0) -> bool:
        """Wait until every queued delivery (retries included) succeeded or was given up."""
        return self.deliverer.settled(timeout)

    def inject(self, fault: str, *, path_prefix: str = "", count: int = 1) -> None:
        self.app.faults.add(fault, path_prefix, count)

    def _control(self, method: str, rel: str, spec: dict[str, Any], query: dict[str, str]) -> Any:
        """The /_sim routes: the same operations as the Python API, for a simulator in another process."""
        route = (method, rel.rstrip("/"))
        if route == ("POST", "/_sim/advance"):
            hours = spec.get("hours")
            if not isinstance(hours, int | float) or isinstance(hours, bool) or hours < 0:
                raise ValueError('body must be {"hours": <number >= 0>}')
            return self.advance(float(hours))
        if route == ("GET", "/_sim/stats"):
            return self.stats()
        if route in (("POST", "/_sim/stats/reset"), ("DELETE", "/_sim/stats")):
            self.reset_stats()
            return {"reset": True}
        if route == ("GET", "/_sim/truth"):
            at = query.get("at")
            return self.truth(None if at is None else datetime.fromisoformat(at.replace("Z", "+00:00")))
        if route == ("GET", "/_sim/detail-truth"):
            return self.detail_truth()
        if route == ("GET", "/_sim/now"):
            return {"now": self.now.isoformat().replace("+00:00", "Z")}
        if route == ("POST", "/_sim/inject"):
            self.inject(
                str(spec["fault"]),
                path_prefix=str(spec.get("path_prefix", "")),
                count=int(spec.get("count", 1)),
            )
            return {"queued": spec["fault"]}
        if route == ("POST", "/_sim/rate-limit"):
            rpm = spec.get("requests_per_minute")
            self.set_rate_limit(None if rpm is None else float(rpm), int(spec.get("burst", 10)))
            return {"requests_per_minute": self.cfg.requests_per_minute, "burst": self.cfg.burst}
        if route == ("GET", "/_sim/deliveries"):
            return self.deliveries()
        if route == ("POST", "/_sim/deliveries/config"):
            self.deliverer.knobs.update(spec)
            return vars(self.deliverer.knobs)
        if route == ("POST", "/_sim/update"):
            return self.update(str(spec["kind"]), str(spec["id"]), **dict(spec.get("fields") or {}))
        if route == ("POST", "/_sim/delete"):
            self.delete(str(spec["kind"]), str(spec["id"]))
            return {"deleted": spec["id"]}
        return None


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
