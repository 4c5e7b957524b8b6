"""Shared fixtures: simulators on loopback, Settings pointing at them, and warehouse-vs-truth checks."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.extract.v1.columns import FINDING_DETAIL_FIELDS, FIX_DETAIL_FIELDS
from pipelines.settings import Secret, Settings

# dlt's anonymous telemetry would phone home from every test pipeline.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

# Fast enough that pacing never dominates a test; tests about pacing set their own rates.
FAST_RPM = 60000.0
FAST_BURST = 100
# Where each raw table comes from in Simulator.truth() / detail_truth().
TRUTH_KEYS = {
    "repositories": "repositories",
    "scans": "scans",
    "findings": "findings",
    "fixes": "fixes",
    "webhooks": "webhooks",
    "fix_details": "fix_details",
    "finding_details": "finding_details",
}
CHILD_LISTS = {"fixes": "finding_ids", "webhooks": "events"}
DETAIL_FIELDS = {"fix_details": FIX_DETAIL_FIELDS, "finding_details": FINDING_DETAIL_FIELDS}


@pytest.fixture
def simulator() -> Iterator[Callable[..., Any]]:
    """Factory: `simulator(**SimConfig fields)` starts one on 127.0.0.1 (port 0) and returns it,
    started, with `.base_url` set; every simulator made is stopped at teardown."""
    from simulator import SimConfig, Simulator

    started: list[Any] = []

    def make(**config: Any) -> Any:
        config.setdefault("repositories", 3)
        config.setdefault("days", 30)
        sim = Simulator(SimConfig(**config))
        sim.base_url = sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Factory: Settings for a started simulator, a DuckDB file in tmp_path, and a fast client
    rate unless given (`token=` picks another token, e.g. a repository token)."""

    def make(sim: Any, *, token: str | None = None, **overrides: Any) -> Settings:
        base = Settings(
            base_url=sim.base_url,
            token=Secret(token or sim.org_token),
            requests_per_minute=FAST_RPM,
            burst=FAST_BURST,
            duckdb_path=tmp_path / "warehouse.duckdb",
            concurrency=4,
        )
        return replace(base, **overrides)

    return make


# ---------------------------------------------------------------------------------------------------
# Comparing the warehouse with the simulator's truth, field by field.


def _parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """An API object as its raw-table row: nested objects flattened with '__', lists dropped
    (they are child tables), timestamp strings parsed."""
    row: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            row.update(flatten(value, f"{name}__"))
        elif isinstance(value, list):
            continue
        elif isinstance(value, str) and (key.endswith("_at")) and value:
            row[name] = _parse_ts(value)
        else:
            row[name] = value
    return row


def table_rows(db_path: Path, table: str, dataset: str = "pixee") -> list[dict[str, Any]]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        cur = con.execute(f"select * from {dataset}.{table}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]


def child_pairs(db_path: Path, parent: str, field: str, dataset: str = "pixee") -> set[tuple[str, str]]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return set(
            con.execute(
                f"select p.id, c.value from {dataset}.{parent}__{field} c "
                f"join {dataset}.{parent} p on c._dlt_parent_id = p._dlt_id"
            ).fetchall()
        )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (
            a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
        )
    return a == b


def diff_table(db_path: Path, table: str, truth: list[dict[str, Any]]) -> list[str]:
    """Differences between a raw table and the truth objects, as readable lines (empty = equal)."""
    problems: list[str] = []
    rows = table_rows(db_path, table)
    ids = [r["id"] for r in rows]
    if len(ids) != len(set(ids)):
        problems.append(f"{table}: {len(ids) - len(set(ids))} duplicate ids")
    by_id = {r["id"]: r for r in rows}
    expected = {o["id"]: flatten(o) for o in truth}
    missing = sorted(set(expected) - set(by_id))
    extra = sorted(set(by_id) - set(expected))
    if missing:
        problems.append(f"{table}: {len(missing)} missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{table}: {len(extra)} unexpected, e.g. {extra[:3]}")
    for obj_id, want in expected.items():
        got = by_id.get(obj_id)
        if got is None:
            continue
        for column, value in want.items():
            if column not in got:
                if value is not None:
                    problems.append(f"{table}.{column}: column missing")
                continue
            if not _same(got[column], value):
                problems.append(f"{table} {obj_id}.{column}: warehouse {got[column]!r} != truth {value!r}")
        if len(problems) > 20:
            break
    for parent, field in CHILD_LISTS.items():
        if parent != table:
            continue
        want_pairs = {(o["id"], v) for o in truth for v in (o.get(field) or [])}
        got_pairs = child_pairs(db_path, table, field) if want_pairs else set()
        if got_pairs != want_pairs:
            missing, extra = len(want_pairs - got_pairs), len(got_pairs - want_pairs)
            problems.append(f"{table}__{field}: {missing} missing, {extra} extra")
    return problems


@pytest.fixture
def assert_matches_truth() -> Callable[..., None]:
    """`check(sim, db_path, tables=None, repository_id=None)`: every raw table equals the truth."""

    def check(
        sim: Any, db_path: Path, tables: list[str] | None = None, repository_id: str | None = None
    ) -> None:
        truth = dict(sim.truth())
        names = tables or ["repositories", "scans", "findings", "fixes", "webhooks"]
        if {"fix_details", "finding_details"} & set(names):
            truth.update(sim.detail_truth())
        problems: list[str] = []
        for table in names:
            objects = truth[TRUTH_KEYS[table]]
            if table in DETAIL_FIELDS:
                objects = [{k: o[k] for k in DETAIL_FIELDS[table] if k in o} for o in objects]
            if repository_id is not None:
                objects = [
                    o
                    for o in objects
                    if o.get("repository_id", o["id"] if table == "repositories" else None) == repository_id
                ]
            problems += diff_table(db_path, table, objects)
        assert not problems, "\n".join(problems[:25])

    return check


def id_counts(db_path: Path, table: str) -> tuple[int, int]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        row = con.execute(f"select count(*), count(distinct id) from pixee.{table}").fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


@pytest.fixture(scope="session")
def handmade_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made edge-case organisation loaded and its marts built once for the whole session
    (a dbt run costs seconds): read it only; copy the file to change anything."""
    from pipelines.transform.dbt_runner import build_marts
    from tests.marts_support import HANDMADE_AS_OF, handmade_org, load_raw

    tmp = tmp_path_factory.mktemp("handmade")
    pipeline = load_raw(handmade_org(), tmp / "warehouse.duckdb", tmp / "pipelines")
    report = build_marts(pipeline, Settings(), HANDMADE_AS_OF)
    assert report.as_of == HANDMADE_AS_OF
    return tmp / "warehouse.duckdb"
