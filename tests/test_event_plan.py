"""Event planning: which lists the events imply, and when a run must poll every list instead (and why);
"reconcile" in what a run prints means `--reconcile` alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.events.journal import StoredEvent, stamp
from pipelines.events.plan import plan

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RETRIES = timedelta(minutes=75)


def _event(kind: str, repo_id: str | None, name: str | None = "api") -> StoredEvent:
    at = stamp(NOW - timedelta(minutes=5))
    return StoredEvent(1, f"evt_{kind}_{repo_id}", kind, at, "acme", name, repo_id, at, at, 1, {})


def _state(hours_since_reconcile: float = 2, **extra: object) -> dict[str, object]:
    return {
        "last_reconcile": stamp(NOW - timedelta(hours=hours_since_reconcile)),
        "last_run": stamp(NOW - timedelta(hours=1)),
        **extra,
    }


UP = [(NOW - timedelta(hours=30), NOW - timedelta(seconds=20), None)]
HEARD = NOW - timedelta(minutes=3)


def _plan(events: list[StoredEvent], state: dict[str, object] | None = None, **kw: object) -> object:
    args: dict[str, object] = {
        "state": _state() if state is None else state,
        "sessions": UP,
        "last_received": HEARD,
        "names": {"web": "repo_web"},
        "now": NOW,
        "reconcile_hours": 24.0,
        "missed_after": RETRIES,
    }
    args.update(kw)
    return plan(events, **args)  # type: ignore[arg-type]


def test_events_name_the_lists_of_the_contract_table() -> None:
    events = [
        _event("pr.merged", "repo_a"),
        _event("triage.completed", "repo_b"),
        _event("scan.completed", "repo_c"),
        _event("pr.opened", "repo_d"),
        _event("fix.generated", None, name="web"),  # no repository_id: resolved by name
        _event("ping", None, name=None),
        _event("pr.closed", None, name="gone"),  # a name nobody knows
    ]
    got = _plan(events)
    assert got.mode == "events"
    assert got.lists == {
        "repo_a": {"fixes", "findings"},
        "repo_b": {"findings"},
        "repo_c": {"scans", "findings"},
        "repo_d": {"fixes"},
        "repo_web": {"fixes", "scans"},
    }
    assert got.unresolved == ["gone"]
    # A repository new to the state (no cursors yet) is read in full; an untouched one not at all.
    chosen = got.selection({"repo_a": {"fixes": {}}, "repo_new": {}, "repo_quiet": {"fixes": {}}})
    assert chosen == {"repo_a": ("fixes", "findings"), "repo_new": ("fixes", "scans", "findings")}


def test_a_run_reconciles_and_says_why() -> None:
    cases = {
        "no run has polled every list yet": _plan([], state={}),
        "every list was last polled 25.0 h ago": _plan([], state=_state(25)),
        "the previous poll of every list did not finish": _plan([], state=_state(inflight="reconcile")),
        "the receiver was down for 2.0 h": _plan(
            [],
            sessions=[
                (NOW - timedelta(hours=5), NOW - timedelta(hours=3), None),  # killed: no stop recorded
                (NOW - timedelta(hours=1), NOW - timedelta(seconds=10), None),
            ],
            state=_state(last_run=stamp(NOW - timedelta(hours=4))),
        ),
        "the receiver has not been up for 2.0 h": _plan(
            [], sessions=[(NOW - timedelta(hours=9), NOW - timedelta(hours=2), NOW - timedelta(hours=2))]
        ),
        "no event or ping arrived for 3.0 h": _plan([], last_received=NOW - timedelta(hours=3)),
        "the receiver has never run": _plan([], sessions=[]),
        "a full refresh was asked for": _plan([], force_reason="a full refresh was asked for"),
    }
    for reason, got in cases.items():
        assert got.mode == "reconcile" and reason in got.reason, (reason, got.reason)
        assert got.summary().startswith("mode: poll (every list") and reason in got.summary()
        # It reads each list from its cursor: "reconcile" is `run --reconcile`'s full read only.
        assert "reconcil" not in got.summary().replace("reconcile_hours", "")
        assert got.selection({"repo_a": {"fixes": {}}}) is None


def test_a_short_outage_inside_the_retry_schedule_loses_nothing() -> None:
    sessions = [
        (NOW - timedelta(hours=5), NOW - timedelta(minutes=50), None),
        (NOW - timedelta(minutes=20), NOW - timedelta(seconds=5), None),  # 30 min down: Pixee retries
    ]
    got = _plan([_event("pr.merged", "repo_a")], sessions=sessions)
    assert got.mode == "events"
    # Lists a run planned but did not finish loading are read again by the next one.
    again = _plan([], state=_state(inflight={"repo_z": ["findings"]}))
    assert again.mode == "events" and again.lists == {"repo_z": {"findings"}}


def test_reconcile_means_one_thing_in_a_run_summary() -> None:
    """A run polling every list from its cursors says "poll"; "reconcile" is `run --reconcile` alone,
    which reads every list from the start."""
    from pipelines.publish.run_summary import SyncReport

    polled = SyncReport(60.0, 10, mode=_plan([], state={}).summary())
    lines = [polled.mode, polled.deletions_line()]
    assert "reconcil" not in lines[0]
    assert lines[1].endswith("--reconcile reads every list in full)")
    assert (
        SyncReport(60.0, 10, reconcile=True)
        .deletions_line()
        .endswith("(--reconcile: every list read in full)")
    )


def test_the_flow_summary_calls_a_full_refresh_a_full_read_not_a_reconciliation(
    handmade_warehouse: Path,
) -> None:
    import duckdb

    from flows.summary import read_summary, summary_markdown
    from pipelines.settings import Settings
    from pipelines.transform.checks import Warehouse
    from tests.marts_support import HANDMADE_AS_OF

    with duckdb.connect(str(handmade_warehouse), read_only=True) as con:
        wh = Warehouse.for_settings(lambda sql: con.execute(sql).fetchall(), "duckdb", Settings())
        summary = read_summary(wh, HANDMADE_AS_OF)
    full = summary_markdown(summary, profile="duckdb", full_refresh=True).splitlines()[0]
    assert full.startswith("# pixee-etl: full read of every list,") and "reconcil" not in full
    incremental = summary_markdown(summary, profile="duckdb", full_refresh=False)
    assert incremental.startswith("# pixee-etl: incremental")
