"""The platform flavour against its simulator over simulated days: all that was served, at the floor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines.load.sync import sync
from tests.conftest import table_rows
from tests.platform_support import Served, counted, floor, pages, scalar

# Hours between runs: daily, then gaps of three days (inside the six-day window), eleven days in all.
GAPS = (24, 72, 24, 72, 48, 24)


def test_runs_days_apart_hold_everything_served_and_cost_exactly_the_floor(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(api="platform", repositories=4, days=10)
    settings = sim_settings(sim)
    served = Served()
    seen_analyses: dict[str, dict[str, Any]] = {}
    seen_patches: dict[str, dict[str, Any]] = {}
    before: dict[str, list[dict[str, Any]]] | None = None
    expired_total = 0
    for run, gap in enumerate((0, *GAPS)):
        if gap:
            sim.advance(gap)
        truth = sim.truth()
        expected = floor(before, truth, list(seen_analyses.values()), list(seen_patches.values()))
        sim.reset_stats()
        report = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
        assert counted(sim.stats()) == expected, f"run {run} (+{gap} h)"
        assert report.flavour == "platform"
        served.see(truth)
        problems = served.differences(settings.duckdb_path)
        assert not problems, f"run {run} (+{gap} h):\n" + "\n".join(problems)
        expired_total += report.expired
        seen_analyses.update({a["id"]: a for a in truth["analyses"]})
        seen_patches.update({p["id"]: p for p in truth["patches"]})
        before = truth
    # Scans expired along the way and stayed, with their findings.
    db = settings.duckdb_path
    assert expired_total > 0
    kept = scalar(db, "select count(*) from pixee.findings f join pixee.scans s on s.id = f.scan_id "
                      "where s._expired_at is not null")  # fmt: skip
    assert kept > 0
    assert scalar(db, "select count(*) from pixee.scans where _expired_at is not null") == expired_total


def test_a_full_refresh_drops_no_expired_scan_and_a_late_run_says_what_expired_unread(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(api="platform", repositories=2, days=10)
    settings = sim_settings(sim)
    sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    sim.advance(48)
    sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    db = settings.duckdb_path
    expired = scalar(db, "select count(*) from pixee.scans where _expired_at is not null")
    assert expired > 0
    refreshed = sync(settings, full_refresh=True, pipelines_dir=str(tmp_path / "dlt"))
    assert scalar(db, "select count(*) from pixee.scans where _expired_at is not null") == expired
    assert any("no table is dropped" in note for note in refreshed.notes)

    sim.advance(8 * 24)  # past the expiry window: a week of imports came and went unread
    late = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    [warning] = [w for w in late.warnings if "expired unread" in w]
    assert "the previous run was 8.0 days ago" in warning and "run at least every 6 days" in warning
    assert "\n" not in warning


@pytest.mark.parametrize("relative", [False, True])
def test_relative_hrefs_and_a_relation_the_connector_does_not_know(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path, relative: bool
) -> None:
    sim = simulator(
        api="platform", repositories=2, days=8, relative_hrefs=relative, extra_relation="sbom-exports"
    )
    settings = sim_settings(sim)
    first = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    served = Served()
    served.see(sim.truth())
    assert not served.differences(settings.duckdb_path)
    assert "new root relation 'sbom-exports': loaded as collection_sbom_exports" in first.notes
    rows = table_rows(settings.duckdb_path, "collection_sbom_exports")
    assert {r["id"] for r in rows} == {r["id"] for r in sim.truth()["collection_sbom_exports"]}
    sim.advance(24)
    second = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    assert not [n for n in second.notes if "new root relation" in n]  # named once, the run it appeared
    assert "collection_sbom_exports" in second.summary_table()


def test_a_deleted_repository_is_marked_and_reconcile_reads_every_workflow_and_findings_list(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(api="platform", repositories=3, days=8)
    settings = sim_settings(sim)
    served = Served()
    served.see(sim.truth())
    sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    gone = sorted(r["id"] for r in sim.truth()["repositories"])[0]
    sim.delete("repositories", gone)
    sim.advance(2)
    served.see(sim.truth())
    sim.reset_stats()
    report = sync(settings, reconcile=True, pipelines_dir=str(tmp_path / "dlt"))
    assert not served.differences(settings.duckdb_path)
    assert report.deleted == {"repositories": 1}
    truth = sim.truth()
    per_scan: dict[str, int] = {}
    for f in truth["findings"]:
        per_scan[f["scan_id"]] = per_scan.get(f["scan_id"], 0) + 1
    counts = counted(sim.stats())
    assert counts["findings"] == sum(pages(per_scan.get(s["id"], 0)) for s in truth["scans"])
    assert counts["workflows"] == len(truth["repositories"])  # a page each: every repository
