"""History of a platform source: one version per change, by `_version` or `updated_at`, every column kept."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.load.sync import sync
from tests.conftest import table_rows
from tests.platform_support import parse


def triage_of(finding: dict[str, Any]) -> str | None:
    items = finding["_embedded"]["representative-results"]["_embedded"]["items"]
    return next((r["status"] for r in items if r["type"] == "triage"), None)


def test_a_finding_whose_triage_completed_between_runs_has_two_versions(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(api="platform", repositories=3, days=8)
    settings = sim_settings(sim)
    truths: list[dict[tuple[str, str], str | None]] = []
    starts = []
    for gap in (0, 6, 6, 12):
        if gap:
            sim.advance(gap)
        truths.append({(f["scan_id"], f["id"]): triage_of(f) for f in sim.truth()["findings"]})
        starts.append(sync(settings, pipelines_dir=str(tmp_path / "dlt")).observed_at)
    changed = {
        key
        for earlier, later in itertools.pairwise(truths)
        for key, status in later.items()
        if key in earlier and earlier[key] is None and status is not None
    }
    assert changed, "no triage completed between two runs: the simulated hours are too few"

    history = table_rows(settings.duckdb_path, "findings_history")
    versions: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in history:
        versions.setdefault((row["scan_id"], row["id"]), []).append(row)
    for key in changed:
        rows = sorted(versions[key], key=lambda r: r["observed_at"])
        assert len(rows) >= 2, key  # the fix result may have come in another run
        statuses = [r["triage__status"] for r in rows]
        assert statuses[0] is None and statuses[-1] is not None, statuses
        assert len({r["_version"] for r in rows}) == len(rows)
        assert all(r["observed_at"] in starts for r in rows)
    # Content that did not change is one version, however often it was read.
    assert len({(r["scan_id"], r["id"], r["_version"]) for r in history}) == len(history)
    main = table_rows(settings.duckdb_path, "findings")
    assert {k for k in main[0] if not k.startswith("_dlt")} <= set(history[0]) | {"_expired_at"}
    assert "observed_at" in history[0]


def test_analyses_and_patches_are_versioned_by_updated_at_repositories_and_scans_by_content(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(api="platform", repositories=2, days=8)
    settings = sim_settings(sim)
    served: dict[str, set[str]] = {}
    for gap in (0, 3, 3, 48):
        if gap:
            sim.advance(gap)
        for a in sim.truth()["analyses"]:
            served.setdefault(a["id"], set()).add(a["updated_at"])
        sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    history = table_rows(settings.duckdb_path, "analyses_history")
    got: dict[str, set[str]] = {}
    for row in history:
        got.setdefault(row["id"], set()).add(row["updated_at"])
    assert {k: {parse(v) for v in vs} for k, vs in served.items()} == got
    assert any(len(v) > 1 for v in got.values())  # some analysis moved while the runs watched
    for table in ("repositories", "scans"):
        rows = table_rows(settings.duckdb_path, f"{table}_history")
        assert len({r["id"] for r in rows}) == len(rows)  # served unchanged every run: one version
        assert all(r["_version"] for r in rows)
    assert table_rows(settings.duckdb_path, "patches_history")
