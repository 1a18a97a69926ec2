"""Runtime objects built from a checked spec: the compiled scorecard every evaluator consumes.

These are frozen attrs values with expressions already parsed and compiled. They hold no
file names or YAML shapes; a row evaluator and a columnar evaluator can both walk them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import attrs

from kpi_engine.expr import Expression
from kpi_engine.language.spec import InputType, Level, PeriodKind
from kpi_engine.time.calendar import BusinessCalendar

MetricKind = Literal["input", "formula", "aggregate", "previous", "streak", "members", "window"]


@attrs.frozen
class Window:
    """An event window: trigger and answer conditions, the shared key and the window length."""

    trigger: Expression
    answer: Expression
    match: tuple[str, ...]
    length: Decimal | None  # None: no window (durations and never only)
    basis: Literal["hours", "days", "working_days", "months"]
    direction: Literal["after", "before"]
    anchor: Literal["trigger", "answer"]
    measure: str
    duration_unit: Literal["hours", "days", "working_days"]

    def describe(self) -> str:
        """A one-line description for traces."""
        length = f" within {self.length} {self.basis.replace('_', ' ')}" if self.length is not None else ""
        side = "before" if self.direction == "before" else "after"
        key = ", ".join(self.match)
        return (
            f"{self.measure} of events where {self.trigger.text} answered by {self.answer.text} "
            f"(same {key}){length} {side}, counted by {self.anchor}"
        )


MemberRollup = Literal["sum", "mean", "min", "max", "none"]
TimeRollup = Literal["sum", "mean", "min", "max", "last", "none"]


@attrs.frozen
class Source:
    """A system that records an input: an aggregate of each rep's events, or a field of the deal credits."""

    kind: Literal["events", "credits"]
    fn: str | None = None
    field: str | None = None
    where: Expression | None = None
    over: Literal["period", "year_to_date", "rolling_year"] = "period"
    per: Literal["day", "week"] | None = None
    deduct_from: Decimal | None = None
    credits: str | None = None

    def describe(self) -> str:
        """A one-line description for traces: ``count(events) where type == 'order', per week``."""
        if self.kind == "credits":
            return f"deal credits: {self.credits}"
        what = f"{self.fn}({self.field})" if self.field else f"{self.fn}(events)"
        what = f"{what} where {self.where.text}" if self.where else what
        if self.over != "period":
            what += f", {self.over.replace('_', ' ')}"
        if self.per:
            what += f", per {self.per}"
        if self.deduct_from is not None:
            what = f"{self.deduct_from} less {what} (not below 0)"
        return what


@attrs.frozen
class Input:
    name: str
    type: InputType
    min: Decimal | None
    max: Decimal | None
    required: bool
    rollup: MemberRollup  # over members (``last`` declared: none)
    over_time: TimeRollup = "none"  # finer records (months) → the scorecard's period (a half)
    source: Source | None = None  # a system that records it (``from:``), else typed
    title: str | None = attrs.field(default=None, eq=False)  # words for people; hints map data headers by it


@attrs.frozen
class Metric:
    """One metric; the fields used depend on ``kind``."""

    name: str
    kind: MetricKind
    unit: str | None = None
    expr: Expression | None = None  # formula, streak condition, or members' where
    among: Expression | None = None  # members: who counts in the denominator
    where: Expression | None = None  # aggregate: event filter
    fn: str | None = None  # aggregate function
    field: str | None = None  # aggregate field
    of: str | None = None  # previous: the compared metric
    compare: str | None = None  # previous: growth, reduction, change, value
    rollup: Literal["pooled", "mean"] = "pooled"
    window: Window | None = None  # window: the event-window rule
    over: Literal["period", "year_to_date", "rolling_year"] = "period"  # aggregate: which periods' events
    measure: Literal["share", "count"] = "share"  # members: a share or a count

    def describe(self) -> str:
        """A one-line description for traces."""
        if self.kind == "input":
            return f"record field {self.name}"
        if self.kind == "formula" and self.expr:
            return self.expr.text
        if self.kind == "aggregate":
            what = f"{self.fn}({self.field})" if self.field else f"{self.fn}(events)"
            what = f"{what} where {self.where.text}" if self.where else what
            return what if self.over == "period" else f"{what}, {self.over.replace('_', ' ')}"
        if self.kind == "previous":
            return f"{self.compare} of {self.of} versus the previous period"
        if self.kind == "streak" and self.expr:
            return f"consecutive periods where {self.expr.text}"
        if self.kind == "window" and self.window is not None:
            return self.window.describe()
        if self.kind == "members" and self.expr:
            among = f" among members where {self.among.text}" if self.among else " among all members"
            if self.measure == "count":
                return f"members where {self.expr.text}{among}"
            return f"share of members where {self.expr.text}{among}"
        return self.kind  # pragma: no cover


@attrs.frozen
class Band:
    id: str
    min: Decimal | None
    max: Decimal | None
    score: Decimal


@attrs.frozen
class Kpi:
    id: str
    title: str | None
    metric: str
    section: str
    direction: Literal["higher", "lower", "range"]
    method: Literal["threshold", "linear", "attainment", "bands", "expression"]
    target: tuple[Decimal, ...]
    floor: tuple[Decimal, ...]
    cap: Decimal
    strict: bool
    pass_score: Decimal
    fail_score: Decimal
    bands: tuple[Band, ...]
    score_expr: Expression | None
    weight: Decimal
    on_missing: Literal["exclude", "zero", "error"]

    def parameters(self) -> dict[str, object]:
        """The method's parameters, for traces."""
        params: dict[str, object] = {"direction": self.direction}
        if self.target:
            params["target"] = list(self.target) if len(self.target) > 1 else self.target[0]
        if self.method == "linear":
            params["floor"] = list(self.floor) if len(self.floor) > 1 else self.floor[0]
        if self.method in {"linear", "attainment", "expression"}:
            params["cap"] = self.cap
        if self.method == "threshold":
            params.update(pass_score=self.pass_score, fail_score=self.fail_score, inclusive=not self.strict)
        if self.method == "bands":
            params["bands"] = [{"id": b.id, "min": b.min, "max": b.max, "score": b.score} for b in self.bands]
        if self.score_expr is not None:
            params["score"] = self.score_expr.text
        return params


@attrs.frozen
class Section:
    id: str
    title: str | None
    weight: Decimal


@attrs.frozen
class Gate:
    id: str
    when: Expression
    action: Literal["cap_total", "zero_section", "force_grade"]
    value: Decimal | str
    reason: str | None


@attrs.frozen
class Adjustment:
    id: str
    kpi: str
    when: Expression
    score: Decimal
    reason: str


@attrs.frozen
class Grade:
    grade: str
    min: Decimal | None
    title: str | None
    bonus_multiplier: Decimal | None


@attrs.frozen
class Scorecard:
    """The compiled form of a ruleset."""

    id: str
    version: str
    title: str
    subject: Level
    period: PeriodKind
    timezone: str
    inputs: dict[str, Input]
    event_fields: dict[str, InputType]
    metrics: dict[str, Metric]
    sections: tuple[Section, ...]
    kpis: tuple[Kpi, ...]
    gates: tuple[Gate, ...]
    adjustments: tuple[Adjustment, ...]
    grades: tuple[Grade, ...]
    report: tuple[str, ...]
    rank_by: str
    rank_lower_first: bool
    places: int
    rounding: str
    contributions: str = "rounded"  # or "largest_remainder"
    columns: dict[str, str] = attrs.field(factory=dict)  # data column name → name used by the ruleset
    allow_extra_columns: bool = False
    reads_history: bool = False  # a previous or streak metric reads earlier periods
    calendar: BusinessCalendar = attrs.field(factory=BusinessCalendar)  # working days (windows, alerts)
    flags: tuple[tuple[str, Expression], ...] = ()  # published per subject when the condition holds
