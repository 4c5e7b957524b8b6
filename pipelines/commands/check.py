"""`pixee-etl check`: one request that proves the token and the base URL work, or one line why not."""

from __future__ import annotations

import argparse

from pipelines.client import PixeeClient
from pipelines.commands import add_settings_arguments, settings_from_args
from pipelines.paging import envelope_of, items_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    # Two attempts: a blip should not fail the check, a dead host should fail it quickly.
    with PixeeClient(settings, max_attempts=2) as client:
        body = client.get_json("/repositories", {"limit": 1}, resource="check", validate=envelope_of)
    shape = envelope_of(body)
    seen = len(items_of(body, shape))
    print(
        f"ok: {settings.base_url} accepted the token ({shape} pages; "
        f"{'repositories are visible' if seen else 'no repository visible to this token'})"
    )
    return 0
