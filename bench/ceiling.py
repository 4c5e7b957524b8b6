"""The ceiling: the pages a full sync reads, fetched with plain httpx, parsed with json, loaded nowhere."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.minimum import CHILD_LISTS, PAGE_LIMIT


def _walk(client: httpx.Client, path: str) -> tuple[list[dict[str, Any]], int]:
    """All items of one list and the number of requests it took (cursor envelope)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": PAGE_LIMIT}
    requests = 0
    while True:
        response = client.get(path, params=params)
        requests += 1
        response.raise_for_status()
        page = response.json()
        items.extend(page["data"])
        cursor = page["pagination"].get("next_cursor")
        if not page["pagination"].get("has_more") or not cursor:
            return items, requests
        params = {"limit": PAGE_LIMIT, "cursor": cursor}


def fetch_all(base_url: str, token: str, concurrency: int) -> dict[str, int]:
    """Rows and requests of the same lists a full sync reads, `concurrency` lists at a time."""
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    with httpx.Client(base_url=base_url + "/", headers=headers, limits=limits, timeout=60) as client:
        repositories, requests = _walk(client, "repositories")
        webhooks, more = _walk(client, "webhooks")
        paths = [f"repositories/{repo['id']}/{kind}" for repo in repositories for kind in CHILD_LISTS]

        def count(path: str) -> tuple[int, int]:
            rows, n = _walk(client, path)
            return len(rows), n  # the parsed rows are dropped here: the ceiling loads nothing

        with ThreadPoolExecutor(concurrency, thread_name_prefix="ceiling-fetch") as pool:
            results = list(pool.map(count, paths))
    return {
        "rows": len(repositories) + len(webhooks) + sum(r for r, _ in results),
        "requests": requests + more + sum(n for _, n in results),
    }
