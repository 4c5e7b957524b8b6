"""The checks a setting's value passes before a run trusts it: the API's URL (HTTPS except on
loopback, no credentials in it) and the token (what an HTTP header can carry)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from pipelines.errors import ConfigError

API_PATH = "/api/v1"  # where a deployment serves the API under PIXEE_SERVER


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: the only hosts allowed over plain http."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def shown_url(url: str) -> str:
    """The URL as an error message may show it: no user info, query or fragment (a secret may
    hide there, e.g. a token pasted as https://user:TOKEN@host)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    path = parts.path if netloc else parts.path.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def validate_base_url(url: str, variable: str = "PIXEE_BASE_URL") -> str:
    """Return the base URL without a trailing slash, or raise ConfigError naming what is wrong
    (and `variable`, the setting the URL came from)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{variable} {shown_url(url)!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise ConfigError(f"{variable} must not carry credentials; use PIXEE_TOKEN")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        if not _resolves(parts.hostname):
            # `localhots` is a typo of loopback far more often than a plain-http server.
            raise ConfigError(
                f"cannot resolve host {parts.hostname!r}; check {variable} "
                "(plain http is for loopback only, HTTPS is required elsewhere)"
            )
        raise ConfigError(
            f"{variable} {parts.scheme}://{parts.hostname} is plain http; "
            "HTTPS is required except on loopback"
        )
    return url.rstrip("/")


def _resolves(host: str) -> bool:
    """Whether DNS knows `host`; asked only on the way to an error, to name the right one."""
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return True


def server_base_url(server: str, variable: str = "PIXEE_SERVER") -> str:
    """The API's base URL of a deployment: its server URL plus /api/v1 (a trailing slash, or the
    /api/v1 itself, tolerated), under the same rules as PIXEE_BASE_URL."""
    root = validate_base_url(server.strip(), variable)
    return root if root.endswith(API_PATH) else root + API_PATH


def check_token(token: str) -> None:
    """ConfigError (never showing the token) for a value no API token can be: whitespace or a
    line break around or in it (a pasted file's newline), or characters a header cannot carry."""
    if token != token.strip():
        raise ConfigError(
            "PIXEE_TOKEN has whitespace or a line break around it; export the token alone "
            "(e.g. PIXEE_TOKEN=\"$(tr -d '[:space:]' < token-file)\")"
        )
    if any(not ("!" <= ch <= "~") for ch in token):
        raise ConfigError(
            "PIXEE_TOKEN contains whitespace, a control character or a non-ASCII character; "
            "a token is printable ASCII only"
        )
