"""The platform run's patches: new ones since the cursor, then those still open, read again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dlt

from pipelines.errors import ApiError, NotFoundError
from pipelines.extract import rejected_rows as records
from pipelines.extract.platform import hal
from pipelines.extract.platform.rows import clean
from pipelines.extract.v1.cursors import Cursor
from pipelines.load.schemas import api_schema

if TYPE_CHECKING:
    from pipelines.extract.platform.sync import PlatformRun

DONE_STATES = ("merged", "closed")


def read_patches(run: PlatformRun, href: str, scans: dict[str, dict[str, Any]]) -> None:
    """Patches created since the cursor (less the lag), then one GET of each patch the
    warehouse holds as still open (merge_state neither merged nor closed). A finding shows
    its newest patch and that patch's merge_state in every scan that lists it, so the scans
    listing a finding whose patch is new or was decided get their findings read again."""
    cursor = Cursor(run.state.get("patches"), run.settings.lag_seconds, run.sync.cursor_cap)
    params = {"created-after": cursor.since} if cursor.since else None
    rows: dict[str, dict[str, Any]] = {}
    hrefs: dict[str, str] = {}
    open_patches: dict[str, str] = dict(run.state.get("open_patches") or {})
    changed: set[tuple[str, str]] = set()  # (repository_id, finding_id) whose patch moved

    def take(item: dict[str, Any], new: bool) -> None:
        rows[item["id"]] = clean(item)
        known_open = item["id"] in open_patches
        if (new and not known_open) or (known_open and item.get("merge_state") in DONE_STATES):
            changed.add((str(item.get("repository_id")), str(item.get("finding_id"))))
        own = hal.link(item, "self")
        if own:
            hrefs[item["id"]] = hal.resolve(run.client, own, href, f"patch {item['id']}")

    for page in hal.walk(run.client, href, params, resource="patches", reject=run.reject("patches")):
        for item in page:
            take(item, cursor.observe({"id": item["id"], "updated_at": item.get("created_at")}))
    if any(patch_id not in rows for patch_id in open_patches):
        read_open(run, href, take)
    changed |= read_decided(run, open_patches, rows, hrefs)
    run.add("patches", list(rows.values()))
    still_open = {
        patch_id: hrefs.get(patch_id) or open_patches[patch_id]
        for patch_id, row in rows.items()
        if row.get("merge_state") not in DONE_STATES and (hrefs.get(patch_id) or patch_id in open_patches)
    }
    run.state["open_patches"] = still_open
    run.state["patches"] = cursor.saved()
    pending = run.state.setdefault("findings_pending", {})
    for scan_id in scans_listing(run.pipeline, changed):
        if scan_id in scans and scan_id not in pending:
            run.pend(pending, scans[scan_id], run.scans_href)


def read_open(run: PlatformRun, href: str, take: Callable[[dict[str, Any], bool], None]) -> None:
    """The patches still open, in pages: those the warehouse holds as open and this list no
    longer has were decided, and only they are read one by one. A server that ignores the
    filter lists them all (still correct); one that refuses it, or whose `state` means something
    else, leaves the one GET per open patch."""
    try:
        for page in hal.walk(run.client, href, {"state": "open"}, resource="patches"):
            for item in page:
                take(item, False)  # new patches came with the list above
    except ApiError as exc:
        if exc.status is None or exc.status >= 500 or exc.status in (401, 429):
            raise
        run.report.warn(
            f"patches: the open-state filter was refused ({exc.status}); open patches read one by one"
        )


def read_decided(
    run: PlatformRun, open_patches: dict[str, str], rows: dict[str, dict[str, Any]], hrefs: dict[str, str]
) -> set[tuple[str, str]]:
    """One GET of each patch held as open that no list this run returned; the (repository_id,
    finding_id) of those now decided. A 404 keeps the patch as last seen."""
    changed: set[tuple[str, str]] = set()
    gone = 0
    for patch_id, own in sorted(open_patches.items()):
        if patch_id in rows:
            continue
        try:
            body = run.client.get_json(own, resource="patches")
        except NotFoundError:
            gone += 1
            continue
        if isinstance(body, dict) and records.shape_problem(body) is None:
            rows[patch_id] = clean(body)
            hrefs.setdefault(patch_id, own)
            if body.get("merge_state") in DONE_STATES:
                changed.add((str(body.get("repository_id")), str(body.get("finding_id"))))
        else:
            run.reject("patches")(body, records.shape_problem(body) or "not a patch")
    if gone:
        run.report.warn(f"{gone} open patch(es) answered 404: kept as last seen")
    return changed


def scans_listing(pipeline: dlt.Pipeline, findings: set[tuple[str, str]]) -> list[str]:
    """The scans the warehouse holds that list any of these (repository_id, finding_id)."""
    if not findings:
        return []
    schema = api_schema(pipeline)
    if schema is None or "findings" not in {t["name"] for t in schema.data_tables(seen_data_only=True)}:
        return []
    found: set[str] = set()
    pairs = sorted(findings)
    with pipeline.sql_client() as client:
        col = client.escape_column_name
        table = client.make_qualified_table_name("findings")
        for start in range(0, len(pairs), 200):
            chunk = pairs[start : start + 200]
            where = " or ".join([f"({col('repository_id')} = %s and {col('id')} = %s)"] * len(chunk))
            args = [value for pair in chunk for value in pair]
            rows = client.execute_sql(f"select distinct {col('scan_id')} from {table} where {where}", *args)
            found.update(str(row[0]) for row in rows or [])
    return sorted(found)
