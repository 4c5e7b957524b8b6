"""`pixee-etl run`, `check` and `demo` as a user runs them, against the simulator on loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.cli import main


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., None]:
    """Point PIXEE_* at a simulator; dlt's working directories go to tmp_path, not the home dir."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    for name in ("PIXEE_TIER", "PIXEE_PROFILE", "PIXEE_BASE_URL", "PIXEE_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def point_at(sim: Any, token: str | None = None) -> None:
        monkeypatch.setenv("PIXEE_BASE_URL", sim.base_url)
        monkeypatch.setenv("PIXEE_TOKEN", token or sim.org_token)
        monkeypatch.setenv("PIXEE_REQUESTS_PER_MINUTE", "60000")
        monkeypatch.setenv("PIXEE_BURST", "100")

    return point_at


def test_check_proves_token_and_url(
    simulator: Callable[..., Any], env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    sim = simulator(repositories=1, days=5)
    env(sim)
    assert main(["check"]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {sim.base_url} accepted the token")
    assert sum(sim.stats()["by_route"]["GET /repositories"].values()) == 1


def test_check_with_a_bad_token_says_why_in_one_line(
    simulator: Callable[..., Any], env: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    sim = simulator(repositories=1, days=5)
    bad = "pxo_not-a-real-token-0042"
    env(sim, token=bad)
    assert main(["check"]) == 1
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "401" in out.err
    assert bad not in out.err + out.out


def test_plain_http_off_loopback_is_refused(
    env: Callable[..., None], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIXEE_BASE_URL", "http://pixee.example.com/api/v1")
    monkeypatch.setenv("PIXEE_TOKEN", "pxo_secret-value-123")
    assert main(["check"]) == 2
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "HTTPS is required" in err and "pxo_secret-value-123" not in err


def test_run_without_a_token_exits_2(env: Callable[..., None], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert "PIXEE_TOKEN is not set" in capsys.readouterr().err


def test_run_syncs_then_builds_the_marts(
    simulator: Callable[..., Any],
    env: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulator()
    env(sim)
    db = tmp_path / "warehouse.duckdb"
    assert main(["run", "--duckdb-path", str(db), "--as-of", sim.now.date().isoformat()]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "rate use" in out and "marts as of" in out
    with duckdb.connect(str(db), read_only=True) as con:
        findings = con.execute("select count(*) from pixee.findings").fetchone()
        scorecard = con.execute("select count(*) from pixee_marts.repository_scorecard").fetchone()
    assert findings == (len(sim.truth()["findings"]),)
    assert scorecard == (len(sim.truth()["repositories"]),)


def test_demo_needs_no_token_and_shows_full_then_incremental(
    env: Callable[..., None], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.duckdb"
    assert main(["demo", "--duckdb-path", str(db), "--repositories", "2", "--days", "20"]) == 0
    out = capsys.readouterr().out
    assert "1. Full sync" in out and "3. Incremental sync" in out
    assert "Requests: full sync" in out
    report = Path(out.rsplit("Report: ", 1)[1].split(" (open it", 1)[0])
    assert report.is_file() and report.parent == db.parent.resolve() and report.suffix == ".html"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from pixee.repositories").fetchone() == (2,)

    # The hint works as printed (from where the demo ran): the DuckDB CLI installed with pixee-etl,
    # read-only on the serving file, answering the example SQL printed under it.
    [hint] = [line.removeprefix("Try it: ") for line in out.splitlines() if line.startswith("Try it: ")]
    assert hint.endswith(f"-readonly {tmp_path / 'demo.serving.duckdb'}")
    example = out.split(hint, 1)[1]
    shell = subprocess.run(hint, shell=True, input=example, capture_output=True, text=True, timeout=60)
    assert shell.returncode == 0 and shell.stderr == "", shell.stderr
    assert "open_findings" in shell.stdout and "p50_hours" in shell.stdout and "merge_rate" in shell.stdout


def test_a_relative_duckdb_path_means_the_current_directory_every_time(
    simulator: Callable[..., Any],
    env: Callable[..., None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = simulator(repositories=1, days=5)
    env(sim)
    for place in ("first", "second"):
        (tmp_path / place).mkdir()
        monkeypatch.chdir(tmp_path / place)
        assert main(["run", "--duckdb-path", "warehouse.duckdb"]) == 0
        assert (tmp_path / place / "warehouse.duckdb").is_file()
