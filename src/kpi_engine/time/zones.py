"""Time zones and timestamps: explicit zones, ISO-8601 parsing, local dates. No clock is read."""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@cache
def zone(name: str) -> ZoneInfo:
    """Return the IANA zone ``name``.

    Raises:
        ValueError: for an unknown zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {name!r} (use an IANA name such as 'Asia/Shanghai')"
        raise ValueError(msg) from None


def parse_instant(text: str, tz: dt.tzinfo) -> dt.datetime:
    """Parse ISO-8601 ``text``; a naive timestamp (or a bare date) is taken in ``tz``.

    Raises:
        ValueError: if the text is not an ISO-8601 date or timestamp.
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
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def local_date(instant: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The calendar date of ``instant`` in ``tz``."""
    return instant.astimezone(tz).date()
