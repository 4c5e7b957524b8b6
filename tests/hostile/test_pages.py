"""Hostile pagination: loops of cursors and links, endless empty pages, next links the connector
cannot follow. Each walk ends equal to what the server served, or fails in one line naming the
endpoint after a handful of requests (never burns the rate limit, never ends quietly)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import duckdb
import pytest

from pipelines.api.client import PixeeClient
from pipelines.api.paging import MAX_EMPTY_PAGES, iter_pages
from pipelines.errors import ApiError, IncompleteSyncError
from pipelines.load.sync import sync
from pipelines.settings import Secret, Settings
from tests.conftest import diff_table
from tests.hostile.support import (
    HostileProxy,
    Proxied,
    Reply,
    Upstream,
    busiest,
    loaded_repositories,
    one_line,
)

TOKEN = "pxo_hostile-pages-4b1c9e0d7a"
PATH = "/repositories/repo_1/findings"
ENDPOINT = "/api/v1" + PATH
ITEMS = [{"id": f"f_{i:03d}", "updated_at": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"} for i in range(250)]


def cursor_page(items: list[dict[str, Any]], cursor: Any, more: Any = True) -> Reply:
    return Reply(body={"data": items, "pagination": {"next_cursor": cursor, "has_more": more}})


def hal_page(items: list[dict[str, Any]], following: Any) -> Reply:
    links: dict[str, Any] = {"self": {"href": ENDPOINT}}
    if following is not None:
        links["next"] = following
    return Reply(body={"_embedded": {"items": items}, "_links": links, "page": 1, "total": len(ITEMS)})


def by_cursor(pages: dict[str | None, Reply]) -> Callable[[str, str, Upstream], Reply]:
    def tamper(path: str, query: str, upstream: Upstream) -> Reply:
        cursor = parse_qs(query).get("cursor", [None])[0]
        return pages[cursor]

    return tamper


def by_query(pages: dict[str, Reply]) -> Callable[[str, str, Upstream], Reply]:
    def tamper(path: str, query: str, upstream: Upstream) -> Reply:
        page = parse_qs(query).get("page", ["1"])[0]
        return pages[page]

    return tamper


def endless(make: Callable[[int], Reply]) -> Callable[[str, str, Upstream], Reply]:
    """A server that always has one more page: page n+1 under a fresh cursor."""

    def tamper(path: str, query: str, upstream: Upstream) -> Reply:
        n = int(parse_qs(query).get("cursor", ["0"])[0])
        return make(n)

    return tamper


A, B, C = ITEMS[:100], ITEMS[100:200], ITEMS[200:]
CASES: dict[str, tuple[Callable[[str, str, Upstream], Reply], str | list[dict[str, Any]]]] = {
    "cursor returns itself": (
        by_cursor({None: cursor_page(A, "x"), "x": cursor_page(B, "x")}),
        r"go in a circle \(next_cursor 'x' was already followed\)",
    ),
    "cycle of cursors": (
        by_cursor({None: cursor_page(A, "x"), "x": cursor_page(B, "y"), "y": cursor_page(C, "x")}),
        r"next_cursor 'x' was already followed",
    ),
    "empty pages saying has_more forever": (
        endless(lambda n: cursor_page([], str(n + 1))),
        rf"{MAX_EMPTY_PAGES} empty pages in a row",
    ),
    "the same page under fresh cursors": (
        endless(lambda n: cursor_page(A, str(n + 1))),
        r"a page already served came again",
    ),
    "next_cursor an object": (
        by_cursor({None: cursor_page(A, {"after": "x"})}),
        r"gave up after 3 attempts \(200 with a malformed page: 'next_cursor' is a dict",
    ),
    "has_more with an empty cursor": (
        by_cursor({None: cursor_page(A, "")}),
        r"'has_more' is true but 'next_cursor' is empty",
    ),
    "has_more false ends the walk": (by_cursor({None: cursor_page(A, "x", more=False)}), A),
    "cursor walk to the end": (
        by_cursor({None: cursor_page(A, "x"), "x": cursor_page(B, "y"), "y": cursor_page(C, None, False)}),
        ITEMS,
    ),
    "HAL next is the page itself": (
        lambda p, q, u: hal_page(A, {"href": f"{ENDPOINT}?limit=100"}),
        r"next link '/api/v1/repositories/repo_1/findings\?limit=100' leads to a page already read",
    ),
    "HAL next back to an earlier page": (
        by_query(
            {
                "1": hal_page(A, {"href": f"{ENDPOINT}?page=2"}),
                "2": hal_page(B, {"href": f"{ENDPOINT}?page=2"}),
            }
        ),
        r"leads to a page already read",
    ),
    "HAL protocol-relative next": (
        lambda p, q, u: hal_page(A, {"href": f"//evil.example{ENDPOINT}?page=2"}),
        r"leads to another host or scheme; refusing it",
    ),
    "HAL next to another host": (
        lambda p, q, u: hal_page(A, {"href": f"https://evil.example{ENDPOINT}?page=2"}),
        r"leads to another host or scheme",
    ),
    "HAL next outside the API": (
        lambda p, q, u: hal_page(A, {"href": "/admin/export?page=2"}),
        r"leads outside /api/v1",
    ),
    "HAL next an array of links": (
        lambda p, q, u: hal_page(A, [{"href": f"{ENDPOINT}?page=2"}, {"href": f"{ENDPOINT}?page=3"}]),
        r"malformed page: '_links.next' is an array of 2 links",
    ),
    "HAL next href a number": (
        lambda p, q, u: hal_page(A, {"href": 2}),
        r"malformed page: '_links.next.href' is 2, not a URL",
    ),
    "HAL next a broken IPv6 host": (
        lambda p, q, u: hal_page(A, {"href": "http://[::1/api/v1/x"}),
        r"the next link 'http://\[::1/api/v1/x' is not a URL \(Invalid IPv6 URL\)",
    ),
    "HAL next with a control character": (
        lambda p, q, u: hal_page(A, {"href": f"{ENDPOINT}?page=2\u0000"}),
        r"is not a URL \(Invalid non-printable ASCII character",
    ),
    "HAL next without href": (lambda p, q, u: hal_page(A, {"title": "more"}), r"'_links.next.href' is None"),
    "HAL _links a list": (
        lambda p, q, u: Reply(body={"_embedded": {"items": A}, "_links": [{"rel": "next"}]}),
        r"'_links' is a list, not an object",
    ),
    "HAL next a bare string is followed": (
        by_query({"1": hal_page(A, f"{ENDPOINT}?page=2"), "2": hal_page(B, None)}),
        A + B,
    ),
    "HAL next relative to the page": (
        by_query(
            {
                "1": hal_page(A, {"href": "?page=2"}),
                "2": hal_page(B, {"href": "findings?page=3"}),
                "3": hal_page(C, None),
            }
        ),
        ITEMS,
    ),
}


def client_for(base_url: str) -> PixeeClient:
    settings = Settings(base_url=base_url, token=Secret(TOKEN), requests_per_minute=60000.0, burst=100)
    return PixeeClient(settings, backoff_base=0.001, max_attempts=3)


@pytest.mark.parametrize("case", list(CASES))
def test_a_page_walk_ends_as_served_or_in_one_line_naming_the_endpoint(
    proxy: Callable[..., HostileProxy], case: str
) -> None:
    tamper, expected = CASES[case]
    server = proxy()
    server.tamper = tamper
    got: list[dict[str, Any]] = []
    with client_for(server.base_url) as client:  # type: ignore[attr-defined]
        if isinstance(expected, list):
            for page in iter_pages(client, PATH, resource="findings"):
                got += page
            assert got == expected
            return
        with pytest.raises(ApiError) as failed:
            for page in iter_pages(client, PATH, resource="findings"):
                got += page
    message = str(failed.value)
    assert re.search(expected, message), message
    assert f"endpoint {ENDPOINT}" in message and one_line(message)
    # Stopped at once: a loop costs a few requests, never the rate limit; no other host was asked.
    assert len(server.seen) <= MAX_EMPTY_PAGES + 1
    assert all(path.startswith("/repositories/repo_1/") for path, _ in server.seen)


def test_a_looping_list_fails_alone_and_every_other_list_of_its_batch_commits(
    proxied: Callable[..., Proxied], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    # Before: the loop cancelled the batch, and findings, scans and fixes of all three
    # repositories read together were lost with it, on every run.
    run = proxied(repositories=3, days=10)
    sim, server = run.sim, run.server
    bad = busiest(sim.truth())
    target = f"/repositories/{bad}/findings"

    def loop(path: str, query: str, upstream: Upstream) -> Reply | None:
        if path != target:
            return None
        if "cursor=" not in query:
            loop.first = upstream.json()  # type: ignore[attr-defined]
            loop.first["pagination"] = {"next_cursor": "again", "has_more": True}  # type: ignore[attr-defined]
        return Reply(body=loop.first)  # type: ignore[attr-defined]

    server.tamper = loop
    settings = run.settings()
    with pytest.raises(IncompleteSyncError) as failed:
        sync(settings, pipelines_dir=str(tmp_path / "dlt"), batch_repositories=3)
    message = str(failed.value)
    assert "the server's pages go in a circle" in message and f"endpoint /api/v1{target}" in message
    assert "its cursor is kept" in message and one_line(message)
    assert failed.value.report.failures == [failed.value.report.failures[0]]  # type: ignore[attr-defined]
    assert server.requests_to(target) == 2  # the second page gave the loop away
    db = settings.duckdb_path
    # Read in the same batch: every other list committed, the looping one not even in part.
    assert_matches_truth(sim, db, ["repositories", "scans", "fixes", "webhooks"])
    others = [f for f in sim.truth()["findings"] if f["repository_id"] != bad]
    assert diff_table(db, "findings", others) == []
    assert finding_count(db, bad) == 0

    server.tamper = None
    sync(settings, pipelines_dir=str(tmp_path / "dlt"), batch_repositories=3)
    assert_matches_truth(sim, db)
    assert finding_count(db, bad) > 100


def finding_count(db: Path, repository_id: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("select count(*) from pixee.findings where repository_id = ?", [repository_id])
        return int(row.fetchone()[0])  # type: ignore[index]


def test_a_protocol_relative_hal_next_fails_the_run_instead_of_ending_the_list(
    proxied: Callable[..., Proxied], assert_matches_truth: Callable[..., None], tmp_path: Path
) -> None:
    # Before: the link was joined under the base URL, answered 404, and the repository's
    # findings after page 1 were silently dropped with exit 0.
    run = proxied(repositories=2, days=10, findings=300, envelope="hal")
    sim, server = run.sim, run.server
    repos = sorted(r["id"] for r in sim.truth()["repositories"])
    target = f"/repositories/{repos[1]}/findings"

    def relative(path: str, query: str, upstream: Upstream) -> Reply | None:
        body = upstream.json()
        if path != target or "next" not in body.get("_links", {}):
            return None
        body["_links"]["next"]["href"] = "//" + body["_links"]["next"]["href"].lstrip("/")
        return Reply(body=body)

    server.tamper = relative
    settings = run.settings(concurrency=1)
    with pytest.raises(IncompleteSyncError) as failed:
        sync(settings, pipelines_dir=str(tmp_path / "dlt"), batch_repositories=1)
    message = str(failed.value)
    assert (
        "leads to another host or scheme; refusing it" in message and f"endpoint /api/v1{target}" in message
    )
    assert finding_count(settings.duckdb_path, repos[1]) == 0  # nothing half-read committed
    assert repos[0] in loaded_repositories(settings.duckdb_path)

    server.tamper = None
    sync(settings, pipelines_dir=str(tmp_path / "dlt"), batch_repositories=1)
    assert_matches_truth(sim, settings.duckdb_path)
