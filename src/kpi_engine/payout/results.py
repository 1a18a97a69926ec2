"""Payouts: lines with their traces, per person and period, and the run that holds them.

Every ``PayLine.amount`` is money rounded to the plan's places (the correctly rounded exact value,
or a part apportioned by largest remainder so that parts add up to their whole); ``exact`` keeps
the value it came from. A person's ``total`` is the sum of the lines, so the payout register adds
up to the cent. ``trace`` is the line in words (``words`` the same, to render in another language);
``details`` the same as data (JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import attrs

from kpi_engine._numbers import canonical
from kpi_engine.payout.text import Joined, Words

LineKind = Literal["component", "cap", "held", "released", "clawback", "true_up", "draw", "recovery", "carried"]
LINE_KINDS: tuple[str, ...] = (
    "component",
    "cap",
    "held",
    "released",
    "clawback",
    "true_up",
    "draw",
    "recovery",
    "carried",
)


def _text(value: Decimal) -> str:
    return format(value, "f")


@attrs.frozen
class PayLine:
    """One line of a payout: what it is, the money, and why."""

    id: str
    kind: LineKind
    component: str | None
    amount: Decimal
    exact: Fraction
    trace: str
    details: Mapping[str, Any] = attrs.field(factory=dict)
    words: Words | Joined | None = attrs.field(default=None, eq=False, repr=False)  # the trace, in any language

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (money as text)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "component": self.component,
            "amount": _text(self.amount),
            "exact": canonical(self.exact),
            "trace": self.trace,
            "details": dict(self.details),
        }


@attrs.frozen
class Segment:
    """A stretch of the period in one assignment: team, working days employed of the period's."""

    start: str
    end: str
    team: str | None
    leads: str | None
    working_days: int
    period_working_days: int
    target: Decimal  # the period's target incentive for this stretch, prorated

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {**attrs.asdict(self), "target": _text(self.target)}


@attrs.frozen
class PersonPay:
    """A person's pay for one period: lines, total, and what carries to the next."""

    person: str
    name: str | None
    period: str
    lines: tuple[PayLine, ...]
    total: Decimal
    target: Decimal  # the period's target incentive, prorated
    year_to_date: Decimal  # paid in the plan year through this period
    balance: Decimal  # owed by the person after this period (recoverable draws, clawbacks beyond earnings)
    held: Decimal  # commission earned and held until deals are paid, after this period
    segments: tuple[Segment, ...] = ()
    appraisal: Mapping[str, Any] = attrs.field(factory=dict)
    notes: tuple[str, ...] = ()
    note_words: tuple[Words, ...] = attrs.field(default=(), eq=False, repr=False)  # the notes, to render

    def line(self, line_id: str) -> PayLine:
        """The line with this id.

        Raises:
            KeyError: if there is none.
        """
        for line in self.lines:
            if line.id == line_id:
                return line
        raise KeyError(line_id)

    def component(self, component_id: str) -> Decimal:
        """The amount of a component's line (0 when it has none)."""
        return sum(
            (ln.amount for ln in self.lines if ln.kind == "component" and ln.component == component_id), Decimal(0)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "person": self.person,
            "name": self.name,
            "period": self.period,
            "total": _text(self.total),
            "target": _text(self.target),
            "year_to_date": _text(self.year_to_date),
            "balance": _text(self.balance),
            "held": _text(self.held),
            "segments": [s.to_dict() for s in self.segments],
            "appraisal": dict(self.appraisal),
            "lines": [ln.to_dict() for ln in self.lines],
            "notes": list(self.notes),
        }


@attrs.frozen
class PayRun:
    """The payouts of one pay period (and of the earlier periods computed to reach it)."""

    plan_id: str
    version: str
    sha256: str
    title: str
    currency: str
    places: int
    mode: str
    period: str
    people: tuple[PersonPay, ...]
    history: Mapping[str, tuple[PersonPay, ...]] = attrs.field(factory=dict, eq=False, repr=False)
    warnings: tuple[Any, ...] = ()

    @property
    def total(self) -> Decimal:
        """The period's total cost: the sum of every person's pay."""
        return sum((p.total for p in self.people), Decimal(0))

    def person(self, person_id: str) -> PersonPay:
        """One person's pay in the period.

        Raises:
            KeyError: if the person is not paid by this run.
        """
        for p in self.people:
            if p.person == person_id:
                return p
        raise KeyError(person_id)

    def register(self) -> Iterator[dict[str, str]]:
        """The payout register for payroll: one row per line (money as text, plan's places)."""
        for p in self.people:
            for line in p.lines:
                yield {
                    "period": self.period,
                    "person": p.person,
                    "name": p.name or "",
                    "line": line.id,
                    "component": line.component or "",
                    "kind": line.kind,
                    "amount": _text(line.amount),
                    "currency": self.currency,
                    "description": line.trace,
                }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping: the plan, the period, each person's pay with traces, the total."""
        return {
            "pay_plan": {"id": self.plan_id, "version": self.version, "sha256": self.sha256, "title": self.title},
            "period": self.period,
            "currency": self.currency,
            "places": self.places,
            "rounding": self.mode,
            "total": _text(self.total),
            "people": [p.to_dict() for p in self.people],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Canonical JSON text (keys in a stable order, money as text)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent) + "\n"


REGISTER_COLUMNS = ("period", "person", "name", "line", "component", "kind", "amount", "currency", "description")
