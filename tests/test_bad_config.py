"""Bad configuration: one line naming the problem, exit code 2, and nothing written anywhere."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines import cli
from pipelines.settings import DEFAULT_PROFILES_DIR
from tests.faults_support import REPO_ROOT, etl_env

GOOD_URL = "http://127.0.0.1:9/api/v1"  # never contacted: every case fails before a request


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory, dlt data dir and home of our own, so 'nothing written' can be checked."""
    world = tmp_path / "world"
    world.mkdir()
    for key in list(os.environ):
        if key.startswith("PIXEE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(world)
    monkeypatch.setenv("DLT_DATA_DIR", str(world / "dlt"))
    monkeypatch.setenv("HOME", str(world))
    monkeypatch.setenv("XDG_CACHE_HOME", str(world / "cache"))
    monkeypatch.setenv("PIXEE_BASE_URL", GOOD_URL)
    monkeypatch.setenv("PIXEE_TOKEN", "pxo_bad_config_token")
    return world


def _profiles(world: Path, text: str) -> Path:
    directory = world.parent / "profiles"
    directory.mkdir(exist_ok=True)
    (directory / "duckdb.toml").write_text(text)
    return directory


# (id, environment changes, extra argv, what the line must name). `{w}` is the world directory.
CASES: list[tuple[str, dict[str, str | None], list[str], str]] = [
    ("missing-token", {"PIXEE_TOKEN": None}, [], "PIXEE_TOKEN is not set"),
    ("empty-token", {"PIXEE_TOKEN": ""}, [], "PIXEE_TOKEN is not set"),
    ("malformed-url", {"PIXEE_BASE_URL": "app.pixee.ai/api/v1"}, [], "PIXEE_BASE_URL 'app.pixee.ai/api/v1'"),
    ("plain-http", {"PIXEE_BASE_URL": "http://app.pixee.ai/api/v1"}, [], "HTTPS is required"),
    ("unknown-profile", {}, ["--profile", "nosuch"], "unknown profile 'nosuch'"),
    ("unknown-profile-env", {"PIXEE_PROFILE": "prod"}, [], "unknown profile 'prod'"),
    ("rate-not-a-number", {"PIXEE_REQUESTS_PER_MINUTE": "fast"}, [], "PIXEE_REQUESTS_PER_MINUTE='fast'"),
    ("unknown-tier", {"PIXEE_TIER": "platinum"}, [], "tier 'platinum'"),
    ("duckdb-dir-missing", {}, ["--duckdb-path", "{w}/missing/w.duckdb"], "missing"),
    ("duckdb-parent-is-a-file", {}, ["--duckdb-path", "{w}/notes.txt/w.duckdb"], "notes.txt"),
    ("duckdb-path-is-a-dir", {}, ["--duckdb-path", "{w}/adir"], "adir"),
    ("duckdb-named-like-dataset", {}, ["--duckdb-path", "{w}/pixee.duckdb"], "pixee.duckdb"),
    # DuckDB compares catalog names case-insensitively: a capital letter is the same clash
    ("duckdb-named-like-dataset-capitalised", {}, ["--duckdb-path", "{w}/Pixee.duckdb"], "Pixee.duckdb"),
    ("duckdb-named-like-marts", {}, ["--duckdb-path", "{w}/PIXEE_MARTS.duckdb"], "PIXEE_MARTS.duckdb"),
]


@pytest.mark.parametrize(
    ("env", "argv", "names"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_bad_configuration_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str | None],
    argv: list[str],
    names: str,
) -> None:
    world = _world(tmp_path, monkeypatch)
    (world / "notes.txt").write_text("a file where a directory would be\n")
    (world / "adir").mkdir()
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    before = _files(world)

    code = cli.main(["run", *(a.format(w=world) for a in argv)])

    out = capsys.readouterr()
    assert code == 2, out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pixee-etl run: "), out.err
    assert names in lines[0]
    assert out.out == ""
    assert _files(world) == before, f"written: {sorted(map(str, _files(world) - before))}"


@pytest.mark.parametrize(
    ("profile", "names"),
    [
        ("[run\nconcurrency = 2\n", "is not valid TOML"),
        ('[api]\ntoken = "pxo_in_a_file"\n', "secrets come from the environment only"),
        ('[destination]\nkind = "postgres"\n', "destination kind 'postgres'"),
    ],
    ids=["bad-toml", "secret-in-profile", "unknown-destination"],
)
def test_bad_profile_file_is_one_line_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    profile: str,
    names: str,
) -> None:
    world = _world(tmp_path, monkeypatch)
    monkeypatch.setenv("PIXEE_PROFILES_DIR", str(_profiles(world, profile)))
    before = _files(world)
    code = cli.main(["run"])
    out = capsys.readouterr()
    assert code == 2, out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], out.err
    assert "pxo_in_a_file" not in out.err
    assert _files(world) == before
    # A caller in-process (a flow, a notebook) keeps its logging after a failed command.
    assert logging.root.manager.disable == logging.NOTSET  # no process-wide logging.disable


def test_exit_code_2_from_the_real_process(simulator: Callable[..., Any], tmp_path: Path) -> None:
    sim = simulator(repositories=1, days=2)
    env = etl_env(sim, tmp_path)
    del env["PIXEE_TOKEN"]
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run"],
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "pixee-etl run: PIXEE_TOKEN is not set; export it (it is never read from a flag)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert sim.stats()["requests_total"] == 0
    assert DEFAULT_PROFILES_DIR.is_dir()


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PIXEE_TOKEN": None}, "PIXEE_TOKEN is not set"),
        ({"PIXEE_BASE_URL": "app.pixee.ai/api/v1"}, "PIXEE_BASE_URL 'app.pixee.ai/api/v1'"),
        ({"PIXEE_PROFILE": "prod"}, "unknown profile 'prod'"),
    ],
    ids=["missing-token", "malformed-url", "unknown-profile"],
)
def test_check_refuses_bad_configuration_the_same_way(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str | None],
    names: str,
) -> None:
    world = _world(tmp_path, monkeypatch)
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    code = cli.main(["check"])
    out = capsys.readouterr()
    assert code == 2, out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pixee-etl check: ") and names in lines[0], out.err
    assert _files(world) == set()


def test_check_with_a_refused_token_is_one_line_exit_1(
    simulator: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulator(repositories=1, days=2)
    _world(tmp_path, monkeypatch)
    monkeypatch.setenv("PIXEE_BASE_URL", sim.base_url)
    monkeypatch.setenv("PIXEE_TOKEN", "pxo_not-a-token-the-simulator-knows")
    code = cli.main(["check"])
    out = capsys.readouterr()
    assert code == 1
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and "401" in lines[0] and "request_id req_" in lines[0], out.err
    assert "pxo_not-a-token" not in out.err
