"""The endpoint registry is the one table list: every module reads it, and a new entry is read and loaded."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.api.client import make_client
from pipelines.cli.demo import RAW_TABLES
from pipelines.events.plan import EventPlan
from pipelines.extract import endpoints
from pipelines.extract.v1 import child_resource_names, pixee_source, plan_batch
from pipelines.extract.v1.arrow import ARROW_LISTS
from pipelines.extract.v1.columns import declared
from pipelines.extract.v1.fetcher import DETAIL_OF
from pipelines.load.deletions import deletable
from pipelines.load.history import versioned
from pipelines.load.sync import sync
from pipelines.publish.run_summary import RESOURCE_ORDER

# What users see depends on these orders (resources, reads, the tour, the summary): they stay as
# they were before the lists were read from the registry.
V1_RESOURCES = ("repositories", "webhooks", "fixes", "scans", "findings", "fix_details", "finding_details")


def test_every_v1_table_list_is_the_registry_in_the_order_users_saw_before() -> None:
    v1 = {entry.table for entry in endpoints.V1}
    assert child_resource_names(details=True) == V1_RESOURCES[2:]
    assert set(V1_RESOURCES) == v1
    assert endpoints.read_order() == ("findings", "fixes", "scans")  # longest lists first
    assert DETAIL_OF == {
        "fixes": ("fix_details", "/fixes/{id}"),
        "findings": ("finding_details", "/findings/{id}"),
    }
    assert set(ARROW_LISTS) == {"scans", "findings"}
    assert RAW_TABLES == ("repositories", "scans", "findings", "fixes", "fixes__finding_ids", "webhooks")
    assert EventPlan("reconcile", "-").selection({}) is None
    assert EventPlan("events", "-").selection({"new": {}}) == {"new": ("fixes", "scans", "findings")}
    # History and deletions of both flavours, and the summary, read the same entries.
    for flavour in ("v1", "platform"):
        assert [e.table for e in versioned(flavour)] == [
            e.table for e in endpoints.endpoints(flavour) if e.versioned_by
        ]
        assert deletable(flavour) == tuple(e.table for e in endpoints.endpoints(flavour) if e.deletable)
    assert set(RESOURCE_ORDER) == {"root", *endpoints.table_order()}
    assert RESOURCE_ORDER[:4] == ("root", "repositories", "webhooks", "scans")


def test_the_source_declares_each_table_as_its_registry_entry(
    simulator: Callable[..., Any], sim_settings: Callable[..., Any]
) -> None:
    settings = sim_settings(simulator(repositories=1, days=2))
    with make_client(settings) as client:
        source = pixee_source(client, details=True)
    assert tuple(source.resources) == V1_RESOURCES
    for name, resource in source.resources.items():
        entry = endpoints.endpoint("v1", name)
        table = resource.compute_table_schema()
        assert table["write_disposition"] == entry.write_disposition
        assert [c for c in table["columns"] if c in entry.columns] == list(entry.columns)
        assert [c for c, hint in table["columns"].items() if hint.get("primary_key")] == list(entry.key)


def _scan_copies() -> endpoints.Endpoint:
    """A list new to the connector: the scans endpoint again, under another table name."""
    scans = endpoints.endpoint("v1", "scans")
    return dataclasses.replace(scans, table="scan_copies", arrow=False, resource_rank=9, read_rank=9)


def test_a_v1_list_added_to_the_registry_is_read_per_repository_and_loaded_with_no_other_edit(
    simulator: Callable[..., Any],
    sim_settings: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    added = _scan_copies()
    assert added.path == "/repositories/{id}/scans"
    monkeypatch.setattr(endpoints, "V1", (*endpoints.V1, added))

    assert child_resource_names(details=False)[-1] == "scan_copies"
    assert declared("scan_copies") == declared("scans")
    assert "scan_copies" in plan_batch(0, ["repo"], {}, 0, False).queues
    assert EventPlan("events", "-").selection({"new": {}})["new"][-1] == "scan_copies"
    assert "scan_copies" in deletable("v1")
    assert "scan_copies" in [e.table for e in versioned("v1")]

    sim = simulator(repositories=2, days=10)
    settings = sim_settings(sim)
    report = sync(settings, pipelines_dir=str(tmp_path / "pipelines"))
    assert report.resource("scan_copies").rows == report.resource("scans").rows > 0
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        copies = sorted(r[0] for r in con.execute("select id from pixee.scan_copies").fetchall())
        scans = sorted(r[0] for r in con.execute("select id from pixee.scans").fetchall())
        versions = [
            con.execute(f"select count(*) from pixee.{table}_history").fetchone()
            for table in ("scans", "scan_copies")
        ]
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'pixee' and table_name = 'scan_copies'"
            ).fetchall()
        )
    served = sorted(scan["id"] for scan in sim.truth()["scans"])
    assert copies == scans == served
    assert versions[0] == versions[1]  # its history is kept as the registry says
    assert "scan_copies" in report.summary_table()
    assert types["findings_count"] == "BIGINT" and types["created_at"].startswith("TIMESTAMP")
    # Each repository got a cursor for the new list, committed with its rows.
    cursors = report.pipeline.state["sources"]["pixee"]["repos"]
    assert {repo: set(lists) for repo, lists in cursors.items()} == {
        repo["id"]: {"fixes", "scans", "findings", "scan_copies"} for repo in sim.truth()["repositories"]
    }
