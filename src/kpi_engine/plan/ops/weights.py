"""Sections and renormalisation (DOMAIN §4): effective weights, section scores, contributions, the total.

A KPI that does not apply (N/A, excluded) drops out and the weights of the others are
renormalised: within a section, a KPI's share is its weight over the weight of the section's
KPIs that apply; a section's share is its weight over the weight of the sections that have a
score. A KPI's effective weight is the product of the two, its contribution is effective weight
× score, and the total is exactly the sum of the contributions (an auditor can add them up). A
``zero_section`` gate keeps the section's weight but sets its score and contributions to 0.

Row kernel: ``Weights.row`` on one subject's scores, with the shares of its pattern of applicable
KPIs (``Weights.pattern``, worked out once per pattern and card). Column kernel:
``Weights.column`` on every row at once, over integer weights with one common denominator.
"""

from __future__ import annotations

import operator
from decimal import Decimal, Inexact
from fractions import Fraction
from math import gcd, lcm
from typing import TYPE_CHECKING, Any

import attrs

from kpi_engine import _numbers as num
from kpi_engine._columns import Arr, Ctx, IntLike, Num, mul, n_add, n_div, n_mul, n_weighted_sum, n_where
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import EXACT, ZERO, Number, as_fraction
from kpi_engine.language.model import Scorecard

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


RowCombination = tuple[dict[str, Number | None], list[Number], Number | None]  # section scores, contributions, total


def section_flags(*, zeroed: bool, scored: bool) -> tuple[str, ...]:
    """A section's flags: ``zeroed_by_gate`` when a gate zeroed it, else ``excluded_na`` when no KPI of it applies."""
    if zeroed:
        return ("zeroed_by_gate",)
    return () if scored else ("excluded_na",)


class Pattern:
    """Effective weights for one pattern of applicable KPIs (the same for every subject with it)."""

    __slots__ = ("live", "members", "scaled", "section_share", "share_list", "shares", "wsums")

    def __init__(self, card: Scorecard, applies: tuple[bool, ...]) -> None:
        live_kpis = [k for k, ok in zip(card.kpis, applies, strict=True) if ok]
        wsums: dict[str, Number] = {}
        for section in card.sections:
            wsum = num.total([k.weight for k in live_kpis if k.section == section.id])
            if wsum != 0:
                wsums[section.id] = wsum
        swsum = num.total([s.weight for s in card.sections if s.id in wsums])
        section_share = {s.id: num.div(s.weight, swsum) for s in card.sections if s.id in wsums} if swsum else {}
        self.shares: dict[str, Number] = {
            k.id: num.mul(num.div(k.weight, wsums[k.section]), section_share.get(k.section, ZERO))
            if ok and k.section in wsums
            else ZERO
            for k, ok in zip(card.kpis, applies, strict=True)
        }
        self.wsums = wsums
        self.section_share = section_share
        self.share_list = tuple(self.shares[k.id] for k in card.kpis)
        self.live = tuple(i for i, ok in enumerate(applies) if ok)  # positions of the applicable KPIs
        # Per section: the positions of its applicable KPIs, in KPI order.
        self.members: dict[str, tuple[int, ...]] = {
            s.id: tuple(i for i, (k, ok) in enumerate(zip(card.kpis, applies, strict=True)) if ok and k.section == s.id)
            for s in card.sections
        }
        self.scaled: ScaledPattern | None = None  # built on first use, when every KPI has a scaled kernel


def _odd_part(n: int) -> int:
    """``n`` without its factors 2 and 5: a quotient ``x / n`` has a finite decimal expansion iff it divides ``x``."""
    n >>= (n & -n).bit_length() - 1
    while n % 5 == 0:
        n //= 5
    return n


_MAX_BITS = 3319  # ``_numbers``' bound: a quotient over a denominator of at most this many bits cannot underflow


class _Sum:
    """``Σ x_i / d_i`` over some KPIs' scaled scores as one integer numerator over a common denominator.

    ``multipliers[j]`` turns the ``j``-th score's integer (over its ``gamma``) into the common
    ``den``; ``odd`` is ``den``'s odd part (see ``_odd_part``), or 1 when ``den`` is so large that
    only ``_numbers``' checks may decide (every quotient then counts as terminating: exact path).
    """

    __slots__ = ("den", "multipliers", "odd", "positions")

    def __init__(self, positions: tuple[int, ...], coefficients: list[Fraction]) -> None:
        self.positions = positions
        self.den = lcm(*(c.denominator for c in coefficients), 1)
        self.multipliers = tuple(c.numerator * (self.den // c.denominator) for c in coefficients)
        self.odd = _odd_part(self.den) if self.den.bit_length() <= _MAX_BITS else 1

    def quotient(self, ints: list[int | None]) -> tuple[int, Fraction | None]:
        """The numerator over ``den``, and the quotient as a ``Fraction`` in lowest terms when it does not terminate.

        ``None`` when it terminates: the caller computes it by the exact operations (their digits).
        Bounded: scores lie in ``[0, cap]`` and shares in ``[0, 1]``, so no quotient leaves 1e±999.
        """
        top = sum(map(operator.mul, self.multipliers, [ints[i] for i in self.positions]))
        if top % self.odd:
            g = gcd(top, self.den)
            return top, num.coprime_fraction(top // g, self.den // g)
        return top, None


class ScaledPattern:
    """A pattern's effective weights as integers over the KPIs' scaled scores (``scoring.ScaledScore``).

    With every score ``S_i / gamma_i``: the total ``Σ share_i·S_i/gamma_i`` and each section's
    score ``Σ w_i·S_i/gamma_i ÷ Σ w_i`` are one integer numerator each over a denominator fixed per
    pattern (no renormalising division per subject: a pattern with an N/A KPI has its own
    constants), and each contribution ``share_i·S_i/gamma_i`` is ``S_i·a_i / b_i`` with integers.
    """

    __slots__ = ("parts", "sections", "total")

    def __init__(self, card: Scorecard, pattern: Pattern, gammas: tuple[int, ...]) -> None:
        live = pattern.live
        shares = [as_fraction(pattern.share_list[i]) for i in live]
        self.total = _Sum(live, [sh / gammas[i] for sh, i in zip(shares, live, strict=True)])
        # Per applicable KPI: its position, a_i and b_i, b_i's odd part (1: let ``ratio`` decide), and
        # its share when that is a Decimal (a product of two decimals has EXACT's digits).
        parts = []
        for sh, i in zip(shares, live, strict=True):
            b = sh.denominator * gammas[i]
            share = pattern.share_list[i]
            parts.append((i, sh.numerator, b, _odd_part(b) if b.bit_length() <= _MAX_BITS else 1,
                          share if type(share) is Decimal else None))  # fmt: skip
        self.parts = tuple(parts)
        self.sections: list[tuple[str, _Sum | None]] = []
        for section in card.sections:
            wsum = pattern.wsums.get(section.id)
            if wsum is None:
                self.sections.append((section.id, None))
                continue
            members = pattern.members[section.id]
            weights = [as_fraction(card.kpis[i].weight) / as_fraction(wsum) / gammas[i] for i in members]
            self.sections.append((section.id, _Sum(members, weights)))


@attrs.define
class ColumnCombination:
    """What ``Weights.column`` gives for every row.

    Per section: score, share, live rows, zeroed rows; per KPI: share, contribution, the rows a
    gate zeroed (or ``None``); the total before gates, and the rows where any KPI applies.
    """

    sections: dict[str, tuple[Num, Num, Arr, Arr]]
    shares: list[Num]
    contributions: list[Num]
    zeroed: list[Arr | None]
    total: Num
    any_live: Arr


class Weights:
    """The scorecard's sections and declared weights, and their two kernels.

    ``gammas``: each KPI's scaled-score denominator (``scoring.ScaledScore.gamma``) when every KPI
    has a scaled kernel, else ``None``; ``row_scaled`` combines such scores on integers.
    """

    def __init__(self, card: Scorecard, gammas: tuple[int, ...] | None = None) -> None:
        self.card = card
        self.weights = tuple(k.weight for k in card.kpis)  # declared
        self.sections_of = tuple(k.section for k in card.kpis)
        self.patterns: dict[tuple[bool, ...], Pattern] = {}
        self.gammas = gammas

    # --- row ------------------------------------------------------------------------------------

    def pattern(self, applies: tuple[bool, ...]) -> Pattern:
        """The effective weights for a pattern of applicable KPIs (computed once per pattern and card)."""
        found = self.patterns.get(applies)
        if found is None:
            found = self.patterns[applies] = Pattern(self.card, applies)
        return found

    def row(self, scores: list[Number | None], pattern: Pattern, zeroed: set[str]) -> RowCombination:
        """Section scores, KPI contributions and their total (exact) of one subject's scores.

        Decimal scores in the library's own context are combined with plain operators and kept
        when its ``Inexact`` flag stayed unset (the same digits as the exact functions); any
        other case, and any rounding, takes ``_numbers``' exact functions.
        """
        ctx = num.own_context()
        if ctx is not None and not zeroed:
            ctx.flags[Inexact] = False
            try:
                found = self._row_operators(scores, pattern)
            except (TypeError, ArithmeticError):  # a Fraction among the numbers, or a value out of range
                found = None  # the exact functions below decide (and raise what they raise)
            if found is not None and not ctx.flags[Inexact]:
                return found
            ctx.flags[Inexact] = False
        return self._row_exactly(scores, pattern, zeroed)

    def row_scaled(self, scores: list[Number | None], ints: list[int | None], pattern: Pattern) -> RowCombination:
        """``row`` for scores that a scaled kernel gave with their integers (``ints[i]``: ``S_i``, over ``gamma_i``).

        No ``zero_section`` gate applies (the caller checked). Every number is the one
        ``_row_exactly`` gives, in the same form: a sum or quotient without a finite decimal
        expansion is the ``Fraction`` in lowest terms of its integers; one with a finite expansion
        (rare when a score is a ``Fraction``) is computed by ``_row_exactly``'s own operations, so
        that its digits are theirs; a contribution is a product of two decimals (``EXACT``'s
        digits) or the settled quotient of its integers (what ``mul`` settles to).
        """
        scaled = pattern.scaled
        if scaled is None:
            assert self.gammas is not None
            scaled = pattern.scaled = ScaledPattern(self.card, pattern, self.gammas)
        section_scores: dict[str, Number | None] = {}
        for sid, part in scaled.sections:
            if part is None:
                section_scores[sid] = None
                continue
            _, quotient = part.quotient(ints)
            if quotient is None:  # a finite decimal: _row_exactly's operations, for their digits
                members = part.positions
                weighted = num.dot([self.weights[i] for i in members], [scores[i] for i in members])  # type: ignore[misc]
                section_scores[sid] = num.div(weighted, pattern.wsums[sid])
            else:
                section_scores[sid] = quotient
        contributions: list[Number] = [ZERO] * len(scores)  # an excluded KPI contributes 0
        multiply, coprime = EXACT.multiply, num.coprime_fraction
        for i, a, b, odd, share in scaled.parts:
            score = scores[i]
            if share is not None and type(score) is Decimal:
                try:
                    contributions[i] = multiply(share, score)
                    continue
                except Inexact:
                    pass
            top = a * ints[i]  # type: ignore[operator]
            if top % odd:  # no finite decimal expansion: the Fraction ``mul`` settles to (bounded, see _Sum)
                g = gcd(top, b)
                contributions[i] = coprime(top // g, b // g)
            else:
                contributions[i] = num.ratio(top, b)
        total: Number | None = None
        if pattern.wsums:
            _, quotient = scaled.total.quotient(ints)
            total = num.total(contributions) if quotient is None else quotient
        return section_scores, contributions, total

    def _row_operators(self, scores: list[Number | None], pattern: Pattern) -> RowCombination:
        weights = self.weights
        section_scores: dict[str, Number | None] = {}
        for section in self.card.sections:
            wsum = pattern.wsums.get(section.id)
            if wsum is None:
                section_scores[section.id] = None
                continue
            members = pattern.members[section.id]
            if len(members) == len(scores):
                weighted = sum(map(operator.mul, weights, scores), ZERO)
            else:
                weighted = sum(map(operator.mul, [weights[i] for i in members], [scores[i] for i in members]), ZERO)
            section_scores[section.id] = weighted / wsum  # type: ignore[operator]  # TypeError: the exact path
        counted = pattern.live
        if len(counted) == len(scores):
            contributions: list[Number] = list(map(operator.mul, pattern.share_list, scores))
        else:
            contributions = [ZERO] * len(scores)  # an excluded KPI contributes 0
            shares = pattern.share_list
            for i in counted:
                contributions[i] = shares[i] * scores[i]  # type: ignore[operator]
        total = sum(contributions, ZERO) if pattern.wsums else None  # ``num.total``: from 0, in order
        return section_scores, contributions, total

    def _row_exactly(self, scores: list[Number | None], pattern: Pattern, zeroed: set[str]) -> RowCombination:
        section_scores: dict[str, Number | None] = {}
        for section in self.card.sections:
            wsum = pattern.wsums.get(section.id)
            if wsum is None:
                section_scores[section.id] = None
                continue
            members = pattern.members[section.id]
            weighted = num.dot([self.weights[i] for i in members], [scores[i] for i in members])  # type: ignore[misc]
            section_scores[section.id] = ZERO if section.id in zeroed else num.div(weighted, wsum)
        shares = pattern.share_list
        counted = pattern.live
        if zeroed:
            counted = tuple(i for i in counted if self.sections_of[i] not in zeroed)
        contributions: list[Number] = [ZERO] * len(scores)  # an excluded or zeroed KPI contributes 0
        parts = num.products([shares[i] for i in counted], [scores[i] for i in counted])  # type: ignore[misc]
        for i, part in zip(counted, parts, strict=True):
            contributions[i] = part
        # A section with applicable KPIs has a score; with none, there is no total.
        return section_scores, contributions, num.total(contributions) if pattern.wsums else None

    # --- column ---------------------------------------------------------------------------------

    def column(self, ctx: Ctx, scores: list[Num], zeroed_by: dict[str, Arr]) -> ColumnCombination:
        """The same over every row: integer weights over one common denominator, exact shares.

        Weight sums stay Python integers while every KPI applies to every row (the common case):
        then shares are constants and every division is by a constant; any N/A falls back to the
        per-row renormalisation.
        """
        card, n = self.card, ctx.n
        zero = Num.const(Fraction(0))
        position = {k.id: i for i, k in enumerate(card.kpis)}
        wden = lcm(*(Fraction(k.weight).denominator for k in card.kpis), 1)
        sden = lcm(*(Fraction(s.weight).denominator for s in card.sections), 1)
        sections: dict[str, tuple[Num, Num, Arr, Arr]] = {}
        section_sum: dict[str, Num] = {}
        wsums: dict[str, IntLike] = {}
        swsum: IntLike = 0
        for s in card.sections:
            members = [k for k in card.kpis if k.section == s.id]
            wsum: IntLike = 0
            total_w: Num = zero
            terms = [(int(Fraction(k.weight) * wden), scores[position[k.id]]) for k in members]
            summed = n_weighted_sum(ctx, terms) if all(sc.na is None for _, sc in terms) else None
            if summed is not None:  # every KPI applies to every row: Σ w·score in place, in one accumulator
                wsum, total_w, members = sum(w for w, _ in terms), summed, []
            for k in members:
                w = int(Fraction(k.weight) * wden)
                sc = scores[position[k.id]]
                if sc.na is None:
                    wsum = wsum + w
                    part = n_mul(ctx, Num(w, 1, None), Num(sc.num, sc.den, None, sc.hi))
                else:
                    present = ~sc.na
                    wsum = wsum + np.where(present, w, 0)
                    part = n_mul(ctx, Num(w, 1, None), Num(np.where(present, sc.num, 0), sc.den, None, sc.hi))
                total_w = n_add(ctx, total_w, part)
            live = np.full(n, wsum > 0) if isinstance(wsum, int) else wsum > 0
            wsums[s.id] = wsum
            section_sum[s.id] = total_w
            sw = int(Fraction(s.weight) * sden)
            swsum = swsum + ((sw if wsum > 0 else 0) if isinstance(wsum, int) else np.where(live, sw, 0))
            safe = (wsum or 1) if isinstance(wsum, int) else np.where(live, wsum, 1)
            raw = n_div(ctx, total_w, Num(safe, 1, None))
            zeroed = zeroed_by[s.id]
            score = n_where(ctx, zeroed, zero, raw) if zeroed.any() else raw
            sections[s.id] = (Num(score.num, score.den, None if live.all() else ~live, score.hi), zero, live, zeroed)
        any_live = np.full(n, swsum > 0) if isinstance(swsum, int) else swsum > 0
        safe_sw = (swsum or 1) if isinstance(swsum, int) else np.where(any_live, swsum, 1)
        total: Num = zero
        shares: list[Any] = [None] * len(card.kpis)
        contributions: list[Any] = [None] * len(card.kpis)
        zeroed_rows: list[Arr | None] = [None] * len(card.kpis)
        for s in card.sections:
            score, _, live, zeroed = sections[s.id]
            sw = int(Fraction(s.weight) * sden)
            all_live = isinstance(wsums[s.id], int)  # every row of this section has a KPI that applies (or none has)
            share_num: IntLike = (sw if live[0] else 0) if all_live else np.where(live, sw, 0)
            share = Num(share_num, safe_sw, None).reduced()
            sections[s.id] = (score, share, live, zeroed)
            wsum_s: IntLike = (wsums[s.id] or 1) if all_live else np.where(live, wsums[s.id], 1)
            # contribution of the section = sw/swsum × Σ w·score / wsum
            any_zeroed = bool(zeroed.any())
            counted_sw: IntLike = share_num if not any_zeroed else np.where(live & ~zeroed, sw, 0)
            scale = mul(ctx, wsum_s, safe_sw)
            part = n_div(ctx, n_mul(ctx, Num(counted_sw, 1, None), section_sum[s.id]), Num(scale, 1, None))
            total = n_add(ctx, total, part)
            for k in card.kpis:
                if k.section != s.id:
                    continue
                i = position[k.id]
                sc = scores[i]
                w = int(Fraction(k.weight) * wden)
                if sc.na is None and all_live and isinstance(scale, int):
                    kshare = Num.const(Fraction(w * sw if live[0] else 0, scale))  # lowest terms: often 1/k
                else:
                    present = ~sc.na if sc.na is not None else np.ones(n, dtype=bool)
                    kshare = n_div(ctx, Num(np.where(present & live, w * sw, 0), 1, None), Num(scale, 1, None))
                shares[i] = kshare
                if sc.na is None and not any_zeroed:
                    counted = Num(sc.num, sc.den, None, sc.hi)
                else:
                    keep = (~sc.na if sc.na is not None else np.ones(n, dtype=bool)) & ~zeroed
                    counted = Num(np.where(keep, sc.num, 0), sc.den, None, sc.hi)
                contributions[i] = n_mul(ctx, kshare, counted)
                if any_zeroed:
                    zeroed_rows[i] = zeroed
        total = Num(total.num, total.den, None if any_live.all() else ~any_live, total.hi)
        return ColumnCombination(sections, shares, contributions, zeroed_rows, total, any_live)
