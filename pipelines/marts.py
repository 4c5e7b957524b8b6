"""The marts runner: staging views then mart tables from sql/, in dependency order, on DuckDB or Snowflake."""

from __future__ import annotations

import contextlib
import datetime as dt
import graphlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from pipelines.errors import ConfigError
from pipelines.settings import REPO_ROOT, Settings

SQL_DIR = REPO_ROOT / "sql"
# The models are written once, in this dialect; Snowflake gets a sqlglot translation of them.
SOURCE_DIALECT = "duckdb"
DIALECTS = ("duckdb", "snowflake")
# Schema names as written in sql/; the runner maps them to the configured datasets.
RAW_SCHEMA = "pixee"
STAGING_SCHEMA = "pixee_marts_staging"
MARTS_SCHEMA = "pixee_marts"
LAYERS = {"staging": STAGING_SCHEMA, "marts": MARTS_SCHEMA}
# Tables the runner writes from Python before any model runs: portable on both engines
# (a SQL date spine is not: sqlglot's Snowflake output for generate_series is invalid there).
HELPER_TABLES = ("sla_policy", "marts_build", "calendar")
SEVERITIES = ("critical", "high", "medium", "low")
# DuckDB casts TIMESTAMPTZ to DATE in the session's zone: make that UTC. Snowflake needs nothing
# here: the raw columns are TIMESTAMP_TZ stored with the API's +00:00 offset (their DATE is the UTC
# date whatever the session zone), dlt's connection already sets TIMEZONE=UTC, and DATE_TRUNC('week')
# starts on Monday under the default WEEK_START (0) as under 1.
SESSION_SETUP: Mapping[str, tuple[str, ...]] = {"duckdb": ("set TimeZone = 'UTC'",), "snowflake": ()}

Execute = Callable[[str], Sequence[Sequence[Any]] | None]


@dataclass(frozen=True)
class Model:
    """One SQL file: a staging view or a mart table, with the relations it reads."""

    name: str
    layer: str  # "staging" or "marts"
    path: Path
    tree: exp.Expression = field(repr=False)

    @property
    def schema(self) -> str:
        return LAYERS[self.layer]

    @property
    def kind(self) -> str:
        return "view" if self.layer == "staging" else "table"

    def references(self) -> set[tuple[str, str]]:
        """(schema, table) of every table the SQL reads, CTE names excluded."""
        ctes = {cte.alias_or_name.lower() for cte in self.tree.find_all(exp.CTE)}
        refs = set()
        for table in self.tree.find_all(exp.Table):
            if not table.db and table.name.lower() in ctes:
                continue
            refs.add((table.db.lower(), table.name.lower()))
        return refs


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


def load_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Every model under sql/staging and sql/marts, parsed in the source dialect."""
    models = []
    for layer in LAYERS:
        for path in sorted((sql_dir / layer).glob("*.sql")):
            statements = [s for s in sqlglot.parse(path.read_text(), read=SOURCE_DIALECT) if s]
            if len(statements) != 1 or not isinstance(statements[0], exp.Query):
                raise ConfigError(f"{path}: a model is exactly one select statement")
            models.append(Model(name=path.stem, layer=layer, path=path, tree=statements[0]))
    return models


def build_order(models: Sequence[Model]) -> list[Model]:
    """Models sorted so that each runs after every model it reads (derived from the SQL)."""
    by_relation = {(m.schema, m.name): m for m in models}
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for model in models:
        deps = set()
        for schema, table in model.references():
            if (schema, table) in by_relation:
                deps.add((schema, table))
            elif (schema == MARTS_SCHEMA and table in HELPER_TABLES) or schema == RAW_SCHEMA:
                continue
            else:
                raise ConfigError(f"{model.path}: reads {schema}.{table}, which no model or raw table is")
        graph[(model.schema, model.name)] = deps
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise ConfigError(f"sql models depend on each other in a cycle: {exc.args[1]}") from None
    return [by_relation[key] for key in order]


def _missing_source(table: exp.Table, columns: Sequence[str], present: set[str] | None) -> exp.Expression:
    """The raw table, or a stand-in with NULL columns for what the load never created."""
    alias = table.alias_or_name
    if present is None:  # the table was never loaded: an empty relation with the columns read
        select = exp.select(*(exp.alias_(exp.null(), c) for c in columns)).where("1 = 0")
    else:
        missing = [c for c in columns if c not in present]
        if not missing:
            return table
        plain = table.copy()
        plain.set("alias", None)
        select = exp.select("*", *(exp.alias_(exp.null(), c) for c in missing)).from_(plain)
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias)))


@dataclass(frozen=True)
class Target:
    """Where and how SQL runs: the dialect, the schema each sql/ schema maps to, and the catalog."""

    dialect: str
    schemas: Mapping[str, str]
    # DuckDB only: a file named like a schema (pixee.duckdb holding schema pixee) makes
    # `pixee.findings` ambiguous, so every table is qualified with the catalog.
    catalog: str | None = None

    @classmethod
    def for_settings(cls, dialect: str, settings: Settings, catalog: str | None = None) -> Target:
        if dialect not in DIALECTS:
            raise ConfigError(f"marts: destination dialect {dialect!r} is not one of {', '.join(DIALECTS)}")
        schemas = {
            RAW_SCHEMA: settings.dataset,
            # not "<dataset>_staging": dlt keeps its own merge staging tables there
            STAGING_SCHEMA: f"{settings.marts_dataset}_staging",
            MARTS_SCHEMA: settings.marts_dataset,
        }
        return cls(dialect=dialect, schemas=schemas, catalog=catalog)

    def sql(self, statement: str | exp.Expression, raw_columns: Mapping[str, set[str]] | None = None) -> str:
        """One statement in the target dialect; with raw_columns, absent raw columns become NULL."""
        tree = (
            sqlglot.parse_one(statement, read=SOURCE_DIALECT)
            if isinstance(statement, str)
            else statement.copy()
        )
        if raw_columns is not None:
            read = sorted({c.name.lower() for c in tree.find_all(exp.Column) if c.name})
            for table in list(tree.find_all(exp.Table)):
                if table.db.lower() == RAW_SCHEMA:
                    stand_in = _missing_source(table, read, raw_columns.get(table.name.lower()))
                    if stand_in is not table:
                        table.replace(stand_in)
        for table in tree.find_all(exp.Table):
            if table.db.lower() in self.schemas:
                table.set("db", exp.to_identifier(self.schemas[table.db.lower()]))
                if self.catalog:
                    table.set("catalog", exp.to_identifier(self.catalog, quoted=True))
        if self.dialect == "snowflake":
            # dlt creates upper-case identifiers on Snowflake; quoting them all keeps reserved
            # words (trigger, start, value) usable as column names.
            tree = normalize_identifiers(tree, dialect="snowflake")
            return tree.sql(dialect="snowflake", identify=True)
        return tree.sql(dialect=self.dialect)

    def model_sql(self, model: Model, raw_columns: Mapping[str, set[str]]) -> str:
        """`create or replace view|table` for a model."""
        target = exp.to_table(f"{model.schema}.{model.name}")
        create = exp.Create(this=target, kind=model.kind.upper(), replace=True, expression=model.tree.copy())
        return self.sql(create, raw_columns if model.layer == "staging" else None)

    def create_schema_sql(self, schema: str) -> str:
        name = exp.to_identifier(self.schemas[schema])
        if self.dialect == "snowflake":
            return f"create schema if not exists {name.sql(dialect='snowflake', identify=True).upper()}"
        prefix = f"{exp.to_identifier(self.catalog, quoted=True).sql('duckdb')}." if self.catalog else ""
        return f"create schema if not exists {prefix}{name.sql(dialect='duckdb', identify=True)}"


def _raw_columns(execute: Execute, target: Target) -> dict[str, set[str]]:
    """Column names of every raw table, lower-cased (dlt never creates a column it saw only as null)."""
    query = (
        "select lower(table_name), lower(column_name) from information_schema.columns "
        f"where lower(table_schema) = '{target.schemas[RAW_SCHEMA].lower()}'"
    )
    if target.dialect == "duckdb":  # several attached databases may hold a schema of that name
        query += " and table_catalog = current_database()"
    tables: dict[str, set[str]] = {}
    for table, column in (
        execute(sqlglot.transpile(query, read=SOURCE_DIALECT, write=target.dialect)[0]) or []
    ):
        tables.setdefault(str(table), set()).add(str(column))
    return tables


def _first_detection(execute: Execute, target: Target, raw: Mapping[str, set[str]]) -> dt.date | None:
    """UTC date of the earliest detected_at in the raw findings, where the calendar must start."""
    if "detected_at" not in raw.get("findings", set()):
        return None
    rows = execute(target.sql("select min(cast(detected_at as timestamp)) from pixee.findings"))
    first = rows[0][0] if rows else None
    if isinstance(first, str):
        first = dt.datetime.fromisoformat(first)
    if isinstance(first, dt.datetime):
        return (first.astimezone(dt.UTC) if first.tzinfo else first).date()
    return first


def _helper_statements(
    settings: Settings, as_of: dt.date, first_day: dt.date | None, built_at: dt.datetime
) -> list[str]:
    """DDL and inserts for sla_policy, marts_build and calendar, in the source dialect."""
    for severity, days in settings.sla_days.items():
        if severity not in SEVERITIES or not isinstance(days, int) or days < 0:
            raise ConfigError(f"sla_days.{severity} = {days!r} is not valid")
    sla_rows = ", ".join(
        f"('{sev}', {settings.sla_days[sev]})" for sev in SEVERITIES if sev in settings.sla_days
    )
    # One day of margin before the first detection: the spine starts at each pair's first day anyway.
    start = min(first_day, as_of) - dt.timedelta(days=1) if first_day else as_of
    days = [start + dt.timedelta(days=i) for i in range((as_of - start).days + 1)]
    statements = [
        "create or replace table pixee_marts.sla_policy (severity varchar, sla_days integer)",
        "create or replace table pixee_marts.marts_build (as_of date, built_at timestamp)",
        f"insert into pixee_marts.marts_build (as_of, built_at) values "
        f"(date '{as_of.isoformat()}', timestamp '{built_at.strftime('%Y-%m-%d %H:%M:%S')}')",
        "create or replace table pixee_marts.calendar (day date)",
    ]
    if sla_rows:
        statements.append(f"insert into pixee_marts.sla_policy (severity, sla_days) values {sla_rows}")
    for i in range(0, len(days), 1000):
        values = ", ".join(f"(date '{d.isoformat()}')" for d in days[i : i + 1000])
        statements.append(f"insert into pixee_marts.calendar (day) values {values}")
    return statements


def run_models(
    execute: Execute,
    dialect: str,
    settings: Settings,
    as_of: dt.date | None = None,
    *,
    sql_dir: Path = SQL_DIR,
) -> MartsReport:
    """Build every model through `execute` (one statement per call): the one code path for all engines."""
    started = time.monotonic()
    built_at = dt.datetime.now(dt.UTC)
    as_of = as_of or built_at.date()
    catalog = None
    if dialect == "duckdb":
        catalog = str((execute("select current_database()") or [[None]])[0][0])
    target = Target.for_settings(dialect, settings, catalog)
    models = build_order(load_models(sql_dir))
    for statement in SESSION_SETUP[dialect]:
        execute(statement)
    for schema in (STAGING_SCHEMA, MARTS_SCHEMA):
        execute(target.create_schema_sql(schema))
    raw = _raw_columns(execute, target)
    statements = [
        target.sql(statement)
        for statement in _helper_statements(settings, as_of, _first_detection(execute, target, raw), built_at)
    ] + [target.model_sql(model, raw) for model in models]
    # On DuckDB the whole rebuild is one transaction: a failing model leaves the previous marts (and
    # their marts_build.as_of) in place, never a mix. Snowflake commits each DDL statement by itself.
    transactional = dialect == "duckdb"
    if transactional:
        execute("begin transaction")
    try:
        for statement in statements:
            execute(statement)
    except BaseException:
        if transactional:
            # dlt's client may have rolled back already; the model's error is the one to report
            with contextlib.suppress(Exception):
                execute("rollback")
        raise
    if transactional:
        execute("commit")
    rows: dict[str, int] = {}
    for name in [m.name for m in models if m.layer == "marts"] + ["sla_policy"]:
        result = execute(target.sql(f"select count(*) from pixee_marts.{name}"))
        rows[name] = int(result[0][0]) if result else 0
    return MartsReport(as_of=as_of, rows=rows, elapsed_seconds=time.monotonic() - started, dialect=dialect)


def destination_dialect(pipeline: dlt.Pipeline, settings: Settings) -> str:
    """'duckdb' or 'snowflake', from the pipeline's destination (settings as the fallback)."""
    destination = getattr(pipeline, "destination", None)
    kind = getattr(destination, "destination_type", None) or getattr(destination, "destination_name", None)
    name = str(kind or settings.destination).rsplit(".", 1)[-1]
    return name if name in DIALECTS else settings.destination


def build_marts(pipeline: dlt.Pipeline, settings: Settings, as_of: dt.date | None = None) -> MartsReport:
    """Rebuild all marts for `as_of` (default: today, UTC) through the pipeline's destination connection."""
    dialect = destination_dialect(pipeline, settings)
    with pipeline.sql_client() as client:
        return run_models(lambda sql: client.execute_sql(sql), dialect, settings, as_of)
