"""Pydantic models mirroring the ruleset YAML: shape and types only, no behaviour.

Every model forbids unknown keys. Numbers accept ``90%`` (exactly 0.9), integers and decimal
text; binary floats are refused. ``*Spec`` classes are YAML-shaped input; runtime objects are
built from them in ``build``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

from kpi_engine._numbers import NumberFormatError, to_decimal
from kpi_engine.time.calendar import CalendarRef, CalendarSpec


def _number(value: object) -> Decimal:
    try:
        return to_decimal(value)
    except NumberFormatError as exc:
        raise ValueError(str(exc)) from None


def _number_or_pair(value: object) -> tuple[Decimal, ...]:
    if isinstance(value, list | tuple):
        return tuple(_number(v) for v in value)
    return (_number(value),)


def _text(value: object) -> object:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return value


def _formula_shorthand(value: object) -> object:
    return {"formula": value} if isinstance(value, str) else value


_NUMBER_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number"},
        {"type": "string", "pattern": r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*%?\s*$"},
    ],
    "description": "an exact number: 12, 0.9, '1e3' or a percent such as 90% (exactly 0.9)",
}
Number = Annotated[Decimal, BeforeValidator(_number), WithJsonSchema(_NUMBER_SCHEMA)]
NumberOrPair = Annotated[
    tuple[Decimal, ...],
    BeforeValidator(_number_or_pair),
    WithJsonSchema(
        {"anyOf": [_NUMBER_SCHEMA, {"type": "array", "items": _NUMBER_SCHEMA, "minItems": 2, "maxItems": 2}]}
    ),
]
Text = Annotated[str, BeforeValidator(_text)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
InputType = Literal["count", "money", "ratio", "score", "number", "date", "text", "bool"]
Level = Literal["rep", "team", "department", "company"]
PeriodKind = Literal["day", "week", "month", "quarter", "half", "year"]
RoundingMode = Literal["half_up", "half_even", "half_down", "up", "down", "ceiling", "floor"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AggregateSpec(_Spec):
    """An aggregation over event records of the subject in the period."""

    fn: Literal["count", "sum", "mean", "min", "max", "count_distinct"]
    field: Identifier | None = Field(None, description="event field to aggregate (not for count)")
    where: str | None = Field(None, description="filter over event fields, e.g. type == 'visit'")
    over: Literal["period", "year_to_date", "rolling_year"] = Field(
        "period",
        description="which events: the appraised period's; year_to_date: from 1 January to the period's end; "
        "rolling_year: the twelve months ending with the period (a yearly item on a quarterly scorecard)",
    )


CREDIT_FIELDS = ("credited_amount", "credited_deals", "lead_registrations", "timely_follow_ups")


class SourceSpec(_Spec):
    """Where an input comes from when a system records it, instead of being typed into the records."""

    events: AggregateSpec | None = Field(
        None,
        description="computed from each rep's events of the period (an aggregate), when the event log holds any "
        "event its where picks; a value typed for a rep who has such events is a conflict",
    )
    per: Literal["day", "week"] | None = Field(
        None, description="events: divided by the period's days, or by its weeks (days ÷ 7): orders per week"
    )
    deduct_from: Number | None = Field(
        None,
        description="events: this number less the aggregate, never below 0 (conduct: 100 less the deduction points)",
    )
    credits: Literal["credited_amount", "credited_deals", "lead_registrations", "timely_follow_ups"] | None = Field(
        None, description="filled from the deal credits when kpi evaluate runs with --policy and --lead-events"
    )

    @model_validator(mode="after")
    def _one_source(self) -> SourceSpec:
        if (self.events is None) == (self.credits is None):
            msg = "a source needs exactly one of events, credits"
            raise ValueError(msg)
        if self.events is None and (self.per is not None or self.deduct_from is not None):
            msg = "per and deduct_from go with events"
            raise ValueError(msg)
        return self


class InputSpec(_Spec):
    """A record field the ruleset reads, with its type and bounds (checked at the door)."""

    type: InputType = Field("number", description="count (whole, ≥ 0), money, ratio, score, number, date, text or bool")
    title: str | None = None
    min: Number | None = Field(None, description="smallest allowed value (inclusive)")
    max: Number | None = Field(None, description="largest allowed value (inclusive)")
    required: bool = Field(
        strict=True,
        default=True,
        description="an appraised subject with no value (own or rolled up) is an error; if false the value is N/A",
    )
    rollup: Literal["sum", "mean", "min", "max", "last", "none"] | None = Field(
        None,
        description="how members' values combine for a team or higher subject, and finer records (months) "
        "for a longer period (a half); default sum for count and money, none (must be given directly) "
        "otherwise; last: the latest record's value over time (over members: none)",
    )
    from_: SourceSpec | None = Field(
        None,
        alias="from",
        description="a system that records this input: events (an aggregate of each rep's events) or credits; "
        "typed in the records where no system records it",
    )


class PreviousSpec(_Spec):
    """A comparison of a metric with its value in the previous period."""

    metric: Identifier
    compare: Literal["growth", "reduction", "change", "value"] = Field(
        "growth",
        description="growth: (now − before) ÷ before; reduction: (before − now) ÷ before; "
        "change: now − before; value: the previous value itself",
    )


class MembersSpec(_Spec):
    """Share of members meeting a condition, e.g. members with attainment ≥ 100 %."""

    where: str = Field(description="condition over each member's metrics")
    among: str | None = Field(None, description="which members count in the denominator (default: all)")
    measure: Literal["share", "count"] = Field(
        "share",
        description="share: members meeting the condition ÷ members counted (N/A without members); "
        "count: how many members meet it (headcount with where: 'true')",
    )


class WithinSpec(_Spec):
    """A window length: one of hours, calendar days, working days or months (DOMAIN §6: day 0 is the trigger day)."""

    hours: Number | None = Field(None, description="elapsed hours between the two instants")
    days: int | None = Field(None, ge=0, le=3660, description="calendar days: answer date ≤ trigger date + N")
    working_days: int | None = Field(
        None, ge=0, le=3660, description="working days on the ruleset's calendar: answer date ≤ N-th working day after"
    )
    months: int | None = Field(
        None,
        ge=0,
        le=120,
        description="calendar months: answer date ≤ the same day N months later (the month's last day "
        "when that month is shorter), e.g. new hires confirmed within 3 months",
    )

    @model_validator(mode="after")
    def _one_length(self) -> WithinSpec:
        given = [k for k in ("hours", "days", "working_days", "months") if getattr(self, k) is not None]
        if len(given) != 1:
            msg = "a window needs exactly one of hours, days, working_days, months"
            raise ValueError(msg)
        return self


class WindowSpec(_Spec):
    """Pairs each trigger event with its answer event (same key, within a window) and measures the pairs."""

    trigger: str = Field(description="condition over event fields picking the trigger events, e.g. type == 'complaint'")
    answer: str = Field(description="condition over event fields picking the answer events")
    match: list[Identifier] = Field(
        default_factory=lambda: ["customer"],
        description="event fields a trigger and its answer share (default customer)",
    )
    within: WithinSpec | None = Field(None, description="the window; needed by in_time, late, missed and rate")
    direction: Literal["after", "before"] = Field(
        "after", description="answers on or after the trigger, or on or before it (trained in the 3 weeks before)"
    )
    anchor: Literal["trigger", "answer"] = Field(
        "trigger",
        description="which events fall in the appraised period and are counted: the triggers (complaints) "
        "or the answers (deals, paired with the latest trigger before them)",
    )
    measure: Literal[
        "count", "in_time", "late", "never", "missed", "rate", "mean_duration", "max_duration", "total_duration"
    ] = Field(
        "rate",
        description="count: events counted; in_time / late / never / missed (late + never); rate: in_time ÷ count; "
        "durations from trigger to answer among the paired events",
    )
    duration_unit: Literal["hours", "days", "working_days"] | None = Field(
        None, description="unit of the durations (default: the window's unit, else days)"
    )


class MetricSpec(_Spec):
    """A named value per subject and period; exactly one of the kinds below."""

    title: str | None = None
    unit: Literal["count", "money", "ratio", "score", "number", "days"] | None = None
    formula: str | None = Field(None, description="expression over inputs and other metrics")
    aggregate: AggregateSpec | None = None
    previous: PreviousSpec | None = None
    streak: str | None = Field(None, description="consecutive periods, ending with this one, where the condition holds")
    members: MembersSpec | None = None
    window: WindowSpec | None = Field(None, description="an event-window metric: triggers paired with their answers")
    rollup: Literal["pooled", "mean"] = Field(
        "pooled",
        description="for team and higher subjects: pooled computes the formula on rolled-up inputs "
        "(ratio of sums); mean averages the members' values",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> MetricSpec:
        names = ("formula", "aggregate", "previous", "streak", "members", "window")
        kinds = [k for k in names if getattr(self, k) is not None]
        if len(kinds) != 1:
            msg = "a metric needs exactly one of formula, aggregate, previous, streak, members, window"
            if kinds:
                msg += f" (found {', '.join(kinds)})"
            raise ValueError(msg)
        return self


class SectionSpec(_Spec):
    """A group of KPIs with a weight inside the scorecard."""

    title: str | None = None
    weight: Number


class BandSpec(_Spec):
    """One row of a bands table: ``min`` ≤ value < ``max`` gives ``score`` (either bound may be open)."""

    id: Identifier
    min: Number | None = None
    max: Number | None = None
    score: Number
    title: str | None = None


class KpiSpec(_Spec):
    """A scored metric."""

    id: Identifier = Field(description="stable id, used in traces as kpis.<id>")
    title: str | None = None
    metric: Identifier = Field(description="the input or metric scored")
    section: Identifier | None = Field(None, description="required when the scorecard has sections")
    direction: Literal["higher", "lower", "range"] = Field("higher", description="which values are better")
    method: Literal["threshold", "linear", "attainment", "bands", "expression"] = Field(
        description="how the value becomes a score (DOMAIN §4)"
    )
    target: NumberOrPair | None = Field(None, description="the bar; for direction range a pair [lo, hi]")
    floor: NumberOrPair | None = Field(None, description="linear: the worst acceptable value (score 0)")
    cap: Number = Field(Decimal(100), description="highest score; above 100 allows over-achievement")
    strict: bool = Field(
        strict=True, default=False, description="threshold: the bound itself fails (< or > instead of ≤ or ≥)"
    )
    pass_score: Number = Decimal(100)
    fail_score: Number = Decimal(0)
    bands: list[BandSpec] | None = None
    score: str | None = Field(None, description="expression method: the score, over metrics and `value`")
    weight: Number = Field(description="weight inside the section; weights add up to 100% unless normalize")
    on_missing: Literal["exclude", "zero", "error"] = Field(
        "exclude", description="an N/A value: drop the KPI and renormalise, score 0, or fail"
    )


class GateSpec(_Spec):
    """A condition that caps the total, zeroes a section or forces a grade."""

    id: Identifier
    when: str
    cap_total: Number | None = None
    zero_section: Identifier | None = None
    force_grade: Text | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> GateSpec:
        actions = [a for a in ("cap_total", "zero_section", "force_grade") if getattr(self, a) is not None]
        if len(actions) != 1:
            msg = "a gate needs exactly one of cap_total, zero_section, force_grade"
            raise ValueError(msg)
        return self


class AdjustmentSpec(_Spec):
    """A context rule that overrides a KPI's score when its condition holds."""

    id: Identifier
    kpi: Identifier
    when: str
    score: Number
    reason: str


class GradeSpec(_Spec):
    """A grade band over the total: the first band whose ``min`` the total reaches wins."""

    grade: Text
    min: Number | None = Field(None, description="lowest total for this grade; omit on the last band")
    title: str | None = None
    bonus_multiplier: Number | None = None


class RoundingSpec(_Spec):
    """How reported numbers are rounded; computation is never rounded."""

    places: int = Field(2, ge=0, le=12)
    mode: RoundingMode = "half_up"
    contributions: Literal["rounded", "largest_remainder"] = Field(
        "rounded",
        description="`rounded`: each contribution is correctly rounded and the residue against the rounded total "
        "is shown; `largest_remainder`: contributions are apportioned so that they add up to the shown total",
    )


class RankingSpec(_Spec):
    """How subjects are ranked (overall and within their parent); ties share a rank (1, 1, 3)."""

    by: Identifier = Field("total", description="`total`, or the name of a metric to rank by")
    order: Literal["higher_first", "lower_first"] = Field("higher_first", description="which end ranks 1")


class EffectiveSpec(_Spec):
    """Dates between which the ruleset applies."""

    from_: dt.date = Field(alias="from")
    until: dt.date | None = None


class ExpectSpec(_Spec):
    """What a case expects for one subject; values compare at reported precision."""

    total: Number | None = None
    grade: Text | None = None
    rank: int | None = None
    kpis: dict[Identifier, Annotated[Any, BeforeValidator(lambda v: v)]] = Field(
        default_factory=dict, description="KPI id → expected score, or the word excluded"
    )


class CaseSpec(_Spec):
    """A ruleset test kept next to the rules: given these records, expect these results."""

    name: str
    period: Text | None = None
    strict: bool = Field(default=False, strict=True)  # only true/false, never yes/on/1
    records: list[dict[str, Any]]
    members: list[dict[str, Any]] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)
    expect: dict[Text, ExpectSpec]


class WatchSpec(_Spec):
    """How one watched metric raises alerts (S7); unset keys take the ruleset's alert defaults."""

    threshold: Number | None = Field(None, description="relative change (either direction) above which an alert opens")
    declines: int | None = Field(None, ge=0, le=24, description="consecutive declines that open an alert (0: off)")


class AlertsSpec(_Spec):
    """Period-over-period alerts (DOMAIN S7, §8): `kpi alerts`."""

    threshold: Number = Field(Decimal("0.2"), description="relative change (either direction) that opens an alert")
    due_working_days: int = Field(2, ge=0, le=365, description="an alert is due N working days after it opens")
    declines: int = Field(2, ge=0, le=24, description="consecutive periods of decline that open an alert (0: off)")
    metrics: dict[Identifier, WatchSpec] = Field(
        default_factory=dict, description="metrics watched, each with optional overrides (default: every KPI's metric)"
    )


class RulesetSpec(_Spec):
    """A versioned scorecard ruleset."""

    ruleset: Identifier = Field(description="stable id of the ruleset")
    version: Text = Field(description="version of the ruleset, reported with every appraisal")
    title: str = Field(description="title in any language")
    description: str | None = None
    effective: EffectiveSpec | None = Field(None, description="dates between which the ruleset applies")
    subject: Level = Field("rep", description="who is appraised; teams and above roll up from membership rows")
    period: PeriodKind = Field("month", description="the kind of period records and results belong to")
    timezone: str = Field("Asia/Shanghai", description="zone in which event timestamps fall into periods")
    calendar: CalendarRef = Field(
        default_factory=CalendarSpec,
        description="business calendar for working days (event windows, alert due dates): "
        "CN (default, with adjusted working weekends), another ISO code, or {country, days_off, days_on}",
    )
    normalize: bool = Field(strict=True, default=False, description="allow weights that do not add up to 100%")
    inputs: dict[Identifier, InputSpec] = Field(default_factory=dict, description="record fields, checked at the door")
    event_fields: dict[Identifier, InputType] = Field(
        default_factory=dict, description="extra event columns (besides event_id, type, at, rep, customer)"
    )
    metrics: dict[Identifier, Annotated[MetricSpec, BeforeValidator(_formula_shorthand)]] = Field(
        default_factory=dict, description="named values; a bare string is a formula"
    )
    sections: dict[Identifier, SectionSpec] = Field(default_factory=dict, description="weighted groups of KPIs")
    kpis: list[KpiSpec] = Field(description="the scored metrics")
    gates: list[GateSpec] = Field(default_factory=list, description="conditions that cap, zero or force a grade")
    adjustments: list[AdjustmentSpec] = Field(default_factory=list, description="context rules overriding a score")
    grades: list[GradeSpec] = Field(default_factory=list, description="grade bands over the total, highest first")
    report: list[Identifier] = Field(
        default_factory=list, description="metrics shown in every result without being scored (e.g. a streak)"
    )
    ranking: RankingSpec = Field(default_factory=RankingSpec, description="how subjects are ranked")
    rounding: RoundingSpec = Field(default_factory=RoundingSpec, description="how reported numbers are rounded")
    alerts: AlertsSpec = Field(default_factory=AlertsSpec, description="period-over-period alerts (kpi alerts)")
    flags: dict[Identifier, str] = Field(
        default_factory=dict,
        description="flags published per subject when their condition holds, e.g. "
        "eligible_for_promotion: on_target_streak >= 2",
    )
    cases: list[CaseSpec] = Field(default_factory=list, description="tests kept next to the rules (`kpi test`)")
    # Data at the door (issue 7): headers as HR and CRM exports write them.
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="column names of the data mapped to the names the ruleset uses, e.g. {姓名: name, 销售额: sales}",
    )
    allow_extra_columns: bool = Field(
        default=False, description="ignore data columns the ruleset does not use instead of reporting them"
    )


def known_keys() -> frozenset[str]:
    """Every key the language knows, for "did you mean" on unknown keys."""
    keys: set[str] = set()
    for model in (
        InputSpec, SourceSpec, AggregateSpec, PreviousSpec, MembersSpec, MetricSpec, SectionSpec, BandSpec, KpiSpec,
        GateSpec, AdjustmentSpec, GradeSpec, RoundingSpec, EffectiveSpec, ExpectSpec, CaseSpec, RulesetSpec,
        WindowSpec, WithinSpec, AlertsSpec, WatchSpec,
    ):  # fmt: skip
        for name, field in model.model_fields.items():
            keys.add(field.alias or name)
    return frozenset(keys)
