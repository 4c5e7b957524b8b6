"""The platform flavour's records: repositories, detector streams, scans, findings, analyses, patches.

Every record carries the moments its state changes (planned when it is generated), so its state at
any simulated time is a pure function of that time: advancing the clock changes nothing in memory.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from random import Random

from simulator.timeutil import iso

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def new_uuid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def finding_key(rng: Random) -> str:
    """A scanner's issue key, the way Sonar spells them (e.g. AZ4JOwsipJDH8099SpHt)."""
    return "AZ" + "".join(rng.choice(ALNUM) for _ in range(18))


@dataclass(slots=True, eq=False)
class Workflow:
    id: str
    repository_id: str
    name: str
    event: str
    action: str
    tool: str
    cadence: str
    branch: str
    enabled: bool


@dataclass(slots=True, eq=False)
class Repository:
    id: str
    idx: int
    name: str
    full_name: str
    default_branch: str
    type: str
    owner: str
    html_url: str
    created_at: int
    enabled: bool
    detectors: list[str]
    workflows: list[Workflow] = field(default_factory=list)
    pr_counter: int = 0


@dataclass(slots=True, eq=False)
class Patch:
    id: str
    repository_id: str
    scan_id: str
    finding_id: str
    pr_number: int
    branch_name: str
    html_url: str
    created_at: int
    decided_at: int | None  # when merge_state leaves "open" (None: it never does)
    outcome: str | None  # "merged" | "closed" | None

    def merge_state(self, t: int) -> str:
        if self.decided_at is not None and self.decided_at <= t and self.outcome:
            return self.outcome
        return "open"

    def updated_at(self, t: int) -> int:
        if self.decided_at is not None and self.decided_at <= t:
            return self.decided_at
        return self.created_at

    def is_open(self, t: int) -> bool:
        return self.merge_state(t) == "open"


@dataclass(slots=True, eq=False)
class Life:
    """One finding of one (repository, detector) stream: listed by every scan while it is open."""

    id: str
    title: str
    rule: str
    label: str
    rank: int
    html_url: str
    verdict: str  # what triage suggests for it
    fixable: bool  # whether a fix result proposes a change
    confidence: str
    classification: str  # what sca says, for streams that get sca
    intervals: list[list[int | None]]  # [start, end) pairs; end None = still open
    patches: list[Patch] = field(default_factory=list)
    patched_interval: int = -1  # the interval that already got its patch (one per interval)

    def open_at(self, t: int) -> bool:
        return any(start <= t and (end is None or t < end) for start, end in self.intervals)  # type: ignore[operator]

    def finished_by(self, t: int) -> bool:
        end = self.intervals[-1][1]
        return end is not None and end <= t

    def reopened(self) -> bool:
        return len(self.intervals) > 1

    def patch_at(self, t: int) -> Patch | None:
        """The newest patch created at or before t."""
        for p in reversed(self.patches):
            if p.created_at <= t:
                return p
        return None


@dataclass(slots=True, eq=False)
class Analysis:
    id: str
    type: str  # triage | fix | sca
    scan_id: str
    created_at: int
    started_at: int
    done_at: int
    outcome: str  # completed | failed | skipped
    done_iso: str = ""  # rendered once: every finding of the scan shows it as analyzed_at

    def __post_init__(self) -> None:
        self.done_iso = iso(self.done_at) or ""

    def state(self, t: int) -> str | None:
        if t < self.created_at:
            return None
        if t >= self.done_at:
            return self.outcome
        return "in-progress" if t >= self.started_at else "queued"

    def updated_at(self, t: int) -> int:
        if t >= self.done_at:
            return self.done_at
        return self.started_at if t >= self.started_at else self.created_at

    def completed_at(self, t: int) -> int | None:
        return self.done_at if t >= self.done_at and self.outcome == "completed" else None

    def finished(self, t: int) -> bool:
        return t >= self.done_at


@dataclass(slots=True, eq=False)
class Scan:
    id: str
    repository_id: str
    detector: str
    sha: str
    branch: str | None  # None: the scan was imported without a branch (the API leaves it out)
    imported_at: int
    expires_at: int
    lives: list[Life]
    feature: bool
    analyses: list[Analysis] = field(default_factory=list)

    def analysis(self, kind: str) -> Analysis | None:
        for a in self.analyses:
            if a.type == kind:
                return a
        return None
