"""The organisation as the API serves it: records, per-list indexes ordered by (updated_at, id), and time.

Each list (repositories, webhooks, and per repository scans, findings, fixes) is a sorted list of
(updated_at ms, id) keys, so a page is a bisect plus a slice. A heap holds each record's next
planned event; `advance` pops what came due and moves those records to their new keys.
"""

from __future__ import annotations

import heapq
import secrets
import threading
import zlib
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from random import Random
from typing import Any

from simulator import events, generator
from simulator.config import SimConfig, default_now
from simulator.generator import ChainEntry, HookChain, ScanChain, Spec
from simulator.model import DISMISS, Finding, Record, Repo, Scan, Webhook
from simulator.timeutil import DAY_MS, HOUR_MS, iso, to_ms

KINDS = ("repositories", "scans", "findings", "fixes", "webhooks")
CHILD_KINDS = ("scans", "findings", "fixes")
HORIZON_MS = 400 * DAY_MS  # scan schedules are laid out this far ahead of now


class Index:
    """Keys (updated_at ms, id) in order: the order every list endpoint serves."""

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: list[tuple[int, str]] = []

    def add(self, key: tuple[int, str]) -> None:
        insort(self.keys, key)

    def remove(self, key: tuple[int, str]) -> None:
        i = bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i]

    def start(self, after: tuple[int, str] | None, since_ms: int | None) -> int:
        i = bisect_right(self.keys, after) if after is not None else 0
        if since_ms is not None:
            i = max(i, bisect_left(self.keys, (since_ms, "")))
        return i

    def __len__(self) -> int:
        return len(self.keys)


class Org:
    """All state of one simulated organisation; every public method takes the lock."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.lock = threading.RLock()
        self.seed = cfg.seed
        self.lag_max = cfg.visibility_lag_seconds * 1000
        self.now = to_ms(cfg.now or default_now())
        self.h0 = self.now - cfg.days * DAY_MS
        self.records: dict[str, dict[str, Record]] = {k: {} for k in KINDS}
        self.repo_index = Index()
        self.hook_index = Index()
        self.child_index: dict[str, dict[str, Index]] = {k: {} for k in CHILD_KINDS}
        self.chains: dict[str, ScanChain] = {}
        self.heap: list[tuple[int, int, str, str]] = []
        self.seq = 0
        self.adhoc = 0
        self.scale = 1.0
        self._tally: dict[str, Counter[str]] | None = None  # counts _place's moves during advance()
        # While time moves (or a write lands): the window (lo, hi] and the child records touched in
        # it, whose planned changes become webhook events for `event_sink` (simulator.webhooks).
        self._window: tuple[int, int] | None = None
        self._touched: dict[tuple[str, str], Record] = {}
        self.event_sink: Callable[[list[dict[str, Any]]], None] | None = None
        # What the plan alone cannot say about the past, for truth(at=...): records deleted by
        # delete() with the moment they went, and each record's overrides as they were set.
        self.removed: dict[str, dict[str, tuple[Record, int]]] = {k: {} for k in KINDS}
        self.over_log: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
        self._generate()

    # -- generation -------------------------------------------------------------------------------

    def _generate(self) -> None:
        cfg, now = self.cfg, self.now
        planned = generator.plan_repositories(
            self.seed, cfg.repositories, self.h0, cfg.days, self.lag_max, cfg.scan_interval_days
        )
        for repo, chain in planned:
            self.records["repositories"][repo.id] = repo
            self.chains[repo.id] = chain
            for kind in CHILD_KINDS:
                self.child_index[kind][repo.id] = Index()
            chain.extend_to(now + HORIZON_MS)
        counts = self._initial_counts()
        for repo, chain in planned:
            while (
                chain.materialized < len(chain.entries) and chain.entries[chain.materialized].created <= now
            ):
                entry = chain.entries[chain.materialized]
                self._materialize(repo, chain, entry, counts.get((repo.id, entry.idx)), place=False)
                chain.materialized += 1
            self._schedule_chain(repo.id)
        self.hooks = HookChain(self.seed, self.h0 - 60 * DAY_MS)
        for hook in self.hooks.extend_to(now + HORIZON_MS):
            self.records["webhooks"][hook.id] = hook
        # Build every index in one sort rather than an insort per object.
        for kind, recs in self.records.items():
            keyed: dict[int, list[tuple[int, str]]] = {}
            for rec in recs.values():
                u = rec.updated(now - rec.lag)
                rec.ukey = u
                if u is not None:
                    keyed.setdefault(id(self._index(kind, rec)), []).append((u, rec.id))
                self._schedule(kind, rec)
            for kind_index in self._all_indexes(kind):
                kind_index.keys = sorted(keyed.get(id(kind_index), []))

    def _initial_counts(self) -> dict[tuple[str, int], int]:
        """Findings per scan at start: natural (Poisson) or, with a target, allotted to hit it exactly."""
        weights = []
        for repo_id, chain in self.chains.items():
            repo = self.records["repositories"][repo_id]
            for entry in chain.entries:
                if entry.completed > self.now:
                    break
                weights.append(((repo_id, entry.idx), generator.scan_weight(repo, entry)))  # type: ignore[arg-type]
        target = self.cfg.findings
        if target is None:
            return {}
        total = sum(w for _, w in weights)
        if total <= 0:
            return {}
        self.scale = target / total
        counts, fractions = {}, []
        for key, w in weights:
            exact = w * self.scale
            counts[key] = int(exact)
            fractions.append((exact - int(exact), key))
        short = target - sum(counts.values())
        for _, key in sorted(fractions, reverse=True)[:short]:
            counts[key] += 1
        return counts

    def _materialize(
        self, repo: Repo, chain: ScanChain, entry: ChainEntry, count: int | None, place: bool = True
    ) -> Scan:
        rng = Random(f"{self.seed}/scan/{repo.idx}/{entry.idx}")
        scan = generator.new_scan(
            rng,
            repo,
            created=entry.created,
            started=entry.started,
            completed=entry.completed,
            failed=entry.failed,
            tool=entry.tool,
            trigger=entry.trigger,
            lag_max=self.lag_max,
        )
        if count is None:
            count = generator.poisson(rng, generator.scan_weight(repo, entry) * self.scale)
        specs = generator.random_specs(rng, repo, scan.tool, count)
        self._add_scan(repo, chain, scan, specs, rng, place)
        return scan

    def _add_scan(
        self, repo: Repo, chain: ScanChain, scan: Scan, specs: list[Spec], rng: Random, place: bool
    ) -> None:
        findings, fixes = generator.plan_scan_results(rng, repo, chain, scan, specs, self.lag_max)
        self._plan_aging(scan, findings)
        new: list[tuple[str, Record]] = [("scans", scan)]
        new += [("findings", f) for f in findings]
        new += [("fixes", fx) for fx in fixes]
        for kind, rec in new:
            self.records[kind][rec.id] = rec
            if self._window is not None:
                self._touched[(kind, rec.id)] = rec
            if place:
                self._place(kind, rec)
                self._schedule(kind, rec)

    def _plan_aging(self, scan: Scan, findings: list[Finding]) -> None:
        """The knobs that age an organisation: scans expiring, dismissed findings reopened. Drawn
        from hashes of the ids, never from the scan's random stream, so a seed's organisation is
        the same with the knobs off."""
        cfg = self.cfg
        if cfg.scan_retention_days is not None:
            scan.expires = scan.created_at + round(cfg.scan_retention_days * DAY_MS)
        if cfg.reopen_dismissed_rate:
            for f in findings:
                if f.rkind != DISMISS or f.resolved is None or f.reopened is not None:
                    continue
                h = zlib.crc32(f"{self.seed}/reopen/{f.id}".encode())
                if h / 2**32 < cfg.reopen_dismissed_rate:
                    # reopened when a scan reports it again: the first completion after that moment
                    after = f.resolved + (1 + h % 20) * DAY_MS + (h >> 8) % 86_400 * 1000
                    chain = self.chains.get(scan.repo)
                    f.reopened = chain.completed_after(after, 1) if chain is not None else None

    def _schedule_chain(self, repo_id: str) -> None:
        chain = self.chains[repo_id]
        if chain.materialized < len(chain.entries):
            self._push(chain.entries[chain.materialized].created, "chain", repo_id)

    def _extend(self, until: int) -> None:
        for repo_id, chain in self.chains.items():
            had = len(chain.entries)
            chain.extend_to(until + HORIZON_MS)
            if chain.materialized == had < len(chain.entries):
                self._schedule_chain(repo_id)
            repo = self.records["repositories"].get(repo_id)
            if repo is not None:
                self._schedule("repositories", repo)
        for hook in self.hooks.extend_to(until + HORIZON_MS):
            self.records["webhooks"][hook.id] = hook
            self._schedule("webhooks", hook)

    # -- indexes and the event heap ---------------------------------------------------------------

    def _index(self, kind: str, rec: Record) -> Index:
        if kind == "repositories":
            return self.repo_index
        if kind == "webhooks":
            return self.hook_index
        return self.child_index[kind][rec.repo]  # type: ignore[attr-defined]

    def _all_indexes(self, kind: str) -> list[Index]:
        if kind == "repositories":
            return [self.repo_index]
        if kind == "webhooks":
            return [self.hook_index]
        return list(self.child_index[kind].values())

    def _push(self, t: int, kind: str, key: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, key))

    def _schedule(self, kind: str, rec: Record) -> None:
        nxt = rec.next_after(self.now - rec.lag)
        if nxt is None:
            rec.sched = None
            return
        when = nxt + rec.lag
        if rec.sched != when:
            rec.sched = when
            self._push(when, kind, rec.id)

    def _place(self, kind: str, rec: Record) -> str | None:
        """Move rec to its key at now; say whether it was 'created', 'changed' or 'removed'."""
        new = rec.updated(self.now - rec.lag)
        old = rec.ukey
        if new == old:
            return None
        index = self._index(kind, rec)
        if old is not None:
            index.remove((old, rec.id))
        rec.ukey = new
        if new is not None:
            index.add((new, rec.id))
        what = "created" if old is None else ("removed" if new is None else "changed")
        if self._tally is not None:
            self._tally[what][kind] += 1
        return what

    # -- time -------------------------------------------------------------------------------------

    def advance(self, hours: float) -> dict[str, Any]:
        if hours < 0:
            raise ValueError("hours must be >= 0")
        with self.lock:
            new_now = self.now + round(hours * HOUR_MS)
            self._extend(new_now)
            self.now = new_now
            tally: dict[str, Counter[str]] = {
                "created": Counter(),
                "changed": Counter(),
                "removed": Counter(),
            }
            self._tally = tally
            self._window = (new_now - round(hours * HOUR_MS), new_now)
            while self.heap and self.heap[0][0] <= new_now:
                when, _, kind, key = heapq.heappop(self.heap)
                if kind == "chain":
                    self._due_chain(key)
                    continue
                rec = self.records[kind].get(key)
                if rec is None or rec.sched != when:
                    continue  # deleted, or a stale entry superseded by a later _schedule
                rec.sched = None
                if kind in CHILD_KINDS:
                    self._touched[(kind, key)] = rec
                self._place(kind, rec)
                self._schedule(kind, rec)
            self._tally = None
            self._emit()
            out: dict[str, Any] = {"hours": hours, "now": iso(self.now)}
            out.update({what: {k: c[k] for k in KINDS} for what, c in tally.items()})
            return out

    def _emit(self) -> None:
        """Hand the events of the records touched in the window to the sink, and close the window."""
        window, touched = self._window, self._touched
        self._window, self._touched = None, {}
        if window is None or self.event_sink is None:
            return
        out: list[dict[str, Any]] = []
        repos = self.records["repositories"]
        for rec in touched.values():
            repo = repos.get(rec.repo)  # type: ignore[attr-defined]
            if repo is not None:
                out += events.record_events(self.seed, rec, repo, window[0] - rec.lag, window[1] - rec.lag)
        if out:
            self.event_sink(out)

    def _due_chain(self, repo_id: str) -> None:
        repo = self.records["repositories"].get(repo_id)
        if repo is None:
            return
        chain = self.chains[repo_id]
        while (
            chain.materialized < len(chain.entries) and chain.entries[chain.materialized].created <= self.now
        ):
            self._materialize(repo, chain, chain.entries[chain.materialized], None)  # type: ignore[arg-type]
            chain.materialized += 1
        self._schedule_chain(repo_id)

    # -- reads ------------------------------------------------------------------------------------

    def view(self, kind: str, rec: Record) -> dict[str, Any]:
        """The object exactly as the list endpoints serialise it."""
        obj = rec.render(self.now - rec.lag)
        if rec.over:
            obj.update(rec.over)
        obj["updated_at"] = iso(rec.ukey)
        return obj

    def get(self, kind: str, obj_id: str) -> Record | None:
        rec = self.records[kind].get(obj_id)
        return rec if rec is not None and rec.ukey is not None else None

    def index_for(self, kind: str, repo_id: str | None) -> Index | None:
        if kind == "repositories":
            return self.repo_index
        if kind == "webhooks":
            return self.hook_index
        return self.child_index[kind].get(repo_id or "")

    def page(
        self, kind: str, index: Index, after: tuple[int, str] | None, since_ms: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], tuple[int, str] | None, bool, int]:
        """One page: items, the last key, whether more follow, and how many match in all."""
        start = index.start(after, since_ms)
        keys = index.keys[start : start + limit]
        recs = self.records[kind]
        items = [self.view(kind, recs[k[1]]) for k in keys]
        has_more = start + len(keys) < len(index.keys)
        total = len(index.keys) - index.start(None, since_ms)
        return items, (keys[-1] if keys else after), has_more, total

    def iter_visible(self, kind: str) -> Iterator[Record]:
        recs = self.records[kind]
        for index in self._all_indexes(kind):
            for _, obj_id in list(index.keys):
                yield recs[obj_id]

    def truth(self, at: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """Every object the lists serve, as they serve it now, or as they served it at `at` (ms, not
        after now): deleted and expired objects included while they existed, overrides as they
        were then. A repository's PATCHed name, branch, enabled and settings show as now."""
        with self.lock:
            if at is None or at >= self.now:
                return {kind: [self.view(kind, rec) for rec in self.iter_visible(kind)] for kind in KINDS}
            out: dict[str, list[dict[str, Any]]] = {}
            # The order of truth(): per repository (in the indexes' order), then (updated_at, id).
            repos = [
                *self.records["repositories"].values(),
                *(r for r, _ in self.removed["repositories"].values()),
            ]
            place = {repo.id: repo.idx for repo in repos}  # type: ignore[attr-defined]
            for kind in KINDS:
                recs = list(self.records[kind].values())
                recs += [rec for rec, gone in self.removed[kind].values() if gone > at]
                keyed = []
                for rec in recs:
                    obj = self._view_at(kind, rec, at)
                    if obj is not None:
                        u = to_ms(datetime.fromisoformat(obj["updated_at"].replace("Z", "+00:00")))
                        keyed.append(((place.get(obj.get("repository_id"), len(place)), u, obj["id"]), obj))
                out[kind] = [obj for _, obj in sorted(keyed, key=lambda pair: pair[0])]
            return out

    def _view_at(self, kind: str, rec: Record, at: int) -> dict[str, Any] | None:
        t = at - rec.lag
        if rec.created() > t or rec.gone(t):
            return None
        over_t, over = 0, None
        for when, fields in self.over_log.get((kind, rec.id), []):
            if when <= at:
                over_t, over = when, fields
        obj = rec.render(t)
        if over:
            obj.update(over)
        obj["updated_at"] = iso(max(rec.plan_updated(t), over_t))
        return obj

    # -- writes -----------------------------------------------------------------------------------

    def update(self, kind: str, obj_id: str, at_ms: int | None = None, **fields: Any) -> dict[str, Any]:
        with self.lock:
            rec = self.get(kind, obj_id)
            if rec is None:
                raise KeyError(f"{kind} {obj_id} not found")
            for name in ("id", "updated_at"):
                fields.pop(name, None)
            if isinstance(rec, Repo):
                # Typed attributes of a repository that the plan reads must follow PATCH too.
                if "settings" in fields and isinstance(fields["settings"], dict):
                    rec.settings = {**rec.settings, **fields.pop("settings")}
                for attr in ("name", "default_branch", "enabled"):
                    if attr in fields and type(fields[attr]) is type(getattr(rec, attr)):
                        setattr(rec, attr, fields.pop(attr))
            if fields:
                rec.over = {**(rec.over or {}), **fields}
            rec.over_t = max(self.now, (rec.ukey or 0) + 1) if at_ms is None else at_ms
            self.over_log.setdefault((kind, obj_id), []).append((rec.over_t, dict(rec.over or {})))
            self._place(kind, rec)
            return self.view(kind, rec)

    def delete(self, kind: str, obj_id: str) -> None:
        with self.lock:
            rec = self.records[kind].get(obj_id)
            if rec is None:
                raise KeyError(f"{kind} {obj_id} not found")
            if rec.ukey is not None:
                self._index(kind, rec).remove((rec.ukey, rec.id))
                self.removed[kind][obj_id] = (rec, self.now)
            del self.records[kind][obj_id]
            rec.ukey = None
            if isinstance(rec, Repo):
                rec.deleted = True
                for child in CHILD_KINDS:
                    for _, cid in self.child_index[child].pop(obj_id).keys:
                        gone = self.records[child].pop(cid, None)
                        if gone is not None:
                            self.removed[child][cid] = (gone, self.now)
                # Children not listed now (not yet visible, or expired) are dropped too.
                for child in CHILD_KINDS:
                    stale = [cid for cid, c in self.records[child].items() if c.repo == obj_id]  # type: ignore
                    for cid in stale:
                        # kept for truth(at=...): an expired scan was listed before it expired
                        self.removed[child][cid] = (self.records[child].pop(cid), self.now)
                self.chains.pop(obj_id, None)

    def start_scan(
        self, repo_id: str, *, trigger: str = "api", specs: list[Spec] | None = None, tool: str | None = None
    ) -> Scan:
        """A scan started now (POST /scans) or already finished from an upload (SARIF)."""
        with self.lock:
            repo = self.records["repositories"][repo_id]
            chain = self.chains[repo_id]
            self.adhoc += 1
            rng = Random(f"{self.seed}/adhoc/{self.adhoc}")
            now = self.now
            tool = tool or repo.tools[0]
            if specs is None:  # a real scan: queued now, done a few minutes later
                started = now + rng.randint(2, 30) * 1000
                completed = started + rng.randint(120, 900) * 1000
                count = generator.poisson(rng, generator.LATER_WEIGHT * repo.size * self.scale)
                specs = [] if repo.zero else generator.random_specs(rng, repo, tool, count)
            else:  # an uploaded result set: processed on arrival
                started = completed = now
            scan = generator.new_scan(
                rng,
                repo,
                created=now,
                started=started,
                completed=completed,
                failed=False,
                tool=tool,
                trigger=trigger,
                lag_max=0,
            )
            insort(repo.done, completed)
            self._window = (now - 1, now)  # an upload is complete on arrival: its events go now
            self._add_scan(repo, chain, scan, specs, rng, place=True)
            self._place("repositories", repo)
            self._schedule("repositories", repo)
            self._emit()
            return scan

    def add_webhook(self, url: str, events: list[str], active: bool, secret: str | None) -> Webhook:
        with self.lock:
            hook = Webhook(
                f"wh_{secrets.token_hex(6)}",
                url=url,
                events=events,
                active=active,
                created_at=self.now,
                deleted=None,
                secret=secret or f"whsec_{secrets.token_hex(16)}",
            )
            self.records["webhooks"][hook.id] = hook
            self._place("webhooks", hook)
            return hook

    def live_webhooks(self) -> list[Webhook]:
        """The webhooks that exist now (active or not): where deliveries may go."""
        with self.lock:
            return [h for h in self.records["webhooks"].values() if h.ukey is not None]  # type: ignore[misc]

    def delete_webhook(self, hook_id: str) -> bool:
        with self.lock:
            rec = self.get("webhooks", hook_id)
            if rec is None:
                return False
            self.delete("webhooks", hook_id)
            return True
