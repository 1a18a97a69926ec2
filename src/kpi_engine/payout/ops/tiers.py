"""Payout curves: step tiers, marginal tiers and interpolation between achievement levels.

One curve, two kernels side by side: the row kernel below computes one value exactly
(``Fraction``) with the slices that explain it; the column kernel (``column_*``) computes a
whole column of scaled integers with NumPy, checked against int64 overflow, and hands back the
rows it cannot prove so the row kernel computes them.

Semantics, named and never guessed:

- **step**: the whole value at the rate of the tier it falls in (``x × rate``), or that tier's
  fixed ``pay``. A year-to-date step curve pays the difference between the year so far at the new
  tier and what the year had earned before (a retroactive step).
- **marginal**: each slice of the value at its own tier's rate: ``Σ (slice in tier) × rate``.
  A year-to-date marginal curve pays this period's slice, which starts where the year so far ended.
- **interpolate**: linear between achievement levels (``at`` → ``pay``); nothing below the first
  level; flat after the last.

Tier bounds: ``from`` (≥) or ``above`` (>) below, ``to`` (<) or ``up_to`` (≤) above; the checks
make sure every value from the first bound on belongs to exactly one tier. A ``threshold`` pays
nothing below it (then the curve counts from its start); ``measure_cap`` counts the value up to it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

import attrs

from kpi_engine.payout.ops import LazyModule

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")

Arr = Any  # a NumPy array

CurveKind = Literal["step", "marginal", "interpolate"]
ZERO = Fraction(0)


@attrs.frozen
class Tier:
    """One tier of a step or marginal curve; ``None`` bounds are open."""

    index: int
    id: str
    lower: Fraction | None
    lower_open: bool  # ``above`` (>) rather than ``from`` (≥)
    upper: Fraction | None
    upper_closed: bool  # ``up_to`` (≤) rather than ``to`` (<)
    rate: Fraction | None
    pay: Fraction | None

    def contains(self, x: Fraction) -> bool:
        """Whether ``x`` falls in this tier (bounds as declared)."""
        if self.lower is not None and (x < self.lower or (self.lower_open and x == self.lower)):
            return False
        return not (self.upper is not None and (x > self.upper or (not self.upper_closed and x == self.upper)))


@attrs.frozen
class Level:
    """An achievement level of an interpolated curve."""

    at: Fraction
    pay: Fraction


@attrs.frozen
class Curve:
    """A compiled curve: kind, tiers or levels, threshold and measure cap (all exact)."""

    kind: CurveKind
    tiers: tuple[Tier, ...] = ()
    levels: tuple[Level, ...] = ()
    threshold: Fraction | None = None
    measure_cap: Fraction | None = None

    @property
    def start(self) -> Fraction:
        """Where the curve's base starts: the first tier's lower bound (or 0)."""
        first = self.tiers[0].lower if self.tiers else None
        return first if first is not None else ZERO


@attrs.frozen
class Slice:
    """A part of a computed value: ``low → high`` at ``rate`` (marginal, step) or a level pair (interpolate)."""

    tier: str
    low: Fraction
    high: Fraction
    rate: Fraction | None
    amount: Fraction
    pay: Fraction | None = None  # a step tier's fixed pay


@attrs.frozen
class Evaluation:
    """A curve's value at a point (or between two points), with the slices and notes that explain it."""

    value: Fraction
    slices: tuple[Slice, ...] = ()
    notes: tuple[str, ...] = ()
    below_threshold: bool = False
    level_low: Level | None = None
    level_high: Level | None = None
    counted: Fraction | None = None  # the value after the measure cap


# --- row kernel ---------------------------------------------------------------------------------


def tier_of(curve: Curve, x: Fraction) -> Tier | None:
    """The tier ``x`` falls in, or ``None`` when no tier holds it (below the first bound)."""
    for tier in curve.tiers:
        if tier.contains(x):
            return tier
    return None


def _marginal(curve: Curve, low: Fraction, high: Fraction) -> list[Slice]:
    """The slices of ``(low, high]`` in each tier, each at its rate (``low`` ≤ ``high``)."""
    out: list[Slice] = []
    for tier in curve.tiers:
        lo = tier.lower if tier.lower is not None else low
        hi = tier.upper if tier.upper is not None else high
        a, b = max(lo, low), min(hi, high)
        if b <= a:
            continue
        rate = tier.rate or ZERO
        out.append(Slice(tier.id, a, b, rate, (b - a) * rate))
    return out


def _step(curve: Curve, x: Fraction) -> Slice | None:
    tier = tier_of(curve, x)
    if tier is None:
        return None
    if tier.pay is not None:
        return Slice(tier.id, curve.start, x, None, tier.pay, tier.pay)
    rate = tier.rate or ZERO
    return Slice(tier.id, curve.start, x, rate, x * rate)


def _interpolate(curve: Curve, x: Fraction) -> Evaluation:
    levels = curve.levels
    if x < levels[0].at:
        return Evaluation(ZERO, below_threshold=True, level_high=levels[0], counted=x)
    for low, high in itertools.pairwise(levels):
        if low.at <= x < high.at:
            value = low.pay + (x - low.at) * (high.pay - low.pay) / (high.at - low.at)
            return Evaluation(value, level_low=low, level_high=high, counted=x)
    last = levels[-1]
    return Evaluation(last.pay, level_low=last, counted=x)


def evaluate(curve: Curve, x: Fraction) -> Evaluation:
    """The curve's value at ``x``: exact, with the slices or levels that explain it.

    A value below the threshold is worth 0; a measure cap counts ``x`` up to the cap.
    """
    counted = x if curve.measure_cap is None else min(x, curve.measure_cap)
    if curve.threshold is not None and x < curve.threshold:
        return Evaluation(ZERO, below_threshold=True, counted=counted)
    if curve.kind == "interpolate":
        return _interpolate(curve, counted)
    if curve.kind == "marginal":
        slices = _marginal(curve, curve.start, counted) if counted > curve.start else []
        return Evaluation(sum((s.amount for s in slices), ZERO), tuple(slices), counted=counted)
    step = _step(curve, counted)
    if step is None:
        return Evaluation(ZERO, counted=counted)
    return Evaluation(step.amount, (step,), counted=counted)


def between(curve: Curve, before: Fraction, after: Fraction) -> Evaluation:
    """What the curve adds from ``before`` to ``after`` (year to date: this period's part).

    Marginal: the slices of ``(before, after]``. Step and interpolate: ``f(after) − f(before)``,
    the year so far at its tier minus what it was worth before. Below the threshold at ``after``,
    nothing; crossing it pays the curve from its start.
    """
    end = evaluate(curve, after)
    if before == after:
        return Evaluation(ZERO, counted=end.counted)
    start = evaluate(curve, before)
    if curve.kind != "marginal" or end.below_threshold or start.below_threshold:
        notes = () if start.value == 0 else ("minus the year so far",)
        return Evaluation(end.value - start.value, end.slices, notes, end.below_threshold, counted=end.counted)
    low = start.counted if start.counted is not None else before
    high = end.counted if end.counted is not None else after
    slices = _marginal(curve, low, high) if high > low else []
    return Evaluation(sum((s.amount for s in slices), ZERO), tuple(slices), counted=high)


def supremum(curve: Curve) -> Fraction | None:
    """The most the curve can be worth (``None``: unbounded)."""
    if curve.kind == "interpolate":
        return max(level.pay for level in curve.levels)
    top = curve.measure_cap
    last = curve.tiers[-1]
    if top is None:
        top = last.upper
    if top is None:
        if curve.kind == "step" and last.pay is not None:
            return max((t.pay for t in curve.tiers if t.pay is not None), default=ZERO)
        return None if (last.rate or ZERO) > 0 else evaluate(curve, last.lower or ZERO).value
    return evaluate(curve, top).value


def boundary_values(curve: Curve) -> Sequence[Fraction]:
    """Every tier bound and level of the curve (where property tests put values)."""
    points: set[Fraction] = set()
    for t in curve.tiers:
        points.update(b for b in (t.lower, t.upper) if b is not None)
    points.update(level.at for level in curve.levels)
    points.update(b for b in (curve.threshold, curve.measure_cap) if b is not None)
    return sorted(points)


# --- column kernel ------------------------------------------------------------------------------
#
# Every curve is piecewise affine in its input: 0 below its start or threshold, ``x × rate`` or a
# fixed pay in a step tier, ``prefix + (x − lower) × rate`` in a marginal tier, a line between two
# levels, flat after a measure cap or the last level. The column kernel holds that form over
# integers: the input ``X`` in units of ``1 / in_scale`` (cents, or 10**-k of a ratio), the value
# in units of ``1 / out_scale`` as ``(a_i + b_i × X) / den`` on segment ``i``. The form is derived
# from the row kernel itself (two points inside each segment give its slope and intercept; each
# bound is owned by the side whose line passes through the row kernel's value there), so the
# two kernels agree by construction.


@attrs.frozen
class Piecewise:
    """A curve as integer affine pieces: ``value × out_scale = (a[i] + b[i] × X) / den``."""

    keys: tuple[int, ...]  # segment i + 1 starts at keys[i] (X >= keys[i]); segment 0 is below keys[0]
    a: tuple[int, ...]
    b: tuple[int, ...]
    den: int
    in_scale: int
    out_scale: int


def _affine(curve: Curve, lo: Fraction, hi: Fraction | None) -> tuple[Fraction, Fraction]:
    """Slope and intercept of the curve inside ``(lo, hi)`` (hi ``None``: unbounded), from two interior points."""
    step = (hi - lo) / 3 if hi is not None else Fraction(1)
    x1, x2 = lo + step, lo + 2 * step
    y1, y2 = evaluate(curve, x1).value, evaluate(curve, x2).value
    slope = (y2 - y1) / (x2 - x1)
    return slope, y1 - slope * x1


def piecewise(curve: Curve, in_scale: int, out_scale: int) -> Piecewise | None:
    """The curve's integer affine pieces for inputs in ``1 / in_scale`` units.

    ``None`` when the curve has an isolated value at a bound that neither side's line gives
    (the row kernel then computes).
    """
    points = sorted(set(boundary_values(curve)))
    if not points:
        points = [ZERO]
    lines: list[tuple[Fraction, Fraction]] = []
    edges = [None, *points]
    for i, lo in enumerate(edges):
        hi = points[i] if i < len(points) else None
        if lo is None:
            assert hi is not None
            lines.append(_affine(curve, hi - 2, hi))
        else:
            lines.append(_affine(curve, lo, hi))
    keys: list[int] = []
    for i, point in enumerate(points):
        value = evaluate(curve, point).value
        left, right = lines[i], lines[i + 1]
        right_owns = right[0] * point + right[1] == value
        left_owns = left[0] * point + left[1] == value
        scaled = point * in_scale
        if scaled.denominator != 1:  # no input unit falls on the bound: X >= ceil(bound) is the right side
            keys.append(-(-scaled.numerator // scaled.denominator))
        elif right_owns:
            keys.append(scaled.numerator)
        elif left_owns:
            keys.append(scaled.numerator + 1)
        else:
            return None  # an isolated point value: not a piecewise-affine curve with owned bounds
    # value × out = (slope × X / in + intercept) × out
    fractions = [(s * out_scale / in_scale, c * out_scale) for s, c in lines]
    den = math.lcm(*(f.denominator for pair in fractions for f in pair))
    a = tuple(int(c * den) for _, c in fractions)
    b = tuple(int(s * den) for s, _ in fractions)
    return Piecewise(tuple(keys), a, b, den, in_scale, out_scale)


def column_value(pw: Piecewise, x: Arr) -> Arr:
    """The curve at every ``x`` (integers in ``1 / in_scale``), as numerators over ``pw.den``, exactly.

    Products are checked: when ``|b| × |x|`` could pass 2**62 the column is computed over Python
    integers (``money.mul``).
    """
    from kpi_engine.payout.ops import money  # noqa: PLC0415 - one op calling another's kernel

    segment = np.searchsorted(np.asarray(pw.keys, dtype=np.int64), x, side="right")
    a = np.asarray(pw.a, dtype=object if not money.fits(max(map(abs, pw.a), default=0)) else np.int64)
    b = np.asarray(pw.b, dtype=object if not money.fits(max(map(abs, pw.b), default=0)) else np.int64)
    slope = b[segment]
    product = money.mul(slope, x)
    base = a[segment]
    wide = product.dtype == object or base.dtype == object  # noqa: PLR1714 - NumPy dtypes do not hash like object
    if wide or not money.fits(money.absmax(base) + money.absmax(product)):
        return money.widen(base) + money.widen(product)
    return base + product
