"""`pixee-etl check` against each kind of server a user points it at: one line, the usual exit code."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pipelines import cli
from tests.loopback_support import Loopback, as_json, hal_root, private_ca, serving

KEY = "pxk_5c0e9a17b3d24f6e8a1c"
WRONG_KEY = "pxk_0bad7e1c9f2a44d8e6b3"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test sets: no PIXEE_* of the machine, and no SSL_CERT_FILE (it adds a CA)."""
    for key in list(os.environ):
        if key.startswith("PIXEE_") or key == "SSL_CERT_FILE":
            monkeypatch.delenv(key)


def check(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[int, str]:
    """Run `pixee-etl check` in-process with `env`; (exit code, its whole output, which must be one line)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = cli.main(["check"])
    out = capsys.readouterr()
    lines = (out.out + out.err).strip().splitlines()
    assert len(lines) == 1, out
    return code, lines[0]


@contextmanager
def platform(
    *, tls: tuple[Path, Path] | None = None, public: frozenset[str] = frozenset()
) -> Iterator[Loopback]:
    """The HAL root and users-me as docs/platform.md shows them, over HTTPS or with a root that
    needs no key: what the platform simulator (plain http, every path keyed) cannot be."""
    with serving(
        {"/api/v1/users/me": as_json(200, {"id": "api-token"})}, KEY, tls=tls, public=public
    ) as server:
        server.routes["/api/v1"] = as_json(200, hal_root(server.url + "/api/v1"))
        yield server


def test_a_v1_server(
    simulator: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator(repositories=1, days=2)
    code, line = check(capsys, monkeypatch, PIXEE_BASE_URL=sim.base_url, PIXEE_TOKEN=sim.org_token)
    assert code == 0
    assert line == (
        f"ok: {sim.base_url} accepted the token (api: v1 (no HAL root at {sim.base_url}: 404); "
        "cursor pages; repositories are visible)"
    )


def test_a_platform_server_in_two_requests(
    simulator: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator(api="platform", repositories=2, days=2)
    server = sim.base_url.removesuffix("/api/v1")
    code, line = check(capsys, monkeypatch, PIXEE_SERVER=server, PIXEE_TOKEN=sim.api_key)
    assert code == 0
    found = f"platform (HAL root at {sim.base_url}, 9 relations)"
    assert line == f"ok: {sim.base_url} accepted the token (api: {found}; key is 'api-token')"
    stats = sim.stats()
    assert stats["requests_total"] == 2 and stats["by_kind"]["root"] == stats["by_kind"]["users-me"] == 1


def test_a_private_ca_without_the_bundle_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = private_ca(tmp_path)
    with platform(tls=(ca["cert"], ca["key"])) as server:
        code, line = check(capsys, monkeypatch, PIXEE_SERVER=server.url, PIXEE_TOKEN=KEY)
    assert code == 1
    assert line.startswith("pixee-etl check: the TLS certificate of 127.0.0.1 is not trusted"), line
    assert line.endswith("set PIXEE_CA_BUNDLE to your deployment's CA file")
    assert server.seen == []


@pytest.mark.parametrize("variable", ["PIXEE_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_private_ca_with_the_bundle_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    ca = private_ca(tmp_path)
    with platform(tls=(ca["cert"], ca["key"])) as server:
        code, line = check(
            capsys, monkeypatch, PIXEE_SERVER=server.url, PIXEE_TOKEN=KEY, **{variable: str(ca["ca"])}
        )
    assert code == 0 and line.startswith(f"ok: {server.url}/api/v1 accepted the token (api: platform"), line


def test_a_wrong_key_on_a_v1_server(
    simulator: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator(repositories=1, days=2)
    code, line = check(capsys, monkeypatch, PIXEE_BASE_URL=sim.base_url, PIXEE_TOKEN=WRONG_KEY)
    assert code == 1
    assert line.startswith("pixee-etl check: the API refused the token (401 unauthorized"), line
    assert "check PIXEE_TOKEN" in line and WRONG_KEY not in line


def test_a_wrong_key_on_a_platform_server(
    simulator: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator(api="platform", repositories=2, days=2)
    code, line = check(capsys, monkeypatch, PIXEE_BASE_URL=sim.base_url, PIXEE_TOKEN=WRONG_KEY)
    assert code == 1
    assert line.startswith(
        "pixee-etl check: the API refused the token "
        "(401 unauthorized: Unauthorized: missing or invalid bearer token"
    ), line
    assert "check PIXEE_TOKEN" in line and WRONG_KEY not in line
    assert sim.stats()["requests_total"] == 1


def test_a_wrong_key_on_a_platform_server_whose_root_is_public(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with platform(public=frozenset({"/api/v1"})) as server:
        code, line = check(capsys, monkeypatch, PIXEE_SERVER=server.url, PIXEE_TOKEN=WRONG_KEY)
    assert code == 1
    assert line.startswith("pixee-etl check: the API refused the token (401 unauthorized"), line
    assert WRONG_KEY not in line and server.seen == ["/api/v1", "/api/v1/users/me"]


def test_a_base_url_without_api_v1_on_a_v1_server(
    simulator: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator(repositories=1, days=2)
    origin = sim.base_url.removesuffix("/api/v1")
    code, line = check(capsys, monkeypatch, PIXEE_BASE_URL=origin, PIXEE_TOKEN=sim.org_token)
    assert code == 1
    assert line.startswith(
        f"pixee-etl check: {origin} answers but /repositories is 404: the base URL probably lacks /api/v1 "
        f"(set PIXEE_SERVER={origin} or PIXEE_BASE_URL={origin}/api/v1)"
    ), line


def test_a_base_url_without_api_v1_on_a_platform_server(
    simulator: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator(api="platform", repositories=2, days=2)
    origin = sim.base_url.removesuffix("/api/v1")
    code, line = check(capsys, monkeypatch, PIXEE_BASE_URL=origin, PIXEE_TOKEN=sim.api_key)
    assert code == 1 and "the base URL probably lacks /api/v1" in line, line
    assert f"PIXEE_SERVER={origin} " in line and sim.api_key not in line


def test_platform_forced_on_a_v1_server_says_what_the_root_answered(
    simulator: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator(repositories=1, days=2)
    code, line = check(
        capsys,
        monkeypatch,
        PIXEE_BASE_URL=sim.base_url,
        PIXEE_TOKEN=sim.org_token,
        PIXEE_API_FLAVOUR="platform",
    )
    assert code == 2
    assert line.startswith(
        f"pixee-etl check: api flavour is set to platform but no HAL root at {sim.base_url}: 404"
    ), line


def test_v1_forced_does_not_read_the_root(
    simulator: Callable[..., Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator(repositories=1, days=2)
    code, line = check(
        capsys, monkeypatch, PIXEE_BASE_URL=sim.base_url, PIXEE_TOKEN=sim.org_token, PIXEE_API_FLAVOUR="v1"
    )
    assert code == 0 and "(api: v1 (set by api flavour = v1); cursor pages" in line, line


def test_a_host_typo_says_it_does_not_resolve(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, line = check(capsys, monkeypatch, PIXEE_SERVER="http://localhots:8700", PIXEE_TOKEN=KEY)
    assert code == 2 and line.startswith(
        "pixee-etl check: cannot resolve host 'localhots'; check PIXEE_SERVER"
    ), line


def run_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> None:
    """`run` in this test's own dlt directory, pointed by `env` at a server."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_run_says_which_api_it_found_first(
    simulator: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=1, days=3)
    run_env(monkeypatch, tmp_path, PIXEE_BASE_URL=sim.base_url, PIXEE_TOKEN=sim.org_token)
    db = tmp_path / "warehouse.duckdb"
    assert cli.main(["run", "--no-marts", "--duckdb-path", str(db)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"api: v1 (no HAL root at {sim.base_url}: 404)"


def test_run_with_a_wrong_key_stops_at_the_root_loading_nothing(
    simulator: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sim = simulator(api="platform", repositories=2, days=2)
    run_env(monkeypatch, tmp_path, PIXEE_SERVER=sim.base_url.removesuffix("/api/v1"), PIXEE_TOKEN=WRONG_KEY)
    assert cli.main(["run", "--duckdb-path", str(tmp_path / "warehouse.duckdb")]) == 1
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and "401 unauthorized" in out.err, out
    assert WRONG_KEY not in out.err and not (tmp_path / "warehouse.duckdb").exists()
    assert sim.stats()["requests_total"] == 1


def test_run_with_a_base_url_without_api_v1_ends_saying_so(
    simulator: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=1, days=3)
    origin = sim.base_url.removesuffix("/api/v1")
    run_env(monkeypatch, tmp_path, PIXEE_BASE_URL=origin, PIXEE_TOKEN=sim.org_token)
    assert cli.main(["run", "--no-marts", "--duckdb-path", str(tmp_path / "warehouse.duckdb")]) == 1
    out = capsys.readouterr()
    assert (
        out.out.splitlines()[0]
        == f"api: v1 (no HAL root at {origin}: 404 (the base URL probably lacks /api/v1))"
    )
    [line] = out.err.strip().splitlines()
    assert (
        line.startswith(f"pixee-etl run: {origin} answers but ")
        and "the base URL probably lacks /api/v1" in line
    )


def test_a_bundle_that_is_not_there_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "company-ca.pem"
    code, line = check(
        capsys,
        monkeypatch,
        PIXEE_SERVER="https://pixee.example.com",
        PIXEE_TOKEN=KEY,
        PIXEE_CA_BUNDLE=str(missing),
    )
    assert code == 2 and line.startswith(f"pixee-etl check: PIXEE_CA_BUNDLE={missing} cannot be read"), line
