"""Helpers for the fault tests: `pixee-etl` in a subprocess against a simulator, and request counts."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
ETL = [sys.executable, "-m", "tests.etl_driver"]
CHILD_ROUTES = tuple(f"GET /repositories/{{id}}/{kind}" for kind in ("fixes", "scans", "findings"))
PAGE_SIZE = 100  # pipelines.api.paging asks for the API's maximum


def etl_env(
    sim: Any,
    home: Path,
    *,
    token: str | None = None,
    rpm: float = 60000.0,
    burst: int = 100,
    batch: int | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of a `pixee-etl` subprocess: the simulator's URL and token, a fast client,
    dlt's data dir under `home` (so its pipeline files can be inspected), and a tiny retry backoff."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXEE_", "DESTINATION__", "RUNTIME__"))}
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "PIXEE_BASE_URL": sim.base_url,
            "PIXEE_TOKEN": token or sim.org_token,
            "PIXEE_REQUESTS_PER_MINUTE": str(rpm),
            "PIXEE_BURST": str(burst),
            "PIXEE_TEST_BACKOFF_SECONDS": "0.005",
            "DLT_DATA_DIR": str(home / "dlt"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
    )
    if batch is not None:
        env["PIXEE_BATCH_REPOSITORIES"] = str(batch)
    env.update(extra)
    return env


def start_etl(env: Mapping[str, str], *args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*ETL, *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_etl(
    env: Mapping[str, str], *args: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ETL, *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def kill_after_requests(
    proc: subprocess.Popen[str], sim: Any, requests: int, timeout: float = 60
) -> tuple[bool, str, str]:
    """SIGKILL `proc` once the simulator has answered `requests` requests since its stats were reset.
    Returns whether it was killed (False: it ended by itself first) and what it wrote until then."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if sim.stats()["requests_total"] >= requests:
            os.kill(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return True, out, err
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"the run made fewer than {requests} requests in {timeout} s")
        time.sleep(0.002)
    out, err = proc.communicate()
    return False, out, err


def route_counts(stats: Mapping[str, Any]) -> dict[str, int]:
    """Requests per route, any status."""
    return {route: sum(by.values()) for route, by in stats["by_route"].items()}


def add_counts(*counts: Mapping[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return total


def child_pages(counts: Mapping[str, int]) -> int:
    return sum(counts.get(route, 0) for route in CHILD_ROUTES)


def batch_pages(truth: Mapping[str, list[dict[str, Any]]], batch: int) -> list[int]:
    """Pages a full read of each batch of repositories takes (sorted ids, as the sync plans them)."""
    repos = sorted(r["id"] for r in truth["repositories"])
    per_repo = {r: 0 for r in repos}
    for kind in ("fixes", "scans", "findings"):
        sizes = {r: 0 for r in repos}
        for obj in truth[kind]:
            sizes[obj["repository_id"]] += 1
        for r, n in sizes.items():
            per_repo[r] += max(1, math.ceil(n / PAGE_SIZE))
    return [sum(per_repo[r] for r in repos[i : i + batch]) for i in range(0, len(repos), batch)]


def files_under(root: Path) -> Iterable[Path]:
    return (p for p in root.rglob("*") if p.is_file()) if root.exists() else ()


def refetched_pages(
    killed: int, resumed: int, full: list[int], sizes: list[int], incremental_per_repo: int
) -> tuple[int, int]:
    """(batches the killed run committed, pages it read that were not committed and so read again).

    Batches commit in order, so the killed run committed the first k of them. The resumed run reads
    those k incrementally (`incremental_per_repo` pages each repository, an unchanged organisation)
    and the others in full: the k that explains the resumed run's page count is the one committed.
    """
    fits = [
        k for k in range(len(full) + 1) if resumed == incremental_per_repo * sum(sizes[:k]) + sum(full[k:])
    ]
    # Batches whose full read costs what an incremental one does cannot be told apart.
    assert len(fits) == 1, f"{fits} committed batches would each explain {resumed} pages after the kill"
    return fits[0], killed - sum(full[: fits[0]])
