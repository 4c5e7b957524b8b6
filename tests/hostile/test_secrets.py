"""Hostile echoes of the token: a server that puts it (whole or cut short) into request ids, error
messages, headers and records. No output line, file of the run (dlt's trace included) or table
holds any 8+ character piece of it. Plus: a token with whitespace is refused at configuration,
and repository ids go into URL paths percent-encoded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines import cli
from pipelines.api.client import PixeeClient
from pipelines.errors import ApiError
from pipelines.extract.v1 import read_webhooks
from pipelines.load.sync import sync
from pipelines.settings import Secret, Settings
from tests.conftest import table_rows
from tests.faults_support import etl_env, run_etl
from tests.hostile.support import HostileProxy, Reply, Upstream, one_line
from tests.secrets_scan import scan_duckdb, scan_files

TOKEN = "pxo_CANARY-hostile-echo-71c4e9a2b05d3f86"


def pieces(text: str, secret: str = TOKEN) -> list[str]:
    """Every 8-character piece of `secret` that `text` holds."""
    return sorted({secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text})


def error(status: int, request_id: str, message: str = "no") -> Reply:
    body = {"error": {"code": "bad_request", "message": message, "request_id": request_id}}
    return Reply(status, body, {"X-Request-Id": TOKEN[:-3]})


class Tally:
    run_id = None

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def add_rows(self, table: str, count: int) -> None:
        pass

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def add_rejected(self, table: str, reason: str, column: str | None = None) -> None:
        pass


def client_for(server: HostileProxy) -> PixeeClient:
    settings = Settings(base_url=server.base_url, token=Secret(TOKEN), requests_per_minute=60000.0, burst=100)  # type: ignore[attr-defined]
    return PixeeClient(settings, max_attempts=2, backoff_base=0.001)


@pytest.mark.parametrize(
    "reply",
    [
        error(400, TOKEN),
        error(400, "req_" + TOKEN[5:-6]),
        error(404, "req_1", f"repository {TOKEN[:-4]} not found"),
        error(500, TOKEN[2:]),
        Reply(
            400, {"error": {"code": "bad_request", "message": "x" * 5000 + TOKEN, "request_id": TOKEN * 50}}
        ),
        Reply(400, {"error": {"code": {"nested": TOKEN}, "message": [TOKEN], "request_id": {"id": TOKEN}}}),
    ],
    ids=["request-id-whole", "request-id-cut", "message-cut", "5xx-header-cut", "huge", "odd-types"],
)
def test_an_error_echoing_the_token_is_one_line_without_it(
    proxy: Callable[..., HostileProxy], reply: Reply
) -> None:
    server = proxy()
    server.tamper = lambda p, q, u: reply
    with client_for(server) as client, pytest.raises(ApiError) as failed:
        client.get_json("/repositories")
    message = str(failed.value)
    assert not pieces(message) and not pieces(str(failed.value.request_id)), message
    assert one_line(message) and "endpoint /api/v1/repositories" in message


def test_the_403_webhooks_warning_hides_a_token_in_its_request_id(proxy: Callable[..., HostileProxy]) -> None:
    server = proxy()
    server.tamper = lambda p, q, u: error(403, f"req_{TOKEN[3:]}")
    tally = Tally()
    with client_for(server) as client:
        assert read_webhooks(client, tally) is None
    assert len(tally.warnings) == 1 and tally.warnings[0].startswith(
        "webhooks skipped: the token may not list them"
    )
    assert not pieces(tally.warnings[0]), tally.warnings[0]


@pytest.mark.parametrize(
    "token",
    [f" {TOKEN}", f"{TOKEN}\n", f"{TOKEN}\r\n", f"{TOKEN[:10]} {TOKEN[10:]}", f"{TOKEN}é"],
    ids=["leading-space", "newline", "crlf", "inner-space", "non-ascii"],
)
def test_a_token_with_whitespace_is_refused_at_configuration_in_one_line(
    token: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIXEE_TOKEN", token)
    monkeypatch.setenv("PIXEE_BASE_URL", "http://127.0.0.1:9/api/v1")  # never asked: refused before
    assert cli.main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pixee-etl check: PIXEE_TOKEN ") and err.count("\n") == 1, err
    assert not pieces(err)


def test_a_server_echoing_the_token_everywhere_leaves_it_in_no_output_file_or_table(
    simulator: Callable[..., Any],
    proxy: Callable[..., HostileProxy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulator(repositories=2, days=10)
    sim.app.token_scope[TOKEN] = None  # the simulator takes the canary as an organisation token
    repo = sorted(r["id"] for r in sim.truth()["repositories"])[1]
    server = proxy(sim)
    failing = {"on": False}

    def echo(path: str, query: str, upstream: Upstream) -> Reply | None:
        if failing["on"] and path == f"/repositories/{repo}/scans":
            return error(400, f"req_{TOKEN[4:]}", f"cursor {TOKEN[:-2]} is not valid")
        body = upstream.json()
        if path == f"/repositories/{repo}/findings" and body.get("data"):
            body["data"][0]["title"] = f"leaked {TOKEN} here"  # the token inside a record
        headers = {"X-Request-Id": TOKEN, "X-Debug": f"auth=Bearer {TOKEN[:-5]}"}
        return Reply(upstream.status, json.dumps(body).encode(), headers)

    server.tamper = echo
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(
        sim,
        tmp_path,
        token=TOKEN,
        PIXEE_TEST_DEBUG="1",
        RUNTIME__LOG_LEVEL="DEBUG",
        PIXEE_BASE_URL=server.base_url,
    )  # type: ignore[attr-defined]
    outputs = [run_etl(env, "run", "--duckdb-path", str(db), cwd=tmp_path)]
    assert outputs[0].returncode == 0, outputs[0].stderr[-3000:]
    failing["on"] = True
    outputs.append(run_etl(env, "run", "--duckdb-path", str(db), cwd=tmp_path))
    assert outputs[1].returncode == 1
    last = outputs[1].stderr.strip().splitlines()[-1]
    assert last.startswith("pixee-etl run: ") and "scans" in last and "request_id req***" in last, last
    texts = [o.stdout + o.stderr for o in outputs]
    server.tamper = lambda p, q, u: error(401, TOKEN)
    for key in ("PIXEE_TOKEN", "PIXEE_BASE_URL"):
        monkeypatch.setenv(key, env[key])
    assert cli.main(["check"]) == 1
    captured = capsys.readouterr()
    assert "401" in captured.err
    texts.append(captured.out + captured.err)

    leaks = [f"output {i}: {pieces(text)}" for i, text in enumerate(texts) if pieces(text)]
    leaks += scan_files(tmp_path, [TOKEN]) + scan_duckdb(db, [TOKEN])
    assert not leaks, "\n".join(leaks)
    # The record still loaded, with the token taken out of it.
    titles = {r["title"] for r in table_rows(db, "findings") if r["repository_id"] == repo}
    assert "leaked *** here" in titles
    assert "DEBUG" in outputs[0].stderr  # httpx and dlt logged at DEBUG: a real worst case


def test_repository_ids_go_into_paths_percent_encoded(
    proxy: Callable[..., HostileProxy], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    ids = ["team/a?b#c", "..", "ünïcode id"]
    stamp = "2026-01-01T00:00:00Z"
    encoded = {"team%2Fa%3Fb%23c", "%2E%2E", "%C3%BCn%C3%AFcode%20id"}

    def api(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path == "/repositories":
            return Reply(body={"data": [{"id": i, "name": i, "updated_at": stamp} for i in ids]})
        if path == "/webhooks":
            return Reply(body={"data": []})
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "repositories" and parts[2] in encoded:
            row = {"id": f"{parts[3]}-{parts[2]}", "repository_id": parts[2], "updated_at": stamp}
            return Reply(body={"data": [row], "pagination": {"has_more": False}})
        return None  # a 404: what a path built from a raw id would get

    server = proxy()
    server.tamper = api
    fake = type("Sim", (), {"base_url": server.base_url, "org_token": TOKEN})()  # type: ignore[attr-defined]
    settings = sim_settings(fake)
    sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    children = {path.split("/")[2] for path, _ in server.seen if path.count("/") == 3}
    assert children == encoded
    assert {r["id"] for r in table_rows(settings.duckdb_path, "repositories")} == set(ids)
    assert len(table_rows(settings.duckdb_path, "findings")) == 3


def test_dlt_does_not_write_a_trace_that_holds_the_token(tmp_path: Path) -> None:
    """An exception quoting the token (a record, a header) reaches dlt's trace, which dlt pickles
    to disk after every step; such a trace is not written."""
    import dlt

    import pipelines.extract.v1  # noqa: F401  (installs the guard, as every sync does)
    from pipelines.api.redaction import register_secret

    register_secret(TOKEN)

    @dlt.resource(name="findings")
    def failing() -> Any:
        yield {"id": "f_1"}
        raise ValueError(f"the server said {TOKEN}")

    pipeline = dlt.pipeline("trace_guard", destination="duckdb", pipelines_dir=str(tmp_path / "dlt"))
    with pytest.raises(Exception, match="the server said"):
        pipeline.extract(failing())
    assert not scan_files(tmp_path, [TOKEN])
    assert not list((tmp_path / "dlt").rglob("trace.pickle"))

    # The failed step stays in this pipeline's trace (dlt merges steps); a clean one is written.
    clean = dlt.pipeline("trace_clean", destination="duckdb", pipelines_dir=str(tmp_path / "dlt"))
    clean.extract(dlt.resource([{"id": "f_2"}], name="findings"))
    assert [p.parent.name for p in (tmp_path / "dlt").rglob("trace.pickle")] == ["trace_clean"]
