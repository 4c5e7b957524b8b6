"""The one place that knows page envelopes: the cursor body and HAL links, told apart by the first page.

A walk ends where the server says the list ends, and nowhere else: a next link it cannot follow
(another host, an array of links, a number where a URL belongs) is a bad page, retried and then
failed, never taken as the end. A walk that comes back to a cursor or link it already followed,
serves a page it already served, or keeps answering empty pages that say there is more, fails
the resource in one line naming the endpoint, instead of burning the rate limit until killed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from pipelines.api.client import PixeeClient
from pipelines.errors import ApiError, BadPageError, shown
from pipelines.extract.rejected_rows import shape_problem

log = logging.getLogger("pipelines.api.paging")

PAGE_SIZE = 100  # the API's maximum: fewest requests per item
# Empty pages in a row that still say "more": a real list skips a few (items deleted under the
# cursor), a server stuck in a loop with fresh cursors answers them forever.
MAX_EMPTY_PAGES = 10
Envelope = Literal["cursor", "hal"]
Reject = Callable[[Any, str], None]


def envelope_of(body: Any) -> Envelope:
    """Which envelope a page uses; BadPageError for a body that is neither (retried by the client)."""
    if not isinstance(body, dict):
        raise BadPageError(f"page is a {type(body).__name__}, not an object")
    if isinstance(body.get("data"), list):
        return "cursor"
    embedded = body.get("_embedded")
    if isinstance(embedded, dict) and isinstance(embedded.get("items"), list):
        return "hal"
    raise BadPageError("page has neither 'data' nor '_embedded.items'")


def items_of(body: Mapping[str, Any], envelope: Envelope) -> list[Any]:
    """The page's items as sent: objects, or anything a broken server put there (see records)."""
    items = body["data"] if envelope == "cursor" else body["_embedded"]["items"]
    return items


def page_part(parent: Mapping[str, Any], key: str, named: str = "", kind: type = dict) -> Any:
    """parent[key], or None when it is absent or null; BadPageError naming it (`named`, else `key`)
    when it is there in another type than `kind` (an object, or an array for list)."""
    value = parent.get(key)
    if value is not None and not isinstance(value, kind):
        wanted = "an array" if kind is list else "an object"
        raise BadPageError(f"'{named or key}' is a {type(value).__name__}, not {wanted}")
    return value


def next_link(body: Mapping[str, Any], envelope: Envelope) -> tuple[str, str] | None:
    """('cursor', value) or ('href', link) for the next page, or None at the end; BadPageError
    for a link that is there but cannot be followed."""
    if envelope == "cursor":
        pagination = page_part(body, "pagination")
        if pagination is None:
            return None
        cursor, more = pagination.get("next_cursor"), pagination.get("has_more")
        if more is False or cursor is None:
            return None
        if isinstance(cursor, bool) or not isinstance(cursor, str | int):
            raise BadPageError(f"'next_cursor' is a {type(cursor).__name__}, not a string")
        if cursor == "":
            if more is True:
                raise BadPageError("'has_more' is true but 'next_cursor' is empty")
            return None
        return "cursor", str(cursor)
    links = page_part(body, "_links")
    if links is None:
        return None
    following = links.get("next")
    if following is None:
        return None
    if isinstance(following, str):
        href: Any = following  # a bare URL where a link object belongs: its meaning is plain
    elif isinstance(following, dict):
        href = following.get("href")
    elif isinstance(following, list):
        raise BadPageError(
            f"'_links.next' is an array of {len(following)} links; which is next is unknowable"
        )
    else:
        raise BadPageError(f"'_links.next' is a {type(following).__name__}, not a link")
    if not isinstance(href, str) or not href.strip():
        raise BadPageError(f"'_links.next.href' is {shown(repr(href), 40)}, not a URL")
    return "href", href.strip()


def _same_url(url: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """A URL as compared for loops: query parameters in any order are the same page."""
    parts = urlsplit(url)
    return parts.netloc.lower(), parts.path, tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))


class PageGuard:
    """The loop guards both envelopes share: a page served again while it says there is more, a
    run of empty pages that keep saying so, or a next link to a page already read ends the walk
    in one line naming the endpoint."""

    def __init__(self, endpoint: str, first_url: str) -> None:
        self.endpoint = endpoint
        self._served: set[int] = set()
        self._empty = 0
        self._urls = {_same_url(first_url)}

    def looping(self, why: str) -> ApiError:
        return ApiError(
            f"the server's pages go in a circle ({why}); stopped this list", endpoint=self.endpoint
        )

    def follow(self, client: PixeeClient, href: str, base: str) -> str:
        """The next link resolved against the page that held it, unless it was read already."""
        try:
            link = client.resolve_link(href, base)
        except ApiError as exc:
            raise ApiError(f"{exc}; stopped this list", endpoint=self.endpoint) from None
        if _same_url(link) in self._urls:
            raise self.looping(f"next link {shown(href, 80)!r} leads to a page already read")
        self._urls.add(_same_url(link))
        return link

    def check(self, items: list[Any], following: object) -> None:
        if items:
            self._empty = 0
            page = hash(
                repr([(i.get("id"), i.get("updated_at")) if isinstance(i, dict) else i for i in items])
            )
            if following is not None and page in self._served:
                raise self.looping("a page already served came again")
            self._served.add(page)
        elif following is not None:
            self._empty += 1
            if self._empty >= MAX_EMPTY_PAGES:
                raise self.looping(f"{self._empty} empty pages in a row, each saying there is more")


def _log_reject(value: Any, reason: str) -> None:
    log.warning("a record was rejected (not loaded): %s", reason)


def iter_pages(
    client: PixeeClient,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    resource: str,
    reject: Reject | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the loadable items of every page of a list endpoint, one list per page.

    Items that are no record (pipelines.extract.rejected_rows.shape_problem: not an object, no id) go to
    `reject(item, reason)` instead; the values of the others are the caller's to check.
    The filter parameters (e.g. `updated_since`) are sent unchanged on every page: the caller
    fixes them before the walk starts. A page that changes envelope mid-walk is a bad page.
    """
    query: dict[str, Any] = {**(params or {}), "limit": PAGE_SIZE}
    shape: Envelope | None = None
    set_aside = reject or _log_reject
    first_url = client.url_for(path)
    endpoint = urlsplit(first_url).path

    def validate(body: Any) -> None:
        found = envelope_of(body)
        if shape is not None and found != shape:
            raise BadPageError(f"page switched from the {shape} envelope to {found}")
        next_link(body, found)  # a link that cannot be followed is a bad page, retried

    page_url = f"{first_url}?{urlencode(query)}"
    target: str = path
    target_params: dict[str, Any] | None = query
    cursors: set[str] = set()
    guard = PageGuard(endpoint, page_url)
    while True:
        body = client.get_json(target, target_params, resource=resource, validate=validate)
        if shape is None:
            shape = envelope_of(body)
        items = items_of(body, shape)
        following = next_link(body, shape)
        guard.check(items, following)
        rows = []
        for item in items:
            reason = shape_problem(item)
            if reason is None:
                rows.append(item)
            else:
                set_aside(item, reason)
        yield rows
        if following is None:
            return
        kind, value = following
        if kind == "cursor":
            if value in cursors:
                raise guard.looping(f"next_cursor {shown(value, 40)!r} was already followed")
            cursors.add(value)
            target, target_params = path, {**query, "cursor": value}
        else:
            link = guard.follow(client, value, page_url)
            # The link already carries the query (limit, filters, page number) as the server built it.
            target, target_params, page_url = link, None, link
