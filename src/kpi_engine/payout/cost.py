"""What a pay plan costs per person and period: at 0 % performance, at 100 % (on target) and at the caps.

Figures are shares of the person's target incentive for the period (the plan has no people), plus
money where a cap is a sum of money; a component without a ceiling is *unbounded*. Per component:

- grade: the lowest multiplier, the target (100 % of its share, what on-target pay means), the
  highest multiplier — each limited by its cap;
- curve: the curve at a measure of 0, at 1 (100 %; 100 for ``total`` and ``<kpi>.score``) and its
  ceiling (the last level, the measure cap or the last bounded tier; else the cap);
- commission and override: nothing at 0; their share at 100 % (the plan declares that a person on
  target earns the component's share); the cap at the top, else unbounded;
- pool: per team, not per person (its parts depend on the team): a fixed amount, or a formula
  (unbounded); not in the person's total.

The person's cap limits the total at the top when it is a share of the target.
"""

from __future__ import annotations

from fractions import Fraction

import attrs

from kpi_engine.payout.model import Cap, Component, PayPlan
from kpi_engine.payout.ops import tiers

ZERO = Fraction(0)


@attrs.frozen
class Cost:
    """A cost: a share of the target incentive, plus money, or unbounded."""

    share: Fraction = ZERO
    money: Fraction = ZERO
    unbounded: bool = False

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.share + other.share, self.money + other.money, self.unbounded or other.unbounded)


@attrs.frozen
class CostRow:
    """One component's (or the total's) cost at 0 %, 100 % and the caps."""

    id: str
    at_zero: Cost
    on_target: Cost
    at_cap: Cost
    pool: bool = False  # a team's pool: its cost is per team (``at_cap``: a fixed amount, or unbounded)


def _limited(value: Fraction | None, share: Fraction, cap: Cap | None) -> Cost:
    """A share-of-target value (``None``: unbounded) limited by a component cap."""
    if cap is None:
        return Cost(unbounded=True) if value is None else Cost(value * share)
    if cap.target is not None:
        limit = cap.target * share
        return Cost(limit if value is None else min(value * share, limit))
    assert cap.amount is not None
    if value is None:
        return Cost(money=cap.amount)
    return Cost(value * share)  # a money cap cannot be compared with a share without the person's target


def component_cost(c: Component) -> CostRow:
    """The cost of one component at 0 %, on target and at its ceiling."""
    if c.kind == "pool":
        per_team = Cost(money=c.amount) if c.amount is not None else Cost(unbounded=True)
        return CostRow(c.id, per_team, per_team, per_team, pool=True)
    if c.kind == "grade":
        if c.multipliers:
            low, high = min(c.multipliers.values()), max(c.multipliers.values())
            return CostRow(c.id, _limited(low, c.share, c.cap), _limited(Fraction(1), c.share, c.cap),
                           _limited(high, c.share, c.cap))  # fmt: skip
        return CostRow(c.id, Cost(), Cost(c.share), _limited(None, c.share, c.cap))
    curve = c.curve
    assert curve is not None
    if c.kind == "curve":
        full = Fraction(100) if c.measure == "total" or (c.measure or "").endswith(".score") else Fraction(1)
        zero = tiers.evaluate(curve, ZERO).value
        on = tiers.evaluate(curve, full).value
        return CostRow(c.id, _limited(zero, c.share, c.cap), _limited(on, c.share, c.cap),
                       _limited(tiers.supremum(curve), c.share, c.cap))  # fmt: skip
    top = Cost(unbounded=True)
    if c.cap is not None:
        top = Cost(c.cap.target * c.share) if c.cap.target is not None else Cost(money=c.cap.amount or ZERO)
    return CostRow(c.id, Cost(), Cost(c.share), top)


def plan_cost(plan: PayPlan) -> list[CostRow]:
    """The cost per person and period of each component, of the whole plan (``total``), then the limits.

    After ``total`` come, when the plan has them, ``person cap`` (the most a person earns in a
    period, at the top) and ``draw`` (the minimum paid at 0 % while a person is in the draw window).
    """
    rows = [component_cost(c) for c in plan.components]
    total = CostRow("total", Cost(), Cost(), Cost())
    for r in rows:
        if r.pool:
            continue  # per team, not per person
        total = CostRow("total", total.at_zero + r.at_zero, total.on_target + r.on_target, total.at_cap + r.at_cap)
    rows.append(total)
    cap = plan.person_cap
    if cap is not None:
        limit = Cost(cap.target) if cap.target is not None else Cost(money=cap.amount or ZERO)
        rows.append(CostRow("person cap", Cost(), Cost(), limit))
    draw = plan.draw
    if draw is not None:
        floor = Cost(draw.target) if draw.target is not None else Cost(money=draw.amount or ZERO)
        rows.append(CostRow("draw", floor, Cost(), Cost()))
    return rows
