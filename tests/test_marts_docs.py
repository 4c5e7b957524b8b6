"""docs/warehouse.md stays true: its example queries run on a built warehouse and give the answers
known for a hand-made one (a query that runs but answers another question is a wrong number in a
lead's report), its data dictionary is the one generated from the dbt schema file, and every mart
column the models produce is in it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from pipelines.settings import REPO_ROOT, Settings
from pipelines.transform.dbt_runner import build_marts
from pipelines.transform.docs import render, updated
from tests.marts_expected_platform import KEYS
from tests.marts_support import HANDMADE_AS_OF, load_raw
from tests.platform_marts_support import (
    HANDMADE_PLATFORM_AS_OF,
    handmade_platform_snapshots,
    write_platform_warehouse,
)
from tests.test_marts_history import _version, history_org

DOC = (REPO_ROOT / "docs" / "warehouse.md").read_text()


# Marts only a platform source fills: their queries run on a platform warehouse.
PLATFORM_MARTS = ("analysis_daily", "scan_daily")


def all_example_queries() -> list[str]:
    section = DOC.split("## Example queries", 1)[1]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def example_queries() -> list[str]:
    """The queries that answer on any warehouse (the serving-file test runs these on a v1 one)."""
    return [q for q in all_example_queries() if not any(mart in q for mart in PLATFORM_MARTS)]


QUERIES = 12


@pytest.fixture(scope="module")
def warehouse(handmade_warehouse: Path) -> Path:
    return handmade_warehouse


@pytest.fixture(scope="module")
def platform_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("platform_docs")
    pipeline = write_platform_warehouse(handmade_platform_snapshots(), tmp / "warehouse.duckdb", tmp / "p")
    build_marts(pipeline, Settings(), HANDMADE_PLATFORM_AS_OF)
    return tmp / "warehouse.duckdb"


def test_there_are_twelve_example_queries_five_on_the_remediation_marts_two_on_the_platforms() -> None:
    queries = all_example_queries()
    assert len(queries) == QUERIES
    v2 = ("finding_remediation", "remediation_weekly", "fix_outcomes", "scanner_outcomes")
    assert sum(any(mart in q for mart in v2) for q in queries) >= 5
    assert {mart for q in queries for mart in PLATFORM_MARTS if mart in q} == set(PLATFORM_MARTS)


def test_the_data_dictionary_is_the_one_generated_from_the_dbt_schema_file() -> None:
    assert updated(DOC, render()) == DOC, "docs/warehouse.md is stale: run python -m pipelines.transform.docs"


@pytest.mark.parametrize("number", range(QUERIES))
def test_example_query_runs_and_answers(request: pytest.FixtureRequest, number: int) -> None:
    query = all_example_queries()[number]
    platform = any(mart in query for mart in PLATFORM_MARTS)
    warehouse = request.getfixturevalue("platform_warehouse" if platform else "warehouse")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(query).fetchall()
    assert rows, f"example query {number + 1} returned nothing on the edge-case warehouse"
    # and it is Snowflake SQL too once translated (the doc promises it runs there as written)
    translated = sqlglot.transpile(query, read="duckdb", write="snowflake")[0]
    sqlglot.parse_one(translated, read="snowflake", error_level=ErrorLevel.RAISE)


def test_every_mart_column_is_in_the_dictionary(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart in KEYS:
            heading = f"### `{mart}`" if f"### `{mart}`" in DOC else "### Helper tables"
            section = DOC.split(heading, 1)[1].split("\n### ", 1)[0]
            documented = set(re.findall(r"`(\w+)`", section))
            columns = [row[0] for row in con.execute(f"describe pixee_marts.{mart}").fetchall()]
            missing = [c for c in columns if c not in documented]
            assert not missing, f"{mart}: columns not in docs/warehouse.md: {missing}"


def test_dbt_docs_generate_works_offline_with_the_pipelines_credentials(
    handmade_warehouse: Path, tmp_path: Path
) -> None:
    """`pixee-etl dbt docs generate`: manifest and catalog for BI tools, nothing downloaded (no packages,
    no hub: the suite has no network beyond loopback)."""
    import json

    from pipelines.cli import main

    (tmp_path / "copy.duckdb").write_bytes(handmade_warehouse.read_bytes())
    target = tmp_path / "target"
    args = ["dbt", "--duckdb-path", str(tmp_path / "copy.duckdb"), "--target-path", str(target)]
    assert main([*args, "docs", "generate"]) == 0
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    tables = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert {"finding_remediation", "remediation_weekly", "backlog_daily", "stg_pixee__findings"} <= tables
    remediation = manifest["nodes"]["model.pixee.finding_remediation"]
    assert "closure" in remediation["description"]
    assert remediation["columns"]["times_reopened"]["description"]
    assert not (REPO_ROOT / "sql" / "dbt_packages").exists()


# -- what the queries answer, on a warehouse where the answers are known -------------------------


def _answers_org() -> dict[str, list[dict[str, Any]]]:
    """The hand-made organisation with history (tests/test_marts_history.py) plus two findings
    dismissed and never reopened, in the history as they were observed: the answer to "dismissed
    and later reopened" is f_pending alone (dismissed 01-10, open again on 03-30)."""
    truth = history_org()
    findings = {f["id"]: f for f in truth["findings"]}
    wontfix, fp = findings["f_wontfix"], findings["f_fp"]
    truth["findings_history"] += [
        _version(wontfix, "2026-03-02T00:00:00Z", "2026-03-02T06:00:00Z", status="open", resolved_at=None),
        _version(wontfix, "2026-03-03T00:00:00Z", "2026-03-03T06:00:00Z"),
        _version(fp, "2026-02-10T05:30:00Z", "2026-02-11T06:00:00Z"),
    ]
    return truth


@pytest.fixture(scope="module")
def answers_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipelines.settings import Settings
    from pipelines.transform.dbt_runner import build_marts

    tmp = tmp_path_factory.mktemp("answers")
    pipeline = load_raw(_answers_org(), tmp / "warehouse.duckdb", tmp / "pipelines")
    build_marts(pipeline, Settings(), HANDMADE_AS_OF)
    return tmp / "warehouse.duckdb"


def _run(warehouse: Path, query: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [tuple(row) for row in con.execute(query).fetchall()]


def _query_after(comment: str) -> str:
    found = [q for q in re.findall(r"```sql\n(.*?)```", DOC, re.S) if q.startswith(f"-- {comment}")]
    assert len(found) == 1, f"docs/warehouse.md: no single query headed '-- {comment}'"
    return found[0]


def test_dismissed_and_later_reopened_lists_only_what_was_reopened(answers_warehouse: Path) -> None:
    rows = _run(answers_warehouse, _query_after("findings dismissed and later reopened"))
    # f_fp and f_wontfix were dismissed and still are; f_reopened was reopened after a fix, not a
    # dismissal: none of them answers the question
    assert rows == [("f_pending", dt.datetime(2026, 1, 10), dt.datetime(2026, 3, 30, 12))]
    reopened = _run(
        answers_warehouse,
        "select finding_id from pixee_marts.finding_remediation where times_reopened > 0 order by 1",
    )
    assert reopened == [("f_pending",), ("f_reopened",)]


def _approx(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(pytest.approx(v) if isinstance(v, float) else v for v in row) for row in rows]


def test_example_queries_answer_what_their_headings_ask(answers_warehouse: Path) -> None:
    """Each example query on the hand-made organisation as of 2026-03-31, against the answer worked
    out by hand from its findings and fixes (tests/marts_support.py, tests/test_marts_history.py)."""
    queries = example_queries()
    run = [_run(answers_warehouse, q) for q in queries]
    d = dt.date

    # 1. backlog trend: the as-of day (payments was deleted that day, f_closed_pr on 03-25) and
    # the nine findings detected in the 90 days
    last = [r for r in run[0] if r[0] == d(2026, 3, 31)]
    assert last == [
        (d(2026, 3, 31), "critical", 0, 0, 0, 0),
        (d(2026, 3, 31), "high", 2, 1, 0, 0),  # f_old_high (58 days, SLA 30) and f_reopened
        (d(2026, 3, 31), "low", 1, 0, 0, 0),  # f_pending, reopened
        (d(2026, 3, 31), "medium", 0, 0, 0, 0),
    ]
    assert run[0][0][0] == d(2026, 1, 1) and sum(r[4] for r in run[0]) == 9
    assert (d(2026, 1, 10), "low", 1, 0, 0, 1) in run[0]  # f_pending dismissed that day
    # 2. SLA breaches: f_old_high alone
    assert run[1] == [("backend-api", "high", 30, 2, 1, 0)]
    # 3. MTTR by codemod: 10 h (review 9 h); 7 days 3.3 h from f_crit's detection (review 30.8 h)
    assert run[2] == _approx(
        [
            ("pixee:python/secure-random", 1, 0.4, 0.4, 9.0),
            ("pixee:python/sql-parameterization", 1, 7.1, 7.1, 30.8),
        ]
    )
    # 4. merge rate: March decided two merges and one close
    assert run[3] == _approx([(d(2026, 3, 1), 2, 1, 0.667)])
    # 5. noisy rules: weak-hash's one triaged finding is a false positive (f_pending is pending again)
    assert run[4] == _approx(
        [
            ("semgrep", "python/weak-hash", 2, 1, 1, 1.0, 5.5),
            ("codeql", "py/clear-text-logging", 1, 1, 0, 0.0, 4.0),
            ("semgrep", "python/sql-injection", 6, 6, 0, 0.0, 1.3),
        ]
    )
    # 6. weekly program: f_crit closed the week of 03-09 after 7.1 days against a 7-day SLA;
    # f_wontfix closed within its SLA the week of 03-02
    weeks = {(r[0], r[1]): r for r in run[5]}
    assert min(weeks)[0] == d(2026, 1, 12)
    assert weeks[(d(2026, 3, 9), "critical")][2:8] == (0, 1, 0, None, 0.0, 7.1)
    assert weeks[(d(2026, 3, 2), "medium")][2:8] == (1, 1, 0, 1.0, 1.0, 1.0)
    # 7. most overdue: f_old_high, 58 days old against 30
    assert run[6] == [
        ("backend-api", "f_old_high", "high", "python/sql-injection", d(2026, 2, 1), d(2026, 3, 3), 28, 0)
    ]
    # 8. AI-generated versus deterministic: fix_same_day; the four others, one merged, one closed
    assert run[7] == _approx([(False, 4, 1, 1, 0.5, 2), (True, 1, 1, 0, 1.0, 1)])
    # 9. scanners: semgrep's closures f_same_day, f_crit (Pixee) and f_wontfix; codeql's are in the
    # deleted payments repository
    assert run[8] == _approx([("semgrep", 8, 0.143, 3, 2, 1.0, 1.0), ("codeql", 2, 0.0, 0, 0, None, None)])
    # 10. per repository and severity: f_crit closed after its SLA, f_fp never a closure
    assert run[9] == _approx(
        [
            ("backend-api", "critical", 2, 3.8, 1, 0),
            ("backend-api", "high", 0, None, 0, 0),
            ("backend-api", "low", 0, None, 0, 0),
            ("backend-api", "medium", 1, 1.0, 0, 1),
            ("payments", "critical", 0, None, 0, 0),
            ("payments", "low", 0, None, 0, 0),
        ]
    )
