"""Test helpers for webhooks: an ASGI app on a loopback thread, a capturing endpoint, the receiver process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

SECRET = "whsec_test_" + "5" * 24


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll `condition` until true; fail naming `what` after a generous bound (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Served:
    """An ASGI app served by uvicorn on 127.0.0.1 from a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, 15, "the test server to start")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/webhooks/pixee"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Capture:
    """Records every delivery (headers, raw body); answers `fail_first` attempts per event with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        event = json.loads(body)
        with self.lock:
            tries = sum(1 for s in self.seen if s["event"]["id"] == event["id"])
            self.seen.append({"headers": headers, "body": body, "event": event})
        status = 500 if tries < self.fail_first else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def events(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {s["event"]["id"]: s["event"] for s in self.seen}


class ReceiverProcess:
    """`pixee-etl receive` in its own process (so a test can SIGKILL it), on a free loopback port."""

    def __init__(
        self,
        journal: Path,
        *,
        secrets: tuple[str, ...] = (SECRET,),
        port: int | None = None,
        heartbeat_seconds: float = 30.0,
        extra_env: dict[str, str] | None = None,
        cwd: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.journal = journal
        self.port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIXEE_WEBHOOK_SECRET")}
        if secrets:
            env["PIXEE_WEBHOOK_SECRET"] = secrets[0]
        if len(secrets) > 1:
            env["PIXEE_WEBHOOK_SECRET_PREVIOUS"] = secrets[1]
        env.update(extra_env or {})
        self.log = journal.with_suffix(".log")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pipelines.cli",
                    "receive",
                    "--port",
                    str(self.port),
                    "--journal",
                    str(journal),
                    "--heartbeat-seconds",
                    str(heartbeat_seconds),
                    *(extra_args or []),
                ],
                env=env,
                stdout=out,
                cwd=cwd,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}/webhooks/pixee"
        wait_for(self._healthy, 60, "the receiver to answer /healthz")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the receiver exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
