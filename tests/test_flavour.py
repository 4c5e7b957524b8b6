"""Detecting the API's flavour from its root, in one request, against real servers on loopback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from pipelines.api.client import PixeeClient
from pipelines.api.flavour import resolve
from pipelines.errors import ApiError, AuthError, ConfigError
from pipelines.settings import Secret, Settings
from tests.loopback_support import as_json, hal_root, serving

TOKEN = "pxk_51d2c08e7a9f4b36d1e5"


def settings_for(url: str, flavour: str = "auto", token: str = TOKEN) -> Settings:
    return Settings(
        base_url=url, token=Secret(token), api_flavour=flavour, requests_per_minute=6000.0, burst=50
    )


def resolved(url: str, flavour: str = "auto", token: str = TOKEN) -> Any:
    with PixeeClient(settings_for(url, flavour, token), max_attempts=2, backoff_base=0.001) as client:
        return resolve(settings_for(url, flavour, token), client)


def test_a_hal_root_is_the_platform_with_every_relation_absolute() -> None:
    with serving({}, TOKEN) as server:
        server.routes["/api/v1"] = as_json(200, hal_root(server.url + "/api/v1"))
        found = resolved(server.url + "/api/v1")
    assert found.name == "platform" and len(found.links) == 9 and "self" not in found.links
    assert found.links["users-me"] == server.url + "/api/v1/users/me"
    assert found.describe() == f"platform (HAL root at {server.url}/api/v1, 9 relations)"
    assert server.seen == ["/api/v1"]  # one request


def test_relative_hrefs_resolve_against_the_root_url() -> None:
    links = {"self": {"href": "/api/v1"}, "scans": {"href": "/api/v1/scans"}, "patches": "v1/patches"}
    root = {"_links": links}
    with serving({"/api/v1": as_json(200, root)}, TOKEN) as server:
        found = resolved(server.url + "/api/v1")
    assert found.links == {"scans": server.url + "/api/v1/scans", "patches": server.url + "/api/v1/patches"}


@pytest.mark.parametrize(
    "href",
    ["https://elsewhere.example.com/api/v1/scans", "//elsewhere.example.com/scans", "https://127.0.0.1/x"],
)
def test_a_root_linking_to_another_origin_is_refused_in_one_line(href: str) -> None:
    root = {"_links": {"scans": {"href": href}}}
    with serving({"/api/v1": as_json(200, root)}, TOKEN) as server, pytest.raises(ApiError) as refused:
        resolved(server.url + "/api/v1")
    message = str(refused.value)
    assert "another origin" in message and "refusing it" in message and "\n" not in message


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        (None, "no HAL root at {url}: 404"),
        (as_json(200, {"data": []}), "no HAL root at {url}: JSON without _links"),
        ((200, "text/html", b"<html>welcome</html>"), "no HAL root at {url}: not JSON"),
        (as_json(200, ["_links"]), "no HAL root at {url}: JSON without _links"),
        (as_json(403, {"error": {"code": "forbidden"}}), "no HAL root at {url}: 403"),
    ],
    ids=["404", "no-links", "html", "a-list", "403"],
)
def test_anything_but_a_hal_root_is_v1_after_one_request(answer: Any, found: str) -> None:
    with serving({"/api/v1": answer} if answer else {}, TOKEN) as server:
        flavour = resolved(server.url + "/api/v1")
    assert flavour.name == "v1" and flavour.links == {}
    assert flavour.found == found.format(url=server.url + "/api/v1")
    assert server.seen == ["/api/v1"]


def test_forced_v1_asks_nothing() -> None:
    with serving({}, TOKEN) as server:
        assert resolved(server.url + "/api/v1", "v1").name == "v1"
    assert server.seen == []


def test_forced_platform_on_a_v1_server_names_what_it_found() -> None:
    with serving({}, TOKEN) as server, pytest.raises(ConfigError) as refused:
        resolved(server.url + "/api/v1", "platform")
    assert str(refused.value).startswith(
        f"api flavour is set to platform but no HAL root at {server.url}/api/v1: 404"
    ), refused.value


def test_a_refused_key_is_an_auth_error_not_a_flavour(capsys: pytest.CaptureFixture[str]) -> None:
    with serving({}, TOKEN) as server, pytest.raises(AuthError) as refused:
        resolved(server.url + "/api/v1", token="pxk_wrong-key-0000000")
    assert "401" in str(refused.value) and "pxk_wrong-key" not in str(refused.value)


def test_the_v1_simulator_is_v1(simulator: Callable[..., Any]) -> None:
    sim = simulator(repositories=1, days=2)
    settings = replace(settings_for(sim.base_url, token=sim.org_token))
    with PixeeClient(settings) as client:
        found = resolve(settings, client)
    assert (found.name, found.found) == ("v1", f"no HAL root at {sim.base_url}: 404")


@pytest.mark.parametrize("relative", [False, True], ids=["absolute-hrefs", "relative-hrefs"])
def test_the_platform_simulator_is_the_platform_with_its_extra_relation(
    simulator: Callable[..., Any], relative: bool
) -> None:
    sim = simulator(
        api="platform", repositories=2, days=2, relative_hrefs=relative, extra_relation="sbom-exports"
    )
    settings = settings_for(sim.base_url, token=sim.api_key)
    with PixeeClient(settings) as client:
        found = resolve(settings, client)
    assert found.name == "platform" and len(found.links) == 10
    assert found.links["scans"] == f"{sim.base_url}/scans"
    assert found.links["sbom-exports"] == f"{sim.base_url}/sbom-exports"
    assert sim.stats()["requests_total"] == 1


def test_odd_but_usable_link_shapes_are_read_and_unusable_ones_skipped() -> None:
    links = {
        "self": {"href": "/api/v1"},
        "curies": [{"name": "px", "href": "https://docs.pixee.ai/rels/{rel}", "templated": True}],
        "scans": [{"href": "/api/v1/scans"}, {"href": "/api/v1/scans-old"}],  # an array: the first
        "patches": "/api/v1/patches",  # a bare href where a link object belongs
        "analyses": {"href": "/api/v1/analyses{?updated-after,page-size}", "templated": True},
        "broken": {"title": "no href"},
        "empty": {"href": "  "},
        "nothing": [],
    }
    with serving({"/api/v1": as_json(200, {"_links": links})}, TOKEN) as server:
        found = resolved(server.url + "/api/v1")
    base = server.url + "/api/v1"
    assert found.links == {
        "scans": f"{base}/scans",
        "patches": f"{base}/patches",
        "analyses": f"{base}/analyses",
    }
