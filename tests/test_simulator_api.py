"""The simulator's writes, details, SARIF, faults and knobs: what the connector's tests lean on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from simulator import SimConfig, Simulator

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def small(**kw: Any) -> SimConfig:
    base: dict[str, Any] = {"seed": 5, "repositories": 3, "days": 20, "now": NOW}
    base.update(kw)
    return SimConfig(**base)


@pytest.fixture()
def sim() -> Iterator[Simulator]:
    with Simulator(small()) as s:
        yield s


@pytest.fixture()
def c(sim: Simulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim.base_url or "", headers={"Authorization": f"Bearer {sim.org_token}"}
    ) as client:
        yield client


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def java_repo(sim: Simulator) -> dict[str, Any]:
    return next(r for r in sim.truth()["repositories"] if r["language"] == "java")


def sarif_doc(results: int = 2) -> dict[str, Any]:
    return {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [
            {
                "tool": {"driver": {"name": "CodeQL", "rules": [{"id": "java/sql-injection"}]}},
                "results": [
                    {
                        "ruleId": "java/sql-injection",
                        "level": "error",
                        "message": {"text": "Query built from user-controlled sources"},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": f"src/main/java/com/acme/Dao{i}.java"},
                                    "region": {"startLine": 10 + i},
                                }
                            }
                        ],
                    }
                    for i in range(results)
                ],
            }
        ],
    }


def test_fix_and_finding_details_add_their_fields(sim: Simulator, c: httpx.Client) -> None:
    truth = sim.truth()
    details = sim.detail_truth()
    fix = truth["fixes"][0]
    body = c.get(f"/fixes/{fix['id']}").json()
    assert {k: body[k] for k in fix} == fix
    assert body["diff"].startswith("--- a/") and "+++ b/" in body["diff"]
    assert body["rationale"]
    assert set(body["quality"]) == {"safety", "effectiveness", "cleanliness"}
    assert all(0 <= v <= 100 for v in body["quality"].values())
    assert next(d for d in details["fix_details"] if d["id"] == fix["id"]) == {
        k: body[k] for k in ("id", "diff", "rationale", "quality")
    }
    triaged = next(f for f in truth["findings"] if f["classification"])
    assert c.get(f"/findings/{triaged['id']}").json()["justification"]
    pending = next((f for f in truth["findings"] if f["classification"] is None), None)
    if pending:
        assert c.get(f"/findings/{pending['id']}").json()["justification"] is None
    assert len(details["finding_details"]) == len(truth["findings"])


def test_get_and_patch_a_repository(sim: Simulator, c: httpx.Client) -> None:
    repo = sim.truth()["repositories"][0]
    assert c.get(f"/repositories/{repo['id']}").json() == repo
    r = c.patch(f"/repositories/{repo['id']}", json={"settings": {"max_open_prs": 3}, "enabled": False})
    assert r.status_code == 200
    changed = r.json()
    assert changed["settings"]["max_open_prs"] == 3 and changed["enabled"] is False
    assert changed["settings"]["auto_fix"] == repo["settings"]["auto_fix"]
    assert ts(changed["updated_at"]) > ts(repo["updated_at"])
    listed = c.get("/repositories", params={"updated_since": changed["updated_at"]}).json()["data"]
    assert [x["id"] for x in listed] == [repo["id"]]
    bad = c.patch(f"/repositories/{repo['id']}", json={"language": "go"})
    assert bad.status_code == 400 and "'language'" in bad.json()["error"]["message"]
    assert c.patch(f"/repositories/{repo['id']}", content=b"{nope").status_code == 400


def test_post_scan_queues_a_scan_that_completes_as_time_moves(sim: Simulator, c: httpx.Client) -> None:
    repo = java_repo(sim)
    r = c.post(f"/repositories/{repo['id']}/scans")
    assert r.status_code == 202
    scan = r.json()
    assert scan["state"] == "queued" and scan["trigger"] == "api" and scan["completed_at"] is None
    sim.advance(1)
    after = next(s for s in sim.truth()["scans"] if s["id"] == scan["id"])
    assert after["state"] == "completed" and ts(after["updated_at"]) > ts(scan["updated_at"])
    repo_after = next(x for x in sim.truth()["repositories"] if x["id"] == repo["id"])
    assert ts(repo_after["last_scan_at"]) >= ts(after["completed_at"])


def test_sarif_upload_becomes_a_scan_with_findings(sim: Simulator, c: httpx.Client) -> None:
    repo = java_repo(sim)
    r = c.post(f"/repositories/{repo['id']}/sarif", json=sarif_doc(3))
    assert r.status_code == 202
    scan_id = r.json()["scan_id"]
    scan = next(s for s in sim.truth()["scans"] if s["id"] == scan_id)
    assert (scan["trigger"], scan["detection_tool"], scan["findings_count"]) == ("sarif_upload", "codeql", 3)
    found = [f for f in sim.truth()["findings"] if f["scan_id"] == scan_id]
    assert [f["rule_id"] for f in found] == ["java/sql-injection"] * 3
    assert {f["severity"] for f in found} == {"high"}
    assert {f["path"] for f in found} == {f"src/main/java/com/acme/Dao{i}.java" for i in range(3)}


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.pop("runs"), "runs"),
        (lambda d: d["runs"][0].pop("tool"), "runs[0].tool"),
        (lambda d: d["runs"][0]["tool"]["driver"].pop("name"), "runs[0].tool.driver.name"),
        (lambda d: d["runs"][0]["results"][1].pop("message"), "runs[0].results[1].message"),
        (lambda d: d.update(version="2.0.0"), "2.1.0"),
    ],
)
def test_sarif_missing_a_required_field_gets_a_400_naming_it(
    sim: Simulator, c: httpx.Client, mutate: Any, named: str
) -> None:
    doc = sarif_doc()
    mutate(doc)
    r = c.post(f"/repositories/{java_repo(sim)['id']}/sarif", json=doc)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_request"
    assert named in r.json()["error"]["message"]


def test_sarif_over_10_mb_gets_413(sim: Simulator, c: httpx.Client) -> None:
    doc = sarif_doc()
    doc["runs"][0]["properties"] = {"padding": "x" * (10 * 1024 * 1024)}
    r = c.post(f"/repositories/{java_repo(sim)['id']}/sarif", content=json.dumps(doc).encode())
    assert r.status_code == 413 and r.json()["error"]["request_id"]
    assert c.post(f"/repositories/{java_repo(sim)['id']}/sarif", content=b"not json").status_code == 400


def test_webhooks_are_created_listed_and_deleted(sim: Simulator, c: httpx.Client) -> None:
    r = c.post(
        "/webhooks", json={"url": "https://example.com/hook", "events": ["pr.merged"], "secret": "s3cr3t"}
    )
    assert r.status_code == 201
    hook = r.json()
    # The creation answer is the only one that ever carries the secret (api-contract "Subscriptions").
    assert hook.pop("secret") == "s3cr3t"
    assert hook in c.get("/webhooks", params={"limit": 100}).json()["data"]
    assert "s3cr3t" not in c.get("/webhooks", params={"limit": 100}).text
    assert c.delete(f"/webhooks/{hook['id']}").status_code == 204
    assert hook["id"] not in {h["id"] for h in sim.truth()["webhooks"]}
    assert c.delete(f"/webhooks/{hook['id']}").status_code == 404
    assert c.post("/webhooks", json={"url": "http://example.com/hook"}).status_code == 400
    assert c.post("/webhooks", json={"url": "https://example.com/h", "events": ["nope"]}).status_code == 400


def test_a_deleted_repository_vanishes_and_its_children_404(sim: Simulator, c: httpx.Client) -> None:
    repo = sim.truth()["repositories"][0]
    sim.delete("repositories", repo["id"])
    assert repo["id"] not in {r["id"] for r in c.get("/repositories").json()["data"]}
    assert c.get(f"/repositories/{repo['id']}/findings").status_code == 404
    assert all(f["repository_id"] != repo["id"] for f in sim.truth()["findings"])


def test_update_can_add_a_field_or_change_its_type(sim: Simulator, c: httpx.Client) -> None:
    finding = sim.truth()["findings"][0]
    changed = sim.update("findings", finding["id"], severity=3, exploitability="high")
    served = c.get(
        f"/repositories/{finding['repository_id']}/findings", params={"updated_since": changed["updated_at"]}
    ).json()["data"]
    assert [f["id"] for f in served] == [finding["id"]]
    assert served[-1]["severity"] == 3 and served[-1]["exploitability"] == "high"


@pytest.mark.parametrize(
    "fault",
    [
        "http_500",
        "http_503_html",
        "http_401",
        "http_403",
        "truncated_json",
        "non_json_200",
        "missing_data",
        "reset",
        "retry_after:7",
    ],
)
def test_injected_faults_hit_the_next_matching_request_only(
    sim: Simulator, c: httpx.Client, fault: str
) -> None:
    repo_id = sim.truth()["repositories"][0]["id"]
    sim.inject(fault, path_prefix=f"/repositories/{repo_id}/findings", count=1)
    assert c.get("/repositories").status_code == 200  # another path: untouched
    path = f"/repositories/{repo_id}/findings"
    if fault == "reset":
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            c.get(path)
    else:
        r = c.get(path)
        if fault == "http_503_html":
            assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
        elif fault.startswith("http_"):
            assert r.status_code == int(fault[5:8])
            assert r.json()["error"]["request_id"]
        elif fault == "truncated_json":
            assert r.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(r.text)
        elif fault == "non_json_200":
            assert r.status_code == 200 and r.text.lstrip().startswith("<")
        elif fault == "missing_data":
            assert r.status_code == 200 and "data" not in r.json() and "pagination" in r.json()
        else:
            assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert c.get(path).status_code == 200  # count=1: the next one is fine


def test_latency_sleeps_concurrently() -> None:
    with Simulator(small(latency_ms=300)) as sim:
        headers = {"Authorization": f"Bearer {sim.org_token}"}
        statuses: list[int] = []

        def call() -> None:
            statuses.append(
                httpx.get(f"{sim.base_url}/repositories", headers=headers, timeout=30).status_code
            )

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200] * 6
        assert sim.stats()["peak_concurrent"] >= 3  # overlapping sleeps, not one after another


def test_error_rate_answers_500s_and_gateway_503s() -> None:
    with (
        Simulator(small(error_rate=0.5)) as sim,
        httpx.Client(base_url=sim.base_url or "", headers={"Authorization": f"Bearer {sim.org_token}"}) as c,
    ):
        responses = [c.get("/repositories") for _ in range(40)]
        codes = {r.status_code for r in responses}
        assert codes == {200, 500, 503}
        assert all(
            r.headers["content-type"].startswith("text/html") for r in responses if r.status_code == 503
        )
        assert all(r.json()["error"]["code"] == "internal_error" for r in responses if r.status_code == 500)
        by_route = sim.stats()["by_route"]["GET /repositories"]
        assert sum(by_route.values()) == 40


def test_control_routes_drive_a_simulator_over_http(sim: Simulator, c: httpx.Client) -> None:
    origin = (sim.base_url or "").removesuffix("/api/v1")
    truth = c.get(f"{origin}/_sim/truth").json()
    assert truth == json.loads(json.dumps(sim.truth()))
    assert c.post(f"{origin}/_sim/rate-limit", json={"requests_per_minute": 1, "burst": 1}).status_code == 200
    assert c.get("/repositories").status_code == 200
    assert c.get("/repositories").status_code == 429
    assert c.post("/_sim/rate-limit", json={"requests_per_minute": None}).status_code == 200
    assert c.post("/_sim/inject", json={"fault": "http_500", "path_prefix": "/webhooks"}).status_code == 200
    assert c.get("/webhooks").status_code == 500
    assert c.post("/_sim/inject", json={"fault": "nonsense"}).status_code == 400
    stats = c.get("/_sim/stats").json()
    assert stats["rate_limited"] == 1 and stats["by_route"]["GET /webhooks"] == {"500": 1}
    repo_token = next(iter(sim.repo_tokens.values()))
    assert (
        httpx.get(f"{origin}/_sim/stats", headers={"Authorization": f"Bearer {repo_token}"}).status_code
        == 403
    )
    assert httpx.get(f"{origin}/_sim/stats").status_code == 401


def test_openapi_describes_every_route(c: httpx.Client, sim: Simulator) -> None:
    doc = c.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    routes = {f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops}
    served = {
        "GET /repositories",
        "GET /repositories/{id}",
        "PATCH /repositories/{id}",
        "GET /repositories/{id}/scans",
        "POST /repositories/{id}/scans",
        "GET /repositories/{id}/findings",
        "GET /repositories/{id}/fixes",
        "POST /repositories/{id}/sarif",
        "GET /fixes/{id}",
        "GET /findings/{id}",
        "GET /webhooks",
        "POST /webhooks",
        "DELETE /webhooks/{id}",
    }
    assert routes == served
    truth = sim.truth()
    for kind, schema in (
        ("repositories", "Repository"),
        ("scans", "Scan"),
        ("findings", "Finding"),
        ("fixes", "Fix"),
        ("webhooks", "Webhook"),
    ):
        assert set(doc["components"]["schemas"][schema]["properties"]) == set(truth[kind][0]), kind


def test_a_findings_target_is_met_exactly() -> None:
    sim = Simulator(small(findings=500))
    assert len(sim.truth()["findings"]) == 500


def test_visibility_lag_lets_an_older_updated_at_appear_later() -> None:
    sim = Simulator(small(visibility_lag_seconds=3600, repositories=12))
    late = []
    for _ in range(48):
        truth = sim.truth()
        seen_max = max(ts(o["updated_at"]) for objs in truth.values() for o in objs)
        before = {o["id"]: o["updated_at"] for objs in truth.values() for o in objs}
        sim.advance(1)
        late += [
            o
            for objs in sim.truth().values()
            for o in objs
            if before.get(o["id"]) != o["updated_at"] and ts(o["updated_at"]) < seen_max
        ]
    assert late  # a reader whose cursor stopped at seen_max would miss these without a look-back


def test_simulate_defaults_to_the_standard_tier_and_flags_override_it() -> None:
    import argparse

    from simulator.cli import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def cfg(*argv: str) -> tuple[float | None, int]:
        config = config_from_args(parser.parse_args(list(argv)))
        return config.requests_per_minute, config.burst

    assert cfg() == (60.0, 10)
    assert cfg("--tier", "enterprise") == (300.0, 50)
    assert cfg("--tier", "enterprise", "--burst", "5") == (300.0, 5)
    assert cfg("--requests-per-minute", "6000", "--burst", "100") == (6000.0, 100)
    assert cfg("--no-rate-limit")[0] is None
