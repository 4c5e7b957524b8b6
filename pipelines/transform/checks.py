"""Data checks after a run: dbt's tests (unique ids and grains, relationships, accepted values), fresh
marts, row counts that never drop.

The tests are the dbt project's own (sql/**/_*.yml, run by `dbt test`); the rest are plain functions
over one `execute(sql) -> rows` callable, so they run from the Prefect flow, from a test with a DuckDB
connection, or by hand; `run_checks(pipeline, ...)` runs both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlglot

from pipelines.errors import DataCheckError
from pipelines.extract.endpoints import ENDPOINTS
from pipelines.settings import Settings
from pipelines.transform.dbt_runner import TestOutcome, destination_dialect, test_marts

Execute = Callable[[str], Sequence[Sequence[Any]] | None]

# Tables whose rows may legitimately shrink between runs: those a run replaces whole (v1's webhooks;
# the platform's integrations, scales, system status and preferences).
MAY_SHRINK = frozenset(e.table for e in ENDPOINTS if e.write_disposition == "replace")
# Row counts of the last good run, kept beside the marts (underscore: bookkeeping, not a mart).
ROW_COUNTS_TABLE = "_pixee_row_counts"


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, and what it found (a sentence an operator can act on)."""

    name: str
    ok: bool
    message: str


@dataclass
class Warehouse:
    """An execute callable plus what it takes to name our tables on this engine."""

    execute: Execute
    dialect: str  # "duckdb" or "snowflake"
    raw_schema: str
    marts_schema: str
    catalog: str | None = None  # DuckDB: the file's catalog, since a schema may share its name
    _tables: dict[str, set[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def for_settings(cls, execute: Execute, dialect: str, settings: Settings) -> Warehouse:
        catalog = None
        if dialect == "duckdb":
            catalog = str((execute("select current_database()") or [[None]])[0][0])
        return cls(execute, dialect, settings.dataset, settings.marts_dataset, catalog)

    def table(self, schema: str, name: str) -> str:
        """A qualified, quoted table name; Snowflake holds dlt's tables in upper case."""
        parts = [schema, name]
        if self.dialect == "snowflake":
            parts = [p.upper() for p in parts]
        elif self.catalog:
            parts.insert(0, self.catalog)
        return ".".join('"' + p.replace('"', '""') + '"' for p in parts)

    def raw(self, name: str) -> str:
        return self.table(self.raw_schema, name)

    def mart(self, name: str) -> str:
        return self.table(self.marts_schema, name)

    def query(self, sql: str) -> list[Sequence[Any]]:
        """Run SQL written for DuckDB (with qualified names already in it) on this engine."""
        if self.dialect != "duckdb":
            sql = sqlglot.transpile(sql, read="duckdb", write=self.dialect)[0]
        return list(self.execute(sql) or [])

    def tables(self, schema: str) -> set[str]:
        """Lower-case names of the tables in a schema (cached per run)."""
        if schema not in self._tables:
            where = f"lower(table_schema) = '{schema.lower()}'"
            if self.catalog:
                where += f" and table_catalog = '{self.catalog}'"
            rows = self.query(f"select lower(table_name) from information_schema.tables where {where}")
            self._tables[schema] = {str(r[0]) for r in rows}
        return self._tables[schema]


def dbt_test_checks(outcomes: Sequence[TestOutcome]) -> list[CheckResult]:
    """One CheckResult per dbt test (uniqueness of every id and grain, relationships, accepted values)."""
    return [CheckResult(f"dbt:{o.name}", o.ok, o.message) for o in outcomes]


def check_marts_fresh(wh: Warehouse, as_of: dt.date) -> CheckResult:
    """The marts were built for `as_of`, and the daily backlog reaches that day."""
    marts = wh.tables(wh.marts_schema)
    if "marts_build" not in marts:
        return CheckResult("marts_fresh", False, f"no marts build found in schema {wh.marts_schema}")
    built = wh.query(f"select max(as_of) from {wh.mart('marts_build')}")
    built_for = _as_date(built[0][0]) if built else None
    if built_for != as_of:
        return CheckResult("marts_fresh", False, f"marts are as of {built_for}, expected {as_of}")
    if "backlog_daily" in marts:
        last = wh.query(f"select max(day), count(*) from {wh.mart('backlog_daily')}")
        last_day, count = last[0] if last else (None, 0)
        if count and _as_date(last_day) != as_of:
            return CheckResult(
                "marts_fresh", False, f"backlog_daily ends on {_as_date(last_day)}, not {as_of}"
            )
    return CheckResult("marts_fresh", True, f"marts are as of {as_of}")


def raw_row_counts(wh: Warehouse) -> dict[str, int]:
    """Rows per raw table (dlt's own tables and child tables excluded)."""
    counts = {}
    for name in sorted(wh.tables(wh.raw_schema)):
        if name.startswith("_dlt") or "__" in name:
            continue
        counts[name] = int(wh.query(f"select count(*) from {wh.raw(name)}")[0][0])
    return counts


def previous_row_counts(wh: Warehouse) -> dict[str, int]:
    """The counts recorded by the last run whose checks passed; empty before the first."""
    if ROW_COUNTS_TABLE not in wh.tables(wh.marts_schema):
        return {}
    table = wh.mart(ROW_COUNTS_TABLE)
    rows = wh.query(
        f"select table_name, row_count from {table} where checked_at = (select max(checked_at) from {table})"
    )
    return {str(name): int(count) for name, count in rows}


def check_row_counts(wh: Warehouse, current: Mapping[str, int], *, incremental: bool) -> CheckResult:
    """On an incremental run no raw table may shrink (except those in MAY_SHRINK)."""
    if not incremental:
        return CheckResult("row_counts", True, "full refresh: counts are re-baselined")
    previous = previous_row_counts(wh)
    drops = [
        f"{name} {before:,} -> {current.get(name, 0):,}"
        for name, before in sorted(previous.items())
        if name not in MAY_SHRINK and current.get(name, 0) < before
    ]
    if drops:
        return CheckResult(
            "row_counts",
            False,
            "rows dropped on an incremental run (something deleted what it should not): " + ", ".join(drops),
        )
    if not previous:
        return CheckResult("row_counts", True, "first recorded run: counts are the baseline")
    return CheckResult("row_counts", True, "no raw table shrank since the last run")


def record_row_counts(wh: Warehouse, counts: Mapping[str, int], *, full_refresh: bool) -> None:
    """Remember this run's counts for the next run's comparison."""
    if ROW_COUNTS_TABLE not in wh.tables(wh.marts_schema):
        wh.query(
            f"create table if not exists {wh.mart(ROW_COUNTS_TABLE)} "
            "(checked_at timestamp, table_name varchar, row_count bigint, full_refresh boolean)"
        )
        wh.tables(wh.marts_schema).add(ROW_COUNTS_TABLE)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    values = ", ".join(
        f"(timestamp '{now}', '{name}', {count}, {'true' if full_refresh else 'false'})"
        for name, count in sorted(counts.items())
    )
    if values:
        wh.query(
            f"insert into {wh.mart(ROW_COUNTS_TABLE)} (checked_at, table_name, row_count, full_refresh) "
            f"values {values}"
        )


@dataclass
class CheckReport:
    """Every check's result and the raw row counts seen; `raise_for_failures` fails loudly."""

    results: list[CheckResult]
    row_counts: dict[str, int]

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    def raise_for_failures(self) -> None:
        if self.failures:
            raise DataCheckError(self.failures)


def run_checks_on(
    wh: Warehouse,
    *,
    as_of: dt.date,
    full_refresh: bool = False,
    record: bool = True,
    tests: Sequence[TestOutcome] = (),
) -> CheckReport:
    """All checks, dbt test results included; when all pass (and `record`), the counts become the baseline."""
    counts = raw_row_counts(wh)
    results = [
        *dbt_test_checks(tests),
        check_marts_fresh(wh, as_of),
        check_row_counts(wh, counts, incremental=not full_refresh),
    ]
    report = CheckReport(results, counts)
    if record and not report.failures:
        record_row_counts(wh, counts, full_refresh=full_refresh)
    return report


def run_checks(
    pipeline: Any, settings: Settings, *, as_of: dt.date, full_refresh: bool = False, record: bool = True
) -> CheckReport:
    """`dbt test`, then run_checks_on through the pipeline's destination connection (DuckDB or Snowflake)."""
    dialect = destination_dialect(pipeline, settings)
    tests = test_marts(pipeline, settings, as_of)
    with pipeline.sql_client() as client:
        wh = Warehouse.for_settings(client.execute_sql, dialect, settings)
        return run_checks_on(wh, as_of=as_of, full_refresh=full_refresh, record=record, tests=tests)


def _as_date(value: Any) -> dt.date | None:
    if value is None or type(value) is dt.date:
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])
