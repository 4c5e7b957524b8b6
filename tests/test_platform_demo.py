"""`pixee-etl demo --api platform` as a new user runs it: ends 0; its serving file holds the platform."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from pipelines.extract.endpoints import PLATFORM


def test_the_platform_demo_ends_0_with_every_raw_table_history_and_expired_scans_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    db = tmp_path / "demo.duckdb"
    assert main(["demo", "--api", "platform", "--duckdb-path", str(db), "--repositories", "3"]) == 0
    out = capsys.readouterr().out
    assert "speaking the platform API" in out
    assert "1. Full sync" in out and "3. Incremental sync" in out and "Requests: full sync" in out
    assert "findings_history" in out and "scans expired:" in out
    serving = tmp_path / "demo.serving.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        for entry in PLATFORM:
            count = con.execute(f"select count(*) from pixee.{entry.table}").fetchone()
            assert count is not None and count[0] > 0, entry.table
        twice = con.execute(
            "select count(*) from (select scan_id, id from pixee.findings_history group by all "
            "having count(*) > 1)"
        ).fetchone()
        expired = con.execute("select count(*) from pixee.scans where _expired_at is not null").fetchone()
    assert twice is not None and twice[0] > 0
    assert expired is not None and expired[0] > 0
