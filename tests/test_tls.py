"""TLS for real: a loopback HTTPS server whose certificate a CA of the test's own signs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.api.client import PixeeClient
from pipelines.errors import ApiError
from pipelines.settings import Secret, Settings, load_settings
from tests.loopback_support import Loopback, as_json, private_ca, serving

TOKEN = "pxk_93ab07c1e4f25d8a6b0c"
PAGE = {"data": [{"id": "repo_1"}], "pagination": {"next_cursor": None, "has_more": False}}


@pytest.fixture
def ca(tmp_path: Path) -> dict[str, Path]:
    return private_ca(tmp_path)


@pytest.fixture
def https(ca: dict[str, Path]) -> Iterator[Loopback]:
    with serving({"/api/v1/repositories": as_json(200, PAGE)}, TOKEN, tls=(ca["cert"], ca["key"])) as server:
        yield server


def fetch(settings: Settings) -> tuple[object, PixeeClient]:
    client = PixeeClient(settings, max_attempts=4, backoff_base=0.001)
    with client:
        return client.get_json("/repositories"), client


def env_for(server: Loopback, **extra: str) -> dict[str, str]:
    return {"PIXEE_BASE_URL": server.url + "/api/v1", "PIXEE_TOKEN": TOKEN, **extra}


def test_without_the_bundle_the_server_is_refused_at_once_naming_the_fix(https: Loopback) -> None:
    settings = load_settings(env=env_for(https))
    client = PixeeClient(settings, max_attempts=4, backoff_base=0.001)
    with client, pytest.raises(ApiError) as refused:
        client.get_json("/repositories")
    message = str(refused.value)
    assert "the TLS certificate of 127.0.0.1 is not trusted" in message, message
    assert message.endswith("set PIXEE_CA_BUNDLE to your deployment's CA file") and "\n" not in message
    # Not retried: an untrusted certificate stays untrusted.
    assert client.stats.totals().requests == 1
    assert https.seen == []


def test_with_pixee_ca_bundle_the_server_is_accepted(https: Loopback, ca: dict[str, Path]) -> None:
    body, _ = fetch(load_settings(env=env_for(https, PIXEE_CA_BUNDLE=str(ca["ca"]))))
    assert body == PAGE and https.seen == ["/api/v1/repositories"]


def test_with_the_standard_ssl_cert_file_the_server_is_accepted(https: Loopback, ca: dict[str, Path]) -> None:
    body, _ = fetch(load_settings(env=env_for(https, SSL_CERT_FILE=str(ca["ca"]))))
    assert body == PAGE


def test_the_bundle_adds_to_the_usual_cas_it_does_not_replace_them(ca: dict[str, Path]) -> None:
    from pipelines.api import tls

    subjects = [dict(part[0] for part in c["subject"]) for c in tls.context(ca["ca"]).get_ca_certs()]
    assert {"commonName": "pixee-etl test CA"} in subjects
    # The public CAs stay: a deployment behind a public certificate still verifies.
    assert len(subjects) > 50


def test_a_trusted_certificate_for_another_name_is_still_refused(tmp_path: Path) -> None:
    # Verification is never switched off: the bundle trusts the CA, not any name it signs.
    ca = private_ca(tmp_path, names=("pixee.example.com",))
    with serving({}, TOKEN, tls=(ca["cert"], ca["key"])) as server:
        settings = load_settings(env=env_for(server, PIXEE_CA_BUNDLE=str(ca["ca"])))
        with pytest.raises(ApiError) as refused:
            fetch(settings)
    assert "is not valid for that name" in str(refused.value), refused.value


def test_the_key_is_not_in_the_refusal_or_the_log(https: Loopback, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(base_url=https.url + "/api/v1", token=Secret(TOKEN))
    with pytest.raises(ApiError) as refused:
        fetch(settings)
    assert TOKEN not in str(refused.value) and TOKEN not in caplog.text


def test_the_real_command_refuses_then_accepts_with_the_bundle(
    https: Loopback, ca: dict[str, Path], tmp_path: Path
) -> None:
    """`bin/pixee-etl check` as a user runs it, in a process of its own: the environment is all."""
    import os
    import subprocess

    from tests.faults_support import REPO_ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXEE_") and k != "SSL_CERT_FILE"}
    env |= {"PIXEE_SERVER": https.url, "PIXEE_TOKEN": TOKEN, "PIXEE_API_FLAVOUR": "v1", "HOME": str(tmp_path)}

    def check(**extra: str) -> subprocess.CompletedProcess[str]:
        command = [str(REPO_ROOT / "bin" / "pixee-etl"), "check"]
        return subprocess.run(
            command, env=env | extra, capture_output=True, text=True, timeout=120, cwd=tmp_path
        )

    refused = check()
    assert refused.returncode == 1 and refused.stdout == "", refused
    assert refused.stderr.strip().splitlines() == [
        "pixee-etl check: the TLS certificate of 127.0.0.1 is not trusted (unable to get local issuer "
        "certificate); set PIXEE_CA_BUNDLE to your deployment's CA file"
    ]
    accepted = check(PIXEE_CA_BUNDLE=str(ca["ca"]))
    assert accepted.returncode == 0 and accepted.stderr == "", accepted
    assert accepted.stdout.startswith(
        f"ok: {https.url}/api/v1 accepted the token (api: v1 (set by api flavour = v1)"
    )
    assert TOKEN not in refused.stderr + accepted.stdout
