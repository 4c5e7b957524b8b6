"""`pixee-etl serve`: starts in ephemeral mode, registers both schedules, stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.settings import REPO_ROOT


def test_serve_without_a_token_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PIXEE_TOKEN", raising=False)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "pixee-etl serve: PIXEE_TOKEN is not set; export it (it is never read from a flag)"
    ]


def _serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PIXEE_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),  # a throwaway server database
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",  # nor Prefect's client-side telemetry: tests stay on loopback
        PIXEE_TOKEN="pxo_serve-test-token",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def _start_serve(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    # A session of its own, as a terminal gives a foreground job: the Ctrl-C below goes to the
    # whole process group, as a terminal's does.
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", "--duckdb-path", str(tmp_path / "w.duckdb")],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _processes_using(path: Path) -> list[int]:
    """Processes (ours to see) whose environment names `path`: serve, its server, its flow runs."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if str(path).encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def _scheduled_runs(db: Path) -> int:
    """Deployments with at least one run in state Scheduled."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
            row = con.execute(
                "select count(distinct deployment_id) from flow_run where state_type = 'SCHEDULED'"
            ).fetchone()
    except sqlite3.Error:  # not migrated yet, or busy
        return 0
    return int(row[0]) if row else 0


# The first start of the local server migrates a new database: over a minute on a loaded 2-core
# machine, so the bounds are generous (they bound a hang, they time nothing).
@pytest.mark.timeout(900)
def test_serve_registers_the_schedules_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    process = _start_serve(tmp_path, _serve_env(tmp_path))
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    try:
        while not any("ready" in line for line in seen):
            seen.append(lines.get(timeout=420))
        # The server's scheduler creates the schedules' next runs (an ephemeral server never does).
        deadline = time.monotonic() + 180
        while _scheduled_runs(tmp_path / "prefect-home" / "prefect.db") < 2:
            assert process.poll() is None and time.monotonic() < deadline, "no run was ever scheduled"
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)  # the terminal's Ctrl-C
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    output = "".join(seen)
    assert "starting a local Prefect server" in output
    assert "against a local Prefect server at http://127.0.0.1:" in output
    assert "registered pixee-sync/duckdb-hourly-incremental: '0 * * * *' in UTC, next run " in output
    assert "registered pixee-sync/duckdb-weekly-full: '0 3 * * 0' in UTC, next run " in output
    assert "ready, serving 2 schedules" in output
    assert process.returncode == 0, stderr
    assert "pixee-etl serve: stopped; schedules paused until the next serve" in stderr
    assert "Traceback" not in stderr, stderr
    assert "pxo_serve-test-token" not in output + stderr
    # The server it started went with it (it runs in a session of its own, out of Ctrl-C's reach).
    assert _processes_using(tmp_path / "prefect-home") == []

    # The server's own database holds both deployments, their cron schedules, paused on shutdown.
    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as db:
        rows = db.execute(
            "select d.name, d.paused, s.schedule from deployment d "
            "join deployment_schedule s on s.deployment_id = d.id order by d.name"
        ).fetchall()
    assert [(name, paused) for name, paused, _ in rows] == [
        ("duckdb-hourly-incremental", 1),
        ("duckdb-weekly-full", 1),
    ]
    assert '"cron": "0 * * * *"' in rows[0][2] and '"timezone": "UTC"' in rows[0][2]


def test_a_server_that_does_not_start_in_time_is_one_line_and_leaves_nothing_running(tmp_path: Path) -> None:
    env = _serve_env(tmp_path, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1")
    process = _start_serve(tmp_path, env)
    try:
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 1
    log = tmp_path / "prefect-home" / "pixee-etl-server.log"
    assert err.strip().splitlines() == [
        f"pixee-etl serve: the local Prefect server did not answer within 1 s (log: {log}); "
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS raises that bound, "
        "or set PREFECT_API_URL to a running server"
    ]
    assert "ready" not in out
    assert _processes_using(tmp_path / "prefect-home") == []


@pytest.mark.timeout(900)
def test_serve_started_in_the_background_of_a_script_stops_on_sigint(tmp_path: Path) -> None:
    """`pixee-etl serve &` in a script: the shell starts it with SIGINT ignored; a `kill -INT` (a
    supervisor's, or the user's) still stops it the way Ctrl-C does, schedules paused."""
    command = f"{sys.executable} -m pipelines.cli serve --duckdb-path {tmp_path / 'w.duckdb'}"
    script = subprocess.Popen(
        ["bash", "-c", f'{command} & echo "serve pid $!"; wait $!; echo "serve exited $?" >&2'],
        cwd=REPO_ROOT,
        env=_serve_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in script.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    try:
        while not any("ready" in line for line in seen):
            seen.append(lines.get(timeout=420))
        pid = int(next(line for line in seen if line.startswith("serve pid ")).split()[-1])
        os.kill(pid, signal.SIGINT)
        _, stderr = script.communicate(timeout=120)
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.communicate()
    assert "serve exited 0" in stderr, stderr
    assert "pixee-etl serve: stopped; schedules paused until the next serve" in stderr
    assert _processes_using(tmp_path / "prefect-home") == []


@pytest.mark.timeout(900)
def test_receive_trigger_without_prefect_api_url_sends_to_the_server_serve_runs(tmp_path: Path) -> None:
    """serve leaves its local server's URL in PREFECT_HOME; `receive --trigger` without
    PREFECT_API_URL announces events there, where serve's deployment triggers listen."""
    import hashlib
    import hmac
    import json

    import httpx

    from pipelines.events.trigger import EVENT, SERVE_MARKER
    from tests.webhook_support import SECRET, ReceiverProcess, wait_for

    home = tmp_path / "prefect-home"
    process = _start_serve(tmp_path, _serve_env(tmp_path))
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    receiver = None
    try:
        while not any("ready" in line for line in seen):
            seen.append(lines.get(timeout=420))
        url = json.loads((home / SERVE_MARKER).read_text())["url"]
        assert f"a local Prefect server at {url}" in "".join(seen)
        receiver = ReceiverProcess(
            tmp_path / "events.sqlite",
            extra_args=["--trigger"],
            extra_env={"PREFECT_HOME": str(home), "DO_NOT_TRACK": "1"},
        )
        body = json.dumps(
            {
                "id": "evt_serve1",
                "type": "pr.merged",
                "created_at": "2026-11-30T10:00:00Z",
                "organization": "acme-corp",
                "repository": "backend-api",
                "data": {"repository_id": "repo_1"},
            }
        ).encode()
        signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        posted = httpx.post(receiver.url, content=body, headers={"x-pixee-signature": signature}, timeout=30)
        assert posted.status_code == 200

        def announced() -> bool:
            found = httpx.post(
                f"{url}/events/filter", json={"filter": {"event": {"name": [EVENT]}}, "limit": 10}, timeout=10
            )
            return found.status_code == 200 and bool(found.json()["events"])

        wait_for(announced, 120, "the event in serve's Prefect server")
        said = receiver.log.read_text()
        assert f"--trigger: Prefect events go to {url}" in said and "no Prefect server" not in said
    finally:
        if receiver is not None:
            receiver.stop()
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
    assert not (home / SERVE_MARKER).exists()  # serve took its marker with it
