"""Pagination: both envelopes, recognised from the first page, filters fixed for the whole walk.

Scripted with httpx.MockTransport; the simulator-backed tests cover the same walks end to end.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from pipelines.api.client import PixeeClient
from pipelines.api.paging import PAGE_SIZE, envelope_of, iter_pages
from pipelines.api.rate_limit import TokenBucket
from pipelines.errors import BadPageError
from pipelines.settings import Secret, Settings

ITEMS = [{"id": f"f_{i:03d}"} for i in range(250)]


def make_client(handler: httpx.MockTransport) -> PixeeClient:
    settings = Settings(base_url="http://127.0.0.1:9/api/v1", token=Secret("tok-paging-1234"))
    return PixeeClient(settings, transport=handler, bucket=TokenBucket(60000, 100), sleep=lambda s: None)


def cursor_api(seen: list[dict[str, list[str]]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        seen.append(query)
        start = int(query.get("cursor", ["0"])[0])
        limit = int(query["limit"][0])
        more = start + limit < len(ITEMS)
        body = {
            "data": ITEMS[start : start + limit],
            "pagination": {"next_cursor": str(start + limit) if more else None, "has_more": more},
        }
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handler)


def hal_api(seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        query = parse_qs(request.url.query.decode())
        number = int(query.get("page-number", ["1"])[0])
        limit = int(query["limit"][0])
        start = (number - 1) * limit
        links = {"self": {"href": str(request.url.raw_path.decode())}}
        if start + limit < len(ITEMS):
            links["next"] = {
                "href": f"/api/v1/r/findings?limit={limit}&updated_since=X&page-number={number + 1}"
            }
        body = {
            "_embedded": {"items": ITEMS[start : start + limit]},
            "_links": links,
            "page": number,
            "total": 250,
        }
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handler)


def test_cursor_walk_yields_pages_of_100_and_keeps_the_filter() -> None:
    seen: list[dict[str, list[str]]] = []
    pages = list(
        iter_pages(
            make_client(cursor_api(seen)), "/repositories/r/findings", {"updated_since": "X"}, resource="f"
        )
    )
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [i for p in pages for i in p] == ITEMS
    assert len(seen) == 3  # no extra request past the last page
    assert all(q["updated_since"] == ["X"] and q["limit"] == [str(PAGE_SIZE)] for q in seen)


def test_hal_walk_follows_next_links_to_the_end() -> None:
    seen: list[str] = []
    pages = list(
        iter_pages(
            make_client(hal_api(seen)), "/repositories/r/findings", {"updated_since": "X"}, resource="f"
        )
    )
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [i for p in pages for i in p] == ITEMS
    assert "page-number=3" in seen[-1] and "updated_since=X" in seen[-1]


@pytest.mark.parametrize("body", [[], {"items": []}, {"data": None}, {"_embedded": {}}, "text"])
def test_a_body_without_an_envelope_is_a_bad_page(body: object) -> None:
    with pytest.raises(BadPageError):
        envelope_of(body)


def test_generator_is_lazy_one_request_per_page() -> None:
    seen: list[dict[str, list[str]]] = []
    walk = iter_pages(make_client(cursor_api(seen)), "/x", resource="f")
    next(walk)
    assert len(seen) == 1
