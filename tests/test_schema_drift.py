"""Schema drift from the API: new fields become columns, type changes never corrupt a column,
records without an id are set aside in rejected_records; the run summary says which."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines import cli


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _run(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = cli.main(["run", "--duckdb-path", str(db)])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_new_field_type_change_and_missing_id_are_handled_and_reported(
    simulator: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulator(repositories=2, days=20)
    for key in [k for k in os.environ if k.startswith("PIXEE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIXEE_BASE_URL", sim.base_url)
    monkeypatch.setenv("PIXEE_TOKEN", sim.org_token)
    monkeypatch.setenv("PIXEE_REQUESTS_PER_MINUTE", "60000")
    monkeypatch.setenv("PIXEE_BURST", "100")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "warehouse.duckdb"
    first = _run(db, capsys)
    assert "schema change" not in first

    findings = sorted(sim.truth()["findings"], key=lambda f: f["id"])
    new_field, retyped, no_id, bad_time = findings[0], findings[1], findings[2], findings[3]
    sim.update("findings", new_field["id"], exploitability="high")
    sim.update("findings", retyped["id"], start_line="line twelve")  # an integer column gets text
    sim.update("findings", no_id["id"], title="renamed")
    sim.update("findings", bad_time["id"], detected_at="last Tuesday")  # a timestamp gets free text
    with sim.org.lock:  # the API sends this record with "id": null (update() keeps ids)
        record = sim.org.records["findings"][no_id["id"]]
        record.over = {**(record.over or {}), "id": None}

    second = _run(db, capsys)

    assert "schema change: findings.exploitability is a new column" in second
    assert "schema change: findings.start_line changed type" in second
    assert "schema change: findings.detected_at changed type" in second
    assert "rejected: 1 record could not be loaded and was set aside in rejected_records" in second
    assert "findings 1 (e.g. the record has no id)" in second
    assert _query(db, "select table_name, reason from pixee.rejected_records") == [
        ("findings", "the record has no id")
    ]
    rows = dict(_query(db, "select id, exploitability from pixee.findings where exploitability is not null"))
    assert rows == {new_field["id"]: "high"}
    # The integer column keeps its type and every other row's value; the text went beside it.
    column_types = dict(
        _query(
            db,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'pixee' and table_name = 'findings' and column_name like 'start_line%'",
        )
    )
    assert column_types["start_line"] == "BIGINT"
    variants = [c for c in column_types if c != "start_line"]
    assert len(variants) == 1 and column_types[variants[0]] == "VARCHAR"
    lines = dict(_query(db, "select id, start_line from pixee.findings"))
    assert lines[retyped["id"]] is None
    assert _query(db, f"select {variants[0]} from pixee.findings where id = '{retyped['id']}'") == [
        ("line twelve",)
    ]
    for finding in findings[3:]:
        assert lines[finding["id"]] == finding["start_line"]
    detected = dict(_query(db, "select id, detected_at from pixee.findings where detected_at is null"))
    assert set(detected) == {bad_time["id"]}  # the timestamp column holds no text
    assert _query(db, "select count(*) from pixee.findings where id is null") == [(0,)]
    # The record without an id was not loaded: its row is the one from before, title unchanged.
    assert _query(db, f"select title from pixee.findings where id = '{no_id['id']}'") == [(no_id["title"],)]

    third = _run(db, capsys)  # drift is news once
    assert "schema change" not in third
