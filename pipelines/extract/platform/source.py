"""The platform flavour as a dlt source: one segment's rows per table, and the state that covers them."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from pipelines.extract import rejected_rows as records
from pipelines.extract.endpoints import Endpoint
from pipelines.load.schemas import API_SCHEMA

SOURCE_NAME = API_SCHEMA  # the same schema as the v1 source: history and deletions find it
STATE_KEY = "platform"


def saved_state(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """The platform state the last committed load left (empty on a new warehouse)."""
    state = pipeline.state.get("sources", {}).get(SOURCE_NAME, {})
    return copy.deepcopy(state.get(STATE_KEY) or {})


@dlt.source(name=SOURCE_NAME, max_table_nesting=1)
def platform_segment(
    rows: dict[str, list[dict[str, Any]]],
    tables: dict[str, Endpoint],
    state: dict[str, Any],
    rejected: Sequence[dict[str, Any]] = (),
) -> list[DltResource]:
    """The rows a segment read, table by table (hints from pipelines.extract.endpoints), committed with
    `state`: the cursors and pending work that cover exactly these rows."""

    def state_resource() -> Iterator[Any]:
        dlt.current.source_state()[STATE_KEY] = copy.deepcopy(state)
        yield from ()

    resources: list[DltResource] = [dlt.resource(state_resource, name="_platform_state")]
    for table, table_rows in rows.items():
        entry = tables[table]
        resources.append(
            dlt.resource(
                list(table_rows),
                name=table,
                write_disposition=entry.write_disposition,
                primary_key=list(entry.key),
                columns=entry.columns,  # type: ignore[arg-type]
            )
        )
    if rejected:
        resources.append(
            dlt.resource(
                list(rejected),
                name=records.TABLE,
                write_disposition="append",
                columns=records.COLUMNS,  # type: ignore[arg-type]
            )
        )
    return resources
