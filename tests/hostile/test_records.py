"""Hostile records and values: list items, webhooks and detail bodies that are not objects or have
no id are set aside in rejected_records and counted; a value no column can hold (an integer beyond
64 bits, nesting hundreds of levels, a lone surrogate, NaN where no float column is declared) keeps
its row, stored as text and listed with its column. Everything else is in the warehouse, exactly."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.extract.rejected_rows import MAX_DEPTH, RAW_CHARS
from pipelines.load.sync import sync
from tests.conftest import diff_table, table_rows
from tests.hostile.support import Proxied, Reply, Upstream, rejected_rows


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
]
BOGUS_WEBHOOKS = [{"url": "https://hooks.example/no-id"}, 42]
BOGUS_REPOSITORIES = [[1, 2, 3], {"name": "no id", "updated_at": STAMP}]


def test_bad_records_are_set_aside_and_everything_else_loads(
    proxied: Callable[..., Proxied], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    run = proxied(repositories=2, days=10)
    sim, server = run.sim, run.server
    truth = sim.truth()
    repo = sorted(r["id"] for r in truth["repositories"])[1]
    fix_ids = sorted(f["id"] for f in truth["fixes"])
    finding_ids = sorted(f["id"] for f in truth["findings"])
    poisoned = {
        "/repositories": ("data", BOGUS_REPOSITORIES),
        "/webhooks": ("data", BOGUS_WEBHOOKS),
        f"/repositories/{repo}/findings": ("data", BOGUS_FINDINGS),
    }
    bad_details = {
        f"/fixes/{fix_ids[0]}": ["a", "list", "not", "a", "fix"],
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

    server.tamper = tamper
    settings = run.settings()
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"), details=True)

    db = settings.duckdb_path
    assert_matches_truth(sim, db)  # every real record of every list, exactly once
    details = {t: {r["id"] for r in table_rows(db, t)} for t in ("fix_details", "finding_details")}
    assert details["fix_details"] == set(fix_ids) - {fix_ids[0]}
    assert details["finding_details"] == set(finding_ids) - {finding_ids[1]}

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
            ("fix_details", "the record is a JSON array, not an object"),
            ("finding_details", f"the detail of {finding_ids[1]} came back with another id"),
        ]
    )
    assert set(rejected[0]) == {
        "table_name",
        "reason",
        "run_id",
        "raw_value",
        "observed_at",
        "column_name",
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
        "findings": 3,
        "fix_details": 1,
        "finding_details": 1,
    }
    assert {r["column_name"] for r in rejected} == {None}
    summary = report.summary_table()
    assert "rejected: 9 records could not be loaded and were set aside in rejected_records" in summary


BIG = 2**70


def test_a_value_no_column_can_hold_keeps_its_row_and_nan_is_the_same_on_both_paths(
    proxied: Callable[..., Proxied], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    run = proxied(repositories=4, days=10)
    sim, server = run.sim, run.server
    truth = sim.truth()
    # Three repositories with findings (a simulated one may have none): one page path each.
    arrow_repo, dict_repo, third_repo = sorted({f["repository_id"] for f in truth["findings"]})[:3]
    # Before: the bigint and the deep value each cost their whole finding (set aside), and NaN
    # became NULL on the dict path while the Arrow path kept it.
    arrow_page = {0: ("confidence", float("nan")), 1: ("confidence", "1e400"), 2: ("confidence", "-1e400")}
    dict_page = {
        0: ("start_line", BIG),
        1: ("cwe", deep(500)),
        2: ("title", "half a pair: \ud800"),
        3: ("confidence", float("nan")),
        4: ("confidence", "1e400"),
        5: ("start_line", float("nan")),
    }
    # pyarrow would truncate it to 1 in the integer column; dlt keeps it, in a variant column.
    fraction_page = {0: ("start_line", 1.5)}
    changed: dict[str, tuple[str, Any]] = {}

    def tamper(path: str, query: str, upstream: Upstream) -> Reply | None:
        pages = {
            f"/repositories/{arrow_repo}/findings": arrow_page,
            f"/repositories/{dict_repo}/findings": dict_page,
            f"/repositories/{third_repo}/findings": fraction_page,
        }
        if path not in pages or "cursor=" in query:
            return None
        body = upstream.json()
        for i, (field, value) in pages[path].items():
            body["data"][i][field] = (
                "__1e400__" if value == "1e400" else "__-1e400__" if value == "-1e400" else value
            )
            changed[body["data"][i]["id"]] = (field, value)
        if path.endswith(f"{dict_repo}/findings"):
            for row in body["data"]:
                row["drift"] = "a field no hint knows: this page goes to dlt as dicts"
        text = json.dumps(body).replace('"__1e400__"', "1e400").replace('"__-1e400__"', "-1e400")
        return Reply(body=text.encode())

    server.tamper = tamper
    settings = run.settings()
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"))

    db = settings.duckdb_path
    assert_matches_truth(sim, db, ["repositories", "scans", "fixes", "webhooks"])
    rows = {r["id"]: r for r in table_rows(db, "findings")}
    assert set(rows) == {f["id"] for f in truth["findings"]}  # every finding kept, none set aside

    def put_in(change: tuple[str, Any]) -> dict[str, Any]:
        """The warehouse row of the finding given `change` (the same objects: NaN finds itself)."""
        return rows[next(i for i, c in changed.items() if c[0] == change[0] and c[1] is change[1])]

    # The Arrow path and the dict path keep NaN and the infinities alike, as floats.
    for page in (arrow_page, dict_page):
        for field, value in page.values():
            if field != "confidence":
                continue
            got = put_in((field, value))["confidence"]
            if value == "1e400":
                assert got == math.inf
            elif value == "-1e400":
                assert got == -math.inf
            else:
                assert math.isnan(got)
    # Values no column holds: stored as text in the column (or its text variant), the row kept.
    assert (
        put_in(dict_page[0])["start_line__v_text"] == str(BIG) and put_in(dict_page[0])["start_line"] is None
    )
    assert json.loads(put_in(dict_page[1])["cwe"]) == deep(500)
    assert put_in(dict_page[2])["title"] == "half a pair: \\ud800"
    assert put_in(dict_page[5])["start_line__v_text"] == "NaN"  # no float column to keep it
    assert put_in(fraction_page[0])["start_line__v_double"] == 1.5
    # Every other value of every finding is what the server sent.
    others = [{k: v for k, v in f.items() if k != changed.get(f["id"], ("",))[0]} for f in truth["findings"]]
    assert diff_table(db, "findings", others) == []

    listed = sorted((r["table_name"], r["column_name"], r["reason"]) for r in rejected_rows(db))
    assert listed == sorted(
        [
            (
                "findings",
                "start_line",
                "start_line: an integer beyond 64 bits; the row is kept, the value stored as text",
            ),
            (
                "findings",
                "cwe",
                f"cwe: nested deeper than {MAX_DEPTH} levels; the row is kept, the value stored as text",
            ),
            (
                "findings",
                "title",
                "title: a string that is not valid Unicode (a lone surrogate), escaped; "
                "the row is kept, the value stored as text",
            ),
            (
                "findings",
                "start_line",
                "start_line: NaN, which only a float column holds; the row is kept, the value stored as text",
            ),
        ]
    )
    assert report.rejected == {}
    assert report.text_values == {"findings.start_line": 2, "findings.cwe": 1, "findings.title": 1}
    summary = report.summary_table()
    assert "stored as text: 4 values no column could hold, their rows kept" in summary
    assert "schema change: findings.start_line changed type: new values land in start_line__v_text" in summary
