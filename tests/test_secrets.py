"""Failing runs of every kind, with debug logging: the token and the Snowflake password appear in no
output, traceback, file of the run (dlt's state, schemas, load packages, trace) nor table."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines import cli
from tests.faults_support import etl_env, kill_after_requests, run_etl, start_etl
from tests.secrets_scan import scan_duckdb, scan_files

TOKEN = "pxo_CANARY-token-5e0c1f7a9b3d4e2f"
WRONG_TOKEN = "pxo_CANARY-wrong-3b8d2a6c1e9f7054"
SNOWFLAKE_PASSWORD = "sf_CANARY-password-a4f19c7e2d"
SECRETS = (TOKEN, WRONG_TOKEN, SNOWFLAKE_PASSWORD)


def test_no_secret_reaches_any_output_file_or_table(
    simulator: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulator(repositories=3, days=10)
    sim.app.token_scope[TOKEN] = None  # the simulator accepts our canary as an organisation token
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(
        sim,
        tmp_path,
        token=TOKEN,
        batch=1,
        PIXEE_TEST_DEBUG="1",
        RUNTIME__LOG_LEVEL="DEBUG",
        PIXEE_SNOWFLAKE_PASSWORD=SNOWFLAKE_PASSWORD,
        DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD=SNOWFLAKE_PASSWORD,
    )
    run = ["run", "--duckdb-path", str(db)]
    # Faults go to one list so that they hit one request after another, past the retries.
    one_list = f"/repositories/{sorted(r['id'] for r in sim.truth()['repositories'])[1]}/findings"
    outputs: dict[str, subprocess.CompletedProcess[str] | tuple[str, str]] = {}

    def attempt(name: str, expect: int, **changes: str) -> None:
        done = run_etl({**env, **changes}, *run, cwd=tmp_path)
        assert done.returncode == expect, f"{name}: exit {done.returncode}\n{done.stderr[-2000:]}"
        outputs[name] = done

    attempt("first sync", 0)
    sim.inject("http_401", path_prefix=one_list, count=1)
    attempt("401 mid-sync (token revoked)", 1)
    attempt("401 wrong token", 1, PIXEE_TOKEN=WRONG_TOKEN)
    sim.inject("http_500", path_prefix=one_list, count=3)
    sim.inject("http_503_html", path_prefix=one_list, count=3)
    attempt("5xx past the retries", 1)
    sim.inject("truncated_json", path_prefix=one_list, count=6)
    attempt("bad pages past the retries", 1)
    sim.inject("retry_after:3600", path_prefix=one_list, count=1)
    attempt("Retry-After above the ceiling", 1)
    # Configuration refused before any request: in this process (a subprocess each costs seconds).
    host = sim.base_url.split("//", 1)[1]
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "warehouse.toml").write_text('[destination]\nkind = "snowflake"\naccount = "acme"\n')
    for name, changes in {
        "token in the URL's user info": {"PIXEE_BASE_URL": f"http://pixee:{TOKEN}@{host}"},
        "token in a malformed URL": {"PIXEE_BASE_URL": f"ftp://{TOKEN}@app.pixee.ai/api/v1"},
        "plain http with the token in it": {"PIXEE_BASE_URL": f"http://app.pixee.ai/{TOKEN}"},
        "another secret in a malformed URL": {"PIXEE_BASE_URL": f"ftp://u:{WRONG_TOKEN}@app.pixee.ai/v1"},
        "another secret in a URL without scheme": {"PIXEE_BASE_URL": f"{WRONG_TOKEN}@app.pixee.ai/v1"},
        "Snowflake profile missing its user": {
            "PIXEE_PROFILES_DIR": str(profiles),
            "PIXEE_PROFILE": "warehouse",
        },
    }.items():
        with monkeypatch.context() as patch:
            for key, value in {**env, **changes}.items():
                patch.setenv(key, value)
            code = cli.main(run)
        captured = capsys.readouterr()
        assert code == 2, f"{name}: {captured.err}"
        outputs[name] = (captured.out, captured.err)

    sim.reset_stats()
    killed = start_etl(env, "run", "--full-refresh", "--duckdb-path", str(db), cwd=tmp_path)
    was_killed, *written = kill_after_requests(killed, sim, 4)
    assert was_killed
    outputs["SIGKILL mid-sync"] = (written[0], written[1])

    leaks = []
    for name, done in outputs.items():
        out, err = (done.stdout, done.stderr) if isinstance(done, subprocess.CompletedProcess) else done
        for stream, text in (("stdout", out), ("stderr", err)):
            leaks += [f"{name}: {stream} shows {s[:4]}..." for s in SECRETS if s in text or s[8:20] in text]
    leaks += scan_files(tmp_path, SECRETS)
    leaks += scan_duckdb(db, SECRETS)
    assert not leaks, "\n".join(leaks)
    # The scan saw real work: debug output, dlt's pipeline files and the loaded tables.
    assert "DEBUG" in outputs["first sync"].stderr  # type: ignore[union-attr]
    assert any((tmp_path / "dlt").rglob("*.parquet")) and any((tmp_path / "dlt").rglob("trace.pickle"))
