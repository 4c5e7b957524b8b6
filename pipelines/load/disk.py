"""A full disk, said in one line: the path that could not be written, what it wanted, what is free."""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from pipelines.errors import DiskFullError, PixeeEtlError

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# How DuckDB and SQLite say it: "Could not write all bytes to file "x": wanted=N wrote=M",
# "No space left on device", "database or disk is full".
_FULL_TEXT = re.compile(r"no space left on device|could not write all bytes|disk is full", re.IGNORECASE)
_WANTED = re.compile(r"wanted=(\d+)")
_FILE = re.compile(r"""file ["'](?P<path>[^"']+)["']""")


def disk_full(
    exc: BaseException,
    doing: str,
    near: str | Path | None = None,
    wanted: int | Callable[[], int] | None = None,
) -> DiskFullError | None:
    """The one-line error for `exc` when a full disk caused it (anywhere in its chain), else None.
    `near` is the path to name when the error does not (the directory being written), `wanted`
    the bytes the step was writing (or how to count them, only once the disk proved full)."""
    path: str | None = None
    seen: set[int] = set()
    current: BaseException | None = exc
    found = False
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            found = True
            path = path or (str(current.filename) if current.filename else None)
        elif not isinstance(current, PixeeEtlError) and _FULL_TEXT.search(text):
            # (Our own errors may quote a server, whose disk being full is not ours.)
            found = True
            named = _FILE.search(text)
            path = path or (named.group("path") if named else None)
            asked = _WANTED.search(text)
            wanted = int(asked.group(1)) if asked and wanted is None else wanted
        current = current.__cause__ or current.__context__
    if not found:
        return None
    if callable(wanted):
        wanted = wanted()
    where = Path(path or near or ".")
    free = free_bytes(where)
    wants = f"it wanted about {size(wanted)} more" if wanted else "it wanted more"
    return DiskFullError(
        f"the disk is full: {doing} could not write {where} ({wants}, {size(free)} free there); "
        "committed progress kept; free some space and run again"
    )


def free_bytes(path: Path) -> int | None:
    """Free bytes on the filesystem holding `path` (its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def tree_bytes(path: str | Path) -> int:
    """Bytes of the files under `path` (what a step that rewrites them wants again)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def size(count: int | None) -> str:
    if count is None:
        return "an unknown amount"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count} bytes"
