"""`pixee-etl webhooks register|list`: the secret goes to an owner-only file, never to any output."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pipelines.cli import main
from pipelines.events.journal import Journal
from pipelines.events.secrets import fingerprint, load_secrets
from tests.webhook_support import ReceiverProcess, free_port, wait_for


def test_register_stores_the_secret_the_receiver_then_verifies_with(
    simulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = simulator(repositories=2, days=10, webhook_retry_scale=0.01)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIXEE_TOKEN", sim.org_token)
    monkeypatch.setenv("PIXEE_BASE_URL", sim.base_url)
    monkeypatch.delenv("PIXEE_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("PIXEE_WEBHOOK_SECRET_PREVIOUS", raising=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/pixee"
    assert main(["webhooks", "register", "--url", "http://10.0.0.9/webhooks/pixee"]) == 2
    assert main(["webhooks", "register", "--url", url]) == 0
    out = capsys.readouterr().out
    secrets_file = tmp_path / ".dlt" / "secrets.toml"
    assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
    (secret,) = load_secrets(env={}, secrets_file=secrets_file)
    assert secret not in out and fingerprint(secret) in out
    # The ping Pixee sent on subscribing is retried until the receiver, reading that file, is up.
    rx = ReceiverProcess(tmp_path / "events.sqlite", secrets=(), port=port, cwd=tmp_path)
    try:

        def pinged() -> bool:
            with Journal(rx.journal, readonly=True) as journal:
                return any(e.type == "ping" for e in journal.events_since(None))

        wait_for(pinged, 60, "the subscription's ping in the journal")
    finally:
        rx.stop()
    assert secret not in rx.log.read_text()
    # A second registration rotates: the new secret is current, the old one stays valid.
    assert main(["webhooks", "register", "--url", url]) == 0
    current, previous = load_secrets(env={}, secrets_file=secrets_file)
    assert previous == secret and current != secret
    assert main(["webhooks", "list"]) == 0
    listing = capsys.readouterr().out
    assert url in listing and current not in listing and secret not in listing
    assert "webhooks" in listing.splitlines()[-1]
