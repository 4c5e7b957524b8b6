"""History and disappearance over several runs with time moving: the warehouse remembers what the API forgets.

Expectations come from the simulator's truth at each run time (never from the connector's SQL):
every history table holds exactly the distinct versions served at run times, each stamped with the
start of the first run that read it, and `_deleted_at` is set exactly for what disappeared, by the
first complete read after it did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from pipelines.load.sync import sync
from pipelines.transform.dbt_runner import build_marts
from tests.conftest import _same, flatten
from tests.faults_support import etl_env, kill_after_requests, run_etl, start_etl
from tests.marts_expected import expected_marts
from tests.marts_support import assert_same_rows

TABLES = ("repositories", "scans", "findings", "fixes")


class Expected:
    """What the warehouse must hold, built from truth snapshots taken at each run's time."""

    def __init__(self) -> None:
        self.versions: dict[str, dict[tuple[str, str], dict[str, Any]]] = {t: {} for t in TABLES}
        self.observed: dict[str, dict[tuple[str, str], datetime]] = {t: {} for t in TABLES}
        self.live: dict[str, set[str]] = {t: set() for t in TABLES}
        self.deleted: dict[str, dict[str, datetime]] = {t: {} for t in TABLES}
        self.loaded: dict[str, set[str]] = {t: set() for t in TABLES}

    def served(self, truth: dict[str, list[dict[str, Any]]], started: datetime, complete: set[str]) -> None:
        """One run at `started` read `truth`; `complete` names the tables it read in full everywhere
        (plus the vanished repositories' children, which the caller marks through `vanished`)."""
        for table in TABLES:
            for obj in truth[table]:
                key = (obj["id"], obj["updated_at"])
                self.versions[table].setdefault(key, flatten(obj))
                self.observed[table].setdefault(key, started)
            self.live[table] = {o["id"] for o in truth[table]}
            for obj_id in self.live[table]:
                self.deleted[table].pop(obj_id, None)  # it came back
            if table in complete:
                for obj_id in self.loaded[table] - self.live[table]:
                    self.deleted[table].setdefault(obj_id, started)
            self.loaded[table] |= self.live[table]

    def vanished(self, repository_id: str, children: dict[str, set[str]], started: datetime) -> None:
        self.deleted["repositories"].setdefault(repository_id, started)
        for table, ids in children.items():
            for obj_id in ids:
                self.deleted[table].setdefault(obj_id, started)


def server_start(sim: Any) -> datetime:
    """A run's start on the simulator's clock, as its Date header tells it (whole seconds): the
    stamp of observed_at and _deleted_at. The simulated clock stands still between advances."""
    return sim.now.replace(microsecond=0)


def rows(db: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def check(db: Path, want: Expected, label: str) -> None:
    problems: list[str] = []
    for table in TABLES:
        history = rows(db, f"select * from pixee.{table}_history")
        got = {(r["id"], r["updated_at"]): r for r in history}
        if len(got) != len(history):
            problems.append(f"{table}_history: {len(history) - len(got)} duplicate versions")
        expected = {(k[0], flatten({"updated_at": k[1]})["updated_at"]): k for k in want.versions[table]}
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        if missing or extra:
            problems.append(
                f"{table}_history: {len(missing)} missing {missing[:2]}, {len(extra)} extra {extra[:2]}"
            )
        for key, raw_key in expected.items():
            row = got.get(key)
            if row is None:
                continue
            if row["observed_at"] != want.observed[table][raw_key]:
                problems.append(f"{table}_history {key}: observed_at {row['observed_at']}")
            for column, value in want.versions[table][raw_key].items():
                if column in row and not _same(row[column], value):
                    problems.append(f"{table}_history {key}.{column}: {row[column]!r} != {value!r}")
        main = rows(db, f"select id, _deleted_at from pixee.{table}")
        # Rows stay once loaded (an incremental run cannot tell a vanished one), marked or not.
        present = {r["id"] for r in main}
        marked = {r["id"]: r["_deleted_at"] for r in main if r["_deleted_at"] is not None}
        if present != want.loaded[table]:
            problems.append(f"{table}: rows differ: {sorted(present ^ want.loaded[table])[:3]}")
        if marked != want.deleted[table]:
            problems.append(
                f"{table}: _deleted_at differs: got {len(marked)}, want {len(want.deleted[table])}"
            )
    assert not problems, f"after {label}:\n" + "\n".join(problems[:20])


def served_org(
    snapshots: list[tuple[datetime, dict[str, list[dict[str, Any]]]]], want: Expected
) -> dict[str, Any]:
    """What the warehouse must remember, as API objects: each object's last served state (with
    `_deleted_at` where it went) and every distinct version served at a run, as `<kind>_history`."""
    org: dict[str, Any] = {}
    for table in TABLES:
        latest: dict[str, dict[str, Any]] = {}
        versions: dict[tuple[str, str], dict[str, Any]] = {}
        for _, truth in snapshots:
            for obj in truth[table]:
                latest[obj["id"]] = obj
                versions.setdefault((obj["id"], obj["updated_at"]), obj)
        org[table] = [
            {**obj, "_deleted_at": want.deleted[table].get(oid)}
            for oid, obj in latest.items()
            if oid in want.loaded[table]
        ]
        org[f"{table}_history"] = list(versions.values())
    return org


def test_history_and_deletions_over_runs_with_time_moving(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(repositories=3, days=30, scan_retention_days=8, reopen_dismissed_rate=0.5)
    settings = sim_settings(sim)
    db = settings.duckdb_path
    want = Expected()
    snapshots: list[tuple[datetime, dict[str, list[dict[str, Any]]]]] = []
    counts: list[dict[str, int]] = []

    def run(label: str, complete: set[str] = frozenset(), **kwargs: Any) -> Any:  # type: ignore[assignment]
        truth = sim.truth()
        snapshots.append((sim.now, truth))
        report = sync(settings, pipelines_dir=str(tmp_path / "pipelines"), **kwargs)
        assert report.observed_at == server_start(sim)  # the clock updated_at come from
        want.served(truth, server_start(sim), set(complete))
        counts.append(dict(report.history_rows))
        return report

    # 1. The first run reads everything: complete reads, but nothing was there to disappear.
    run("first run", set(TABLES))
    check(db, want, "the first run")

    # 2. Two days: triage, fixes, PRs opened and merged; scans older than 8 days expire, but an
    #    incremental read never marks them.
    sim.advance(48)
    first_scans = {s["id"] for s in snapshots[0][1]["scans"]}
    report = run("incremental")
    expired = first_scans - {s["id"] for s in sim.truth()["scans"]}
    assert expired, "the retention knob should have expired a scan"
    check(db, want, "an incremental run")
    assert report.deleted == {}

    # 3. A finding dismissed, then reopened: both versions stay in the history.
    sim.advance(1)  # changes happen between runs, never at a run's instant
    finding = next(f for f in sim.truth()["findings"] if f["status"] == "open")
    sim.update(
        "findings",
        finding["id"],
        status="dismissed",
        classification="WONT_FIX",
        resolved_at=sim.now.isoformat().replace("+00:00", "Z"),
    )
    sim.advance(24)
    run("dismissed")
    sim.advance(1)
    sim.update("findings", finding["id"], status="open", resolved_at=None)
    sim.advance(24)
    run("reopened")
    check(db, want, "a finding dismissed then reopened")
    statuses = [
        r["status"]
        for r in rows(
            db, f"select status from pixee.findings_history where id = '{finding['id']}' order by updated_at"
        )
    ]
    assert statuses[-2:] == ["dismissed", "open"]

    # 4. A repository deleted: its lists answer 404, so it and its children are marked at once.
    owners = [f["repository_id"] for f in sim.truth()["findings"]]
    repository = max(set(owners), key=owners.count)  # one with findings (a clean one has none)
    children = {
        t: {r["id"] for r in rows(db, f"select id from pixee.{t} where repository_id = '{repository}'")}
        for t in ("scans", "findings", "fixes")
    }
    sim.advance(1)
    sim.delete("repositories", repository)
    sim.advance(6)
    report = run("repository deleted")
    want.vanished(repository, children, server_start(sim))
    check(db, want, "a repository deleted")
    assert report.deleted["findings"] == len(children["findings"]) > 0
    assert "marked deleted: " in report.summary_table()

    # 5. The weekly reconciliation reads every list in full: the expired scans are marked now.
    sim.advance(24)
    report = run("reconcile", set(TABLES), reconcile=True)
    check(db, want, "a reconciliation")
    assert report.deleted.get("scans", 0) >= len(expired)

    # 6. A full refresh re-reads the present and forgets nothing of the past.
    sim.advance(3)
    #    What it no longer finds stays, marked (kept from before, or now): a complete read of all.
    sim.delete("findings", next(f["id"] for f in sim.truth()["findings"] if f["repository_id"] != repository))
    sim.advance(1)
    report = run("full refresh", set(TABLES), full_refresh=True)
    check(db, want, "a full refresh")
    assert report.deleted.get("findings", 0) >= 1
    assert not [
        t
        for (t,) in duckdb.connect(str(db), read_only=True)
        .execute("select table_name from duckdb_tables() where table_name like '_refresh_prior_%'")
        .fetchall()
    ]

    # The simulator's truth at a past time is what it served then (tests can rebuild the past).
    for when, truth in snapshots:
        assert sim.truth(at=when) == truth

    # 7. The marts as of past dates say what they would have said then, as far as history reaches:
    #    Python over the states served at each run (not the SQL) against dbt's build.
    org = served_org(snapshots, want)
    scorecards: dict[Any, set[str]] = {}
    for as_of in sorted({snapshots[1][0].date(), snapshots[3][0].date(), snapshots[-1][0].date()}):
        build_marts(report.pipeline, settings, as_of)
        expected = expected_marts(org, as_of, settings.sla_days)
        for mart in ("backlog_daily", "repository_scorecard"):
            assert_same_rows(mart, rows(db, f"select * from pixee_marts.{mart}"), expected[mart])
        scorecards[as_of] = {
            r["repository_id"] for r in rows(db, "select * from pixee_marts.repository_scorecard")
        }
    # What a security lead sees: the repository deleted later is on the early scorecard only.
    assert repository in scorecards[snapshots[1][0].date()]
    assert repository not in scorecards[snapshots[-1][0].date()]
    print("\nhistory rows per run:", counts)
    assert counts[0]["findings_history"] == len(snapshots[0][1]["findings"])


def test_history_with_a_server_that_ignores_updated_since(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any], tmp_path: Path
) -> None:
    sim = simulator(repositories=2, days=20, ignore_updated_since=True, reopen_dismissed_rate=1.0)
    settings = sim_settings(sim)
    want = Expected()
    for step in range(2):
        truth = sim.truth()
        report = sync(settings, pipelines_dir=str(tmp_path / "pipelines"))
        want.served(truth, server_start(sim), set(TABLES) if step == 0 else set())
        check(settings.duckdb_path, want, f"run {step + 1}")
        sim.advance(30)
    # Everything was sent again each time, and only new versions were added.
    assert report.history_rows["findings_history"] < len(truth["findings"])


def test_a_run_killed_between_a_load_and_its_history_loses_no_version(
    simulator: Callable[..., Any], tmp_path: Path
) -> None:
    """SIGKILL after the second load committed and before its versions went in: the next run
    records them first (stamped with the killed run's package time), so every version loaded is
    in the history once, and says so."""
    sim = simulator(repositories=4, days=20)
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, batch=1)
    before = datetime.now(UTC)
    killed = run_etl(
        {**env, "PIXEE_TEST_KILL_BEFORE_HISTORY": "2"},
        "run",
        "--no-marts",
        "--duckdb-path",
        str(db),
        cwd=tmp_path,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    between = datetime.now(UTC)
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()}
    missing: dict[str, set[tuple[Any, Any]]] = {}
    for table in (t for t in TABLES if t in tables):
        loaded = {(r["id"], r["updated_at"]) for r in rows(db, f"select id, updated_at from pixee.{table}")}
        kept: set[tuple[Any, Any]] = set()
        if f"{table}_history" in tables:
            kept = {
                (r["id"], r["updated_at"])
                for r in rows(db, f"select id, updated_at from pixee.{table}_history")
            }
        missing[table] = loaded - kept
    assert any(missing.values()), "the kill should have left a committed load out of the history"

    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "versions an interrupted run loaded were added to the history now" in done.stdout + done.stderr
    truth = sim.truth()
    for table in TABLES:
        history = rows(db, f"select id, updated_at, observed_at from pixee.{table}_history")
        assert len({(r["id"], r["updated_at"]) for r in history}) == len(history), f"{table}: a version twice"
        served = {(o["id"], flatten({"updated_at": o["updated_at"]})["updated_at"]) for o in truth[table]}
        assert {(r["id"], r["updated_at"]) for r in history} == served, table
        # A recovered version is stamped inside the run that first read it: the killed one.
        recovered = [
            r["observed_at"] for r in history if (r["id"], r["updated_at"]) in missing.get(table, ())
        ]
        assert all(before - timedelta(seconds=1) <= stamp <= between for stamp in recovered), table


def test_a_full_refresh_stopped_part_way_still_forgets_nothing(
    simulator: Callable[..., Any], tmp_path: Path
) -> None:
    """A finding marked deleted, then a --full-refresh SIGKILLed after its drop, then a plain run:
    the deleted finding is back in its last state with its first _deleted_at, the refresh's
    copies are gone, and everything the API lists equals the truth."""
    sim = simulator(repositories=4, days=20)
    db = tmp_path / "warehouse.duckdb"
    env = etl_env(sim, tmp_path, rpm=3000.0, burst=5, batch=1)
    assert run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path).returncode == 0
    gone = sim.truth()["findings"][0]
    sim.delete("findings", gone["id"])
    sim.advance(1)
    reconciled = run_etl(env, "run", "--no-marts", "--reconcile", "--duckdb-path", str(db), cwd=tmp_path)
    assert reconciled.returncode == 0, reconciled.stderr[-2000:]
    (first_mark,) = rows(db, f"select _deleted_at from pixee.findings where id = '{gone['id']}'")

    sim.reset_stats()
    refresh = start_etl(env, "run", "--no-marts", "--full-refresh", "--duckdb-path", str(db), cwd=tmp_path)
    was_killed, _, err = kill_after_requests(refresh, sim, 8)
    assert was_killed, err[-2000:]
    left = rows(db, "select table_name from duckdb_tables() where table_name = 'findings'")
    if left:
        left = rows(db, f"select id from pixee.findings where id = '{gone['id']}'")
    assert not left, "the kill should have come after the refresh dropped the findings"

    done = run_etl(env, "run", "--no-marts", "--duckdb-path", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert rows(db, f"select _deleted_at from pixee.findings where id = '{gone['id']}'") == [first_mark]
    live = {f["id"] for f in sim.truth()["findings"]}
    present = {r["id"] for r in rows(db, "select id from pixee.findings where _deleted_at is null")}
    assert present == live
    assert not rows(db, "select table_name from duckdb_tables() where table_name like '_refresh_prior_%'")
