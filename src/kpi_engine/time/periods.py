"""Periods of every kind, each identified by its kind and first day, and the spans that end with one.

Day ``2026-03-05``, ISO week ``2026-W05``, month ``2026-03``, quarter ``2026-Q1``, half-year
``2026-H1`` and year ``2026``. ``day_named`` reads the day a spreadsheet's period cell names
instead: a date (``2026-03-31``, ``2026/3/31``, ``2026年3月``), a date-time (``2026-03-01T00:00:00``,
the text of a datetime cell) or an Excel date serial (``46082`` is 2026-03-01); the screening of
records decides which period such a cell stands for.

**Spans.** Two spans end with a period: *to date* (from the start of the year, half or quarter
holding it) and *rolling* (the N months ending with it). An aggregate's ``over: year_to_date`` /
``rolling_year`` reads the periods of such a span (``spanned``), and ``--period 2026-YTD-06`` /
``2026-06-R12`` appraises one (``time.accumulate.Span``); both take their first day from
``to_date_start`` and ``rolling_start`` here, so the two notations mean the same months. A period
belongs to a span when its *anchor* lies in it: its first day, or an ISO week's Thursday (the day
that gives a week its year, so 2026-W01, 29 Dec 2025 – 4 Jan 2026, is in 2026's year to date).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
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


def add_months(day: dt.date, n: int) -> dt.date:
    """The same day ``n`` calendar months later (earlier if negative); the month's last day if it is shorter.

    31 Jan + 1 month is 28 (or 29) Feb; 30 Nov + 3 months is 28 Feb.

    Raises:
        ValueError: if the result is outside the years ``datetime`` can hold.
    """
    year, month = divmod(day.year * 12 + day.month - 1 + n, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        msg = f"{day.isoformat()} moved by {n} month(s) is outside the years a date can hold"
        raise ValueError(msg)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def anchor(period: Period) -> dt.date:
    """The day that places ``period`` in a span: an ISO week's Thursday (its year's day), else its first day."""
    return period.start + dt.timedelta(days=3) if period.kind == "week" else period.start


def to_date_start(day: dt.date, kind: PeriodKind) -> dt.date:
    """The first day of a to-date span through ``day``: the start of the ``kind`` period holding it."""
    return Period.containing(day, kind).start


def rolling_start(end: dt.date, months: int) -> dt.date:
    """The first day of a rolling span of ``months`` months that ends the day before ``end``."""
    return add_months(end, -months)


def spanned(period: Period, over: str) -> list[Period]:
    """The periods of ``period``'s kind an aggregate ``over`` reads, oldest first, ``period`` last.

    ``year_to_date``: those anchored from 1 January of ``period``'s year (an ISO week's year is its
    Thursday's); ``rolling_year``: those anchored in the twelve months ending where ``period`` ends
    (twelve months, four quarters, 52 ISO weeks, 365 or 366 days); ``period``: ``period`` alone.
    """
    if over == "period":
        return [period]
    to_date = over == "year_to_date"
    first = to_date_start(anchor(period), "year") if to_date else rolling_start(period.next_start(), 12)
    out, p = [], period
    while anchor(p) >= first:
        out.append(p)
        p = p.previous()
    return out[::-1]


def uncovered(first: dt.date, last: dt.date, spans: Iterable[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    """The stretches of ``first``–``last`` (both included) that no ``(start, end)`` span covers, in order."""
    out: list[tuple[dt.date, dt.date]] = []
    cursor = first
    for start, end in sorted(spans):
        if start > cursor:
            out.append((cursor, min(start - dt.timedelta(days=1), last)))
        cursor = max(cursor, end + dt.timedelta(days=1))
        if cursor > last:
            return [(a, b) for a, b in out if a <= b]
    if cursor <= last:
        out.append((cursor, last))
    return [(a, b) for a, b in out if a <= b]


def stretch_text(start: dt.date, end: dt.date) -> str:
    """``2026-06`` for a whole month, ``2026-04…2026-06`` for whole months, else the days."""
    if start.day == 1 and (end + dt.timedelta(days=1)).day == 1:
        a, b = f"{start.year}-{start.month:02d}", f"{end.year}-{end.month:02d}"
        return a if a == b else f"{a}…{b}"
    return start.isoformat() if start == end else f"{start.isoformat()}…{end.isoformat()}"
