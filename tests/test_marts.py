"""The marts on DuckDB: a hand-made organisation of edge cases, built by the dbt project in-process,
equals an independent Python computation; absent tables and columns do not break the build; dbt's
tests pass on it and name a duplicated id."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from pipelines.errors import MartsError
from pipelines.settings import Settings
from pipelines.transform.dbt_runner import build_marts, test_marts
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
def built(handmade_warehouse: Path) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    return handmade_warehouse, read_marts(handmade_warehouse)


def _copy(warehouse: Path, tmp_path: Path) -> dlt.Pipeline:
    """A pipeline on a private copy of a built warehouse."""
    (tmp_path / "copy.duckdb").write_bytes(warehouse.read_bytes())
    return dlt.pipeline(
        "marts_copy",
        destination=dlt.destinations.duckdb(str(tmp_path / "copy.duckdb")),
        dataset_name="pixee",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


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


def test_remediation_edge_cases_a_security_lead_would_notice(built) -> None:
    _, marts = built
    findings = {r["finding_id"]: r for r in marts["finding_remediation"]}
    # closed by a merged fix 7 days 3 hours after detection: a closure, past its 7-day SLA
    crit = findings["f_crit"]
    assert (crit["resolution"], crit["fix_id"], crit["within_sla"]) == (
        "fixed_by_pixee",
        "fix_two_sev",
        False,
    )
    assert crit["due_at"] == dt.datetime(2026, 3, 12, 6, 0)
    # fixed by a later scan, no merged fix: a plain fix, well within its 180 days
    assert (findings["f_scan_fixed"]["resolution"], findings["f_scan_fixed"]["within_sla"]) == ("fixed", True)
    # a false positive is resolved but never a closure: no time to remediate, no SLA verdict
    fp = findings["f_fp"]
    assert (fp["resolution"], fp["hours_to_resolve"], fp["within_sla"]) == ("false_positive", None, None)
    assert (
        findings["f_wontfix"]["resolution"] == "wont_fix" and findings["f_wontfix"]["hours_to_resolve"] == 24
    )
    # open far past its SLA: 58 days old against 30, so 28 days overdue
    assert findings["f_old_high"]["days_overdue"] == 28 and findings["f_crit"]["days_overdue"] is None
    assert findings["f_new_crit"]["days_overdue"] == 0
    assert {r["times_reopened"] for r in findings.values()} == {0}  # no history: one version each

    weekly = {(r["week_start"], r["severity"]): r for r in marts["remediation_weekly"]}
    fp_week = weekly[(dt.date(2026, 2, 9), "medium")]
    assert (fp_week["opened"], fp_week["closed"], fp_week["false_positives"]) == (1, 0, 1)
    assert fp_week["net_resolve_rate"] == 0 and fp_week["sla_attainment"] is None
    # a week with no findings at all is still there, in zeros
    quiet = weekly[(dt.date(2026, 1, 12), "critical")]
    assert (quiet["opened"], quiet["closed"], quiet["open_at_week_end"]) == (0, 0, 0)
    assert quiet["net_resolve_rate"] is None and quiet["p50_hours_to_resolve"] is None
    crit_week = weekly[(dt.date(2026, 3, 9), "critical")]
    assert (crit_week["closed"], crit_week["sla_attainment"]) == (1, 0.0)

    # one fix listing a critical and a high finding counts both as fixed by its codemod
    outcomes = {(r["codemod"], r["ai_generated"]): r for r in marts["fix_outcomes"]}
    two = outcomes[("pixee:python/sql-parameterization", False)]
    assert (two["fixes"], two["prs_merged"], two["findings_fixed"]) == (1, 1, 2)
    scanners = {r["detection_tool"]: r for r in marts["scanner_outcomes"]}
    assert scanners["semgrep"]["fixed_by_pixee"] == 2 and scanners["codeql"]["pixee_fix_share"] == 0


def test_sla_days_come_from_settings(handmade_warehouse: Path, tmp_path: Path) -> None:
    pipeline = _copy(handmade_warehouse, tmp_path)
    settings = replace(Settings(), sla_days={"critical": 1, "high": 3, "medium": 5, "low": 400})
    build_marts(pipeline, settings, HANDMADE_AS_OF)
    marts = read_marts(tmp_path / "copy.duckdb")
    assert {r["severity"]: r["sla_days"] for r in marts["sla_policy"]} == settings.sla_days
    expected = expected_marts(handmade_org(), HANDMADE_AS_OF, settings.sla_days)
    for mart in ("backlog_daily", "repository_scorecard", "finding_remediation", "remediation_weekly"):
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
    for mart in (
        "backlog_daily",
        "repository_scorecard",
        "triage_outcomes",
        "finding_remediation",
        "remediation_weekly",
        "scanner_outcomes",
    ):
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


def test_pixee_etl_marts_rebuilds_for_the_given_day(
    handmade_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    _copy(handmade_warehouse, tmp_path)
    later = HANDMADE_AS_OF + dt.timedelta(days=10)
    assert main(["marts", "--duckdb-path", str(tmp_path / "copy.duckdb"), "--as-of", later.isoformat()]) == 0
    assert f"marts as of {later}" in capsys.readouterr().out
    marts = read_marts(tmp_path / "copy.duckdb")
    assert max(r["day"] for r in marts["backlog_daily"]) == later
    expected = expected_marts(handmade_org(), later, Settings().sla_days)
    for mart in ("backlog_daily", "repository_scorecard", "finding_remediation", "remediation_weekly"):
        assert_same_rows(mart, marts[mart], expected[mart])
    # a missing warehouse is one clear line and exit 2, nothing created
    assert main(["marts", "--duckdb-path", str(tmp_path / "nope.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope.duckdb").exists()


def test_a_failing_model_is_named_and_the_build_date_stays(handmade_warehouse: Path, tmp_path: Path) -> None:
    import shutil

    from pipelines.transform.dbt_runner import SQL_DIR

    pipeline = _copy(handmade_warehouse, tmp_path)
    broken = tmp_path / "sql"
    shutil.copytree(SQL_DIR, broken, ignore=shutil.ignore_patterns("target", "logs"))
    (broken / "models" / "marts" / "triage_outcomes.sql").write_text(
        "select no_such_column from {{ ref('stg_pixee__findings') }}"
    )
    later = HANDMADE_AS_OF + dt.timedelta(days=5)
    with pytest.raises(MartsError, match=r"1 model\(s\) failed.*triage_outcomes: .*no_such_column"):
        build_marts(pipeline, Settings(), later, project_dir=broken)
    # the failed mart keeps its previous table, and marts_build (built after every mart) its date
    marts = read_marts(tmp_path / "copy.duckdb")
    assert_same_rows(
        "triage_outcomes",
        marts["triage_outcomes"],
        expected_marts(handmade_org(), HANDMADE_AS_OF, Settings().sla_days)["triage_outcomes"],
    )
    with duckdb.connect(str(tmp_path / "copy.duckdb"), read_only=True) as con:
        assert con.execute("select as_of from pixee_marts.marts_build").fetchall() == [(HANDMADE_AS_OF,)]


def test_dbt_test_passes_then_names_a_duplicated_id(handmade_warehouse: Path, tmp_path: Path) -> None:
    pipeline = _copy(handmade_warehouse, tmp_path)
    outcomes = test_marts(pipeline, Settings(), HANDMADE_AS_OF)
    assert len(outcomes) > 40 and [o.message for o in outcomes if not o.ok] == []
    kinds = {o.name.split("_")[0] for o in outcomes}
    assert {"unique", "not", "relationships", "accepted"} <= kinds
    # data tests only: the unit tests check the SQL on rows of their own (test_dbt_package runs them)
    assert not [o.message for o in outcomes if o.message.startswith("unit_test ")]
    with duckdb.connect(str(tmp_path / "copy.duckdb")) as con:
        con.execute("insert into pixee.findings select * from pixee.findings where id = 'f_crit'")
    failed = [o.message for o in test_marts(pipeline, Settings(), HANDMADE_AS_OF) if not o.ok]
    name = "unique_stg_pixee__findings_finding_id"
    assert f"unique stg_pixee__findings.finding_id: 1 failing row(s), e.g. f_crit/2 ({name})" in failed
