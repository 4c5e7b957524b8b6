"""The marts on DuckDB: a hand-made organisation of edge cases, built by the real runner and SQL,
equals an independent Python computation; absent tables and columns do not break the build."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.marts import MARTS_SCHEMA, STAGING_SCHEMA, build_marts, build_order, load_models
from pipelines.settings import Settings
from tests.marts_expected import KEYS, expected_marts
from tests.marts_support import HANDMADE_AS_OF, assert_same_rows, handmade_org, load_raw

MARTS = tuple(KEYS)


def read_marts(path: Path, marts_dataset: str = "pixee_marts") -> dict[str, list[dict[str, Any]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {name: _records(con, f"select * from {marts_dataset}.{name}") for name in MARTS}


def _records(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("marts")
    pipeline = load_raw(handmade_org(), tmp / "warehouse.duckdb", tmp / "pipelines")
    report = build_marts(pipeline, Settings(), HANDMADE_AS_OF)
    assert report.as_of == HANDMADE_AS_OF
    return tmp / "warehouse.duckdb", read_marts(tmp / "warehouse.duckdb")


@pytest.mark.parametrize("mart", MARTS)
def test_every_column_equals_the_python_computation(built, mart: str) -> None:
    _, actual = built
    expected = expected_marts(handmade_org(), HANDMADE_AS_OF, Settings().sla_days)
    assert_same_rows(mart, actual[mart], expected[mart])


def _one(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def test_edge_cases_a_security_lead_would_notice(built) -> None:
    _, marts = built
    fixes = {r["fix_id"]: r for r in marts["fix_latency"]}
    # several findings of different severities: the highest wins, the earliest detection counts
    assert fixes["fix_two_sev"]["severity"] == "critical" and fixes["fix_two_sev"]["finding_count"] == 2
    assert fixes["fix_two_sev"]["detected_at"] == dt.datetime(2026, 3, 5, 6, 0)
    assert fixes["fix_no_findings"]["severity"] is None and fixes["fix_no_findings"]["finding_count"] == 0
    assert fixes["fix_same_day"]["hours_detect_to_merge"] == pytest.approx(10.0)
    # fractional seconds count exactly: 6 days 3 h 15 min 30.25 s after detection
    assert fixes["fix_two_sev"]["hours_detect_to_merge"] == pytest.approx(7 * 24 + 3 + 15 / 60 + 30.25 / 3600)

    backlog = marts["backlog_daily"]
    # detected and resolved the same day: opened and resolved that day, never open at its end
    same_day = _one(backlog, day=dt.date(2026, 3, 1), repository_id="repo_backend", severity="critical")
    assert (same_day["opened"], same_day["resolved"], same_day["open_findings"]) == (1, 1, 0)
    # resolved exactly at midnight: still open at the end of the day before
    eve = _one(backlog, day=dt.date(2026, 3, 19), repository_id="repo_payments", severity="low")
    after = _one(backlog, day=dt.date(2026, 3, 20), repository_id="repo_payments", severity="low")
    assert (eve["open_findings"], after["open_findings"], after["resolved"]) == (1, 0, 1)
    # the reopened high finding is in the backlog again, with the open-PR one past its 30-day SLA
    high = _one(backlog, day=HANDMADE_AS_OF, repository_id="repo_backend", severity="high")
    assert (high["open_findings"], high["open_over_sla"], high["open_age_31_90"]) == (2, 1, 1)

    cards = {r["repository_id"]: r for r in marts["repository_scorecard"]}
    empty = cards["repo_empty"]
    assert empty["findings_total"] == 0 and empty["open_findings"] == 0
    assert empty["triage_coverage"] is None and empty["merge_rate"] is None
    backend = cards["repo_backend"]
    assert (backend["prs_merged"], backend["prs_closed_unmerged"], backend["open_prs"]) == (2, 1, 1)
    assert backend["merge_rate"] == pytest.approx(2 / 3)
    rules = {(r["detection_tool"], r["rule_id"]): r for r in marts["triage_outcomes"]}
    assert rules[("codeql", "py/sql-injection")]["false_positive_rate"] is None  # pending only


def test_sla_days_come_from_settings(tmp_path: Path) -> None:
    pipeline = load_raw(handmade_org(), tmp_path / "w.duckdb", tmp_path / "p")
    settings = replace(Settings(), sla_days={"critical": 1, "high": 3, "medium": 5, "low": 400})
    build_marts(pipeline, settings, HANDMADE_AS_OF)
    marts = read_marts(tmp_path / "w.duckdb")
    assert {r["severity"]: r["sla_days"] for r in marts["sla_policy"]} == settings.sla_days
    expected = expected_marts(handmade_org(), HANDMADE_AS_OF, settings.sla_days)
    for mart in ("backlog_daily", "repository_scorecard"):
        assert_same_rows(mart, marts[mart], expected[mart])


def test_absent_and_empty_raw_tables_do_not_break_the_build(tmp_path: Path) -> None:
    truth = handmade_org()
    # no fixes ever loaded, no webhooks (a repository token), no details; findings all pending
    del truth["fixes"], truth["webhooks"]
    for finding in truth["findings"]:
        finding.update(classification=None, triaged_at=None, resolved_at=None, confidence=None)
    pipeline = load_raw(truth, tmp_path / "w.duckdb", tmp_path / "p")
    report = build_marts(pipeline, Settings(), HANDMADE_AS_OF)
    assert report.rows["fix_latency"] == 0 and report.rows["fix_latency_weekly"] == 0
    marts = read_marts(tmp_path / "w.duckdb")
    expected = expected_marts({**truth, "fixes": []}, HANDMADE_AS_OF, Settings().sla_days)
    for mart in ("backlog_daily", "repository_scorecard", "triage_outcomes"):
        assert_same_rows(mart, marts[mart], expected[mart])


def test_no_raw_data_at_all_builds_empty_marts(tmp_path: Path) -> None:
    import dlt

    pipeline = dlt.pipeline(
        "empty",
        destination=dlt.destinations.duckdb(str(tmp_path / "w.duckdb")),
        dataset_name="pixee",
        pipelines_dir=str(tmp_path / "p"),
    )
    report = build_marts(pipeline, Settings(), HANDMADE_AS_OF)
    assert report.rows == dict.fromkeys(report.rows, 0) | {"sla_policy": 4}
    assert "as of 2026-03-31" in report.summary()


def test_build_order_is_derived_from_the_sql() -> None:
    order = [(m.schema, m.name) for m in build_order(load_models())]
    position = {key: i for i, key in enumerate(order)}
    # repository_scorecard reads backlog_daily and fix_latency, which read staging views
    assert position[(MARTS_SCHEMA, "backlog_daily")] < position[(MARTS_SCHEMA, "repository_scorecard")]
    assert position[(MARTS_SCHEMA, "fix_latency")] < position[(MARTS_SCHEMA, "fix_latency_weekly")]
    assert position[(STAGING_SCHEMA, "stg_findings")] < position[(MARTS_SCHEMA, "backlog_daily")]


def test_a_rebuild_for_a_later_day_extends_the_backlog(tmp_path: Path) -> None:
    pipeline = load_raw(handmade_org(), tmp_path / "w.duckdb", tmp_path / "p")
    later = HANDMADE_AS_OF + dt.timedelta(days=10)
    build_marts(pipeline, Settings(), HANDMADE_AS_OF)
    build_marts(pipeline, Settings(), later)
    marts = read_marts(tmp_path / "w.duckdb")
    assert max(r["day"] for r in marts["backlog_daily"]) == later
    assert_same_rows(
        "backlog_daily",
        marts["backlog_daily"],
        expected_marts(handmade_org(), later, Settings().sla_days)["backlog_daily"],
    )


def test_pixee_etl_marts_rebuilds_for_the_given_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    load_raw(handmade_org(), tmp_path / "w.duckdb", tmp_path / "p")
    assert main(["marts", "--duckdb-path", str(tmp_path / "w.duckdb"), "--as-of", "2026-03-31"]) == 0
    assert "marts as of 2026-03-31" in capsys.readouterr().out
    marts = read_marts(tmp_path / "w.duckdb")
    assert max(r["day"] for r in marts["backlog_daily"]) == HANDMADE_AS_OF
    # a missing warehouse is one clear line and exit 2, nothing created
    assert main(["marts", "--duckdb-path", str(tmp_path / "nope.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope.duckdb").exists()


def test_a_failing_model_leaves_the_previous_marts_whole(tmp_path: Path) -> None:
    import shutil

    from pipelines.marts import SQL_DIR, run_models

    pipeline = load_raw(handmade_org(), tmp_path / "w.duckdb", tmp_path / "p")
    build_marts(pipeline, Settings(), HANDMADE_AS_OF)
    broken = tmp_path / "sql"
    shutil.copytree(SQL_DIR, broken)
    (broken / "marts" / "triage_outcomes.sql").write_text(
        "select no_such_column from pixee_marts_staging.stg_findings"
    )
    later = HANDMADE_AS_OF + dt.timedelta(days=5)
    with pipeline.sql_client() as client, pytest.raises(Exception, match="no_such_column"):
        run_models(client.execute_sql, "duckdb", Settings(), later, sql_dir=broken)
    marts = read_marts(tmp_path / "w.duckdb")
    assert max(r["day"] for r in marts["backlog_daily"]) == HANDMADE_AS_OF  # not half rebuilt for `later`
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("select as_of from pixee_marts.marts_build").fetchall() == [(HANDMADE_AS_OF,)]
