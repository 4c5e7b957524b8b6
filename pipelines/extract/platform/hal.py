"""HAL lists of the platform API: `_links.next.href` followed to the end, with loop guards, one client.

A walk asks for `page-size=100&page-number=1` plus the caller's filters on its first page and then
follows the server's own `next` link (never a URL built here). It stops, in one line naming the
endpoint, on a next link already followed, a page already served, more pages than the list's
`total` can fill, a run of empty pages that say there is more, or a link to another origin (the
key never leaves its server; pipelines.api.client.PixeeClient.resolve_link). A link in an odd shape
(an array, a number, an empty href) is a bad page: retried by the client, then failed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from pipelines.api.client import PixeeClient
from pipelines.api.paging import PageGuard, next_link, page_part
from pipelines.errors import ApiError, BadPageError
from pipelines.extract.rejected_rows import shape_problem

PAGE_SIZE = 100  # the API's maximum: fewest requests per item
# Pages a list may take beyond what its `total` needs (items added while it is read), and the
# bound for a list that states no total: a million items.
SPARE_PAGES = 10
MAX_PAGES = 10_000
Reject = Callable[[Any, str], None]


def items_of(body: Any) -> list[Any] | None:
    """A list page's items, or None for a document that is no list (no `_embedded.items`)."""
    if not isinstance(body, dict):
        raise BadPageError(f"the body is a JSON {type(body).__name__}, not an object")
    embedded = page_part(body, "_embedded")
    return None if embedded is None else page_part(embedded, "items", "_embedded.items", list)


def links_of(body: Any, where: str) -> dict[str, str]:
    """Relation -> href of a document's `_links` (a bare string href accepted); ApiError in one
    line when there are none or they are not an object. Arrays of links and templated links are
    left out: which one to follow is unknowable."""
    links = body.get("_links") if isinstance(body, dict) else None
    if not isinstance(links, dict):
        what = "no '_links'" if links is None else f"'_links' as a {type(links).__name__}"
        raise ApiError(f"{where} has {what}; it is not a HAL document of the platform API")
    found: dict[str, str] = {}
    for relation, link in links.items():
        href = link if isinstance(link, str) else link.get("href") if isinstance(link, dict) else None
        if isinstance(link, dict) and link.get("templated"):
            continue
        if isinstance(href, str) and href.strip():
            found[str(relation)] = href.strip()
    return found


def link(body: Any, relation: str) -> str | None:
    """The href of one relation of a row's `_links`, or None."""
    links = body.get("_links") if isinstance(body, dict) else None
    value = links.get(relation) if isinstance(links, dict) else None
    href = value.get("href") if isinstance(value, dict) else value if isinstance(value, str) else None
    return href.strip() if isinstance(href, str) and href.strip() else None


def resolve(client: PixeeClient, href: str, base: str, what: str) -> str:
    """`href` resolved against the document that held it (`base`), on the configured origin and
    below the API's base path only; ApiError naming `what` otherwise."""
    try:
        return client.resolve_link(href, base)
    except ApiError as exc:
        raise ApiError(f"{what}: {str(exc).replace('the next link', 'its link', 1)}") from None


def _validate(body: Any) -> None:
    items_of(body)
    if isinstance(body, dict) and isinstance(body.get("_embedded"), dict) and "items" in body["_embedded"]:
        next_link(body, "hal")  # a next link that cannot be followed: a bad page, retried


def walk(
    client: PixeeClient,
    url: str,
    params: Mapping[str, Any] | None = None,
    *,
    resource: str,
    reject: Reject | None = None,
    keyed: bool = True,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the items of every page of the list at `url` (absolute), one list per page; a
    document that is no list is yielded as a one-row page.

    With `keyed`, items that are no record with a string `id` go to `reject(item, reason)`;
    without, only items that are no object do.
    """
    endpoint = urlsplit(url).path
    query: dict[str, Any] = {"page-size": PAGE_SIZE, "page-number": 1, **(params or {})}
    body = client.get_json(url, query, resource=resource, validate=_validate)
    page_url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"

    items = items_of(body)
    if items is None:  # a document: one row
        yield _rows([body], reject, keyed)
        return
    total = body.get("total") if isinstance(body.get("total"), int) else None
    bound = min(MAX_PAGES, math.ceil(total / PAGE_SIZE) + SPARE_PAGES) if total is not None else MAX_PAGES
    guard = PageGuard(endpoint, page_url)
    pages = 1
    while True:
        following = next_link(body, "hal")
        guard.check(items, following)
        yield _rows(items, reject, keyed)
        if following is None:
            return
        if pages >= bound:
            limit = (
                f"its total of {total} items fills {bound - SPARE_PAGES}" if total is not None else "allowed"
            )
            raise guard.looping(f"more than {bound} pages, while {limit}")
        target = guard.follow(client, following[1], page_url)
        body = client.get_json(target, None, resource=resource, validate=_validate)
        page_url = target
        pages += 1
        items = items_of(body)
        if items is None:
            raise ApiError(f"page {pages} of the list is no list (no '_embedded.items')", endpoint=endpoint)


def _rows(items: list[Any], reject: Reject | None, keyed: bool) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        reason = shape_problem(item) if keyed else None if isinstance(item, dict) else shape_problem(item)
        if reason is None:
            rows.append(item)
        elif reject is not None:
            reject(item, reason)
    return rows
