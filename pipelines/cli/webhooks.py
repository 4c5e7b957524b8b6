"""`pixee-etl webhooks register|list`: subscribe the receiver to Pixee's events, or show the subscriptions."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from pipelines.api.client import make_client
from pipelines.api.paging import iter_pages
from pipelines.api.redaction import register_secret
from pipelines.cli.arguments import add_settings_arguments, settings_from_args
from pipelines.errors import ApiError, ConfigError
from pipelines.events.plan import LISTS_BY_TYPE
from pipelines.events.secrets import DEFAULT_SECRETS_FILE, fingerprint, store_secret
from pipelines.settings_checks import is_loopback, shown_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    sub = parser.add_subparsers(dest="action", required=True)
    reg = sub.add_parser("register", help="POST /webhooks for the receiver's URL and store the secret")
    reg.add_argument("--url", required=True, help="the receiver's public URL, https://…/webhooks/pixee")
    reg.add_argument(
        "--events",
        default="*",
        help=f"comma-separated event types (default *: all of {', '.join(LISTS_BY_TYPE)})",
    )
    reg.add_argument(
        "--secrets-file",
        type=Path,
        default=DEFAULT_SECRETS_FILE,
        help=f"where the receiver reads the secret (default {DEFAULT_SECRETS_FILE}, written 0600)",
    )
    sub.add_parser("list", help="show the organisation's webhook subscriptions")


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.username or parts.password or not parts.hostname:
        raise ConfigError(f"--url {shown_url(url)!r} must be an https:// URL with a host and no credentials")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(parts.hostname)):
        raise ConfigError(f"--url {shown_url(url)!r} must be https:// (plain http only on loopback)")
    return url


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    settings.require_token()
    with make_client(settings) as client:
        if args.action == "list":
            rows = [h for page in iter_pages(client, "/webhooks", resource="webhooks") for h in page]
            print(f"{'id':<18} {'active':<6} {'created_at':<21} {'events':<28} url")
            for hook in rows:
                events = hook.get("events")
                shown = ",".join(events) if isinstance(events, list) else str(events)
                print(
                    f"{hook.get('id', '?'):<18} {'yes' if hook.get('active') else 'no':<6} "
                    f"{hook.get('created_at') or '':<21} {shown:<28} {shown_url(str(hook.get('url')))}"
                )
            print(f"{len(rows)} webhook{'s' if len(rows) != 1 else ''}")
            return 0
        url = _check_url(args.url)
        events = (
            ["*"] if args.events.strip() == "*" else [e.strip() for e in args.events.split(",") if e.strip()]
        )
        created = client.post_json("/webhooks", {"url": url, "events": events}, resource="webhooks")
    secret = created.get("secret") if isinstance(created, dict) else None
    if not isinstance(secret, str) or not secret:
        raise ApiError("POST /webhooks answered without the secret; delete the webhook and register again")
    register_secret(secret)
    path = store_secret(secret, args.secrets_file)
    print(
        f"subscribed {created.get('id')} to {shown_url(url)} for {','.join(events)}; "
        f"secret {fingerprint(secret)} stored in {path} (mode 0600; the previous one stays valid)"
    )
    return 0
