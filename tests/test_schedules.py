"""Schedules: prefect.yaml matches the profile, and next run times across DST are what Prefect computes."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.schedules import PlannedDeployment, planned_deployments
from pipelines.errors import ConfigError
from pipelines.settings import REPO_ROOT, load_settings

UTC = dt.UTC


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _iso_utc(dates: list[dt.datetime]) -> list[str]:
    return [d.astimezone(UTC).strftime("%m-%d %H:%M") for d in dates]


@pytest.fixture(scope="module")
def prefect_yaml() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())


@pytest.fixture(scope="module")
def berlin() -> dict[str, PlannedDeployment]:
    return {d.name: d for d in planned_deployments(load_settings("snowflake", env={}))}


def test_prefect_yaml_matches_the_snowflake_profile(
    prefect_yaml: dict[str, Any], berlin: dict[str, PlannedDeployment]
) -> None:
    declared = {d["name"]: d for d in prefect_yaml["deployments"]}
    assert set(declared) == set(berlin) == {"snowflake-hourly-incremental", "snowflake-weekly-full"}
    for name, planned in berlin.items():
        deployment = declared[name]
        [schedule] = deployment["schedules"]
        assert (schedule["cron"], schedule["timezone"]) == (planned.cron, planned.timezone)
        assert deployment["parameters"] == planned.parameters
        assert deployment["work_pool"]["name"] == "pixee-etl"
        path, _, attr = deployment["entrypoint"].partition(":")
        module = importlib.import_module(Path(path).with_suffix("").as_posix().replace("/", "."))
        assert getattr(module, attr).name == "pixee-sync"
    assert declared["snowflake-hourly-incremental"]["parameters"]["full_refresh"] is False
    # The weekly run reconciles (reads everything, marks deletions) without a full refresh's drop.
    assert declared["snowflake-weekly-full"]["parameters"]["full_refresh"] is False
    assert declared["snowflake-weekly-full"]["parameters"]["reconcile"] is True


def test_default_profile_runs_hourly_and_sunday_3am_utc() -> None:
    hourly, weekly = planned_deployments(load_settings(env={}))
    assert (hourly.cron, hourly.timezone, weekly.cron, weekly.timezone) == (
        "0 * * * *",
        "UTC",
        "0 3 * * 0",
        "UTC",
    )
    assert _iso_utc(hourly.next_runs(3, _utc(2026, 11, 28, 19, 30))) == [
        "11-28 20:00",
        "11-28 21:00",
        "11-28 22:00",
    ]
    assert _iso_utc(weekly.next_runs(2, _utc(2026, 11, 28, 19, 30))) == ["11-29 03:00", "12-06 03:00"]


def test_hourly_across_spring_forward_in_berlin(berlin: dict[str, PlannedDeployment]) -> None:
    # 2027-03-28 02:00 CET jumps to 03:00 CEST: there is no 02:05, and no run is lost in real time.
    runs = berlin["snowflake-hourly-incremental"].next_runs(4, _utc(2027, 3, 27, 22, 30))
    assert [r.isoformat() for r in runs] == [
        "2027-03-28T00:05:00+01:00",
        "2027-03-28T01:05:00+01:00",
        "2027-03-28T03:05:00+02:00",
        "2027-03-28T04:05:00+02:00",
    ]
    assert _iso_utc(runs) == ["03-27 23:05", "03-28 00:05", "03-28 01:05", "03-28 02:05"]


def test_hourly_across_fall_back_in_berlin(berlin: dict[str, PlannedDeployment]) -> None:
    # 2027-10-31 03:00 CEST falls back to 02:00 CET: 02:05 happens twice on the wall clock and
    # Prefect runs it once (the first), so there is one two-hour gap in real time.
    runs = berlin["snowflake-hourly-incremental"].next_runs(4, _utc(2027, 10, 30, 22, 30))
    assert [r.isoformat() for r in runs] == [
        "2027-10-31T01:05:00+02:00",
        "2027-10-31T02:05:00+02:00",
        "2027-10-31T03:05:00+01:00",
        "2027-10-31T04:05:00+01:00",
    ]
    assert _iso_utc(runs) == ["10-30 23:05", "10-31 00:05", "10-31 02:05", "10-31 03:05"]


def test_weekly_full_stays_at_3am_local_across_both_changes(berlin: dict[str, PlannedDeployment]) -> None:
    weekly = berlin["snowflake-weekly-full"]
    spring = weekly.next_runs(2, _utc(2027, 3, 20, 12, 0))
    fall = weekly.next_runs(2, _utc(2027, 10, 23, 12, 0))
    for run in spring + fall:
        assert (run.weekday(), run.hour, run.minute) == (6, 3, 0)  # Sunday 03:00 in Berlin
    # ...which is 02:00 UTC in winter and 01:00 UTC in summer.
    assert _iso_utc(spring) == ["03-21 02:00", "03-28 01:00"]
    assert _iso_utc(fall) == ["10-24 01:00", "10-31 02:00"]


def test_schedule_in_a_profile_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = (REPO_ROOT / "profiles" / "duckdb.toml").read_text()
    (tmp_path / "badtz.toml").write_text(base.replace('timezone = "UTC"', 'timezone = "Mars/Olympus"'))
    (tmp_path / "badcron.toml").write_text(base.replace('full_cron = "0 3 * * 0"', 'full_cron = "0 3 * *"'))
    monkeypatch.setenv("PIXEE_PROFILES_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"hourly-incremental: schedule '0 \* \* \* \*' in 'Mars/Olympus'"):
        planned_deployments(load_settings("badtz", env={}))
    with pytest.raises(ConfigError, match=r"weekly-full: schedule '0 3 \* \*' in 'UTC' is not valid"):
        planned_deployments(load_settings("badcron", env={}))
