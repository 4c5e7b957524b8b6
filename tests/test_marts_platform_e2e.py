"""End to end over a platform source: the platform simulator's truth snapshotted at each of twelve
daily runs, the real connector syncing it over HTTP, the dbt project building the marts; every column
of every mart equals the independent Python reading of those snapshots (tests/marts_expected_platform.py),
as of the last day and two past ones, and the simulated days hold every case the rules are about."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.load.sync import sync
from pipelines.transform.dbt_runner import build_marts, test_marts
from tests.marts_expected_platform import KEYS, Seen, expected_platform_marts, finding_versions
from tests.marts_support import assert_same_rows

RUNS = 12


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[Any], Path, Any]:
    """Twelve daily runs of the connector against the platform simulator; the truth before each."""
    from pipelines.settings import Secret, Settings
    from simulator import SimConfig, Simulator

    tmp = tmp_path_factory.mktemp("platform_e2e")
    snapshots = []
    with Simulator(
        SimConfig(api="platform", seed=11, repositories=5, days=20, requests_per_minute=None)
    ) as sim:
        settings = Settings(
            base_url=sim.base_url,
            token=Secret(sim.org_token),
            requests_per_minute=60000.0,
            burst=100,
            duckdb_path=tmp / "warehouse.duckdb",
        )
        report = None
        for run in range(RUNS):
            if run:
                sim.advance(24)
            snapshots.append((sim.now, sim.truth()))
            report = sync(settings, pipelines_dir=str(tmp / "dlt"))
            assert report.flavour == "platform"
        last = sim.now.date()
    return report.pipeline, snapshots, tmp / "warehouse.duckdb", (settings, last)


def _read(path: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for name in KEYS:
            cursor = con.execute(f"select * from pixee_marts.{name}")
            columns = [d[0] for d in cursor.description]
            out[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return out


def test_the_simulated_days_hold_every_case_the_rules_are_about(synced) -> None:
    _, snapshots, _, _ = synced
    seen = Seen(snapshots)
    states = [s for versions in finding_versions(seen).values() for s in versions]
    assert any(s["status"] == "dismissed" for s in states), "a finding dismissed by triage"
    statuses = {key: [s["status"] for s in versions] for key, versions in finding_versions(seen).items()}
    assert any("fixed" in run[run.index("open") :] and run[-1] == "open" for run in statuses.values()), (
        "a finding fixed and reopened"
    )
    assert any(
        s["triage_suggested"] not in (None, "true_positive", "false_positive", "wont_fix") for s in states
    )
    assert any(gone is not None for gone in seen.scan_gone.values()), "an expired scan"
    assert any(not seen.in_stream(scan) for scan in seen.scans.values()), "a feature-branch scan"
    merge_states = {p["merge_state"] for versions in seen.patches.values() for p in versions.values()}
    assert {"merged", "closed"} <= merge_states, "a patch merged and one closed"
    labels = {item["severity"]["label"] for rows in seen.finding_rows.values() for item in rows}
    assert "Info" in labels, "an info finding"


@pytest.mark.parametrize("back", [0, 4, 8], ids=["as-of", "4-days-back", "8-days-back"])
def test_every_column_of_every_mart_equals_python_over_the_truth_at_each_run(
    synced, tmp_path: Path, back: int
) -> None:
    pipeline, snapshots, warehouse, (settings, last) = synced
    as_of = last - dt.timedelta(days=back)
    build_marts(pipeline, settings, as_of)
    actual = _read(warehouse)
    expected = expected_platform_marts(snapshots, as_of, settings.sla_days)
    for name, keys in KEYS.items():
        assert_same_rows(name, actual[name], expected[name], keys=keys)


def test_dbt_test_passes_on_what_the_connector_loaded(synced) -> None:
    pipeline, _, _, (settings, last) = synced
    build_marts(pipeline, settings, last)
    outcomes = test_marts(pipeline, settings, last)
    assert [o.message for o in outcomes if not o.ok] == []


def test_the_platform_demo_ends_with_every_mart_filled_a_report_and_dbt_test_passing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    import dlt

    from pipelines.cli import main
    from pipelines.settings import Settings

    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    db = tmp_path / "demo.duckdb"
    assert main(["demo", "--api", "platform", "--duckdb-path", str(db), "--repositories", "3"]) == 0
    out = capsys.readouterr().out
    [*_, last] = [line for line in out.splitlines() if "marts as of" in line]
    counts = {name: int(n.replace(",", "")) for name, n in re.findall(r"(\w+) ([\d,]+)(?:,|$)", last)}
    assert set(KEYS) <= set(counts) and all(counts[name] > 0 for name in KEYS), last
    [report] = re.findall(r"Report: (\S+\.html)", out)
    html = Path(report).read_text()
    assert 'data-chart="analysis_daily"' in html and 'data-chart="scan_daily"' in html
    assert 'data-chart="fix_outcomes" data-rows="0" data-unavailable="true"' in html
    pipeline = dlt.pipeline(
        "demo_check", destination=dlt.destinations.duckdb(str(db)), dataset_name="pixee",
        pipelines_dir=str(tmp_path / "p"),
    )  # fmt: skip
    as_of = max(dt.date.fromisoformat(day) for day in re.findall(r"marts as of (\d{4}-\d\d-\d\d)", out))
    assert [o.message for o in test_marts(pipeline, Settings(), as_of) if not o.ok] == []
