"""The platform warehouse against what the simulator served, run after run; the request floor."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tests.conftest import _same, flatten, table_rows

PAGE = 100
# table -> its key in the warehouse; tables the run replaces whole hold only what is served now.
KEYS: dict[str, tuple[str, ...]] = {
    "repositories": ("id",),
    "scans": ("id",),
    "findings": ("scan_id", "id"),
    "analyses": ("id",),
    "patches": ("id",),
    "workflows": ("id",),
    "integrations": ("id",),
    "scales": ("id",),
    "system_status": ("id",),
    "preferences": ("org_id",),
}
REPLACED = ("integrations", "scales", "system_status", "preferences")


def pages(count: int) -> int:
    return max(1, math.ceil(count / PAGE))


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def finding_expected(finding: dict[str, Any], scan: dict[str, Any] | None) -> dict[str, Any]:
    """A served finding as its raw row: the scan's repository and detector, each representative
    result under its type, HAL's links and embedded documents gone."""
    results = (
        finding.get("_embedded", {}).get("representative-results", {}).get("_embedded", {}).get("items", [])
    )
    row = {k: v for k, v in finding.items() if k not in ("_embedded", "_links")}
    for result in results:
        row[result["type"]] = {k: v for k, v in result.items() if k != "type"}
    if scan is not None:
        row["repository_id"], row["detector"] = scan["repository_id"], scan["detector"]
    return flatten(row)


class Served:
    """Every row the simulator served at any run, as last served: what the warehouse must hold."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {t: {} for t in KEYS}
        self.now: dict[str, set[tuple[Any, ...]]] = {t: set() for t in KEYS}

    def see(self, truth: dict[str, list[dict[str, Any]]]) -> None:
        scans = {s["id"]: s for s in truth["scans"]}
        for table, key in KEYS.items():
            current = {}
            for obj in truth.get(table, []):
                row = (
                    finding_expected(obj, scans.get(obj["scan_id"])) if table == "findings" else flatten(obj)
                )
                current[tuple(row[k] for k in key)] = row
            if table in REPLACED:
                self.rows[table] = current
            else:
                self.rows[table].update(current)
            self.now[table] = set(current)

    def differences(self, db: Path) -> list[str]:
        problems: list[str] = []
        for table, key in KEYS.items():
            rows = table_rows(db, table)
            got = {tuple(r[k] for k in key): r for r in rows}
            if len(got) != len(rows):
                problems.append(f"{table}: {len(rows) - len(got)} duplicate keys")
            want = self.rows[table]
            missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
            if missing:
                problems.append(f"{table}: {len(missing)} missing, e.g. {missing[:2]}")
            if extra:
                problems.append(f"{table}: {len(extra)} unexpected, e.g. {extra[:2]}")
            for k, expected in want.items():
                row = got.get(k)
                if row is None:
                    continue
                for column, value in expected.items():
                    if column not in row:
                        if value is not None:
                            problems.append(f"{table}.{column}: column missing")
                        continue
                    if not _same(row[column], value):
                        problems.append(
                            f"{table} {k}.{column}: warehouse {row[column]!r} != served {value!r}"
                        )
                mark = {"scans": "_expired_at", "repositories": "_deleted_at"}.get(table)
                if mark is not None and (row[mark] is None) != (k in self.now[table]):
                    problems.append(
                        f"{table} {k}: {mark} {row[mark]!r} while served now: {k in self.now[table]}"
                    )
                if len(problems) > 20:
                    return problems
        return problems


def floor(
    before: dict[str, list[dict[str, Any]]] | None,
    after: dict[str, list[dict[str, Any]]],
    seen_analyses: list[dict[str, Any]],
    seen_patches: list[dict[str, Any]],
    lag_seconds: int = 300,
) -> dict[str, int]:
    """The requests a run makes (docs/sync.md, "Cost follows change"), per kind the simulator counts:
    `before` is what the previous run was served (None: a first run), `seen_*` everything the
    warehouse has loaded of those lists (their cursors)."""
    before = before or {k: [] for k in after}
    first = not before["scans"]

    def since(rows: list[dict[str, Any]], field: str) -> datetime | None:
        if not rows:
            return None
        newest = max(parse(r[field]) for r in rows)
        return (newest - timedelta(seconds=lag_seconds)).replace(microsecond=0)

    analyses_from = None if first else since(seen_analyses, "updated_at")
    patches_from = None if first else since(seen_patches, "created_at")
    analyses = [
        a for a in after["analyses"] if analyses_from is None or parse(a["updated_at"]) >= analyses_from
    ]
    listed = [p for p in after["patches"] if patches_from is None or parse(p["created_at"]) >= patches_from]
    listed_ids = {p["id"] for p in listed}
    open_before = [p for p in before["patches"] if p["merge_state"] == "open" and p["id"] not in listed_ids]
    open_now = [p for p in after["patches"] if p["merge_state"] == "open"]
    open_ids = {p["id"] for p in open_now}
    decided = [p for p in open_before if p["id"] not in open_ids]

    served = {s["id"] for s in after["scans"]}
    old_scans = {s["id"] for s in before["scans"]}
    old_analyses = {(a["id"], a["updated_at"]) for a in before["analyses"]}
    old_patches = {p["id"]: p["merge_state"] for p in before["patches"]}
    changed = served - old_scans
    changed |= {
        a["scan_id"] for a in after["analyses"] if (a["id"], a["updated_at"]) not in old_analyses
    } & served
    moved = {
        (p["repository_id"], p["finding_id"])
        for p in after["patches"]
        if old_patches.get(p["id"]) != p["merge_state"]
    }
    by_scan: dict[str, int] = {}
    repo_of = {s["id"]: s["repository_id"] for s in after["scans"]}
    for f in after["findings"]:
        by_scan[f["scan_id"]] = by_scan.get(f["scan_id"], 0) + 1
        if (repo_of[f["scan_id"]], f["id"]) in moved:
            changed.add(f["scan_id"])
    new_repos = {r["id"] for r in after["repositories"]} - {r["id"] for r in before["repositories"]}
    workflows = {r: 0 for r in new_repos}
    for w in after["workflows"]:
        if w["repository_id"] in workflows:
            workflows[w["repository_id"]] += 1
    counts = {
        "root": 1,
        "repositories": pages(len(after["repositories"])),
        "scans": pages(len(after["scans"])),
        "analyses": pages(len(analyses)),
        "findings": sum(pages(by_scan.get(s, 0)) for s in changed),
        "patches": pages(len(listed)) + (pages(len(open_now)) if open_before else 0),
        "patch": len(decided),
        "workflows": sum(pages(n) for n in workflows.values()),
        "integrations": pages(len(after["integrations"])),
        "scales": pages(len(after["scales"])),
        "system-status": pages(len(after["system_status"])),
        "preferences": 1,
    }
    extra = [k for k in after if k.startswith("collection_")]
    if extra:
        counts["unknown"] = sum(pages(len(after[k])) for k in extra)
    return {kind: n for kind, n in counts.items() if n}


def counted(stats: dict[str, Any]) -> dict[str, int]:
    return {kind: n for kind, n in stats["by_kind"].items() if n}


def scalar(db: Path, sql: str) -> Any:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        row = con.execute(sql).fetchone()
        return row[0] if row else None


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
