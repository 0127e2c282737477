"""Calendar quarters and partial dates: the time grid of the model (MODEL.md §1)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import total_ordering

_QUARTER_RE = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")
_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@total_ordering
@dataclass(frozen=True)
class Quarter:
    """A calendar quarter such as 2012Q1; supports ordering, differences and offsets."""

    year: int
    q: int

    def __post_init__(self) -> None:
        if not 1 <= self.q <= 4:
            raise ValueError(f"quarter number must be 1-4, got {self.q}")

    @classmethod
    def parse(cls, text: object) -> Quarter:
        """Parse '2012Q1' (also '2012-Q1', '2012q1'); raise ValueError otherwise."""
        m = _QUARTER_RE.match(str(text))
        if not m:
            raise ValueError(f"not a quarter: {text!r}; write it like 2012Q1")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        """Return the quarter that contains ``day``."""
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def ordinal(self) -> int:
        """Quarters since year 0: differences of ordinals count quarters."""
        return self.year * 4 + self.q - 1

    @classmethod
    def from_ordinal(cls, n: int) -> Quarter:
        """Inverse of :attr:`ordinal`."""
        return cls(n // 4, n % 4 + 1)

    def __add__(self, n: int) -> Quarter:
        return Quarter.from_ordinal(self.ordinal + n)

    def __sub__(self, other: Quarter) -> int:
        return self.ordinal - other.ordinal

    def __lt__(self, other: Quarter) -> bool:
        return self.ordinal < other.ordinal

    def __str__(self) -> str:
        return f"{self.year}Q{self.q}"

    @property
    def first_day(self) -> dt.date:
        """The first day of the quarter."""
        return dt.date(self.year, 3 * self.q - 2, 1)

    @property
    def last_day(self) -> dt.date:
        """The last day of the quarter."""
        return (self + 1).first_day - dt.timedelta(days=1)


def quarter_range(start: Quarter, end: Quarter) -> list[Quarter]:
    """All quarters from ``start`` to ``end`` inclusive."""
    return [start + i for i in range(end - start + 1)]


@dataclass(frozen=True)
class PartialDate:
    """A date known to the day, the month or only the year (evidence is often dated loosely).

    A year-only date belongs to the year's last quarter, as yearly indicator values do
    (MODEL.md §3).
    """

    year: int
    month: int | None = None
    day: int | None = None

    @classmethod
    def parse(cls, value: object) -> PartialDate:
        """Parse YYYY-MM-DD, YYYY-MM or YYYY (a string, an int year or a date)."""
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return cls(value.year, value.month, value.day)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"not a date: {value!r}; write YYYY-MM-DD, YYYY-MM or YYYY")
        m = _DATE_RE.match(str(value).strip())
        if not m:
            raise ValueError(f"not a date: {value!r}; write YYYY-MM-DD, YYYY-MM or YYYY")
        year, month, day = (int(g) if g else None for g in m.groups())
        try:
            dt.date(year, month or 1, day or 1)
        except ValueError as exc:
            raise ValueError(f"not a date: {value!r} ({exc})") from None
        return cls(year, month, day)

    @property
    def quarter(self) -> Quarter:
        """The quarter the event belongs to (a bare year: its last quarter)."""
        if self.month is None:
            return Quarter(self.year, 4)
        return Quarter(self.year, (self.month - 1) // 3 + 1)

    @property
    def earliest(self) -> dt.date:
        """The first day the date can mean."""
        return dt.date(self.year, self.month or 1, self.day or 1)

    @property
    def latest(self) -> dt.date:
        """The last day the date can mean."""
        if self.day is not None:
            return self.earliest
        if self.month is None:
            return dt.date(self.year, 12, 31)
        nxt = dt.date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)

    def __str__(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
