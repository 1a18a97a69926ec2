"""Adjustments (DOMAIN §4): context rules that override one KPI's score; row and column kernels.

An adjustment applies to a scored KPI only (an excluded one is not adjusted and not recorded);
every one evaluated is recorded with its outcome (true, false or N/A); the first that holds
replaces the score and flags the KPI ``adjusted``. A strict run refuses an N/A condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from kpi_engine._columns import Arr, Bool, Column, Ctx, Num, n_where
from kpi_engine._lazy import lazy_module
from kpi_engine.expr import Value
from kpi_engine.language.model import Scorecard
from kpi_engine.plan.ops.gates import Condition

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


Scored = list[Any]  # per KPI: (value, score, flags, explanation), as the row executor holds them


class Adjustments:
    """The scorecard's adjustments, with the position of the KPI each one overrides."""

    def __init__(self, card: Scorecard) -> None:
        index = {k.id: i for i, k in enumerate(card.kpis)}
        self.rules = tuple((adj, index[adj.kpi]) for adj in card.adjustments)

    def row(self, scored: Scored, condition: Condition, subject: str, *, trace: bool) -> list[tuple[str, str, Value]]:
        """Apply to one subject's scored KPIs (in place); returns each recorded (id, kpi, outcome)."""
        recorded: list[tuple[str, str, Value]] = []
        for adj, at in self.rules:
            value, score, flags, explanation = scored[at]
            if score is None:
                continue
            holds = condition(subject, adj.when, None, None)
            recorded.append((adj.id, adj.kpi, holds))
            if holds is True and "adjusted" not in flags:
                if trace:
                    explanation["adjustment"] = {"id": adj.id, "from": score, "to": adj.score, "reason": adj.reason}
                scored[at] = (value, adj.score, [*flags, "adjusted"], explanation)
        return recorded

    def column(
        self,
        ctx: Ctx,
        scores: list[Num],
        flags: list[list[tuple[str, Arr]]],
        env: Mapping[str, Column],
        *,
        strict: bool,
    ) -> tuple[list[tuple[str, Arr, Bool]], bool]:
        """Apply to every row (``scores`` and ``flags`` per KPI, updated in place).

        Returns each adjustment's (id, rows where it is recorded, condition) and whether a strict
        run met an N/A condition on a scored KPI.
        """
        n = ctx.n
        strict_na = False
        recorded: list[tuple[str, Arr, Bool]] = []
        adjusted: dict[int, Arr] = {}
        for adj, at in self.rules:
            score = scores[at]
            present = ~score.na if score.na is not None else np.ones(n, dtype=bool)
            holds = adj.when.evaluate_columns(ctx, env)
            assert isinstance(holds, Bool)
            unknown = ctx.nothing if holds.na is None else holds.na
            if strict and (unknown & present).any():
                strict_na = True
            recorded.append((adj.id, present, holds))
            done = adjusted.setdefault(at, np.zeros(n, dtype=bool))
            apply = present & holds.val & ~unknown & ~done
            if apply.any():
                new = n_where(ctx, apply, Num.const(Fraction(adj.score)), score)
                scores[at] = Num(new.num, new.den, score.na)
                flags[at].append(("adjusted", apply & ~done))
                done |= apply
        return recorded, strict_na
