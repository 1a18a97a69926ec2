"""Periods of every kind, each identified by its kind and first day.

Day ``2026-03-05``, ISO week ``2026-W05``, month ``2026-03``, quarter ``2026-Q1``, half-year
``2026-H1`` and year ``2026``. ``day_named`` reads the day a spreadsheet's period cell names
instead: a date (``2026-03-31``, ``2026/3/31``, ``2026年3月``), a date-time (``2026-03-01T00:00:00``,
the text of a datetime cell) or an Excel date serial (``46082`` is 2026-03-01); the screening of
records decides which period such a cell stands for.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

from kpi_engine.language.spec import PeriodKind
from kpi_engine.time.zones import MAX_YEAR, MIN_YEAR

_PATTERNS: dict[PeriodKind, re.Pattern[str]] = {
    "day": re.compile(r"(\d{4})-(\d{2})-(\d{2})"),
    "week": re.compile(r"(\d{4})-W(\d{2})"),
    "month": re.compile(r"(\d{4})-(\d{2})"),
    "quarter": re.compile(r"(\d{4})-Q([1-4])"),
    "half": re.compile(r"(\d{4})-H([12])"),
    "year": re.compile(r"(\d{4})"),
}
# A day the period holds, as spreadsheets and frames write it: ISO or slashed dates, date-times
# (``T`` or a space, seconds, fractions, a zone: the date as written is the day), and 年月(日).
_DAY = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|(\d{4})年(\d{1,2})月(?:(\d{1,2})日)?"
)
# Excel's serial day numbers (1900 date system): five digits are 1927-05-18 to 2173-10-14, so a
# four-digit year is never read as one. A fraction is a time of day.
_SERIAL = re.compile(r"(\d{5})(?:\.\d*)?")
_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 is 1900-01-01 counting Excel's phantom 1900-02-29
_MONTHS_PER: dict[PeriodKind, int] = {"month": 1, "quarter": 3, "half": 6, "year": 12}
EXAMPLES: dict[PeriodKind, str] = {
    "day": "2026-03-05",
    "week": "2026-W05",
    "month": "2026-03",
    "quarter": "2026-Q1",
    "half": "2026-H1",
    "year": "2026",
}


class Period(NamedTuple):
    """One period of a kind, identified by its first day; periods of one kind order by time.

    A named tuple: periods key every record and memo table, and tuples hash in C.
    """

    kind: PeriodKind
    start: dt.date

    @classmethod
    def parse(cls, text: str, kind: PeriodKind) -> Period:
        """Parse period text of the given kind.

        Raises:
            ValueError: if the text is not a period of that kind.
        """
        m = _PATTERNS[kind].fullmatch(text.strip())
        if not m:
            msg = f"{text!r} is not a {kind} period (like {EXAMPLES[kind]})"
            raise ValueError(msg)
        year = int(m.group(1))
        if not MIN_YEAR <= year <= MAX_YEAR:
            msg = f"period {text!r}: year {year} is out of range ({MIN_YEAR}–{MAX_YEAR})"
            raise ValueError(msg)
        try:
            if kind == "day":
                start = dt.date(year, int(m.group(2)), int(m.group(3)))
            elif kind == "week":
                start = dt.date.fromisocalendar(year, int(m.group(2)), 1)
            elif kind == "month":
                start = dt.date(year, int(m.group(2)), 1)
            elif kind == "year":
                start = dt.date(year, 1, 1)
            else:
                start = dt.date(year, (int(m.group(2)) - 1) * _MONTHS_PER[kind] + 1, 1)
        except ValueError as exc:
            msg = f"{text!r} is not a valid {kind} period: {exc}"
            raise ValueError(msg) from None
        return cls(kind, start)

    @classmethod
    def containing(cls, day: dt.date, kind: PeriodKind) -> Period:
        """Return the period of ``kind`` that contains ``day``."""
        if kind == "day":
            return cls(kind, day)
        if kind == "week":
            return cls(kind, day - dt.timedelta(days=day.weekday()))
        months = _MONTHS_PER[kind]
        return cls(kind, dt.date(day.year, (day.month - 1) // months * months + 1, 1))

    def next_start(self) -> dt.date:
        """The first day of the next period."""
        if self.kind == "day":
            return self.start + dt.timedelta(days=1)
        if self.kind == "week":
            return self.start + dt.timedelta(days=7)
        index = self.start.year * 12 + self.start.month - 1 + _MONTHS_PER[self.kind]
        return dt.date(index // 12, index % 12 + 1, 1)

    def previous(self) -> Period:
        """The period just before this one."""
        if self.kind == "day":
            return Period(self.kind, self.start - dt.timedelta(days=1))
        if self.kind == "week":
            return Period(self.kind, self.start - dt.timedelta(days=7))
        index = self.start.year * 12 + self.start.month - 1 - _MONTHS_PER[self.kind]
        return Period(self.kind, dt.date(index // 12, index % 12 + 1, 1))

    def __str__(self) -> str:
        s = self.start
        if self.kind == "day":
            return s.isoformat()
        if self.kind == "week":
            year, week, _ = s.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{s.year}-{s.month:02d}"
        if self.kind == "quarter":
            return f"{s.year}-Q{(s.month - 1) // 3 + 1}"
        if self.kind == "half":
            return f"{s.year}-H{(s.month - 1) // 6 + 1}"
        return str(s.year)


def period_kind_of(text: str) -> PeriodKind | None:
    """The kind of a period written as text (``2026-01`` is a month, ``2026-W05`` a week), or None."""
    for kind in _PATTERNS:
        try:
            Period.parse(text, kind)
        except ValueError:
            continue
        return kind
    return None


def day_named(text: str) -> tuple[PeriodKind, dt.date] | None:
    """What a spreadsheet's period cell names: a day, or a month (``2026年3月``); ``None`` if neither.

    A date (``2026-03-15``, ``2026/3/15``, ``2026年3月15日``), a date-time (the text of a datetime
    cell: ``2026-03-01T00:00:00``, ``2026-03-01 00:00:00.000000``; the date as written is the day)
    or an Excel serial (five digits, 1900 date system: ``46082`` is 2026-03-01) names a day;
    ``2026年3月`` names a month (its first day is returned).

    Raises:
        ValueError: for a date that does not exist (``2026-02-30``) or a year out of range.
    """
    text = text.strip()
    found = _named(text)
    if found is not None and not MIN_YEAR <= found[1].year <= MAX_YEAR:
        msg = f"period {text!r}: year {found[1].year} is out of range ({MIN_YEAR}–{MAX_YEAR})"
        raise ValueError(msg)
    return found


def _named(text: str) -> tuple[PeriodKind, dt.date] | None:
    m = _DAY.fullmatch(text)
    if m:
        year, month, day = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
        try:
            return ("day" if day else "month"), dt.date(int(year), int(month), int(day or 1))
        except ValueError as exc:
            msg = f"{text!r} is not a valid date: {exc}"
            raise ValueError(msg) from None
    m = _SERIAL.fullmatch(text)
    if m:
        return "day", _EXCEL_EPOCH + dt.timedelta(days=int(m.group(1)))
    return None
