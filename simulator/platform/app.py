"""The platform API over one PlatformOrg: HAL root and lists, filters, problem+json errors.

It reuses the v1 app's machinery (auth, fault injection, rate limit, latency, error rate, the
/_sim control routes and request counting) and replaces the routes and the error shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from simulator.app import PREFIX, ApiError, Send, SimApp
from simulator.config import SimConfig
from simulator.platform import views
from simulator.platform.org import PlatformOrg

ROOT_RELATIONS = (
    ("repositories", "/repositories"),
    ("scans", "/scans"),
    ("analyses", "/analyses"),
    ("patches", "/patches"),
    ("integrations", "/integrations"),
    ("scales", "/scales"),
    ("system-status", "/system-status"),
    ("preferences", "/preferences"),
    ("users-me", "/users/me"),
)
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Handler = Callable[[str | None, dict[str, str], dict[str, str], bytes, str], tuple[int, Any]]


class PlatformApp(SimApp):
    """Pixee's HAL platform API, discovered from GET /api/v1."""

    serves_openapi = False

    def __init__(self, org: PlatformOrg, cfg: SimConfig, api_key: str) -> None:
        super().__init__(org, cfg, api_key, {})  # type: ignore[arg-type]
        self.porg = org
        self.origin = ""  # "http://127.0.0.1:<port>" once listening, unless hrefs are relative

    # -- shape ------------------------------------------------------------------------------------

    async def _send_error(self, send: Send, exc: ApiError, rid: str, rel: str = "") -> None:
        body = {
            "type": f"https://docs.pixee.ai/problems/{exc.code.replace('_', '-')}",
            "title": TITLES.get(exc.status, "Error"),
            "status": exc.status,
            "detail": exc.message,
            "instance": PREFIX + rel.split("?", 1)[0],
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        await self._send_raw(send, exc.status, raw, "application/problem+json", rid, exc.headers)

    def href(self, path: str, query: dict[str, str] | None = None) -> dict[str, str]:
        url = f"{self.origin}{PREFIX}{path}"
        return {"href": f"{url}?{urlencode(query)}" if query else url}

    # -- routing ----------------------------------------------------------------------------------

    def _match(self, method: str, rel: str) -> tuple[tuple[str, Handler] | None, dict[str, str]]:
        if method != "GET":
            return None, {}
        parts = [p for p in rel.split("/") if p]
        n = len(parts)
        head = parts[0] if parts else ""
        params = {"id": parts[1]} if n > 1 else {}
        table: dict[tuple[str, int], tuple[str, Handler]] = {
            ("", 0): ("root", self.root),
            ("repositories", 1): ("repositories", self.list_repositories),
            ("repositories", 2): ("repository", self.get_repository),
            ("repositories", 3): ("workflows", self.list_workflows),
            ("repositories", 4): ("workflow", self.get_workflow),
            ("scans", 1): ("scans", self.list_scans),
            ("scans", 2): ("scan", self.get_scan),
            ("scans", 3): ("findings", self.list_findings),
            ("scans", 4): ("finding", self.get_finding),
            ("analyses", 1): ("analyses", self.list_analyses),
            ("analyses", 2): ("analysis", self.get_analysis),
            ("patches", 1): ("patches", self.list_patches),
            ("patches", 2): ("patch", self.get_patch),
            ("integrations", 1): ("integrations", self.list_integrations),
            ("integrations", 2): ("integration", self.get_integration),
            ("scales", 1): ("scales", self.list_scales),
            ("scales", 2): ("scale", self.get_scale),
            ("system-status", 1): ("system-status", self.list_system_status),
            ("system-status", 2): ("system-status-item", self.get_system_status),
            ("preferences", 1): ("preferences", self.get_preferences),
            ("users", 2): ("users-me", self.users_me),
        }
        if self.cfg.extra_relation:
            table[(self.cfg.extra_relation, 1)] = ("unknown", self.list_extra)
            table[(self.cfg.extra_relation, 2)] = ("unknown-item", self.get_extra)
        route = table.get((head, n))
        if route is None:
            return None, {}
        if head == "repositories" and n >= 3 and parts[2] != "workflows":
            return None, {}
        if head == "repositories" and n == 4:
            params["workflow"] = parts[3]
        if head == "scans" and n >= 3 and parts[2] != "findings":
            return None, {}
        if head == "scans" and n == 4:
            params["finding"] = parts[3]
        if head == "users" and parts[1] != "me":
            return None, {}
        return route, params

    # -- paging and filters -----------------------------------------------------------------------

    def _page(
        self, rel: str, query: dict[str, str], items: Sequence[Any], render: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        size = _int_param(query, "page-size", 20, 100)
        number = _int_param(query, "page-number", 1, None)
        start = (number - 1) * size
        chunk = items[start : start + size]
        links: dict[str, Any] = {"self": self.href(rel, query)}
        if start + size < len(items):
            links["next"] = self.href(rel, {**query, "page-size": str(size), "page-number": str(number + 1)})
        return {
            "_embedded": {"items": [render(x) for x in chunk]},
            "_links": links,
            "page": number,
            "total": len(items),
        }

    def _time(self, query: dict[str, str], name: str) -> int | None:
        """A time filter in whole ms, or None when absent or ignored (the ignore-time-filters knob).
        Both ends are inclusive, so a bound between two milliseconds rounds inwards."""
        text = query.get(name)
        if text is None or self.cfg.ignore_time_filters or self.cfg.ignore_updated_since:
            return None
        try:
            dt = datetime.fromisoformat(text.strip().replace(" ", "+").replace("z", "Z"))
        except ValueError:
            dt = None
        if dt is None or dt.tzinfo is None:
            raise ApiError(
                400,
                "bad_request",
                f"{name} must be an ISO 8601 timestamp with a zone, e.g. 2026-11-28T00:00:00Z; got {text!r}",
            )
        us = (dt - EPOCH) // timedelta(microseconds=1)
        return -(-us // 1000) if name.endswith("-after") else us // 1000

    # -- items with their links -------------------------------------------------------------------

    def _repository(self, repo: Any) -> dict[str, Any]:
        out = views.repository(repo)
        out["_links"] = {
            "self": self.href(f"/repositories/{repo.id}"),
            "workflows": self.href(f"/repositories/{repo.id}/workflows"),
            "scans": self.href("/scans", {"repo": repo.id}),
        }
        return out

    def _scan(self, s: Any) -> dict[str, Any]:
        out = views.scan(s)
        repo = self.porg.repositories[s.repository_id]
        out["_links"] = {
            "self": self.href(f"/scans/{s.id}"),
            "findings": self.href(f"/scans/{s.id}/findings"),
            "analyses": self.href("/analyses", {"scan": s.id}),
            "repository": {**self.href(f"/repositories/{repo.id}"), "title": repo.full_name},
            "scale": self.href(f"/scales/scale-{s.detector}"),
        }
        return out

    def _finding(self, life: Any, s: Any) -> dict[str, Any]:
        out = views.finding(life, s, self.porg.now)
        out["_links"] = {
            "self": self.href(f"/scans/{s.id}/findings/{quote(life.id)}"),
            "scan": self.href(f"/scans/{s.id}"),
        }
        return out

    def _analysis(self, a: Any) -> dict[str, Any]:
        s = self.porg.scans[a.scan_id]
        out = views.analysis(a, s, self.porg.now)
        out["_links"] = {
            "self": self.href(f"/analyses/{a.id}"),
            "scan": self.href(f"/scans/{s.id}"),
            "findings": self.href(f"/scans/{s.id}/findings"),
        }
        return out

    def _patch(self, p: Any) -> dict[str, Any]:
        out = views.patch(p, self.porg.now)
        out["_links"] = {
            "self": self.href(f"/patches/{p.id}"),
            "repository": self.href(f"/repositories/{p.repository_id}"),
        }
        return out

    def _linked(self, rel: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda item: {**item, "_links": {"self": self.href(f"{rel}/{quote(str(item['id']))}")}}

    # -- handlers: (scope, path params, query, body, rel) -> (status, payload) ---------------------

    def root(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        links = {"self": self.href("")}
        links.update({name: self.href(path) for name, path in ROOT_RELATIONS})
        if self.cfg.extra_relation:
            links[self.cfg.extra_relation] = self.href(f"/{self.cfg.extra_relation}")
        return 200, {"_links": links}

    def users_me(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        return 200, {
            "id": "api-token",
            "name": "Deployment API key",
            "_links": {"self": self.href("/users/me")},
        }

    def list_repositories(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        org = self.porg
        with org.lock:
            repos = org.visible_repositories()
            name = query.get("name", "").strip().lower()
            if name:
                repos = [r for r in repos if name in r.name.lower()]
            return 200, self._page(rel, query, repos, self._repository)

    def get_repository(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.porg.lock:
            return 200, self._repository(self._repo(params["id"]))

    def _repo(self, repo_id: str) -> Any:
        repo = self.porg.repository(repo_id)
        if repo is None:
            raise ApiError(404, "not_found", f"repository {repo_id} not found")
        return repo

    def list_workflows(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        org = self.porg
        with org.lock:
            repo = self._repo(params["id"])
            base = f"/repositories/{repo.id}/workflows"
            return 200, self._page(
                rel, query, org.workflows(repo), lambda w: self._linked(base)(views.workflow(w))
            )

    def get_workflow(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        org = self.porg
        with org.lock:
            repo = self._repo(params["id"])
            rows = [views.workflow(w) for w in org.workflows(repo)]
            return self._one(rows, params["workflow"], f"/repositories/{repo.id}/workflows", "workflow")

    def list_scans(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        org = self.porg
        with org.lock:
            scans = org.visible_scans()
            repos = _values(query, "repo")
            if repos:
                wanted = {
                    r.id
                    for r in org.repositories.values()
                    if r.id in repos or r.name in repos or r.full_name in repos
                }
                scans = [s for s in scans if s.repository_id in wanted]
            tools = _values(query, "tool")
            if tools:
                scans = [s for s in scans if s.detector in tools]
            if "branch" in query:
                scans = [s for s in scans if s.branch == query["branch"]]
            return 200, self._page(rel, query, scans, self._scan)

    def _scan_or_404(self, scan_id: str) -> Any:
        s = self.porg.scan(scan_id)
        if s is None:
            raise ApiError(
                404, "not_found", f"scan {scan_id} not found (scans expire seven days after import)"
            )
        return s

    def get_scan(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.porg.lock:
            return 200, self._scan(self._scan_or_404(params["id"]))

    def list_findings(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        org = self.porg
        with org.lock:
            s = self._scan_or_404(params["id"])
            page = self._page(rel, query, s.lives, lambda life: self._finding(life, s))
            every = [views.finding(life, s, org.now) for life in s.lives]
            page.update(views.finding_counts(every, s, org.now))
            return 200, page

    def get_finding(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.porg.lock:
            s = self._scan_or_404(params["id"])
            for life in s.lives:
                if life.id == params["finding"]:
                    return 200, self._finding(life, s)
            raise ApiError(404, "not_found", f"finding {params['finding']} not found in scan {s.id}")

    def list_analyses(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        org = self.porg
        with org.lock:
            now = org.now
            items = org.visible_analyses()
            after, before = self._time(query, "updated-after"), self._time(query, "updated-before")
            if after is not None:
                items = [a for a in items if a.updated_at(now) >= after]
            if before is not None:
                items = [a for a in items if a.updated_at(now) <= before]
            scans = _values(query, "scan")
            if scans:
                items = [a for a in items if a.scan_id in scans]
            repos = _values(query, "repo")
            if repos:
                items = [a for a in items if org.scans[a.scan_id].repository_id in repos]
            states = _values(query, "state")
            if states:
                items = [a for a in items if a.state(now) in states]
            types = _values(query, "type")
            if types:
                items = [a for a in items if a.type in types]
            if "branch" in query:
                items = [a for a in items if org.scans[a.scan_id].branch == query["branch"]]
            tools = _values(query, "tool")
            if tools:
                items = [a for a in items if org.scans[a.scan_id].detector in tools]
            return 200, self._page(rel, query, items, self._analysis)

    def get_analysis(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.porg.lock:
            a = self.porg.analysis(params["id"])
            if a is None:
                raise ApiError(404, "not_found", f"analysis {params['id']} not found")
            return 200, self._analysis(a)

    def list_patches(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        org = self.porg
        with org.lock:
            items = org.visible_patches()
            after, before = self._time(query, "created-after"), self._time(query, "created-before")
            if after is not None:
                items = [p for p in items if p.created_at >= after]
            if before is not None:
                items = [p for p in items if p.created_at <= before]
            repos = _values(query, "repository")
            if repos:
                items = [p for p in items if p.repository_id in repos]
            scans = _values(query, "scan")
            if scans:
                items = [p for p in items if p.scan_id in scans]
            states = _values(query, "state")
            if states:  # every patch here is completed-success; its merge state also answers
                items = [p for p in items if states & {"completed-success", p.merge_state(org.now)}]
            return 200, self._page(rel, query, items, self._patch)

    def get_patch(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.porg.lock:
            p = self.porg.patch(params["id"])
            if p is None:
                raise ApiError(404, "not_found", f"patch {params['id']} not found")
            return 200, self._patch(p)

    def _small(
        self, rel: str, query: dict[str, str], rows: list[dict[str, Any]], base: str
    ) -> tuple[int, Any]:
        return 200, self._page(rel, query, rows, self._linked(base))

    def _one(self, rows: list[dict[str, Any]], obj_id: str, base: str, what: str) -> tuple[int, Any]:
        for row in rows:
            if row["id"] == obj_id:
                return 200, self._linked(base)(row)
        raise ApiError(404, "not_found", f"{what} {obj_id} not found")

    def list_integrations(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.porg.lock:
            rows = views.all_integrations(self.porg)
        types = _values(query, "type")
        if types:
            rows = [r for r in rows if r["type"] in types]
        return self._small(rel, query, rows, "/integrations")

    def get_integration(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.porg.lock:
            return self._one(views.all_integrations(self.porg), params["id"], "/integrations", "integration")

    def list_scales(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        return self._small(rel, query, views.scales(self.porg), "/scales")

    def get_scale(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        return self._one(views.scales(self.porg), params["id"], "/scales", "scale")

    def list_system_status(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        return self._small(rel, query, views.system_status(), "/system-status")

    def get_system_status(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        return self._one(views.system_status(), params["id"], "/system-status", "system status")

    def get_preferences(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        return 200, {**views.preferences(self.porg), "_links": {"self": self.href("/preferences")}}

    def list_extra(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.porg.lock:
            rows = views.extra(self.porg)
        return self._small(rel, query, rows, f"/{self.cfg.extra_relation}")

    def get_extra(
        self, scope: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.porg.lock:
            rows = views.extra(self.porg)
        return self._one(rows, params["id"], f"/{self.cfg.extra_relation}", str(self.cfg.extra_relation))


def _int_param(query: dict[str, str], name: str, default: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or (high is not None and value > high):
        bound = f"from 1 to {high}" if high is not None else "of at least 1"
        raise ApiError(400, "bad_request", f"{name} must be an integer {bound}, not {raw!r}")
    return value


def _values(query: dict[str, str], name: str) -> set[str]:
    """A filter's values: repeatable filters also take a comma-separated list."""
    raw = query.get(name, "")
    return {v.strip() for v in raw.split(",") if v.strip()}
