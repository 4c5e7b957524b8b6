"""The dlt schema that holds the API's tables: a pipeline with events on has a second one, the default."""

from __future__ import annotations

from typing import Any

API_SCHEMA = "pixee"  # pipelines.extract.v1's source name, which names its schema


def api_schema(pipeline: Any) -> Any | None:
    """The schema of repositories, scans, findings, fixes and webhooks; None before the first load.
    Not `pipeline.default_schema`: the events source (pipelines.events.runs) may be the default."""
    return pipeline.schemas[API_SCHEMA] if API_SCHEMA in pipeline.schema_names else None
