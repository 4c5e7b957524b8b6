"""Settings for a platform deployment: PIXEE_SERVER, the API flavour, a private CA, and which wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import ConfigError
from pipelines.settings import load_settings
from tests.loopback_support import private_ca


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A profiles directory of our own; `site.toml` is written by each test."""
    directory = tmp_path / "profiles"
    directory.mkdir()
    monkeypatch.setenv("PIXEE_PROFILES_DIR", str(directory))
    return directory


@pytest.mark.parametrize(
    "server",
    ["https://pixee.example.com", "https://pixee.example.com/", "https://pixee.example.com/api/v1/"],
)
def test_a_server_is_its_api_under_api_v1(server: str) -> None:
    settings = load_settings(env={"PIXEE_SERVER": server})
    assert settings.base_url == "https://pixee.example.com/api/v1"


def test_a_server_under_a_path_keeps_it() -> None:
    settings = load_settings(env={"PIXEE_SERVER": "https://tools.example.com/pixee"})
    assert settings.base_url == "https://tools.example.com/pixee/api/v1"


def test_the_base_url_wins_over_the_server_in_the_environment() -> None:
    env = {"PIXEE_SERVER": "https://pixee.example.com", "PIXEE_BASE_URL": "https://proxy.example.com/pixee"}
    assert load_settings(env=env).base_url == "https://proxy.example.com/pixee"


def test_the_environment_wins_over_the_profile(profiles: Path) -> None:
    (profiles / "site.toml").write_text(
        '[api]\nbase_url = "https://old.example.com/api/v1"\nflavour = "v1"\n'
    )
    settings = load_settings("site", env={})
    assert (settings.base_url, settings.api_flavour) == ("https://old.example.com/api/v1", "v1")
    env = {"PIXEE_SERVER": "https://pixee.example.com", "PIXEE_API_FLAVOUR": "platform"}
    settings = load_settings("site", env=env)
    assert (settings.base_url, settings.api_flavour) == ("https://pixee.example.com/api/v1", "platform")


def test_a_profile_may_name_the_server(profiles: Path) -> None:
    (profiles / "site.toml").write_text('[api]\nserver = "https://pixee.internal.example"\n')
    assert load_settings("site", env={}).base_url == "https://pixee.internal.example/api/v1"


def test_the_flavour_is_auto_unless_set() -> None:
    assert load_settings(env={}).api_flavour == "auto"
    assert load_settings(env={"PIXEE_API_FLAVOUR": "Platform"}).api_flavour == "platform"


def test_an_unknown_flavour_is_one_line_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"api flavour 'hal' .* is not one of auto, v1, platform"):
        load_settings(env={"PIXEE_API_FLAVOUR": "hal"})


@pytest.mark.parametrize(
    ("server", "names"),
    [
        ("pixee.example.com", "PIXEE_SERVER 'pixee.example.com' is not an http(s) URL"),
        ("http://pixee.example.com", "HTTPS is required"),
        ("https://user:pw@pixee.example.com", "PIXEE_SERVER must not carry credentials"),
    ],
)
def test_a_bad_server_is_refused_naming_pixee_server(server: str, names: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env={"PIXEE_SERVER": server})
    assert names in str(refused.value) and "pw" not in str(refused.value)


def test_plain_http_to_a_server_on_loopback_is_allowed() -> None:
    assert (
        load_settings(env={"PIXEE_SERVER": "http://127.0.0.1:8700"}).base_url
        == "http://127.0.0.1:8700/api/v1"
    )


def test_a_host_typo_says_it_does_not_resolve_not_that_https_is_required() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env={"PIXEE_BASE_URL": "http://localhots:8700/api/v1"})
    assert "cannot resolve host 'localhots'" in str(refused.value), refused.value


def test_a_server_holding_the_token_is_refused_without_printing_it() -> None:
    token = "pxk_7e3f9b2d4c6a8e1f"
    with pytest.raises(ConfigError) as refused:
        load_settings(env={"PIXEE_TOKEN": token, "PIXEE_SERVER": f"https://pixee.example.com/{token}"})
    assert "PIXEE_SERVER contains the value of PIXEE_TOKEN" in str(refused.value)
    assert token not in str(refused.value)


def test_the_token_never_shows_in_the_settings() -> None:
    token = "pxk_7e3f9b2d4c6a8e1f"
    settings = load_settings(env={"PIXEE_TOKEN": token, "PIXEE_SERVER": "https://pixee.example.com"})
    assert token not in repr(settings) and token not in str(settings)


def test_a_ca_bundle_comes_from_pixee_ca_bundle_then_ssl_cert_file(tmp_path: Path) -> None:
    ours = private_ca(tmp_path)["ca"]
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    standard = private_ca(other_dir)["ca"]
    assert load_settings(env={}).ca_bundle is None
    assert load_settings(env={"SSL_CERT_FILE": str(standard)}).ca_bundle == standard
    env = {"PIXEE_CA_BUNDLE": str(ours), "SSL_CERT_FILE": str(standard)}
    assert load_settings(env=env).ca_bundle == ours


@pytest.mark.parametrize("variable", ["PIXEE_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_missing_or_invalid_bundle_is_one_line_naming_variable_and_path(
    tmp_path: Path, variable: str
) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError) as refused:
        load_settings(env={variable: str(missing)})
    assert str(refused.value).startswith(f"{variable}={missing} cannot be read")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(env={variable: str(garbage)})
    assert str(refused.value).startswith(f"{variable}={garbage} is not a PEM file of CA certificates")
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is not a PEM file") as refused:
        load_settings(env={variable: str(empty)})
    assert "\n" not in str(refused.value)
