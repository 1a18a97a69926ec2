"""Gates (DOMAIN §4): conditions that cap the total, zero a section or force a grade; row and column kernels.

``zero_section`` gates run first (the total depends on them) and never read the total; the others
run after the total and may read it as ``total`` (the total before gates). A condition that is
N/A is ``not_evaluated`` and does not apply (a strict run refuses it). ``cap_total``: the lowest
cap that holds wins (each cap is applied in turn); ``force_grade``: the first that holds wins.
Every gate that holds adds the subject flag ``gate:<id>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Literal, TypeVar

from kpi_engine._columns import Arr, Bool, Column, Ctx, Num, n_cmp, n_where
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import Number
from kpi_engine.expr import Expression, Value
from kpi_engine.language.model import Scorecard

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


Outcome = Literal["applied", "not_applied", "not_evaluated"]
OUTCOMES: tuple[Outcome, ...] = ("applied", "not_applied", "not_evaluated")
_T = TypeVar("_T")
# ``condition(subject, expr, extra, names)``: the row executor evaluates a condition for a subject.
Condition = Callable[[str, Expression, "Mapping[str, Value] | None", "frozenset[str] | None"], Value]


def outcome(holds: Value) -> Outcome:
    """A gate's outcome for a condition that is true, false or N/A (``None``)."""
    return "not_evaluated" if holds is None else ("applied" if holds else "not_applied")


class Gates:
    """The scorecard's gates, in order, and their two kernels."""

    def __init__(self, card: Scorecard) -> None:
        self.gates = card.gates
        self.early = tuple(g for g in card.gates if g.action == "zero_section")
        self.names = {g.id: g.when.names - {"total"} for g in card.gates}  # what each reads besides the total

    # --- row ------------------------------------------------------------------------------------

    def early_row(self, condition: Condition, subject: str) -> tuple[dict[str, Value], set[str]]:
        """The ``zero_section`` gates' conditions and the sections they zero (before the total)."""
        if not self.early:
            return {}, set()
        early = {g.id: condition(subject, g.when, None, None) for g in self.early}
        return early, {str(g.value) for g in self.early if early[g.id] is True}

    def row(
        self,
        total: Number | None,
        early: Mapping[str, Value],
        condition: Condition,
        subject: str,
        shared: Mapping[str, Mapping[Outcome, _T]],
    ) -> tuple[Number | None, str | None, list[str], list[_T]]:
        """Apply the gates to one subject's total.

        Returns the total after gates, the forced grade, the subject's gate flags, and each gate's
        result (``shared[gate][outcome]``: one object per outcome, shared by every subject).
        """
        before = total
        forced: str | None = None
        flags: list[str] = []
        results: list[_T] = []
        for gate in self.gates:
            if gate.id in early:
                holds = early[gate.id]
            else:
                holds = condition(subject, gate.when, {"total": before}, self.names[gate.id])
            if holds is True:
                if gate.action == "cap_total" and total is not None:
                    assert isinstance(gate.value, Decimal)
                    total = min(total, gate.value)
                elif gate.action == "force_grade" and forced is None:
                    forced = str(gate.value)
                flags.append(f"gate:{gate.id}")
            results.append(shared[gate.id][outcome(holds)])
        return total, forced, flags, results

    # --- column ---------------------------------------------------------------------------------

    def early_column(
        self, ctx: Ctx, env: Mapping[str, Column], sections: list[str]
    ) -> tuple[dict[str, Bool], dict[str, Arr]]:
        """The ``zero_section`` gates over every row, and per section the rows they zero."""
        gates: dict[str, Bool] = {}
        zeroed_by: dict[str, Arr] = {s: np.zeros(ctx.n, dtype=bool) for s in sections}
        for g in self.early:
            holds = g.when.evaluate_columns(ctx, env)
            assert isinstance(holds, Bool)
            gates[g.id] = holds
            zeroed_by[str(g.value)] |= holds.val & ~(ctx.nothing if holds.na is None else holds.na)
        return gates, zeroed_by

    def column(
        self, ctx: Ctx, total: Num, any_live: Arr, env: Mapping[str, Column], gates: dict[str, Bool]
    ) -> tuple[Num, Arr]:
        """Apply the gates to every row's total; ``gates`` (the early ones) receives every gate's condition.

        Returns the total after gates and the forced grade per row (``None``: none).
        """
        # No grade forced yet: a read-only view of one None (a gate that forces grades makes a real array).
        forced = np.broadcast_to(np.array(None, dtype=object), (ctx.n,))
        env_total = {**env, "total": total}
        for g in self.gates:
            if g.id in gates:
                holds = gates[g.id]
            else:
                found = g.when.evaluate_columns(ctx, env_total)
                assert isinstance(found, Bool)
                holds = gates[g.id] = found
            yes = holds.val & ~(ctx.nothing if holds.na is None else holds.na)
            if g.action == "cap_total":
                cap = Num.const(Fraction(g.value))
                over, _ = n_cmp(ctx, total, cap, ">")
                capped = n_where(ctx, yes & over & any_live, cap, total)
                total = Num(capped.num, capped.den, total.na)
            elif g.action == "force_grade":
                forced = np.where(yes & is_none(forced), str(g.value), forced)
        return total, forced


def is_none(values: Arr) -> Arr:
    """Rows of an object array that hold ``None``."""
    return np.array([v is None for v in values.tolist()], dtype=bool)
