"""A small HTTP(S) server on loopback answering fixed routes, and a CA that signs its certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# (status, content type, body): what one route answers.
Answer = tuple[int, str, bytes]
Route = Answer | Callable[[str], Answer]


def as_json(status: int, body: Any, media: str = "application/json") -> Answer:
    return status, media, json.dumps(body).encode()


def problem(status: int, title: str, detail: str, instance: str = "") -> Answer:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}
    return as_json(status, body, "application/problem+json")


def hal_root(base: str) -> dict[str, Any]:
    """A root as docs/platform.md shows it: self plus nine relations, absolute hrefs."""
    relations = {
        "repositories": "repositories",
        "scans": "scans",
        "analyses": "analyses",
        "patches": "patches",
        "integrations": "integrations",
        "scales": "scales",
        "system-status": "system-status",
        "preferences": "preferences",
        "users-me": "users/me",
    }
    links = {"self": {"href": base}} | {rel: {"href": f"{base}/{path}"} for rel, path in relations.items()}
    return {"_links": links}


@dataclass
class Loopback:
    """Answers `routes` (path -> answer, or a function of the path) for requests bearing `token`
    (or any request, on a path in `public`); 401 problem+json otherwise, 404 problem+json for any
    other path. `seen` lists request paths."""

    routes: dict[str, Route]
    token: str
    public: frozenset[str] = frozenset()
    seen: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str, authorization: str | None) -> Answer:
        self.seen.append(path)
        if authorization != f"Bearer {self.token}" and path.split("?")[0] not in self.public:
            return problem(401, "Unauthorized", "the API key is not valid", path)
        route = self.routes.get(path.split("?")[0])
        if route is None:
            return problem(404, "Not Found", f"no route for {path.split('?')[0]}", path)
        return route(path) if callable(route) else route


@contextmanager
def serving(
    routes: Mapping[str, Route],
    token: str,
    *,
    tls: tuple[Path, Path] | None = None,
    host: str = "127.0.0.1",
    public: frozenset[str] = frozenset(),
) -> Iterator[Loopback]:
    """A Loopback on `host` (port 0) in a thread; HTTPS with (certificate, key) when `tls` is given."""
    server_state = Loopback(dict(routes), token, public)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, media, body = server_state.answer(self.path, self.headers.get("Authorization"))
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    server_state.url = f"{scheme}://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def private_ca(directory: Path, *, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> dict[str, Path]:
    """A CA of our own and a server certificate it signs for `names`, as PEM files in `directory`:
    'ca' (what PIXEE_CA_BUNDLE points at), 'cert' and 'key' (what the server presents)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pixee-etl test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {name: directory / f"{name}.pem" for name in ("ca", "cert", "key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths
