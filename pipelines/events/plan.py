"""Which (repository, list) pairs a run reads: the lists the events since the last run imply, or all.

Events are hints, never the record (api-contract "Subscriptions"): a run polls every list (mode
`poll`: each list from its cursor, as a run without events does) when none did for
`reconcile_hours`, when the previous run did not finish, and
whenever the receiver may have missed events: it was down, or nothing (no event, no ping)
arrived, for longer than Pixee's retry schedule. Otherwise it reads only what the events name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipelines.events.journal import StoredEvent, parse_stamp
from pipelines.extract.endpoints import repository_lists

# Which lists an event changes (api-contract "Payloads"). fix.generated also changes its scan:
# a scan's `fixes_generated` (and so its updated_at) counts the fixes made for its findings.
LISTS_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    "fix.generated": ("fixes", "scans"),
    "pr.opened": ("fixes",),
    "pr.closed": ("fixes",),
    "pr.merged": ("fixes", "findings"),
    "triage.completed": ("findings",),
    "scan.completed": ("scans", "findings"),
}


@dataclass
class EventPlan:
    """The mode of a run (`events` or `reconcile`), why, and in `events` mode what to read.

    The summary calls the `reconcile` mode "poll": it reads each list from its cursor, while
    `run --reconcile` reads every list from the start; one word per meaning for the reader.
    """

    mode: str
    reason: str
    lists: dict[str, set[str]] = field(default_factory=dict)  # repository id -> lists to read
    events: int = 0
    unresolved: list[str] = field(default_factory=list)  # repository names no id was found for

    def summary(self) -> str:
        if self.mode == "reconcile":
            return f"mode: poll (every list of every repository, each from its cursor) because {self.reason}"
        pairs = sum(len(v) for v in self.lists.values())
        return (
            f"mode: events ({self.events} events since the last run -> {pairs} lists in "
            f"{len(self.lists)} repositories) because {self.reason}"
        )

    def selection(self, repos_state: Mapping[str, Any]) -> dict[str, tuple[str, ...]] | None:
        """Lists to read per repository, None for all; a repository new to the state is read in full."""
        if self.mode == "reconcile":
            return None
        every = repository_lists()
        chosen: dict[str, tuple[str, ...]] = {}
        for repo, cursors in repos_state.items():
            if not cursors:  # no cursor yet: new to us, so every list in full
                chosen[repo] = every
            elif repo in self.lists:
                chosen[repo] = tuple(k for k in every if k in self.lists[repo])
        return chosen


def _hours(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def missed_reason(
    sessions: Sequence[tuple[datetime, datetime, datetime | None]],
    last_received: datetime | None,
    since: datetime,
    now: datetime,
    missed_after: timedelta,
) -> str | None:
    """Why the receiver may have missed events between `since` and `now`, or None."""
    if not sessions:
        return "the receiver has never run (its journal records no session)"
    # Holes between the times it was up, and from its last heartbeat to now. A hole longer than
    # the retry schedule may have lost events; one that ended before the last run began was
    # already judged by that run (a hole still open then is judged whole now).
    covered_to: datetime | None = None
    for started, beat, stopped in sorted(sessions):
        # Before the first session: the hole runs from the last run (if it started later).
        ref = covered_to if covered_to is not None else min(since, started)
        if started > ref:
            hole = started - ref
            if started > since and hole > missed_after:
                return (
                    f"the receiver was down for {_hours(hole)} "
                    f"(longer than Pixee's retries, {_hours(missed_after)})"
                )
        end = stopped or beat
        covered_to = end if covered_to is None else max(covered_to, end)
    assert covered_to is not None
    if now - covered_to > missed_after:
        return f"the receiver has not been up for {_hours(now - covered_to)} (past Pixee's retries)"
    if last_received is None:
        return "no event or ping has ever arrived (is the webhook subscribed and its secret right?)"
    if now - last_received > missed_after:
        return f"no event or ping arrived for {_hours(now - last_received)} (longer than Pixee's retries)"
    return None


def plan(
    events: Iterable[StoredEvent],
    *,
    state: Mapping[str, Any],
    sessions: Sequence[tuple[datetime, datetime, datetime | None]],
    last_received: datetime | None,
    names: Mapping[str, str],
    now: datetime,
    reconcile_hours: float,
    missed_after: timedelta,
    force_reason: str | None = None,
) -> EventPlan:
    """Decide the run's mode from the events state (last_reconcile, last_run, inflight) and the journal."""
    events = list(events)
    last_reconcile = state.get("last_reconcile")
    last_run = state.get("last_run")
    reason = force_reason
    if reason is None and not last_reconcile:
        reason = "no run has polled every list yet"
    if reason is None and state.get("inflight") == "reconcile":
        reason = "the previous poll of every list did not finish"
    if reason is None:
        age = now - parse_stamp(last_reconcile)
        if age >= timedelta(hours=reconcile_hours):
            reason = f"every list was last polled {_hours(age)} ago (reconcile_hours = {reconcile_hours:g})"
    if reason is None:
        reason = missed_reason(
            sessions, last_received, parse_stamp(last_run or last_reconcile), now, missed_after
        )
    if reason is not None:
        return EventPlan("reconcile", reason, events=len(events))
    out = EventPlan("events", "the receiver was up and every list was polled recently", events=len(events))
    # Lists a previous event-driven run planned but did not finish are read again.
    for repo, kinds in (
        (state.get("inflight") or {}).items() if isinstance(state.get("inflight"), dict) else ()
    ):
        out.lists.setdefault(repo, set()).update(kinds)
    for event in events:
        kinds = LISTS_BY_TYPE.get(event.type)
        if not kinds:
            continue  # ping, or a type this connector does not know: nothing to read
        repo = event.repository_id or (names.get(event.repository) if event.repository else None)
        if repo is None:
            out.unresolved.append(str(event.repository))
            continue
        out.lists.setdefault(repo, set()).update(kinds)
    return out
