"""The marts read history: with the connector's history tables and `_deleted_at`, every mart equals the
Python computation over each object's state at the end of each day ("State as of a day"), for the
as-of date and for a past one; a reopened finding counts its reopenings and is not open while it was
fixed or dismissed; a deleted repository leaves the scorecard. History rows are made by hand in the
contract's shape (keyed (id, updated_at), every column plus observed_at)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.settings import Settings
from pipelines.transform.dbt_runner import build_marts
from tests.marts_expected import KEYS, Row, expected_marts
from tests.marts_support import HANDMADE_AS_OF, assert_same_rows, handmade_org, load_raw

PAST = dt.date(2026, 3, 15)


def _version(row: Row, updated_at: str, observed_at: str, **changes: Any) -> Row:
    version = {k: v for k, v in row.items() if k not in ("finding_ids", "_deleted_at")}
    return {**version, **changes, "updated_at": updated_at, "observed_at": observed_at}


def history_org() -> dict[str, list[Row]]:
    """The hand-made organisation with history: reopenings, a rename, a fix merged later, deletions."""
    truth = handmade_org()
    findings = {f["id"]: f for f in truth["findings"]}
    fixes = {f["id"]: f for f in truth["fixes"]}
    repos = {r["id"]: r for r in truth["repositories"]}
    reopened, pending, crit = findings["f_reopened"], findings["f_pending"], findings["f_crit"]
    truth["findings_history"] = [
        # fixed by fix_two_sev's merge on 03-12, reported open again on 03-30 (the current row)
        _version(reopened, "2026-03-11T01:00:00Z", "2026-03-11T06:00:00Z"),
        _version(
            reopened,
            "2026-03-12T09:15:30.250000Z",
            "2026-03-13T06:00:00Z",
            status="fixed",
            resolved_at="2026-03-12T09:15:30.250000Z",
        ),
        _version(reopened, "2026-03-30T12:00:00Z", "2026-03-31T06:00:00Z"),  # repeats the current row
        # dismissed as won't fix in January, reopened pending triage since
        _version(pending, "2026-01-05T00:00:00.500000Z", "2026-01-05T06:00:00Z"),
        _version(
            pending,
            "2026-01-10T00:00:00Z",
            "2026-01-10T06:00:00Z",
            status="dismissed",
            classification="WONT_FIX",
            triage_status="completed",
            triaged_at="2026-01-10T00:00:00Z",
            resolved_at="2026-01-10T00:00:00Z",
        ),
        # open until its fix merged
        _version(crit, "2026-03-05T07:00:00Z", "2026-03-06T06:00:00Z", status="open", resolved_at=None),
        _version(crit, "2026-03-12T09:15:30.250000Z", "2026-03-13T06:00:00Z"),
    ]
    two = fixes["fix_two_sev"]
    truth["fixes_history"] = [
        _version(two, "2026-03-11T02:30:00Z", "2026-03-12T06:00:00Z", status="pr_open", merged_at=None),
        _version(two, "2026-03-12T09:15:30.250000Z", "2026-03-13T06:00:00Z"),
    ]
    truth["repositories_history"] = [
        _version(repos["repo_backend"], "2026-01-01T00:00:00Z", "2026-01-01T06:00:00Z", name="backend-old"),
    ]
    # deleted upstream: a finding of the backend, and the whole payments repository on the as-of date
    findings["f_closed_pr"]["_deleted_at"] = "2026-03-25T06:00:00Z"
    repos["repo_payments"]["_deleted_at"] = "2026-03-31T06:00:00Z"
    for kind in ("findings", "repositories"):
        for row in truth[kind]:
            row.setdefault("_deleted_at", None)
    return truth


def _read(path: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for name in KEYS:
            cursor = con.execute(f"select * from pixee_marts.{name}")
            columns = [d[0] for d in cursor.description]
            out[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[dt.date, dict[str, list[dict[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("history")
    pipeline = load_raw(history_org(), tmp / "warehouse.duckdb", tmp / "pipelines")
    out = {}
    for as_of in (HANDMADE_AS_OF, PAST):
        build_marts(pipeline, Settings(), as_of)
        out[as_of] = _read(tmp / "warehouse.duckdb")
    return out


@pytest.mark.parametrize("as_of", [HANDMADE_AS_OF, PAST], ids=["as-of", "past"])
@pytest.mark.parametrize("mart", tuple(KEYS))
def test_every_column_equals_python_over_the_states(built, mart: str, as_of: dt.date) -> None:
    expected = expected_marts(history_org(), as_of, Settings().sla_days)
    assert_same_rows(mart, built[as_of][mart], expected[mart])


def _day(rows: list[dict[str, Any]], day: dt.date, repository: str, severity: str) -> dict[str, Any]:
    [row] = [r for r in rows if (r["day"], r["repository_id"], r["severity"]) == (day, repository, severity)]
    return row


def test_reopened_and_deleted_findings_as_a_security_lead_sees_them(built) -> None:
    now = built[HANDMADE_AS_OF]
    findings = {r["finding_id"]: r for r in now["finding_remediation"]}
    assert findings["f_reopened"]["times_reopened"] == 1 and findings["f_pending"]["times_reopened"] == 1
    assert findings["f_reopened"]["resolution"] is None  # open again now
    backlog = now["backlog_daily"]
    # fixed on 03-12: resolved that day and out of the backlog until reported again on 03-30
    assert _day(backlog, dt.date(2026, 3, 12), "repo_backend", "high")["resolved"] == 1
    assert _day(backlog, dt.date(2026, 3, 20), "repo_backend", "high")["open_findings"] == 1  # f_old_high
    assert _day(backlog, dt.date(2026, 3, 30), "repo_backend", "high")["open_findings"] == 2
    # dismissed from 01-10 to 03-29: not open, and not untriaged, while it was dismissed
    pending = _day(backlog, dt.date(2026, 2, 1), "repo_backend", "low")
    assert (pending["open_findings"], pending["open_untriaged"]) == (0, 0)
    assert _day(backlog, dt.date(2026, 3, 30), "repo_backend", "low")["open_untriaged"] == 1
    # a deleted finding leaves the backlog on its deletion day; a deleted repository, the scorecard
    assert _day(backlog, dt.date(2026, 3, 24), "repo_backend", "medium")["open_findings"] == 1
    assert _day(backlog, dt.date(2026, 3, 25), "repo_backend", "medium")["open_findings"] == 0
    assert findings["f_closed_pr"]["is_deleted"] and findings["f_closed_pr"]["days_overdue"] is None
    assert {r["repository_id"] for r in now["repository_scorecard"]} == {"repo_backend", "repo_empty"}
    # deleted, so its scan fix on 03-20 never counts as resolved or in a time to remediate
    assert _day(backlog, dt.date(2026, 3, 20), "repo_payments", "low")["resolved"] == 0
    assert findings["f_scan_fixed"]["hours_to_resolve"] is None

    past = built[PAST]
    cards = {r["repository_id"]: r for r in past["repository_scorecard"]}
    assert cards["repo_backend"]["repository_name"] == "backend-old" and "repo_payments" in cards
    then = {r["finding_id"]: r for r in past["finding_remediation"]}
    # as of 03-15 f_reopened is fixed by Pixee's merged fix and has not been reopened yet
    assert (then["f_reopened"]["resolution"], then["f_reopened"]["times_reopened"]) == ("fixed_by_pixee", 0)
    assert "f_closed_pr" not in then and "f_new_crit" not in then  # detected after 03-15
