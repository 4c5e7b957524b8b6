"""The peer: dlt's own declarative rest_api source, configured for the same endpoints, no pacing."""

from __future__ import annotations

from typing import Any

from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from bench.minimum import CHILD_LISTS, PAGE_LIMIT


def peer_config(base_url: str, token: str) -> dict[str, Any]:
    """A RESTAPIConfig a careful user would write: 100 a page, the cursor paginator, parent-child
    resolve for each repository's lists, the child lists parallelized (dlt's own concurrency)."""
    children: list[dict[str, Any]] = [
        {
            "name": kind,
            "parallelized": True,
            "endpoint": {
                "path": f"repositories/{{repository_id}}/{kind}",
                "params": {
                    "limit": PAGE_LIMIT,
                    "repository_id": {"type": "resolve", "resource": "repositories", "field": "id"},
                },
            },
        }
        for kind in CHILD_LISTS
    ]
    return {
        "client": {
            "base_url": base_url + "/",
            "auth": {"type": "bearer", "token": token},
            "paginator": JSONResponseCursorPaginator(
                cursor_path="pagination.next_cursor",
                cursor_param="cursor",
                has_more_path="pagination.has_more",
            ),
        },
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "endpoint": {"params": {"limit": PAGE_LIMIT}, "data_selector": "data"},
        },
        "resources": [
            {"name": "repositories", "endpoint": {"path": "repositories"}},
            {"name": "webhooks", "write_disposition": "replace", "endpoint": {"path": "webhooks"}},
            *children,
        ],
    }
