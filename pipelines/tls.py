"""TLS trust: the usual CAs (the system's and certifi's) plus a deployment's private CA, never less."""

from __future__ import annotations

import ssl
from pathlib import Path

from pipelines.errors import ConfigError

# What a failed verification tells the operator to do: a self-hosted deployment's certificate
# is most often signed by the company's own CA, which no default store holds.
FIX = "set PIXEE_CA_BUNDLE to your deployment's CA file"


def check_bundle(path: Path, variable: str) -> None:
    """ConfigError in one line naming `variable` and `path` unless `path` is a readable PEM file
    with at least one CA certificate in it."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigError(f"{variable}={path} cannot be read ({why})") from None
    try:
        ssl.create_default_context().load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:100] or type(exc).__name__
        raise ConfigError(f"{variable}={path} is not a PEM file of CA certificates ({reason})") from None


def context(ca_bundle: Path | None) -> ssl.SSLContext:
    """A verifying context (hostname and chain, never switched off) trusting the system's CAs,
    certifi's, and `ca_bundle` if given."""
    ctx = ssl.create_default_context()
    try:
        import certifi

        ctx.load_verify_locations(cafile=certifi.where())
    except (ImportError, OSError, ssl.SSLError):  # the system store alone still verifies
        pass
    if ca_bundle is not None:
        ctx.load_verify_locations(cafile=str(ca_bundle))
    return ctx


def is_verification_failure(exc: BaseException) -> bool:
    """Whether a TLS error is the server's certificate not being trusted (not a protocol fault)."""
    return isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc)
