"""The dlt destination and pipeline for a Settings: DuckDB file or Snowflake account."""

from __future__ import annotations

from typing import Any

import dlt

from pipelines.errors import ConfigError
from pipelines.settings import Settings


def destination_for(settings: Settings) -> Any:
    """A dlt destination object; Snowflake credentials come from the environment, never a profile."""
    if settings.destination == "duckdb":
        path = settings.duckdb_path
        if path.parent and not path.parent.exists():
            raise ConfigError(f"DuckDB path {path}: directory {path.parent} does not exist")
        return dlt.destinations.duckdb(str(path))
    if settings.destination == "snowflake":
        raise ConfigError("the snowflake destination is not wired yet")  # filled in by issue 5
    raise ConfigError(f"unknown destination {settings.destination!r}")


def make_pipeline(settings: Settings, *, pipelines_dir: str | None = None) -> dlt.Pipeline:
    """The one dlt pipeline for these settings; its state lives in the destination too."""
    return dlt.pipeline(
        pipeline_name=settings.pipeline_name,
        destination=destination_for(settings),
        dataset_name=settings.dataset,
        pipelines_dir=pipelines_dir,
        progress=None,
    )
