"""Profiles: every file in profiles/ loads, holds no secret, and says where the data goes."""

from __future__ import annotations

import tomllib

import pytest

from pipelines.settings import DEFAULT_PROFILES_DIR, load_settings

PROFILES = sorted(p.stem for p in DEFAULT_PROFILES_DIR.glob("*.toml"))
SECRET_WORDS = ("token", "password", "private_key", "secret", "passphrase")


def test_duckdb_is_the_default_and_snowflake_exists() -> None:
    assert {"duckdb", "snowflake"} <= set(PROFILES)
    settings = load_settings(env={})
    assert (settings.profile, settings.destination) == ("duckdb", "duckdb")


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_loads_without_secrets(name: str) -> None:
    text = (DEFAULT_PROFILES_DIR / f"{name}.toml").read_text()
    data = tomllib.loads(text)

    def keys(table: dict) -> list[str]:
        return [k for k, v in table.items() for k in ([k, *keys(v)] if isinstance(v, dict) else [k])]

    assert not [k for k in keys(data) if any(word in k.lower() for word in SECRET_WORDS)]
    settings = load_settings(name, env={})
    assert settings.token is None  # only ever from the environment
    assert set(settings.schedule) >= {"incremental_cron", "full_cron", "timezone"}
    assert settings.dataset and settings.marts_dataset


def test_snowflake_profile_names_the_account_but_no_secret() -> None:
    settings = load_settings("snowflake", env={"PIXEE_TOKEN": "tok-live-123"})
    assert settings.destination == "snowflake"
    assert {"account", "database", "warehouse", "role", "user"} <= set(settings.snowflake)
    assert (settings.dataset, settings.marts_dataset, settings.tier) == ("pixee", "pixee_marts", "enterprise")
    assert settings.schedule["timezone"] == "Europe/Berlin"
    assert "tok-live-123" not in repr(settings)
