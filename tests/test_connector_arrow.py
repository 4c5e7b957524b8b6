"""Arrow pages: typed from the column hints, and left to dlt's normalizer when they do not fit."""

from __future__ import annotations

import pyarrow as pa

from pipelines.extract.v1.arrow import page_to_arrow

ROW = {
    "id": "f_1",
    "repository_id": "repo_1",
    "start_line": 12,
    "confidence": 0.91,
    "cwe": None,
    "detected_at": "2026-03-01T10:00:00Z",
    "updated_at": "2026-03-01T10:00:00.250Z",
}


def test_a_page_becomes_a_typed_table() -> None:
    table = page_to_arrow("findings", [ROW, {**ROW, "id": "f_2", "triaged_at": None}])
    assert table is not None and table.num_rows == 2
    assert table.schema.field("start_line").type == pa.int64()
    assert table.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert table.column("updated_at")[0].as_py().microsecond == 250_000
    assert table.column("resolved_at").null_count == 2  # documented fields absent from the page


def test_pages_that_do_not_fit_stay_dicts() -> None:
    assert page_to_arrow("findings", [{**ROW, "risk_score": 0.4}]) is None  # a new field
    assert page_to_arrow("findings", [{**ROW, "start_line": "twelve"}]) is None  # another type
    assert page_to_arrow("findings", [{**ROW, "updated_at": "yesterday"}]) is None
    assert page_to_arrow("fixes", [{"id": "fix_1", "finding_ids": ["f_1"]}]) is None  # nested lists
