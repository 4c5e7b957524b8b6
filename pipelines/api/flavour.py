"""Which API a base URL speaks: the platform (HAL root at /api/v1) or v1, read from one request."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from pipelines.api.client import PixeeClient
from pipelines.errors import ApiError, AuthError, ConfigError, NotFoundError, shown
from pipelines.settings import API_PATH, Settings

log = logging.getLogger("pipelines.api.flavour")

FlavourName = Literal["v1", "platform"]
# Root relations that name no collection: the document itself and HAL's compact-URI prefixes.
NOT_RELATIONS = frozenset({"self", "curies"})
# A root that is not JSON decodes to this, not to an error: it only means "not the platform API".
_NOT_JSON = object()


@dataclass(frozen=True)
class Flavour:
    """What the API at `root_url` is: its name, and (platform) each root relation's absolute href.

    `found` says in a few words what the root answered, for the one line `check` and `run` print."""

    name: FlavourName
    links: dict[str, str] = field(default_factory=dict)
    root_url: str = ""
    found: str = ""

    def describe(self) -> str:
        """e.g. 'platform (HAL root at https://host/api/v1, 9 relations)'."""
        if self.name == "platform":
            return f"platform (HAL root at {self.root_url}, {len(self.links)} relations)"
        return f"v1 ({self.found})" if self.found else "v1"


def detect(client: PixeeClient) -> Flavour:
    """One GET of the base URL itself: 200 JSON with `_links` is the platform API, anything else
    (404, another 4xx, no `_links`, not JSON) is v1. A refused key (401) and a server that keeps
    failing (5xx, network) raise as any request would: they say nothing about the flavour."""
    root = client.base_url
    try:
        body = client.get_json(root, resource="root", not_json=_NOT_JSON)
    except AuthError:
        raise
    except NotFoundError:
        return Flavour("v1", root_url=root, found=f"no HAL root at {root}: 404{_path_hint(root)}")
    except ApiError as exc:
        if exc.status is None or exc.status >= 500:
            raise
        return Flavour("v1", root_url=root, found=f"no HAL root at {root}: {exc.status}")
    if body is _NOT_JSON:
        return Flavour("v1", root_url=root, found=f"no HAL root at {root}: not JSON")
    links = body.get("_links") if isinstance(body, dict) else None
    if not isinstance(links, dict):
        return Flavour("v1", root_url=root, found=f"no HAL root at {root}: JSON without _links")
    return Flavour("platform", links=root_links(links, root), root_url=root, found="HAL root")


def root_links(links: dict[str, Any], root: str) -> dict[str, str]:
    """relation -> absolute href. A relative href is resolved against the root's URL (RFC 3986,
    as a browser would); an href on another origin is refused, because the key goes with every
    request and must never leave its server. A relation whose link has no usable href is skipped
    (named in the log): the others still load."""
    origin = _origin(root)
    out: dict[str, str] = {}
    for relation, link in links.items():
        if relation in NOT_RELATIONS:
            continue
        if isinstance(link, list):  # HAL allows an array of links; the first is the relation's own
            link = link[0] if link else None
        href = link.get("href") if isinstance(link, dict) else link if isinstance(link, str) else None
        if not isinstance(href, str) or not href.strip():
            log.warning("root relation %r has no href; skipped", shown(relation, 60))
            continue
        href = href.split("{", 1)[0]  # a templated link (RFC 6570): its base, the client adds the query
        url = urljoin(root, href.strip())
        if _origin(url) != origin:
            raise ApiError(
                f"the API root links {shown(relation, 60)!r} to {shown(_origin(url), 80)}, another origin "
                f"than {origin}; refusing it (the key is sent only to its own server)"
            )
        out[str(relation)] = url
    return out


def resolve(settings: Settings, client: PixeeClient) -> Flavour:
    """The flavour `settings.api_flavour` asks for: 'v1' without a request, 'auto' as detected,
    'platform' as detected or a one-line ConfigError naming what the root answered instead."""
    if settings.api_flavour == "v1":
        return Flavour("v1", root_url=client.base_url, found="set by api flavour = v1")
    found = detect(client)
    if settings.api_flavour == "platform" and found.name != "platform":
        raise ConfigError(
            f"api flavour is set to platform but {found.found}; check PIXEE_SERVER or PIXEE_BASE_URL, "
            "or set PIXEE_API_FLAVOUR=auto"
        )
    return found


def lacking_api_path(base_url: str, exc: ApiError) -> ApiError | None:
    """A 404 under a base URL without /api/v1, said as its likely cause (the deployment's address
    given where the API's was) with both ways to fix it; None for any other failure."""
    if exc.status != 404 or urlsplit(base_url).path.rstrip("/").endswith(API_PATH):
        return None
    return ApiError(
        f"{base_url} answers but {exc.endpoint or 'the API path'} is 404: the base URL probably lacks "
        f"{API_PATH} (set PIXEE_SERVER={base_url} or PIXEE_BASE_URL={base_url}{API_PATH})",
        status=404,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _path_hint(root: str) -> str:
    """A base URL without the API's path is the usual mistake behind a 404 at the root."""
    if urlsplit(root).path.rstrip("/").endswith(API_PATH):
        return ""
    return f" (the base URL probably lacks {API_PATH})"
