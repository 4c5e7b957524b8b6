"""One sync of the platform flavour: the root's collections read in units, committed in segments.

One object (PlatformRun) holds the run's segment state (rows, cursors, scans still to read, open
patches) and every unit reads and writes it; the paging, row shaping, patches and expiry it uses
are modules of their own.

```
root (or the links detection already read)
 |- repositories      full list                 -> _deleted_at for what it no longer lists
 |- small collections integrations, scales, system-status, preferences, unknown relations
 |- scans             full list (no time filter) -> _expired_at for what it no longer lists
 |- analyses          updated-after cursor - lag -> the scans whose analyses changed
 |- patches           created-after cursor - lag, then one GET per patch still open
 |- workflows         of repositories new to the state (every one on --reconcile/--full-refresh)
 '- findings          of scans new to the state or whose analyses changed
```
Each unit (a list, a repository's workflows, a scan's findings, a patch) is read whole; after a
unit, once the rows taken since the last commit cost `segment_requests` requests, they are
loaded with the state that covers them (cursors, and the work still pending: scans whose
findings and repositories whose workflows are still to read), so a kill loses at most that
segment, and the next run finishes the pending work first. The state lives with the data
(dlt's source state), so a fresh machine resumes too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pipelines.api.client import PixeeClient
from pipelines.errors import ApiError, ForbiddenError, NotFoundError
from pipelines.extract import rejected_rows as records
from pipelines.extract.endpoints import NOT_LOADED, PLATFORM, VERSION, Endpoint, root_relations, unknown_table
from pipelines.extract.platform import hal
from pipelines.extract.platform.expiry import late_warning, mark_expired
from pipelines.extract.platform.patches import read_patches
from pipelines.extract.platform.rows import clean, finding_row, versioned
from pipelines.extract.platform.source import platform_segment, saved_state
from pipelines.extract.v1.cursors import Cursor, parse_ts
from pipelines.load.sync.context import SyncRun
from pipelines.load.sync.steps import LOADER_FILE_FORMAT, normalize_and_load, run_step

log = logging.getLogger("pipelines.platform")

TABLES: dict[str, Endpoint] = {e.table: e for e in PLATFORM}
# The small collections: walked whole and replaced every run (pipelines.extract.endpoints).
SMALL = tuple(
    e.relation for e in PLATFORM if e.relation and e.parent is None and e.write_disposition == "replace"
)


def read_root(client: PixeeClient) -> dict[str, str]:
    """The root's relations as absolute hrefs (one request)."""
    root = client.base_url
    body = client.get_json(root, resource="root")
    links = hal.links_of(body, f"the API root {root}")
    return {
        rel: hal.resolve(client, href, root, f"the root's {rel!r} relation") for rel, href in links.items()
    }


class PlatformRun:
    """What one run read and has not committed yet, and the state that will cover it."""

    def __init__(self, sync: SyncRun, *, segment_requests: int) -> None:
        self.sync = sync  # the pipeline, client and clock this run shares with the v1 path
        self.pipeline, self.client, self.settings = sync.pipeline, sync.client, sync.settings
        self.report, self.record = sync.report, sync.record
        self.fresh, self.reconcile = sync.full_refresh, sync.reconcile
        self.state: dict[str, Any] = {} if self.fresh else saved_state(self.pipeline)
        self.previous_run = self.state.get("last_run")
        self.tables = dict(TABLES)
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.rejected: list[dict[str, Any]] = []
        self.segment_requests = segment_requests
        self.committed_requests = 0
        self.scans_complete = False  # the scans list was read to its end in the open segment
        self.gone_scans: list[str] = []  # 404 on their findings: expired since the list was read
        self.scans_href = self.client.base_url  # what a scan's relative links resolve against

    # -- collecting -------------------------------------------------------------------------------

    def reject(self, table: str) -> Callable[[Any, str], None]:
        def set_aside(value: Any, reason: str) -> None:
            self.report.add_rejected(table, reason)
            self.rejected.append(records.rejected_row(table, reason, value, self.report.run_id))

        return set_aside

    def add(self, table: str, rows: list[dict[str, Any]]) -> None:
        # A value no column can hold is stored as text and its row kept, as on the v1 path.
        hints = self.tables[table].columns if table in self.tables else {}
        declared = {name: str(hint.get("data_type")) for name, hint in hints.items() if hint.get("data_type")}
        good, mended = records.mend(rows, declared)
        for fix in mended:
            self.report.add_rejected(table, fix.reason(), fix.column)
            self.rejected.append(
                records.rejected_row(table, fix.reason(), fix.row, self.report.run_id, fix.column)
            )
        if good:
            self.rows.setdefault(table, []).extend(good)
            self.report.add_rows(table, len(good))

    def requests(self) -> int:
        return self.client.stats.totals().requests

    def commit(self, force: bool = False) -> None:
        """Load what was read since the last commit, with the state, once it is a segment's worth."""
        if not force and self.requests() - self.committed_requests < self.segment_requests:
            return
        source = platform_segment(self.rows, self.tables, self.state, self.rejected)
        run_step(self.pipeline.extract, source, loader_file_format=LOADER_FILE_FORMAT)
        self.rows, self.rejected = {}, []
        normalize_and_load(self.pipeline, self.report)
        self.record.mark(self.pipeline)
        if self.scans_complete or self.gone_scans:
            run_loads = self.report.load_ids[self.record.first_load :]
            expired = mark_expired(
                self.pipeline, run_loads, self.sync.observed_at, self.scans_complete, self.gone_scans
            )
            if expired:
                self.report.add_expired(expired)
            self.scans_complete, self.gone_scans = False, []
        self.report.checkpoints += 1
        self.committed_requests = self.requests()

    # -- the run ----------------------------------------------------------------------------------

    def run(self, links: dict[str, str] | None) -> None:
        links = links if links is not None else read_root(self.client)
        known = root_relations()
        for relation in ("repositories", "scans"):
            if relation not in links:
                raise ApiError(
                    f"the API root links no {relation!r}; it is not the platform API Pixee documents"
                )
        repositories = self.read_repositories(links["repositories"])
        # The run's start on the server's clock (its first answer to this client: detection may
        # have read the root with another): no cursor moves past it; history and expiry stamp it.
        self.sync.read_clock()
        warning = late_warning(_parsed(self.previous_run), self.sync.observed_at)
        if warning:
            self.report.warn(warning)
        for relation in SMALL:
            if relation in links:
                self.read_collection(known[relation], links[relation])
        for relation in sorted(set(links) - set(known) - NOT_LOADED):
            self.read_unknown(relation, links[relation])
        self.commit()
        scans = self.read_scans(links["scans"])
        self.commit()
        if "analyses" in links:
            self.read_analyses(links["analyses"], scans)
            self.commit()
        if "patches" in links:
            read_patches(self, links["patches"], scans)
            self.commit()
        self.read_workflows(repositories)
        self.read_findings(scans)
        self.state["last_run"] = self.sync.observed_at.isoformat()
        self.commit(force=True)

    def read_repositories(self, href: str) -> dict[str, dict[str, Any]]:
        """Every repository (a complete read: what it no longer lists gets _deleted_at); those new
        to the state (every one on a reconcile) get their workflows read."""
        served = self.read_whole(href, "repositories")
        self.record.reads.read_complete("repositories", None)
        seen = set(self.state.get("repositories") or [])
        pending: dict[str, str] = dict(self.state.get("workflows_pending") or {})
        for repo_id, item in served.items():
            workflows = hal.link(item, "workflows")
            if workflows and (repo_id not in seen or self.reconcile or self.fresh):
                pending[repo_id] = hal.resolve(
                    self.client, workflows, href, f"repository {repo_id}'s workflows"
                )
        self.state["repositories"] = sorted(served)
        self.state["workflows_pending"] = {r: h for r, h in pending.items() if r in served}
        return served

    def read_whole(self, href: str, table: str) -> dict[str, dict[str, Any]]:
        """A list read to its end, its rows versioned into `table`; what it served, by id."""
        served: dict[str, dict[str, Any]] = {}
        rows = []
        for page in hal.walk(self.client, href, resource=table, reject=self.reject(table)):
            for item in page:
                served[item["id"]] = item
                rows.append(versioned(item))
        self.add(table, rows)
        return served

    def read_collection(self, entry: Endpoint, href: str) -> None:
        """One walk of a small collection (replaced whole); a 403 or 404 leaves its table as it is."""
        keyed = entry.key == ("id",)
        try:
            rows = []
            for page in hal.walk(
                self.client, href, resource=entry.table, reject=self.reject(entry.table), keyed=keyed
            ):
                rows += [_plain(item) for item in page]
        except (ForbiddenError, NotFoundError) as exc:
            self.report.warn(f"{entry.table} skipped: the API answered {exc.status} for it")
            return
        if entry.key != ("id",):
            good = [
                r for r in rows if all(isinstance(r.get(k), str | int) and r.get(k) != "" for k in entry.key)
            ]
            for row in rows:
                if row not in good:
                    self.reject(entry.table)(row, f"the record has no {'/'.join(entry.key)}")
            rows = good
        self.add(entry.table, rows)

    def read_unknown(self, relation: str, href: str) -> None:
        """A root relation the connector does not know: loaded as collection_<relation>, keyed by
        id when every row has one, else by a hash of the row; named once, the run it first appears."""
        table = unknown_table(relation)
        if table == "collection_":
            return
        try:
            rows = []
            for page in hal.walk(self.client, href, resource=table, reject=self.reject(table), keyed=False):
                rows += [versioned(item) for item in page]
        except (ForbiddenError, NotFoundError) as exc:
            self.report.warn(f"the root's {relation!r} relation skipped: the API answered {exc.status}")
            return
        by_id = all(isinstance(r.get("id"), str) and r["id"] for r in rows) and bool(rows)
        known = list(self.state.get("relations") or [])
        if relation not in known:
            self.report.notes.append(f"new root relation {relation!r}: loaded as {table}")
            known.append(relation)
            self.state["relations"] = sorted(known)
        key = ("id",) if by_id else (VERSION,)
        self.tables[table] = Endpoint(
            table,
            "platform",
            relation=relation,
            key=key,
            write_disposition="replace",
            columns={k: {"data_type": "text", "nullable": False, "primary_key": True} for k in key},
        )
        self.add(table, rows)

    def read_scans(self, href: str) -> dict[str, dict[str, Any]]:
        """Every scan the API still serves (a complete read: what it no longer lists expires);
        those new to the state get their findings read."""
        served = self.read_whole(href, "scans")
        self.scans_complete = True
        self.scans_href = href
        read = set(self.state.get("scans") or [])
        pending = dict(self.state.get("findings_pending") or {})
        for scan_id, item in served.items():
            if scan_id not in read or self.reconcile:
                self.pend(pending, item, href)
        self.state["scans"] = sorted(read & set(served))
        # A scan the list no longer serves has expired: its findings cannot be read any more.
        self.state["findings_pending"] = {k: v for k, v in pending.items() if k in served}
        return served

    def pend(self, pending: dict[str, dict[str, Any]], scan: dict[str, Any], base: str) -> None:
        findings = hal.link(scan, "findings")
        if not findings:
            return
        pending[scan["id"]] = {
            "href": hal.resolve(self.client, findings, base, f"scan {scan['id']}'s findings"),
            "repository_id": scan.get("repository_id"),
            "detector": scan.get("detector"),
        }

    def read_analyses(self, href: str, scans: dict[str, dict[str, Any]]) -> None:
        """Analyses updated since the cursor (less the lag); a scan with a new or changed analysis
        gets its findings read again (their representative results moved)."""
        cursor = Cursor(self.state.get("analyses"), self.settings.lag_seconds, self.sync.cursor_cap)
        params = {"updated-after": cursor.since} if cursor.since else None
        rows = []
        changed: set[str] = set()
        for page in hal.walk(self.client, href, params, resource="analyses", reject=self.reject("analyses")):
            for item in page:
                if cursor.observe(item) and isinstance(item.get("scan_id"), str):
                    changed.add(item["scan_id"])
                rows.append(_plain(item))
        self.add("analyses", rows)
        pending = self.state.setdefault("findings_pending", {})
        for scan_id in sorted(changed & set(scans)):
            self.pend(pending, scans[scan_id], self.scans_href)
        self.state["analyses"] = cursor.saved()
        if cursor.ahead:
            self.report.warn(cursor.skew_warning("analyses"))

    def read_workflows(self, repositories: dict[str, dict[str, Any]]) -> None:
        pending: dict[str, str] = self.state.setdefault("workflows_pending", {})
        for repo_id in sorted(pending):
            href = pending[repo_id]
            rows = []
            try:
                for page in hal.walk(
                    self.client, href, resource="workflows", reject=self.reject("workflows")
                ):
                    rows += [{**_plain(item), "repository_id": repo_id} for item in page]
            except NotFoundError:
                pass  # deleted since the list: its _deleted_at comes with the next complete read
            self.add("workflows", rows)
            del pending[repo_id]
            self.commit()

    def read_findings(self, scans: dict[str, dict[str, Any]]) -> None:
        pending: dict[str, dict[str, Any]] = self.state.setdefault("findings_pending", {})
        read = set(self.state.get("scans") or [])
        for scan_id in sorted(pending):
            job = pending[scan_id]
            scan = {"id": scan_id, "repository_id": job.get("repository_id"), "detector": job.get("detector")}
            rows = []
            try:
                for page in hal.walk(
                    self.client, job["href"], resource="findings", reject=self.reject("findings")
                ):
                    rows += [finding_row(item, scan) for item in page]
            except NotFoundError:
                self.gone_scans.append(scan_id)  # expired since the list was read: its rows stay
            else:
                self.add("findings", rows)
                if scan_id in scans:
                    read.add(scan_id)
            del pending[scan_id]
            self.state["scans"] = sorted(read)
            self.commit()


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return clean(item)


def _parsed(value: Any) -> datetime | None:
    try:
        return parse_ts(value) if isinstance(value, str) else None
    except ValueError:
        return None


def sync_platform(sync: SyncRun, *, links: dict[str, str] | None, segment_requests: int) -> None:
    """Read the platform API into the pipeline (pipelines.load.sync calls it for that flavour)."""
    if sync.full_refresh:
        sync.report.notes.append(
            "full refresh (platform): every collection and every served scan's findings read anew; "
            "no table is dropped (an expired scan cannot be read again)"
        )
    PlatformRun(sync, segment_requests=segment_requests).run(links)
