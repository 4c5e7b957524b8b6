"""docs/warehouse.md stays true: its five example queries run on a built warehouse, and every mart
column the SQL produces is in the data dictionary."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from pipelines.marts import build_marts
from pipelines.settings import REPO_ROOT, Settings
from tests.marts_expected import KEYS
from tests.marts_support import HANDMADE_AS_OF, handmade_org, load_raw

DOC = (REPO_ROOT / "docs" / "warehouse.md").read_text()


def example_queries() -> list[str]:
    section = DOC.split("## Example queries", 1)[1]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("docs")
    pipeline = load_raw(handmade_org(), tmp / "warehouse.duckdb", tmp / "pipelines")
    build_marts(pipeline, Settings(), HANDMADE_AS_OF)
    return tmp / "warehouse.duckdb"


def test_there_are_five_example_queries() -> None:
    assert len(example_queries()) == 5


@pytest.mark.parametrize("number", range(5))
def test_example_query_runs_and_answers(warehouse: Path, number: int) -> None:
    query = example_queries()[number]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(query).fetchall()
    assert rows, f"example query {number + 1} returned nothing on the edge-case warehouse"
    # and it is Snowflake SQL too once translated (the doc promises it runs there as written)
    translated = sqlglot.transpile(query, read="duckdb", write="snowflake")[0]
    sqlglot.parse_one(translated, read="snowflake", error_level=ErrorLevel.RAISE)


def test_every_mart_column_is_in_the_dictionary(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart in KEYS:
            heading = f"### `{mart}`" if f"### `{mart}`" in DOC else "### Helper tables"
            section = DOC.split(heading, 1)[1].split("\n### ", 1)[0]
            documented = set(re.findall(r"`(\w+)`", section))
            columns = [row[0] for row in con.execute(f"describe pixee_marts.{mart}").fetchall()]
            missing = [c for c in columns if c not in documented]
            assert not missing, f"{mart}: columns not in docs/warehouse.md: {missing}"
