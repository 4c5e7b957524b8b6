"""The platform flavour of the simulator serves docs/platform.md: HAL paging, filters, expiry, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulator import SimConfig, Simulator

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def cfg(**kw: Any) -> SimConfig:
    base: dict[str, Any] = {"api": "platform", "seed": 3, "now": NOW}
    base.update(kw)
    return SimConfig(**base)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(cfg(extra_relation="sbom-exports")) as s:
        yield s


def client(sim: Simulator, key: str | None = None) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Bearer {key or sim.api_key}"}, timeout=30)  # type: ignore[attr-defined]


def walk(c: httpx.Client, href: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, following _links.next until it is absent; and the pages read."""
    items: list[dict[str, Any]] = []
    pages, url, query = 0, href, dict(params) or None
    seen: set[str] = set()
    while url:
        assert url not in seen, f"paging loops at {url}"
        seen.add(url)
        r = c.get(url, params=query)
        query = None  # next.href carries the query
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["_embedded"]["items"]
        pages += 1
        url = body["_links"].get("next", {}).get("href")
    return items, pages


def root(sim: Simulator, c: httpx.Client) -> dict[str, str]:
    r = c.get(sim.base_url or "")
    assert r.status_code == 200
    return {rel: link["href"] for rel, link in r.json()["_links"].items()}


def strip_links(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "_links"}


def test_root_links_every_collection_and_the_extra_relation(sim: Simulator) -> None:
    with client(sim) as c:
        links = root(sim, c)
    assert set(links) == {
        "self",
        "repositories",
        "scans",
        "analyses",
        "patches",
        "integrations",
        "scales",
        "system-status",
        "preferences",
        "users-me",
        "sbom-exports",
    }
    assert links["scans"] == f"{sim.base_url}/scans"
    assert sim.base_url and sim.base_url.endswith("/api/v1")


def test_every_list_pages_by_next_links_to_exactly_the_truth(sim: Simulator) -> None:
    truth = sim.truth()
    with client(sim) as c:
        links = root(sim, c)
        for rel, table in [
            ("repositories", "repositories"),
            ("scans", "scans"),
            ("analyses", "analyses"),
            ("patches", "patches"),
            ("integrations", "integrations"),
            ("scales", "scales"),
            ("system-status", "system_status"),
            ("sbom-exports", "collection_sbom_exports"),
        ]:
            items, pages = walk(c, links[rel], **{"page-size": 7})
            assert [strip_links(i) for i in items] == truth[table], rel
            assert pages == max(1, -(-len(items) // 7)), rel
            assert all(i["_links"]["self"]["href"].startswith(sim.base_url or "") for i in items)
        findings = []
        for scan in walk(c, links["scans"], **{"page-size": 100})[0]:
            for f in walk(c, scan["_links"]["findings"]["href"])[0]:
                findings.append({**strip_links(f), "scan_id": scan["id"]})
        assert findings == truth["findings"]
        workflows = []
        for repo in walk(c, links["repositories"])[0]:
            workflows += [
                {**strip_links(w), "repository_id": repo["id"]}
                for w in walk(c, repo["_links"]["workflows"]["href"])[0]
            ]
        assert workflows == truth["workflows"]
        prefs = c.get(links["preferences"]).json()
        assert [strip_links(prefs)] == truth["preferences"]
    assert len(truth["scans"]) > 50 and len(truth["findings"]) > 500 and truth["patches"]


def test_page_size_defaults_to_20_is_bounded_and_pages_are_stable(sim: Simulator) -> None:
    with client(sim) as c:
        links = root(sim, c)
        first = c.get(links["scans"]).json()
        assert len(first["_embedded"]["items"]) == 20 and first["page"] == 1
        assert first["total"] == len(sim.truth()["scans"])
        nxt = first["_links"]["next"]["href"]
        assert "page-number=2" in nxt
        assert c.get(nxt).json() == c.get(nxt).json()
        stamps = [s["imported_at"] for s in walk(c, links["scans"])[0]]
        assert stamps == sorted(stamps, reverse=True)
        for bad in ("0", "101", "x"):
            r = c.get(links["scans"], params={"page-size": bad})
            assert r.status_code == 400
            assert r.headers["content-type"] == "application/problem+json"
            assert "page-size" in r.json()["detail"]
        last = c.get(links["scans"], params={"page-size": 100, "page-number": 999}).json()
        assert last["_embedded"]["items"] == [] and "next" not in last["_links"]


def test_a_bad_key_gets_401_problem_json_without_the_key(sim: Simulator) -> None:
    with client(sim, "pxk_wrong") as c:
        r = c.get(sim.base_url or "")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert set(body) == {"type", "title", "status", "detail", "instance"}
    assert body["status"] == 401 and body["instance"] == "/api/v1"
    assert "pxk_wrong" not in r.text


def test_the_key_is_also_the_org_token(sim: Simulator) -> None:
    assert sim.org_token == sim.api_key  # type: ignore[attr-defined]


def test_pixee_etl_simulate_api_platform_prints_url_and_key() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--api",
            "platform",
            "--no-rate-limit",
            "--json",
            "--repositories",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["api_key"] == info["org_token"]
        r = httpx.get(info["base_url"], headers={"Authorization": f"Bearer {info['api_key']}"}, timeout=10)
        assert r.status_code == 200 and "scans" in r.json()["_links"]
        moved = httpx.post(
            info["base_url"] + "/_sim/advance",
            json={"hours": 24},
            headers={"Authorization": f"Bearer {info['api_key']}"},
            timeout=10,
        )
        assert moved.status_code == 200
        now = httpx.get(
            info["base_url"] + "/_sim/now", headers={"Authorization": f"Bearer {info['api_key']}"}, timeout=10
        ).json()["now"]
        assert datetime.fromisoformat(now) - datetime.fromisoformat(moved.json()["now"]) == timedelta(0)
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
