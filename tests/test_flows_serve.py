"""`pixee-etl serve`: starts in ephemeral mode, registers both schedules, stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
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


@pytest.mark.timeout(180)
def test_serve_registers_the_schedules_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PIXEE_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),  # a throwaway ephemeral server database
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PIXEE_TOKEN="pxo_serve-test-token",
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", "--duckdb-path", str(tmp_path / "w.duckdb")],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    try:
        while not any("ready" in line for line in seen):
            seen.append(lines.get(timeout=120))
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(seen)
    assert "against Prefect's ephemeral mode" in output
    assert "registered pixee-sync/duckdb-hourly-incremental: '0 * * * *' in UTC, next run " in output
    assert "registered pixee-sync/duckdb-weekly-full: '0 3 * * 0' in UTC, next run " in output
    assert "ready, serving 2 schedules" in output
    assert process.returncode in (0, 130)
    assert "pixee-etl serve: stopped; schedules paused until the next serve" in stderr
    assert "Traceback" not in stderr.split("Pausing all deployments")[-1]
    assert "pxo_serve-test-token" not in output + stderr

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
