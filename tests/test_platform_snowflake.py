"""The platform flavour into (fake) Snowflake: history by `_version` and `updated_at`, expiry, patches."""

from __future__ import annotations

from pathlib import Path

from pipelines.load.sync import sync
from pipelines.settings import load_settings
from simulator import SimConfig, Simulator
from tests.test_snowflake import fake_snowflake  # noqa: F401  (the fixture)


def test_a_platform_source_syncs_into_fake_snowflake_with_history_and_expired_scans(
    tmp_path: Path,
    fake_snowflake: list[str],  # noqa: F811
) -> None:
    with Simulator(SimConfig(api="platform", seed=7, repositories=2, days=8)) as sim:
        env = {
            "PIXEE_BASE_URL": sim.base_url,
            "PIXEE_TOKEN": sim.org_token,
            "PIXEE_REQUESTS_PER_MINUTE": "60000",
        }
        settings = load_settings("snowflake", env=env)
        first = sync(settings, pipelines_dir=str(tmp_path))
        before = sim.truth()
        sim.advance(48)
        again = sync(settings, pipelines_dir=str(tmp_path))
        after = sim.truth()
    assert first.flavour == "platform"
    assert first.history_rows["findings_history"] == len(before["findings"])
    assert again.expired > 0 and again.history_rows.get("analyses_history", 0) > 0
    with again.pipeline.sql_client() as client:
        [(expired,)] = client.execute_sql("select count(*) from pixee.scans where _expired_at is not null")
        assert (
            expired
            == again.expired
            == len({s["id"] for s in before["scans"]} - {s["id"] for s in after["scans"]})
        )
        [(scans,)] = client.execute_sql("select count(*) from pixee.scans")
        assert scans == len({s["id"] for s in before["scans"] + after["scans"]})
        [(versions,)] = client.execute_sql("select count(*) from pixee.findings_history")
        assert versions == first.history_rows["findings_history"] + again.history_rows.get(
            "findings_history", 0
        )
    assert sim.org_token not in "\n".join(fake_snowflake)
