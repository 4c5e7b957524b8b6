"""Headless Chromium (the OS package) driven over the DevTools protocol: open a page and record what a
person's browser would do with it: console errors, uncaught exceptions, every request it sends.

A small synchronous client over one loopback websocket (the `websockets` package Prefect already
brings), so the test needs no browser download and no Playwright driver matched to a Chromium build.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Root needs --no-sandbox; the rest keep Chromium from reaching out on its own (updates, sync,
# field trials) so that every request seen is one the page made.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-port=0",
)
START_TIMEOUT = 90.0  # a loaded 2-core CI box: Chromium's first start can take a while
CALL_TIMEOUT = 60.0


class BrowserError(RuntimeError):
    """Chromium did not start, a call failed, or an event did not come in time."""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        if path := shutil.which(name):
            return path
    return None


@dataclass
class Page:
    """One tab, attached with its own session; events are kept from the moment it was attached."""

    browser: Browser
    session: str
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, session=self)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.events.clear()
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"navigating to {url}: {result['errorText']}")
        self.browser.wait_for(self, "Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:60]}...: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (CSP violations are these)."""
        found = []
        for method, params in self.events:
            if method == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(str(params["entry"].get("text")))
        return found

    def requests(self) -> list[str]:
        """The URL of every request the page sent, the document itself included."""
        return [p["request"]["url"] for m, p in self.events if m == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, width: int = 1280) -> Path:
        """The whole page, top to bottom, as a PNG."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": width, "height": int(size["height"]) + 1, "scale": 1}
        shot = self.call(
            "Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def print_pdf(self) -> bytes:
        result = self.call(
            "Page.printToPDF", {"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": True}
        )
        return base64.b64decode(result["data"])


class Browser:
    """A Chromium process with a fresh profile and its DevTools websocket."""

    def __init__(self, executable: str, workdir: Path) -> None:
        self.profile = workdir / "chromium-profile"
        self.profile.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "chromium.log"
        self._ids = itertools.count(1)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        try:
            self.ws = connect(self._endpoint(), max_size=None, open_timeout=CALL_TIMEOUT)
        except BaseException:
            self.close()
            raise
        self._pages: dict[str, Page] = {}

    def _endpoint(self) -> str:
        """Chromium writes its port and browser path to DevToolsActivePort once it listens."""
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}: {self._log_tail()}")
            lines = marker.read_text().splitlines() if marker.exists() else []
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
            time.sleep(0.1)
        raise BrowserError(
            f"chromium did not open its DevTools port in {START_TIMEOUT:.0f} s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-600:] if self.log.exists() else ""

    def _dispatch(self, message: dict[str, Any]) -> None:
        page = self._pages.get(message.get("sessionId", ""))
        if page is not None and "method" in message:
            page.events.append((message["method"], message.get("params", {})))

    def _receive(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return json.loads(self.ws.recv(timeout=remaining))

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: Page | None = None) -> Any:
        call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            try:
                reply = self._receive(deadline)
            except TimeoutError:
                raise BrowserError(f"{method}: no answer in {CALL_TIMEOUT:.0f} s") from None
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._dispatch(reply)

    def wait_for(self, page: Page, method: str) -> dict[str, Any]:
        """Until `method` arrives for the page (or was already recorded since it was last cleared)."""
        for seen, params in page.events:
            if seen == method:
                return params
        deadline = time.monotonic() + CALL_TIMEOUT
        while True:
            try:
                message = self._receive(deadline)
            except TimeoutError:
                raise BrowserError(f"no {method} in {CALL_TIMEOUT:.0f} s") from None
            self._dispatch(message)
            if message.get("method") == method and message.get("sessionId") == page.session:
                return message.get("params", {})

    def new_page(self) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self._pages[session] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        return page

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            with suppress(Exception):
                self.call("Browser.close")
            ws.close()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)
        # Renderer and zygote children share the group this process leads; none may outlive the test.
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)


@contextmanager
def chromium(workdir: Path) -> Iterator[Browser]:
    """A started browser, closed (its whole process group) at the end."""
    executable = find_chromium()
    if executable is None:
        raise BrowserError("no Chromium on PATH: `apt-get install chromium` (.ci/run does it)")
    browser = Browser(executable, workdir)
    try:
        yield browser
    finally:
        browser.close()
