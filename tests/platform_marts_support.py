"""A platform organisation as snapshots of what the API served at each run, and the raw tables a run
of the connector leaves from them (docs/platform.md), standing in for the connector in mart tests.

A snapshot is (observed_at, {table: items}) with items in the API's shape as docs/platform.md gives
it: `repositories`, `scans`, `findings` (flat, each with its `scan_id`), `analyses`, `patches`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa

Row = dict[str, Any]
Snapshot = tuple[dt.datetime, dict[str, list[Row]]]
SCAN_LIFETIME = dt.timedelta(days=7)
SEVERITY_RANKS = {"Critical": 1, "High": 2, "Medium": 3, "Low": 4, "Info": 5}
# Tables whose items carry no updated_at: versioned by a hash of their content (`_version`).
HASH_VERSIONED = ("repositories", "scans", "findings")
# What `_deleted_at` / `_expired_at` mark on a table a complete read no longer finds an object of.
GONE_COLUMN = {"repositories": "_deleted_at", "scans": "_expired_at"}
TABLES = ("repositories", "scans", "findings", "analyses", "patches")


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".") + "Z"


def at(day: int, hour: float = 0, month: int = 3) -> dt.datetime:
    """2026-<month>-<day> at a (fractional) hour, UTC."""
    return dt.datetime(2026, month, day, tzinfo=dt.UTC) + dt.timedelta(hours=hour)


# --- an organisation whose objects each know their state at any moment ---------------------------


@dataclass
class PlatformOrg:
    """Objects with timelines; `snapshot(t)` renders what the API serves at t."""

    repositories: list[Row] = field(default_factory=list)  # + "_renames": [(t, changes)], "_deleted": t
    scans: list[Row] = field(default_factory=list)  # API fields + "_findings": [finding items]
    # triage results per (repository_id, detector, branch or None, finding id): [(analyzed_at, suggested)]
    triage: dict[tuple[str, str, str | None, str], list[tuple[dt.datetime, str]]] = field(
        default_factory=dict
    )
    analyses: list[list[tuple[dt.datetime, Row]]] = field(default_factory=list)  # versions (visible from t)
    patches: list[list[tuple[dt.datetime, Row]]] = field(default_factory=list)

    def repository_at(self, repo: Row, t: dt.datetime) -> Row | None:
        if repo.get("_deleted") is not None and repo["_deleted"] <= t:
            return None
        item = {k: v for k, v in repo.items() if not k.startswith("_")}
        for since, changes in repo.get("_renames", []):
            if since <= t:
                item.update(changes)
        return item

    def served_scans(self, t: dt.datetime) -> list[Row]:
        live_repos = {r["id"] for r in self.repositories if self.repository_at(r, t) is not None}
        return [
            s
            for s in self.scans
            if s["repository_id"] in live_repos
            and dt.datetime.fromisoformat(s["imported_at"].replace("Z", "+00:00"))
            <= t
            < dt.datetime.fromisoformat(s["expires_at"].replace("Z", "+00:00"))
        ]

    def snapshot(self, t: dt.datetime) -> Snapshot:
        repositories = [r for r in (self.repository_at(repo, t) for repo in self.repositories) if r]
        scans = self.served_scans(t)
        served_ids = {s["id"] for s in scans}
        findings = []
        for scan in scans:
            for finding in scan["_findings"]:
                key = (scan["repository_id"], scan["detector"], scan.get("branch"), finding["id"])
                results = [r for r in self.triage.get(key, []) if r[0] <= t]
                findings.append(
                    {**finding, "scan_id": scan["id"], **_results(results[-1] if results else None)}
                )
        analyses = [
            v
            for v in (_version_at(versions, t) for versions in self.analyses)
            if v is not None and v.get("scan_id") in served_ids
        ]
        patches = [v for v in (_version_at(versions, t) for versions in self.patches) if v is not None]
        return t, {
            "repositories": repositories,
            "scans": [{k: v for k, v in s.items() if not k.startswith("_")} for s in scans],
            "findings": findings,
            "analyses": analyses,
            "patches": patches,
        }


def _version_at(versions: Sequence[tuple[dt.datetime, Row]], t: dt.datetime) -> Row | None:
    visible = [row for since, row in versions if since <= t]
    return dict(visible[-1]) if visible else None


def _results(triage: tuple[dt.datetime, str] | None) -> Row:
    """A finding's representative results in the API's shape (one per type; triage only here)."""
    items = []
    if triage is not None:
        analyzed_at, suggested = triage
        items.append(
            {
                "type": "triage",
                "status": "completed",
                "analyzed_at": iso(analyzed_at),
                "suggested": suggested,
                "outcome": {"summary": f"triage says {suggested}", "reason": None},
            }
        )
    return {"_embedded": {"representative-results": {"_embedded": {"items": items}}}}


def _scan(
    sid: str, repo: str, detector: str, imported: dt.datetime, findings: Iterable[Row], branch: str | None
) -> Row:
    scan = {
        "id": sid,
        "repository_id": repo,
        "detector": detector,
        "sha": hashlib.sha1(sid.encode()).hexdigest()[:12],
        "imported_at": iso(imported),
        "expires_at": iso(imported + SCAN_LIFETIME),
        "_findings": list(findings),
    }
    if branch:  # the API leaves the field out when blank
        scan["branch"] = branch
    return scan


def _finding(fid: str, severity: str, rule: str) -> Row:
    return {
        "id": fid,
        "title": f"{rule} in {fid}",
        "rule": rule,
        "severity": {"label": severity, "rank": SEVERITY_RANKS[severity]},
        "html_url": f"https://pixee.example.com/findings/{fid}",
    }


def _patch(
    pid: str,
    repo: str,
    scan: str,
    finding: str,
    created: dt.datetime,
    pr: int | None,
    states: Sequence[tuple[dt.datetime, str]],
) -> list[tuple[dt.datetime, Row]]:
    """A patch's versions: (updated_at, merge_state) steps, each visible from its updated_at."""
    versions = []
    for updated, merge_state in states:
        versions.append(
            (
                updated,
                {
                    "id": pid,
                    "state": "completed",
                    "type": "fix",
                    "pr_number": pr,
                    "branch_name": f"pixee/{pid}",
                    "merge_state": merge_state,
                    "html_url": f"https://github.example.com/pull/{pr}" if pr else None,
                    "repository_id": repo,
                    "scan_id": scan,
                    "finding_id": finding,
                    "created_at": iso(created),
                    "updated_at": iso(updated),
                },
            )
        )
    return versions


def _analysis(
    aid: str, kind: str, scan: str, created: dt.datetime, steps: Sequence[tuple[dt.datetime, str]]
) -> list[tuple[dt.datetime, Row]]:
    """An analysis's versions: created queued, then (updated_at, state) steps."""
    versions = []
    for updated, state in [(created, "queued"), *steps]:
        versions.append(
            (
                updated,
                {
                    "id": aid,
                    "type": kind,
                    "state": state,
                    "branch": "main",
                    "sha": "abc",
                    "scan_id": scan,
                    "created_at": iso(created),
                    "updated_at": iso(updated),
                    "completed_at": iso(updated) if state == "completed" else None,
                },
            )
        )
    return versions


HANDMADE_PLATFORM_AS_OF = dt.date(2026, 3, 12)
PLATFORM_PAST_DATES = (dt.date(2026, 3, 5), dt.date(2026, 3, 8))
RUNS = tuple(at(day, 6) for day in range(1, 13))  # one run a day at 06:00, 03-01 .. 03-12


def handmade_platform_org() -> PlatformOrg:
    """Every rule of the contract's platform reading, in three repositories over twelve days.

    backend/semgrep (default branch main), daily scans at 03:00 on 03-01..03-11 plus one from 02-26:
      F1 listed 02-26, 03-01, 03-02, gone 03-03/04 (fixed at 03-03's import), back from 03-05 (reopened)
      F2 high: false positive on 03-02 09:00 and still listed: dismissed, and it sticks
      F3 medium: `inconclusive` on 03-03 (changes nothing but triage_suggested), true positive 03-09
      F4 Info (counted low): listed 03-03..03-07, fixed at 03-08's import; a false positive arriving
         on 03-09 while unlisted changes its classification, not its status
      F5 critical: patch P1 merged 03-05 15:00, gone from 03-06: fixed by Pixee
      F6 medium: patch P2 closed unmerged on 03-07
      F8 low: true positive 03-04, false positive 03-06 (dismissed), true positive 03-08 (open again)
      a feature-branch scan on 03-03 lists F7 and F1 with a true positive: none of it counts
    backend/codeql (no branch) on 03-02/04/06/08: its own "F1" (same id, other detector), true positive
      03-04 then won't fix 03-06 (dismissed); patch P4 on it with an open PR
    payments/semgrep (master) on 03-01/03/05/07: G1 open, G2 fixed at 03-05; the repository is deleted
      (gone from the 03-10 run on)
    docs: no scans; renamed on 03-05. Patch P3's scan was never read by the warehouse.
    """
    org = PlatformOrg()
    org.repositories = [
        {"id": "r_backend", "name": "backend", "full_name": "acme/backend", "default_branch": "main",
         "type": "github", "owner": "acme", "html_url": "https://github.example.com/acme/backend",
         "created_at": "2025-12-01T00:00:00Z"},
        {"id": "r_payments", "name": "payments", "full_name": None, "default_branch": "master",
         "type": "gitlab", "owner": "acme", "html_url": "https://gitlab.example.com/acme/payments",
         "created_at": "2025-12-01T00:00:00Z", "_deleted": at(9, 12)},
        {"id": "r_docs", "name": "docs", "full_name": "acme/docs", "default_branch": "main", "type": "github",
         "owner": "acme", "html_url": "https://github.example.com/acme/docs",
         "created_at": "2026-01-01T00:00:00Z",
         "_renames": [(at(5, 1), {"name": "handbook", "full_name": "acme/handbook"})]},
    ]  # fmt: skip
    f = {
        "F1": _finding("F1", "High", "python/sql-injection"),
        "F2": _finding("F2", "High", "python/xss"),
        "F3": _finding("F3", "Medium", "python/weak-hash"),
        "F4": _finding("F4", "Info", "python/debug-enabled"),
        "F5": _finding("F5", "Critical", "python/command-injection"),
        "F6": _finding("F6", "Medium", "python/weak-hash"),
        "F7": _finding("F7", "Critical", "python/sql-injection"),
        "F8": _finding("F8", "Low", "python/assert-used"),
    }
    listed_on = {  # backend/semgrep main: finding -> days of March whose scan lists it (0: 02-26)
        "F1": {0, 1, 2, 5, 6, 7, 8, 9, 10, 11},
        "F2": set(range(1, 12)),
        "F3": set(range(2, 12)),
        "F4": {3, 4, 5, 6, 7},
        "F5": {1, 2, 3, 4, 5},
        "F6": set(range(2, 12)),
        "F8": set(range(1, 12)),
    }
    for day in range(0, 12):
        imported = at(26, 3, month=2) if day == 0 else at(day, 3)
        listed = [f[fid] for fid, days in listed_on.items() if day in days]
        org.scans.append(_scan(f"s_main_{day:02d}", "r_backend", "semgrep", imported, listed, "main"))
    org.scans.append(_scan("s_feature", "r_backend", "semgrep", at(3, 4), [f["F7"], f["F1"]], "feature/x"))
    codeql_f1 = _finding("F1", "High", "py/sql-injection")
    for day in (2, 4, 6, 8):
        org.scans.append(_scan(f"s_codeql_{day:02d}", "r_backend", "codeql", at(day, 2), [codeql_f1], None))
    g1, g2 = _finding("G1", "Medium", "java/xxe"), _finding("G2", "Low", "java/weak-random")
    for day in (1, 3, 5, 7):
        listed = [g1, g2] if day <= 3 else [g1]
        org.scans.append(_scan(f"s_pay_{day:02d}", "r_payments", "semgrep", at(day, 1), listed, "master"))
    org.triage = {
        ("r_backend", "semgrep", "main", "F2"): [(at(2, 9), "false_positive")],
        ("r_backend", "semgrep", "main", "F3"): [(at(3, 9), "inconclusive"), (at(9, 8), "true_positive")],
        ("r_backend", "semgrep", "main", "F4"): [(at(9, 10), "false_positive")],
        ("r_backend", "semgrep", "main", "F8"): [
            (at(4, 8), "true_positive"), (at(6, 8), "false_positive"), (at(8, 8), "true_positive"),
        ],
        ("r_backend", "semgrep", "feature/x", "F1"): [(at(3, 5), "true_positive")],
        ("r_backend", "semgrep", "feature/x", "F7"): [(at(3, 5), "true_positive")],
        ("r_backend", "codeql", None, "F1"): [(at(4, 7), "true_positive"), (at(6, 7), "wont_fix")],
        ("r_payments", "semgrep", "master", "G1"): [(at(1, 9), "not_triaged")],
    }  # fmt: skip
    patch, analysis = _patch, _analysis
    org.patches = [
        patch("P1", "r_backend", "s_main_01", "F5", at(3, 10), 11,
              [(at(3, 10), "open"), (at(5, 15), "merged")]),
        patch("P2", "r_backend", "s_main_02", "F6", at(4, 8), 12, [(at(4, 8), "open"), (at(7, 9), "closed")]),
        patch("P3", "r_backend", "s_never_read", "F9", at(5, 12), None, [(at(5, 12), "open")]),
        patch("P4", "r_backend", "s_codeql_02", "F1", at(6, 10), 13, [(at(6, 10), "open")]),
    ]  # fmt: skip
    org.analyses = [
        analysis("A1", "triage", "s_main_01", at(1, 4), [(at(1, 5), "in-progress"), (at(1, 9), "completed")]),
        analysis("A2", "triage", "s_main_02", at(2, 4), [(at(2, 10, ), "completed")]),
        analysis("A3", "fix", "s_main_03", at(3, 5), [(at(3, 9.5), "completed")]),
        analysis("A4", "triage", "s_main_04", at(4, 4), [(at(4, 8), "failed")]),
        analysis("A5", "sca", "s_main_11", at(11, 4), [(at(11, 5), "in-progress")]),
        analysis("A6", "triage", "s_main_05", at(5, 4), [(at(5, 5), "in-progress"), (at(6, 7), "completed")]),
    ]  # fmt: skip
    return org


def handmade_platform_snapshots() -> list[Snapshot]:
    org = handmade_platform_org()
    return [org.snapshot(t) for t in RUNS]


def scaled_platform_snapshots(repositories: int = 200, days: int = 30, seed: int = 7) -> list[Snapshot]:
    """A larger organisation for measuring: each repository scanned daily by two detectors, findings
    appearing and going, triage results, patches; one run a day at 06:00."""
    rng = random.Random(seed)
    org = PlatformOrg()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    severities = list(SEVERITY_RANKS)
    for r in range(repositories):
        rid = f"repo_{r:04d}"
        org.repositories.append(
            {"id": rid, "name": f"service-{r}", "full_name": f"acme/service-{r}", "default_branch": "main",
             "type": "github", "owner": "acme", "html_url": f"https://github.example.com/acme/service-{r}",
             "created_at": "2025-06-01T00:00:00Z"}
        )  # fmt: skip
        for detector in ("semgrep", "codeql"):
            pool = {
                f"{detector[0]}{r}_{n}": _finding(
                    f"{detector[0]}{r}_{n}", rng.choice(severities), f"{detector}/rule-{rng.randrange(40)}"
                )
                for n in range(40)
            }
            alive = {
                fid: (0, days if rng.random() < 0.6 else rng.randrange(1, days)) for fid in list(pool)[:20]
            }
            for fid in list(pool)[20:]:
                born = rng.randrange(days)
                alive[fid] = (born, born + rng.randrange(1, days))
            for day in range(days):
                imported = start + dt.timedelta(days=day, hours=2 + rng.random() * 3)
                listed = [pool[fid] for fid, (born, gone) in alive.items() if born <= day < gone]
                branch = "main" if rng.random() < 0.9 else "feature/x"
                sid = f"s_{rid}_{detector}_{day}"
                org.scans.append(_scan(sid, rid, detector, imported, listed, branch))
            for fid in rng.sample(list(pool), 12):
                born = alive[fid][0]
                when = start + dt.timedelta(days=born, hours=8 + rng.random() * 40)
                verdict = rng.choice(["true_positive", "false_positive", "wont_fix", "inconclusive"])
                org.triage[(rid, detector, "main", fid)] = [(when, verdict)]
            for n, fid in enumerate(rng.sample(list(pool)[:20], 3)):
                created = start + dt.timedelta(days=rng.randrange(days - 2), hours=9)
                end = created + dt.timedelta(hours=rng.randrange(4, 60))
                outcome = rng.choice(["merged", "closed", "open"])
                steps = [(created, "open")] + ([(end, outcome)] if outcome != "open" else [])
                scan = f"s_{rid}_{detector}_0"
                org.patches.append(_patch(f"p_{rid}_{detector}_{n}", rid, scan, fid, created, 100 + n, steps))
            for day in range(days):
                created = start + dt.timedelta(days=day, hours=5)
                outcome = rng.choice(["completed", "completed", "failed"])
                org.analyses.append(
                    _analysis(f"a_{rid}_{detector}_{day}", rng.choice(["triage", "fix"]),
                              f"s_{rid}_{detector}_{day}", created,
                              [(created + dt.timedelta(hours=1 + rng.random() * 5), outcome)])
                )  # fmt: skip
    runs = [start + dt.timedelta(days=day, hours=6) for day in range(days)]
    return [org.snapshot(t) for t in runs]


# --- the raw tables a connector run leaves ---------------------------------------------------------


def _flatten(item: Mapping[str, Any], prefix: str = "") -> Row:
    """dlt's flattening: nested objects become a__b columns; `_links`, `_embedded` and lists are not
    stored in the row."""
    row: Row = {}
    for key, value in item.items():
        if key in ("_links", "_embedded") or isinstance(value, list):
            continue
        name = f"{prefix}{key.replace('-', '_')}"
        if isinstance(value, dict):
            row.update(_flatten(value, name + "__"))
        else:
            row[name] = value
    return row


def flat_finding(item: Mapping[str, Any], scan: Mapping[str, Any]) -> Row:
    """A finding as its raw row: representative results as triage__*, fix__*, sca__*; the scan's
    repository_id and detector copied onto it."""
    row = _flatten(item)
    results = (
        item.get("_embedded", {}).get("representative-results", {}).get("_embedded", {}).get("items", [])
    )
    for result in results:
        row.update(_flatten({k: v for k, v in result.items() if k != "type"}, f"{result['type']}__"))
    row["repository_id"] = scan["repository_id"]
    row["detector"] = scan["detector"]
    return row


def _content_hash(row: Mapping[str, Any]) -> str:
    content = {k: v for k, v in row.items() if k not in ("_version", "_deleted_at", "_expired_at")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _key(table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (row["scan_id"], row["id"]) if table == "findings" else (row["id"],)


def raw_tables(snapshots: Sequence[Snapshot]) -> dict[str, list[Row]]:
    """What the raw dataset holds after one complete run per snapshot, in order: each table merged on
    its key (latest observed state), `_deleted_at` / `_expired_at` set by the first complete read
    that no longer finds an object, and `<table>_history` with one row per version ever observed."""
    main: dict[str, dict[tuple[Any, ...], Row]] = {t: {} for t in TABLES}
    history: dict[str, dict[tuple[Any, ...], Row]] = {t: {} for t in TABLES}
    for observed_at, items in snapshots:
        scans = {s["id"]: s for s in items.get("scans", [])}
        for table in TABLES:
            seen = set()
            for item in items.get(table, []):
                row = flat_finding(item, scans[item["scan_id"]]) if table == "findings" else _flatten(item)
                if table in HASH_VERSIONED:
                    row["_version"] = _content_hash(row)
                    version = row["_version"]
                else:
                    version = row.get("updated_at")
                key = _key(table, row)
                seen.add(key)
                if table in GONE_COLUMN:
                    row[GONE_COLUMN[table]] = None
                main[table][key] = row
                history[table].setdefault((*key, version), {**row, "observed_at": iso(observed_at)})
            if table in GONE_COLUMN:
                for key, row in main[table].items():
                    if key not in seen and row[GONE_COLUMN[table]] is None:
                        row[GONE_COLUMN[table]] = iso(observed_at)
    out: dict[str, list[Row]] = {}
    for table in TABLES:
        out[table] = list(main[table].values())
        out[f"{table}_history"] = [
            {k: v for k, v in row.items() if k not in ("_deleted_at", "_expired_at")}
            for row in history[table].values()
        ]
    return out


def _arrow_type(column: str, values: Iterable[Any]) -> pa.DataType:
    if column.endswith("_at"):
        return pa.timestamp("us", tz="UTC")
    kinds = {type(v) for v in values if v is not None}
    if kinds == {bool}:
        return pa.bool_()
    if kinds and kinds <= {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def _cell(column: str, value: Any) -> Any:
    if value is not None and column.endswith("_at"):
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value


def write_platform_warehouse(snapshots: Sequence[Snapshot], path: Path, pipelines_dir: Path) -> dlt.Pipeline:
    """The raw dataset `pixee` of a platform source, as the connector leaves it after these runs, in a
    DuckDB file; a column null in every row is left out, as dlt does."""
    tables = raw_tables(snapshots)
    with duckdb.connect(str(path)) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema if not exists pixee")
        for table, rows in tables.items():
            if not rows:
                continue
            columns = sorted({c for row in rows for c, v in row.items() if v is not None})
            schema = pa.schema([(c, _arrow_type(c, (row.get(c) for row in rows))) for c in columns])
            data = pa.Table.from_pylist(
                [{c: _cell(c, row.get(c)) for c in columns} for row in rows], schema=schema
            )
            con.register("incoming", data)
            con.execute(f'create or replace table pixee."{table}" as select * from incoming')
            con.unregister("incoming")
    return dlt.pipeline(
        pipeline_name="platform_raw",
        destination=dlt.destinations.duckdb(str(path)),
        dataset_name="pixee",
        pipelines_dir=str(pipelines_dir),
        progress=None,
    )
