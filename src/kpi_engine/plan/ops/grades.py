"""Grades (DOMAIN §4): bands over the exact total, highest first; a forced grade wins; row and column kernels.

The first band (in the ruleset's order) whose ``min`` the total reaches gives the grade and its
bonus multiplier; the last band may omit ``min``. A subject without a total has no grade unless
a ``force_grade`` gate forced one, whose bonus multiplier is the forced band's.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from kpi_engine._columns import Arr, Ctx, Num, n_cmp
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import Number
from kpi_engine.language.model import Scorecard
from kpi_engine.plan.ops.gates import is_none

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


class Grades:
    """The grade bands and their two kernels."""

    def __init__(self, card: Scorecard) -> None:
        self.bands = card.grades
        self.rows = tuple((g.min, g.grade, g.bonus_multiplier) for g in card.grades)
        self.bonus_of = {g.grade: g.bonus_multiplier for g in card.grades}
        self.forcing = any(g.action == "force_grade" for g in card.gates)
        # The bounds as integer ratios: a Fraction total is compared on integers (``n·q ≥ p·d``).
        self.ratios = tuple(
            (None if g.min is None else Fraction(g.min).as_integer_ratio(), g.grade, g.bonus_multiplier)
            for g in card.grades
        )

    def row(self, total: Number | None, forced: str | None) -> tuple[str | None, Decimal | None]:
        """One subject's grade and bonus multiplier."""
        grade, bonus = None, None
        if type(total) is Fraction:  # the same comparisons as below, on the integers of both sides
            n, d = total.numerator, total.denominator
            for ratio, name, multiplier in self.ratios:
                if ratio is None or n * ratio[1] >= ratio[0] * d:
                    grade, bonus = name, multiplier
                    break
        elif total is not None:
            for least, name, multiplier in self.rows:
                if least is None or total >= least:
                    grade, bonus = name, multiplier
                    break
        if forced is not None:
            grade = forced
            bonus = next((g.bonus_multiplier for g in self.bands if g.grade == forced), None)
        return grade, bonus

    def column(self, ctx: Ctx, total: Num, forced: Arr) -> tuple[Arr, Arr]:
        """Grade and bonus multiplier per row (object arrays), decided on the exact total."""
        n = ctx.n
        bands = self.bands
        # The first band (in the ruleset's order) whose bound the total reaches; len(bands): none.
        # Compared in a context of its own: a bound × a large denominator may leave int64, and then
        # every comparison is made again over Python integers (the run's rerun is already behind us).
        trial = ctx if ctx.exact else Ctx(n)
        code = np.full(n, len(bands), dtype=np.intp)
        for i in reversed(range(len(bands))):
            g = bands[i]
            if g.min is None:
                code[:] = i
            else:
                code[n_cmp(trial, total, Num.const(Fraction(g.min)), ">=")[0]] = i
        if trial.bad.any():
            return self.column(Ctx(n, exact=True), total, forced)
        if total.na is not None:
            code[total.na] = len(bands)
        names = np.empty(len(bands) + 1, dtype=object)
        multipliers = np.empty(len(bands) + 1, dtype=object)
        for i, g in enumerate(bands):
            names[i] = g.grade
            multipliers[i] = g.bonus_multiplier
        grade = names[code]
        bonus = multipliers[code]
        if self.forcing:
            has_forced = ~is_none(forced)
            if has_forced.any():
                grade = np.where(has_forced, forced, grade)
                for row in np.flatnonzero(has_forced).tolist():
                    bonus[row] = self.bonus_of.get(forced[row])
        return grade, bonus
