"""The platform organisation: generated day by day per (repository, detector) stream, read at `now`.

Each stream has its own random generator, so a seed gives the same organisation whatever the
number of repositories beside it and however time is advanced (one day at a time or ten at once).
A day of a stream: findings appear, some are fixed by hand, the daily scan lists what is open,
its analyses run for hours, its fix results open patches that are merged or closed days later
(a merge ends the finding before the stream's next scan), and a fixed finding sometimes returns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from random import Random
from typing import Any

from simulator.config import SimConfig, default_now
from simulator.platform.model import (
    Analysis,
    Life,
    Patch,
    Repository,
    Scan,
    Workflow,
    finding_key,
    new_uuid,
)
from simulator.timeutil import DAY_MS, HOUR_MS, iso, to_ms

MINUTE_MS = 60_000
DETECTORS = ("codeql", "semgrep", "sonar", "snyk", "checkmarx", "dependabot", "veracode", "gitlab_sast")
SCA_DETECTORS = frozenset({"snyk", "dependabot"})
SEVERITIES = (
    ("Critical", 1, 0.08),
    ("High", 2, 0.24),
    ("Medium", 3, 0.34),
    ("Low", 4, 0.2),
    ("Info", 5, 0.14),
)
VERDICTS = (
    ("true_positive", 0.45),
    ("false_positive", 0.15),
    ("wont_fix", 0.08),
    ("inconclusive", 0.12),
    ("suspicious", 0.06),
    ("not_triaged", 0.05),
    ("blocked", 0.03),
    ("excluded", 0.03),
    ("error", 0.03),
)
FIXABLE = frozenset({"true_positive", "suspicious"})
DISMISSED = frozenset({"false_positive", "wont_fix"})
CONFIDENCES = ("high", "medium", "low")
CLASSIFICATIONS = ("exploitable", "not-exploitable", "inconclusive", "potentially-exploitable")
VULNS = (
    ("sql-injection", "SQL injection"),
    ("xss", "Cross-site scripting"),
    ("path-traversal", "Path traversal"),
    ("ssrf", "Server-side request forgery"),
    ("weak-hash", "Use of a weak hash algorithm"),
    ("hardcoded-secret", "Hard-coded credential"),
    ("open-redirect", "Open redirect"),
    ("xxe", "XML external entity expansion"),
    ("unsafe-deserialization", "Unsafe deserialization"),
    ("command-injection", "OS command injection"),
    ("insecure-random", "Insecure randomness"),
    ("log-injection", "Log injection"),
    ("missing-csrf", "Missing CSRF protection"),
    ("regex-dos", "Regular expression denial of service"),
    ("debug-enabled", "Debug mode enabled in production"),
    ("cookie-without-secure", "Cookie without the Secure flag"),
)
PACKAGES = ("lodash", "jackson-databind", "log4j-core", "requests", "urllib3", "netty", "axios", "pyyaml")
WORDS = ("alpha", "billing", "checkout", "ledger", "orbit", "portal", "relay", "vault", "atlas", "beacon")
SCM_TYPES = (("github", 0.6), ("gitlab", 0.2), ("azure", 0.1), ("bitbucket", 0.1))
OWNER = "acme"

# The life's rates, per stream and day unless said otherwise.
NEW_PER_DAY = (0.2, 1.2)  # a stream's rate of new findings is drawn from this range
HAND_FIX_PER_DAY = 0.025  # an open finding without an open patch is fixed by hand
REOPEN_SHARE = 0.2  # a fixed finding comes back 2-6 days later
FEATURE_SCAN_PER_DAY = 0.12  # a scan of a feature branch beside the daily one
BLANK_BRANCH_SHARE = 0.1  # streams whose imports carry no branch
MERGED_SHARE, CLOSED_SHARE = 0.55, 0.3  # the rest of the patches stay open
PREFERENCES_EVERY_MS = 9 * DAY_MS


def pick(rng: Random, weighted: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    r = rng.random() * sum(w[-1] for w in weighted)
    for item in weighted:
        r -= item[-1]
        if r < 0:
            return item
    return weighted[-1]


def poisson(rng: Random, lam: float) -> int:
    # Knuth's method: lambdas here are small.
    limit, k, p = pow(2.718281828459045, -lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class Stream:
    """One (repository, detector): its findings and its daily scans, generated a day at a time."""

    def __init__(self, org: PlatformOrg, repo: Repository, detector: str, first_scan_after: int) -> None:
        self.org, self.repo, self.detector = org, repo, detector
        self.rng = Random(f"{org.seed}/stream/{repo.idx}/{detector}")
        rng = self.rng
        self.offset = rng.randrange(1 * HOUR_MS, 20 * HOUR_MS, MINUTE_MS)  # the daily import's hour
        self.rate = rng.uniform(*NEW_PER_DAY)
        self.blank_branch = rng.random() < BLANK_BRANCH_SHARE
        self.sca = detector in SCA_DETECTORS
        self.lives: list[Life] = []  # every finding it ever had (tests look here); `live`: not yet done
        self.live: list[Life] = []
        self.prev_t: int | None = None
        self.serial = 0
        born = first_scan_after - rng.randint(1, 60) * DAY_MS  # what the first scan finds
        for _ in range(rng.randint(3, 22)):
            self._new_life(rng.randint(born, first_scan_after - HOUR_MS))

    def _new_life(self, start: int) -> Life:
        rng = self.rng
        self.serial += 1
        label, rank, _ = pick(rng, SEVERITIES)
        if self.sca:
            package = rng.choice(PACKAGES)
            cve = f"CVE-{rng.randint(2019, 2026)}-{rng.randint(1000, 49999)}"
            title, rule = f"Vulnerable dependency {package} ({cve})", cve
        else:
            slug, title = rng.choice(VULNS)
            rule = (
                f"java:S{rng.randint(1000, 6999)}" if self.detector == "sonar" else f"{self.detector}/{slug}"
            )
        life = Life(
            id=finding_key(rng),
            title=title,
            rule=rule,
            label=label,
            rank=rank,
            html_url=f"{self.repo.html_url}/security/code-scanning/{self.detector}-{self.serial}",
            verdict=pick(rng, VERDICTS)[0],
            fixable=rng.random() < 0.75,
            confidence=rng.choice(CONFIDENCES),
            classification=rng.choice(CLASSIFICATIONS),
            intervals=[[start, None]],
        )
        self.lives.append(life)
        self.live.append(life)
        return life

    def _end(self, life: Life, at: int) -> None:
        """Fixed at `at`; sometimes it comes back a few days later."""
        life.intervals[-1][1] = at
        if self.rng.random() < REOPEN_SHARE:
            life.intervals.append([at + self.rng.randint(2 * DAY_MS, 6 * DAY_MS), None])

    def step(self, day_start: int) -> list[Scan]:
        rng = self.rng
        t = day_start + self.offset + rng.randrange(0, 20 * MINUTE_MS, 1000)
        prev = self.prev_t if self.prev_t is not None else t - DAY_MS
        self.prev_t = t
        for _ in range(poisson(rng, self.rate)):
            self._new_life(rng.randint(prev + 1, t - 1))
        for life in self.live:
            last = life.intervals[-1]
            if last[1] is not None or last[0] > prev:  # type: ignore[operator]
                continue  # already ending, or not yet seen by a scan
            patch = life.patches[-1] if life.patches else None
            if patch is not None and patch.is_open(t):
                continue  # a pull request is open for it: left to the merge
            if rng.random() < HAND_FIX_PER_DAY:
                self._end(life, rng.randint(prev + 1, t - 1))
        listed = [life for life in self.live if life.open_at(t)]
        self.live = [life for life in self.live if not life.finished_by(t)]
        branch = None if self.blank_branch else self.repo.default_branch
        scan = self._scan(t, branch, listed, feature=False)
        out = [scan]
        fix = scan.analysis("fix")
        if fix is not None and fix.outcome == "completed":  # pull requests come from the default branch
            for life in listed:
                self._maybe_patch(life, scan, fix.done_at)
        if rng.random() < FEATURE_SCAN_PER_DAY:
            tf = t + rng.randint(1 * HOUR_MS, 8 * HOUR_MS)
            subset = [life for life in listed if rng.random() > 0.15]
            for _ in range(rng.randint(0, 2)):  # found on the branch only: never on the default one
                life = self._new_life(tf - rng.randint(MINUTE_MS, HOUR_MS))
                life.intervals[-1][1] = tf + 1
                self.live.remove(life)
                subset.append(life)
            branch = f"feature/{rng.choice(WORDS)}-{rng.randint(100, 999)}"
            out.append(self._scan(tf, branch, subset, feature=True))
        return out

    def _scan(self, t: int, branch: str | None, lives: list[Life], feature: bool) -> Scan:
        rng, org = self.rng, self.org
        scan = Scan(
            id=new_uuid(rng),
            repository_id=self.repo.id,
            detector=self.detector,
            sha=f"{rng.getrandbits(160):040x}",
            branch=branch,
            imported_at=t,
            expires_at=t + org.expiry_ms,
            lives=sorted(lives, key=lambda life: life.id),
            feature=feature,
        )
        kinds = ["triage", "fix"] + (["sca"] if self.sca else [])
        for kind in kinds:
            created = t + rng.randint(30, 900) * 1000
            started = created + rng.randint(2, 90) * MINUTE_MS
            done = started + rng.randint(20, 480) * MINUTE_MS
            outcome = "completed"
            if kind == "sca" and rng.random() < 0.1:
                outcome, done = "skipped", started
            elif rng.random() < 0.06:
                outcome = "failed"
            scan.analyses.append(Analysis(new_uuid(rng), kind, scan.id, created, started, done, outcome))
        return scan

    def _maybe_patch(self, life: Life, scan: Scan, at: int) -> None:
        if life.verdict not in FIXABLE or not life.fixable:
            return
        current = len(life.intervals) - 1
        if life.patched_interval == current or life.intervals[-1][1] is not None:
            return
        rng, repo = self.rng, self.repo
        created = at + rng.randint(1, 10) * MINUTE_MS
        r = rng.random()
        outcome: str | None
        if r < MERGED_SHARE:
            outcome, decided = "merged", created + rng.randint(1 * DAY_MS, 5 * DAY_MS)
        elif r < MERGED_SHARE + CLOSED_SHARE:
            outcome, decided = "closed", created + rng.randint(1 * DAY_MS, 7 * DAY_MS)
        else:
            outcome, decided = None, None
        repo.pr_counter += 1
        slug = life.rule.rsplit("/", 1)[-1].replace(":", "-").lower()
        patch = Patch(
            id=new_uuid(rng),
            repository_id=repo.id,
            scan_id=scan.id,
            finding_id=life.id,
            pr_number=repo.pr_counter,
            branch_name=f"pixee/fix-{slug}-{repo.pr_counter}",
            html_url=f"{repo.html_url}/pull/{repo.pr_counter}",
            created_at=created,
            decided_at=decided,
            outcome=outcome,
        )
        life.patches.append(patch)
        life.patched_interval = current
        self.org.add_patch(patch)
        if outcome == "merged" and decided is not None:
            self._end(life, decided)


class PlatformOrg:
    """All state of one platform organisation; every public method takes the lock."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.seed = cfg.seed
        self.lock = threading.RLock()
        self.now = to_ms(cfg.now or default_now())
        retention = cfg.scan_retention_days if cfg.scan_retention_days is not None else 7.0
        self.expiry_ms = round(retention * DAY_MS)
        self.day0 = self.now - self.now % DAY_MS - cfg.days * DAY_MS
        self.version = 0  # moves with the clock and with every delete: the read caches' key
        self.repositories: dict[str, Repository] = {}
        self.streams: list[Stream] = []
        self.scans: dict[str, Scan] = {}
        self.analyses: dict[str, Analysis] = {}
        self.patches: dict[str, Patch] = {}
        self.deleted: set[str] = set()
        self.next_day = 0
        self._cache: dict[str, Any] = {}
        self._cache_version = -1
        self._make_repositories()
        self.extra_items = self._extra_items()
        self._generate()

    # -- generation -------------------------------------------------------------------------------

    def _make_repositories(self) -> None:
        rng = Random(f"{self.seed}/platform/repositories")
        used: set[str] = set()
        for idx in range(self.cfg.repositories):
            created = self.day0 - rng.randint(40, 900) * DAY_MS - rng.randrange(DAY_MS)
            self._make_repository(rng, idx, used, created, idx == 0 or rng.random() > 0.08)

    def _make_repository(
        self, rng: Random, idx: int, used: set[str], created_at: int, enabled: bool
    ) -> Repository:
        name = f"{rng.choice(WORDS)}-{rng.choice(('api', 'web', 'service', 'worker', 'lib', 'app'))}"
        while name in used:
            name = f"{name}-{rng.randint(2, 99)}"
        used.add(name)
        scm = pick(rng, SCM_TYPES)[0]
        host = {"github": "github.com", "gitlab": "gitlab.com", "azure": "dev.azure.com"}.get(
            scm, "bitbucket.org"
        )
        detectors = rng.sample(DETECTORS, rng.choice((1, 2, 2, 3))) if enabled else []
        repo = Repository(
            id=new_uuid(rng),
            idx=idx,
            name=name,
            full_name=f"{OWNER}/{name}",
            default_branch="main" if rng.random() < 0.8 else "master",
            type=scm,
            owner=OWNER,
            html_url=f"https://{host}/{OWNER}/{name}",
            created_at=created_at,
            enabled=enabled,
            detectors=detectors,
        )
        for detector in detectors:
            scheduled = rng.random() < 0.3
            repo.workflows.append(
                Workflow(
                    id=new_uuid(rng),
                    repository_id=repo.id,
                    name=f"{'nightly' if scheduled else 'fix new'} {detector} findings",
                    event="schedule" if scheduled else "new-scan",
                    action="create-patch" if rng.random() < 0.85 else "none",
                    tool=detector,
                    cadence="daily" if scheduled else "weekly",
                    branch=repo.default_branch,
                    enabled=rng.random() < 0.9,
                )
            )
        self.repositories[repo.id] = repo
        first_scan_after = max(self.day0, created_at)
        self.streams += [Stream(self, repo, d, first_scan_after) for d in detectors]
        return repo

    def add_repository(self) -> Repository:
        """A repository connected now: listed at once, its streams' first scans on the next day."""
        with self.lock:
            idx = len(self.repositories)
            rng = Random(f"{self.seed}/platform/added/{idx}")
            used = {r.name for r in self.repositories.values()}
            repo = self._make_repository(rng, idx, used, self.now, True)
            self.version += 1
            return repo

    def _extra_items(self) -> list[dict[str, Any]]:
        if self.cfg.extra_relation is None:
            return []
        rng = Random(f"{self.seed}/platform/extra")
        repos = list(self.repositories.values())
        return [
            {
                "id": new_uuid(rng),
                "repository_id": repos[i % len(repos)].id,
                "format": rng.choice(("cyclonedx", "spdx")),
                "created_at": self.day0 + rng.randrange(self.cfg.days * DAY_MS),
            }
            for i in range(3)
        ]

    def _generate(self) -> None:
        """Generate every day that starts at or before now (a day's scans may fall after now)."""
        while self.day0 + self.next_day * DAY_MS <= self.now:
            start = self.day0 + self.next_day * DAY_MS
            for stream in self.streams:
                if stream.repo.id in self.deleted:
                    continue
                for scan in stream.step(start):
                    self.scans[scan.id] = scan
                    for a in scan.analyses:
                        self.analyses[a.id] = a
            self.next_day += 1

    def preferences_revision(self) -> tuple[int, int]:
        """The organisation's preferences are edited every nine days: (revision, when)."""
        first = self.day0 - 3 * DAY_MS + 2 * HOUR_MS
        revision = max(0, (self.now - first) // PREFERENCES_EVERY_MS)
        return revision, first + revision * PREFERENCES_EVERY_MS

    def add_patch(self, patch: Patch) -> None:
        self.patches[patch.id] = patch

    # -- time -------------------------------------------------------------------------------------

    def advance(self, hours: float) -> dict[str, Any]:
        if hours < 0:
            raise ValueError("hours must be >= 0")
        with self.lock:
            before = self.counts()
            self.now += round(hours * HOUR_MS)
            self._generate()
            self.version += 1
            after = self.counts()
            return {"hours": hours, "now": iso(self.now), "served_before": before, "served": after}

    def counts(self) -> dict[str, int]:
        return {
            "scans": len(self.visible_scans()),
            "analyses": len(self.visible_analyses()),
            "patches": len(self.visible_patches()),
        }

    # -- what is served now -------------------------------------------------------------------------

    def _cached(self, name: str) -> Any:
        if self._cache_version != self.version:
            self._cache, self._cache_version = {}, self.version
        return self._cache.get(name)

    def scan_visible(self, scan: Scan) -> bool:
        return (
            scan.imported_at <= self.now < scan.expires_at
            and scan.id not in self.deleted
            and scan.repository_id not in self.deleted
        )

    def visible_repositories(self) -> list[Repository]:
        out = self._cached("repositories")
        if out is None:
            out = sorted(
                (r for r in self.repositories.values() if r.id not in self.deleted), key=lambda r: r.id
            )
            self._cache["repositories"] = out
        return out  # type: ignore[no-any-return]

    def visible_scans(self) -> list[Scan]:
        """Newest imported first, then by id: the order the scans list serves."""
        out = self._cached("scans")
        if out is None:
            lo = self.now - self.expiry_ms
            out = [s for s in self.scans.values() if lo < s.imported_at <= self.now and self.scan_visible(s)]
            out.sort(key=lambda s: s.id)
            out.sort(key=lambda s: s.imported_at, reverse=True)
            self._cache["scans"] = out
        return out  # type: ignore[no-any-return]

    def visible_analyses(self) -> list[Analysis]:
        out = self._cached("analyses")
        if out is None:
            now = self.now
            out = sorted(
                (
                    a
                    for s in self.visible_scans()
                    for a in s.analyses
                    if a.created_at <= now and a.id not in self.deleted
                ),
                key=lambda a: a.id,
            )
            self._cache["analyses"] = out
        return out  # type: ignore[no-any-return]

    def visible_patches(self) -> list[Patch]:
        """Newest created first, then by id."""
        out = self._cached("patches")
        if out is None:
            now = self.now
            out = [p for p in self.patches.values() if p.created_at <= now and p.id not in self.deleted]
            out.sort(key=lambda p: p.id)
            out.sort(key=lambda p: p.created_at, reverse=True)
            self._cache["patches"] = out
        return out  # type: ignore[no-any-return]

    def scan(self, scan_id: str) -> Scan | None:
        scan = self.scans.get(scan_id)
        return scan if scan is not None and self.scan_visible(scan) else None

    def patch(self, patch_id: str) -> Patch | None:
        patch = self.patches.get(patch_id)
        if patch is None or patch.created_at > self.now or patch.id in self.deleted:
            return None
        return patch

    def repository(self, repo_id: str) -> Repository | None:
        repo = self.repositories.get(repo_id)
        return repo if repo is not None and repo.id not in self.deleted else None

    def workflows(self, repo: Repository) -> list[Workflow]:
        return sorted((w for w in repo.workflows if w.id not in self.deleted), key=lambda w: w.id)

    def analysis(self, analysis_id: str) -> Analysis | None:
        a = self.analyses.get(analysis_id)
        if a is None or a.created_at > self.now or a.id in self.deleted:
            return None
        scan = self.scans.get(a.scan_id)
        return a if scan is not None and self.scan_visible(scan) else None

    # -- writes -----------------------------------------------------------------------------------

    def delete(self, kind: str, obj_id: str) -> None:
        """Delete one object; a repository takes its scans (and their findings, analyses) and
        workflows with it, as Pixee's DELETE does; its patches stay."""
        with self.lock:
            table: dict[str, Any] = {
                "repositories": self.repositories,
                "scans": self.scans,
                "analyses": self.analyses,
                "patches": self.patches,
            }.get(kind, {})
            if kind == "workflows":
                table = {w.id: w for r in self.repositories.values() for w in r.workflows}
            elif kind == "integrations":
                table = {i["id"]: i for i in integrations(self)}
            if obj_id not in table or obj_id in self.deleted:
                raise KeyError(f"{kind} {obj_id} not found")
            self.deleted.add(obj_id)
            self.version += 1

    # -- for tests: where the lifecycle shows -------------------------------------------------------

    def iter_lives(self) -> Iterator[tuple[Stream, Life]]:
        for stream in self.streams:
            for life in stream.lives:
                yield stream, life

    def life(self, repository_id: str, detector: str, finding_id: str) -> Life | None:
        """One finding of one stream, across all its scans (its intervals, patches, verdict)."""
        for stream in self.streams:
            if stream.repo.id == repository_id and stream.detector == detector:
                return next((life for life in stream.lives if life.id == finding_id), None)
        return None

    def cases(self, lo: int, hi: int) -> dict[str, list[Any]]:
        """Examples of each lifecycle case that happened in (lo, hi] (ms): what a test looks for."""
        scans = [s for s in self.scans.values() if lo < s.imported_at <= hi]
        out: dict[str, list[Any]] = {
            "expired_scans": [s for s in self.scans.values() if lo < s.expires_at <= hi],
            "feature_scans": [s for s in scans if s.feature],
            "info_findings": [(s, f) for s in scans for f in s.lives if f.label == "Info"],
            "merged_patches": [
                p for p in self.patches.values() if p.outcome == "merged" and lo < (p.decided_at or 0) <= hi
            ],
            "closed_patches": [
                p for p in self.patches.values() if p.outcome == "closed" and lo < (p.decided_at or 0) <= hi
            ],
            "reopened": [],
            "dismissed": [],
            "inconclusive": [],
        }
        for stream, life in self.iter_lives():
            for (_, end), (start, _) in zip(life.intervals, life.intervals[1:], strict=False):
                if end is not None and lo < end and start is not None and start <= hi:
                    out["reopened"].append((stream, life))
                    break
        for s in scans:
            triage = s.analysis("triage")
            if triage is None or triage.outcome != "completed" or not lo < triage.done_at <= hi:
                continue
            for f in s.lives:
                if f.verdict in DISMISSED:
                    out["dismissed"].append((s, f))
                elif f.verdict == "inconclusive":
                    out["inconclusive"].append((s, f))
        return out


def integrations(org: PlatformOrg) -> list[dict[str, Any]]:
    """`<type>-default` for the SCMs and the detectors that have an integration, sorted by id."""
    caps = {
        "github": ["scm", "pull-requests", "webhooks"],
        "gitlab": ["scm", "merge-requests", "webhooks"],
        "azure": ["scm", "pull-requests"],
        "bitbucket": ["scm", "pull-requests"],
        "sonar": ["import", "triage-push"],
        "checkmarx": ["import"],
        "veracode": ["import"],
    }
    types = {r.type for r in org.repositories.values()} | {
        d for r in org.repositories.values() for d in r.detectors
    }
    rows = [{"id": f"{t}-default", "type": t, "capabilities": caps[t]} for t in sorted(types) if t in caps]
    return [r for r in rows if r["id"] not in org.deleted]
