"""The ASGI application: auth, faults, rate limit, latency, routing and the two page envelopes.

A plain ASGI callable (Starlette's Request/Response would hide the raw `send` that the
connection-reset and truncated-body faults need); uvicorn serves it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable
from email.utils import format_datetime
from random import Random
from typing import Any
from urllib.parse import parse_qsl, urlencode

from simulator import details, sarif
from simulator.config import SimConfig
from simulator.model import Repo
from simulator.org import Org
from simulator.ratelimit import RateLimiter
from simulator.timeutil import ceil_ms, from_ms, parse_iso_us

PREFIX = "/api/v1"
MAX_BODY = 1024 * 1024
FAULTS = (
    "http_500",
    "http_503_html",
    "http_401",
    "http_403",
    "http_404",
    "truncated_json",
    "non_json_200",
    "missing_data",
    "reset",
)
GATEWAY_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
HTML_200 = b"<!DOCTYPE html><html><head><title>Pixee</title></head><body>Sign in to continue</body></html>"
LIST_KINDS = {"scans", "findings", "fixes"}
INCREMENTAL = {"repositories", "scans", "findings", "fixes"}

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class SimulatedReset(Exception):
    """Raised after half a body is sent: uvicorn then drops the connection, as a reset would."""


class Faults:
    """Faults queued by inject(): the next `count` requests under a path prefix get them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue: list[list[Any]] = []

    def add(self, fault: str, path_prefix: str, count: int) -> None:
        if fault not in FAULTS and not fault.startswith("retry_after:"):
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}, retry_after:<seconds>")
        if fault.startswith("retry_after:"):
            int(fault.split(":", 1)[1])  # ValueError when the seconds are not a whole number
        if count < 1:
            raise ValueError("count must be at least 1")
        with self.lock:
            self.queue.append([fault, path_prefix, count])

    def take(self, rel_path: str) -> str | None:
        with self.lock:
            for item in self.queue:
                if rel_path.startswith(item[1]):
                    item[2] -= 1
                    if item[2] <= 0:
                        self.queue.remove(item)
                    return str(item[0])
        return None


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.by_route: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            self.total = 0
            self.rate_limited = 0
            self.in_flight = 0
            self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def leave(self, route: str, status: int) -> None:
        with self.lock:
            self.in_flight -= 1
            self.total += 1
            self.by_route[route][str(status)] += 1
            if status == 429:
                self.rate_limited += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests_total": self.total,
                "by_route": {r: dict(s) for r, s in sorted(self.by_route.items())},
                "rate_limited": self.rate_limited,
                "peak_concurrent": self.peak,
                "in_flight": self.in_flight,
            }


def _cursor_check(updated_ms: int, obj_id: str) -> str:
    # A short keyed digest so an edited or invented cursor is refused, not silently obeyed.
    return hashlib.blake2b(f"{updated_ms}|{obj_id}".encode(), key=b"pixee-sim", digest_size=6).hexdigest()


def encode_cursor(key: tuple[int, str]) -> str:
    raw = json.dumps([key[0], key[1], _cursor_check(*key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    invalid = ApiError(400, "invalid_cursor", "cursor is not one this server issued")
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(value, list) or len(value) != 3 or type(value[0]) is not int:
        raise invalid
    if not isinstance(value[1], str) or value[2] != _cursor_check(value[0], value[1]):
        raise invalid
    return value[0], value[1]


class SimApp:
    """The Pixee API v1 over one Org, plus the /_sim control routes."""

    serves_openapi = True

    def __init__(self, org: Org, cfg: SimConfig, org_token: str, repo_tokens: dict[str, str]) -> None:
        self.org = org
        self.cfg = cfg
        self.org_token = org_token
        self.token_scope: dict[str, str | None] = {org_token: None}
        self.token_scope.update({tok: repo_id for repo_id, tok in repo_tokens.items()})
        self.limiter = RateLimiter(cfg.requests_per_minute, cfg.burst)
        self.faults = Faults()
        self.stats = Stats()
        self.latency_rng = Random(f"{cfg.seed}/latency")
        self.error_rng = Random(f"{cfg.seed}/errors")
        self.request_counter = 0
        self.control: Callable[[str, str, dict[str, Any], dict[str, str]], Any] | None = None
        self.on_webhook_created: Callable[[Any], None] | None = None  # pings the new URL

    # -- ASGI -------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        self.request_counter += 1
        rid = f"req_{(self.request_counter * 2654435761) & 0xFFFFFFFF:08x}"
        path: str = scope["path"]
        method: str = scope["method"]
        if self.serves_openapi and path in ("/openapi.json", PREFIX + "/openapi.json"):
            from simulator.openapi import openapi_document

            await self._send_json(send, 200, openapi_document(), rid)
            return
        in_api = path == PREFIX or path.startswith(PREFIX + "/")
        rel = path[len(PREFIX) :] if in_api else path
        if rel.startswith("/_sim/"):
            await self._control(scope, receive, send, method, rel, rid)
            return
        route, params = self._match(method, rel) if in_api else (None, {})
        route_name = route[0] if route else f"{method} <unmatched>"
        self.stats.enter()
        counted = False

        async def counted_send(message: dict[str, Any]) -> None:
            # Count before the response leaves: a client that reads stats() right after its
            # response must find its request there.
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                counted = True
                self.stats.leave(route_name, message["status"])
            await send(message)

        try:
            await self._api(scope, receive, counted_send, method, rel, route, params, rid)
        finally:
            if not counted:
                self.stats.leave(route_name, 500)

    async def _api(
        self,
        scope: dict[str, Any],
        receive: Receive,
        send: Send,
        method: str,
        rel: str,
        route: tuple[str, Callable[..., Any]] | None,
        params: dict[str, str],
        rid: str,
    ) -> int:
        try:
            token = self._token(scope)
            if route is None:
                raise ApiError(404, "not_found", f"no route for {method} {PREFIX}{rel}")
            fault = self.faults.take(rel)
            if fault and not fault.startswith(("truncated_json", "non_json_200", "missing_data", "reset")):
                return await self._fault(send, fault, rid, rel)
            wait = self.limiter.take(token)
            if wait:
                raise ApiError(
                    429,
                    "rate_limited",
                    f"rate limit exceeded; retry after {wait} s",
                    {"retry-after": str(wait)},
                )
            if self.cfg.error_rate and self.error_rng.random() < self.cfg.error_rate:
                return await self._fault(
                    send, "http_500" if self.error_rng.random() < 0.5 else "http_503_html", rid, rel
                )
            if self.cfg.latency_ms:
                await asyncio.sleep(self.cfg.latency_ms * self.latency_rng.uniform(0.5, 1.5) / 1000.0)
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
            body = b""
            if method in ("POST", "PATCH", "PUT"):
                limit = sarif.MAX_BYTES if rel.endswith("/sarif") else MAX_BODY
                body = await self._read_body(scope, receive, limit)
            status, payload = route[1](self.token_scope[token], params, query, body, rel)
            if fault:
                return await self._shaped_fault(send, fault, status, payload, rid)
            if status == 204:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"x-request-id", rid.encode()), self._date()],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return 204
            await self._send_json(send, status, payload, rid)
            return status
        except ApiError as exc:
            await self._send_error(send, exc, rid, rel)
            return exc.status

    def _token(self, scope: dict[str, Any]) -> str:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                token = token.strip()
                if scheme.lower() == "bearer" and token in self.token_scope:
                    return token
                break
        raise ApiError(401, "unauthorized", "missing or invalid bearer token")

    async def _read_body(self, scope: dict[str, Any], receive: Receive, limit: int) -> bytes:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise ApiError(413, "payload_too_large", f"request body is over {limit // (1024 * 1024)} MB")
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", f"request body is over {limit // (1024 * 1024)} MB")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _send_json(
        self, send: Send, status: int, obj: Any, rid: str, headers: dict[str, str] | None = None
    ) -> None:
        await self._send_raw(
            send, status, json.dumps(obj, separators=(",", ":")).encode(), "application/json", rid, headers
        )

    async def _send_raw(
        self,
        send: Send,
        status: int,
        body: bytes,
        content_type: str,
        rid: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        raw_headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", rid.encode()),
            self._date(),
        ]
        raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})

    def _date(self) -> tuple[bytes, bytes]:
        """The Date header on the simulated clock (uvicorn's own would tell the real time)."""
        return b"date", format_datetime(from_ms(self.org.now), usegmt=True).encode()

    async def _send_error(self, send: Send, exc: ApiError, rid: str, rel: str = "") -> None:
        """An error in this API's shape (the platform flavour answers problem+json instead)."""
        body_obj = {"error": {"code": exc.code, "message": exc.message, "request_id": rid}}
        await self._send_json(send, exc.status, body_obj, rid, exc.headers)

    async def _fault(self, send: Send, fault: str, rid: str, rel: str = "") -> int:
        if fault == "http_503_html":
            await self._send_raw(send, 503, GATEWAY_503, "text/html", rid)
            return 503
        status, code, headers = {
            "http_500": (500, "internal_error", {}),
            "http_401": (401, "unauthorized", {}),
            "http_403": (403, "forbidden", {}),
            "http_404": (404, "not_found", {}),  # a transient one: a proxy, a replica behind
        }.get(fault, (429, "rate_limited", {"retry-after": fault.partition(":")[2]}))
        message = {
            500: "internal error",
            401: "token expired",
            403: "forbidden",
            404: "not found",
            429: "rate limit exceeded",
        }
        await self._send_error(send, ApiError(status, code, message[status], headers), rid, rel)
        return status

    async def _shaped_fault(self, send: Send, fault: str, status: int, payload: Any, rid: str) -> int:
        body = json.dumps(payload, separators=(",", ":")).encode()
        if fault == "truncated_json":
            await self._send_raw(send, 200, body[: max(1, len(body) // 2)], "application/json", rid)
        elif fault == "non_json_200":
            await self._send_raw(send, 200, HTML_200, "text/html", rid)
        elif fault == "missing_data":
            if isinstance(payload, dict):
                payload = {k: v for k, v in payload.items() if k not in ("data", "_embedded")}
            await self._send_json(send, 200, payload, rid)
        else:  # reset: promise the whole body, send half, then drop the connection
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", rid.encode()),
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise SimulatedReset(rid)
        return 200

    # -- routing ----------------------------------------------------------------------------------

    def _match(self, method: str, rel: str) -> tuple[tuple[str, Callable[..., Any]] | None, dict[str, str]]:
        parts = [p for p in rel.split("/") if p]
        n = len(parts)
        head = parts[0] if parts else ""
        route: tuple[str, Callable[..., Any]] | None = None
        params: dict[str, str] = {}
        if head == "repositories":
            if n == 1 and method == "GET":
                route = ("GET /repositories", self.list_repositories)
            elif n == 2:
                params["id"] = parts[1]
                if method == "GET":
                    route = ("GET /repositories/{id}", self.get_repository)
                elif method == "PATCH":
                    route = ("PATCH /repositories/{id}", self.patch_repository)
            elif n == 3:
                params["id"] = parts[1]
                sub = parts[2]
                if sub in LIST_KINDS and method == "GET":
                    params["kind"] = sub
                    route = (f"GET /repositories/{{id}}/{sub}", self.list_children)
                elif sub == "scans" and method == "POST":
                    route = ("POST /repositories/{id}/scans", self.post_scan)
                elif sub == "sarif" and method == "POST":
                    route = ("POST /repositories/{id}/sarif", self.post_sarif)
        elif head in ("fixes", "findings") and n == 2 and method == "GET":
            params["id"] = parts[1]
            route = (f"GET /{head}/{{id}}", self.get_fix if head == "fixes" else self.get_finding)
        elif head == "webhooks":
            if n == 1 and method == "GET":
                route = ("GET /webhooks", self.list_webhooks)
            elif n == 1 and method == "POST":
                route = ("POST /webhooks", self.post_webhook)
            elif n == 2 and method == "DELETE":
                params["id"] = parts[1]
                route = ("DELETE /webhooks/{id}", self.delete_webhook)
        return route, params

    # -- handlers: (scope repo id or None, path params, query, body, rel path) -> (status, payload)

    def _repo(self, scope_repo: str | None, repo_id: str) -> Repo:
        if scope_repo is not None and repo_id != scope_repo:
            raise ApiError(403, "forbidden", "this token is scoped to another repository")
        repo = self.org.get("repositories", repo_id)
        if repo is None:
            raise ApiError(404, "not_found", f"repository {repo_id} not found")
        return repo  # type: ignore[return-value]

    def _list(
        self, kind: str, repo_id: str | None, scope_repo: str | None, query: dict[str, str], rel: str
    ) -> dict[str, Any]:
        raw_limit = query.get("limit", query.get("page-size", "25"))
        try:
            limit = int(raw_limit)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise ApiError(400, "bad_request", f"limit must be an integer from 1 to 100, not {raw_limit!r}")
        after = decode_cursor(query["cursor"]) if query.get("cursor") else None
        since_ms = None
        if "updated_since" in query and kind in INCREMENTAL and not self.cfg.ignore_updated_since:
            try:
                since_ms = ceil_ms(parse_iso_us(query["updated_since"]))
            except ValueError:
                raise ApiError(
                    400,
                    "bad_request",
                    f"updated_since {query['updated_since']!r} is not an ISO 8601 UTC timestamp",
                ) from None
        org = self.org
        with org.lock:
            if kind == "repositories" and scope_repo is not None:
                from simulator.org import Index

                index = Index()
                rec = org.get("repositories", scope_repo)
                if rec is not None:
                    index.keys = [(rec.ukey, rec.id)]  # type: ignore[list-item]
            else:
                if repo_id is not None:
                    self._repo(scope_repo, repo_id)
                index = org.index_for(kind, repo_id)  # type: ignore[assignment]
                if index is None:
                    raise ApiError(404, "not_found", f"repository {repo_id} not found")
            items, last, has_more, total = org.page(kind, index, after, since_ms, limit)
        next_cursor = encode_cursor(last) if has_more and last is not None else None
        if self.cfg.envelope == "hal":
            try:
                page = max(1, int(query.get("page-number", "1")))
            except ValueError:
                page = 1
            links: dict[str, Any] = {
                "self": {"href": PREFIX + rel + ("?" + urlencode(query) if query else "")}
            }
            if next_cursor:
                nxt = {k: v for k, v in query.items() if k not in ("cursor", "page-number")}
                nxt.update({"cursor": next_cursor, "page-number": str(page + 1)})
                links["next"] = {"href": f"{PREFIX}{rel}?{urlencode(nxt)}"}
            return {"_embedded": {"items": items}, "_links": links, "page": page, "total": total}
        return {"data": items, "pagination": {"next_cursor": next_cursor, "has_more": has_more}}

    def list_repositories(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        return 200, self._list("repositories", None, scope_repo, query, rel)

    def list_children(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        return 200, self._list(params["kind"], params["id"], scope_repo, query, rel)

    def list_webhooks(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        self._org_only(scope_repo)
        return 200, self._list("webhooks", None, None, query, rel)

    def _org_only(self, scope_repo: str | None) -> None:
        if scope_repo is not None:
            raise ApiError(
                403, "forbidden", "webhooks are an organisation resource; use an organisation token"
            )

    def get_repository(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        with self.org.lock:
            return 200, self.org.view("repositories", self._repo(scope_repo, params["id"]))

    def patch_repository(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        self._repo(scope_repo, params["id"])
        changes = _json_object(body)
        allowed = {"name": str, "default_branch": str, "enabled": bool, "settings": dict}
        for key, value in changes.items():
            if key not in allowed:
                raise ApiError(
                    400, "bad_request", f"field {key!r} cannot be changed; changeable: {', '.join(allowed)}"
                )
            if type(value) is not allowed[key]:
                raise ApiError(400, "bad_request", f"field {key!r} must be a {_kind_name(allowed[key])}")
        settings_types = {"auto_fix": bool, "triage": bool, "max_open_prs": int}
        for key, value in (changes.get("settings") or {}).items():
            if key not in settings_types or type(value) is not settings_types[key]:
                raise ApiError(400, "bad_request", f"settings.{key} is not a setting, or has the wrong type")
        return 200, self.org.update("repositories", params["id"], **changes)

    def post_scan(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        repo = self._repo(scope_repo, params["id"])
        changes = _json_object(body) if body.strip() else {}
        tool = changes.get("detection_tool")
        if tool is not None and tool not in repo.tools:
            raise ApiError(
                400,
                "bad_request",
                f"detection_tool must be one of this repository's tools: {', '.join(repo.tools)}",
            )
        scan = self.org.start_scan(repo.id, trigger="api", tool=tool)
        with self.org.lock:
            return 202, self.org.view("scans", scan)

    def post_sarif(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        repo = self._repo(scope_repo, params["id"])
        try:
            tool, specs = sarif.parse(body, repo.language)
        except sarif.SarifError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        scan = self.org.start_scan(repo.id, trigger="sarif_upload", specs=specs, tool=tool)
        return 202, {"scan_id": scan.id}

    def get_fix(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        org = self.org
        with org.lock:
            fix = org.get("fixes", params["id"])
            if fix is None:
                raise ApiError(404, "not_found", f"fix {params['id']} not found")
            self._repo(scope_repo, fix.repo)  # type: ignore[attr-defined]
            return 200, fix_detail_view(org, fix)

    def get_finding(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        org = self.org
        with org.lock:
            finding = org.get("findings", params["id"])
            if finding is None:
                raise ApiError(404, "not_found", f"finding {params['id']} not found")
            self._repo(scope_repo, finding.repo)  # type: ignore[attr-defined]
            return 200, finding_detail_view(org, finding)

    def post_webhook(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        self._org_only(scope_repo)
        spec = _json_object(body)
        url = spec.get("url")
        from simulator.webhooks import loopback_url

        # Plain http only on loopback, the rule the connector follows for its own base URL.
        if not isinstance(url, str) or not (
            (url.startswith("https://") and len(url) > len("https://"))
            or (url.startswith("http://") and loopback_url(url))
        ):
            raise ApiError(400, "bad_request", "url must be an https:// URL (http:// only on loopback)")
        events = spec.get("events", ["*"])
        from simulator.catalog import WEBHOOK_EVENTS

        if (
            not isinstance(events, list)
            or not events
            or any(e != "*" and e not in WEBHOOK_EVENTS for e in events)
        ):
            raise ApiError(
                400, "bad_request", f'events must be a non-empty list of {", ".join(WEBHOOK_EVENTS)} or "*"'
            )
        active = spec.get("active", True)
        secret = spec.get("secret")
        if not isinstance(active, bool) or (secret is not None and not isinstance(secret, str)):
            raise ApiError(400, "bad_request", "active must be a boolean and secret a string")
        hook = self.org.add_webhook(url, events, active, secret)
        with self.org.lock:
            created = self.org.view("webhooks", hook)
        if self.on_webhook_created is not None:
            self.on_webhook_created(hook)
        # The only answer that ever carries the secret (api-contract "Subscriptions").
        return 201, {**created, "secret": hook.secret}

    def delete_webhook(
        self, scope_repo: str | None, params: dict[str, str], query: dict[str, str], body: bytes, rel: str
    ) -> tuple[int, Any]:
        self._org_only(scope_repo)
        if not self.org.delete_webhook(params["id"]):
            raise ApiError(404, "not_found", f"webhook {params['id']} not found")
        return 204, None

    # -- control plane ----------------------------------------------------------------------------

    async def _control(
        self, scope: dict[str, Any], receive: Receive, send: Send, method: str, rel: str, rid: str
    ) -> None:
        try:
            token = self._token(scope)
            if self.token_scope[token] is not None:
                raise ApiError(403, "forbidden", "control routes need the organisation token")
            body = (
                await self._read_body(scope, receive, MAX_BODY) if method in ("POST", "PUT", "PATCH") else b""
            )
            spec = _json_object(body) if body.strip() else {}
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if self.control is None:
                raise ApiError(404, "not_found", "no control plane")
            try:
                result = self.control(method, rel, spec, query)
            except (KeyError, ValueError, TypeError) as exc:
                raise ApiError(400, "bad_request", str(exc).strip("'\"")) from None
            if result is None:
                raise ApiError(404, "not_found", f"no control route {method} {rel}")
            await self._send_json(send, 200, result, rid)
        except ApiError as exc:
            await self._send_error(send, exc, rid, rel)


def fix_detail_view(org: Org, fix: Any) -> dict[str, Any]:
    obj = org.view("fixes", fix)
    paths: list[str] = []
    for fid in fix.finding_ids:
        finding = org.records["findings"].get(fid)
        if finding is not None and finding.path not in paths:  # type: ignore[attr-defined]
            paths.append(finding.path)  # type: ignore[attr-defined]
    obj.update(details.fix_detail(org.seed, fix, paths))
    return obj


def finding_detail_view(org: Org, finding: Any) -> dict[str, Any]:
    obj = org.view("findings", finding)
    obj.update(details.finding_detail(org.seed, finding, obj.get("classification")))
    return obj


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body) if body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "bad_request", "request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "bad_request", "request body must be a JSON object")
    return value


def _kind_name(kind: type) -> str:
    return {str: "string", bool: "boolean", dict: "object", int: "integer"}[kind]
