"""The marts over a platform source: a hand-made organisation served over twelve daily runs, loaded
as the connector would (tests/platform_marts_support.py), built by the dbt project, equals an
independent Python reading of the same snapshots (tests/marts_expected_platform.py) in every column
of every mart, as of today and as of two past dates; dbt's tests pass on it and name a duplicated raw
finding row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from pipelines.settings import Settings
from pipelines.transform.checks import run_checks
from pipelines.transform.dbt_runner import build_marts, raw_flavour, test_marts
from tests.marts_expected_platform import KEYS, expected_platform_marts
from tests.marts_support import assert_same_rows
from tests.platform_marts_support import (
    HANDMADE_PLATFORM_AS_OF,
    PLATFORM_PAST_DATES,
    handmade_platform_snapshots,
    write_platform_warehouse,
)

AS_OF_DATES = (HANDMADE_PLATFORM_AS_OF, *PLATFORM_PAST_DATES)
MARTS = tuple(KEYS)


def read_marts(path: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for name in MARTS:
            cursor = con.execute(f"select * from pixee_marts.{name}")
            columns = [d[0] for d in cursor.description]
            out[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return out


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("platform")
    write_platform_warehouse(handmade_platform_snapshots(), tmp / "warehouse.duckdb", tmp / "pipelines")
    return tmp / "warehouse.duckdb"


def _pipeline(path: Path, tmp: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        "platform_marts",
        destination=dlt.destinations.duckdb(str(path)),
        dataset_name="pixee",
        pipelines_dir=str(tmp / "pipelines"),
    )


@pytest.fixture(scope="module")
def built(
    warehouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[dt.date, dict[str, list[dict[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("platform_built")
    out = {}
    for as_of in AS_OF_DATES:
        copy = tmp / f"{as_of}.duckdb"
        copy.write_bytes(warehouse.read_bytes())
        report = build_marts(_pipeline(copy, tmp), Settings(), as_of)
        assert report.as_of == as_of
        out[as_of] = read_marts(copy)
    return out


@pytest.fixture(scope="module")
def expected() -> dict[dt.date, dict[str, list[dict[str, Any]]]]:
    snapshots = handmade_platform_snapshots()
    return {as_of: expected_platform_marts(snapshots, as_of, Settings().sla_days) for as_of in AS_OF_DATES}


@pytest.mark.parametrize("as_of", AS_OF_DATES, ids=["as-of", "past-03-05", "past-03-08"])
@pytest.mark.parametrize("mart", MARTS)
def test_every_column_equals_the_python_reading_of_the_snapshots(
    built, expected, mart: str, as_of: dt.date
) -> None:
    assert_same_rows(mart, built[as_of][mart], expected[as_of][mart], keys=KEYS[mart])


def test_the_runner_tells_a_platform_warehouse_from_a_v1_one(
    warehouse: Path, handmade_warehouse: Path, tmp_path: Path
) -> None:
    assert raw_flavour(_pipeline(warehouse, tmp_path), Settings(), "duckdb") == "platform"
    assert raw_flavour(_pipeline(handmade_warehouse, tmp_path), Settings(), "duckdb") == "v1"


def _finding(rows: list[dict[str, Any]], repository: str, detector: str, finding: str) -> dict[str, Any]:
    [row] = [
        r for r in rows
        if (r["repository_id"], r["detection_tool"], r["finding_id"]) == (repository, detector, finding)
    ]  # fmt: skip
    return row


def test_the_contracts_rules_as_a_security_lead_sees_them(built) -> None:
    now = built[HANDMADE_PLATFORM_AS_OF]
    findings = now["finding_remediation"]
    f1 = _finding(findings, "r_backend", "semgrep", "F1")
    # first seen in a scan of 02-26 the first run still found; gone at 03-03's import; back on 03-05
    assert f1["detected_at"] == dt.datetime(2026, 2, 26, 3, 0)
    assert (f1["status"], f1["times_reopened"], f1["resolved_at"]) == ("open", 1, None)
    # the feature branch's true positive on F1 does not count, nor does its own finding F7
    assert f1["classification"] is None
    assert not [r for r in findings if r["finding_id"] == "F7"]
    # dismissed as a false positive and still listed: it sticks
    f2 = _finding(findings, "r_backend", "semgrep", "F2")
    assert (f2["status"], f2["resolution"], f2["resolved_at"]) == (
        "dismissed", "false_positive", dt.datetime(2026, 3, 2, 9, 0))  # fmt: skip
    # a non-decisive result classifies nothing; only triage_suggested shows it (as of 03-05)
    f3_then = _finding(built[dt.date(2026, 3, 5)]["finding_remediation"], "r_backend", "semgrep", "F3")
    assert (f3_then["classification"], f3_then["triage_suggested"]) == (None, "inconclusive")
    # Info counts as low; a false positive arriving after it was fixed leaves it fixed
    f4 = _finding(findings, "r_backend", "semgrep", "F4")
    assert (f4["severity"], f4["status"], f4["classification"]) == ("low", "fixed", "FALSE_POSITIVE")
    assert f4["resolved_at"] == dt.datetime(2026, 3, 8, 3, 0)
    # fixed by the merged patch: merged at the updated_at of the first merged version
    f5 = _finding(findings, "r_backend", "semgrep", "F5")
    assert (f5["resolution"], f5["fix_id"]) == ("fixed_by_pixee", "P1")
    # dismissed, then a true positive while still listed: open again
    f8 = _finding(findings, "r_backend", "semgrep", "F8")
    assert (f8["status"], f8["classification"], f8["times_reopened"]) == ("open", "TRUE_POSITIVE", 1)
    # the same id from another detector is another finding
    codeql = _finding(findings, "r_backend", "codeql", "F1")
    assert (codeql["resolution"], codeql["severity"]) == ("wont_fix", "high")
    # the deleted repository's findings are deleted; its repository leaves the scorecard
    assert _finding(findings, "r_payments", "semgrep", "G1")["is_deleted"]
    cards = {r["repository_id"]: r for r in now["repository_scorecard"]}
    assert set(cards) == {"r_backend", "r_docs"} and cards["r_docs"]["repository_name"] == "acme/handbook"
    assert cards["r_backend"]["last_scan_at"] == dt.datetime(2026, 3, 11, 3, 0)

    fixes = {r["fix_id"]: r for r in now["fix_latency"]}
    assert (fixes["P1"]["status"], fixes["P1"]["merged_at"]) == ("merged", dt.datetime(2026, 3, 5, 15, 0))
    assert (fixes["P2"]["status"], fixes["P2"]["closed_at"]) == ("closed", dt.datetime(2026, 3, 7, 9, 0))
    # a patch whose scan the warehouse never read lists no finding
    assert (fixes["P3"]["finding_count"], fixes["P3"]["severity"], fixes["P3"]["detection_tool"]) == (
        0,
        None,
        None,
    )
    assert fixes["P3"]["codemod"] is None and fixes["P3"]["ai_generated"] is None

    scans = {(r["day"], r["detector"]): r for r in now["scan_daily"]}
    # the feature-branch scan counts here (every branch); the 02-26 scan expired at the 03-05 run
    assert scans[(dt.date(2026, 3, 3), "semgrep")]["scans_imported"] == 3
    assert scans[(dt.date(2026, 3, 5), "semgrep")]["scans_expired"] == 1
    analyses = {(r["day"], r["type"]): r for r in now["analysis_daily"]}
    assert analyses[(dt.date(2026, 3, 4), "triage")]["failed"] == 1
    assert analyses[(dt.date(2026, 3, 1), "triage")]["p50_hours_to_complete"] == pytest.approx(5.0)


def test_as_of_a_past_date_reads_expired_scans_and_old_states(built) -> None:
    then = built[dt.date(2026, 3, 5)]
    f1 = _finding(then["finding_remediation"], "r_backend", "semgrep", "F1")
    # as of 03-05 F1 had just been reported again (its fixing scan has since expired)
    assert (f1["status"], f1["times_reopened"]) == ("open", 1)
    f5 = _finding(then["finding_remediation"], "r_backend", "semgrep", "F5")
    assert f5["status"] == "open"  # still listed by 03-05's scan
    cards = {r["repository_id"]: r for r in then["repository_scorecard"]}
    assert "r_payments" in cards and cards["r_docs"]["repository_name"] == "acme/handbook"
    earlier = built[dt.date(2026, 3, 8)]
    f4 = _finding(earlier["finding_remediation"], "r_backend", "semgrep", "F4")
    assert (f4["status"], f4["classification"]) == ("fixed", None)


def test_dbt_test_passes_then_names_the_table_of_a_duplicated_finding_row(
    warehouse: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    pipeline = _pipeline(copy, tmp_path)
    build_marts(pipeline, Settings(), HANDMADE_PLATFORM_AS_OF)
    # every data check: dbt's tests (grains, relationships, the raw key), fresh marts, row counts
    checks = run_checks(pipeline, Settings(), as_of=HANDMADE_PLATFORM_AS_OF, record=False)
    assert [f.message for f in checks.failures] == []
    assert len([r for r in checks.results if r.name.startswith("dbt:")]) > 40
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "insert into pixee.findings select * from pixee.findings "
            "where scan_id = 's_main_05' and id = 'F2'"
        )
    failed = [o.message for o in test_marts(pipeline, Settings(), HANDMADE_PLATFORM_AS_OF) if not o.ok]
    assert any(
        m.startswith(
            "pixee_unique_combination pixee.findings (scan_id, id): 1 failing row(s), e.g. s_main_05/F2/2"
        )
        for m in failed
    ), failed


FIGURES_JS = """[...document.querySelectorAll('figure')].map(f => ({
  key: f.dataset.chart, rows: Number(f.dataset.rows), unavailable: f.dataset.unavailable || null,
  text: f.textContent, groups: [...f.querySelectorAll('svg g.role-mark')].map(g => g.childElementCount)}))"""
TILES_JS = """[...document.querySelectorAll('.tile')].map(t => ({
  key: t.dataset.tile, missing: t.dataset.missing || null, shown: t.querySelector('.value').textContent}))"""


def test_the_report_over_a_platform_source_draws_every_chart_it_has(warehouse: Path, tmp_path: Path) -> None:
    """In a real Chromium: the two platform charts drawn, every v1 chart drawn but the one whose subject
    the platform does not name (codemods, AI-generated), which says so in one line; every tile a number."""
    from pipelines.cli import main
    from tests.browser_support import chromium, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium on PATH (.ci/run installs the chromium package)")
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    # short SLAs, so that the SLA-breach chart has repositories to show
    tight = Settings(sla_days={"critical": 1, "high": 2, "medium": 3, "low": 4})
    build_marts(_pipeline(copy, tmp_path), tight, HANDMADE_PLATFORM_AS_OF)
    out = tmp_path / "report.html"
    assert main(["report", "--duckdb-path", str(copy), "--out", str(out)]) == 0
    with chromium(tmp_path / "chromium") as browser:
        page = browser.new_page()
        page.open(out.resolve().as_uri())
        assert page.errors() == []
        figures = {f["key"]: f for f in page.evaluate(FIGURES_JS)}
        tiles = page.evaluate(TILES_JS)
    assert {"analysis_daily", "scan_daily"} <= set(figures)
    for key, figure in figures.items():
        if key == "fix_outcomes":
            assert figure["unavailable"] and not figure["groups"]
            assert "names neither the codemod nor whether a patch was AI-generated" in figure["text"]
        else:
            assert figure["rows"] > 0 and figure["groups"], f"{key}: no marks drawn"
            assert all(count > 0 for count in figure["groups"]), f"{key}: an empty mark group"
    assert len(tiles) == 6 and all(t["missing"] is None and t["shown"] != "—" for t in tiles), tiles


def test_without_history_every_platform_mart_still_builds(warehouse: Path, tmp_path: Path) -> None:
    """Before the first history rows (or with history tables lost), each object has its current row
    as its one version: the marts still build, a merge time is the merged row's own updated_at."""
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    with duckdb.connect(str(copy)) as con:
        for table in ("repositories", "scans", "findings", "analyses", "patches"):
            con.execute(f"drop table pixee.{table}_history")
    report = build_marts(_pipeline(copy, tmp_path), Settings(), HANDMADE_PLATFORM_AS_OF)
    assert all(report.rows[mart] > 0 for mart in MARTS), report.rows
    fixes = {r["fix_id"]: r for r in read_marts(copy)["fix_latency"]}
    assert (fixes["P1"]["status"], fixes["P1"]["merged_at"]) == ("merged", dt.datetime(2026, 3, 5, 15, 0))


def test_a_platform_table_replaced_each_run_may_shrink_a_merged_one_may_not(tmp_path: Path) -> None:
    from pipelines.transform.checks import Warehouse, check_row_counts, record_row_counts

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema pixee_marts")
        wh = Warehouse(lambda sql: con.execute(sql).fetchall(), "duckdb", "pixee", "pixee_marts")
        record_row_counts(wh, {"integrations": 3, "scans": 10}, full_refresh=False)
        # an integration removed upstream: the run replaces that table, so it shrinks, rightly
        assert check_row_counts(wh, {"integrations": 2, "scans": 10}, incremental=True).ok
        shrunk = check_row_counts(wh, {"integrations": 3, "scans": 9}, incremental=True)
        assert not shrunk.ok and "scans 10 -> 9" in shrunk.message
