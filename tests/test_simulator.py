"""The simulator keeps the API contract: paging, ordering, updated_since, auth scopes, errors, time."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from simulator import SimConfig, Simulator

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def small(**kw: Any) -> SimConfig:
    base: dict[str, Any] = {"seed": 11, "repositories": 4, "days": 30, "now": NOW}
    base.update(kw)
    return SimConfig(**base)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(small()) as s:
        yield s


def client(sim: Simulator, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=sim.base_url or "", headers={"Authorization": f"Bearer {token or sim.org_token}"}
    )


def walk(c: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = c.get(path, params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["data"]
        cursor = body["pagination"]["next_cursor"]
        if not body["pagination"]["has_more"]:
            assert cursor is None
            return items


def busiest_repo(truth: dict[str, list[dict[str, Any]]]) -> str:
    counts: dict[str, int] = {}
    for f in truth["findings"]:
        counts[f["repository_id"]] = counts.get(f["repository_id"], 0) + 1
    return max(counts, key=lambda r: (counts[r], r))


def order_key(obj: dict[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(obj["updated_at"]), obj["id"]


def test_every_list_pages_to_exactly_the_truth_in_updated_at_order(sim: Simulator) -> None:
    truth = sim.truth()
    with client(sim) as c:
        repos = walk(c, "/repositories", limit=3)
        assert repos == sorted(truth["repositories"], key=order_key)
        for kind in ("scans", "findings", "fixes"):
            served = []
            for repo in repos:
                page = walk(c, f"/repositories/{repo['id']}/{kind}", limit=100)
                assert page == sorted(page, key=order_key)
                assert all(item["repository_id"] == repo["id"] for item in page)
                served += page
            assert sorted(served, key=lambda o: o["id"]) == sorted(truth[kind], key=lambda o: o["id"])
        assert walk(c, "/webhooks") == sorted(truth["webhooks"], key=order_key)


def test_default_limit_is_25_and_limit_is_bounded(sim: Simulator) -> None:
    repo_id = busiest_repo(sim.truth())
    with client(sim) as c:
        first = c.get(f"/repositories/{repo_id}/findings").json()
        assert len(first["data"]) == 25 and first["pagination"]["has_more"] is True
        for bad in ("0", "101", "ten"):
            r = c.get(f"/repositories/{repo_id}/scans", params={"limit": bad})
            assert r.status_code == 400
            assert r.json()["error"]["code"] == "bad_request"
            assert r.json()["error"]["request_id"].startswith("req_")


def test_an_item_updated_mid_walk_is_never_skipped() -> None:
    with Simulator(small(seed=3)) as sim, client(sim) as c:
        repo_id = busiest_repo(sim.truth())
        findings = [f for f in sim.truth()["findings"] if f["repository_id"] == repo_id]
        assert len(findings) > 30
        path = f"/repositories/{repo_id}/findings"
        first = c.get(path, params={"limit": 10}).json()
        seen = [f["id"] for f in first["data"]]
        cursor = first["pagination"]["next_cursor"]
        ahead = sorted(findings, key=order_key)[20]["id"]  # not read yet: it moves behind the cursor's end
        sim.update("findings", ahead, severity="critical")
        sim.update("findings", seen[3], status="dismissed")  # already read: it moves to the end
        while cursor:
            page = c.get(path, params={"limit": 10, "cursor": cursor}).json()
            seen += [f["id"] for f in page["data"]]
            cursor = page["pagination"]["next_cursor"]
        assert set(seen) == {f["id"] for f in findings}
        assert seen.count(seen[3]) == 2  # read again at its new place: twice, never zero times
        assert ahead in seen
        served = {f["id"]: f for f in walk(c, path, limit=100)}
        assert served[ahead]["severity"] == "critical"
        assert order_key(served[ahead]) > max(order_key(f) for f in findings)


def test_updated_since_returns_only_items_updated_at_or_after_it(sim: Simulator) -> None:
    findings = sorted(sim.truth()["findings"], key=order_key)
    pivot = findings[len(findings) // 2]
    repo_id = pivot["repository_id"]
    expected = {
        f["id"] for f in findings if f["repository_id"] == repo_id and order_key(f)[0] >= order_key(pivot)[0]
    }
    with client(sim) as c:
        got = walk(c, f"/repositories/{repo_id}/findings", limit=50, updated_since=pivot["updated_at"])
        assert {f["id"] for f in got} == expected
        bad = c.get(f"/repositories/{repo_id}/findings", params={"updated_since": "last tuesday"})
        assert bad.status_code == 400 and "updated_since" in bad.json()["error"]["message"]


def test_ignore_updated_since_answers_with_everything() -> None:
    with Simulator(small(ignore_updated_since=True)) as sim, client(sim) as c:
        assert len(walk(c, "/repositories", updated_since="2100-01-01T00:00:00Z")) == 4


def test_bad_cursor_unknown_ids_and_missing_token_get_the_documented_errors(sim: Simulator) -> None:
    with client(sim) as c:
        forged = base64.urlsafe_b64encode(b'[1,"repo_x","000000000000"]').decode()
        for cursor in ("garbage", "eyJ4IjoxfQ", forged, ""):
            r = c.get("/repositories", params={"cursor": cursor})
            if cursor:
                assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
        for path in (
            "/repositories/repo_nope",
            "/repositories/repo_nope/findings",
            "/fixes/fix_nope",
            "/findings/f_nope",
        ):
            r = c.get(path)
            assert r.status_code == 404, path
            assert r.json()["error"]["code"] == "not_found"
            assert r.json()["error"]["request_id"]
    r = httpx.get(f"{sim.base_url}/repositories")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = httpx.get(f"{sim.base_url}/repositories", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "wrong" not in r.text


def test_a_repository_token_sees_its_repository_only(sim: Simulator) -> None:
    mine, other = list(sim.repo_tokens)[:2]
    with client(sim, sim.repo_tokens[mine]) as c:
        assert [r["id"] for r in walk(c, "/repositories")] == [mine]
        assert c.get(f"/repositories/{mine}/findings").status_code == 200
        for path in (f"/repositories/{other}", f"/repositories/{other}/scans", "/webhooks"):
            r = c.get(path)
            assert r.status_code == 403, path
            assert r.json()["error"]["code"] == "forbidden"
        other_fix = next((f for f in sim.truth()["fixes"] if f["repository_id"] == other), None)
        if other_fix:
            assert c.get(f"/fixes/{other_fix['id']}").status_code == 403


def test_the_bucket_admits_its_burst_then_answers_429_with_retry_after() -> None:
    with Simulator(small(requests_per_minute=1, burst=3)) as sim, client(sim) as c:
        assert [c.get("/repositories").status_code for _ in range(3)] == [200, 200, 200]
        refused = [c.get("/repositories") for _ in range(3)]
        for r in refused:
            assert r.status_code == 429
            assert r.json()["error"]["code"] == "rate_limited"
            assert r.json()["error"]["request_id"]
            # One token a minute: the next one is most of a minute away, and a 429 costs nothing.
            assert 50 <= int(r.headers["Retry-After"]) <= 60
        # A second token has a bucket of its own.
        with client(sim, next(iter(sim.repo_tokens.values()))) as c2:
            assert c2.get("/repositories").status_code == 200
        assert sim.stats()["rate_limited"] == 3
        sim.set_rate_limit(None)
        assert c.get("/repositories").status_code == 200


def test_token_bucket_refills_at_its_rate() -> None:
    from simulator.ratelimit import TokenBucket

    clock = [0.0]
    bucket = TokenBucket(requests_per_minute=120, burst=4, clock=lambda: clock[0])  # 2 tokens a second
    assert [bucket.take() for _ in range(5)] == [0, 0, 0, 0, 1]
    clock[0] += 0.25
    assert bucket.take() == 1  # half a token: wait a (rounded-up) second; refusals cost nothing
    clock[0] += 0.25
    assert bucket.take() == 0 and bucket.take() == 1
    clock[0] += 60
    assert [bucket.take() for _ in range(5)] == [0, 0, 0, 0, 1]  # never more than the burst


def test_hal_envelope_pages_to_the_end() -> None:
    with Simulator(small(envelope="hal")) as sim, client(sim) as c:
        repo_id = busiest_repo(sim.truth())
        expected = [f for f in sim.truth()["findings"] if f["repository_id"] == repo_id]
        items: list[dict[str, Any]] = []
        href: str | None = f"/api/v1/repositories/{repo_id}/findings?limit=7"
        origin = sim.base_url.removesuffix("/api/v1")  # type: ignore[union-attr]
        pages = 0
        while href:
            body = c.get(origin + href).json()
            assert body["total"] == len(expected)
            assert body["page"] == pages + 1
            items += body["_embedded"]["items"]
            href = body["_links"].get("next", {}).get("href")
            pages += 1
        assert sorted(f["id"] for f in items) == sorted(f["id"] for f in expected)
        assert pages == -(-len(expected) // 7)


def test_advance_moves_time_and_bumps_updated_at() -> None:
    with Simulator(small()) as sim, client(sim) as c:
        before = {k: {o["id"]: o for o in v} for k, v in sim.truth().items()}
        result = c.post("/_sim/advance", json={"hours": 72}).json()
        assert sim.now == datetime(2026, 12, 1, 12, tzinfo=UTC)
        after = {k: {o["id"]: o for o in v} for k, v in sim.truth().items()}
        assert result["created"]["scans"] > 0 and result["created"]["findings"] > 0
        assert result["created"]["scans"] == len(after["scans"].keys() - before["scans"].keys())
        changed = 0
        for kind in ("repositories", "scans", "findings", "fixes"):
            for obj_id, old in before[kind].items():
                new = after[kind][obj_id]
                if {k: v for k, v in new.items() if k != "updated_at"} != {
                    k: v for k, v in old.items() if k != "updated_at"
                }:
                    changed += 1
                    assert order_key(new) > order_key(old), (kind, obj_id)
                else:
                    assert new["updated_at"] == old["updated_at"], (kind, obj_id)
        assert changed > 0
        assert c.post("/_sim/advance", json={"hours": -1}).status_code == 400


def test_same_seed_same_organisation_and_another_seed_another() -> None:
    a, b, other = Simulator(small()), Simulator(small()), Simulator(small(seed=12))
    assert a.truth() == b.truth()
    assert a.truth() != other.truth()
    a.advance(30)
    b.advance(10)
    b.advance(20)
    assert a.truth() == b.truth()


def test_the_organisation_follows_the_lifecycle_rules() -> None:
    truth = Simulator(SimConfig(seed=7, now=NOW)).truth()
    findings = {f["id"]: f for f in truth["findings"]}
    assert 1000 < len(findings) < 10_000
    repos_with_findings = {f["repository_id"] for f in findings.values()}
    assert len(repos_with_findings) < len(truth["repositories"])  # one clean repository
    for f in findings.values():
        assert (f["classification"] is None) == (f["triage_status"] == "pending") == (f["triaged_at"] is None)
        if f["status"] == "dismissed":
            assert f["classification"] in ("FALSE_POSITIVE", "WONT_FIX")
            assert f["resolved_at"] == f["triaged_at"]
        elif f["status"] == "open":
            assert f["resolved_at"] is None
        else:
            assert f["resolved_at"] is not None
    merged = [x for x in truth["fixes"] if x["status"] == "merged"]
    decided = [x for x in truth["fixes"] if x["status"] in ("merged", "closed")]
    assert 0.65 < len(merged) / len(decided) < 0.87
    assert any(len(x["finding_ids"]) > 1 for x in truth["fixes"])
    for fix in truth["fixes"]:
        for fid in fix["finding_ids"]:
            assert findings[fid]["repository_id"] == fix["repository_id"]
            assert findings[fid]["classification"] == "TRUE_POSITIVE"
            if fix["status"] == "merged" and findings[fid]["status"] == "fixed":
                assert findings[fid]["resolved_at"] == fix["merged_at"]
    merged_at = {fid: x["merged_at"] for x in merged for fid in x["finding_ids"]}
    scan_ends = {(s["repository_id"], s["completed_at"]) for s in truth["scans"] if s["state"] == "completed"}
    for f in findings.values():
        if f["status"] == "fixed" and f["resolved_at"] != merged_at.get(f["id"]):
            assert (f["repository_id"], f["resolved_at"]) in scan_ends  # a later scan no longer reported it
    stamps = [f["triaged_at"] for f in findings.values() if f["triaged_at"]] + [
        f["detected_at"] for f in findings.values()
    ]
    assert any("." in s for s in stamps) and any("." not in s for s in stamps)
    assert all(s.endswith("Z") for s in stamps)


def test_pixee_etl_simulate_serves_and_prints_its_url_and_tokens() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "simulate",
            "--seed",
            "7",
            "--json",
            "--repositories",
            "3",
            "--days",
            "10",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        r = httpx.get(
            f"{info['base_url']}/repositories",
            headers={"Authorization": f"Bearer {info['org_token']}"},
            timeout=10,
        )
        assert r.status_code == 200
        assert {repo["id"] for repo in r.json()["data"]} == set(info["repo_tokens"])
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
