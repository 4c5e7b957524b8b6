"""`pixee-etl report` as a security lead meets it: the file opens in a real (headless) Chromium from
file:// with no request and no console error, every chart has its marks, the tiles equal the marts,
it prints on A4, names from the API stay text; and without the marts it says what is missing."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.cli import main
from pipelines.errors import ReportError
from pipelines.load.sync import sync
from pipelines.publish.html_report import build_report, report_from_pipeline
from pipelines.settings import REPO_ROOT, Secret, Settings
from pipelines.transform.checks import Warehouse
from pipelines.transform.dbt_runner import build_marts
from tests.browser_support import Browser, BrowserError, Page, chromium, find_chromium
from tests.marts_support import HANDMADE_AS_OF, handmade_org, load_raw
from tests.test_marts_snowflake import duckdb_raw, snowflake_pipeline  # noqa: F401 - fixtures

NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
# The screenshot and the HTML it shows stay here after the run (ignored by git).
ARTIFACTS = REPO_ROOT / "reports" / "browser-test"
MAX_BYTES = 2 * 1024 * 1024
# Which marts each chart and tile reads: where a mart is absent, the report must say so instead.
CHART_MARTS = {
    "backlog": "backlog_daily",
    "opened_closed": "remediation_weekly",
    "ttr_weekly": "remediation_weekly",
    "merge_monthly": "fix_latency",
    "sla_repositories": "repository_scorecard",
    "noisy_rules": "triage_outcomes",
    "fix_outcomes": "fix_outcomes",
}
TILE_MARTS = {
    "open_findings": "backlog_daily",
    "open_over_sla": "backlog_daily",
    "ttr_p50": "finding_remediation",
    "sla_attainment": "finding_remediation",
    "net_resolve_rate": "finding_remediation",
    "merge_rate": "fix_latency",
}
HOSTILE_REPOSITORY = '<img src="http://127.0.0.1:9/x.png" onerror="console.error(\'ran\')">'
HOSTILE_RULE = '</svg><script>console.error("ran")</script><b>rule'


@pytest.fixture(autouse=True)
def _dlt_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path_factory.getbasetemp() / "dlt"))
    monkeypatch.delenv("PIXEE_PROFILE", raising=False)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated organisation, synced over HTTP and built into marts as of NOW."""
    from simulator import SimConfig, Simulator

    tmp = tmp_path_factory.mktemp("report-warehouse")
    with Simulator(SimConfig(seed=7, now=NOW, repositories=6, days=120, requests_per_minute=None)) as sim:
        settings = Settings(
            base_url=sim.base_url,
            token=Secret(sim.org_token),
            duckdb_path=tmp / "warehouse.duckdb",
            requests_per_minute=60000.0,
            burst=100,
        )
        report = sync(settings, full_refresh=True, pipelines_dir=str(tmp / "dlt"))
        build_marts(report.pipeline, settings, NOW.date())
    return tmp / "warehouse.duckdb"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if find_chromium() is None:
        message = "no Chromium on PATH (.ci/run installs the chromium package)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with chromium(tmp_path_factory.mktemp("chromium")) as started:
        yield started


def _report(db: Path, out: Path, *extra: str) -> Path:
    assert main(["report", "--duckdb-path", str(db), "--out", str(out), *extra]) == 0
    return out


def _marts(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select table_name from information_schema.tables where table_schema = 'pixee_marts'"
        ).fetchall()
    return {r[0] for r in rows}


def _open(browser: Browser, path: Path) -> tuple[Page, str]:
    page = browser.new_page()
    url = path.resolve().as_uri()
    page.open(url)
    return page, url


FIGURES_JS = """[...document.querySelectorAll('figure')].map(f => ({
  key: f.dataset.chart, rows: Number(f.dataset.rows), missing: f.dataset.missing || null,
  groups: [...f.querySelectorAll('svg g.role-mark')].map(g => g.childElementCount)}))"""
TILES_JS = """Object.fromEntries([...document.querySelectorAll('.tile')].map(t => [t.dataset.tile, {
  value: t.dataset.value, previous: t.dataset.previous, missing: t.dataset.missing || null,
  shown: t.querySelector('.value').textContent}]))"""


def test_the_report_opens_from_file_with_no_network_no_errors_and_every_chart_drawn(
    warehouse: Path, browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _report(warehouse, tmp_path / "report.html")
    printed = capsys.readouterr().out
    assert f"report as of {NOW.date()}: {out.resolve()}" in printed
    assert out.stat().st_size < MAX_BYTES
    html = out.read_text()
    assert "<script" not in html and not re.search("https?://", re.sub(r'xmlns(:\w+)?="[^"]*"', "", html))

    page, url = _open(browser, out)
    assert page.errors() == []
    assert page.requests() == [url]  # the document itself, and nothing else
    present = _marts(warehouse)
    figures = {f["key"]: f for f in page.evaluate(FIGURES_JS)}
    assert set(figures) == set(CHART_MARTS)
    for key, mart in CHART_MARTS.items():
        figure = figures[key]
        if mart in present:
            assert figure["rows"] > 0 and figure["groups"], f"{key}: no marks drawn"
            assert all(count > 0 for count in figure["groups"]), f"{key}: an empty mark group"
        else:
            assert figure["missing"] == mart and not figure["groups"], key
    bars = page.evaluate(
        "document.querySelectorAll('figure[data-chart=noisy_rules] g.mark-rect > path').length"
    )
    assert bars == figures["noisy_rules"]["rows"]  # one bar per rule

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = page.screenshot(tmp_path / "report.png")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    shutil.copy(shot, ARTIFACTS / "report.png")
    shutil.copy(out, ARTIFACTS / "report.html")
    print(f"screenshot: {ARTIFACTS / 'report.png'}")


def _in(window_last: dt.date, when: Any) -> bool:
    return when is not None and window_last - dt.timedelta(days=29) <= when.date() <= window_last


def expected_tiles(db: Path, as_of: dt.date) -> dict[str, tuple[float | None, float | None]]:
    """The tiles computed here in Python from the marts' rows: (this 30 days, the previous 30)."""
    before = as_of - dt.timedelta(days=30)
    with duckdb.connect(str(db), read_only=True) as con:
        backlog = con.execute(
            "select day, open_findings, open_over_sla from pixee_marts.backlog_daily"
        ).fetchall()
        fixes = con.execute("select status, merged_at, closed_at from pixee_marts.fix_latency").fetchall()
        remediation = None
        if "finding_remediation" in _marts(db):
            remediation = con.execute(
                "select detected_at, resolved_at, resolution, hours_to_resolve, within_sla, is_deleted "
                "from pixee_marts.finding_remediation"
            ).fetchall()

    def backlog_on(day: dt.date, column: int) -> float:
        return float(sum(row[column] for row in backlog if row[0] == day))

    def merge_rate(last: dt.date) -> float | None:
        merged = sum(1 for s, m, _ in fixes if s == "merged" and _in(last, m))
        closed = sum(1 for s, _, c in fixes if s == "closed" and _in(last, c))
        return merged / (merged + closed) if merged + closed else None

    tiles: dict[str, tuple[float | None, float | None]] = {
        "open_findings": (backlog_on(as_of, 1), backlog_on(before, 1)),
        "open_over_sla": (backlog_on(as_of, 2), backlog_on(before, 2)),
        "merge_rate": (merge_rate(as_of), merge_rate(before)),
    }
    if remediation is not None:
        # a closure: a resolution other than false_positive, of a finding not deleted
        def closures(last: dt.date) -> list[Any]:
            return [
                r
                for r in remediation
                if r[2] not in (None, "false_positive") and not r[5] and _in(last, r[1])
            ]

        def three(last: dt.date) -> tuple[float | None, float | None, float | None]:
            closed = closures(last)
            opened = sum(1 for r in remediation if _in(last, r[0]))
            return (
                statistics.median(r[3] for r in closed) if closed else None,
                sum(1 for r in closed if r[4]) / len(closed) if closed else None,
                len(closed) / opened if opened else None,
            )

        now, then = three(as_of), three(before)
        for i, key in enumerate(("ttr_p50", "sla_attainment", "net_resolve_rate")):
            tiles[key] = (now[i], then[i])
    return tiles


def _same(shown: str, expected: float | None) -> bool:
    if expected is None:
        return shown == ""
    return math.isclose(float(shown), expected, rel_tol=1e-9, abs_tol=1e-9)


def test_the_tiles_equal_the_marts(warehouse: Path, browser: Browser, tmp_path: Path) -> None:
    page, _ = _open(browser, _report(warehouse, tmp_path / "report.html"))
    tiles = page.evaluate(TILES_JS)
    assert set(tiles) == set(TILE_MARTS)
    expected = expected_tiles(warehouse, NOW.date())
    present = _marts(warehouse)
    for key, mart in TILE_MARTS.items():
        tile = tiles[key]
        if mart not in present:
            assert tile["missing"] == mart and tile["value"] == "", key
            continue
        now, then = expected[key]
        assert _same(tile["value"], now), (key, tile, now)
        assert _same(tile["previous"], then), (key, tile, then)
    assert tiles["open_findings"]["shown"] == f"{expected['open_findings'][0]:,.0f}"
    rate = expected["merge_rate"][0]
    assert tiles["merge_rate"]["shown"] == ("n/a" if rate is None else f"{rate:.0%}")


def test_the_report_prints_on_a4_with_every_chart_inside_the_page(
    warehouse: Path, browser: Browser, tmp_path: Path
) -> None:
    page, _ = _open(browser, _report(warehouse, tmp_path / "report.html"))
    page.call("Emulation.setEmulatedMedia", {"media": "print"})
    # A4 less 12 mm margins each side is about 703 CSS pixels wide
    page.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 703, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
    )
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('figure, svg, .tiles')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= 703
    assert page.evaluate("getComputedStyle(document.querySelector('figure')).breakInside") == "avoid"
    pdf = page.print_pdf()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 2
    assert page.errors() == []


def _handmade_warehouse(tmp_path: Path, hostile: bool = False) -> Path:
    org = handmade_org()
    if hostile:
        org["repositories"][0]["name"] = HOSTILE_REPOSITORY
        for finding in org["findings"]:
            if finding["id"] == "f_fp":
                finding["rule_id"] = HOSTILE_RULE
        for fix in org["fixes"]:
            fix["codemod"] = HOSTILE_RULE
    pipeline = load_raw(org, tmp_path / "warehouse.duckdb", tmp_path / "pipelines")
    build_marts(pipeline, Settings(), HANDMADE_AS_OF)
    return tmp_path / "warehouse.duckdb"


@pytest.fixture(scope="module")
def handmade_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made organisation's marts (with hostile names), built once; each test gets a copy."""
    return _handmade_warehouse(tmp_path_factory.mktemp("handmade"), hostile=True)


@pytest.fixture
def handmade(handmade_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(handmade_db, copy)
    return copy


def test_names_from_the_api_stay_text_and_load_nothing(
    browser: Browser, handmade: Path, tmp_path: Path
) -> None:
    page, url = _open(browser, _report(handmade, tmp_path / "report.html"))
    assert page.errors() == []
    assert page.requests() == [url]
    assert page.evaluate("document.querySelectorAll('script, img, b').length") == 0
    text = page.evaluate(
        "document.body.innerText + "
        "[...document.querySelectorAll('svg text')].map(t => t.textContent).join('|')"
    )
    assert HOSTILE_REPOSITORY[:15] in text and HOSTILE_RULE[:14] in text


def _tiles_in(html: str) -> dict[str, tuple[str, str]]:
    return {
        key: (value, previous)
        for key, value, previous in re.findall(
            r'data-tile="(\w+)" data-value="([^"]*)" data-previous="([^"]*)"', html
        )
    }


def _wh(con: duckdb.DuckDBPyConnection) -> Warehouse:
    return Warehouse.for_settings(lambda sql: con.execute(sql).fetchall(), "duckdb", Settings())


def test_without_the_version_2_marts_the_report_says_which_are_missing(handmade: Path) -> None:
    db = handmade
    with duckdb.connect(str(db)) as con:
        for mart in ("finding_remediation", "remediation_weekly", "fix_outcomes", "scanner_outcomes"):
            con.execute(f"drop table if exists pixee_marts.{mart}")
        html, data = build_report(_wh(con))
    assert data.missing == ("finding_remediation", "fix_outcomes", "remediation_weekly")
    assert 'class="notice" data-missing="finding_remediation fix_outcomes remediation_weekly"' in html
    assert html.count("not built in this warehouse") >= 6  # three tiles and three charts
    assert _tiles_in(html)["open_findings"][0] == "5.0"  # the rest of the report is still there


V2_ROWS = """
create or replace table pixee_marts.finding_remediation as select * from (values
  -- this 30 days (2026-03-02 to 03-31): closures of 24, 48, 216, 240 hours, 3 of 4 within SLA
  (timestamp '2026-03-05 00:00', timestamp '2026-03-06 00:00', 'fixed', 24.0, true, false),
  (timestamp '2026-03-10 00:00', timestamp '2026-03-12 00:00', 'wont_fix', 48.0, true, false),
  (timestamp '2026-02-20 00:00', timestamp '2026-03-02 00:00', 'fixed', 216.0, true, false),
  (timestamp '2026-03-01 00:00', timestamp '2026-03-11 00:00', 'fixed_by_pixee', 240.0, false, false),
  -- not closures (no hours_to_resolve), though opened in the window: a false positive, an open
  -- finding, a deleted one
  (timestamp '2026-03-15 00:00', timestamp '2026-03-16 00:00', 'false_positive', null, null, false),
  (timestamp '2026-03-25 00:00', null, null, null, null, false),
  (timestamp '2026-03-20 00:00', timestamp '2026-03-21 00:00', 'fixed', null, null, true),
  -- resolved at the first instant after the window: not in it
  (timestamp '2026-03-30 00:00', timestamp '2026-04-01 00:00', 'fixed', 48.0, true, false),
  -- the previous 30 days (01-31 to 03-01): one closure of 240 hours, late
  (timestamp '2026-02-01 00:00', timestamp '2026-02-11 00:00', 'fixed', 240.0, false, false)
) as t(detected_at, resolved_at, resolution, hours_to_resolve, within_sla, is_deleted);
-- the columns the overdue table reads, none overdue here
alter table pixee_marts.finding_remediation add column finding_id varchar;
alter table pixee_marts.finding_remediation add column repository_name varchar;
alter table pixee_marts.finding_remediation add column rule_id varchar;
alter table pixee_marts.finding_remediation add column severity varchar;
alter table pixee_marts.finding_remediation add column sla_days integer;
alter table pixee_marts.finding_remediation add column days_overdue bigint;
create or replace table pixee_marts.remediation_weekly as select * from (values
  (date '2026-03-23', 'critical', 3, 2, 1, 30.0, 60.0),
  (date '2026-03-23', 'high', 1, 0, 0, null, null),
  (date '2026-03-30', 'critical', 2, 1, 0, 10.0, 20.0)
) as t(week_start, severity, opened, closed, false_positives, p50_hours_to_resolve, p90_hours_to_resolve);
create or replace table pixee_marts.fix_outcomes as select * from (values
  ('pixee:python/secure-random', true, 4, 1, 1, 1, 0.5),
  ('pixee:python/secure-random', false, 2, 2, 0, 0, 1.0),
  ('pixee:java/sql-parameterizer', false, 3, 0, 1, 1, 0.0)
) as t(codemod, ai_generated, fixes, prs_merged, prs_closed_unmerged, open_prs, merge_rate);
"""


def test_the_version_2_tiles_read_closures_windows_and_deletions_as_the_contract_says(handmade: Path) -> None:
    db = handmade
    with duckdb.connect(str(db)) as con:
        con.execute(V2_ROWS)
        html, data = build_report(_wh(con))
    assert "finding_remediation" not in data.missing and "remediation_weekly" not in data.missing
    tiles = {
        key: (float(v) if v else None, float(p) if p else None) for key, (v, p) in _tiles_in(html).items()
    }
    assert tiles["ttr_p50"] == (132.0, 240.0)  # median of 24, 48, 216, 240; the previous one closure
    assert tiles["sla_attainment"] == (0.75, 0.0)
    # opened this 30 days: 03-05, 03-10, 03-15, 03-20 (deleted), 03-25, 03-30; before: 02-01, 02-20, 03-01
    assert tiles["net_resolve_rate"] == (4 / 6, 1 / 3)
    assert "4 closures" in html and "3 of 4 within SLA" in html
    charts = {c.key: c for c in data.charts}
    assert [r["opened"] for r in charts["opened_closed"].data["weeks"]] == [4, 2]
    assert len(charts["ttr_weekly"].data["weeks"]) == 2  # weeks with closures only
    kinds = {r["kind"]: r["merge_rate"] for r in charts["fix_outcomes"].data["kinds"]}
    assert kinds == {"AI-generated": 0.5, "deterministic": 2 / 3}
    assert "AI-generated: 4 fixes, merge rate 50%; deterministic: 5 fixes, merge rate 67%" in html


def test_report_errors_are_one_line_and_write_nothing(
    handmade: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    assert main(["report", "--duckdb-path", str(empty), "--out", str(tmp_path / "a.html")]) == 2
    assert "no marts in schema pixee_marts" in capsys.readouterr().err
    db = handmade
    assert (
        main(["report", "--duckdb-path", str(db), "--out", str(tmp_path / "b.html"), "--as-of", "2026-03-01"])
        == 2
    )
    err = capsys.readouterr().err
    assert "built as of 2026-03-31, not 2026-03-01" in err and err.count("\n") == 1
    assert main(["report", "--duckdb-path", str(db), "--out", str(tmp_path / "nowhere" / "c.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", "--duckdb-path", str(tmp_path / "missing.duckdb")]) == 2
    assert not list(tmp_path.glob("*.html"))
    # a directory as --out gets the default name inside it
    assert main(["report", "--duckdb-path", str(db), "--out", str(tmp_path), "--as-of", "2026-03-31"]) == 0
    assert (tmp_path / "pixee-report-2026-03-31.html").is_file()


def test_a_chromium_that_cannot_start_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'no display here' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(BrowserError, match="exited with 3: no display here"):
        Browser(str(fake), tmp_path)


def test_the_report_reads_snowflake_through_the_same_code(
    request: pytest.FixtureRequest, handmade: Path, tmp_path: Path
) -> None:
    """Under fakesnow, through dlt's Snowflake sql_client: the SQL translates and the tiles are DuckDB's."""
    pipeline, settings = request.getfixturevalue("snowflake_pipeline")
    build_marts(pipeline, settings, HANDMADE_AS_OF)
    result = report_from_pipeline(pipeline, settings, tmp_path / "snowflake.html", HANDMADE_AS_OF)
    with duckdb.connect(str(handmade)) as con:
        duck_html, _ = build_report(_wh(con))
    snow = _tiles_in(result.path.read_text())
    assert snow == _tiles_in(duck_html) and snow["open_findings"][0] == "5.0"


def test_a_mart_without_the_contract_columns_is_named_in_one_line(handmade: Path) -> None:
    with duckdb.connect(str(handmade)) as con:
        con.execute("create or replace table pixee_marts.fix_outcomes as select 'x' as codemod")
        with pytest.raises(ReportError, match=r"reading mart pixee_marts\.fix_outcomes failed: ") as raised:
            build_report(_wh(con))
    assert "\n" not in str(raised.value)


OVERFLOW_JS = """[...document.querySelectorAll('.tile, .overdue, figure')].flatMap(box => {
  const edge = box.getBoundingClientRect().right + 0.5;
  return [...box.querySelectorAll('h2, p, code, th, td')]
    .filter(e => e.getBoundingClientRect().right > edge || e.scrollWidth > e.clientWidth + 1)
    .map(e => (box.dataset.tile || box.dataset.chart || box.dataset.table) + ': ' + e.textContent);
})"""
OVERDUE_JS = """[...document.querySelectorAll('section[data-table=overdue] tbody tr')].map(
  tr => [...tr.querySelectorAll('td')].map(td => td.textContent))"""


def test_at_1400_px_a_lead_sees_the_backlog_sla_first_the_overdue_findings_and_no_overflow(
    warehouse: Path, browser: Browser, tmp_path: Path
) -> None:
    from pipelines.publish.html_report.charts import CRITICAL_LINE
    from simulator.catalog import ORG_SLUG

    out = _report(warehouse, tmp_path / "report.html")
    page, _ = _open(browser, out)
    page.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )
    assert page.errors() == []
    # Whose report it is, in the title.
    assert (
        page.evaluate("document.querySelector('h1').textContent") == f"Pixee remediation report: {ORG_SLUG}"
    )
    assert ORG_SLUG in page.evaluate("document.title")
    # The open backlog's SLA first; every tile says what it counts, on the tile.
    tiles = page.evaluate(
        "[...document.querySelectorAll('.tile')].map(t => [t.dataset.tile, "
        "t.querySelector('.measures').innerText, t.querySelector('.detail').innerText])"
    )
    assert tiles[0][0] == "open_over_sla" and "open backlog" in tiles[0][1]
    assert all(measures.strip() for _, measures, _ in tiles)
    by_key = {key: (measures, detail) for key, measures, detail in tiles}
    assert "closures" in by_key["sla_attainment"][0] and "not the open backlog" in by_key["sla_attainment"][0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        open_now, over_now = con.execute(
            "select sum(open_findings), sum(open_over_sla) from pixee_marts.backlog_daily "
            "where day = (select max(as_of) from pixee_marts.marts_build)"
        ).fetchone()
        overdue = con.execute(
            "select repository_name, rule_id, severity, "
            "date_diff('day', cast(detected_at as date), (select max(as_of) from pixee_marts.marts_build)), "
            "days_overdue from pixee_marts.finding_remediation where days_overdue > 0 and not is_deleted "
            "and severity in ('critical', 'high') order by days_overdue desc"
        ).fetchall()
    assert f"{over_now / open_now:.0%} of {open_now:,} open" in by_key["open_over_sla"][1]

    # The overdue critical and high findings as a table: repository, rule, age, days overdue.
    assert overdue, "the simulated organisation has overdue critical or high findings"
    headers = page.evaluate("[...document.querySelectorAll('.overdue th')].map(th => th.textContent)")
    assert headers[:5] == ["repository", "rule", "severity", "age (days)", "days overdue"]
    shown = page.evaluate(OVERDUE_JS)
    assert len(shown) == min(len(overdue), 25)
    assert [int(row[4]) for row in shown] == [row[4] for row in overdue[: len(shown)]]
    assert {(r[0], r[1], r[2], int(r[3].replace(",", ""))) for r in shown} <= {o[:4] for o in overdue}
    total = int(page.evaluate("document.querySelector('.overdue').dataset.total"))
    assert total == len(overdue)

    # Time to remediate: each severity's SLA drawn across its panel, labelled.
    ttr = "figure[data-chart=ttr_weekly] svg"
    assert page.evaluate(f"document.querySelectorAll('{ttr} g.mark-rule line').length") >= 1
    labels = page.evaluate(f"[...document.querySelectorAll('{ttr} text')].map(t => t.textContent)")
    assert "SLA 7 d" in labels  # critical's default SLA
    # Critical has a line of its own in the backlog, in a colour of its own.
    strokes = page.evaluate(
        "[...document.querySelectorAll('figure[data-chart=backlog] g.mark-line path')]"
        ".map(p => [p.getAttribute('stroke'), p.getAttribute('stroke-width')])"
    )
    assert [CRITICAL_LINE, "2.5"] in strokes, strokes
    # Nothing runs out of its box at 1400 px.
    assert page.evaluate(OVERFLOW_JS) == []

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = page.screenshot(tmp_path / "report-1400.png", width=1400)
    shutil.copy(shot, ARTIFACTS / "report-1400.png")
    shutil.copy(out, ARTIFACTS / "report-1400.html")
    print(f"screenshot: {ARTIFACTS / 'report-1400.png'}")


def test_a_warehouses_first_week_backfill_is_left_out_of_the_opened_versus_closed_scale(
    handmade: Path,
) -> None:
    with duckdb.connect(str(handmade)) as con:
        con.execute(
            "create or replace table pixee_marts.remediation_weekly as select * from (values "
            "(date '2026-02-02', 'high', 600, 3, 0, 30.0, 60.0), "
            "(date '2026-02-09', 'high', 40, 35, 2, 30.0, 60.0), "
            "(date '2026-02-16', 'high', 45, 50, 1, 30.0, 60.0)"
            ") as t(week_start, severity, opened, closed, false_positives, "
            "p50_hours_to_resolve, p90_hours_to_resolve)"
        )
        html, data = build_report(_wh(con))
    chart = {c.key: c for c in data.charts}["opened_closed"]
    assert [r["opened"] for r in chart.data["weeks"]] == [40, 45]
    assert "the warehouse&#x27;s first week (2026-02-02, 600 opened, 3 closed)" in html
    # a first week like the others stays in the chart
    with duckdb.connect(str(handmade)) as con:
        con.execute("update pixee_marts.remediation_weekly set opened = 60 where week_start = '2026-02-02'")
        _, data = build_report(_wh(con))
    chart = {c.key: c for c in data.charts}["opened_closed"]
    assert [r["opened"] for r in chart.data["weeks"]] == [60, 40, 45]
