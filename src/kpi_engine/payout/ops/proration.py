"""Proration: the working days a person holds an assignment in a period, of the period's working days.

The row kernel counts one stretch on the business calendar; the column kernel counts every
person's stretch at once from a running count of working days over the calendar's days (so a
count is two lookups and a subtraction), the same numbers by construction.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from kpi_engine.payout.ops import LazyModule
from kpi_engine.time.calendar import BusinessCalendar

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")

Arr = Any


# --- row kernel ---------------------------------------------------------------------------------


def working_days(calendar: BusinessCalendar, first: dt.date, last: dt.date) -> int:
    """Working days from ``first`` through ``last`` (0 when ``last`` is before ``first``)."""
    return calendar.count_working_days(first, last) if first <= last else 0


# --- column kernel ------------------------------------------------------------------------------


class WorkingDays:
    """A running count of working days from ``first`` through ``last``, for counts over many stretches."""

    def __init__(self, calendar: BusinessCalendar, first: dt.date, last: dt.date) -> None:
        self.first = first.toordinal()
        days = (last - first).days + 1
        flags = np.fromiter(
            (calendar.is_working_day(first + dt.timedelta(days=i)) for i in range(days)), dtype=np.int64, count=days
        )
        self.running = np.concatenate(([0], np.cumsum(flags)))  # running[i] = working days before day i

    def count(self, first: Arr, last: Arr) -> Arr:
        """Working days from ``first`` through ``last`` (ordinal day numbers, clipped to the span); 0 when empty."""
        lo = np.clip(first - self.first, 0, self.running.size - 1)
        hi = np.clip(last - self.first + 1, 0, self.running.size - 1)
        return np.where(hi > lo, self.running[hi] - self.running[lo], 0)
