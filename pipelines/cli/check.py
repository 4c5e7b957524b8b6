"""`pixee-etl check`: one or two requests that prove the token and the base URL work, or one line why not."""

from __future__ import annotations

import argparse

from pipelines.api.client import PixeeClient
from pipelines.api.flavour import Flavour, lacking_api_path, resolve
from pipelines.api.paging import envelope_of, items_of
from pipelines.cli.arguments import add_settings_arguments, settings_from_args
from pipelines.errors import ApiError, NotFoundError, shown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    # Two attempts: a blip should not fail the check, a dead host should fail it quickly.
    with PixeeClient(settings, max_attempts=2) as client:
        flavour = resolve(settings, client)
        try:
            found = _platform(client, flavour) if flavour.name == "platform" else _v1(client)
        except NotFoundError as exc:
            # The server answered, just not at the API's path: the usual cause is a base URL
            # given as the deployment's address.
            raise lacking_api_path(settings.base_url, exc) or exc from None
    print(f"ok: {settings.base_url} accepted the token (api: {flavour.describe()}; {found})")
    return 0


def _v1(client: PixeeClient) -> str:
    body = client.get_json("/repositories", {"limit": 1}, resource="check", validate=envelope_of)
    shape = envelope_of(body)
    seen = len(items_of(body, shape))
    return f"{shape} pages; {'repositories are visible' if seen else 'no repository visible to this token'}"


def _platform(client: PixeeClient, flavour: Flavour) -> str:
    """The key proven by the root's users-me relation: one more request, the cheapest that needs it."""
    href = flavour.links.get("users-me")
    if href is None:
        raise ApiError(f"the HAL root at {flavour.root_url} has no users-me link to prove the key with")
    me = client.get_json(href, resource="check")
    who = me.get("id") if isinstance(me, dict) else None
    return f"key is {shown(who, 60)!r}" if isinstance(who, str) and who else "key accepted"
