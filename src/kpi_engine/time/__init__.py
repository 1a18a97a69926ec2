"""Time: periods, explicit time zones and instants, business calendars; plans, alerts and event windows.

No clock is ever read. Plans (``kpi_engine.time.plan``), alerts (``kpi_engine.time.alerts``) and
event windows (``kpi_engine.time.windows``) are imported from their modules.
"""

from kpi_engine.time.calendar import (
    BusinessCalendar,
    CalendarError,
    CalendarSpec,
    business_calendar,
    country_data,
)

__all__ = ["BusinessCalendar", "CalendarError", "CalendarSpec", "business_calendar", "country_data"]
