"""Incremental cursors: the filter sent, rows judged new or changed, and the state kept small."""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.extract.v1.cursors import Cursor


def row(obj_id: str, updated_at: str) -> dict[str, str]:
    return {"id": obj_id, "updated_at": updated_at}


def test_first_read_sends_no_filter_and_takes_everything() -> None:
    cursor = Cursor(None, lag_seconds=300)
    assert cursor.since is None
    assert cursor.observe(row("a", "2026-03-01T10:00:00Z"))
    assert cursor.observe(row("b", "2026-03-01T10:04:00.250Z"))
    saved = cursor.saved()
    assert saved["hwm"] == "2026-03-01T10:04:00.250000+00:00"
    assert set(saved["recent"]) == {"a", "b"}  # both inside the 5-minute window of the newest


def test_next_read_looks_back_by_the_lag_and_skips_what_it_already_has() -> None:
    first = Cursor(None, lag_seconds=300)
    for r in [row("old", "2026-03-01T09:00:00Z"), row("a", "2026-03-01T10:00:00Z")]:
        first.observe(r)
    cursor = Cursor(first.saved(), lag_seconds=300)
    assert cursor.since == "2026-03-01T09:55:00Z"
    # A server that ignores updated_since sends everything again: only changes get through.
    assert not cursor.observe(row("old", "2026-03-01T09:00:00Z"))
    assert not cursor.observe(row("a", "2026-03-01T10:00:00Z"))
    assert cursor.observe(row("late", "2026-03-01T09:58:00Z"))  # became visible late, inside the lag
    assert cursor.observe(row("a", "2026-03-02T08:00:00Z"))  # changed
    assert cursor.saved()["hwm"].startswith("2026-03-02T08:00:00")


def test_fractional_seconds_compare_as_time_not_text() -> None:
    cursor = Cursor(None, lag_seconds=0)
    cursor.observe(row("a", "2026-03-01T10:00:00.900Z"))
    cursor.observe(row("b", "2026-03-01T10:00:01Z"))
    assert cursor.saved()["hwm"] == "2026-03-01T10:00:01+00:00"


def test_long_reads_keep_only_the_window_in_memory() -> None:
    cursor = Cursor(None, lag_seconds=60)
    for i in range(50_000):
        minute, second = divmod(i, 60)
        cursor.observe(row(f"f{i}", f"2026-03-01T{minute // 60 % 24:02d}:{minute % 60:02d}:{second:02d}Z"))
        assert len(cursor._seen) < 2200
    assert len(cursor.saved()["recent"]) <= 61


def test_the_cursor_never_passes_the_run_start_and_a_frozen_one_thaws() -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    cursor = Cursor(None, lag_seconds=300, cap=start)
    assert cursor.observe(row("now", "2026-03-01T11:59:00Z"))
    assert cursor.observe(row("skewed", "2099-01-01T00:00:00Z"))  # loaded all the same
    assert cursor.ahead == 1 and cursor.newest_ahead == "2099-01-01T00:00:00Z"
    saved = cursor.saved()
    assert saved["hwm"] == start.isoformat()
    assert "skewed" in saved["recent"]  # so the next run does not load it again
    # State written before the cap existed, frozen at 2099, reads from the run's start again.
    frozen = Cursor({"hwm": "2099-01-01T00:00:00+00:00", "recent": {}}, lag_seconds=300, cap=start)
    assert frozen.since == "2026-03-01T11:55:00Z"
