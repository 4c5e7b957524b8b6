"""The main marts test: a seeded simulated organisation, synced by the real connector over HTTP into
DuckDB, gives marts equal, column by column, to a Python computation over the simulator's truth;
after time moves and an incremental sync the marts follow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.load.sync import sync
from pipelines.settings import Secret, Settings
from pipelines.transform.dbt_runner import build_marts, test_marts
from tests.marts_expected import KEYS, expected_marts, ts
from tests.marts_support import assert_same_rows

NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def sim() -> Iterator[Any]:
    from simulator import SimConfig, Simulator

    simulator = Simulator(SimConfig(seed=7, now=NOW, repositories=5, days=60, requests_per_minute=None))
    simulator.base_url = simulator.start()
    yield simulator
    simulator.stop()


def _settings(sim: Any, tmp_path: Path) -> Settings:
    return Settings(
        base_url=sim.base_url,
        token=Secret(sim.org_token),
        duckdb_path=tmp_path / "warehouse.duckdb",
        requests_per_minute=60000.0,
        burst=100,
    )


def _read_marts(pipeline: Any) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with pipeline.sql_client() as client:
        for name in KEYS:
            with client.execute_query(f"select * from pixee_marts.{name}") as cursor:
                columns = [d[0] for d in cursor.description]
                out[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return out


def _ensure_a_repository_without_findings(sim: Any) -> None:
    """If every repository has findings, delete the smallest one's findings and fixes."""
    truth = sim.truth()
    counts = {r["id"]: 0 for r in truth["repositories"]}
    for finding in truth["findings"]:
        counts[finding["repository_id"]] += 1
    repo = min(counts, key=counts.__getitem__)
    for kind in ("fixes", "findings"):
        for obj in truth[kind]:
            if obj["repository_id"] == repo:
                sim.delete(kind, obj["id"])


def _edge_cases(truth: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """How many of each edge case the organisation holds (the test needs every one of them)."""
    findings = {f["id"]: f for f in truth["findings"]}
    with_findings = {f["repository_id"] for f in truth["findings"]}

    def same_day(f: dict[str, Any]) -> bool:
        return f["resolved_at"] is not None and ts(f["resolved_at"]).date() == ts(f["detected_at"]).date()

    return {
        "same_day_resolved": sum(same_day(f) for f in truth["findings"]),
        "pr_open": sum(f["status"] == "pr_open" for f in truth["fixes"]),
        "closed_unmerged": sum(f["status"] == "closed" for f in truth["fixes"]),
        "multi_severity_fix": sum(
            len({findings[i]["severity"] for i in f["finding_ids"] if i in findings}) > 1
            for f in truth["fixes"]
        ),
        "repo_without_findings": sum(r["id"] not in with_findings for r in truth["repositories"]),
        "pending_triage": sum(f["classification"] is None for f in truth["findings"]),
        # reopened: open again although a merged fix addressed it
        "reopened": len(
            {i for f in truth["fixes"] if f["status"] == "merged" for i in f["finding_ids"]}
            & {f["id"] for f in truth["findings"] if f["status"] == "open" and f["resolved_at"] is None}
        ),
    }


def test_marts_equal_python_over_truth_then_follow_an_incremental_sync(sim: Any, tmp_path: Path) -> None:
    _ensure_a_repository_without_findings(sim)
    settings = _settings(sim, tmp_path)
    pipeline = sync(settings, pipelines_dir=str(tmp_path / "pipelines")).pipeline
    truth = sim.truth()
    cases = _edge_cases(truth)
    missing = [name for name, count in cases.items() if not count]
    assert not missing, f"the seeded org lacks edge cases {missing}: {cases}"

    report = build_marts(pipeline, settings, NOW.date())
    marts = _read_marts(pipeline)
    expected = expected_marts(truth, NOW.date(), settings.sla_days)
    for name in KEYS:
        assert_same_rows(name, marts[name], expected[name])
    assert report.rows == {name: len(rows) for name, rows in expected.items()}
    # dbt's tests (unique ids and grains, relationships, accepted values) pass on what the connector loaded
    assert [o.message for o in test_marts(pipeline, settings, NOW.date()) if not o.ok] == []

    # time moves two days: PRs merge, findings resolve; an incremental sync and a rebuild follow
    before = {f["id"]: f for f in truth["findings"]}
    first = truth
    sim.advance(48)
    later = sim.now
    sync(settings, pipelines_dir=str(tmp_path / "pipelines"))
    build_marts(pipeline, settings, later.date())
    truth = sim.truth()
    # The warehouse now remembers what the first sync read (the history tables): the versions the
    # simulator served at both run times, so each past day reads the state it had then.
    for kind in ("repositories", "scans", "findings", "fixes"):
        truth[f"{kind}_history"] = first[kind] + truth[kind]
    marts = _read_marts(pipeline)
    expected = expected_marts(truth, later.date(), settings.sla_days)
    for name in KEYS:
        assert_same_rows(name, marts[name], expected[name])

    # a finding open before whose fix merged meanwhile leaves the backlog on its merge day
    fixes_merged = {
        i: ts(f["merged_at"]) for f in truth["fixes"] if f["status"] == "merged" for i in f["finding_ids"]
    }
    moved = [
        f
        for f in truth["findings"]
        if f["id"] in before
        and before[f["id"]]["resolved_at"] is None
        and f["resolved_at"] is not None
        and f["id"] in fixes_merged
        and ts(f["resolved_at"]) == fixes_merged[f["id"]]
    ]
    assert moved, "no open finding was fixed by a merged PR while time moved"
    finding = moved[0]
    merge_day = ts(finding["resolved_at"]).date()
    key = (finding["repository_id"], finding["severity"])
    rows = {r["day"]: r for r in marts["backlog_daily"] if (r["repository_id"], r["severity"]) == key}
    assert rows[merge_day]["resolved"] >= 1
    assert rows[merge_day - dt.timedelta(days=1)]["open_findings"] - rows[merge_day]["open_findings"] == (
        rows[merge_day]["resolved"] - rows[merge_day]["opened"]
    )
