"""The README's first screen takes a newcomer to a run against the simulator with events: the
quick start is there, and its commands, run as written (ports aside), end in a `mode: events` run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from pipelines.settings import REPO_ROOT
from tests.webhook_support import free_port, wait_for

README = (REPO_ROOT / "README.md").read_text()
FIRST_SCREEN = 50  # lines a newcomer sees before scrolling far
HEADING = "**Try it as a deployment, without an account**"


def quickstart() -> tuple[list[str], int]:
    """The quick start's commands (comments dropped) and the README line its block ends on."""
    start = README.index(HEADING)
    block = re.search(r"```sh\n(.*?)```", README[start:], re.S)
    assert block is not None, "the quick start has no sh block"
    end_line = README[: start + block.end()].count("\n") + 1
    commands = []
    for line in block.group(1).splitlines():
        # a comment starts at a '#' preceded by blanks, outside the quoted printf argument
        command = re.split(r"\s{2,}#|^#", line, maxsplit=1)[0].strip()
        if command:
            commands.append(command)
    return commands, end_line


def test_the_quick_start_is_on_the_first_screen_and_names_how_time_moves() -> None:
    commands, end_line = quickstart()
    assert end_line <= FIRST_SCREEN, f"the quick start ends on README line {end_line}"
    text = "\n".join(commands)
    for needed in ("simulate", "webhooks register", "receive", "enabled = true", "/_sim/advance", "run"):
        assert needed in text, needed


@pytest.mark.timeout(600)
def test_the_quick_start_runs_as_written_to_an_events_run(tmp_path: Path) -> None:
    commands, _ = quickstart()
    api_port, receiver_port = free_port(), free_port()
    commands = [
        c.replace("bin/pixee-etl", str(REPO_ROOT / "bin" / "pixee-etl"))
        .replace("8700", str(api_port))
        .replace("8787", str(receiver_port))
        for c in commands
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXEE_", "PREFECT_API"))}
    env.update(DLT_DATA_DIR=str(tmp_path / "dlt"), PYTHONUNBUFFERED="1")
    simulate, export, *rest = commands
    assert simulate.endswith(f"simulate --port {api_port}") and export.startswith("export PIXEE_BASE_URL=")
    started: list[subprocess.Popen[str]] = []
    try:
        # terminal 1
        sim = subprocess.Popen(
            simulate.split(),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(sim)
        printed: dict[str, str] = {}
        while "PIXEE_TOKEN" not in printed:
            line = sim.stdout.readline()  # type: ignore[union-attr]
            assert line, "the simulator ended before printing its token"
            if line.startswith("PIXEE_"):
                key, value = line.strip().split("=", 1)
                printed[key] = value
        # terminal 2: the export names the URL it printed; the token is the one it printed
        assert f"PIXEE_BASE_URL={printed['PIXEE_BASE_URL']} " in export + " "
        env.update(printed)
        outputs = []
        receiver_health = f"http://127.0.0.1:{receiver_port}/healthz"
        for command in rest:
            if command.endswith("&"):
                started.append(subprocess.Popen(["bash", "-c", command.rstrip("& ")], cwd=tmp_path, env=env))
                wait_for(lambda: _answers(receiver_health), 60, "the receiver")
                continue
            done = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, (command, done.stderr[-2000:])
            outputs.append((command, done.stdout + done.stderr))
            if "/_sim/advance" in command:
                wait_for(lambda: _delivered(printed), 120, "the simulator's webhook deliveries")
        first_run, second_run = [out for command, out in outputs if " run --profile" in command]
        assert "mode: poll" in first_run
        assert re.search(r"mode: events \(\d+ events since the last run", second_run), second_run[-2000:]
        assert list(tmp_path.glob("pixee-report-*.html"))
    finally:
        for process in reversed(started):
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _delivered(printed: dict[str, str]) -> bool:
    seen = httpx.get(
        f"{printed['PIXEE_BASE_URL']}/_sim/deliveries",
        headers={"Authorization": f"Bearer {printed['PIXEE_TOKEN']}"},
        timeout=10,
    ).json()
    return seen["delivered"] > 1 and seen["pending"] == 0


def test_simulate_help_says_how_to_move_time(capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main

    with pytest.raises(SystemExit) as done:
        main(["simulate", "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert "POST" in shown and '"$PIXEE_BASE_URL/_sim/advance"' in shown and '{"hours": 24}' in shown
