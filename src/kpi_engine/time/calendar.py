"""Business calendars: which days are worked, and working-day arithmetic.

A ``BusinessCalendar`` is a country's public calendar plus a company's own extra days off and on:

- ``CN`` (the default): mainland China from the `chinese-calendar` package, which carries the State
  Council's yearly notices (public holidays *and* the adjusted working weekends, 调休). The years it
  covers are read from its installed data (2004–2026 for chinese-calendar 1.11).
- any other ISO 3166 code (``US``, ``DE``, ``HK``…): Monday–Friday less the public holidays of the
  `holidays` package (an optional extra, ``pip install kpi_engine[calendars]``); the years covered
  are the ones that package declares for the country.
- ``weekdays``: Monday–Friday with no public holidays (for tests and for companies that keep none).

A date in a year the data does not cover is a ``CalendarError``, never a guess. A company can
cover such a year itself by listing it in ``years`` with its own days off and on (for example once
the State Council publishes next year's notice but before the library ships it).

Working-day arithmetic follows DOMAIN §6: the starting day is day 0 and is not counted;
``add_working_days(d, 2)`` is the second working day after ``d``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Annotated, Any, Protocol

import attrs
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from kpi_engine.errors import Issue, KpiError, did_you_mean

DEFAULT_COUNTRY = "CN"
WEEKDAYS = "weekdays"
_SATURDAY = 5
MAX_SEARCH_DAYS = 3660  # a run of more than ten years without a working day is a bad calendar


class CalendarError(KpiError):
    """A business calendar is unknown, or asked about a day its data does not cover."""


class _PeriodLike(Protocol):
    @property
    def start(self) -> dt.date: ...

    def next_start(self) -> dt.date: ...


@attrs.frozen
class CountryData:
    """Public days off and adjusted working days of one country for the years its source covers."""

    code: str
    source: str
    first_year: int
    last_year: int
    days_off: Callable[[int], dict[dt.date, str]]  # year → public days off with their names
    days_on: Callable[[int], dict[dt.date, str]]  # year → weekend days that are worked (调休)

    def covers(self, year: int) -> bool:
        """Whether the source has data for ``year``."""
        return self.first_year <= year <= self.last_year


def _china() -> CountryData:
    import chinese_calendar  # noqa: PLC0415 - imported only when the CN calendar is used

    off: dict[dt.date, object] = dict(chinese_calendar.holidays)
    on: dict[dt.date, object] = dict(chinese_calendar.workdays)
    years = {d.year for d in off} | {d.year for d in on}

    def names(table: dict[dt.date, object], year: int) -> dict[dt.date, str]:
        out: dict[dt.date, str] = {}
        for d, h in table.items():
            if d.year == year:
                holiday = h if isinstance(h, chinese_calendar.Holiday) else _holiday(chinese_calendar.Holiday, h)
                chinese = getattr(holiday, "chinese", None)
                english = str(getattr(holiday, "value", h))
                out[d] = f"{chinese} {english}" if chinese else english
        return out

    return CountryData(
        "CN",
        f"chinese-calendar {chinese_calendar.__version__} (State Council notices)",
        min(years),
        max(years),
        lambda y: names(off, y),
        lambda y: names(on, y),
    )


def _holiday(kind: Any, value: object) -> object:
    try:
        return kind(value)
    except ValueError:
        return value


def _other(code: str) -> CountryData:
    try:
        import holidays  # noqa: PLC0415 - optional extra, heavy: imported only for non-CN calendars
    except ImportError:
        msg = f"calendar {code!r} needs the 'holidays' package: pip install 'kpi_engine[calendars]'"
        raise CalendarError(msg) from None
    supported = holidays.list_supported_countries()
    if code not in supported:
        hint = did_you_mean(code, supported)
        msg = f"unknown calendar {code!r}: use an ISO 3166 country code such as CN, US, DE, or 'weekdays'"
        raise CalendarError(msg + (f"; {hint}" if hint else ""))
    entity = getattr(holidays, code, None) or holidays.country_holidays(code).__class__

    @cache
    def off(year: int) -> dict[dt.date, str]:
        return {d: str(name) for d, name in holidays.country_holidays(code, years=year).items()}

    return CountryData(
        code,
        f"holidays {getattr(holidays, '__version__', '')}".strip(),
        int(getattr(entity, "start_year", 1950)),
        int(getattr(entity, "end_year", 2100)),
        off,
        lambda _year: {},
    )


@cache
def country_data(code: str) -> CountryData:
    """The public calendar of ``code`` (``CN``, another ISO code, or ``weekdays``).

    Raises:
        CalendarError: for an unknown code, or when the library for it is not installed.
    """
    normalized = code.strip()
    if normalized.lower() == WEEKDAYS:
        return CountryData(WEEKDAYS, "Monday–Friday", dt.MINYEAR, dt.MAXYEAR, lambda _y: {}, lambda _y: {})
    normalized = normalized.upper()
    if normalized == "CN":
        return _china()
    return _other(normalized)


class CalendarSpec(BaseModel):
    """A business calendar as written in a ruleset, policy, plan or company calendar file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str = Field(DEFAULT_COUNTRY, description="CN (mainland China, with 调休), another ISO code, or weekdays")
    days_off: list[dt.date] = Field(default_factory=list, description="company days off besides public holidays")
    days_on: list[dt.date] = Field(default_factory=list, description="company working days on weekends or holidays")
    years: list[int] = Field(
        default_factory=list,
        description="years the company vouches for itself where the public data stops: "
        "Monday–Friday plus its days_off/days_on",
    )
    names: dict[dt.date, str] = Field(
        default_factory=dict,
        description="what a company day is (春节 Spring Festival), shown by kpi calendar; "
        "written by kpi calendar import",
    )

    @field_validator("country")
    @classmethod
    def _known(cls, value: str) -> str:
        try:
            country_data(value)
        except CalendarError as exc:
            raise ValueError(str(exc)) from None
        return value


def _calendar_ref(value: object) -> object:
    return {"country": value} if isinstance(value, str) else value


CalendarRef = Annotated[
    CalendarSpec,
    BeforeValidator(_calendar_ref),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "description": "a country code: CN (default), US, DE…, or weekdays"},
                CalendarSpec.model_json_schema(),
            ]
        }
    ),
]


@attrs.frozen
class BusinessCalendar:
    """Working days of a country plus a company's own days off and on.

    Build it with ``business_calendar("CN")`` or ``BusinessCalendar.from_spec(spec)``.
    """

    country: str = DEFAULT_COUNTRY
    days_off: frozenset[dt.date] = frozenset()
    days_on: frozenset[dt.date] = frozenset()
    company_years: frozenset[int] = frozenset()
    names: tuple[tuple[dt.date, str], ...] = ()  # what company days are, sorted by date

    @classmethod
    def from_spec(cls, spec: CalendarSpec | str | None) -> BusinessCalendar:
        """Build from a ``CalendarSpec``, a country code, or ``None`` (the default, CN)."""
        if spec is None:
            return cls()
        if isinstance(spec, str):
            return cls(spec.strip())
        return cls(
            spec.country.strip(),
            frozenset(spec.days_off),
            frozenset(spec.days_on),
            frozenset(spec.years),
            tuple(sorted(spec.names.items())),
        )

    def extended(self, other: BusinessCalendar) -> BusinessCalendar:
        """This calendar with ``other``'s company days and years added (an imported notice, say).

        Where both name a date, ``other`` decides (a later notice corrects an earlier file).

        Raises:
            CalendarError: if the two build on different countries.
        """
        if self.data.code != other.data.code:
            msg = f"cannot add a {other.data.code} company calendar to the {self.data.code} calendar"
            raise CalendarError(msg)
        names = dict(self.names)
        names.update(other.names)
        return BusinessCalendar(
            self.country,
            frozenset((self.days_off - other.days_on) | other.days_off),
            frozenset((self.days_on - other.days_off) | other.days_on),
            self.company_years | other.company_years,
            tuple(sorted(names.items())),
        )

    @property
    def data(self) -> CountryData:
        """The public calendar this one builds on."""
        return country_data(self.country)

    @property
    def name(self) -> str:
        """A short label: ``CN`` or ``CN + company (3 days)``."""
        extra = len(self.days_off) + len(self.days_on)
        return f"{self.data.code} + company ({extra} days)" if extra else self.data.code

    def covers(self, year: int) -> bool:
        """Whether this calendar knows ``year`` (from the public data or the company's own schedule)."""
        return year in self.company_years or self.data.covers(year)

    @property
    def covered_until(self) -> dt.date:
        """The last day of the run of covered years that starts with the public data (or the company's)."""
        d = self.data
        if d.last_year >= dt.MAXYEAR:
            return dt.date.max
        last = d.last_year
        while last + 1 in self.company_years and last < dt.MAXYEAR:
            last += 1
        return dt.date(last, 12, 31)

    @property
    def coverage(self) -> str:
        """The years covered, as a reader wants them: ``2004–2026`` or ``2004–2026, 2028``."""
        d = self.data
        first, last = d.first_year, self.covered_until.year
        extra = sorted(y for y in self.company_years if not first <= y <= last)
        return f"{first}–{last}" + "".join(f", {y}" for y in extra)

    def _check(self, day: dt.date) -> None:
        if not self.covers(day.year):
            d = self.data
            msg = (
                f"the {d.code} calendar ({d.source}) covers {self.coverage}; "
                f"{day.isoformat()} is outside it. Import the State Council's notice for {day.year} "
                f"(kpi calendar import NOTICE --out cn_{day.year}.yaml, then --calendar cn_{day.year}.yaml) "
                "or add the year's schedule as company days (calendar: {years: [...], days_off: [...], "
                "days_on: [...]}), or update the library"
            )
            raise CalendarError(msg)
        watch = _WATCH.get()
        if watch is not None and day >= watch.since(self):
            watch.note(self, day)

    def _public(self, year: int) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
        if year in self.company_years and not self.data.covers(year):
            return {}, {}
        return _year_tables(self.country, year)

    def is_working_day(self, day: dt.date) -> bool:
        """Whether ``day`` is worked.

        Raises:
            CalendarError: if the calendar does not cover the day's year.
        """
        self._check(day)
        if day in self.days_on:
            return True
        if day in self.days_off:
            return False
        off, on = self._public(day.year)
        if day in on:
            return True
        return day.weekday() < _SATURDAY and day not in off

    def describe(self, day: dt.date) -> str:
        """Why ``day`` is or is not worked: a holiday's name, ``adjusted working day`` or ``weekend``."""
        self._check(day)
        if day in self.days_on or day in self.days_off:
            named = dict(self.names).get(day)
            if named:
                return f"adjusted working day ({named})" if day in self.days_on else named
            return "company working day" if day in self.days_on else "company day off"
        off, on = self._public(day.year)
        if day in on:
            return f"adjusted working day ({on[day]})" if on[day] else "adjusted working day"
        if day in off:
            return off[day]
        return "weekend" if day.weekday() >= _SATURDAY else ""

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``.

        Raises:
            CalendarError: if a needed year is not covered.
        """
        return self.add_working_days(day, 1)

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day`` (``day`` itself is day 0, not counted).

        ``n = 0`` returns ``day``; a negative ``n`` counts back (``-1`` is the last working day before).

        Raises:
            CalendarError: if a needed year is not covered, or no working day is found within ten years.
        """
        step = dt.timedelta(days=1 if n >= 0 else -1)
        left, current, searched = abs(n), day, 0
        while left > 0:
            current += step
            searched += 1
            if self.is_working_day(current):
                left -= 1
                searched = 0
            elif searched > MAX_SEARCH_DAYS:
                msg = f"calendar {self.name} has no working day within ten years of {day.isoformat()}"
                raise CalendarError(msg)
        return current

    def working_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """The working days from ``start`` to ``end``, both included (empty if ``end < start``).

        A range is not watched by ``watch_horizon``: plans and forecasts count a period's working days
        to its last day by design; the days asked about one at a time (due dates, windows) are.

        Raises:
            CalendarError: if a needed year is not covered.
        """
        with unwatched():
            return [d for d in _days(start, end) if self.is_working_day(d)]

    def count_working_days(self, start: dt.date, end: dt.date) -> int:
        """How many working days lie from ``start`` to ``end``, both included."""
        return len(self.working_days(start, end))

    def working_days_in(self, period: _PeriodLike) -> list[dt.date]:
        """The working days of a ``Period`` (a month, quarter, ISO week…)."""
        return self.working_days(period.start, period.next_start() - dt.timedelta(days=1))

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after ``start`` up to and including ``end`` (day 0 not counted; negative if before)."""
        if end >= start:
            return self.count_working_days(start + dt.timedelta(days=1), end)
        return -self.count_working_days(end + dt.timedelta(days=1), start)


HORIZON_DAYS = 60  # a run that reaches this close to the end of the covered years is warned


class _Watch:
    """The days a run asked each calendar about within ``HORIZON_DAYS`` of its covered end."""

    def __init__(self, days: int) -> None:
        self.days = days
        self.latest: dict[tuple[str, dt.date], dt.date] = {}
        # id(calendar) → (the calendar, kept alive while watched; the first day that is near its end):
        # hashing the calendar's day sets on every question would cost more than the check itself.
        self.limits: dict[int, tuple[BusinessCalendar, dt.date]] = {}

    def since(self, calendar: BusinessCalendar) -> dt.date:
        known = self.limits.get(id(calendar))
        if known is None:
            end = calendar.covered_until
            limit = dt.date.max if end == dt.date.max else end - dt.timedelta(days=self.days)
            known = self.limits[id(calendar)] = (calendar, limit)
        return known[1]

    def note(self, calendar: BusinessCalendar, day: dt.date) -> None:
        key = (calendar.data.code, calendar.covered_until)
        if day > self.latest.get(key, dt.date.min):
            self.latest[key] = day

    def issues(self) -> list[Issue]:
        out = []
        for (code, end), day in sorted(self.latest.items()):
            message = (
                f"the {code} calendar covers days up to {end.isoformat()}; this run used {day.isoformat()}, "
                f"{(end - day).days} day(s) before that end. From {end.year + 1} on, working days and due dates "
                f"cannot be computed until the State Council's {end.year + 1} notice is imported"
            )
            out.append(
                Issue(
                    "calendar_horizon",
                    message,
                    "",
                    None,
                    "warning",
                    f"kpi calendar import NOTICE --out cn_{end.year + 1}.yaml, then --calendar cn_{end.year + 1}.yaml",
                )
            )
        return out


_WATCH: ContextVar[_Watch | None] = ContextVar("kpi_calendar_watch", default=None)


@contextmanager
def watch_horizon(days: int = HORIZON_DAYS) -> Iterator[list[Issue]]:
    """Collect a warning for each calendar that a block of work asks about near its covered end.

    ``with watch_horizon() as warnings: …`` — after the block, ``warnings`` holds one
    ``calendar_horizon`` warning per calendar whose last covered day was within ``days`` days of a
    day asked about one at a time (whether worked, a due date, a window's end); the working days of a
    whole range (a plan's months, a forecast to the year's end) are not watched. Nested blocks report to the
    outermost one. Nothing is printed; the CLI and ``evaluate`` pass the warnings on.
    """
    outer = _WATCH.get()
    if outer is not None:
        found: list[Issue] = []
        yield found
        return
    watch = _Watch(days)
    token = _WATCH.set(watch)
    found = []
    try:
        yield found
    finally:
        _WATCH.reset(token)
        found.extend(watch.issues())


@contextmanager
def unwatched() -> Iterator[None]:
    """Days asked about inside the block are not watched (a plan covers its own year to the last day by design)."""
    token = _WATCH.set(None)
    try:
        yield
    finally:
        _WATCH.reset(token)


@cache
def _year_tables(country: str, year: int) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
    data = country_data(country)
    return data.days_off(year), data.days_on(year)


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    current = start
    while current <= end:
        yield current
        current += dt.timedelta(days=1)


def business_calendar(
    country: str = DEFAULT_COUNTRY, *, days_off: Iterable[dt.date] = (), days_on: Iterable[dt.date] = ()
) -> BusinessCalendar:
    """A business calendar for ``country`` with a company's extra days off and on.

    Raises:
        CalendarError: for an unknown country code or a missing optional library.
    """
    calendar = BusinessCalendar(country.strip(), frozenset(days_off), frozenset(days_on))
    calendar.data  # noqa: B018 - fail now on an unknown code, not at first use
    return calendar
