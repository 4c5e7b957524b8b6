"""Phase 2, the organisation: webhooks and the repositories list, extracted as one package."""

from __future__ import annotations

from pipelines.extract.v1 import read_webhooks
from pipelines.load.sync.context import SyncRun
from pipelines.load.sync.steps import LOADER_FILE_FORMAT, run_step


def extract_organisation(run: SyncRun) -> None:
    """Extract /repositories (since its cursor) and /webhooks (all of it); loaded by phase 3.

    The webhooks are read before anything is extracted: a replace table must not be emptied
    because the token may not list them (403), so the resource is left out then.
    """
    hooks = read_webhooks(run.client, run.report)
    # The run's start on the server's clock (its first answer): no cursor moves past it;
    # observed_at and _deleted_at are compared with updated_at in the marts: the same clock.
    run.read_clock()
    first = run.v1_source(webhook_pages=hooks).with_resources(
        "repositories", *(["webhooks"] if hooks is not None else [])
    )
    run_step(
        run.pipeline.extract,
        first,
        refresh="drop_sources" if run.full_refresh else None,
        loader_file_format=LOADER_FILE_FORMAT,
    )
