"""The simulator's records: each holds an object's whole planned lifecycle and renders its state at a time.

Times are integer milliseconds. A record is *pure*: `render(t)` and `updated(t)` depend only on the
plan and `t`, so the generator can lay out years of history at once and `advance` only has to
re-render the objects whose next planned event has come due.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from simulator.catalog import Rule
from simulator.timeutil import iso

DISMISS, FIXED_BY_PR, FIXED_BY_SCAN = 1, 2, 3


class Record:
    """What every record shares: identity, an optional test override, its place in index and heap."""

    __slots__ = ("id", "lag", "over", "over_t", "sched", "ukey")

    def __init__(self, id: str, lag: int = 0) -> None:
        self.id = id
        self.lag = lag  # ms between an event and the moment it becomes visible (visibility lag)
        self.ukey: int | None = None  # updated_at (ms) as currently indexed; None = not listed
        self.sched: int | None = None  # the time of this record's live heap entry
        self.over: dict[str, Any] | None = None  # fields set by update()/PATCH; they win over the plan
        self.over_t = 0

    def created(self) -> int:
        raise NotImplementedError

    def gone(self, t: int) -> bool:
        return False

    def plan_updated(self, t: int) -> int:
        raise NotImplementedError

    def next_after(self, t: int) -> int | None:
        raise NotImplementedError

    def render(self, t: int) -> dict[str, Any]:
        raise NotImplementedError

    def updated(self, t: int) -> int | None:
        """updated_at at time t, or None when the object does not exist (yet, or any more)."""
        if self.created() > t or self.gone(t):
            return None
        return max(self.plan_updated(t), self.over_t)


def _max_le(t: int, *times: int | None) -> int:
    return max(x for x in times if x is not None and x <= t)


def _min_gt(t: int, *times: int | None) -> int | None:
    later = [x for x in times if x is not None and x > t]
    return min(later) if later else None


class Repo(Record):
    __slots__ = (
        "created_at",
        "default_branch",
        "deleted",
        "done",
        "enabled",
        "full_name",
        "idx",
        "language",
        "name",
        "pr_next",
        "scm",
        "settings",
        "size",
        "tools",
        "zero",
    )

    def __init__(self, id: str, idx: int, **kw: Any) -> None:
        super().__init__(id, kw.pop("lag", 0))
        self.idx = idx
        self.name: str = kw["name"]
        self.full_name: str = kw["full_name"]
        self.scm: str = kw["scm"]
        self.default_branch: str = kw["default_branch"]
        self.language: str = kw["language"]
        self.enabled: bool = kw["enabled"]
        self.settings: dict[str, Any] = kw["settings"]
        self.created_at: int = kw["created_at"]
        self.tools: tuple[str, ...] = kw["tools"]
        self.size: float = kw["size"]  # how many findings this repository's scans report, relative
        self.zero: bool = kw["zero"]  # a clean repository: its scans never report anything
        self.done: list[int] = []  # completion times of its successful scans, sorted (future ones too)
        self.pr_next: int = kw["pr_next"]
        self.deleted = False

    def created(self) -> int:
        return self.created_at

    def last_scan(self, t: int) -> int | None:
        i = bisect_right(self.done, t)
        return self.done[i - 1] if i else None

    def plan_updated(self, t: int) -> int:
        last = self.last_scan(t)
        return max(self.created_at, last) if last is not None else self.created_at

    def next_after(self, t: int) -> int | None:
        if self.created_at > t:
            return self.created_at
        i = bisect_right(self.done, t)
        return self.done[i] if i < len(self.done) else None

    def render(self, t: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "full_name": self.full_name,
            "scm": self.scm,
            "default_branch": self.default_branch,
            "language": self.language,
            "enabled": self.enabled,
            "settings": dict(self.settings),
            "last_scan_at": iso(self.last_scan(t)),
            "created_at": iso(self.created_at),
        }


class Scan(Record):
    __slots__ = (
        "branch",
        "commit_sha",
        "completed",
        "created_at",
        "expires",
        "failed",
        "fix_times",
        "n_findings",
        "repo",
        "started",
        "tool",
        "trigger",
    )

    def __init__(self, id: str, repo: str, **kw: Any) -> None:
        super().__init__(id, kw.pop("lag", 0))
        self.repo = repo
        self.created_at: int = kw["created_at"]
        self.started: int = kw["started"]
        self.completed: int = kw["completed"]
        self.failed: bool = kw["failed"]
        self.tool: str = kw["tool"]
        self.trigger: str = kw["trigger"]
        self.branch: str = kw["branch"]
        self.commit_sha: str = kw["commit_sha"]
        self.n_findings = 0
        self.fix_times: list[int] = []  # when each fix for this scan's findings was generated, sorted
        self.expires: int | None = None  # when it leaves the API (SimConfig.scan_retention_days)

    def created(self) -> int:
        return self.created_at

    def gone(self, t: int) -> bool:
        return self.expires is not None and self.expires <= t

    def plan_updated(self, t: int) -> int:
        i = bisect_right(self.fix_times, t)
        return _max_le(t, self.created_at, self.started, self.completed, self.fix_times[i - 1] if i else None)

    def next_after(self, t: int) -> int | None:
        i = bisect_right(self.fix_times, t)
        return _min_gt(
            t,
            self.created_at,
            self.started,
            self.completed,
            self.fix_times[i] if i < len(self.fix_times) else None,
            self.expires,
        )

    def render(self, t: int) -> dict[str, Any]:
        started = self.started <= t
        done = self.completed <= t
        state = ("failed" if self.failed else "completed") if done else ("running" if started else "queued")
        return {
            "id": self.id,
            "repository_id": self.repo,
            "state": state,
            "trigger": self.trigger,
            "detection_tool": self.tool,
            "branch": self.branch,
            "commit_sha": self.commit_sha,
            "findings_count": self.n_findings if done else 0,
            "fixes_generated": bisect_right(self.fix_times, t),
            "started_at": iso(self.started) if started else None,
            "completed_at": iso(self.completed) if done else None,
            "duration_seconds": round((self.completed - self.started) / 1000) if done else None,
            "created_at": iso(self.created_at),
        }


class Finding(Record):
    __slots__ = (
        "classification",
        "confidence",
        "detected",
        "line",
        "path",
        "reopened",
        "repo",
        "resolved",
        "rkind",
        "rule",
        "scan_id",
        "severity",
        "triaged",
    )

    def __init__(
        self,
        id: str,
        repo: str,
        scan_id: str,
        rule: Rule,
        severity: str,
        path: str,
        line: int,
        detected: int,
        lag: int = 0,
    ) -> None:
        super().__init__(id, lag)
        self.repo = repo
        self.scan_id = scan_id
        self.rule = rule
        self.severity = severity
        self.path = path
        self.line = line
        self.detected = detected
        self.triaged: int | None = None
        self.classification: str | None = None
        self.confidence: float | None = None
        self.resolved: int | None = None
        self.rkind = 0
        self.reopened: int | None = None

    def created(self) -> int:
        return self.detected

    def plan_updated(self, t: int) -> int:
        return _max_le(t, self.detected, self.triaged, self.resolved, self.reopened)

    def next_after(self, t: int) -> int | None:
        return _min_gt(t, self.detected, self.triaged, self.resolved, self.reopened)

    def render(self, t: int) -> dict[str, Any]:
        triaged = self.triaged is not None and self.triaged <= t
        resolved = self.resolved if self.resolved is not None and self.resolved <= t else None
        if resolved is not None and self.reopened is not None and self.reopened <= t:
            resolved = None
        status = "open" if resolved is None else "dismissed" if self.rkind == DISMISS else "fixed"
        rule = self.rule
        return {
            "id": self.id,
            "repository_id": self.repo,
            "scan_id": self.scan_id,
            "rule_id": rule.rule_id,
            "detection_tool": rule.tool,
            "title": rule.title,
            "severity": self.severity,
            "cwe": rule.cwe,
            "path": self.path,
            "start_line": self.line,
            "triage_status": "completed" if triaged else "pending",
            "classification": self.classification if triaged else None,
            "confidence": self.confidence if triaged else None,
            "status": status,
            "detected_at": iso(self.detected),
            "triaged_at": iso(self.triaged) if triaged else None,
            "resolved_at": iso(resolved),
            "created_at": iso(self.detected),
        }


class Fix(Record):
    __slots__ = (
        "ai",
        "codemod",
        "created_at",
        "decided",
        "files_changed",
        "finding_ids",
        "merged",
        "pr_number",
        "pr_opened",
        "pr_url",
        "repo",
        "summary",
        "tool",
    )

    def __init__(self, id: str, repo: str, **kw: Any) -> None:
        super().__init__(id, kw.pop("lag", 0))
        self.repo = repo
        self.finding_ids: list[str] = kw["finding_ids"]
        self.codemod: str = kw["codemod"]
        self.tool: str = kw["tool"]
        self.summary: str = kw["summary"]
        self.ai: bool = kw["ai"]
        self.files_changed: int = kw["files_changed"]
        self.created_at: int = kw["created_at"]
        self.pr_opened: int | None = kw["pr_opened"]
        self.decided: int | None = kw["decided"]
        self.merged: bool = kw["merged"]
        self.pr_number: int | None = kw["pr_number"]
        self.pr_url: str | None = kw["pr_url"]

    def created(self) -> int:
        return self.created_at

    def plan_updated(self, t: int) -> int:
        return _max_le(t, self.created_at, self.pr_opened, self.decided)

    def next_after(self, t: int) -> int | None:
        return _min_gt(t, self.created_at, self.pr_opened, self.decided)

    def render(self, t: int) -> dict[str, Any]:
        pr = self.pr_opened is not None and self.pr_opened <= t
        decided = self.decided is not None and self.decided <= t
        status = ("merged" if self.merged else "closed") if decided else "pr_open" if pr else "generated"
        return {
            "id": self.id,
            "repository_id": self.repo,
            "finding_ids": list(self.finding_ids),
            "codemod": self.codemod,
            "detection_tool": self.tool,
            "summary": self.summary,
            "ai_generated": self.ai,
            "files_changed": self.files_changed,
            "status": status,
            "pr_url": self.pr_url if pr else None,
            "pr_number": self.pr_number if pr else None,
            "pr_opened_at": iso(self.pr_opened) if pr else None,
            "merged_at": iso(self.decided) if decided and self.merged else None,
            "closed_at": iso(self.decided) if decided and not self.merged else None,
            "created_at": iso(self.created_at),
        }


class Webhook(Record):
    __slots__ = ("active", "created_at", "deleted", "events", "secret", "url")

    def __init__(
        self,
        id: str,
        *,
        url: str,
        events: list[str],
        active: bool,
        created_at: int,
        deleted: int | None,
        secret: str,
    ) -> None:
        super().__init__(id)
        self.url = url
        self.events = events
        self.active = active
        self.created_at = created_at
        self.deleted = deleted  # when it is deleted (planned, or by DELETE); None = lives on
        self.secret = secret  # never rendered: the contract says the secret is never returned

    def created(self) -> int:
        return self.created_at

    def gone(self, t: int) -> bool:
        return self.deleted is not None and self.deleted <= t

    def plan_updated(self, t: int) -> int:
        return self.created_at

    def next_after(self, t: int) -> int | None:
        return _min_gt(t, self.created_at, self.deleted)

    def render(self, t: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "active": self.active,
            "created_at": iso(self.created_at),
        }
