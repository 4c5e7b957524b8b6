"""The platform flavour of the simulator serves docs/platform.md: HAL paging, filters, expiry, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
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


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


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
            if rel == "patches":
                assert [(-ts(p["created_at"]), p["id"]) for p in items] == sorted(
                    (-ts(p["created_at"]), p["id"]) for p in items
                )
            elif rel != "scans":
                assert [i["id"] for i in items] == sorted(i["id"] for i in items), rel
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
        auth = {"Authorization": f"Bearer {info['api_key']}"}
        truth = httpx.get(info["base_url"] + "/_sim/truth", headers=auth, timeout=10).json()
        assert len(truth["repositories"]) == 3 and truth["preferences"][0]["org_id"] == "default-organization"
        stats = httpx.get(info["base_url"] + "/_sim/stats", headers=auth, timeout=10).json()
        assert stats["by_kind"]["root"] == 1
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def test_filters_narrow_each_list_as_documented(sim: Simulator) -> None:
    truth = sim.truth()
    with client(sim) as c:
        links = root(sim, c)
        repo = next(
            r for r in truth["repositories"] if any(s["repository_id"] == r["id"] for s in truth["scans"])
        )
        scans, _ = walk(c, links["scans"], repo=repo["id"])
        assert scans and {s["repository_id"] for s in scans} == {repo["id"]}
        assert len(scans) == sum(1 for s in truth["scans"] if s["repository_id"] == repo["id"])
        tool = scans[0]["detector"]
        by_tool, _ = walk(c, links["scans"], tool=tool)
        assert [strip_links(s) for s in by_tool] == [s for s in truth["scans"] if s["detector"] == tool]
        branch = next(s["branch"] for s in truth["scans"] if s.get("branch", "").startswith("feature/"))
        on_branch, _ = walk(c, links["scans"], branch=branch)
        assert on_branch and all(s["branch"] == branch for s in on_branch)
        named, _ = walk(c, links["repositories"], name=repo["name"][:4].upper())
        assert repo["id"] in {r["id"] for r in named}

        stamps = sorted({a["updated_at"] for a in truth["analyses"]})
        lo, hi = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]
        window, _ = walk(
            c, links["analyses"], **{"updated-after": lo, "updated-before": hi, "page-size": 100}
        )
        assert [strip_links(a) for a in window] == [
            a for a in truth["analyses"] if lo <= a["updated_at"] <= hi
        ]
        assert any(a["updated_at"] == lo for a in window) and any(a["updated_at"] == hi for a in window)
        # the same instant written in another zone (the + travels unencoded by httpx as %2B)
        offset = datetime.fromisoformat(lo).astimezone(timezone(timedelta(hours=1)))
        same, _ = walk(c, links["analyses"], **{"updated-after": offset.isoformat(), "page-size": 100})
        assert len(same) == sum(1 for a in truth["analyses"] if a["updated_at"] >= lo)
        scan_id = truth["analyses"][0]["scan_id"]
        of_scan, _ = walk(c, links["analyses"], scan=scan_id)
        assert {a["scan_id"] for a in of_scan} == {scan_id} and len(of_scan) >= 2
        done, _ = walk(c, links["analyses"], state="completed", repo=repo["id"], **{"page-size": 100})
        assert done and all(a["state"] == "completed" for a in done)
        bad = c.get(links["analyses"], params={"updated-after": "2026-11-20T00:00:00"})
        assert bad.status_code == 400 and "updated-after" in bad.json()["detail"]

        created = sorted(p["created_at"] for p in truth["patches"])
        mid = created[len(created) // 2]
        newer, _ = walk(c, links["patches"], **{"created-after": mid, "page-size": 100})
        assert [strip_links(p) for p in newer] == [p for p in truth["patches"] if p["created_at"] >= mid]
        older, _ = walk(c, links["patches"], **{"created-before": mid, "page-size": 100})
        assert len(older) + len(newer) == len(truth["patches"]) + created.count(mid)
        patch = truth["patches"][0]
        mine, _ = walk(c, links["patches"], repository=patch["repository_id"], **{"page-size": 100})
        assert mine and {p["repository_id"] for p in mine} == {patch["repository_id"]}
        by_scan, _ = walk(c, links["patches"], scan=patch["scan_id"])
        assert patch["id"] in {p["id"] for p in by_scan}
        github, _ = walk(c, links["integrations"], type="github")
        assert [i["id"] for i in github] == ["github-default"]


def test_one_patch_reads_by_its_self_link_and_an_unknown_one_is_404(sim: Simulator) -> None:
    with client(sim) as c:
        links = root(sim, c)
        first = c.get(links["patches"]).json()["_embedded"]["items"][0]
        one = c.get(first["_links"]["self"]["href"])
        assert one.status_code == 200 and one.json() == first
        missing = c.get(links["patches"] + "/00000000-0000-4000-8000-000000000000")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["instance"] == "/api/v1/patches/00000000-0000-4000-8000-000000000000"


def test_scans_expire_seven_days_after_import_with_their_findings_and_analyses() -> None:
    with Simulator(cfg(repositories=4)) as s, client(s) as c:
        links = root(s, c)
        scans, _ = walk(c, links["scans"], **{"page-size": 100})
        oldest = scans[-1]
        expires = datetime.fromisoformat(oldest["expires_at"])
        assert expires - datetime.fromisoformat(oldest["imported_at"]) == timedelta(days=7)
        assert c.get(oldest["_links"]["findings"]["href"]).status_code == 200
        analyses = {a["id"] for a in walk(c, links["analyses"], scan=oldest["id"])[0]}
        assert analyses
        s.advance((expires - s.now).total_seconds() / 3600)
        for href in (oldest["_links"]["self"]["href"], oldest["_links"]["findings"]["href"]):
            gone = c.get(href)
            assert gone.status_code == 404, href
            assert gone.headers["content-type"] == "application/problem+json"
            assert "expire" in gone.json()["detail"]
        listed = {x["id"] for x in walk(c, links["scans"], **{"page-size": 100})[0]}
        assert oldest["id"] not in listed
        assert not analyses & {a["id"] for a in walk(c, links["analyses"], **{"page-size": 100})[0]}
        assert oldest["id"] not in {f["scan_id"] for f in s.truth()["findings"]}
        # patches, repositories and workflows outlive the scans they came from
        patches = s.truth()["patches"]
        assert any(p["scan_id"] not in listed for p in patches)


def test_429_is_problem_json_with_retry_after() -> None:
    with Simulator(cfg(repositories=2, requests_per_minute=60, burst=2)) as s, client(s) as c:
        statuses = [c.get(s.base_url or "") for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    limited = statuses[-1]
    assert limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["status"] == 429 and limited.json()["title"] == "Too Many Requests"


def test_injected_faults_use_the_platform_error_shape(sim: Simulator) -> None:
    with client(sim) as c:
        links = root(sim, c)
        sim.inject("http_500", path_prefix="/scans", count=1)
        sim.inject("http_404", path_prefix="/patches", count=1)
        sim.inject("truncated_json", path_prefix="/analyses", count=1)
        r = c.get(links["scans"])
        assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
        assert c.get(links["scans"]).status_code == 200
        assert c.get(links["patches"]).json()["status"] == 404
        with pytest.raises(json.JSONDecodeError):
            json.loads(c.get(links["analyses"]).text)
        assert c.get(links["analyses"]).status_code == 200


def test_requests_are_counted_per_kind() -> None:
    with Simulator(cfg(repositories=3, extra_relation="sbom-exports")) as s, client(s) as c:
        s.reset_stats()
        links = root(s, c)
        scans, pages = walk(c, links["scans"], **{"page-size": 10})
        walk(c, scans[0]["_links"]["findings"]["href"], **{"page-size": 100})
        walk(c, scans[1]["_links"]["findings"]["href"], **{"page-size": 100})
        patches, patch_pages = walk(c, links["patches"], **{"page-size": 100})
        c.get(patches[0]["_links"]["self"]["href"])
        for rel in (
            "analyses",
            "integrations",
            "scales",
            "system-status",
            "preferences",
            "users-me",
            "sbom-exports",
        ):
            c.get(links[rel])
        repo = walk(c, links["repositories"])[0][0]
        c.get(repo["_links"]["workflows"]["href"])
        with client(s, "pxk_bad") as bad:
            bad.get(links["scans"])
        by_kind = s.stats()["by_kind"]  # type: ignore[call-arg]
    assert by_kind == {
        "root": 1,
        "repositories": 1,
        "scans": pages + 1,
        "findings": 2,
        "analyses": 1,
        "patches": patch_pages,
        "patch": 1,
        "workflows": 1,
        "integrations": 1,
        "scales": 1,
        "system-status": 1,
        "preferences": 1,
        "users-me": 1,
        "unknown": 1,
    }
    assert pages == -(-len(scans) // 10) > 1


def test_relative_hrefs_knob_links_by_path_and_still_pages() -> None:
    with Simulator(cfg(repositories=3, relative_hrefs=True)) as s, client(s) as c:
        links = root(s, c)
        assert links["scans"] == "/api/v1/scans"
        origin = (s.base_url or "")[: -len("/api/v1")]
        items, pages = [], 0
        url: str | None = links["scans"] + "?page-size=5"
        while url:
            assert url.startswith("/api/v1/")
            body = c.get(origin + url).json()
            items += body["_embedded"]["items"]
            pages += 1
            url = body["_links"].get("next", {}).get("href")
        assert [strip_links(i) for i in items] == s.truth()["scans"] and pages > 1
        assert items[0]["_links"]["findings"]["href"].startswith("/api/v1/scans/")


def test_ignore_time_filters_knob_answers_everything() -> None:
    with Simulator(cfg(repositories=3, ignore_time_filters=True)) as s, client(s) as c:
        links = root(s, c)
        late = (s.now + timedelta(days=1)).isoformat()
        analyses, _ = walk(c, links["analyses"], **{"updated-after": late, "page-size": 100})
        patches, _ = walk(c, links["patches"], **{"created-after": late, "page-size": 100})
        truth = s.truth()
    assert len(analyses) == len(truth["analyses"]) > 0
    assert len(patches) == len(truth["patches"]) > 0


def test_same_seed_same_organisation_whatever_the_steps_of_time() -> None:
    a, b, other = (
        Simulator(cfg(repositories=5)),
        Simulator(cfg(repositories=5)),
        Simulator(cfg(seed=4, repositories=5)),
    )
    assert a.truth() == b.truth()
    assert a.truth()["repositories"] != other.truth()["repositories"]
    a.advance(48)
    b.advance(12)
    b.advance(36)
    assert a.truth() == b.truth()


def test_delete_removes_an_object_and_a_repository_takes_its_scans_and_workflows(sim: Simulator) -> None:
    with Simulator(cfg(repositories=4)) as s, client(s) as c:
        truth = s.truth()
        scan = truth["scans"][0]
        s.delete("scans", scan["id"])
        assert c.get(f"{s.base_url}/scans/{scan['id']}").status_code == 404
        repo_id = truth["patches"][0]["repository_id"]
        s.delete("repositories", repo_id)
        after = s.truth()
        assert repo_id not in {r["id"] for r in after["repositories"]}
        assert repo_id not in {x["repository_id"] for x in after["scans"] + after["workflows"]}
        assert [p for p in after["patches"] if p["repository_id"] == repo_id]  # patches stay
        assert c.get(f"{s.base_url}/repositories/{repo_id}").status_code == 404
        with pytest.raises(ValueError, match="kind"):
            s.delete("findings", "x")


def test_ten_days_over_http_show_every_lifecycle_case() -> None:
    """A client polling every six hours for ten simulated days (default organisation) sees scans
    expire, a finding fixed then listed again, triage dismiss a finding and call one inconclusive,
    patches merged and closed (updated_at moving, created_at not), a merged patch's finding gone
    from its stream's next scan, a feature-branch scan, an Info finding, analyses moving."""
    with Simulator(SimConfig(api="platform", now=NOW)) as s, client(s) as c:
        links = root(s, c)
        defaults = {r["id"]: r["default_branch"] for r in walk(c, links["repositories"])[0]}
        scans: dict[str, dict[str, Any]] = {}
        listing: dict[str, list[str]] = {}  # scan id -> its finding ids
        patches: dict[str, list[dict[str, Any]]] = {}
        analysis_states: dict[str, list[tuple[str, str]]] = {}
        suggested: set[str] = set()
        labels: set[str] = set()
        expired: list[str] = []
        for _ in range(41):
            listed = {x["id"]: x for x in walk(c, links["scans"], **{"page-size": 100})[0]}
            for sid in list(scans):
                if sid not in listed and sid not in expired:
                    assert c.get(scans[sid]["_links"]["findings"]["href"]).status_code == 404
                    expired.append(sid)
            for sid, scan in listed.items():
                age = s.now - datetime.fromisoformat(scan["imported_at"])
                if sid not in listing and age >= timedelta(hours=12):  # its analyses have finished
                    found = walk(c, scan["_links"]["findings"]["href"], **{"page-size": 100})[0]
                    listing[sid] = [f["id"] for f in found]
                    for f in found:
                        labels.add(f["severity"]["label"])
                        for res in f["_embedded"]["representative-results"]["_embedded"]["items"]:
                            if res["type"] == "triage":
                                suggested.add(res["suggested"])
                scans.setdefault(sid, scan)
            for p in walk(c, links["patches"], **{"page-size": 100})[0]:
                patches.setdefault(p["id"], []).append(p)
            for a in walk(c, links["analyses"], **{"page-size": 100})[0]:
                analysis_states.setdefault(a["id"], []).append((a["state"], a["updated_at"]))
            s.advance(6)

    assert expired
    assert "Info" in labels and suggested & {"false_positive", "wont_fix"} and "inconclusive" in suggested
    assert any(
        x.get("branch", defaults[x["repository_id"]]) != defaults[x["repository_id"]] for x in scans.values()
    )
    moved = [
        v
        for v in analysis_states.values()
        if v[0][0] in ("queued", "in-progress") and v[-1][0] == "completed"
    ]
    assert moved and all(v[0][1] < v[-1][1] for v in moved)
    decided = {
        v[-1]["merge_state"]: v
        for v in patches.values()
        if v[0]["merge_state"] == "open" and v[-1]["merge_state"] != "open"
    }
    assert set(decided) == {"merged", "closed"}
    for v in decided.values():
        assert v[0]["created_at"] == v[-1]["created_at"] and v[0]["updated_at"] < v[-1]["updated_at"]

    # per stream (repository, detector, default branch): the scans in order, and what each lists
    streams: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for x in sorted(scans.values(), key=lambda x: x["imported_at"]):
        if (
            x["id"] in listing
            and x.get("branch", defaults[x["repository_id"]]) == defaults[x["repository_id"]]
        ):
            streams.setdefault((x["repository_id"], x["detector"]), []).append(x)
    reopened = []
    for seq in streams.values():
        seen = [set(listing[x["id"]]) for x in seq]
        for fid in set().union(*seen):
            marks = "".join("1" if fid in ids else "0" for ids in seen).strip("0")
            if "0" in marks:
                reopened.append(fid)
    assert reopened
    merged = [v[-1] for v in patches.values() if v[-1]["merge_state"] == "merged"]
    checked = 0
    for p in merged:
        seq = [
            x for x in streams.get((p["repository_id"], scans.get(p["scan_id"], {}).get("detector", "")), [])
        ]
        after = [x for x in seq if x["imported_at"] > p["updated_at"]]
        if after:
            assert p["finding_id"] not in listing[after[0]["id"]]
            checked += 1
    assert checked


def test_200_repositories_generate_in_seconds_and_pages_answer_fast() -> None:
    import time

    started = time.perf_counter()
    big = Simulator(cfg(repositories=200))
    generated = time.perf_counter() - started
    assert generated < 8, f"generation took {generated:.1f} s"
    with big, client(big) as c:
        links = root(big, c)
        started = time.perf_counter()
        _, pages = walk(c, links["analyses"], **{"page-size": 100})
        _, more = walk(c, links["scans"], **{"page-size": 100})
        per_page = (time.perf_counter() - started) / (pages + more)
    assert pages > 50 and per_page < 0.1, f"{per_page * 1000:.0f} ms a page"


@pytest.mark.parametrize("seed", [7, 1, 2])
def test_any_ten_days_hold_every_lifecycle_case(seed: int) -> None:
    s = Simulator(SimConfig(api="platform", seed=seed, now=NOW))
    start = s.now - timedelta(days=30)
    for day in range(0, 21, 4):
        lo = start + timedelta(days=day)
        cases = s.cases(lo, lo + timedelta(days=10))  # type: ignore[attr-defined]
        assert [k for k, v in cases.items() if not v] == [], f"days {day}-{day + 10}"


def test_triage_results_show_on_a_scans_findings_once_its_triage_completes() -> None:
    with Simulator(cfg(repositories=6)) as s, client(s) as c:
        links = root(s, c)
        fresh = None
        for scan in walk(c, links["scans"], **{"page-size": 100})[0]:
            states = {a["type"]: a for a in walk(c, scan["_links"]["analyses"]["href"])[0]}
            if states.get("triage", {}).get("state") in ("queued", "in-progress"):
                fresh = scan
                break
        assert fresh is not None
        before = walk(c, fresh["_links"]["findings"]["href"], **{"page-size": 100})[0]
        assert before
        for f in before:
            kinds = [r["type"] for r in f["_embedded"]["representative-results"]["_embedded"]["items"]]
            assert "triage" not in kinds
        s.advance(12)
        triage = next(a for a in walk(c, fresh["_links"]["analyses"]["href"])[0] if a["type"] == "triage")
        assert (
            triage["state"] in ("completed", "failed")
            and triage["updated_at"] > states["triage"]["updated_at"]
        )
        assert (triage["completed_at"] is not None) == (triage["state"] == "completed")
        after = walk(c, fresh["_links"]["findings"]["href"], **{"page-size": 100})[0]
        assert [f["id"] for f in after] == [f["id"] for f in before]
        for f in after:
            results = {r["type"]: r for r in f["_embedded"]["representative-results"]["_embedded"]["items"]}
            assert results["triage"]["analyzed_at"] == triage["updated_at"]
            assert results["triage"]["status"] == (
                "completed" if triage["state"] == "completed" else "failed"
            )
            assert set(results["triage"]["outcome"]) == {"summary", "reason"}


def test_a_repository_added_now_is_listed_at_once_and_scanned_from_the_next_day() -> None:
    with Simulator(cfg(repositories=3)) as s, client(s) as c:
        links = root(s, c)
        added = httpx.post(
            f"{s.base_url}/_sim/repositories",
            headers={"Authorization": f"Bearer {s.api_key}"},  # type: ignore[attr-defined]
        ).json()
        repos = {r["id"]: r for r in walk(c, links["repositories"])[0]}
        assert strip_links(repos[added["id"]]) == added and len(repos) == 4
        assert walk(c, repos[added["id"]]["_links"]["workflows"]["href"])[0]
        assert walk(c, links["scans"], repo=added["id"])[0] == []
        s.advance(48)
        scans = walk(c, links["scans"], repo=added["id"])[0]
        assert scans and all(ts(x["imported_at"]) > ts(added["created_at"]) for x in scans)
        assert walk(c, scans[0]["_links"]["findings"]["href"])[0]


def test_the_preferences_document_is_edited_now_and_then() -> None:
    with Simulator(cfg(repositories=2)) as s, client(s) as c:
        href = root(s, c)["preferences"]
        first = c.get(href).json()
        s.advance(9 * 24)
        second = c.get(href).json()
    assert first["org_id"] == second["org_id"] == "default-organization"
    assert second["updated_at"] > first["updated_at"] and second["content"] != first["content"]


def test_the_error_rate_knob_answers_500_problem_json_or_a_gateway_503() -> None:
    with Simulator(cfg(repositories=2, error_rate=1.0)) as s, client(s) as c:
        answers = [c.get(s.base_url or "") for _ in range(12)]
    assert {r.status_code for r in answers} == {500, 503}
    assert all(
        r.headers["content-type"] == "application/problem+json" for r in answers if r.status_code == 500
    )
    assert all(r.headers["content-type"].startswith("text/html") for r in answers if r.status_code == 503)


def test_every_items_self_link_reads_that_item(sim: Simulator) -> None:
    with client(sim) as c:
        links = root(sim, c)
        firsts = []
        for rel in (
            "repositories",
            "scans",
            "analyses",
            "patches",
            "integrations",
            "scales",
            "system-status",
            "sbom-exports",
        ):
            firsts.append(c.get(links[rel]).json()["_embedded"]["items"][0])
        for repo in walk(c, links["repositories"])[0]:
            flows = c.get(repo["_links"]["workflows"]["href"]).json()["_embedded"]["items"]
            if flows:
                firsts.append(flows[0])
                break
        firsts.append(c.get(firsts[1]["_links"]["findings"]["href"]).json()["_embedded"]["items"][0])
        for item in firsts:
            one = c.get(item["_links"]["self"]["href"])
            assert one.status_code == 200 and one.json() == item, item["_links"]["self"]["href"]
        for doc in ("preferences", "users-me"):
            body = c.get(links[doc]).json()
            assert c.get(body["_links"]["self"]["href"]).json() == body


def test_truth_still_equals_what_is_served_after_time_moves_and_a_patch_is_deleted() -> None:
    with Simulator(cfg(repositories=4)) as s, client(s) as c:
        s.advance(31.5)
        gone = s.truth()["patches"][0]["id"]
        s.delete("patches", gone)
        truth = s.truth()
        links = root(s, c)
        for rel in ("repositories", "scans", "analyses", "patches"):
            assert [strip_links(i) for i in walk(c, links[rel], **{"page-size": 100})[0]] == truth[rel], rel
        findings = [
            {**strip_links(f), "scan_id": x["id"]}
            for x in walk(c, links["scans"], **{"page-size": 100})[0]
            for f in walk(c, x["_links"]["findings"]["href"], **{"page-size": 100})[0]
        ]
        assert findings == truth["findings"]
        assert c.get(f"{links['patches']}/{gone}").status_code == 404
        assert gone not in {p["id"] for p in truth["patches"]}
