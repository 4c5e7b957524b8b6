"""TLS trust: the usual CAs (the system's and certifi's) plus a deployment's private CA, never less."""

from __future__ import annotations

import functools
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
        stat = path.stat()
        problem = _bundle_problem(str(path), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
    if problem:
        raise ConfigError(f"{variable}={path} {problem}")


# Settings are loaded many times in one process (flows, tests), and SSL_CERT_FILE is often the
# whole system store: parse each version of a file once.
@functools.lru_cache(maxsize=8)
def _bundle_problem(path: str, mtime_ns: int, size: int) -> str | None:
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    try:
        ssl.create_default_context().load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:100] or type(exc).__name__
        return f"is not a PEM file of CA certificates ({reason})"
    return None


def context(ca_bundle: Path | None) -> ssl.SSLContext:
    """A verifying context (hostname and chain, never switched off) trusting the system's CAs,
    certifi's, and `ca_bundle` if given; one per version of the bundle file, shared (an
    SSLContext is safe to share between clients and threads)."""
    if ca_bundle is None:
        return _context(None, 0)
    try:
        version = ca_bundle.stat().st_mtime_ns
    except OSError:
        version = 0  # load_verify_locations below names the problem
    return _context(str(ca_bundle), version)


@functools.lru_cache(maxsize=8)
def _context(ca_bundle: str | None, version: int) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    try:
        import certifi

        ctx.load_verify_locations(cafile=certifi.where())
    except (ImportError, OSError, ssl.SSLError):  # the system store alone still verifies
        pass
    if ca_bundle is not None:
        try:
            ctx.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:  # gone or changed since the settings checked it
            reason = " ".join(str(exc).split())[:100]
            raise ConfigError(f"CA bundle {ca_bundle} cannot be used ({reason})") from None
    return ctx


def is_verification_failure(exc: BaseException) -> bool:
    """Whether a TLS error is the server's certificate not being trusted (not a protocol fault)."""
    return isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc)
