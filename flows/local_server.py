"""The Prefect API server `pixee-etl serve` starts when no PREFECT_API_URL is set, in its own session.

Prefect's own ephemeral server is a child in serve's process group, so a terminal's Ctrl-C reaches
it too: it died before the runner could pause the schedules, and the runner then spent ~70 s
retrying against it and exited 1 with schedules left running. Its start-up bound (20 s) was also
shorter than a first start's database migrations on a loaded 2-core machine. This one is the
same app (Prefect's server, database in PREFECT_HOME), but:

- a full server (its scheduler creates the runs the schedules ask for), API only;
- in a session of its own, ignoring SIGINT and SIGTERM: what stops serve never stops the server
  under it; serve stops it (closing its stdin) once the schedules are paused;
- on a socket bound here (port 0) and handed over, so no port is guessed or raced for;
- its messages in a log file beside its database, not mixed into serve's output;
- waited for up to PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS if set, else 300 s;
- gone with serve however serve ends: stdin at EOF, or (Linux) the kernel's parent-death signal.

Run as `python -m flows.local_server FD PARENT_PID`, it is that server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.errors import ServerStartError

DEFAULT_STARTUP_SECONDS = 300.0
STOP_SECONDS = 30.0
# The API without the UI, and, unlike Prefect's ephemeral server, with its services: the
# scheduler among them, without which no scheduled run is ever created ("Cannot schedule flows on
# an ephemeral server", says Prefect's runner, and serve's schedules never fired).
SERVER_ENV = {"PREFECT_UI_ENABLED": "0"}
# A server serve starts for itself does not phone home unless the user asked it to.
SERVER_DEFAULTS = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def startup_seconds() -> float:
    raw = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "")
    try:
        return max(1.0, float(raw)) if raw else DEFAULT_STARTUP_SECONDS
    except ValueError:
        return DEFAULT_STARTUP_SECONDS


@contextlib.contextmanager
def local_server(log_path: Path) -> Iterator[str]:
    """Start the server (its messages appended to log_path), wait until its API answers, yield its
    API URL; stop it on the way out."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    # The server needs no secret of ours: PIXEE_* (the API token) stays out of its environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXEE_")}
    env = {**SERVER_DEFAULTS, **env, **SERVER_ENV}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with listener, open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.local_server", str(listener.fileno()), str(os.getpid())],
            pass_fds=(listener.fileno(),),
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    try:
        _wait_until_healthy(process, url, startup_seconds(), log_path)
        yield url
    finally:
        stop(process)


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = path.read_text(errors="replace").strip().splitlines()
        if lines:
            return f"; its last message: {lines[-1][:300]}"
    return ""


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, bound: float, log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + bound
    # The socket listens from the start, so a request waits in its backlog until the server
    # accepts; a short per-request timeout keeps checking that the process is still there.
    with httpx.Client(timeout=5.0) as client:
        while True:
            if process.poll() is not None:
                raise ServerStartError(
                    f"the local Prefect server exited with code {process.returncode} before it was ready "
                    f"(log: {log_path}){_last_line(log_path)}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{url}/health").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"the local Prefect server did not answer within {bound:.0f} s (log: {log_path}); "
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS raises that bound, "
                    "or set PREFECT_API_URL to a running server"
                )
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask the server to shut down (stdin at EOF), then kill its session if it has not within the bound."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _serve(fd: int, parent: int) -> None:
    """The server process: Prefect's API app under uvicorn on the socket it was handed."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # serve died before the line above
        return
    server: Any = None

    def stop_at_eof() -> None:
        sys.stdin.buffer.read()
        if server is None or not server.started:  # still starting: nothing to shut down cleanly
            os._exit(0)
        server.should_exit = True

    # First, so that a serve stopped while this server still imports or migrates is not kept
    # waiting for it.
    threading.Thread(target=stop_at_eof, name="stop-at-eof", daemon=True).start()

    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # serve decides when this server stops
            yield

    server = Server(
        uvicorn.Config("prefect.server.api.server:create_app", factory=True, log_level="error", lifespan="on")
    )
    server.run(sockets=[socket.socket(fileno=fd)])
    # Shut down (the database is closed); the interpreter's own teardown of the server's threads
    # took 7 s more on a loaded machine, and nothing is left for it to do.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
