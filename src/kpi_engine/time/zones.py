"""Time zones and timestamps: explicit zones, ISO-8601 parsing, local dates. No clock is read.

Local times that a zone skips or repeats (PEP 495) resolve by one rule everywhere:

- a timestamp with an offset (``…+08:00``, ``…Z``) is that instant, whatever the zone says;
- a *nonexistent* local time (in a spring-forward gap, e.g. 02:30 on the day New York moves from
  02:00 to 03:00) resolves to the instant of the transition (03:00 local), so that resolved
  instants keep the order of the wall-clock readings: a 02:30 entry is never after a 03:10 one
  (``zoneinfo`` alone, with ``fold=0``, would put it at 03:30). Entries inside the same gap tie
  and are ordered by their ids;
- an *ambiguous* local time (in a fall-back overlap, 01:30 happening twice) resolves to its first
  occurrence (``fold=0``); write an offset to mean the second one.

Instants must lie in years ``MIN_YEAR``–``MAX_YEAR`` so that offsets, windows and periods never
reach the edges of Python's calendar (year 1 and 9999).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MIN_YEAR = 1000
MAX_YEAR = 8999
MAX_ZONE_NAME = 64  # the longest IANA name is about 30 characters
_UTC = dt.UTC
_STEP = dt.timedelta(microseconds=1)


@cache
def zone(name: str) -> ZoneInfo:
    """Return the IANA zone ``name``.

    Raises:
        ValueError: for an unknown zone.
    """
    shown = name if len(name) <= MAX_ZONE_NAME else f"{name[:20]}… ({len(name)} characters)"
    try:
        if len(name) > MAX_ZONE_NAME:
            raise ValueError(name)  # noqa: TRY301 - one message for every bad name
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        msg = f"unknown time zone {shown!r} (use an IANA name such as 'Asia/Shanghai')"
        raise ValueError(msg) from None


def check_year(value: dt.date) -> None:
    """Refuse dates outside ``MIN_YEAR``–``MAX_YEAR``.

    Raises:
        ValueError: naming the range.
    """
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        msg = f"year {value.year} is out of range ({MIN_YEAR}–{MAX_YEAR})"
        raise ValueError(msg)


def to_utc(local: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """Resolve a naive local time in ``tz`` to a naive UTC instant by the module's rule.

    Raises:
        ValueError: for a year outside ``MIN_YEAR``–``MAX_YEAR``.
    """
    check_year(local)
    first = local.replace(tzinfo=tz, fold=0)
    instant = first.astimezone(_UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == local:
        return instant.replace(tzinfo=None)
    # In a gap: fold=0 lands after it (offset before the change), fold=1 before it (offset
    # after). The transition lies between the two; find its first microsecond by bisection.
    lo = local.replace(tzinfo=tz, fold=1).astimezone(_UTC)  # before the transition
    hi = instant  # at or after it
    base = lo.astimezone(tz).utcoffset()
    while hi - lo > _STEP:
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == base:
            lo = mid
        else:
            hi = mid
    return hi.replace(tzinfo=None)


def parse_instant(text: str, tz: dt.tzinfo) -> dt.datetime:
    """Parse ISO-8601 ``text``; a naive timestamp (or a bare date) is taken in ``tz``.

    Returns:
        An aware datetime: the given offset, or a naive time resolved in ``tz`` (see the module).

    Raises:
        ValueError: if the text is not an ISO-8601 date or timestamp, or its year is out of range.
    """
    s = text.strip()
    if not s:
        msg = "empty timestamp"
        raise ValueError(msg)
    try:
        value = dt.datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        msg = f"{text!r} is not an ISO-8601 timestamp"
        raise ValueError(msg) from None
    check_year(value)
    if value.tzinfo is None:
        return to_utc(value, tz).replace(tzinfo=_UTC).astimezone(tz)
    return value


def local_date(instant: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The calendar date of ``instant`` in ``tz``."""
    return instant.astimezone(tz).date()
