"""Plans the organisation: repositories, their scan schedules, and each scan's findings and fixes.

Everything is drawn from `random.Random` streams keyed by the seed and the object's place
(repository index, scan number), never from a shared stream, so a scan's findings are the same
whether it is generated at start-up or later by `advance`.
"""

from __future__ import annotations

import math
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from random import Random

from simulator import catalog
from simulator.catalog import Rule
from simulator.model import DISMISS, FIXED_BY_PR, FIXED_BY_SCAN, Finding, Fix, Repo, Scan, Webhook
from simulator.timeutil import DAY_MS, HOUR_MS

SEV_CUM = list(accumulate(catalog.SEVERITY_WEIGHTS))
SCM_CUM = list(accumulate(catalog.SCM_WEIGHTS))
LANGS = tuple(catalog.LANGUAGE_WEIGHTS)
LANG_CUM = list(accumulate(catalog.LANGUAGE_WEIGHTS.values()))
ONBOARDING_WEIGHT = 60.0  # expected findings of a repository's first scan: its backlog
LATER_WEIGHT = 3.5  # expected new findings of each later scan
MANIFESTS = {
    "java": "pom.xml",
    "python": "requirements.txt",
    "javascript": "package-lock.json",
    "go": "go.sum",
    "csharp": "packages.lock.json",
    "php": "composer.lock",
}
LN = math.log


def pick(cum: list[float], r: float) -> int:
    return min(bisect_right(cum, r * cum[-1]), len(cum) - 1)


def whole_seconds(ms: float) -> int:
    return int(ms) // 1000 * 1000


def poisson(rng: Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:  # normal approximation: exact enough for sizes, and O(1)
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def lag_for(id: str, lag_max_ms: int) -> int:
    """Each object's visibility lag, from its id so the random streams do not depend on the knob."""
    return zlib.crc32(id.encode()) % (lag_max_ms + 1) if lag_max_ms else 0


@dataclass
class ChainEntry:
    """One scheduled scan of a repository: its times are known before it is generated."""

    idx: int
    created: int
    started: int
    completed: int
    failed: bool
    tool: str
    trigger: str


class ScanChain:
    """A repository's scan schedule: every one to three days (or the configured range), generated as
    far ahead as asked."""

    def __init__(
        self,
        seed: int,
        repo: Repo,
        start: int,
        stop: int | None,
        interval_days: tuple[float, float] = (1.0, 3.0),
    ) -> None:
        self.rng = Random(f"{seed}/chain/{repo.idx}")
        self.interval_days = interval_days
        self.repo = repo
        self.entries: list[ChainEntry] = []
        self.ok: list[int] = []  # completion times of successful chain scans
        self.next_t = start
        self.stop = stop
        self.materialized = 0  # entries[:materialized] have their Scan records

    def extend_to(self, until: int) -> None:
        rng, repo = self.rng, self.repo
        while self.next_t <= until and (self.stop is None or self.next_t <= self.stop):
            created = self.next_t
            started = created + rng.randint(2, 90) * 1000
            completed = started + max(20_000, whole_seconds(rng.lognormvariate(LN(480), 0.6) * 1000))
            failed = rng.random() < 0.03
            tool = repo.tools[0] if len(repo.tools) == 1 or rng.random() < 0.7 else repo.tools[1]
            r = rng.random()
            trigger = "schedule" if r < 0.75 else ("webhook" if r < 0.95 else "api")
            self.entries.append(
                ChainEntry(len(self.entries), created, started, completed, failed, tool, trigger)
            )
            if not failed:
                self.ok.append(completed)
                repo.done.append(completed)
            self.next_t = created + whole_seconds(rng.uniform(*self.interval_days) * DAY_MS)

    def completed_after(self, t: int, k: int) -> int | None:
        """Completion time of the k-th successful scheduled scan after t; None if scanning stopped first."""
        while True:
            i = bisect_right(self.ok, t) + k - 1
            if i < len(self.ok):
                return self.ok[i]
            if self.stop is not None and self.next_t > self.stop:
                return None
            self.extend_to(self.next_t + 30 * DAY_MS)


def plan_repositories(
    seed: int, n: int, h0: int, days: int, lag_max: int, scan_interval_days: tuple[float, float] = (1.0, 3.0)
) -> list[tuple[Repo, ScanChain]]:
    rng = Random(f"{seed}/repositories")
    names = catalog.REPO_NAMES
    out = []
    for i in range(n):
        name = names[i % len(names)] + (f"-{i // len(names) + 1}" if i >= len(names) else "")
        language = ("java", "python")[i] if i < 2 else LANGS[pick(LANG_CUM, rng.random())]
        scm = catalog.SCMS[pick(SCM_CUM, rng.random())]
        tools = catalog.TOOLS_BY_LANGUAGE[language]
        first = tools[0] if rng.random() < 0.6 else tools[rng.randrange(1, len(tools) - 1)]
        second = rng.choice([t for t in tools if t != first])
        repo_tools = (first, second) if rng.random() < 0.5 else (first,)
        if i >= 2 and rng.random() < 0.15:  # onboarded during the history
            created = h0 + whole_seconds(rng.uniform(0.2, 0.8) * days * DAY_MS)
        else:
            created = h0 - whole_seconds(rng.uniform(30, 700) * DAY_MS)
        repo_id = f"repo_{rng.getrandbits(48):012x}"
        full_name = f"{catalog.ORG_SLUG}/{name}"
        repo = Repo(
            repo_id,
            i,
            name=name,
            full_name=full_name,
            scm=scm,
            language=language,
            tools=repo_tools,
            default_branch="main" if rng.random() < 0.8 else rng.choice(("master", "develop")),
            enabled=not (n >= 8 and i == n - 2),
            settings={
                "auto_fix": i < 2 or rng.random() < 0.85,
                "triage": i < 2 or rng.random() < 0.92,
                "max_open_prs": rng.choice((5, 10, 20)),
            },
            created_at=created,
            size=rng.uniform(0.5, 1.5),
            zero=(n >= 3 and i == n - 1),
            pr_next=rng.randint(10, 900),
            lag=lag_for(repo_id, lag_max),
        )
        start = max(created, h0) + whole_seconds(rng.uniform(0, 36) * HOUR_MS)
        # A disabled repository stopped being scanned half way through the history.
        stop = h0 + days * DAY_MS // 2 if not repo.enabled else None
        out.append((repo, ScanChain(seed, repo, start, stop, scan_interval_days)))
    return out


def scan_weight(repo: Repo, entry: ChainEntry) -> float:
    if repo.zero or entry.failed:
        return 0.0
    return (ONBOARDING_WEIGHT if entry.idx == 0 else LATER_WEIGHT) * repo.size


def pr_url(repo: Repo, number: int) -> str:
    if repo.scm == "gitlab":
        return f"https://gitlab.com/{repo.full_name}/-/merge_requests/{number}"
    if repo.scm == "azure_devops":
        return f"https://dev.azure.com/{catalog.ORG_SLUG}/{repo.name}/_git/{repo.name}/pullrequest/{number}"
    if repo.scm == "bitbucket":
        return f"https://bitbucket.org/{repo.full_name}/pull-requests/{number}"
    return f"https://github.com/{repo.full_name}/pull/{number}"


def make_path(rng: Random, repo: Repo, rule: Rule) -> str:
    lang = repo.language
    if rule.tool == "trivy":
        return MANIFESTS[lang]
    pkg = catalog.PACKAGE_WORDS[int(rng.random() * len(catalog.PACKAGE_WORDS))]
    cls = catalog.CLASS_WORDS[int(rng.random() * len(catalog.CLASS_WORDS))]
    if lang == "java":
        return f"src/main/java/com/acme/{pkg}/{pkg.capitalize()}{cls}.java"
    if lang == "csharp":
        return f"src/Acme.{pkg.capitalize()}/{pkg.capitalize()}{cls}.cs"
    module = repo.name.replace("-", "_")
    return f"{module}/{pkg}/{cls.lower()}{catalog.SOURCE_EXT[lang]}"


@dataclass
class Spec:
    """A finding a scanner reported, before its lifecycle is planned (SARIF uploads give these)."""

    rule: Rule
    severity: str
    path: str
    line: int


def random_specs(rng: Random, repo: Repo, tool: str, count: int) -> list[Spec]:
    rules = catalog.RULES_BY_TOOL.get((repo.language, tool)) or catalog.RULES[repo.language]
    n_rules = len(rules)
    specs = []
    for _ in range(count):
        rule = rules[int(rng.random() * n_rules)]
        severity = catalog.SEVERITIES[pick(SEV_CUM, rng.random())]
        specs.append(Spec(rule, severity, make_path(rng, repo, rule), rng.randint(3, 900)))
    return specs


def plan_scan_results(
    rng: Random, repo: Repo, chain: ScanChain, scan: Scan, specs: list[Spec], lag_max: int
) -> tuple[list[Finding], list[Fix]]:
    """Findings detected when the scan completes, their triage, fixes, PRs and resolutions."""
    if scan.failed:
        return [], []
    findings: list[Finding] = []
    groups: dict[str, list[Finding]] = {}
    group_list: list[tuple[catalog.Codemod, list[Finding]]] = []
    detected = scan.completed
    triage_on = repo.settings.get("triage", True)
    auto_fix = repo.settings.get("auto_fix", True) and repo.language in catalog.CODEMODS
    for spec in specs:
        fid = f"f_{rng.getrandbits(64):016x}"
        f = Finding(
            fid,
            repo.id,
            scan.id,
            spec.rule,
            spec.severity,
            spec.path,
            spec.line,
            detected,
            lag_for(fid, lag_max),
        )
        findings.append(f)
        if not triage_on or rng.random() < 0.03:
            continue  # stays pending
        f.triaged = detected + max(60_000, int(rng.lognormvariate(LN(2.5 * HOUR_MS), 0.9)))
        r = rng.random()
        if r < 0.55:
            f.classification = "TRUE_POSITIVE"
            f.confidence = round(rng.uniform(0.62, 0.99), 3)
        else:
            f.classification = "FALSE_POSITIVE" if r < 0.90 else "WONT_FIX"
            f.confidence = round(rng.uniform(0.55, 0.98), 3)
            f.resolved, f.rkind = f.triaged, DISMISS
            continue
        if auto_fix and rng.random() < 0.6:
            codemod = catalog.codemod_for(repo.language, spec.rule)
            if codemod is not None:
                group = groups.get(codemod.id)
                if group is not None and len(group) < 4 and rng.random() < 0.3:
                    group.append(f)  # one fix for several findings, often of different severities
                else:
                    groups[codemod.id] = group = [f]
                    group_list.append((codemod, group))
    fixes = [_plan_fix(rng, repo, codemod, group, lag_max) for codemod, group in group_list]
    fixed_ids = {fid for fix in fixes for fid in fix.finding_ids}
    closed_at = {
        fid: fix.decided for fix in fixes if fix.decided and not fix.merged for fid in fix.finding_ids
    }
    for f in findings:
        if f.resolved is None:
            p = 0.2 if f.classification is None else 0.35
            no_open_fix = f.id not in fixed_ids or f.id in closed_at
            if no_open_fix and rng.random() < p:
                base = max(f.detected, closed_at.get(f.id) or 0)
                later_scan = chain.completed_after(base, rng.randint(1, 8))
                if later_scan is not None:
                    f.resolved, f.rkind = later_scan, FIXED_BY_SCAN
        if f.resolved is not None and f.rkind != DISMISS and rng.random() < 0.06:
            # A scan reports it again (api-contract: reopened ones become `open` at a scan's
            # completion): the first one after a day in the month that follows.
            after = f.resolved + rng.randint(1, 30) * DAY_MS + rng.randint(0, 86_399) * 1000
            f.reopened = chain.completed_after(after, 1)
    scan.n_findings = len(findings)
    scan.fix_times = sorted(fix.created_at for fix in fixes)
    return findings, fixes


def _plan_fix(rng: Random, repo: Repo, codemod: catalog.Codemod, group: list[Finding], lag_max: int) -> Fix:
    fix_id = f"fix_{rng.getrandbits(64):016x}"
    created = max(f.triaged or f.detected for f in group) + int(rng.lognormvariate(LN(1.5 * HOUR_MS), 1.0))
    r = rng.random()
    if r < 0.85:
        pr_opened: int | None = created + whole_seconds(rng.lognormvariate(LN(2 * HOUR_MS), 1.0)) + 1000
    elif r < 0.95:
        pr_opened = created + whole_seconds(rng.lognormvariate(LN(40 * HOUR_MS), 0.8)) + 1000
    else:
        pr_opened = None  # generated, never proposed
    decided: int | None = None
    merged = False
    number = None
    if pr_opened is not None:
        number = repo.pr_next
        repo.pr_next += 1
        if rng.random() >= 0.04:  # the rest stay open for good: stale PRs
            decided = pr_opened + whole_seconds(rng.lognormvariate(LN(48 * HOUR_MS), 1.25)) + 1000
            merged = rng.random() < 0.76
    if merged:
        for f in group:
            f.resolved, f.rkind = decided, FIXED_BY_PR
    ai = not codemod.id.startswith("pixee:") or rng.random() < 0.1
    return Fix(
        fix_id,
        repo.id,
        finding_ids=[f.id for f in group],
        codemod=codemod.id,
        tool=group[0].rule.tool,
        summary=codemod.summary,
        ai=ai,
        files_changed=len({f.path for f in group}),
        created_at=created,
        pr_opened=pr_opened,
        decided=decided,
        merged=merged,
        pr_number=number,
        pr_url=pr_url(repo, number) if number else None,
        lag=lag_for(fix_id, lag_max),
    )


def new_scan(
    rng: Random,
    repo: Repo,
    *,
    created: int,
    started: int,
    completed: int,
    failed: bool,
    tool: str,
    trigger: str,
    lag_max: int,
) -> Scan:
    scan_id = f"scan_{rng.getrandbits(64):016x}"
    return Scan(
        scan_id,
        repo.id,
        created_at=created,
        started=started,
        completed=completed,
        failed=failed,
        tool=tool,
        trigger=trigger,
        branch=repo.default_branch,
        commit_sha=f"{rng.getrandbits(160):040x}",
        lag=lag_for(scan_id, lag_max),
    )


class HookChain:
    """The organisation's webhooks: one added every few weeks, some deleted after a while."""

    EVENTS = catalog.WEBHOOK_EVENTS
    HOSTS = (
        "hooks.slack.com/services",
        "events.pagerduty.com/integration",
        "ci.acme-corp.example/hooks",
        "jira.acme-corp.example/rest/webhooks",
        "siem.acme-corp.example/ingest",
    )

    def __init__(self, seed: int, start: int) -> None:
        self.rng = Random(f"{seed}/webhooks")
        self.next_t = start + whole_seconds(self.rng.uniform(0, 10) * DAY_MS)
        self.count = 0

    def extend_to(self, until: int) -> list[Webhook]:
        rng, out = self.rng, []
        while self.next_t <= until:
            out.append(self.make(self.next_t, deletable=self.count > 0))
            self.next_t += whole_seconds(rng.uniform(10, 40) * DAY_MS)
        return out

    def make(self, created: int, deletable: bool) -> Webhook:
        rng = self.rng
        self.count += 1
        host = self.HOSTS[rng.randrange(len(self.HOSTS))]
        events = ["*"] if rng.random() < 0.4 else sorted(rng.sample(self.EVENTS, rng.randint(1, 3)))
        lifetime = rng.uniform(2, 40) * DAY_MS
        deleted = created + whole_seconds(lifetime) if deletable and rng.random() < 0.35 else None
        return Webhook(
            f"wh_{rng.getrandbits(48):012x}",
            url=f"https://{host}/{rng.getrandbits(40):010x}",
            events=events,
            active=rng.random() < 0.9,
            created_at=created,
            deleted=deleted,
            secret=f"whsec_{rng.getrandbits(128):032x}",
        )
