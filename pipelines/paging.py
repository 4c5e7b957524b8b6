"""The one place that knows page envelopes: the cursor body and HAL links, told apart by the first page."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pipelines.client import BadPageError, PixeeClient

PAGE_SIZE = 100  # the API's maximum: fewest requests per item
Envelope = Literal["cursor", "hal"]


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


def items_of(body: Mapping[str, Any], envelope: Envelope) -> list[dict[str, Any]]:
    items = body["data"] if envelope == "cursor" else body["_embedded"]["items"]
    return items


def next_link(body: Mapping[str, Any], envelope: Envelope) -> tuple[str, str] | None:
    """('cursor', value) or ('href', link) for the next page, or None at the end."""
    if envelope == "cursor":
        pagination = body.get("pagination") or {}
        cursor = pagination.get("next_cursor")
        if not cursor or pagination.get("has_more") is False:
            return None
        return "cursor", str(cursor)
    href = ((body.get("_links") or {}).get("next") or {}).get("href")
    return ("href", str(href)) if href else None


def iter_pages(
    client: PixeeClient,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    resource: str,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the items of every page of a list endpoint, one list per page.

    The filter parameters (e.g. `updated_since`) are sent unchanged on every page: the caller
    fixes them before the walk starts. A page that changes envelope mid-walk is a bad page.
    """
    query: dict[str, Any] = {**(params or {}), "limit": PAGE_SIZE}
    shape: Envelope | None = None

    def validate(body: Any) -> None:
        found = envelope_of(body)
        if shape is not None and found != shape:
            raise BadPageError(f"page switched from the {shape} envelope to {found}")

    target: str = path
    target_params: dict[str, Any] | None = query
    while True:
        body = client.get_json(target, target_params, resource=resource, validate=validate)
        if shape is None:
            shape = envelope_of(body)
        yield items_of(body, shape)
        following = next_link(body, shape)
        if following is None:
            return
        kind, value = following
        if kind == "cursor":
            target, target_params = path, {**query, "cursor": value}
        else:
            # The link already carries the query (limit, filters, page number) as the server built it.
            target, target_params = value, None
