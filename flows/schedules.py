"""The two deployments of pixee_sync a profile implies: hourly incremental, weekly full, in its timezone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import ConfigError
from pipelines.settings import Settings

FLOW_NAME = "pixee-sync"


@dataclass(frozen=True)
class PlannedDeployment:
    """One deployment: its name, cron and timezone, and the flow parameters its runs get."""

    name: str
    cron: str
    timezone: str
    parameters: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def full_name(self) -> str:
        return f"{FLOW_NAME}/{self.name}"

    def cron_schedule(self) -> Any:
        """Prefect's CronSchedule (the scheduler's own date arithmetic), or ConfigError."""
        from prefect.server.schemas.schedules import CronSchedule

        try:
            return CronSchedule(cron=self.cron, timezone=self.timezone)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            first = str(exc).splitlines()[-1].strip()
            raise ConfigError(
                f"deployment {self.name}: schedule {self.cron!r} in {self.timezone!r} is not valid ({first})"
            ) from None

    def next_runs(self, n: int, after: dt.datetime | None = None) -> list[dt.datetime]:
        """The next n run times, computed exactly as the Prefect scheduler does (DST included)."""
        schedule = self.cron_schedule()
        start = after or dt.datetime.now(dt.UTC)
        return list(schedule._get_dates_generator(n=n, start=start))


def planned_deployments(settings: Settings) -> list[PlannedDeployment]:
    """Hourly incremental (skips when the previous run still holds the destination) and the weekly
    full reconciliation (waits for it): the full run re-reads what `updated_since` cannot show."""
    tz = settings.schedule.get("timezone", "UTC")
    # A profile given as a path travels as that path: a flow run resolves it again on its own.
    profile = str(settings.profile_file or settings.profile)
    deployments = [
        PlannedDeployment(
            name=f"{settings.profile}-hourly-incremental",
            cron=settings.schedule["incremental_cron"],
            timezone=tz,
            parameters={"profile": profile, "full_refresh": False, "overlap": "skip"},
            description="Incremental sync, marts, checks, report; skipped while another run holds the lock.",
        ),
        PlannedDeployment(
            name=f"{settings.profile}-weekly-full",
            cron=settings.schedule["full_cron"],
            timezone=tz,
            # reconcile, not full_refresh: every list is read in full and what the API no longer
            # lists gets _deleted_at, while nothing is dropped (a full refresh forgets those rows).
            parameters={
                "profile": profile,
                "full_refresh": False,
                "reconcile": True,
                "overlap": "wait",
            },
            description="Full reconciliation: re-reads every list, marks deletions; waits for a running run.",
        ),
    ]
    for deployment in deployments:
        deployment.cron_schedule()  # validate early: a bad profile fails before anything starts
    return deployments
