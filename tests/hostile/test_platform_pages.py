"""The platform API made hostile: HAL paging against a scripted server, whole syncs behind a proxy."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from pipelines.api.client import PixeeClient
from pipelines.errors import ApiError
from pipelines.extract.endpoints import PLATFORM, endpoint, root_relations, unknown_table, versioned
from pipelines.extract.platform import hal
from pipelines.extract.platform.rows import finding_row, version_of
from pipelines.load.sync import sync
from pipelines.settings import Secret, Settings
from tests.conftest import table_rows
from tests.hostile.support import HostileProxy, Reply, Upstream, one_line, rejected_rows
from tests.platform_support import Served
from tests.secrets_scan import scan_duckdb

TOKEN = "pxp_CANARY-7c1e0b93d2a45f68"
PATH = "/scans"
ITEMS = [{"id": f"scan_{i:03d}", "detector": "sonar"} for i in range(250)]


def client_for(server: HostileProxy) -> PixeeClient:
    settings = Settings(
        base_url=server.base_url,  # type: ignore[attr-defined]
        token=Secret(TOKEN),
        requests_per_minute=60000.0,
        burst=100,
    )
    return PixeeClient(settings, backoff_base=0.001, max_attempts=3)


def served(
    server: HostileProxy, items: list[Any], next_of: Callable[[str, int, int], Any] | None = None
) -> None:
    """The scripted server pages `items` at PATH; `next_of(base, page, size)` writes each next link."""
    base = server.base_url  # type: ignore[attr-defined]

    def answer(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path != PATH:
            return None
        q = parse_qs(query)
        page, size = int(q.get("page-number", ["1"])[0]), int(q.get("page-size", ["20"])[0])
        links: dict[str, Any] = {"self": {"href": f"{base}{PATH}?page-number={page}"}}
        if page * size < len(items):
            links["next"] = (next_of or default_next)(base, page, size)
        body = {"_embedded": {"items": items[(page - 1) * size : page * size]}, "_links": links}
        return Reply(body={**body, "page": page, "total": len(items)})

    server.tamper = answer


def default_next(base: str, page: int, size: int) -> Any:
    return {"href": f"{base}{PATH}?page-size={size}&page-number={page + 1}"}


def walk_all(server: HostileProxy, **kwargs: Any) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    with client_for(server) as client:
        for page in hal.walk(client, server.base_url + PATH, resource="scans", **kwargs):  # type: ignore[attr-defined]
            got += page
    return got


def test_a_walk_follows_next_hrefs_absolute_or_relative_in_pages_of_100(
    proxy: Callable[..., HostileProxy],
) -> None:
    server = proxy()
    served(server, ITEMS)
    assert walk_all(server) == ITEMS
    assert [parse_qs(q)["page-size"] for _, q in server.seen] == [["100"]] * 3

    relative = proxy()
    served(relative, ITEMS, lambda base, page, size: {"href": f"?page-size={size}&page-number={page + 1}"})
    assert walk_all(relative) == ITEMS
    bare = proxy()  # a bare string where the link object belongs: its meaning is plain
    served(bare, ITEMS, lambda base, page, size: f"scans?page-size={size}&page-number={page + 1}")
    assert walk_all(bare) == ITEMS


LOOPS: dict[str, tuple[Callable[[str, int, int], Any], str]] = {
    "next is the first page again": (
        lambda base, page, size: {"href": f"{base}{PATH}?page-number=1&page-size={size}"},
        r"leads to a page already read|a page already served came again",
    ),
    "next to another origin": (
        lambda base, page, size: {"href": f"http://attacker.example{PATH}?page-number={page + 1}"},
        r"leads to another host or scheme; refusing it",
    ),
    "protocol-relative next": (
        lambda base, page, size: {"href": f"//attacker.example{PATH}?page-number={page + 1}"},
        r"leads to another host or scheme; refusing it",
    ),
    "next outside the API": (
        lambda base, page, size: {"href": f"/admin/export?page-number={page + 1}"},
        r"leads outside /api/v1",
    ),
    "next as an array of links": (
        lambda base, page, size: [{"href": f"{base}{PATH}?page-number={page + 1}"}] * 2,
        r"an array of 2 links",
    ),
    "next href a number": (lambda base, page, size: {"href": 7}, r"not a URL"),
}


@pytest.mark.parametrize("case", list(LOOPS))
def test_a_walk_that_cannot_go_on_stops_in_one_line_naming_the_endpoint(
    proxy: Callable[..., HostileProxy],
    case: str,
) -> None:
    next_of, expected = LOOPS[case]
    server = proxy()
    served(server, ITEMS, next_of)
    with pytest.raises(ApiError) as failed:
        walk_all(server)
    message = str(failed.value)
    assert re.search(expected, message), message
    assert "endpoint /api/v1/scans" in message and one_line(message)
    assert len(server.seen) <= 4  # stopped at once (odd shapes: the first page retried, then failed)
    assert all(path == PATH for path, _ in server.seen)  # no other host or path was asked


def test_a_server_whose_pages_never_end_is_stopped_by_its_own_total(
    proxy: Callable[..., HostileProxy],
) -> None:
    server = proxy()
    base = server.base_url  # type: ignore[attr-defined]

    def endless(path: str, query: str, upstream: Upstream) -> Reply | None:
        page = int(parse_qs(query).get("page-number", ["1"])[0])
        items = [{"id": f"scan_{page}_{i}"} for i in range(100)]  # always fresh: no page repeats
        links = {"next": {"href": f"{base}{PATH}?page-number={page + 1}"}}
        return Reply(body={"_embedded": {"items": items}, "_links": links, "total": 300})

    server.tamper = endless
    with pytest.raises(ApiError) as failed:
        walk_all(server)
    assert "more than 13 pages" in str(failed.value) and one_line(str(failed.value))
    assert len(server.seen) == 13


def test_records_without_an_id_are_set_aside_and_the_rest_loaded(
    proxy: Callable[..., HostileProxy],
) -> None:
    server = proxy()
    served(server, [{"id": "a"}, {"name": "no id"}, "a string", {"id": 5}, {"id": "b"}])
    rejected: list[str] = []
    assert walk_all(server, reject=lambda value, reason: rejected.append(reason)) == [
        {"id": "a"},
        {"id": "b"},
    ]
    assert rejected == [
        "the record has no id",
        "the record is a JSON string, not an object",
        "the record's id is a JSON number, not a string",
    ]


def test_a_document_that_is_no_list_is_one_row(proxy: Callable[..., HostileProxy]) -> None:
    server = proxy()
    server.tamper = lambda path, query, up: Reply(body={"org_id": "o1", "content": "x", "_links": {}})
    assert walk_all(server, keyed=False) == [{"org_id": "o1", "content": "x", "_links": {}}]


def test_the_root_without_links_is_one_line_saying_it_is_not_the_platform_api() -> None:
    with pytest.raises(ApiError) as failed:
        hal.links_of({"data": []}, "the API root http://h/api/v1")
    assert "has no '_links'; it is not a HAL document of the platform API" in str(failed.value)
    links = hal.links_of(
        {
            "_links": {
                "a": {"href": "x"},
                "b": "y",
                "c": [{"href": "z"}],
                "d": {"href": "t/{id}", "templated": True},
            }
        },
        "root",
    )
    assert links == {"a": "x", "b": "y"}  # arrays and templates: which to follow is unknowable


def test_a_finding_row_flattens_its_representative_results_and_versions_its_content() -> None:
    scan = {"id": "scan_1", "repository_id": "repo_1", "detector": "semgrep"}
    item = {
        "id": "f1",
        "title": "SQL injection",
        "severity": {"label": "High", "rank": 2},
        "_links": {"self": {"href": "x"}},
        "_embedded": {
            "representative-results": {
                "_embedded": {
                    "items": [
                        {"type": "triage", "status": "in-progress", "outcome": {"summary": None}},
                        {"type": "fix", "status": "completed", "patch": {"id": "p1", "merge_state": "open"}},
                    ]
                }
            }
        },
    }
    row = finding_row(item, scan)
    assert row["scan_id"] == "scan_1" and row["repository_id"] == "repo_1" and row["detector"] == "semgrep"
    assert row["severity__label"] == "High" and row["severity__rank"] == 2
    assert row["triage__status"] == "in-progress" and row["fix__patch__merge_state"] == "open"
    assert "_links" not in row and "_embedded" not in row
    triaged = finding_row({**item, "_links": {"self": {"href": "moved"}}}, scan)
    assert triaged["_version"] == row["_version"]  # links are no content
    item["_embedded"]["representative-results"]["_embedded"]["items"][0]["status"] = "completed"
    assert finding_row(item, scan)["_version"] != row["_version"]
    assert version_of({"a": 1, "b": 2}) == version_of({"b": 2, "a": 1})


def test_the_registry_declares_every_platform_table_once_with_its_key_and_versioning() -> None:
    tables = [e.table for e in PLATFORM]
    assert len(tables) == len(set(tables))
    assert set(tables) == {
        "repositories", "scans", "findings", "analyses", "patches", "workflows",
        "integrations", "scales", "system_status", "preferences",
    }  # fmt: skip
    assert endpoint("platform", "findings").key == ("scan_id", "id")
    assert endpoint("platform", "preferences").key == ("org_id",)
    assert {e.table: e.versioned_by for e in versioned("platform")} == {
        "repositories": "_version", "scans": "_version", "findings": "_version",
        "analyses": "updated_at", "patches": "updated_at",
    }  # fmt: skip
    assert {e.table for e in versioned("v1")} == {"repositories", "scans", "findings", "fixes"}
    assert set(root_relations()) >= {"repositories", "scans", "analyses", "patches", "system-status"}
    assert unknown_table("audit-log") == "collection_audit_log"
    assert unknown_table("Ünïcode/../x") == "collection_n_code____x"


# -- the whole sync against the platform simulator, through the tampering proxy ----------------------


def platform_settings(sim: Any, server: HostileProxy, tmp_path: Path) -> Settings:
    return Settings(
        base_url=server.base_url,  # type: ignore[attr-defined]
        token=Secret(sim.org_token),
        requests_per_minute=60000.0,
        burst=100,
        duckdb_path=tmp_path / "warehouse.duckdb",
        concurrency=2,
        checkpoint_requests=9,  # a commit every 3 requests: a failure keeps what came before
    )


def test_a_findings_list_that_loops_fails_the_run_in_one_line_and_the_next_run_catches_up(
    simulator: Callable[..., Any], proxy: Callable[..., HostileProxy], fast_retries: None, tmp_path: Path
) -> None:
    sim = simulator(api="platform", repositories=2, days=8, relative_hrefs=True)
    server = proxy(sim)
    target = "/scans/" + sorted(s["id"] for s in sim.truth()["scans"])[-1] + "/findings"

    def loop(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path != target:
            return None
        body = upstream.json()
        body["_links"]["next"] = {"href": f"/api/v1{target}?page-number=1&page-size=100"}
        return Reply(body=body)

    server.tamper = loop
    settings = platform_settings(sim, server, tmp_path)
    with pytest.raises(ApiError) as failed:
        sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    message = str(failed.value)
    assert "the server's pages go in a circle" in message and f"endpoint /api/v1{target}" in message
    assert one_line(message)
    assert table_rows(settings.duckdb_path, "scans")  # what was committed before it stays

    server.tamper = None
    sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    served = Served()
    served.see(sim.truth())
    assert not served.differences(settings.duckdb_path)


def test_records_without_ids_are_set_aside_and_a_token_echoed_in_a_problem_detail_goes_nowhere(
    simulator: Callable[..., Any],
    proxy: Callable[..., HostileProxy],
    fast_retries: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulator(api="platform", repositories=2, days=8, relative_hrefs=True)  # the proxy's origin
    server = proxy(sim)
    settings = platform_settings(sim, server, tmp_path)
    key = sim.org_token

    def no_ids(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path != "/analyses":
            return None
        body = upstream.json()
        items = body["_embedded"]["items"]
        items[0] = {k: v for k, v in items[0].items() if k != "id"}
        items[1]["id"] = 12
        return Reply(body=body)

    server.tamper = no_ids
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    assert report.rejected == {"analyses": 2}
    rejected = rejected_rows(settings.duckdb_path)
    assert [r["reason"] for r in rejected] == [
        "the record has no id",
        "the record's id is a JSON number, not a string",
    ]
    assert len(table_rows(settings.duckdb_path, "analyses")) == len(sim.truth()["analyses"]) - 2

    def echo(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path != "/scans":
            return None
        problem = {
            "type": "https://docs.pixee.ai/problems/bad-request",
            "title": "Bad Request",
            "status": 400,
            "detail": f"the key {key} may not list scans",
            "instance": f"/api/v1/scans?key={key}",
        }
        return Reply(400, problem, {"Content-Type": "application/problem+json"})

    server.tamper = echo
    with pytest.raises(ApiError) as failed:
        sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    message = str(failed.value)
    assert "Bad Request" in message and one_line(message)
    out = capsys.readouterr()
    for text in (message, out.out, out.err, report.summary_table()):
        assert key not in text and key[:12] not in text
    assert not scan_duckdb(settings.duckdb_path, [key])


def test_a_server_refusing_the_open_patches_filter_gets_one_read_per_open_patch(
    simulator: Callable[..., Any], proxy: Callable[..., HostileProxy], fast_retries: None, tmp_path: Path
) -> None:
    sim = simulator(api="platform", repositories=6, days=8, relative_hrefs=True)
    server = proxy(sim)
    settings = platform_settings(sim, server, tmp_path)

    def refuse(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path != "/patches" or "state=open" not in query:
            return None
        problem = {"title": "Bad Request", "status": 400, "detail": "unknown filter state", "instance": path}
        return Reply(400, problem, {"Content-Type": "application/problem+json"})

    server.tamper = refuse
    served = Served()
    served.see(sim.truth())
    assert sum(p["merge_state"] == "open" for p in sim.truth()["patches"]) > 3  # beyond the look-back
    sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    sim.advance(48)
    server.seen.clear()
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    assert any("open-state filter was refused (400)" in w for w in report.warnings), report.warnings
    assert [p for p, _ in server.seen if p.startswith("/patches/")], server.seen  # read one by one
    served.see(sim.truth())
    assert not served.differences(settings.duckdb_path)


def test_a_findings_page_that_trickles_is_cut_at_the_deadline_retried_and_the_run_ends_equal(
    simulator: Callable[..., Any], proxy: Callable[..., HostileProxy], fast_retries: None, tmp_path: Path
) -> None:
    sim = simulator(api="platform", repositories=2, days=8, relative_hrefs=True)
    server = proxy(sim)
    target = "/scans/" + sorted(s["id"] for s in sim.truth()["scans"])[0] + "/findings"
    trickled: list[str] = []

    def trickle(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path != target or trickled:
            return None
        trickled.append(query)
        return Reply(upstream.status, upstream.body, {"Content-Type": "application/json"}, byte_delay=0.05)

    server.tamper = trickle
    settings = replace(platform_settings(sim, server, tmp_path), request_deadline_seconds=1.0)
    report = sync(settings, pipelines_dir=str(tmp_path / "dlt"))
    assert trickled and report.retries >= 1  # cut at the deadline, then read again
    served = Served()
    served.see(sim.truth())
    assert not served.differences(settings.duckdb_path)
