"""Hostile records: list items, webhooks and detail bodies that are not objects, have no id, hold
an integer beyond 64 bits or nest hundreds of levels. Each is set aside in rejected_records and
counted; everything else the server served is in the warehouse, exactly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.records import MAX_DEPTH, RAW_CHARS
from pipelines.sync import sync
from tests.conftest import table_rows
from tests.hostile.support import HostileProxy, Reply, Upstream, rejected_rows


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": value}
    return value


STAMP = "2020-01-01T00:00:00Z"
BOGUS_FINDINGS = [
    "a string where a finding belongs",
    {"title": "no id", "updated_at": STAMP},
    {"id": 12345, "updated_at": STAMP},
    {"id": "f_bigint", "start_line": 2**70, "updated_at": STAMP},
    {"id": "f_deep", "extra": deep(300), "updated_at": STAMP},
    {"id": "f_surrogate", "title": "half a pair: \ud800", "updated_at": STAMP},
]
BOGUS_FIXES = [{"id": "fix_deep", "finding_ids": [deep(MAX_DEPTH + 5)], "updated_at": STAMP}]
BOGUS_WEBHOOKS = [{"url": "https://hooks.example/no-id"}, 42]
BOGUS_REPOSITORIES = [[1, 2, 3], {"name": "no id", "updated_at": STAMP}]


def test_bad_records_are_set_aside_and_everything_else_loads(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    proxy: Callable[..., HostileProxy],
    fast_retries: None,
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=2, days=10)
    truth = sim.truth()
    repo = sorted(r["id"] for r in truth["repositories"])[1]
    fix_ids = sorted(f["id"] for f in truth["fixes"])
    finding_ids = sorted(f["id"] for f in truth["findings"])
    poisoned = {
        "/repositories": ("data", BOGUS_REPOSITORIES),
        "/webhooks": ("data", BOGUS_WEBHOOKS),
        f"/repositories/{repo}/findings": ("data", BOGUS_FINDINGS),
        f"/repositories/{repo}/fixes": ("data", BOGUS_FIXES),
    }
    bad_details = {
        f"/fixes/{fix_ids[0]}": ["a", "list", "not", "a", "fix"],
        f"/findings/{finding_ids[0]}": {"id": finding_ids[0], "justification": "x", "confidence": -(2**65)},
        f"/findings/{finding_ids[1]}": {"id": finding_ids[2], "justification": "someone else's"},
    }

    def tamper(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path in bad_details:
            return Reply(body=bad_details[path])
        if path not in poisoned or "cursor=" in query:
            return None
        body = upstream.json()
        key, extra = poisoned[path]
        body[key] = body[key] + extra
        return Reply(body=body)

    server = proxy(sim)
    server.tamper = tamper
    settings = sim_settings(sim, base_url=server.base_url)  # type: ignore[attr-defined]
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"), details=True)

    db = settings.duckdb_path
    assert_matches_truth(sim, db)  # every real record of every list, exactly once
    details = {t: {r["id"] for r in table_rows(db, t)} for t in ("fix_details", "finding_details")}
    assert details["fix_details"] == set(fix_ids) - {fix_ids[0]}
    assert details["finding_details"] == set(finding_ids) - {finding_ids[0], finding_ids[1]}

    rejected = rejected_rows(db)
    got = sorted((r["table_name"], r["reason"]) for r in rejected)
    assert got == sorted(
        [
            ("repositories", "the record is a JSON array, not an object"),
            ("repositories", "the record has no id"),
            ("webhooks", "the record has no id"),
            ("webhooks", "the record is a JSON number, not an object"),
            ("findings", "the record is a JSON string, not an object"),
            ("findings", "the record has no id"),
            ("findings", "the record's id is a JSON number, not a string"),
            ("findings", "an integer beyond 64 bits"),
            ("findings", f"nested deeper than {MAX_DEPTH} levels"),
            ("findings", "a string that is not valid Unicode (a lone surrogate)"),
            ("fixes", f"nested deeper than {MAX_DEPTH} levels"),
            ("fix_details", "the record is a JSON array, not an object"),
            ("finding_details", "an integer beyond 64 bits"),
            ("finding_details", f"the detail of {finding_ids[1]} came back with another id"),
        ]
    )
    assert set(rejected[0]) == {
        "table_name",
        "reason",
        "run_id",
        "raw_value",
        "observed_at",
        "_dlt_load_id",
        "_dlt_id",
    }
    assert {r["run_id"] for r in rejected} == {report.run_id}
    assert {r["_dlt_load_id"] for r in rejected} <= set(report.load_ids)
    assert all(r["observed_at"] is not None and len(r["raw_value"]) <= RAW_CHARS for r in rejected)
    assert any(r["raw_value"] == '"a string where a finding belongs"' for r in rejected)
    assert report.rejected == {
        "repositories": 2,
        "webhooks": 2,
        "findings": 6,
        "fixes": 1,
        "fix_details": 1,
        "finding_details": 2,
    }
    summary = report.summary_table()
    assert "rejected: 14 records could not be loaded and were set aside in rejected_records" in summary
