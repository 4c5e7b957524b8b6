"""The fewest requests a full sync can make: for every list, ceil(items / 100) pages, at least one."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

PAGE_LIMIT = 100
CHILD_LISTS = ("fixes", "scans", "findings")


def pages(items: int) -> int:
    return max(1, math.ceil(items / PAGE_LIMIT))


def minimum_requests(truth: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Pages per list endpoint, from the simulator's truth (what its lists serve right now), after
    the one read of the API's root that tells its flavour (the default `auto` makes it every run)."""
    repo_ids = [repo["id"] for repo in truth["repositories"]]
    minimum = {"root": 1, "repositories": pages(len(repo_ids)), "webhooks": pages(len(truth["webhooks"]))}
    for kind in CHILD_LISTS:
        per_repo = Counter(row["repository_id"] for row in truth[kind])
        minimum[kind] = sum(pages(per_repo.get(repo_id, 0)) for repo_id in repo_ids)
    return minimum
