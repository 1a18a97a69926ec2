"""The compiled pay plan: exact values and compiled curves, built from a spec that passed the checks."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import attrs

from kpi_engine.expr import Expression
from kpi_engine.language._yaml import SourceMap
from kpi_engine.payout.ops.tiers import Curve
from kpi_engine.payout.spec import ComponentKind, PayPeriodKind, PayPlanSpec
from kpi_engine.payout.text import Words, number, percent, w
from kpi_engine.time.calendar import BusinessCalendar

TARGETED: frozenset[str] = frozenset({"grade", "curve"})  # components whose amount is a share of a target
DEALS: frozenset[str] = frozenset({"commission", "override"})  # components on credited deals
POOL_NAMES: tuple[str, ...] = ("team_credited", "team_total", "members")  # what a pool's formula reads


@attrs.frozen
class Cap:
    """A ceiling: money, or a share of the target it applies to."""

    amount: Fraction | None = None
    target: Fraction | None = None

    def limit(self, target: Fraction) -> Fraction:
        """The ceiling in money for a given (prorated) target."""
        if self.amount is not None:
            return self.amount
        assert self.target is not None
        return self.target * target

    def describe(self) -> Words:
        """``cap 10,000`` or ``cap 200 % of target`` (for traces)."""
        if self.amount is not None:
            return w("cap {amount}", amount=number(self.amount))
        assert self.target is not None
        return w("cap {share} of target", share=percent(self.target))


@attrs.frozen
class Component:
    """One compiled part of pay."""

    id: str
    title: str | None
    kind: ComponentKind
    share: Fraction
    multipliers: dict[str, Fraction] | None = None
    measure: str | None = None
    curve: Curve | None = None
    cap: Cap | None = None
    basis: Literal["period", "year_to_date"] = "period"
    products: frozenset[str] | None = None
    types: frozenset[str] | None = None
    release: Literal["on_credit", "on_payment"] = "on_credit"
    clawback_days: int | None = None
    prorate: bool = True
    amount: Fraction | None = None  # pool: a fixed amount per team and period
    formula: Expression | None = None  # pool: or a formula over team results (POOL_NAMES)
    split: Literal["equal", "score", "credited", "weight"] | None = None  # pool: how it is shared

    @property
    def targeted(self) -> bool:
        """Grade and curve components pay a share of a target; commission and override pay on deals."""
        return self.kind in TARGETED


@attrs.frozen
class Gate:
    """A condition on the appraisal that caps or zeroes components."""

    id: str
    when: Expression | None
    scorecard_gate: str | None
    components: tuple[str, ...]
    cap: Cap | None
    zero: bool
    reason: str | None


@attrs.frozen
class Draw:
    """A guaranteed minimum per period (money or a share of the period's target incentive)."""

    amount: Fraction | None
    target: Fraction | None
    recoverable: bool
    periods: int | None
    instalments: int | None = None  # a recoverable balance taken back over N periods (None: at once)


@attrs.frozen
class PayPlan:
    """A loaded, valid pay plan: spec, compiled parts, provenance."""

    spec: PayPlanSpec
    components: tuple[Component, ...]
    gates: tuple[Gate, ...]
    person_cap: Cap | None
    draw: Draw | None
    calendar: BusinessCalendar
    file: str
    sha256: str
    source_map: SourceMap | None = attrs.field(default=None, eq=False, repr=False)
    text: str = attrs.field(default="", eq=False, repr=False)

    @property
    def id(self) -> str:
        """The pay plan id."""
        return self.spec.pay_plan

    @property
    def version(self) -> str:
        """The pay plan version."""
        return self.spec.version

    @property
    def period(self) -> PayPeriodKind:
        """The kind of pay period."""
        return self.spec.period

    @property
    def places(self) -> int:
        """Decimal places of money."""
        return self.spec.rounding.places

    @property
    def mode(self) -> str:
        """Rounding mode of money."""
        return self.spec.rounding.mode

    @property
    def currency(self) -> str:
        """ISO 4217 code."""
        return self.spec.currency

    def component(self, component_id: str) -> Component:
        """The component with this id.

        Raises:
            KeyError: if there is none.
        """
        for c in self.components:
            if c.id == component_id:
                return c
        raise KeyError(component_id)

    def reads(self) -> frozenset[str]:
        """The scorecard values the plan reads (measures and gate conditions), for checks at run time."""
        names: set[str] = set()
        for c in self.components:
            if c.measure is not None:
                names.add(c.measure)
        for g in self.gates:
            if g.when is not None:
                names.update(g.when.names)
        return frozenset(names)
