"""Phase 2, the organisation: webhooks and the repositories list, extracted as one package."""

from __future__ import annotations

import dlt

from pipelines.api.client import PixeeClient
from pipelines.extract.v1 import pixee_source, read_webhooks
from pipelines.extract.v1.cursors import run_start, server_clock
from pipelines.load.sync.record import RunRecord
from pipelines.load.sync.steps import LOADER_FILE_FORMAT, run_step
from pipelines.publish.run_summary import SyncReport
from pipelines.settings import Settings


def extract_organisation(
    pipeline: dlt.Pipeline,
    client: PixeeClient,
    settings: Settings,
    details: bool,
    report: SyncReport,
    full_refresh: bool,
    record: RunRecord,
) -> None:
    """Extract /repositories (since its cursor) and /webhooks (all of it); loaded by phase 3.

    The webhooks are read before anything is extracted: a replace table must not be emptied
    because the token may not list them (403), so the resource is left out then.
    """
    hooks = read_webhooks(client, report)
    # The run's start on the server's clock (its first answer): no cursor moves past it.
    report.cursor_cap = run_start(client.server_date)
    # observed_at and _deleted_at are compared with updated_at in the marts: the same clock.
    report.server_started_at = server_clock(client.server_date)
    first = pixee_source(
        client,
        lag_seconds=settings.lag_seconds,
        details=details,
        tally=report,
        webhook_pages=hooks,
        cap=report.cursor_cap,
        **record.source_args(),
    ).with_resources("repositories", *(["webhooks"] if hooks is not None else []))
    run_step(
        pipeline.extract,
        first,
        refresh="drop_sources" if full_refresh else None,
        loader_file_format=LOADER_FILE_FORMAT,
    )
