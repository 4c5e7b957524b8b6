"""Profiles: every file in profiles/ loads, holds no secret, and says where the data goes; a user's own
profile is a path or a file in PIXEE_PROFILES_DIR."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from pipelines.errors import ConfigError
from pipelines.settings import DEFAULT_PROFILES_DIR, REPO_ROOT, load_settings

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


def test_a_profile_of_ones_own_is_a_path_outside_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "conf" / "mine.toml"
    mine.parent.mkdir()
    mine.write_text('[destination]\nduckdb_path = "mine.duckdb"\n[sla_days]\ncritical = 3\n')
    monkeypatch.chdir(tmp_path)
    for given in (str(mine), "conf/mine.toml"):
        settings = load_settings(given, env={})
        assert (settings.profile, settings.sla_days["critical"]) == ("mine", 3)
    with pytest.raises(ConfigError, match=r"profile file conf/nosuch\.toml does not exist"):
        load_settings("conf/nosuch.toml", env={})


def test_a_directory_of_profiles_is_pixee_profiles_dir_and_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "team.toml").write_text("[sla_days]\nhigh = 10\n")
    monkeypatch.setenv("PIXEE_PROFILES_DIR", str(tmp_path))
    assert load_settings("team", env={}).sla_days["high"] == 10
    with pytest.raises(ConfigError, match=r"PIXEE_PROFILES_DIR.*team.*path to a \.toml file"):
        load_settings("nosuch", env={})
    readme = (REPO_ROOT / "README.md").read_text()
    configuration = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "`PIXEE_PROFILES_DIR`" in configuration and ".toml" in configuration


def test_the_receivers_journal_is_never_committed() -> None:
    names = ["pixee_events.sqlite", "pixee_events.sqlite-wal", "pixee_events.sqlite-shm"]
    ignored = subprocess.run(
        ["git", "check-ignore", *names], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert ignored.stdout.split() == names, "the receiver's journal is not in .gitignore"


def test_a_profile_given_as_a_path_is_what_the_deployments_pass_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.schedules import planned_deployments

    (tmp_path / "mine.toml").write_text('[schedule]\nincremental_cron = "15 * * * *"\n')
    monkeypatch.chdir(tmp_path)
    planned = planned_deployments(load_settings("mine.toml", env={}))
    assert [p.name for p in planned] == ["mine-hourly-incremental", "mine-weekly-full"]
    for deployment in planned:
        passed = deployment.parameters["profile"]
        assert passed == str(tmp_path / "mine.toml")
        monkeypatch.chdir(REPO_ROOT)  # a flow run starts elsewhere and finds the same file
        assert load_settings(passed, env={}).schedule["incremental_cron"] == "15 * * * *"
