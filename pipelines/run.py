"""One run: under the destination's lock, a sync, the marts, the serving file; `pixee-etl run`, the
demo and the Prefect flow all call run_once.

```
run_once(context, request)          context: settings, clock, where dlt works, where lines go
 |- lock            (context.lock)   pipelines.load.lock, or the flow's Prefect-wide hold
 |- api             (optional)       the API's flavour, read once and said ("api: ...")
 |- sync            (steps.sync)     pipelines.load.sync: the API into the destination
 |- marts           (steps.marts)    pipelines.transform.dbt_runner: dbt on the sync's pipeline
 '- publish         (steps.publish)  pipelines.publish.serving: the read-only DuckDB file readers open
```
Each step is a plain function of (context, ...) so that the flow can run the same sequence with
its Prefect tasks (retries, states) in their place. A sync that loaded everything it could but
left some lists unread (IncompleteSyncError) still gets its marts and serving file; the error is
raised after them, so the committed part is summarised and the exit status still says it failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipelines.api.client import PixeeClient
from pipelines.api.flavour import Flavour, lacking_api_path, resolve
from pipelines.errors import IncompleteSyncError, NotFoundError
from pipelines.load.sync import sync
from pipelines.publish.run_summary import SyncReport
from pipelines.publish.serving import publish
from pipelines.settings import Settings
from pipelines.transform.dbt_runner import build_marts


class Summarised(Protocol):
    """A step's result that can say what it did in a few lines."""

    def summary(self) -> str: ...


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RunRequest:
    """What the caller asked of one run (the command line's flags, the flow's parameters)."""

    full_refresh: bool = False
    reconcile: bool = False
    details: bool | None = None
    progress: bool = False
    marts: bool = True
    publish: bool = True
    # `pixee-etl run` reads the API's root under the lock and says which API it found
    announce_api: bool = False


@dataclass(frozen=True)
class RunContext:
    """What a run works with, fixed before it starts: settings, the clock, where dlt keeps its
    working directory, and where the run's summary lines go."""

    settings: Settings
    clock: Callable[[], dt.datetime] = utc_now
    as_of: dt.date | None = None  # the day the marts are built for; None: the clock's day
    pipelines_dir: str | None = None
    say: Callable[[str], None] = print
    lock: AbstractContextManager[Any] = field(default_factory=nullcontext)

    def marts_day(self) -> dt.date:
        return self.as_of or self.clock().date()


@dataclass(frozen=True)
class RunResult:
    """What a run did: the sync's counts, the marts' rows, the serving file, when it started."""

    synced: SyncReport
    started: dt.datetime
    marts: Summarised | None = None
    published: Any = None  # PublishReport | None (None on Snowflake, or when not asked for)


def sync_step(context: RunContext, request: RunRequest, flavour: Flavour | None = None) -> SyncReport:
    return sync(
        context.settings,
        flavour=flavour,
        full_refresh=request.full_refresh,
        details=request.details,
        progress=request.progress,
        reconcile=request.reconcile,
        pipelines_dir=context.pipelines_dir,
    )


def marts_step(context: RunContext, synced: SyncReport) -> Summarised:
    return build_marts(synced.pipeline, context.settings, as_of=context.marts_day())


def publish_step(context: RunContext, synced: SyncReport) -> Summarised | None:
    return publish(synced.pipeline, context.settings)


@dataclass(frozen=True)
class RunSteps:
    """The functions a run calls for each step; the defaults are the library's own."""

    sync: Callable[[RunContext, RunRequest, Flavour | None], SyncReport] = sync_step
    marts: Callable[[RunContext, SyncReport], Summarised] = marts_step
    publish: Callable[[RunContext, SyncReport], Summarised | None] = publish_step


LIBRARY_STEPS = RunSteps()


def run_once(context: RunContext, request: RunRequest, steps: RunSteps = LIBRARY_STEPS) -> RunResult:
    """Lock, sync, marts, publish, each step's summary said as it ends; returns what the run did.
    Raises IncompleteSyncError after the marts and the serving file when some lists were not read
    to their end, and whatever a step raises otherwise (committed batches are kept)."""
    with context.lock:
        started = context.clock()
        flavour = _announce_api(context) if request.announce_api else None
        incomplete: IncompleteSyncError | None = None
        try:
            synced = steps.sync(context, request, flavour)
        except IncompleteSyncError as exc:  # the rest is committed: summarise it, then fail
            synced, incomplete = exc.report, exc  # type: ignore[assignment]
        except NotFoundError as exc:  # a run cut short by a 404 may only have been pointed wrong
            raise lacking_api_path(context.settings.base_url, exc) or exc from None
        context.say(synced.summary_table())
        built = steps.marts(context, synced) if request.marts else None
        if built is not None:
            context.say(built.summary())
        published = steps.publish(context, synced) if request.publish else None
        if published is not None:
            context.say(published.summary())
    if incomplete is not None:
        raise incomplete
    return RunResult(synced=synced, started=started, marts=built, published=published)


def _announce_api(context: RunContext) -> Flavour:
    """The API's flavour, read under the lock as every request of a run (a run that waits, or is
    refused, asks nothing), and handed to the sync so that the root is read once."""
    with PixeeClient(context.settings) as client:
        flavour = resolve(context.settings, client)
    print(f"api: {flavour.describe()}", flush=True)
    return flavour
