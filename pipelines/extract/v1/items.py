"""What a batch's queues carry besides rows: checkpoints, failures, warnings and records set aside."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Checkpoint:
    """A repository's list was read to here (its end, or part way): its cursor state covers
    exactly the rows put before it in the same queue, so it may be committed with them."""

    repository_id: str
    kind: str
    state: dict[str, Any]
    requests: int = 0  # made for the rows it covers since the list's previous checkpoint
    complete: bool = False  # read with no updated_since: every object it lists was loaded


@dataclass
class Vanished:
    """A list answered 404 and so did GET /repositories/{id}: the repository was deleted."""

    repository_id: str
    requests: int = 0


@dataclass
class ListFailed:
    """A list (or a detail) could not be read this run (an error that outlived the retries, a
    paging loop, a 404 the repository itself does not confirm): its cursor stays where it was,
    every other list of the batch commits, and the sync ends saying so."""

    repository_id: str
    kind: str
    message: str
    requests: int = 0


@dataclass
class Warn:
    """Something skipped that the report should count."""

    message: str


@dataclass
class Rejected:
    """A record that cannot be loaded (pipelines.extract.rejected_rows): it goes to rejected_records instead;
    with `column`, one value stored as text in a row that loads."""

    table: str
    reason: str
    value: Any
    column: str | None = None
