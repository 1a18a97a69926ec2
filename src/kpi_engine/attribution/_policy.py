"""The attribution policy: YAML keys, defaults, validation with located errors, and day arithmetic."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kpi_engine.errors import Issue, RulesetError
from kpi_engine.language._validation import validate_model
from kpi_engine.language._yaml import load_yaml
from kpi_engine.time.calendar import BusinessCalendar, CalendarRef
from kpi_engine.time.zones import zone


class RotationSpec(BaseModel):
    """How the sales floor's reception rotation is judged (R1, R8, R9, R11, R13, R14): ``kpi rotation``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reception_minutes: int = Field(
        60,
        ge=1,
        le=1440,
        description="how long a reception without a reception_end event keeps the rep busy (R13, R14)",
    )


class PolicySpec(BaseModel):
    """A deal-credit policy (DOMAIN §6). Every window counts days after the trigger day (day 0)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str = Field(description="policy id")
    version: str = "1"
    title: str | None = None
    timezone: str = Field("Asia/Shanghai", description="zone in which event dates are taken")
    first_follow_up_days: int = Field(3, ge=0, le=365, description="R3: first follow-up due within N days")
    protection_days: int = Field(7, ge=0, le=3650, description="R4: protection lasts N days after the reception day")
    extend_on_contact: bool = Field(
        strict=True,
        default=True,
        description="each follow-up, reception or deal by the owner restarts the protection period",
    )
    claim_days: int = Field(3, ge=0, le=365, description="R5: the owner must claim another rep's deal within N days")
    day_basis: Literal["calendar", "business"] = Field(
        "calendar", description="count windows in calendar days, or in business days (Mon–Fri less holidays)"
    )
    holidays: list[dt.date] = Field(default_factory=list, description="business basis: extra non-working days")
    workdays: list[dt.date] = Field(default_factory=list, description="business basis: weekend days that are worked")
    house: str = Field("house", description="the account a manager's override may credit instead of a rep (R15)")
    calendar: CalendarRef | None = Field(
        None,
        description="business basis: a named business calendar (CN, with adjusted working weekends; another ISO code) "
        "instead of Mon–Fri; holidays and workdays still add company days off and on",
    )
    rotation: RotationSpec = Field(
        default_factory=RotationSpec, description="the reception rotation on the sales floor (kpi rotation)"
    )

    @model_validator(mode="after")
    def _calendar_needs_business_basis(self) -> PolicySpec:
        if self.calendar is not None and self.day_basis != "business":
            msg = "a calendar is only read with day_basis: business (add it, or drop calendar)"
            raise ValueError(msg)
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @cached_property
    def tz(self) -> dt.tzinfo:
        """The policy's time zone."""
        return zone(self.timezone)

    @cached_property
    def _holidays(self) -> frozenset[dt.date]:
        return frozenset(self.holidays)

    @cached_property
    def _workdays(self) -> frozenset[dt.date]:
        return frozenset(self.workdays)

    @cached_property
    def business_calendar(self) -> BusinessCalendar | None:
        """The named calendar, with the policy's holidays and workdays as company days; None without one."""
        if self.calendar is None:
            return None
        base = BusinessCalendar.from_spec(self.calendar)
        return BusinessCalendar(
            base.country, base.days_off | self._holidays, base.days_on | self._workdays, base.company_years
        )

    def is_business_day(self, day: dt.date) -> bool:
        """Mon–Fri unless a holiday, or a listed working weekend day; the named calendar's days if one is set.

        Raises:
            CalendarError: if the named calendar does not cover the day's year.
        """
        if self.business_calendar is not None:
            return self.business_calendar.is_working_day(day)
        if day in self._workdays:
            return True
        return day.weekday() < 5 and day not in self._holidays  # noqa: PLR2004 - Saturday is 5

    def deadline(self, day: dt.date, days: int) -> dt.date:
        """The last date of a window of ``days`` counted after ``day`` (day 0 is not counted)."""
        if self.day_basis == "calendar":
            return day + dt.timedelta(days=days)
        current, left = day, days
        while left > 0:
            current += dt.timedelta(days=1)
            if self.is_business_day(current):
                left -= 1
        return current


def _policy_keys() -> frozenset[str]:
    return frozenset(PolicySpec.model_fields)


def check_policy_text(text: str, file: str = "<string>") -> tuple[PolicySpec | None, list[Issue]]:
    """Parse and validate policy YAML text; return the policy (if valid) and every issue."""
    data, smap, issues = load_yaml(text, file)
    if data is None and not issues:
        issues = [Issue("empty", "the policy is empty", "", smap.locate(()))]
    spec = None
    if data is not None:
        spec, schema_issues = validate_model(PolicySpec, data, smap, _policy_keys())
        issues += schema_issues
    return spec, issues


def parse_policy(text: str, file: str = "<string>") -> PolicySpec:
    """Parse policy YAML text.

    Raises:
        RulesetError: listing every problem with ``file:line:col``.
    """
    spec, issues = check_policy_text(text, file)
    if spec is None or any(i.severity == "error" for i in issues):
        raise RulesetError.from_issues(issues, file)
    return spec


def policy_schema() -> dict[str, object]:
    """The JSON Schema of a policy file."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **PolicySpec.model_json_schema()}
