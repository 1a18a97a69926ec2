"""Time: periods, explicit time zones and instants, business calendars; plans, alerts and event windows.

No clock is ever read. Target plans (``kpi_engine.time.targets``; "plan" is the user's word, in
``kpi plan`` and plan files, while ``kpi_engine.plan`` is the compiled evaluation plan), alerts
(``kpi_engine.time.alerts``) and event windows (``kpi_engine.plan.ops.windows``) are imported from
their modules.
"""

from kpi_engine.time.calendar import (
    BusinessCalendar,
    CalendarError,
    CalendarSpec,
    business_calendar,
    country_data,
)

__all__ = ["BusinessCalendar", "CalendarError", "CalendarSpec", "business_calendar", "country_data"]
