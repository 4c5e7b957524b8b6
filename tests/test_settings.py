"""Settings: profiles, environment overrides, the TLS rule and secrets that never print."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.errors import ConfigError
from pipelines.settings import Secret, load_settings, validate_base_url


def test_defaults_are_the_standard_tier_on_duckdb() -> None:
    settings = load_settings(env={})
    assert (settings.requests_per_minute, settings.burst) == (60.0, 10)
    assert settings.destination == "duckdb"
    assert settings.sla_days["critical"] == 7
    assert settings.token is None


def test_environment_overrides_profile() -> None:
    env = {"PIXEE_TIER": "enterprise", "PIXEE_BURST": "5", "PIXEE_TOKEN": "tok-123"}
    settings = load_settings(env=env)
    assert (settings.requests_per_minute, settings.burst) == (300.0, 5)
    assert settings.token is not None and settings.token.reveal() == "tok-123"
    assert "tok-123" not in repr(settings) and "tok-123" not in f"{settings.token}"


@pytest.mark.parametrize(
    "url",
    ["http://app.pixee.ai/api/v1", "ftp://x/api", "not a url", "https://user:pw@app.pixee.ai/api/v1"],
)
def test_bad_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        validate_base_url(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/api/v1", "http://localhost/api/v1", "http://[::1]:9/api/v1"]
)
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    assert validate_base_url(url + "/") == url


def test_unknown_profile_and_bad_number_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        load_settings("nope", env={})
    with pytest.raises(ConfigError, match="PIXEE_BURST"):
        load_settings(env={"PIXEE_BURST": "ten"})


def test_a_profile_with_a_secret_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "leaky.toml").write_text('[destination]\nkind = "snowflake"\npassword = "hunter2"\n')
    monkeypatch.setenv("PIXEE_PROFILES_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="secrets come from the environment") as info:
        load_settings("leaky", env={})
    assert "hunter2" not in str(info.value)


def test_secret_never_formats_itself() -> None:
    secret = Secret("s3cr3t")
    assert "s3cr3t" not in f"{secret} {secret!r} {secret!s} {[secret]}"


def test_cli_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_the_run_wait_bound_and_request_deadline_come_from_profile_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(env={})
    assert (settings.max_rate_limit_wait_seconds, settings.request_deadline_seconds) == (1800.0, 120.0)
    env = {"PIXEE_MAX_RATE_LIMIT_WAIT_SECONDS": "90", "PIXEE_REQUEST_DEADLINE_SECONDS": "7.5"}
    settings = load_settings(env=env)
    assert (settings.max_rate_limit_wait_seconds, settings.request_deadline_seconds) == (90.0, 7.5)
    (tmp_path / "odd.toml").write_text('[run]\nrequest_deadline_seconds = "soon"\n')
    monkeypatch.setenv("PIXEE_PROFILES_DIR", str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"\[run\] request_deadline_seconds = 'soon' is not a positive number"
    ):
        load_settings("odd", env={})
    monkeypatch.delenv("PIXEE_PROFILES_DIR")
    with pytest.raises(ConfigError, match="PIXEE_REQUEST_DEADLINE_SECONDS='-1' must be positive"):
        load_settings(env={"PIXEE_REQUEST_DEADLINE_SECONDS": "-1"})
