"""PlatformSimulator: the platform flavour behind `Simulator(SimConfig(api="platform"))`."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from simulator.config import SimConfig
from simulator.platform import views
from simulator.platform.app import PREFIX, PlatformApp
from simulator.platform.org import PlatformOrg
from simulator.server import Simulator
from simulator.timeutil import to_ms

KINDS = ("repositories", "scans", "analyses", "patches", "workflows", "integrations")
# The requests a client makes, by what it asked for: stats()["by_kind"] counts these.
REQUEST_KINDS = (
    "root",
    "repositories",
    "scans",
    "findings",
    "analyses",
    "patches",
    "patch",
    "workflows",
    "integrations",
    "scales",
    "system-status",
    "preferences",
    "users-me",
    "unknown",
)


class _NoDeliveries:
    """The platform API has no webhooks: nothing to deliver, nothing to stop."""

    def stop(self) -> None:
        return None


class PlatformSimulator(Simulator):
    """A seeded Pixee platform (HAL) API on 127.0.0.1, with the v1 simulator's knobs and controls."""

    def __init__(self, cfg: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cfg = cfg or SimConfig(api="platform")
        self.host = host
        self.port = port
        self.org = PlatformOrg(self.cfg)  # type: ignore[assignment]
        self.api_key = f"pxk_{secrets.token_urlsafe(24)}"
        self.org_token = self.api_key  # what helpers written for v1 send
        self.repo_tokens: dict[str, str] = {}
        self.app = PlatformApp(self.org, self.cfg, self.api_key)  # type: ignore[arg-type]
        self.app.control = self._control
        self.deliverer = _NoDeliveries()  # type: ignore[assignment]
        self.base_url: str | None = None
        self._server = None
        self._thread = None

    @property
    def porg(self) -> PlatformOrg:
        return self.org  # type: ignore[return-value]

    def start(self) -> str:
        base = super().start()
        if not self.cfg.relative_hrefs:
            self.app.origin = base[: -len(PREFIX)]  # type: ignore[attr-defined]
        return base

    # -- the organisation -------------------------------------------------------------------------

    def truth(self, at: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
        """What the API serves now, table by table, items as served without their `_links`:
        findings of every unexpired scan with `scan_id` added, workflows with `repository_id`,
        the preferences document as a one-item list, and the extra relation (if any) under
        `collection_<relation>`."""
        if at is not None:
            raise ValueError("the platform simulator's truth is for now only (at= is not supported)")
        org = self.porg
        with org.lock:
            now = org.now
            scans = org.visible_scans()
            repos = org.visible_repositories()
            out: dict[str, list[dict[str, Any]]] = {
                "repositories": [views.repository(r) for r in repos],
                "scans": [views.scan(s) for s in scans],
                "findings": [
                    {**views.finding(life, s, now), "scan_id": s.id} for s in scans for life in s.lives
                ],
                "analyses": [views.analysis(a, org.scans[a.scan_id], now) for a in org.visible_analyses()],
                "patches": [views.patch(p, now) for p in org.visible_patches()],
                "workflows": [
                    {**views.workflow(w), "repository_id": r.id} for r in repos for w in org.workflows(r)
                ],
                "integrations": views.all_integrations(org),
                "scales": views.scales(org),
                "system_status": views.system_status(),
                "preferences": [views.preferences(org)],
            }
            if self.cfg.extra_relation:
                out["collection_" + self.cfg.extra_relation.replace("-", "_")] = views.extra(org)
            return out

    def cases(self, start: datetime, end: datetime) -> dict[str, list[Any]]:
        """Where each lifecycle case happened in (start, end]: PlatformOrg.cases, for tests."""
        return self.porg.cases(to_ms(start), to_ms(end))

    def add_repository(self) -> dict[str, Any]:
        """Connect a new repository now (with its detectors and workflows); it scans from tomorrow."""
        return views.repository(self.porg.add_repository())

    def detail_truth(self) -> dict[str, list[dict[str, Any]]]:
        raise ValueError("the platform API has no fix or finding details")

    def advance(self, hours: float) -> dict[str, Any]:
        return self.porg.advance(hours)

    def update(
        self, kind: str, id: str, *, stamped_at: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
        raise ValueError("the platform simulator does not edit objects; advance time or delete")

    def delete(self, kind: str, id: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.porg.delete(kind, id)

    def _control(self, method: str, rel: str, spec: dict[str, Any], query: dict[str, str]) -> Any:
        if (method, rel.rstrip("/")) == ("POST", "/_sim/repositories"):
            return self.add_repository()
        return super()._control(method, rel, spec, query)

    def stats(self) -> dict[str, Any]:
        """The v1 counters, plus `by_kind`: requests (any status) per kind of request."""
        snap = super().stats()
        by_kind = {kind: 0 for kind in REQUEST_KINDS}
        for route, statuses in snap["by_route"].items():
            by_kind[route] = by_kind.get(route, 0) + sum(statuses.values())
        snap["by_kind"] = by_kind
        return snap

    def deliveries(self) -> dict[str, Any]:
        raise ValueError("the platform API has no webhooks")

    def settle_deliveries(self, timeout: float = 60.0) -> bool:
        return True
