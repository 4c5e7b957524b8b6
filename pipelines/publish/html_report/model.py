"""What the report page shows: tiles, charts and tables, and the two 30-day windows tiles compare."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

WINDOW_DAYS = 30

Kind = Literal["count", "hours", "ratio"]


@dataclass(frozen=True)
class Window:
    """A run of whole UTC days, first and last included."""

    first: dt.date
    last: dt.date

    @property
    def start(self) -> str:
        return f"timestamp '{self.first.isoformat()} 00:00:00'"

    @property
    def end(self) -> str:
        """The exclusive upper bound: midnight after the last day."""
        return f"timestamp '{(self.last + dt.timedelta(days=1)).isoformat()} 00:00:00'"

    def label(self) -> str:
        return f"{self.first.isoformat()} to {self.last.isoformat()}"


def windows(as_of: dt.date) -> tuple[Window, Window]:
    """The 30 days ending on the as-of date, and the 30 days before them."""
    current = Window(as_of - dt.timedelta(days=WINDOW_DAYS - 1), as_of)
    previous = Window(current.first - dt.timedelta(days=WINDOW_DAYS), current.first - dt.timedelta(days=1))
    return current, previous


@dataclass(frozen=True)
class Tile:
    """A headline number, the same number for the previous 30 days, and where it comes from."""

    key: str
    label: str
    kind: Kind
    better: Literal["lower", "higher"]
    marts: tuple[str, ...]
    definition: str
    value: float | None = None
    previous: float | None = None
    detail: str = ""
    missing: tuple[str, ...] = ()
    measures: str = ""  # shown on the tile: what is counted, so no number is read for another


@dataclass(frozen=True)
class Section:
    """A titled part of the page below the tiles, and the marts it is read from."""

    key: str
    title: str
    caption: str
    marts: tuple[str, ...]


@dataclass(frozen=True)
class Table(Section):
    """Rows a lead reads one by one (the overdue findings), with how many there are in all."""

    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chart(Section):
    """One chart's rows (named datasets of plain values), its one-line caption and its marts."""

    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    note: str = ""
    missing: tuple[str, ...] = ()
    unavailable: str = ""  # why this source has nothing to chart here (shown instead of the chart)

    @property
    def rows(self) -> int:
        return sum(len(rows) for rows in self.data.values())


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, for one as-of date."""

    as_of: dt.date
    built_at: dt.datetime | None
    marts_schema: str
    tiles: list[Tile]
    charts: list[Chart]
    missing: tuple[str, ...]
    organisation: str | None = None
    tables: list[Table] = field(default_factory=list)
