"""Webhook signing secrets: read from the environment or dlt secrets, stored by `webhooks register`.

Two secrets may be valid at once so a subscription can be rotated without losing deliveries:
the current one and the previous one. They are never read from a flag or a profile file, never
printed (only a fingerprint), and the file `register` writes is readable by its owner only.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pipelines.api.redaction import register_secret
from pipelines.errors import ConfigError

ENV_CURRENT = "PIXEE_WEBHOOK_SECRET"
ENV_PREVIOUS = "PIXEE_WEBHOOK_SECRET_PREVIOUS"
DEFAULT_SECRETS_FILE = Path(".dlt") / "secrets.toml"
SECTION = "pixee_webhooks"  # [pixee_webhooks] secret = ..., previous_secret = ...


def fingerprint(secret: str) -> str:
    """A short, non-reversible name for a secret: what logs and the CLI may show."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _from_file(path: Path) -> list[str]:
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML (line {exc.lineno})") from None
    section = data.get(SECTION) or {}
    return [str(section[k]) for k in ("secret", "previous_secret") if section.get(k)]


def load_secrets(env: Mapping[str, str] | None = None, secrets_file: Path | None = None) -> list[str]:
    """The valid secrets, current first: the environment wins, else the dlt secrets file."""
    env = os.environ if env is None else env
    found = [env[k] for k in (ENV_CURRENT, ENV_PREVIOUS) if env.get(k)]
    if not found:
        found = _from_file(secrets_file or DEFAULT_SECRETS_FILE)
    if not found:
        raise ConfigError(
            f"no webhook secret: export {ENV_CURRENT} (and {ENV_PREVIOUS} while rotating), or run "
            f"`pixee-etl webhooks register`, which stores it in {DEFAULT_SECRETS_FILE}"
        )
    for secret in found:
        if len(secret) < 16:
            raise ConfigError("a webhook secret is shorter than 16 characters; use the one Pixee returned")
        register_secret(secret)
    return found[:2]


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def store_secret(secret: str, secrets_file: Path | None = None) -> Path:
    """Make `secret` the current one (the old current one stays valid as previous), owner-only file.

    Other sections of the file are kept as they are; only [pixee_webhooks] is rewritten.
    """
    path = secrets_file or DEFAULT_SECRETS_FILE
    old = _from_file(path)
    kept: list[str] = []
    if path.is_file():
        skipping = False
        for line in path.read_text().splitlines():
            header = line.strip()
            if header.startswith("[") and header.endswith("]"):
                skipping = header.strip("[] ") == SECTION
            if not skipping:
                kept.append(line)
    section = [f"[{SECTION}]", f"secret = {_toml_string(secret)}"]
    if old and old[0] != secret:
        section.append(f"previous_secret = {_toml_string(old[0])}")
    text = "\n".join([*[k for k in kept if k.strip() or kept], "", *section]).lstrip("\n") + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    return path
