"""The impact of a new pay plan on the same inputs, before approval: who earns what, at which tier, at what cost.

Both runs are compared line by line through the result objects, exactly: a person is listed when
their pay, a component or a tier changes, largest change first; the summary gives the total cost
before and after, and how many are paid more and less.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from kpi_engine.payout.model import PayPlan
from kpi_engine.payout.results import PayRun, PersonPay

DZERO = Decimal(0)


@attrs.frozen
class PersonImpact:
    """How one person's pay changes under the new plan."""

    person: str
    name: str | None
    total: tuple[Decimal | None, Decimal | None]
    change: Decimal
    components: dict[str, tuple[Decimal, Decimal]]  # only those that change
    tiers: dict[str, tuple[str, str]]  # only those that change


@attrs.frozen
class PayImpact:
    """The people whose pay changes, and the cost of the change."""

    before: PayRun
    after: PayRun
    changes: tuple[PersonImpact, ...]
    unchanged: int

    @property
    def cost_before(self) -> Decimal:
        """The period's total pay under the old plan."""
        return self.before.total

    @property
    def cost_after(self) -> Decimal:
        """The period's total pay under the new plan."""
        return self.after.total

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (money as text)."""

        def text(value: Decimal | None) -> str | None:
            return None if value is None else format(value, "f")

        return {
            "before": {"pay_plan": self.before.plan_id, "version": self.before.version, "sha256": self.before.sha256},
            "after": {"pay_plan": self.after.plan_id, "version": self.after.version, "sha256": self.after.sha256},
            "period": self.after.period,
            "currency": self.after.currency,
            "summary": {
                "people": len(self.changes) + self.unchanged,
                "changed": len(self.changes),
                "unchanged": self.unchanged,
                "paid_more": sum(1 for c in self.changes if c.change > 0),
                "paid_less": sum(1 for c in self.changes if c.change < 0),
                "cost": {
                    "before": text(self.cost_before),
                    "after": text(self.cost_after),
                    "change": text(self.cost_after - self.cost_before),
                },
            },
            "changes": [
                {
                    "person": c.person,
                    "name": c.name,
                    "total": [text(c.total[0]), text(c.total[1])],
                    "change": text(c.change),
                    "components": {k: [text(a), text(b)] for k, (a, b) in c.components.items()},
                    "tiers": {k: list(v) for k, v in c.tiers.items()},
                }
                for c in self.changes
            ],
        }


def _tiers(p: PersonPay | None) -> dict[str, str]:
    if p is None:
        return {}
    return {ln.id: str(ln.details.get("tier", "-")) for ln in p.lines if ln.kind == "component"}


def pay_impact(before_plan: PayPlan, after_plan: PayPlan, before: PayRun, after: PayRun) -> PayImpact:
    """Compare two runs of the same period and inputs under two plans.

    Components are matched by id (one only in the new plan counts 0 before, and the reverse).
    """
    ids = [c.id for c in before_plan.components] + [c.id for c in after_plan.components if c.id not in
                                                      {c.id for c in before_plan.components}]  # fmt: skip
    old = {p.person: p for p in before.people}
    new = {p.person: p for p in after.people}
    changes: list[PersonImpact] = []
    unchanged = 0
    for person in sorted(set(old) | set(new)):
        a, b = old.get(person), new.get(person)
        total_a = a.total if a is not None else None
        total_b = b.total if b is not None else None
        components = {
            cid: (a.component(cid) if a else DZERO, b.component(cid) if b else DZERO)
            for cid in ids
            if (a.component(cid) if a else DZERO) != (b.component(cid) if b else DZERO)
        }
        tiers_a, tiers_b = _tiers(a), _tiers(b)
        tiers = {
            cid: (tiers_a.get(cid, "-"), tiers_b.get(cid, "-"))
            for cid in ids
            if tiers_a.get(cid, "-") != tiers_b.get(cid, "-")
        }
        if total_a == total_b and not components and not tiers:
            unchanged += 1
            continue
        change = (total_b or DZERO) - (total_a or DZERO)
        name = (b or a).name if (b or a) is not None else None  # type: ignore[union-attr]
        changes.append(PersonImpact(person, name, (total_a, total_b), change, components, tiers))
    changes.sort(key=lambda c: (-abs(c.change), c.person))
    return PayImpact(before, after, tuple(changes), unchanged)
