"""Pydantic models mirroring the pay plan YAML: shape and types only, no behaviour.

A pay plan is a document of its own, read like a ruleset (``language/_yaml.py``: exact decimals,
a source map; ``language/_validation.py``: every schema mistake located). Every model forbids
unknown keys; numbers accept ``4%`` (exactly 0.04); binary floats are refused. The semantic
checks (tiers, shares, caps) are in ``checks``; the compiled plan in ``model``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from kpi_engine._numbers import NumberFormatError, to_decimal
from kpi_engine.language.spec import (
    _NUMBER_SCHEMA,
    EffectiveSpec,
    Identifier,
    Number,
    RoundingMode,
    Text,
    _Spec,
)
from kpi_engine.time.calendar import CalendarRef, CalendarSpec

ComponentKind = Literal["grade", "curve", "commission", "override", "pool"]
PoolSplit = Literal["equal", "score", "credited", "weight"]


def _pool_amount(value: object) -> object:
    """A pool's amount: a number (``10000``, ``2.5%``) or the text of a formula over team results."""
    if isinstance(value, str):
        try:
            return to_decimal(value, allow_percent=True)
        except NumberFormatError:
            return value.strip()
    try:
        return to_decimal(value)
    except NumberFormatError as exc:
        raise ValueError(str(exc)) from None


PoolAmount = Annotated[
    Decimal | str,
    BeforeValidator(_pool_amount),
    WithJsonSchema({"anyOf": [_NUMBER_SCHEMA, {"type": "string", "description": "a formula over team results"}]}),
]
CurveKind = Literal["step", "marginal", "interpolate"]
PayPeriodKind = Literal["month", "quarter", "half", "year"]


class CapSpec(_Spec):
    """A ceiling on an amount: a sum of money, or a share of the target it applies to (200% of target)."""

    amount: Number | None = Field(None, description="a sum of money in the plan's currency")
    target: Number | None = Field(None, description="a share of the target, e.g. 200% (the target is prorated)")

    @model_validator(mode="after")
    def _one(self) -> CapSpec:
        if (self.amount is None) == (self.target is None):
            msg = "a cap needs exactly one of amount, target"
            raise ValueError(msg)
        return self


class TierSpec(_Spec):
    """One tier: a lower bound (``from`` ≥ or ``above`` >), an upper bound (``to`` < or ``up_to`` ≤), a rate or a pay.

    Commission and override tiers are bounds on the credited amount (money) and rates of it;
    curve tiers are bounds on the measure (attainment 100% is 1) and rates giving a share of the
    component's target. ``pay`` (step tiers only) pays a fixed share of the target instead.
    """

    id: Identifier | None = Field(None, description="a name for the tier in traces (default: its position)")
    from_: Number | None = Field(None, alias="from", description="lowest value in the tier (inclusive)")
    above: Number | None = Field(None, description="the tier starts just above this value (exclusive)")
    to: Number | None = Field(None, description="the tier ends just below this value (exclusive); omit on the last")
    up_to: Number | None = Field(None, description="the tier ends at this value (inclusive)")
    rate: Number | None = Field(
        None, description="the rate: 4% of the amount, or 150% of the target per 100% of measure"
    )
    pay: Number | None = Field(None, description="step tiers: a fixed share of the target, e.g. 50%")
    title: str | None = None


class LevelSpec(_Spec):
    """One achievement level of an interpolated curve: at this measure, pay this share of the target."""

    at: Number = Field(description="the measure, e.g. 100% attainment")
    pay: Number = Field(description="the share of the component's target paid there, e.g. 100%")


class DealFilterSpec(_Spec):
    """Which credited deals a commission or override counts (all when omitted)."""

    product: list[Text] | None = Field(None, description="products counted (the deals file's product column)")
    type: list[Text] | None = Field(None, description="deal types counted (the deals file's type column)")


class ClawbackSpec(_Spec):
    """Cancelled or refunded deals take back the commission paid on them."""

    within_days: int = Field(
        ge=0, le=3660, description="a cancellation up to N calendar days after the deal claws back"
    )


class ComponentSpec(_Spec):
    """One part of a person's pay, with its share of the target incentive."""

    id: Identifier = Field(description="stable id, used in lines and traces")
    title: str | None = None
    kind: ComponentKind = Field(
        description="grade: multiplier of the grade × target; curve: a curve on a scorecard value × target; "
        "commission: tiers on the person's credited deals; override: tiers on the led team's credited deals; "
        "pool: a team's bonus pool split among its members"
    )
    share: Number | None = Field(
        None,
        description="share of the person's target incentive; the shares add up to 100% "
        "(every kind but pool, which is an amount per team)",
    )
    amount: PoolAmount | None = Field(
        None,
        description="pool: the team's pool per period, a sum of money or a formula over team results: "
        "team_credited (the team's credited sales in the period), team_total (the team's appraisal total), "
        "members (how many share it), e.g. '1% * team_credited'",
    )
    split: PoolSplit | None = Field(
        None,
        description="pool: how the pool is shared: equal; score (the member's appraisal total); credited (the "
        "member's credited sales in the period); weight (the people file's pool_weight column)",
    )
    multipliers: dict[Text, Number] | None = Field(
        None, description="grade: grade → multiplier of the target (default: the scorecard's bonus_multiplier)"
    )
    measure: str | None = Field(
        None, description="curve: the scorecard value it reads: a metric (e.g. attainment), total, or <kpi>.score"
    )
    curve: CurveKind | None = Field(
        None,
        description="step: the whole at the rate of the tier reached; marginal: each slice at its own rate; "
        "interpolate: linear between levels",
    )
    tiers: list[TierSpec] | None = Field(None, description="step or marginal tiers, lowest first")
    levels: list[LevelSpec] | None = Field(None, description="interpolate: achievement levels, lowest first")
    threshold: Number | None = Field(None, description="below this measure (or credited amount) nothing is paid")
    measure_cap: Number | None = Field(None, description="curve: the measure counts up to this value, e.g. 150%")
    cap: CapSpec | None = Field(None, description="the most the component pays (over its basis)")
    basis: Literal["period", "year_to_date"] = Field(
        "period",
        description="commission, override: tiers on the period's credited amount, or year to date "
        "(this period's slice starts where the year so far ended)",
    )
    deals: DealFilterSpec | None = Field(None, description="commission, override: which deals count")
    release: Literal["on_credit", "on_payment"] = Field(
        "on_credit", description="on_payment: a deal's commission is held until the deal is paid, then released"
    )
    clawback: ClawbackSpec | None = Field(None, description="cancelled or refunded deals take back what was paid")
    prorate: bool | None = Field(
        None,
        strict=True,
        description="prorate the target by working days employed in the period "
        "(default: true for grade and curve, which have targets)",
    )


class PayGateSpec(_Spec):
    """A condition on the appraisal that caps or zeroes components (e.g. renewal below 90% caps the bonus)."""

    id: Identifier
    when: str | None = Field(None, description="condition over scorecard values: metrics, total, grade")
    scorecard_gate: Identifier | None = Field(None, description="applies when this gate of the scorecard applied")
    components: list[Identifier] = Field(description="the components it limits")
    cap: CapSpec | None = Field(None, description="cap each of them (a share of its own target, or an amount)")
    zero: bool = Field(default=False, strict=True, description="pay nothing for them")
    reason: str | None = None

    @model_validator(mode="after")
    def _one(self) -> PayGateSpec:
        if (self.when is None) == (self.scorecard_gate is None):
            msg = "a gate needs exactly one of when, scorecard_gate"
            raise ValueError(msg)
        if (self.cap is None) == (not self.zero):
            msg = "a gate needs exactly one of cap, zero: true"
            raise ValueError(msg)
        return self


class RecoverSpec(_Spec):
    """How a recoverable draw's balance is taken back."""

    instalments: int = Field(
        description="the balance owed is recovered in N equal instalments over the next N periods "
        "(cents by largest remainder), never more than the period's earnings above the draw allow "
        "(the rest carries to the next instalment)"
    )


class DrawSpec(_Spec):
    """A guaranteed minimum paid in a period while incentive earnings are below it."""

    amount: Number | None = Field(None, description="the draw per period, in money (prorated)")
    target: Number | None = Field(None, description="the draw per period as a share of the period's target incentive")
    recoverable: bool = Field(
        strict=True,
        description="true: the top-up is an advance, recovered from later earnings above the draw; "
        "false: a guarantee, never recovered",
    )
    periods: int | None = Field(
        None, ge=1, le=120, description="the draw is paid in a person's first N pay periods (default: every period)"
    )
    recover: RecoverSpec | None = Field(
        None,
        description="recoverable draws: how the balance is taken back (default: all of it from the first "
        "earnings above the draw)",
    )

    @model_validator(mode="after")
    def _one(self) -> DrawSpec:
        if (self.amount is None) == (self.target is None):
            msg = "a draw needs exactly one of amount, target"
            raise ValueError(msg)
        return self


class PayRoundingSpec(_Spec):
    """How money is rounded: each payout line to the currency's places (parts apportioned by largest remainder)."""

    places: int = Field(2, ge=0, le=6, description="decimal places of the currency (2: cents)")
    mode: RoundingMode = "half_up"


class PayExpectSpec(_Spec):
    """What a case expects for one person: amounts at the plan's places."""

    total: Number | None = Field(None, description="the person's pay for the period")
    components: dict[Identifier, Number] = Field(default_factory=dict, description="component id → amount")
    lines: dict[str, Number] = Field(default_factory=dict, description="line id → amount (e.g. commission.held)")


_ROWS = Annotated[list[dict[str, Any]], BeforeValidator(lambda v: v)]


class PayCaseSpec(_Spec):
    """A pay plan test kept next to it: given appraisals, people and deals, expect these amounts."""

    name: str
    period: Text = Field(description="the pay period (earlier periods in the inputs are computed first)")
    appraisals: _ROWS = Field(
        default_factory=list, description="subject, period, total, grade, and the scorecard values the plan reads"
    )
    people: _ROWS = Field(description="person, start, end, team, leads, target_incentive, base_salary, currency")
    credits: _ROWS = Field(default_factory=list, description="deal_id, credited_to, amount, date, share")
    deals: _ROWS = Field(default_factory=list, description="deal_id, product, type, paid, cancelled, refund")
    paid: _ROWS = Field(default_factory=list, description="lines already paid: person, period, line, amount")
    expect: dict[Text, PayExpectSpec]


class PayPlanSpec(_Spec):
    """A versioned pay plan: how appraisals and credited deals become payouts."""

    pay_plan: Identifier = Field(description="stable id of the pay plan")
    version: Text = Field(description="version of the plan, reported with every payout")
    title: str = Field(description="title in any language")
    description: str | None = None
    effective: EffectiveSpec | None = Field(None, description="dates between which the plan applies")
    ruleset: Identifier | None = Field(None, description="id of the scorecard ruleset whose appraisal it reads")
    appraised: Literal["person", "led_team"] = Field(
        "person", description="whose appraisal a person's pay reads: their own, or the team they lead"
    )
    period: PayPeriodKind = Field("month", description="the pay period")
    year_starts: int = Field(1, ge=1, le=12, description="first month of the plan year (year-to-date tiers reset)")
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = Field("CNY", description="ISO 4217 code")
    rounding: PayRoundingSpec = Field(default_factory=PayRoundingSpec)
    calendar: CalendarRef = Field(
        default_factory=CalendarSpec, description="business calendar of working days for proration (default CN)"
    )
    incentive_per: Literal["year", "period"] = Field(
        "year", description="the people file's target_incentive is per year (split evenly over periods) or per period"
    )
    components: list[ComponentSpec] = Field(description="the parts of pay")
    gates: list[PayGateSpec] = Field(default_factory=list, description="conditions that cap or zero components")
    person_cap: CapSpec | None = Field(
        None, description="the most a person earns in a period (a share of the period's target incentive, or money)"
    )
    draw: DrawSpec | None = Field(None, description="a guaranteed minimum, recoverable or not")
    cases: list[PayCaseSpec] = Field(default_factory=list, description="tests kept next to the plan (`kpi test`)")


def known_keys() -> frozenset[str]:
    """Every key of the pay plan language, for "did you mean" on unknown keys."""
    keys: set[str] = set()
    for model in (
        CapSpec, TierSpec, LevelSpec, DealFilterSpec, ClawbackSpec, ComponentSpec, PayGateSpec, DrawSpec, RecoverSpec,
        PayRoundingSpec, PayExpectSpec, PayCaseSpec, PayPlanSpec, EffectiveSpec,
    ):  # fmt: skip
        for name, field in model.model_fields.items():
            keys.add(field.alias or name)
    return frozenset(keys)
