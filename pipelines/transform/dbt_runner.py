"""The marts: the dbt project in sql/, run in-process by dbt's runner with the pipeline's own credentials."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt

from pipelines.errors import ConfigError, MartsError
from pipelines.settings import REPO_ROOT, Settings

SQL_DIR = REPO_ROOT / "sql"
DIALECTS = ("duckdb", "snowflake")
# The APIs a raw dataset may come from: v1 (api-contract.md) or the platform's HAL API (docs/platform.md).
FLAVOURS = ("v1", "platform")
SEVERITIES = ("critical", "high", "medium", "low")
# Tables in the marts schema that are bookkeeping for the models, not marts to count.
NOT_COUNTED = frozenset({"marts_build"})
# Marts only a platform source fills (a v1 warehouse gets them as empty tables).
PLATFORM_ONLY = frozenset({"analysis_daily", "scan_daily"})
# dbt scrubs env vars with this prefix from its logs and never writes their values anywhere.
SECRET_ENV_PREFIX = "DBT_ENV_SECRET_PIXEE_SNOWFLAKE_"
SNOWFLAKE_SECRET_FIELDS = ("password", "private_key", "private_key_passphrase")
# dbt's runner keeps process-wide state (flags, adapters): one invocation at a time in a process.
_DBT_LOCK = threading.Lock()


@dataclass
class MartsReport:
    """What one build did: the as-of date, rows per mart, and how long it took."""

    as_of: dt.date
    rows: dict[str, int]
    elapsed_seconds: float
    dialect: str = "duckdb"

    def summary(self) -> str:
        marts = ", ".join(f"{name} {count:,}" for name, count in self.rows.items())
        return f"marts as of {self.as_of} ({self.dialect}, {self.elapsed_seconds:.1f}s): {marts}"


@dataclass(frozen=True)
class TestOutcome:
    """One dbt test: its name, the node it tests, whether it passed, and what it found."""

    name: str
    model: str
    ok: bool
    failures: int
    message: str


@dataclass
class DbtOutcome:
    """A finished dbt invocation: whether it succeeded, and the results per node."""

    success: bool = False
    results: list[Any] = field(default_factory=list)


def destination_dialect(pipeline: dlt.Pipeline, settings: Settings) -> str:
    """'duckdb' or 'snowflake', from the pipeline's destination (settings as the fallback)."""
    destination = getattr(pipeline, "destination", None)
    kind = getattr(destination, "destination_type", None) or getattr(destination, "destination_name", None)
    name = str(kind or settings.destination).rsplit(".", 1)[-1]
    if name not in DIALECTS:
        name = settings.destination
    if name not in DIALECTS:
        raise ConfigError(f"marts: destination {name!r} is not one of {', '.join(DIALECTS)}")
    return name


def dbt_vars(settings: Settings, as_of: dt.date, flavour: str = "v1") -> dict[str, Any]:
    """The project's vars for one build: as-of date, raw dataset, SLA days (validated here), and
    which API the raw dataset was loaded from (FLAVOURS)."""
    if flavour not in FLAVOURS:
        raise ConfigError(f"marts: flavour {flavour!r} is not one of {', '.join(FLAVOURS)}")
    for severity, days in settings.sla_days.items():
        if severity not in SEVERITIES or not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ConfigError(f"sla_days.{severity} = {days!r} is not valid")
    return {
        "pixee_as_of": as_of.isoformat(),
        "pixee_schema": settings.dataset,
        "pixee_sla_days": {sev: settings.sla_days[sev] for sev in SEVERITIES if sev in settings.sla_days},
        "pixee_flavour": flavour,
    }


def raw_flavour(pipeline: dlt.Pipeline, settings: Settings, dialect: str) -> str:
    """'platform' when the raw dataset holds what the platform API loads (an `analyses` table, or
    `scans` with a `detector` column), else 'v1'. Decided from the tables, so the same warehouse
    always builds the same way whatever the profile says."""
    schema = settings.dataset.lower().replace("'", "''")
    where = f"lower(table_schema) = '{schema}' and lower(table_name) in ('scans', 'analyses')"
    if dialect == "duckdb":
        where += " and table_catalog = current_database()"
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            f"select lower(table_name), lower(column_name) from information_schema.columns where {where}"
        )
    found = {(str(table), str(column)) for table, column in rows or []}
    platform = any(table == "analyses" for table, _ in found) or ("scans", "detector") in found
    return "platform" if platform else "v1"


def dbt_profile(
    pipeline: dlt.Pipeline, settings: Settings, dialect: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """profiles.yml content for the pipeline's destination, and the secrets it reads via env_var().

    The profile never holds a secret: Snowflake's password or key is referenced as
    env_var('DBT_ENV_SECRET_...'), set in this process's environment only while dbt runs.
    """
    with pipeline.sql_client() as client:
        credentials = client.credentials
    if dialect == "duckdb":
        output: dict[str, Any] = {
            "type": "duckdb",
            "path": str(Path(str(credentials.database)).resolve()),
            "schema": settings.marts_dataset,
            "threads": 1,
            # casts of TIMESTAMPTZ to TIMESTAMP and DATE must give UTC whatever the machine's zone
            "settings": {"TimeZone": "UTC"},
        }
        return _profile(dialect, output), {}
    output = {
        "type": "snowflake",
        "account": credentials.host,
        "user": credentials.username,
        "database": credentials.database,
        "schema": settings.marts_dataset,
        "threads": 4,
        "client_session_keep_alive": False,
    }
    for key in ("warehouse", "role", "authenticator"):
        value = getattr(credentials, key, None)
        if value:
            output[key] = value
    secrets: dict[str, str] = {}
    for key in SNOWFLAKE_SECRET_FIELDS:
        value = getattr(credentials, key, None)
        if value:
            env_name = SECRET_ENV_PREFIX + key.upper()
            secrets[env_name] = str(value)
            output[key] = "{{ env_var('" + env_name + "') }}"
    return _profile(dialect, output), secrets


def _profile(dialect: str, output: Mapping[str, Any]) -> dict[str, Any]:
    return {"pixee": {"target": dialect, "outputs": {dialect: dict(output)}}}


@contextlib.contextmanager
def _secret_env(secrets: Mapping[str, str]) -> Iterator[None]:
    """The secrets in os.environ for the duration of a dbt call, then gone again."""
    previous = {name: os.environ.get(name) for name in secrets}
    os.environ.update(secrets)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def invoke_dbt(
    command: Sequence[str],
    pipeline: dlt.Pipeline,
    settings: Settings,
    as_of: dt.date,
    *,
    project_dir: Path = SQL_DIR,
    target_dir: Path | None = None,
    quiet: bool = True,
    flavour: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> DbtOutcome:
    """`dbt <command>` in-process on the pipeline's destination; MartsError when dbt cannot run at all.

    quiet: dbt prints nothing (the caller reports); otherwise dbt's own output, as on the command line.
    flavour: the raw dataset's API (FLAVOURS); read off the raw tables when not given.
    variables: the --vars to pass; by default this pipeline's (dbt_vars). A project that installs sql/
    as a package passes {} so that the vars it sets itself hold.
    """
    from dbt.cli.main import dbtRunner

    dialect = destination_dialect(pipeline, settings)
    profile, secrets = dbt_profile(pipeline, settings, dialect)
    if variables is None:
        variables = dbt_vars(settings, as_of, flavour or raw_flavour(pipeline, settings, dialect))
    with tempfile.TemporaryDirectory(prefix="pixee-dbt-") as tmp:
        (Path(tmp) / "profiles.yml").write_text(json.dumps(profile))  # JSON is YAML
        args = [
            *command,
            "--project-dir", str(project_dir),
            "--profiles-dir", tmp,
            "--target", dialect,
            "--target-path", str(target_dir or Path(tmp) / "target"),
            "--log-path", str(Path(tmp) / "logs"),
            *(["--vars", json.dumps(dict(variables))] if variables else []),
            *(["--log-level", "none"] if quiet else []),
            "--log-level-file", "none",
            "--no-use-colors",
            "--no-partial-parse",
            "--no-send-anonymous-usage-stats",
            "--no-version-check",
        ]  # fmt: skip
        with _DBT_LOCK, _secret_env(secrets):
            try:
                result = dbtRunner().invoke(args)
            finally:
                if dialect == "duckdb":
                    _release_duckdb()
    if result.exception is not None:
        raise MartsError(f"dbt {command[0]}: {_one_line(str(result.exception))}") from None
    outcome = DbtOutcome(success=bool(result.success))
    if result.result is not None and hasattr(result.result, "results"):
        outcome.results = list(result.result.results)
    return outcome


def _release_duckdb() -> None:
    """Close the DuckDB connection dbt-duckdb keeps for the process after a run.

    Left open, it holds the file (another process cannot open it) and makes every later connection
    in this process with other options (dlt's, an analyst's read-only one) fail.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _status(result: Any) -> str:
    return str(getattr(result.status, "value", result.status)).lower()


def build_marts(
    pipeline: dlt.Pipeline,
    settings: Settings,
    as_of: dt.date | None = None,
    *,
    project_dir: Path = SQL_DIR,
    target_dir: Path | None = None,
) -> MartsReport:
    """`dbt run` of every model for `as_of` (default: today, UTC) on the pipeline's destination.

    A failing model raises MartsError naming it; the tables of that model and of the models
    downstream of it (marts_build last of all) keep their previous build. dbt's artifacts
    (manifest, the SQL it ran) go to `target_dir`, by default a temporary directory.
    """
    started = time.monotonic()
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    dialect = destination_dialect(pipeline, settings)
    flavour = raw_flavour(pipeline, settings, dialect)
    outcome = invoke_dbt(
        ["run"], pipeline, settings, as_of, project_dir=project_dir, target_dir=target_dir, flavour=flavour
    )
    failed = [r for r in outcome.results if _status(r) == "error"]
    if failed:
        skipped = sum(_status(r) == "skipped" for r in outcome.results)
        reasons = "; ".join(f"{r.node.name}: {_one_line(str(r.message))}" for r in failed)
        raise MartsError(
            f"marts as of {as_of}: {len(failed)} model(s) failed, {skipped} skipped "
            f"(their previous tables are kept): {reasons}"
        )
    marts = [
        r.node.name
        for r in outcome.results
        if r.node.fqn[1:2] == ["marts"]
        and r.node.name not in NOT_COUNTED
        # a v1 warehouse's platform marts are empty by definition: not worth a line in the summary
        and (flavour == "platform" or r.node.name not in PLATFORM_ONLY)
    ]
    rows = _row_counts(pipeline, settings, dialect, sorted(marts, key=_mart_order))
    return MartsReport(as_of=as_of, rows=rows, elapsed_seconds=time.monotonic() - started, dialect=dialect)


# The order the summary lists marts in: the original five, then version 2, then the platform's two,
# then the SLA table.
MART_ORDER = (
    "fix_latency",
    "fix_latency_weekly",
    "backlog_daily",
    "repository_scorecard",
    "triage_outcomes",
    "finding_remediation",
    "remediation_weekly",
    "fix_outcomes",
    "scanner_outcomes",
    "analysis_daily",
    "scan_daily",
    "sla_policy",
)


def _mart_order(name: str) -> tuple[int, str]:
    return (MART_ORDER.index(name) if name in MART_ORDER else len(MART_ORDER), name)


def _row_counts(
    pipeline: dlt.Pipeline, settings: Settings, dialect: str, marts: Sequence[str]
) -> dict[str, int]:
    """Rows per mart table, read back through the pipeline's own connection."""
    if not marts:
        return {}
    with pipeline.sql_client() as client:
        if dialect == "duckdb":
            catalog = str(client.execute_sql("select current_database()")[0][0])
            prefix = _quote(catalog) + "." + _quote(settings.marts_dataset)
        else:
            prefix = _quote(settings.marts_dataset.upper())
        names = [name if dialect == "duckdb" else name.upper() for name in marts]
        union = " union all ".join(
            f"select '{mart}' as mart, count(*) as n from {prefix}.{_quote(name)}"
            for mart, name in zip(marts, names, strict=True)
        )
        counts = {str(mart): int(n) for mart, n in client.execute_sql(union) or []}
    return {mart: counts.get(mart, 0) for mart in marts}


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def test_marts(
    pipeline: dlt.Pipeline, settings: Settings, as_of: dt.date | None = None, *, project_dir: Path = SQL_DIR
) -> list[TestOutcome]:
    """`dbt test`: every data test in the project's schema files, one TestOutcome each.

    The unit tests are left out: they check the SQL on rows of their own, not the warehouse, so
    they belong to development and CI (`dbt build`, integration_tests/), as dbt advises.
    """
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    command = ["test", "--exclude-resource-type", "unit_test"]
    outcome = invoke_dbt(command, pipeline, settings, as_of, project_dir=project_dir)
    return [_test_outcome(r, _examples(pipeline, r)) for r in outcome.results]


test_marts.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


def _examples(pipeline: dlt.Pipeline, result: Any, limit: int = 3) -> str:
    """A few of a failed test's rows ("repo_1", "f_2/2"), read with the test's own compiled SQL."""
    sql = getattr(result.node, "compiled_code", None)
    if _status(result) not in ("fail", "warn") or not sql:
        return ""
    try:
        with pipeline.sql_client() as client:
            rows = client.execute_sql(f"select * from ({sql}) as failing limit {limit}") or []
    except Exception:  # the count already says it failed; examples are a courtesy
        return ""
    return ", ".join("/".join(str(value) for value in row) for row in rows)


def _test_outcome(result: Any, examples: str = "") -> TestOutcome:
    node = result.node
    status = _status(result)
    failures = int(getattr(result, "failures", 0) or 0)
    metadata = getattr(node, "test_metadata", None)
    kind = metadata.name if metadata else "test"
    kwargs = dict(metadata.kwargs) if metadata else {}
    model = ""
    if getattr(node, "attached_node", None):
        model = str(node.attached_node).rsplit(".", 1)[-1]
    elif str(getattr(node, "resource_type", "")).endswith("unit_test"):  # the model it tests
        tested = getattr(node, "tested_node_unique_id", None) or getattr(node, "model", "")
        kind, model = "unit_test", str(tested).rsplit(".", 1)[-1]
    elif getattr(node, "sources", None):  # a test on a raw table: name it as schema.table
        source, table = node.sources[0]
        model = f"{source}.{table}"
    subject = f"{model}.{kwargs['column_name']}" if kwargs.get("column_name") else model
    if "columns" in kwargs:
        subject = f"{model} ({', '.join(kwargs['columns'])})"
    if status == "pass":
        message = f"{kind} {subject}: ok"
    elif status in ("fail", "warn"):
        shown = f", e.g. {examples}" if examples else ""
        message = f"{kind} {subject}: {failures} failing row(s){shown} ({node.name})"
    else:
        message = f"{kind} {subject}: {status}: {_one_line(str(result.message))}"
    return TestOutcome(node.name, model, status == "pass", failures, message)
