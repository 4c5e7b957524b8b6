"""A tampering proxy on loopback in front of the simulator: a hostile test rewrites what some
requests get (a looping cursor, a trickling body, a poisoned record) and passes the rest through,
so the simulator's truth still says what the warehouse must hold."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import duckdb

from pipelines.settings import Settings
from tests.test_faults import loaded_repositories

__all__ = [
    "HostileProxy",
    "Proxied",
    "Reply",
    "Upstream",
    "busiest",
    "loaded_repositories",
    "one_line",
    "rejected_rows",
]


@dataclass
class Upstream:
    """What the simulator answered to the request being tampered with."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """What the proxy sends instead. `byte_delay` trickles the body one byte at a time,
    `header_delay` the status line and headers too; `raw_headers` replace the usual ones."""

    status: int = 200
    body: bytes | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    byte_delay: float = 0.0
    header_delay: float = 0.0

    def payload(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


# (path without /api/v1, query string, upstream answer) -> a Reply, or None to pass it through
Tamper = Callable[[str, str, Upstream], Reply | None]


class HostileProxy:
    """`start()` returns its base URL; `tamper` is swapped per test; `seen` lists every request."""

    def __init__(self, upstream_base_url: str | None = None) -> None:
        """In front of the simulator at `upstream_base_url`, or, without one, a scripted server:
        `tamper` answers everything (what it passes through is a 404)."""
        parts = urlsplit(upstream_base_url or "http://127.0.0.1/api/v1")
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80) if upstream_base_url else None
        self.prefix = parts.path  # /api/v1
        self.tamper: Tamper | None = None
        self.seen: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="hostile-proxy", daemon=True
        )

    def start(self) -> str:
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def requests_to(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.seen if p == path)

    # -- serving ------------------------------------------------------------------------------

    def _fetch(self, handler: BaseHTTPRequestHandler) -> Upstream:
        if self.upstream is None:
            error = {"error": {"code": "not_found", "message": "no such path", "request_id": "req_00000000"}}
            return Upstream(404, {"content-type": "application/json"}, json.dumps(error).encode())
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() in ("authorization", "accept")}
            conn.request("GET", handler.path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            return Upstream(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        finally:
            conn.close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = parts.path[len(self.prefix) :] if parts.path.startswith(self.prefix) else parts.path
        with self._lock:
            self.seen.append((path, parts.query))
        upstream = self._fetch(handler)
        reply = self.tamper(path, parts.query, upstream) if self.tamper else None
        if reply is None:
            reply = Reply(upstream.status, upstream.body, _passed_headers(upstream.headers))
        self._send(handler, reply)

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        body = reply.payload()
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "close",  # one connection per request: a trickle never leaks into the next
            **reply.headers,
        }
        head = f"HTTP/1.1 {reply.status} {http.client.responses.get(reply.status, 'Status')}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        handler.close_connection = True
        try:
            self._write(handler, head.encode("latin-1"), reply.header_delay)
            self._write(handler, body, reply.byte_delay)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up: what a trickle test wants

    def _write(self, handler: BaseHTTPRequestHandler, data: bytes, delay: float) -> None:
        if not delay:
            handler.wfile.write(data)
            handler.wfile.flush()
            return
        for i in range(len(data)):
            if self.stopping.is_set():
                return
            handler.wfile.write(data[i : i + 1])
            handler.wfile.flush()
            time.sleep(delay)


def _passed_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k in ("content-type", "retry-after", "x-request-id")}


def page_json(upstream: Upstream) -> dict[str, Any]:
    body = upstream.json()
    assert isinstance(body, dict)
    return body


def rejected_rows(db: Any) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("select * from pixee.rejected_records order by table_name, reason")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def one_line(message: str) -> bool:
    return "\n" not in message.strip() and "Traceback" not in message and len(message) < 600


def busiest(truth: dict[str, Any], kind: str = "findings") -> str:
    """The repository with the most `kind` rows: a list failing there costs something to lose
    (a simulated repository may have no findings at all)."""
    counts: dict[str, int] = {}
    for row in truth[kind]:
        counts[row["repository_id"]] = counts.get(row["repository_id"], 0) + 1
    return max(sorted(counts), key=lambda r: counts[r])


@dataclass
class Proxied:
    """A simulator behind a tampering proxy, and the settings that sync through the proxy."""

    sim: Any
    server: HostileProxy
    make_settings: Callable[..., Settings]

    def settings(self, **overrides: Any) -> Settings:
        return self.make_settings(self.sim, base_url=self.server.base_url, **overrides)  # type: ignore[attr-defined]
