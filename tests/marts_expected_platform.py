"""Expected mart rows for a platform source, computed in plain Python from snapshots of what the API
served at each run, independently of the SQL in sql/.

The contract's platform reading ("The marts over a platform source") is played here event by event,
imperatively: what the warehouse saw, each finding's stream of default-branch scans and its triage
results, each patch's observed versions. That yields v1-shaped objects with their versions (a
finding's id becomes "repository/detector/id"), and the marts' arithmetic over those is the v1
reference's (tests/marts_expected.py), itself independent of the SQL.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from tests import marts_expected as v1
from tests.marts_expected import Row, end_of_day, hours, quantile_cont, ts

Snapshot = tuple[dt.datetime, dict[str, list[Row]]]
DECISIVE = {"true_positive": "TRUE_POSITIVE", "false_positive": "FALSE_POSITIVE", "wont_fix": "WONT_FIX"}
DISMISSING = ("FALSE_POSITIVE", "WONT_FIX")
KEYS = {
    **v1.KEYS,
    "finding_remediation": ("repository_id", "detection_tool", "finding_id"),
    "analysis_daily": ("source_name", "day", "type"),
    "scan_daily": ("source_name", "day", "detector"),
}


class Seen:
    """What the warehouse holds after the runs: every object ever served, its observed versions, and
    when a complete read first missed it (deleted repositories, expired scans)."""

    def __init__(self, snapshots: Sequence[Snapshot]) -> None:
        self.repositories: dict[str, list[tuple[dt.datetime, Row]]] = defaultdict(list)  # (first seen, item)
        self.repository_gone: dict[str, dt.datetime | None] = {}
        self.scans: dict[str, Row] = {}
        self.scan_gone: dict[str, dt.datetime | None] = {}
        # (scan_id, finding id) -> every served item of that row (the last one is the current row)
        self.finding_rows: dict[tuple[str, str], list[Row]] = defaultdict(list)
        self.analyses: dict[str, dict[dt.datetime, Row]] = defaultdict(dict)
        self.patches: dict[str, dict[dt.datetime, Row]] = defaultdict(dict)
        for observed_at, items in snapshots:
            repos = {r["id"]: r for r in items.get("repositories", [])}
            for rid, item in repos.items():
                versions = self.repositories[rid]
                if not any(_same(item, known) for _, known in versions):
                    versions.append((observed_at, item))
                else:  # an older content again is the current state, first seen long ago
                    versions.append(
                        versions.pop(next(i for i, (_, k) in enumerate(versions) if _same(item, k)))
                    )
                self.repository_gone[rid] = None
            for rid in self.repositories:
                if rid not in repos and self.repository_gone.get(rid) is None:
                    self.repository_gone[rid] = observed_at
            scans = {s["id"]: s for s in items.get("scans", [])}
            for sid, item in scans.items():
                self.scans[sid] = item
                self.scan_gone[sid] = None
            for sid in self.scans:
                if sid not in scans and self.scan_gone.get(sid) is None:
                    self.scan_gone[sid] = observed_at
            for finding in items.get("findings", []):
                self.finding_rows[(finding["scan_id"], finding["id"])].append(finding)
            for table, store in (("analyses", self.analyses), ("patches", self.patches)):
                for item in items.get(table, []):
                    store[item["id"]].setdefault(ts(item["updated_at"]), item)
                    store[item["id"]][ts(item["updated_at"])] = item  # the current row wins

    def default_branch(self, repository_id: str) -> str | None:
        versions = self.repositories.get(repository_id)
        return versions[-1][1].get("default_branch") if versions else None

    def in_stream(self, scan: Row) -> bool:
        branch = scan.get("branch")
        return not branch or branch == self.default_branch(scan["repository_id"])


def _same(a: Row, b: Row) -> bool:
    return {k: v for k, v in a.items() if k != "_links"} == {k: v for k, v in b.items() if k != "_links"}


def _triage(item: Row) -> Row | None:
    results = (
        item.get("_embedded", {}).get("representative-results", {}).get("_embedded", {}).get("items", [])
    )
    return next((r for r in results if r.get("type") == "triage"), None)


def _severity(item: Row) -> str | None:
    label = (item.get("severity") or {}).get("label")
    if label is None:
        return None
    return "low" if label.lower() == "info" else label.lower()


def finding_key(repository_id: str, detector: str, finding_id: str) -> str:
    return f"{repository_id}/{detector}/{finding_id}"


def finding_versions(seen: Seen) -> dict[str, list[Row]]:
    """Each finding's states, one per event time, played in time order (scans before triage results
    at one instant; a result analysed before the first listing takes effect at it)."""
    streams: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for scan in seen.scans.values():
        if seen.in_stream(scan):
            streams[(scan["repository_id"], scan["detector"])].append(scan)
    out = {}
    for (repo, detector), scans in streams.items():
        scans.sort(key=lambda s: (ts(s["imported_at"]), s["id"]))
        listed_by = {s["id"]: {fid for (sid, fid) in seen.finding_rows if sid == s["id"]} for s in scans}
        finding_ids = sorted(set().union(*listed_by.values()))
        for fid in finding_ids:
            first = next(s for s in scans if fid in listed_by[s["id"]])
            detected = ts(first["imported_at"])
            events: list[tuple[Any, ...]] = []
            for scan in scans:
                if ts(scan["imported_at"]) >= detected:
                    at = ts(scan["imported_at"])
                    events.append((at, 0, at, scan["id"], "scan", scan))
            results = set()
            for scan in scans:
                for item in seen.finding_rows.get((scan["id"], fid), []):
                    result = _triage(item)
                    if result and result.get("analyzed_at"):
                        results.add((ts(result["analyzed_at"]), result.get("suggested")))
            for analyzed, suggested in results:
                events.append((max(analyzed, detected), 1, analyzed, suggested or "", "triage", suggested))
            events.sort(key=lambda e: e[:4])
            out[finding_key(repo, detector, fid)] = _play(repo, detector, fid, detected, events, seen)
    return out


def _play(
    repo: str, detector: str, fid: str, detected: dt.datetime, events: list[tuple[Any, ...]], seen: Seen
) -> list[Row]:
    """The state machine of the contract, one event at a time."""
    listed = False
    classification = triaged_at = suggested = None
    status, resolved = "open", None
    listing: Row = {}
    states: dict[dt.datetime, Row] = {}
    for at, _, analyzed, _, kind, payload in events:
        if kind == "scan":
            now_listed = (payload["id"], fid) in seen.finding_rows
            if now_listed:
                listing = seen.finding_rows[(payload["id"], fid)][-1]
                listing = {**listing, "scan_id": payload["id"]}
                if classification in DISMISSING:
                    status, resolved = "dismissed", triaged_at
                else:
                    status, resolved = "open", None
            elif listed and status == "open":
                status, resolved = "fixed", at  # the first stream scan that no longer lists it
            listed = now_listed
        else:
            suggested = payload
            decided = DECISIVE.get((payload or "").lower())
            if decided is not None and decided != classification:
                classification, triaged_at = decided, analyzed
                if listed:  # arriving while unlisted it changes classification and triaged_at only
                    if classification in DISMISSING:
                        status, resolved = "dismissed", triaged_at
                    else:
                        status, resolved = "open", None
        states[at] = {
            "id": finding_key(repo, detector, fid),
            "api_id": fid,
            "repository_id": repo,
            "scan_id": listing["scan_id"],
            "detection_tool": detector,
            "rule_id": listing.get("rule"),
            "severity": _severity(listing),
            "cwe": None,
            "classification": classification,
            "status": status,
            "triage_suggested": suggested,
            "detected_at": detected,
            "triaged_at": triaged_at,
            "resolved_at": resolved,
            "updated_at": at,
            "_deleted_at": None,
        }
    return [states[k] for k in sorted(states)]


def fix_versions(seen: Seen) -> dict[str, list[Row]]:
    """Each patch's observed versions as a fix: merged_at / closed_at from the first version with that
    merge_state, so far."""
    out = {}
    for pid, by_time in seen.patches.items():
        merged_at = closed_at = None
        rows = []
        for updated in sorted(by_time):
            patch = by_time[updated]
            if patch.get("merge_state") == "merged" and merged_at is None:
                merged_at = updated
            if patch.get("merge_state") == "closed" and closed_at is None:
                closed_at = updated
            opened = ts(patch["created_at"]) if patch.get("pr_number") is not None else None
            scan = seen.scans.get(patch.get("scan_id"))
            rows.append(
                {
                    "id": pid,
                    "repository_id": patch.get("repository_id"),
                    "finding_ids": [finding_key(scan["repository_id"], scan["detector"], patch["finding_id"])]
                    if scan is not None and patch.get("finding_id") is not None
                    else [],
                    "codemod": None,
                    "ai_generated": None,
                    "detection_tool": scan["detector"] if scan is not None else None,
                    "status": "merged"
                    if merged_at
                    else "closed"
                    if closed_at
                    else "pr_open"
                    if opened
                    else "generated",
                    "created_at": ts(patch["created_at"]),
                    "pr_opened_at": opened,
                    "merged_at": merged_at,
                    "closed_at": closed_at,
                    "updated_at": updated,
                }
            )
        out[pid] = rows
    return out


def repository_versions(seen: Seen) -> dict[str, list[Row]]:
    out = {}
    for rid, versions in seen.repositories.items():
        out[rid] = [
            {
                "id": rid,
                "name": item.get("full_name") or item.get("name"),
                "last_scan_at": None,
                "updated_at": first_seen,
                "_deleted_at": seen.repository_gone.get(rid),
            }
            for first_seen, item in versions
        ]
    return out


def v1_truth(seen: Seen) -> dict[str, list[Row]]:
    """The platform objects as the v1 reference reads them: current rows plus history."""
    truth: dict[str, list[Row]] = {}
    for kind, by_id in (("findings", finding_versions(seen)), ("fixes", fix_versions(seen)),
                        ("repositories", repository_versions(seen))):  # fmt: skip
        truth[kind] = [versions[-1] for versions in by_id.values()]
        truth[f"{kind}_history"] = [v for versions in by_id.values() for v in versions]
    return truth


def last_scan_at(seen: Seen, repository_id: str, as_of: dt.date) -> dt.datetime | None:
    times = [
        ts(s["imported_at"])
        for s in seen.scans.values()
        if s["repository_id"] == repository_id and ts(s["imported_at"]) < end_of_day(as_of)
    ]
    return max(times) if times else None


def analysis_daily(seen: Seen, as_of: dt.date) -> list[Row]:
    end = end_of_day(as_of)
    states = []
    for by_time in seen.analyses.values():
        before = [t for t in sorted(by_time) if t < end]
        state = by_time[before[-1] if before else min(by_time)]
        if ts(state["created_at"]) < end:
            states.append(state)
    if not states:
        return []
    first = min(ts(a["created_at"]).date() for a in states)
    rows = []
    for kind in sorted({a["type"] for a in states}):
        mine = [a for a in states if a["type"] == kind]
        day = first
        while day <= as_of:
            done = [
                a for a in mine if a["state"] == "completed" and a.get("completed_at")
                and ts(a["completed_at"]).date() == day
            ]  # fmt: skip
            took = [hours(ts(a["created_at"]), ts(a["completed_at"])) for a in done]
            rows.append(
                {
                    "source_name": "default",
                    "day": day,
                    "type": kind,
                    "created": sum(ts(a["created_at"]).date() == day for a in mine),
                    "completed": len(done),
                    "failed": sum(a["state"] == "failed" and ts(a["updated_at"]).date() == day for a in mine),
                    "p50_hours_to_complete": quantile_cont(took, 0.5),
                    "p90_hours_to_complete": quantile_cont(took, 0.9),
                }
            )
            day += dt.timedelta(days=1)
    return rows


def scan_daily(seen: Seen, as_of: dt.date) -> list[Row]:
    end = end_of_day(as_of)
    scans = [s for s in seen.scans.values() if ts(s["imported_at"]) < end]
    if not scans:
        return []
    rows_per_scan: dict[str, int] = defaultdict(int)
    for scan_id, _ in seen.finding_rows:
        rows_per_scan[scan_id] += 1
    first = min(ts(s["imported_at"]).date() for s in scans)
    rows = []
    for detector in sorted({s["detector"] for s in scans}):
        mine = [s for s in scans if s["detector"] == detector]
        day = first
        while day <= as_of:
            imported = [s for s in mine if ts(s["imported_at"]).date() == day]
            rows.append(
                {
                    "source_name": "default",
                    "day": day,
                    "detector": detector,
                    "scans_imported": len(imported),
                    "findings_listed": sum(rows_per_scan[s["id"]] for s in imported),
                    "scans_expired": sum(
                        seen.scan_gone.get(s["id"]) is not None and seen.scan_gone[s["id"]].date() == day
                        for s in mine
                    ),
                }
            )
            day += dt.timedelta(days=1)
    return rows


def expected_platform_marts(
    snapshots: Sequence[Snapshot], as_of: dt.date, sla_days: Mapping[str, int]
) -> dict[str, list[Row]]:
    """Every mart, as rows of dicts, for a platform warehouse loaded by these runs."""
    seen = Seen(snapshots)
    truth = v1_truth(seen)
    marts = v1.expected_marts(truth, as_of, sla_days)
    api_ids = {f["id"]: f["api_id"] for f in truth["findings"]}
    for row in marts["finding_remediation"]:
        row["finding_id"] = api_ids[row["finding_id"]]
    for row in marts["repository_scorecard"]:
        row["last_scan_at"] = last_scan_at(seen, row["repository_id"], as_of)
    marts["analysis_daily"] = analysis_daily(seen, as_of)
    marts["scan_daily"] = scan_daily(seen, as_of)
    return marts
