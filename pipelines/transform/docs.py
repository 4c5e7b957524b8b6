"""The marts' data dictionary in docs/warehouse.md, generated from the dbt schema file (written once)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from pipelines.settings import REPO_ROOT
from pipelines.transform.dbt_runner import SQL_DIR

SCHEMA_FILE = SQL_DIR / "models" / "marts" / "_marts.yml"
DOC = REPO_ROOT / "docs" / "warehouse.md"
# The generated part of the page: from this heading up to the next second-level heading.
SECTION = "## Marts (`pixee_marts`)"
NOTE = (
    "<!-- generated from sql/models/marts/_marts.yml by `python -m pipelines.transform.docs`: "
    "edit the schema file, then regenerate -->"
)


def _cell(text: Any) -> str:
    return " ".join(str(text or "").split()).replace("|", "\\|")


def render(schema_file: Path = SCHEMA_FILE) -> str:
    """The markdown of the marts section: one table of columns per mart (with its platform reading),
    then the helper tables."""
    models = yaml.safe_load(schema_file.read_text())["models"]
    lines = [SECTION, "", NOTE, ""]
    helpers = []
    for model in models:
        meta = model.get("meta", {})
        if meta.get("helper"):
            helpers.append(model)
            continue
        lines += [f"### `{model['name']}`: {meta['heading']}", "", _cell(model.get("description")), ""]
        if meta.get("platform"):
            lines += [f"**Over a platform source:** {_cell(meta['platform'])}", ""]
        lines += ["| column | type | meaning |", "|---|---|---|"]
        for column in model.get("columns", []):
            lines.append(
                f"| `{column['name']}` | {column.get('data_type', '')} | {_cell(column.get('description'))} |"
            )
        lines.append("")
    lines += ["### Helper tables", "", "| table | columns | meaning |", "|---|---|---|"]
    for model in helpers:
        columns = ", ".join(
            f"`{column['name']}` {column.get('data_type', '')}".strip() for column in model.get("columns", [])
        )
        lines.append(f"| `{model['name']}` | {columns} | {_cell(model.get('description'))} |")
    return "\n".join(lines) + "\n"


def updated(doc: str, section: str) -> str:
    """The page with its marts section replaced by `section`."""
    if SECTION not in doc:
        raise ValueError(f"{DOC}: no '{SECTION}' heading to generate under")
    before, rest = doc.split(SECTION, 1)
    after = rest.split("\n## ", 1)
    tail = "\n## " + after[1] if len(after) == 2 else ""
    return before + section + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.transform.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/warehouse.md is out of date")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = updated(current, render())
    if args.check:
        if wanted != current:
            print(f"{DOC} is out of date: run python -m pipelines.transform.docs", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
