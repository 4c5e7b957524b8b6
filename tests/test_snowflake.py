"""Snowflake destination: the connection a real account needs, secrets from the environment only,
and a real dlt load (PUT, COPY INTO, MERGE) into fakesnow with the few shims listed below.

What runs for real: dlt's Snowflake job client, its DDL, its PUT of each load file to the table
stage, COPY INTO with MATCH_BY_COLUMN_NAME, the merge follow-up SQL, and the state tables; the
SQL executes on fakesnow (DuckDB underneath). What fakesnow cannot do and the shims paper over,
each a spelling difference that real Snowflake accepts:
  1. `PUT 'file://…' '@"S"."%T"/…'`: Snowflake takes a quoted stage target; fakesnow a bare one.
  2. `FILE_FORMAT = (A = 1, B = 2)`: Snowflake takes commas between options; fakesnow blanks.
  3. `MATCH_BY_COLUMN_NAME='CASE_INSENSITIVE'`: Snowflake takes the quoted form; fakesnow bare.
  4. COPY of JSON lines (dlt's state table) with MATCH_BY_COLUMN_NAME: not implemented in
     fakesnow; the shim inserts by name from DuckDB's read_json.
  5. cursor.description after a multi-statement DDL script: fakesnow tries DESCRIBE on it.
Not exercised: authentication against a real account, warehouses, roles and grants, Snowflake's
own type coercions in COPY, and a database named like its schema (DuckDB calls that ambiguous).
Every SQL statement dlt sends is also parsed with sqlglot's Snowflake dialect.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dlt
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from pipelines.errors import ConfigError
from pipelines.load.destinations import destination_for, snowflake_credentials
from pipelines.settings import Settings, load_settings

PASSWORD = "s3cr3t-Hunter2-pw"


@pytest.fixture
def settings() -> Settings:
    return load_settings("snowflake", env={})


def test_connection_params_are_what_a_real_account_needs(settings: Settings) -> None:
    creds = snowflake_credentials(settings, env={"PIXEE_SNOWFLAKE_PASSWORD": PASSWORD})
    params = creds.to_connector_params()
    assert params["account"] == "myorg-myaccount"
    assert params["database"] == "APPSEC"
    assert params["warehouse"] == "PIXEE_WH"
    assert params["role"] == "PIXEE_LOADER"
    assert params["user"] == "PIXEE_ETL"
    assert params["password"] == PASSWORD
    assert params["timezone"] == "UTC"  # sessions read and write timestamps in UTC
    assert PASSWORD not in str(creds) and PASSWORD not in repr(settings)


def test_dataset_maps_to_a_schema_and_timestamps_to_timestamp_tz(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXEE_SNOWFLAKE_PASSWORD", PASSWORD)
    destination = destination_for(settings)
    # TIMESTAMP_TZ rather than dlt's default TIMESTAMP_LTZ (checked in the live table below too).
    assert destination.config_params["use_timestamp_tz"] is True
    pipeline = dlt.pipeline(
        "sf_names", destination=destination, dataset_name="pixee", pipelines_dir=str(tmp_path)
    )
    client = pipeline.sql_client()  # not opened: no connection is made
    assert client.database_name == "APPSEC"
    assert client.make_qualified_table_name("fixes") == '"PIXEE"."FIXES"'
    with client.with_alternative_dataset_name(settings.marts_dataset):
        assert client.make_qualified_table_name("fix_latency") == '"PIXEE_MARTS"."FIX_LATENCY"'


def test_a_missing_secret_names_the_variable(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="PIXEE_SNOWFLAKE_PASSWORD"):
        snowflake_credentials(settings, env={})


def test_dlt_secret_name_works_too(settings: Settings) -> None:
    env = {"DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD": PASSWORD}
    assert snowflake_credentials(settings, env=env).to_connector_params()["password"] == PASSWORD


def test_missing_account_is_one_clear_line(settings: Settings) -> None:
    broken = replace(settings, snowflake={k: v for k, v in settings.snowflake.items() if k != "account"})
    with pytest.raises(ConfigError, match=r"\[destination\] needs account"):
        snowflake_credentials(broken, env={"PIXEE_SNOWFLAKE_PASSWORD": PASSWORD})


def test_key_pair_auth_from_the_environment(settings: Settings) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    params = snowflake_credentials(settings, env={"PIXEE_SNOWFLAKE_PRIVATE_KEY": pem}).to_connector_params()
    assert params["password"] is None
    assert isinstance(params["private_key"], bytes)  # DER, as the connector wants it


def test_a_profile_with_a_snowflake_password_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        Path("profiles/snowflake.toml").read_text().replace('user = "PIXEE_ETL"', f'password = "{PASSWORD}"')
    )
    (tmp_path / "leaky.toml").write_text(text)
    monkeypatch.setenv("PIXEE_PROFILES_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="secrets come from the environment") as info:
        load_settings("leaky", env={})
    assert PASSWORD not in str(info.value)


class _RefusingLogin(BaseHTTPRequestHandler):
    """Answers Snowflake's login request the way an account does for a wrong password."""

    bodies: list[bytes] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        body = json.dumps(
            {
                "data": None,
                "code": "390100",
                "message": "Incorrect username or password was specified.",
                "success": False,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_auth_failure_does_not_echo_the_password(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingLogin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        creds = snowflake_credentials(settings, env={"PIXEE_SNOWFLAKE_PASSWORD": PASSWORD})
        # The real connector, pointed at a loopback stand-in for the account's login endpoint.
        creds._snowflake_host = "127.0.0.1"
        creds.query = {"port": server.server_address[1], "protocol": "http", "login_timeout": 5}
        pipeline = dlt.pipeline(
            "sf_auth",
            destination=dlt.destinations.snowflake(credentials=creds),
            dataset_name="pixee",
            pipelines_dir=str(tmp_path),
        )
        with pytest.raises(Exception) as info, pipeline.sql_client() as client:
            client.execute_sql("select 1")
    finally:
        server.shutdown()
    # The connector did send the password (gzipped JSON), so the refusal is a real auth failure.
    assert PASSWORD in gzip.decompress(_RefusingLogin.bodies[0]).decode()
    assert "Incorrect username or password" in str(info.value)
    text = "".join(str(e) for e in _chain(info.value)) + caplog.text
    assert PASSWORD not in text


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


# -- a real dlt load into fakesnow ------------------------------------------------------------


@pytest.fixture
def fake_snowflake(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """fakesnow patched into snowflake.connector, with the shims in the module docstring.

    Yields the list of SQL statements dlt sent, as dlt wrote them (before any shim).
    """
    import fakesnow
    import fakesnow.copy_into as copy_into
    import fakesnow.cursor as cursor

    sent: list[str] = []
    execute = cursor.FakeSnowflakeCursor.execute

    def shimmed_execute(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(command)
        command = re.sub(r"^(PUT\s+'[^']*'\s+)'(@[^']*)'", r"\1\2", command)  # shim 1
        command = re.sub(  # shim 2
            r"FILE_FORMAT = \(([^)]*)\)",
            lambda m: f"FILE_FORMAT = ({m.group(1).replace(', ', ' ')})",
            command,
        )
        command = re.sub(r"MATCH_BY_COLUMN_NAME='(\w+)'", r"MATCH_BY_COLUMN_NAME=\1", command)  # shim 3
        return execute(self, command, *args, **kwargs)

    inserts = copy_into._inserts

    def shimmed_inserts(expr: Any, params: Any, urls: list[str], parquet_info: Any = None) -> Any:  # shim 4
        json_by_name = isinstance(params.file_format, copy_into.ReadJSON) and (
            params.match_by_column_name != copy_into.MatchByColumnName.NONE
        )
        if not json_by_name:
            return inserts(expr, params, urls, parquet_info)
        return [
            exp.Insert(
                this=expr.this,
                by_name=True,
                expression=sqlglot.parse_one(
                    f"select * from read_json('{url}', format='newline_delimited')", read="duckdb"
                ),
            )
            for url in urls
        ]

    describe = cursor.FakeSnowflakeCursor._describe_last_sql

    def shimmed_describe(self: Any) -> Any:  # shim 5
        try:
            parsed = sqlglot.parse_one(self._last_sql, read="duckdb")
        except sqlglot.errors.ParseError:
            return describe(self)
        result = None
        if isinstance(parsed, exp.Block):  # a script: its result is its last statement's
            parsed = parsed.expressions[-1]
            if isinstance(parsed, exp.Select):
                result = parsed.sql(dialect="duckdb")
        result = result or cursor.DESCRIBE_RESULT_SQL.get(type(parsed))
        if isinstance(parsed, exp.Command) and parsed.name.upper() in ("ALTER", "CREATE", "DROP"):
            result = cursor.SQL_SUCCESS  # DDL sqlglot reads only as an opaque command
        if result is None:
            return describe(self)
        with self._conn.cursor() as cur:
            cur._execute(sqlglot.parse_one(f"DESCRIBE {result}", read="duckdb"))
            return cur.fetchall()

    monkeypatch.setattr(cursor.FakeSnowflakeCursor, "execute", shimmed_execute)
    monkeypatch.setattr(copy_into, "_inserts", shimmed_inserts)
    monkeypatch.setattr(cursor.FakeSnowflakeCursor, "_describe_last_sql", shimmed_describe)
    monkeypatch.setenv("PIXEE_SNOWFLAKE_PASSWORD", PASSWORD)
    # dlt connects with schema '"DB"."SCHEMA"' and creates the schema itself.
    with fakesnow.patch(create_schema_on_connect=False):
        yield sent


FIXES = [
    {
        "id": "fix_1",
        "repository_id": "repo_1",
        "status": "pr_open",
        "finding_ids": ["f_1", "f_2"],
        "created_at": "2026-03-01T10:00:00Z",
        "updated_at": "2026-03-01T10:00:00Z",
        "merged_at": None,
    },
    {
        "id": "fix_2",
        "repository_id": "repo_1",
        "status": "generated",
        "finding_ids": ["f_3"],
        "created_at": "2026-03-02T10:00:00Z",
        "updated_at": "2026-03-02T10:00:00Z",
        "merged_at": None,
    },
]


def test_dlt_loads_and_merges_into_fake_snowflake(
    settings: Settings, tmp_path: Path, fake_snowflake: list[str]
) -> None:
    @dlt.resource(name="fixes", primary_key="id", write_disposition="merge")
    def fixes(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        yield rows

    pipeline = dlt.pipeline(
        "sf_load",
        destination=destination_for(settings),
        dataset_name=settings.dataset,
        pipelines_dir=str(tmp_path),
    )
    pipeline.run(fixes(FIXES), loader_file_format="parquet")
    merged = {
        **FIXES[0],
        "status": "merged",
        "updated_at": "2026-03-03T09:00:00Z",
        "merged_at": "2026-03-03T09:00:00Z",
    }
    pipeline.run(fixes([merged]), loader_file_format="parquet")

    with pipeline.sql_client() as client:
        rows = client.execute_sql("select id, status, merged_at from pixee.fixes order by id")
        children = client.execute_sql("select count(*) from pixee.fixes__finding_ids")
        types = dict(
            client.execute_sql(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'PIXEE' and table_name = 'FIXES'"
            )
        )
    assert [(r[0], r[1]) for r in rows] == [("fix_1", "merged"), ("fix_2", "generated")]
    assert rows[0][2].isoformat() == "2026-03-03T09:00:00+00:00"
    assert children == [(3,)]  # f_1, f_2 of fix_1 (replaced on merge) and f_3 of fix_2
    assert types["UPDATED_AT"] == "TIMESTAMP_TZ" and types["MERGED_AT"] == "TIMESTAMP_TZ"

    # Every statement dlt sent is valid Snowflake SQL, and the load path is stage, copy, merge.
    parsed = [
        stmt
        for statement in fake_snowflake
        for stmt in sqlglot.parse(
            statement.replace("%s", "?"), read="snowflake", error_level=ErrorLevel.RAISE
        )
        if stmt is not None
    ]
    kinds = {type(stmt) for stmt in parsed}
    assert exp.Command not in kinds  # nothing fell back to an unparsed command
    assert {exp.Create, exp.Put, exp.Copy, exp.Delete, exp.Insert} <= kinds
    text = "\n".join(fake_snowflake)
    assert re.search(r"""PUT 'file://\S+fixes\.\w+\.\d+\.parquet' '@"PIXEE_STAGING"\."%FIXES"/""", text)
    assert re.search(r"""COPY INTO "PIXEE_STAGING"\."FIXES"\s+FROM '@"PIXEE_STAGING"\."%FIXES"/""", text)
    assert "MATCH_BY_COLUMN_NAME='CASE_INSENSITIVE'" in text
    assert re.search(r'DELETE FROM "PIXEE"\."FIXES" .*WHERE EXISTS', text, re.S)
    assert re.search(r'INSERT INTO "PIXEE"\."FIXES"', text)
    assert PASSWORD not in text


def test_the_connector_syncs_the_simulator_into_fake_snowflake_and_marts_pass_checks(
    tmp_path: Path, fake_snowflake: list[str]
) -> None:
    """The flow's library path end to end on Snowflake: sync -> build_marts -> run_checks."""
    import datetime as dt

    from flows.summary import read_summary
    from pipelines.load.sync import sync
    from pipelines.transform.checks import Warehouse, run_checks
    from pipelines.transform.dbt_runner import build_marts
    from simulator import SimConfig, Simulator

    with Simulator(SimConfig(seed=7, repositories=2, days=20, requests_per_minute=None)) as sim:
        env = {
            "PIXEE_BASE_URL": sim.base_url,
            "PIXEE_TOKEN": sim.org_token,
            "PIXEE_REQUESTS_PER_MINUTE": "60000",
        }
        settings = load_settings("snowflake", env=env)
        report = sync(settings, pipelines_dir=str(tmp_path))
        truth = sim.truth()
        # History and deletions in Snowflake's SQL: insert-only MERGE, UPDATE with bound values.
        gone = truth["repositories"][0]["id"]
        sim.delete("repositories", gone)
        again = sync(settings, pipelines_dir=str(tmp_path))
    assert report.history_rows["findings_history"] == len(truth["findings"])
    assert again.history_rows["findings_history"] == 0
    owned = sum(1 for f in truth["findings"] if f["repository_id"] == gone)
    assert again.deleted["repositories"] == 1 and again.deleted.get("findings", 0) == owned
    with report.pipeline.sql_client() as client:
        [(marked,)] = client.execute_sql("select count(*) from pixee.findings where _deleted_at is not null")
        assert marked == owned
        for table in ("repositories", "scans", "findings", "fixes", "webhooks"):
            [(count,)] = client.execute_sql(f"select count(*) from pixee.{table}")
            assert count == len(truth[table]), table
    today = dt.datetime.now(dt.UTC).date()
    marts = build_marts(report.pipeline, settings, as_of=today)
    assert marts.dialect == "snowflake" and marts.rows["fix_latency"] == len(truth["fixes"])
    checks = run_checks(report.pipeline, settings, as_of=today)
    assert checks.failures == [], checks.failures
    # The run summary's queries (percentiles, merge rate) translate and run on Snowflake too.
    with report.pipeline.sql_client() as client:
        summary = read_summary(Warehouse.for_settings(client.execute_sql, "snowflake", settings), today)
    merged = [
        f for f in truth["fixes"] if f["merged_at"] and f["merged_at"][:10] > str(today - dt.timedelta(30))
    ]
    assert summary.merged_in_window == len(merged) and summary.open_total > 0
    assert (summary.p50_hours is None) == (not merged)
    names = {result.name for result in checks.results}
    # dbt's tests, run by dbt-snowflake: unique ids and grains, the fixes' repositories
    assert {
        "dbt:unique_stg_pixee__fixes_fix_id",
        "dbt:unique_stg_pixee__webhooks_webhook_id",
        "marts_fresh",
    } <= names
    assert any(n.startswith("dbt:relationships_stg_pixee__fixes_repository_id") for n in names)
    assert any(n.startswith("dbt:pixee_unique_combination_backlog_daily") for n in names)
    assert sim.org_token not in "\n".join(fake_snowflake) and PASSWORD not in "\n".join(fake_snowflake)


def test_events_travel_through_fake_snowflake_and_a_full_refresh_there_keeps_what_went(
    tmp_path: Path, fake_snowflake: list[str]
) -> None:
    """Where runs land on any worker: the receiver's forwarder loads its events into Snowflake and
    a run with no journal of its own plans from them there, reading only the lists they name; a
    --full-refresh on Snowflake keeps a deleted finding, marked. (fakesnow runs DuckDB underneath:
    this proves the SQL and the flow, not Snowflake's transactions or concurrency.)"""
    from dataclasses import replace

    import httpx

    from pipelines.events.forward import Forwarder
    from pipelines.events.journal import Journal
    from pipelines.load.sync import sync
    from simulator import SimConfig, Simulator
    from tests.webhook_support import SECRET, ReceiverProcess

    config = SimConfig(seed=11, repositories=6, days=20, requests_per_minute=None, webhook_retry_scale=0.001)
    with Simulator(config) as sim:
        env = {
            "PIXEE_BASE_URL": sim.base_url,
            "PIXEE_TOKEN": sim.org_token,
            "PIXEE_REQUESTS_PER_MINUTE": "60000",
        }
        settings = replace(
            load_settings("snowflake", env=env),
            events_enabled=True,
            events_source="warehouse",
            events_journal=tmp_path / "not-on-this-worker.sqlite",
        )
        first = sync(settings, pipelines_dir=str(tmp_path / "run"))
        assert first.mode.startswith("mode: poll")
        receiver = ReceiverProcess(tmp_path / "events.sqlite")
        try:
            with httpx.Client(
                base_url=sim.base_url, headers={"authorization": f"Bearer {sim.org_token}"}
            ) as c:
                assert c.post("/webhooks", json={"url": receiver.url, "secret": SECRET}).status_code == 201
            sim.advance(24)
            assert sim.settle_deliveries(60)
        finally:
            receiver.stop()
        with Journal(receiver.journal) as journal:
            forwarded = Forwarder(settings, journal, pipelines_dir=str(tmp_path / "forward")).forward_once()
        assert forwarded > 0
        sim.reset_stats()
        second = sync(settings, pipelines_dir=str(tmp_path / "run"))
        assert second.mode.startswith("mode: events"), second.mode
        by_route = {route: sum(codes.values()) for route, codes in sim.stats()["by_route"].items()}
        lists = sum(n for route, n in by_route.items() if route.startswith("GET /repositories/{id}/"))
        assert 0 < lists < 3 * 6
        truth = sim.truth()
        with second.pipeline.sql_client() as client:
            [(events,)] = client.execute_sql("select count(distinct id) from pixee.webhook_events")
            assert events == forwarded
            for table in ("repositories", "scans", "findings", "fixes"):
                rows = client.execute_sql(f"select id, updated_at from pixee.{table}")
                served = {(o["id"], o["updated_at"][:19]) for o in truth[table]}
                assert {(i, str(u)[:19].replace(" ", "T")) for i, u in rows} == served, table

        gone = truth["findings"][0]["id"]
        sim.delete("findings", gone)
        refreshed = sync(settings, full_refresh=True, pipelines_dir=str(tmp_path / "run"))
    assert refreshed.deleted.get("findings") == 1
    with refreshed.pipeline.sql_client() as client:
        [(marked,)] = client.execute_sql(
            f"select count(*) from pixee.findings where id = '{gone}' and _deleted_at is not null"
        )
        assert marked == 1
        [(copies,)] = client.execute_sql(
            "select count(*) from information_schema.tables where lower(table_name) like '_refresh_prior_%'"
        )
        assert copies == 0
