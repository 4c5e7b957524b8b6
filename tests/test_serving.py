"""The DuckDB serving file: readers on it never block a run, see the new data on reconnect, and an
older DuckDB (1.1, in its own virtual environment) answers every example query of docs/warehouse.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.errors import ConfigError
from pipelines.load.destinations import destination_for
from pipelines.load.sync import sync
from pipelines.publish.serving import publish, serving_path
from pipelines.settings import REPO_ROOT, Settings
from pipelines.transform.dbt_runner import build_marts
from tests.faults_support import etl_env, run_etl
from tests.marts_support import HANDMADE_AS_OF, handmade_org, load_raw
from tests.test_marts_docs import example_queries

# The oldest release line the README promises reads the serving file, in a venv of its own that
# later runs reuse (inside .venv, so a fresh clone builds it and git never sees it).
OLD_DUCKDB = "1.1.*"
OLD_VENV = REPO_ROOT / ".venv" / "compat" / "duckdb-1.1"
COUNTS = (
    "select (select count(*) from pixee.findings), (select count(*) from pixee.fixes), "
    "(select max(load_id) from pixee._dlt_loads), (select sum(open_findings) from pixee_marts.backlog_daily)"
)


def test_a_reader_on_the_serving_file_never_blocks_three_runs_and_sees_the_last_on_reconnect(
    simulator: Callable[..., Any], sim_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    sim = simulator(repositories=2, days=10)
    settings = sim_settings(sim)
    db = settings.duckdb_path
    # The first serving file, published in-process (what `run` does, minus a process start).
    first = sync(settings, pipelines_dir=str(tmp_path / "seed"))
    build_marts(first.pipeline, settings)
    serving = db.with_name("warehouse.serving.duckdb")
    assert publish(first.pipeline, settings) is not None and serving.exists()
    env = etl_env(sim, tmp_path)

    reader = duckdb.connect(str(serving), read_only=True)  # what a dashboard keeps open
    snapshot = reader.execute(COUNTS).fetchone()
    stop = threading.Event()
    failures: list[str] = []
    answered = [0]

    def keep_querying() -> None:
        while not stop.is_set():
            try:
                seen = reader.execute(COUNTS).fetchone()
                if seen != snapshot:
                    failures.append(f"the open connection's snapshot changed: {snapshot} -> {seen}")
                answered[0] += 1
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
            stop.wait(0.02)

    thread = threading.Thread(target=keep_querying, daemon=True)
    thread.start()
    try:
        for _ in range(3):
            sim.advance(48)  # new scans, findings, fixes for each run to load
            done = run_etl(env, "run", "--duckdb-path", str(db), cwd=tmp_path)
            assert done.returncode == 0, done.stderr[-1500:]
            assert f"serving file {serving} published" in done.stdout
    finally:
        stop.set()
        thread.join(timeout=30)
        reader.close()
    assert not failures, failures[:3]
    assert answered[0] > 0

    with duckdb.connect(str(serving), read_only=True) as reconnected:
        findings, fixes, load_id, _ = reconnected.execute(COUNTS).fetchone()
    with duckdb.connect(str(db), read_only=True) as working:
        latest = working.execute("select max(load_id) from pixee._dlt_loads").fetchone()[0]
    assert (findings, fixes) == (len(sim.truth()["findings"]), len(sim.truth()["fixes"]))
    assert findings > snapshot[0] and load_id == latest  # the last run's rows, not the first's
    assert not serving.with_name(serving.name + ".wal").exists()
    assert sorted(p.name for p in tmp_path.glob(".warehouse.serving.duckdb*")) == []  # no leftovers


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The edge-case warehouse of the marts tests, with marts, published: (working, serving)."""
    tmp = tmp_path_factory.mktemp("serving")
    settings = Settings(duckdb_path=tmp / "warehouse.duckdb")
    pipeline = load_raw(handmade_org(), settings.duckdb_path, tmp / "pipelines")
    build_marts(pipeline, settings, HANDMADE_AS_OF)
    report = publish(pipeline, settings)
    assert report is not None and report.path == serving_path(settings).absolute()
    return settings.duckdb_path, report.path


def _old_duckdb() -> Path:
    """python of a venv holding duckdb 1.1 (built on first use); skips, naming why, only when the
    package index cannot be reached outside CI."""
    python = OLD_VENV / "bin" / "python"
    if python.exists():
        return python
    building = OLD_VENV.with_name(f"{OLD_VENV.name}.{os.getpid()}.building")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, capture_output=True)
        subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", f"duckdb=={OLD_DUCKDB}"],
            check=True, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        building.rename(OLD_VENV)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        reason = getattr(exc, "stderr", None) or str(exc)
        if os.environ.get("CI"):
            raise
        pytest.skip(f"could not install duckdb=={OLD_DUCKDB} into {OLD_VENV}: {str(reason).strip()[-300:]}")
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python


OLD_CLIENT = """
import json, sys, duckdb
path, queries = sys.argv[1], json.load(sys.stdin)
with duckdb.connect(path, read_only=True) as con:
    answers = [[[str(v) for v in row] for row in con.execute(q).fetchall()] for q in queries]
print(json.dumps({"version": duckdb.__version__, "answers": answers}))
"""


def test_duckdb_1_1_answers_every_example_query_of_the_docs_on_the_serving_file(
    published: tuple[Path, Path],
) -> None:
    working, serving = published
    queries = example_queries()
    old = subprocess.run(
        [str(_old_duckdb()), "-c", OLD_CLIENT, str(serving)],
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert old.returncode == 0, old.stderr[-2000:]
    result = json.loads(old.stdout)
    assert result["version"].startswith("1.1.")
    # The same answers the project's own DuckDB gives on the working file, every query non-empty.
    with duckdb.connect(str(working), read_only=True) as con:
        expected = [[[str(v) for v in row] for row in con.execute(q).fetchall()] for q in queries]
    assert result["answers"] == expected
    assert all(result["answers"])
    # The project's DuckDB writes a storage version 1.1 cannot open: that is what publishing fixes.
    refused = subprocess.run(
        [str(_old_duckdb()), "-c", OLD_CLIENT, str(working)], input="[]", capture_output=True, text=True
    )
    assert refused.returncode != 0 and "version" in refused.stderr


def test_the_serving_file_is_read_only_and_in_the_configured_storage_version(
    published: tuple[Path, Path], tmp_path: Path
) -> None:
    _, serving = published
    assert serving.stat().st_mode & 0o222 == 0
    with duckdb.connect(str(serving), read_only=True) as con:
        tags = con.execute("select tags from duckdb_databases() where database_name = current_database()")
        assert tags.fetchone()[0]["storage_version"] == "v1.0.0+"  # DuckDB's name for v1.1.0's format
        # staging views resolve inside the serving file, not in the working file they were built in
        assert con.execute("select count(*) from pixee_marts_staging.stg_pixee__findings").fetchone()[0] > 0
        schemas = {row[0] for row in con.execute("select schema_name from duckdb_tables()").fetchall()}
    # dlt's merge staging (pixee_staging) is not published; the dbt project's staging schema is
    assert schemas == {"pixee", "pixee_marts", "pixee_marts_staging"}

    settings = Settings(duckdb_path=tmp_path / "newer.duckdb", storage_version="v1.5.0")
    repositories = {"repositories": handmade_org()["repositories"]}
    pipeline = load_raw(repositories, settings.duckdb_path, tmp_path / "p")
    # what a publish killed mid-way leaves: removed by the next one, never renamed into place
    stale = tmp_path / ".newer.serving.duckdb.999999.publishing"
    stale.write_bytes(b"half a file")
    report = publish(pipeline, settings)
    assert report is not None and not stale.exists()
    with duckdb.connect(str(report.path), read_only=True) as con:
        tags = con.execute("select tags from duckdb_databases() where database_name = current_database()")
        assert tags.fetchone()[0]["storage_version"] == "v1.5.0+"


def test_a_file_named_like_a_dataset_is_refused_in_one_line_with_a_name_that_works(tmp_path: Path) -> None:
    for name in ("pixee.duckdb", "pixee.prod.duckdb", "pixee_marts.duckdb"):
        with pytest.raises(ConfigError, match=r"ambiguous; pick another file name, e\.g\. ") as refused:
            destination_for(Settings(duckdb_path=tmp_path / name))
        suggested = Path(str(refused.value).rsplit("e.g. ", 1)[1])
        destination_for(Settings(duckdb_path=suggested))  # the suggestion is accepted
    with pytest.raises(ConfigError, match="ambiguous for every reader"):
        destination_for(Settings(duckdb_path=tmp_path / "w.duckdb", serving_path=tmp_path / "pixee.duckdb"))
    with pytest.raises(ConfigError, match="is the working file"):
        destination_for(Settings(duckdb_path=tmp_path / "w.duckdb", serving_path=tmp_path / "w.duckdb"))
    with pytest.raises(ConfigError, match=r"storage_version 'v0\.0\.0-bogus' is not a DuckDB version"):
        destination_for(Settings(duckdb_path=tmp_path / "w.duckdb", storage_version="v0.0.0-bogus"))
    elsewhere = tmp_path / "no" / "s.duckdb"
    with pytest.raises(ConfigError, match="does not exist"):
        destination_for(Settings(duckdb_path=tmp_path / "w.duckdb", serving_path=elsewhere))


def test_snowflake_has_no_serving_file() -> None:
    assert publish(None, Settings(destination="snowflake")) is None  # type: ignore[arg-type]


def test_the_publish_benchmark_section_survives_a_full_bench_rewrite() -> None:
    from bench.publish import SECTION_END, SECTION_START, carry_section, existing_section

    section = f"{SECTION_START}\n## Serving file\n| 1 |\n{SECTION_END}\n"
    document = carry_section("# Benchmarks\n\n## 1. Rate\nold numbers\n", section)
    assert document.startswith("# Benchmarks\n\n## 1. Rate\nold numbers\n") and document.endswith(section)
    newer = section.replace("| 1 |", "| 2 |")
    replaced = carry_section(document, newer)
    assert replaced.count(SECTION_START) == 1 and "| 2 |" in replaced and "| 1 |" not in replaced
    # what `python -m bench` does with the file it rewrites: the section comes along
    rewritten = "# Benchmarks\n\nnew numbers\n"
    kept = existing_section(document)
    assert kept == section and carry_section(rewritten, kept).endswith(section)
