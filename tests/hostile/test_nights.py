"""Hostile nights, through the real `pixee-etl run`: one list that fails never costs the rest of its
batch, memory or a disk that runs out leaves no wedge, and whatever goes wrong, stderr says it in
one line (dlt's own tracebacks kept quiet). Each case ends in one line with everything else
committed, and the next run ends equal to what the server serves."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dlt.destinations.exceptions import DatabaseTransientException

from pipelines.errors import ApiError, DiskFullError, IncompleteSyncError
from pipelines.load.disk import disk_full
from pipelines.load.sync import sync
from pipelines.publish.serving import publish
from tests.conftest import diff_table
from tests.etl_driver import fill
from tests.faults_support import etl_env, run_etl
from tests.hostile.support import HostileProxy, Reply, Upstream, busiest, one_line

# Our own progress lines (retries, one per table): what a run says when nothing is wrong.
PROGRESS = re.compile(r"^\d\d:\d\d:\d\d INFO ")
ERROR_500 = {"error": {"code": "internal", "message": "boom", "request_id": "req_500"}}
ERROR_400 = {"error": {"code": "bad_request", "message": "cursor rejected", "request_id": "req_400"}}
LISTS = ["repositories", "scans", "fixes", "webhooks"]


def measured(case: str, lines: int, before: int, after: int) -> None:
    """What a case measured, shown with `pytest -s`: stderr lines, rows loaded before and after."""
    print(f"\n{case}: {lines} line(s) of stderr; rows loaded {before} -> {after}")


def said(stderr: str) -> list[str]:
    """The lines of stderr an operator reads as something wrong: all but the progress lines."""
    return [line for line in stderr.splitlines() if line.strip() and not PROGRESS.match(line)]


def rows_loaded(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        names = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'pixee'"
            ).fetchall()
        }
        tables = [t for t in ("repositories", "scans", "findings", "fixes", "finding_details") if t in names]
        return sum(int(con.execute(f"select count(*) from pixee.{t}").fetchone()[0]) for t in tables)  # type: ignore[index]


def looping() -> Callable[[Upstream], Reply]:
    """The first page again and again, always saying there is a next one under the same cursor."""
    first: list[Any] = []

    def answer(upstream: Upstream) -> Reply:
        if not first:
            first.append({**upstream.json(), "pagination": {"next_cursor": "again", "has_more": True}})
        return Reply(body=first[0])

    return answer


def always(reply: Reply) -> Callable[[], Callable[[Upstream], Reply]]:
    return lambda: lambda upstream: reply


# One repository's findings list answers like this on every request of the first run.
LIST_FAILURES: dict[str, tuple[Callable[[], Callable[[Upstream], Reply]], str]] = {
    "a paging loop": (looping, "the server's pages go in a circle"),
    "a 500 past the retries": (always(Reply(500, ERROR_500)), "gave up after 6 attempts (HTTP 500)"),
    "a 400": (always(Reply(400, ERROR_400)), "cursor rejected"),
    "a corrupt gzip body": (
        always(Reply(200, b"\x1f\x8b\x08\x00 not gzip at all", {"Content-Encoding": "gzip"})),
        "sent a body that does not decode",
    ),
    "a redirect to another host": (
        always(Reply(307, b"", {"Location": "http://evil.example/api/v1/findings"})),
        "307 redirect to 'http://evil.example/api/v1/findings', another host or scheme",
    ),
}


@pytest.mark.parametrize("case", list(LIST_FAILURES))
def test_one_list_failing_costs_only_itself_in_one_line_and_the_next_run_reads_it(
    simulator: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    proxy: Callable[..., HostileProxy],
    tmp_path: Path,
    case: str,
) -> None:
    make, expected = LIST_FAILURES[case]
    answer = make()
    sim = simulator(repositories=3, days=10)
    truth = sim.truth()
    bad = busiest(truth)
    target = f"/repositories/{bad}/findings"
    server = proxy(sim)
    server.tamper = lambda path, query, upstream: answer(upstream) if path == target else None
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, PIXEE_BASE_URL=server.base_url)  # type: ignore[attr-defined]

    failed = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert failed.returncode == 1, failed.stderr
    lines = said(failed.stderr)
    assert len(lines) <= 3 and "Traceback" not in failed.stderr, failed.stderr
    assert lines[-1].startswith("pixee-etl run: 1 list(s) not read this run: findings of "), lines
    assert expected in lines[-1] and f"endpoint /api/v1{target}" in lines[-1], lines[-1]
    assert f"failed: findings of {bad}: " in failed.stdout  # the summary lists it too
    # All three repositories were one batch: every other list is committed with its cursor.
    assert_matches_truth(sim, db, LISTS)
    others = [f for f in truth["findings"] if f["repository_id"] != bad]
    assert diff_table(db, "findings", others) == []
    before = rows_loaded(db)
    assert before < sum(len(truth[t]) for t in ("repositories", "scans", "findings", "fixes"))

    server.tamper = None
    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0 and said(done.stderr) == [], done.stderr
    assert_matches_truth(sim, db)
    measured(case, len(lines), before, rows_loaded(db))


def test_a_detail_failing_for_one_object_costs_only_that_detail(
    simulator: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    proxy: Callable[..., HostileProxy],
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=3, days=10)
    finding = sorted(f["id"] for f in sim.truth()["findings"])[7]
    server = proxy(sim)
    server.tamper = lambda path, query, upstream: (
        Reply(500, ERROR_500) if path == f"/findings/{finding}" else None
    )
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, PIXEE_BASE_URL=server.base_url)  # type: ignore[attr-defined]
    tables = [*LISTS, "findings", "fix_details"]

    failed = run_etl(env, "run", "--no-marts", "--details", "--duckdb-path", str(db), cwd=tmp_path)

    assert failed.returncode == 1, failed.stderr
    lines = said(failed.stderr)
    assert len(lines) <= 3 and "Traceback" not in failed.stderr, failed.stderr
    assert f"finding_details of {finding}: gave up after 6 attempts (HTTP 500)" in lines[-1], lines
    assert_matches_truth(sim, db, tables)  # the finding itself is loaded, only its detail waits
    before = rows_loaded(db)

    server.tamper = None
    done = run_etl(env, "run", "--no-marts", "--details", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0 and said(done.stderr) == [], done.stderr
    assert_matches_truth(sim, db, [*tables, "finding_details"])  # the backfill asked again
    measured("a detail failing for one object", len(lines), before, rows_loaded(db))


def padded(path: str, query: str, upstream: Upstream) -> Reply | None:
    """Findings pages of 25 MB (a 250 kB title on each of 100 findings): far past what the sync's
    128 MB DuckDB memory cap merges and versions in one go."""
    if not path.endswith("/findings"):
        return None
    body = upstream.json()
    for row in body["data"]:
        row["title"] = row["title"] + " " + "x" * 250_000
    return Reply(body=body)


def test_pages_past_the_memory_cap_load_and_two_normal_runs_after_load_everything(
    simulator: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    proxy: Callable[..., HostileProxy],
    tmp_path: Path,
) -> None:
    # Before: loads retried with more memory, history recording did not; every later run began
    # by catching up on that history, failed in a second, and 0 of the later changes loaded.
    sim = simulator(repositories=2, days=30, findings=600)
    server = proxy(sim)
    server.tamper = padded
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, PIXEE_BASE_URL=server.base_url)  # type: ignore[attr-defined]

    first = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path, timeout=600)

    assert first.returncode == 0, first.stderr
    lines = said(first.stderr)
    assert lines == [] and "Traceback" not in first.stderr, first.stderr
    assert "recording history ran out of DuckDB's memory cap; retried with memory_limit" in first.stdout
    assert "\nfailed: " not in first.stdout
    before = rows_loaded(db)

    server.tamper = None
    for _ in range(2):  # normal nights: every change the server makes loads, history included
        sim.advance(24)
        done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
        assert done.returncode == 0 and said(done.stderr) == [], done.stderr
        assert "history: new versions" in done.stdout
        assert_matches_truth(sim, db, LISTS)
        # Findings unchanged since the padded night keep the title they were served with.
        unpadded = [{k: v for k, v in f.items() if k != "title"} for f in sim.truth()["findings"]]
        assert diff_table(db, "findings", unpadded) == []
    assert unrecorded_loads(db) == 0
    measured("25 MB pages past the memory cap", len(lines), before, rows_loaded(db))


def unrecorded_loads(db: Path) -> int:
    """Completed loads whose versions are not in the history tables."""
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("create temp table recorded (load_id varchar)")
        if con.execute("select 1 from duckdb_tables() where table_name = '_history_loads'").fetchone():
            con.execute("insert into recorded select load_id from pixee._history_loads")
        row = con.execute(
            "select count(*) from pixee._dlt_loads l where l.status = 0 and not exists "
            "(select 1 from recorded r where r.load_id = l.load_id)"
        ).fetchone()
        return int(row[0])  # type: ignore[index]


def versions_in(db: Path, suffix: str) -> dict[str, set[tuple[Any, Any]]]:
    """(id, updated_at) of every row of the versioned v1 tables, or of their `_history` tables."""
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            table: set(con.execute(f"select id, updated_at from pixee.{table}{suffix}").fetchall())
            for table in ("scans", "findings", "fixes")
        }


def refresh_copies(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        names = [name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()]
    return {name.removeprefix("_refresh_prior_") for name in names if name.startswith("_refresh_prior_")}


def warehouse_refuses(monkeypatch: pytest.MonkeyPatch, *steps: str) -> None:
    """Each named step of the bookkeeping after a load fails, even with more memory."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseTransientException(
            Exception("Out of Memory Error: failed to pin block of size 256.0 KiB (121.9 MiB/122.0 MiB used)")
        )

    for step in steps:
        monkeypatch.setattr(f"pipelines.load.sync.record.{step}", refuse)


def test_bookkeeping_that_keeps_failing_never_blocks_the_next_runs_loads_nor_a_full_refresh(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=2, days=10)
    settings = sim_settings(sim)
    dlt_dir = str(tmp_path / "dlt")
    db = settings.duckdb_path
    with pytest.MonkeyPatch.context() as broken:
        warehouse_refuses(broken, "record_versions", "record_unrecorded_loads", "mark_disappeared")
        with pytest.raises(IncompleteSyncError) as failed:
            sync(settings, pipelines_dir=dlt_dir)
        message = str(failed.value)
        assert one_line(message) and message.startswith("3 step(s) after the loads did not finish: "), message
        report = failed.value.report  # type: ignore[attr-defined]
        assert [f.split(" failed (")[0] for f in report.failures] == [
            "recording the versions of earlier loads",
            "recording history",
            "marking what the API no longer lists",
        ]
        assert_matches_truth(sim, db)  # the data is committed; only its versions wait

        # The next night: the catch-up fails again at once, and the night's changes still load.
        sim.advance(24)
        with pytest.raises(IncompleteSyncError) as again:
            sync(settings, pipelines_dir=dlt_dir)
        assert "recording the versions of earlier loads failed (" in str(again.value)
        assert_matches_truth(sim, db)
        assert unrecorded_loads(db) > 0
        waiting = versions_in(db, "")  # what the history owes: these versions are only in the tables

        # --full-refresh gets the warehouse going too, history still refusing.
        sim.advance(24)
        with pytest.raises(IncompleteSyncError):
            sync(settings, pipelines_dir=dlt_dir, full_refresh=True)
        assert_matches_truth(sim, db)
        assert "findings" in refresh_copies(db), "the dropped rows' versions wait in the refresh's copy"

    # The warehouse is well again: the next run records every version that waited.
    sim.advance(24)
    done = sync(settings, pipelines_dir=dlt_dir)
    assert done.failures == [] and unrecorded_loads(db) == 0
    assert_matches_truth(sim, db)
    # Including the versions the refresh dropped from the tables before they were recorded.
    kept = versions_in(db, "_history")
    for table, versions in waiting.items():
        assert versions <= kept[table], f"{table}: {len(versions - kept[table])} versions lost"
    assert refresh_copies(db) == set(), "recorded, the copies go"


def test_bookkeeping_that_keeps_failing_is_one_line_through_the_cli(
    simulator: Callable[..., Any], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    sim = simulator(repositories=3, days=10)
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, PIXEE_TEST_REFUSE_BOOKKEEPING="1")

    failed = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert failed.returncode == 1, failed.stderr
    lines = said(failed.stderr)
    assert len(lines) <= 3 and "Traceback" not in failed.stderr, failed.stderr
    assert lines[-1].startswith("pixee-etl run: 3 step(s) after the loads did not finish: "), lines
    assert_matches_truth(sim, db)  # every row loaded; only the versions wait
    before = rows_loaded(db)

    del env["PIXEE_TEST_REFUSE_BOOKKEEPING"]
    sim.advance(24)
    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0 and said(done.stderr) == [], done.stderr
    assert "versions an interrupted run loaded were added to the history now" in done.stdout
    assert_matches_truth(sim, db)
    assert unrecorded_loads(db) == 0
    measured("history and deletions failing after every load", len(lines), before, rows_loaded(db))


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A real 64 MB filesystem (tmpfs) at tmp_path/disk; skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize(
    ("fills", "on_it"),
    [
        ("extract", "dlt's working files"),
        ("normalize", "dlt's working files"),
        ("normalize", "the warehouse"),
    ],
)
def test_a_disk_that_fills_mid_run_is_one_line_and_the_run_after_it_frees_loads_all(
    simulator: Callable[..., Any],
    assert_matches_truth: Callable[..., None],
    small_disk: Path,
    tmp_path: Path,
    fills: str,
    on_it: str,
) -> None:
    # Before: an uncaught PipelineStepFailed, a traceback of a hundred lines.
    sim = simulator(repositories=3, days=10)
    filler = small_disk / "someone-elses-file"
    if on_it == "the warehouse":  # dlt's files get by on the big disk; the load cannot write
        db, env = small_disk / "warehouse.duckdb", etl_env(sim, tmp_path)
        step = "dlt's load step"
    else:
        db, env = tmp_path / "warehouse.duckdb", etl_env(sim, tmp_path, DLT_DATA_DIR=str(small_disk / "dlt"))
        step = f"dlt's {fills} step"
    # The second of the step: the repositories are committed, the first batch of lists is not.
    env["PIXEE_TEST_FILL_DISK_AT"] = f"{fills}:2:{filler}"

    failed = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)

    assert failed.returncode == 1, failed.stderr
    lines = said(failed.stderr)
    assert len(lines) <= 3 and "Traceback" not in failed.stderr, failed.stderr
    assert lines[-1].startswith(f"pixee-etl run: the disk is full: {step} could not write "), lines
    assert str(small_disk) in lines[-1] and "it wanted about " in lines[-1] and " free there" in lines[-1]
    assert "committed progress kept" in lines[-1]
    filler.unlink()
    assert_matches_truth(sim, db, ["repositories"])  # committed before the disk filled
    before = rows_loaded(db)

    del env["PIXEE_TEST_FILL_DISK_AT"]
    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0 and said(done.stderr) == [], done.stderr
    assert_matches_truth(sim, db)
    measured(f"a disk that fills during {fills} ({on_it} on it)", len(lines), before, rows_loaded(db))


def test_a_full_disk_while_publishing_is_one_line_and_keeps_the_serving_file_readers_have(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    small_disk: Path,
    tmp_path: Path,
) -> None:
    sim = simulator(repositories=2, days=10)
    settings = sim_settings(sim)
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    settings = replace(settings, serving_path=small_disk / "serving.duckdb")
    published = publish(report.pipeline, settings)
    assert published is not None
    served = rows_loaded(published.path)
    filler = small_disk / "someone-elses-file"
    fill(str(filler))

    with pytest.raises(DiskFullError) as full:
        publish(report.pipeline, settings)

    message = str(full.value)
    assert message.startswith("the disk is full: publishing the serving file could not write "), message
    assert str(small_disk) in message and "it wanted about " in message and one_line(message)
    assert rows_loaded(published.path) == served  # readers keep the file they had
    assert [p.name for p in small_disk.iterdir() if p.name.startswith(".")] == []  # no partial left
    filler.unlink()
    assert publish(report.pipeline, settings) is not None


def test_a_full_disk_is_told_by_errno_or_by_the_warehouses_words_never_by_a_servers(tmp_path: Path) -> None:
    nospace = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.parquet"))
    told = disk_full(nospace, "dlt's normalize step", wanted=3 << 20)
    assert told is not None and one_line(str(told))
    assert (
        f"dlt's normalize step could not write {tmp_path / 'x.parquet'} (it wanted about 3.0 MB more, "
        in str(told)
    )

    duck = RuntimeError(
        f'IO Error: Could not write all bytes to file "{tmp_path}/w.duckdb.wal": wanted=4096 wrote=0'
    )
    told = disk_full(duck, "dlt's load step")
    assert (
        told is not None
        and f"could not write {tmp_path}/w.duckdb.wal (it wanted about 4.0 kB more" in str(told)
    )

    theirs = ApiError("HTTP 507: No space left on device", status=507, endpoint="/api/v1/repositories")
    assert disk_full(theirs, "the sync") is None
    assert disk_full(ValueError("bad value"), "the sync") is None
