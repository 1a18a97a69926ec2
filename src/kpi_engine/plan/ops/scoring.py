"""Scoring (DOMAIN §4): each method's row kernel and column kernel side by side, and a KPI's N/A policy.

Per method, in this order: the plain row function (the statement of the rule, over exact
``Number``s), its compiled row form (constants worked out once per KPI, so that the hot loop
pays for the value only: the same ``Number`` with the same digits), and its column kernel over
exact columns (``_columns``). ``rule`` gives the sentence a trace shows for the same computation;
it is only called when a trace is asked for. A value of ``None`` (N/A) never reaches a method:
``KpiOp`` applies ``on_missing`` first, for a row (``KpiOp.row``) and for a column
(``KpiOp.column``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, Inexact
from fractions import Fraction
from math import gcd, lcm
from typing import TYPE_CHECKING

from kpi_engine import _numbers as num
from kpi_engine._columns import Arr, Column, Ctx, Num, n_add, n_affine, n_clip, n_cmp, n_div, n_mul, n_where, na_or
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import EXACT, HUNDRED, ZERO, Number, as_fraction, canonical, settle
from kpi_engine.expr import Value
from kpi_engine.language.model import Band, Kpi

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


Scorer = Callable[[Number], Number]
ColumnFlags = list[tuple[str, "Arr"]]  # flag name and the rows it applies to, in the row path's order


# --- shared helpers -----------------------------------------------------------------------------


def _c(value: Number) -> str:
    return f"({canonical(value)})" if value < 0 else canonical(value)


def clip(score: Number, cap: Decimal) -> Number:
    """Clip a score to ``[0, cap]`` (exact comparisons)."""
    if score < 0:
        return ZERO
    return min(score, cap)


def _ratio(a: Number, b: Number) -> Number:
    """``100 × a / b`` exactly (``b`` is never 0: the checks forbid target = floor)."""
    return num.div(num.mul(HUNDRED, a), b)


# The compiled row forms below do the arithmetic of the plain functions with the constants
# worked out once per KPI (the divisor of a linear score, whether a division by it can be exact).
# Each returns exactly the ``Number`` its plain function returns: same value, and a ``Decimal``
# with the same digits (the same exact operations, in the same order).


def _odd_part(n: int) -> int:
    """``n`` without its factors 2 and 5: 1 exactly when ``1 / n`` has a finite decimal expansion."""
    n >>= (n & -n).bit_length() - 1
    while n % 5 == 0:
        n //= 5
    return n


def ratio_by(b: Number) -> Scorer:
    """``a ↦ 100 × a / b`` for a constant non-zero ``b``: the value of ``_ratio(a, b)``, faster.

    ``100 / b`` is a fraction ``p / q`` in lowest terms. A decimal ``a`` is ``n / 2**i 5**j``, so
    ``100 × a / b`` has a finite decimal expansion exactly when the part of ``q`` prime to 10
    divides ``n``. When it does not, the quotient is built as a ``Fraction`` at once (the form
    ``_ratio`` reaches after a trapped ``Inexact``); otherwise the exact decimal division runs,
    as in ``_ratio``, which also handles whatever else is rare (a ``Fraction`` ``a``, more than
    34 digits).
    """
    if not b:
        return lambda a: _ratio(a, b)  # refused by the checks; divides by zero where ``_ratio`` would
    k = as_fraction(HUNDRED) / as_fraction(b)
    odd = _odd_part(k.denominator)
    p, q = k.numerator, k.denominator
    multiply, divide = EXACT.multiply, EXACT.divide

    def ratio(a: Number) -> Number:
        if type(a) is Decimal:
            if odd != 1:
                n, d = a.as_integer_ratio()
                if n % odd:  # no finite decimal expansion: exactly a Fraction
                    return settle(Fraction(n * p, d * q))
            try:
                return divide(multiply(HUNDRED, a), b)  # type: ignore[arg-type]  # a Fraction b raises TypeError
            except (Inexact, TypeError):
                pass
        return _ratio(a, b)

    return ratio


def _clipped(raw: Scorer, cap: Decimal) -> Scorer:
    def score(v: Number) -> Number:
        r = raw(v)
        if r < 0:
            return ZERO
        return min(r, cap)

    return score


def _terminating(d: Number) -> bool:
    """``100 / d`` has a finite decimal expansion (every ``100 × a / d`` of a decimal ``a`` then has one)."""
    if type(d) is not Decimal or not d:
        return False
    return _odd_part((as_fraction(HUNDRED) / as_fraction(d)).denominator) == 1


def _const(value: Decimal | str | Fraction | int) -> Num:

    return Num.const(Fraction(value))


def _ratio_column(ctx: Ctx, a: Num, b: Num) -> Num:
    """``100 × a / b`` over columns (the column form of ``_ratio``)."""
    return n_mul(ctx, _const(100), n_div(ctx, a, b))


# --- threshold: pass → pass_score, fail → fail_score ----------------------------------------------


def _passes(kpi: Kpi, v: Number) -> bool:
    t = kpi.target
    if kpi.direction == "range":
        return t[0] < v < t[1] if kpi.strict else t[0] <= v <= t[1]
    if kpi.direction == "higher":
        return v > t[0] if kpi.strict else v >= t[0]
    return v < t[0] if kpi.strict else v <= t[0]


def threshold(kpi: Kpi, v: Number) -> Number:
    """Pass → ``pass_score``, fail → ``fail_score``; the bound passes unless ``strict``."""
    return kpi.pass_score if _passes(kpi, v) else kpi.fail_score


def _threshold_scorer(kpi: Kpi) -> Scorer:
    t, passed, failed = kpi.target, kpi.pass_score, kpi.fail_score
    if kpi.direction == "range":
        return lambda v: threshold(kpi, v)
    bound = t[0]
    if kpi.direction == "higher":
        if kpi.strict:
            return lambda v: passed if v > bound else failed
        return lambda v: passed if v >= bound else failed
    if kpi.strict:
        return lambda v: passed if v < bound else failed
    return lambda v: passed if v <= bound else failed


def threshold_column(ctx: Ctx, kpi: Kpi, v: Num) -> Num:
    """``threshold`` over a column: pass and fail scores by exact comparisons with the bound."""
    t = [_const(x) for x in kpi.target]
    if kpi.direction == "range":
        lo, _ = n_cmp(ctx, t[0], v, "<" if kpi.strict else "<=")
        hi, _ = n_cmp(ctx, v, t[1], "<" if kpi.strict else "<=")
        ok = lo & hi
    elif kpi.direction == "higher":
        ok = n_cmp(ctx, v, t[0], ">" if kpi.strict else ">=")[0]
    else:
        ok = n_cmp(ctx, v, t[0], "<" if kpi.strict else "<=")[0]
    out = n_where(ctx, ok, _const(kpi.pass_score), _const(kpi.fail_score))
    return Num(out.num, out.den, v.na)


# --- linear: 100 × (v − floor) / (target − floor), clipped ----------------------------------------


def linear(kpi: Kpi, v: Number) -> Number:
    """``100 × (v − floor) / (target − floor)`` (mirrored for lower), clipped to ``[0, cap]``."""
    t, f = kpi.target, kpi.floor
    raw: Number
    if kpi.direction == "higher":
        raw = _ratio(num.sub(v, f[0]), num.sub(t[0], f[0]))
    elif kpi.direction == "lower":
        raw = _ratio(num.sub(f[0], v), num.sub(f[0], t[0]))
    elif v < t[0]:
        raw = _ratio(num.sub(v, f[0]), num.sub(t[0], f[0]))
    elif v > t[1]:
        raw = _ratio(num.sub(f[1], v), num.sub(f[1], t[1]))
    else:
        raw = HUNDRED
    return clip(raw, kpi.cap)


def _one_side(start: Decimal, d: Number, cap: Decimal, *, rising: bool) -> Scorer:
    """``clip(_ratio(v − start, d))`` (``rising``) or ``clip(_ratio(start − v, d))``, in one call.

    The common case (a decimal value, no rounding) runs the operations of ``num.sub`` and
    ``ratio_by`` inline; anything else takes their general forms, which give the same number.
    """
    ratio = ratio_by(d)
    sub = num.sub

    def general(v: Number) -> Number:
        r = ratio(sub(v, start) if rising else sub(start, v))
        if r < 0:
            return ZERO
        return min(r, cap)

    if type(d) is not Decimal or not d:
        return general
    k = as_fraction(HUNDRED) / as_fraction(d)
    odd, p, q = _odd_part(k.denominator), k.numerator, k.denominator
    subtract, multiply, divide = EXACT.subtract, EXACT.multiply, EXACT.divide

    def score(v: Number) -> Number:
        if type(v) is not Decimal:
            return general(v)
        try:
            a = subtract(v, start) if rising else subtract(start, v)
            if odd != 1:
                n, den = a.as_integer_ratio()
                if n % odd:  # no finite decimal expansion: exactly a Fraction (see ``ratio_by``)
                    r: Number = settle(Fraction(n * p, den * q))
                else:
                    r = divide(multiply(HUNDRED, a), d)
            else:
                r = divide(multiply(HUNDRED, a), d)
        except Inexact:
            return general(v)
        if r < 0:
            return ZERO
        return min(r, cap)

    return score


def _linear_scorer(kpi: Kpi) -> Scorer:
    t, f = kpi.target, kpi.floor
    if kpi.direction == "higher":
        return _one_side(f[0], num.sub(t[0], f[0]), kpi.cap, rising=True)
    if kpi.direction == "lower":
        return _one_side(f[0], num.sub(f[0], t[0]), kpi.cap, rising=False)
    sub = num.sub
    below, above = ratio_by(num.sub(t[0], f[0])), ratio_by(num.sub(f[1], t[1]))
    low, high, f0, f1 = t[0], t[1], f[0], f[1]

    def ranged(v: Number) -> Number:
        if v < low:
            return below(sub(v, f0))
        if v > high:
            return above(sub(f1, v))
        return HUNDRED

    return _clipped(ranged, kpi.cap)


_ONE_TUPLE = Decimal(1).as_tuple()  # sign 0, digits (1,), exponent 0: ``Decimal("1")`` exactly


def _operators(start: Decimal, d: Decimal, cap: Decimal, *, rising: bool) -> Callable[[Decimal], Number]:
    """``clip(100 × (v − start) / d)`` (or ``start − v``) with the operators of the current context."""
    if d.as_tuple() == _ONE_TUPLE:  # ``x / 1`` (exponent 0) is ``x``, digits and exponent: no division
        if rising:

            def up_by_one(v: Decimal) -> Number:
                r = HUNDRED * (v - start)
                if r < 0:
                    return ZERO
                return cap if cap < r else r  # noqa: FURB136 - min(r, cap) without the call

            return up_by_one

        def down_by_one(v: Decimal) -> Number:
            r = HUNDRED * (start - v)
            if r < 0:
                return ZERO
            return cap if cap < r else r  # noqa: FURB136 - min(r, cap) without the call

        return down_by_one
    if rising:

        def up(v: Decimal) -> Number:
            r = HUNDRED * (v - start) / d
            if r < 0:
                return ZERO
            return cap if cap < r else r  # noqa: FURB136 - min(r, cap) without the call

        return up

    def down(v: Decimal) -> Number:
        r = HUNDRED * (start - v) / d
        if r < 0:
            return ZERO
        return cap if cap < r else r  # noqa: FURB136 - min(r, cap) without the call

    return down


def linear_column(ctx: Ctx, kpi: Kpi, v: Num) -> Num:
    """``linear`` over a column; one-sided, it is the affine map ``k·v + c`` with compile-time constants."""
    cap = Fraction(kpi.cap)
    kc = affine(kpi)
    if kc is not None:
        out = n_affine(ctx, v, kc[0], kc[1], (Fraction(0), cap))
        return Num(out.num, out.den, v.na, out.hi)
    t = [_const(x) for x in kpi.target]
    f = [_const(x) for x in kpi.floor]
    if kpi.direction == "higher":
        raw = _ratio_column(ctx, n_add(ctx, v, f[0], -1), n_add(ctx, t[0], f[0], -1))
    elif kpi.direction == "lower":
        raw = _ratio_column(ctx, n_add(ctx, f[0], v, -1), n_add(ctx, f[0], t[0], -1))
    else:
        below = _ratio_column(ctx, n_add(ctx, v, f[0], -1), n_add(ctx, t[0], f[0], -1))
        above = _ratio_column(ctx, n_add(ctx, f[1], v, -1), n_add(ctx, f[1], t[1], -1))
        is_below, _ = n_cmp(ctx, v, t[0], "<")
        is_above, _ = n_cmp(ctx, v, t[1], ">")
        raw = n_where(ctx, is_above, above, _const(100))
        raw = n_where(ctx, is_below, below, raw)
    out = n_clip(ctx, raw, Fraction(0), cap)
    return Num(out.num, out.den, v.na, out.hi)


# --- attainment: 100 × v / target, clipped --------------------------------------------------------


def attainment(kpi: Kpi, v: Number) -> Number:
    """``100 × v / target`` (``100 × target / v`` for lower-is-better), clipped to ``[0, cap]``."""
    t = kpi.target[0]
    if kpi.direction == "lower":
        return kpi.cap if v <= 0 else clip(_ratio(t, v), kpi.cap)
    return clip(_ratio(v, t), kpi.cap)


def attainment_column(ctx: Ctx, kpi: Kpi, v: Num) -> Num:
    """``attainment`` over a column; higher-is-better is the affine map ``(100 / target)·v``."""
    cap = Fraction(kpi.cap)
    t = _const(kpi.target[0])
    if kpi.direction == "lower":
        nonpos, _ = n_cmp(ctx, v, _const(0), "<=")
        safe = n_where(ctx, nonpos, _const(1), v)
        out = n_where(ctx, nonpos, Num.const(cap), n_clip(ctx, _ratio_column(ctx, t, safe), Fraction(0), cap))
    elif (kc := affine(kpi)) is not None:
        out = n_affine(ctx, v, kc[0], kc[1], (Fraction(0), cap))
    else:
        out = n_clip(ctx, _ratio_column(ctx, v, t), Fraction(0), cap)
    return Num(out.num, out.den, v.na, out.hi)


# --- the affine methods on scaled integers: one form for the row and the column kernels --------


def affine(kpi: Kpi) -> tuple[Fraction, Fraction] | None:
    """The score before clipping as the affine map ``k·v + c`` of the value, when it is one.

    One-sided linear: ``100·(v − floor)/(target − floor)`` (lower-is-better is the same formula:
    both differences change sign); higher-is-better attainment: ``100·v/target``. ``None`` for
    the other methods and directions (and a divisor of 0, which the checks refuse anyway).
    """
    if kpi.method == "linear" and kpi.direction in {"higher", "lower"} and kpi.target[0] != kpi.floor[0]:
        k = 100 / (Fraction(kpi.target[0]) - Fraction(kpi.floor[0]))
        return k, -k * Fraction(kpi.floor[0])
    if kpi.method == "attainment" and kpi.direction == "higher" and kpi.target[0] != 0:
        return 100 / Fraction(kpi.target[0]), Fraction(0)
    return None


SCALE = 6  # decimals a value may have for the scaled row kernel (values with more: the exact scorer)
_VALUE_LIMIT = 10**100  # |value| below it: the exact scorer can neither overflow nor underflow (1e±999)


def _denominators(scale: int) -> dict[int, int]:
    """``{d: 10**scale // d}`` for each ``d = 2**i · 5**j`` dividing ``10**scale`` (a decimal's reduced denominator)."""
    return {2**i * 5**j: 10**scale // (2**i * 5**j) for i in range(scale + 1) for j in range(scale + 1)}


class ScaledScore:
    """A KPI's row kernel on scaled integers: ``score = S / gamma`` with ``S`` a Python integer.

    **Affine methods** (``affine``): a decimal value ``v`` with at most ``scale`` decimals is
    ``N / 10**scale`` for an integer ``N``, so the unclipped score ``k·v + c`` is
    ``(alpha·N + beta) / gamma`` with integers fixed once per KPI (the column kernel's
    ``n_affine`` derives the same constants for a whole column), and clipping to ``[0, cap]`` is
    two integer comparisons with ``0`` and ``cap·gamma``. Integers do not overflow; ``|v| < 1e100``
    bounds the unclipped score far inside the exact range, so the exact scorer would not signal
    ``Overflow`` either. The score itself is the number the exact scorer gives, built without its
    ``Fraction`` arithmetic: ``ZERO`` below the clip, the KPI's ``cap`` above it, a ``Fraction`` in
    lowest terms when ``S / gamma`` has no finite decimal expansion (the odd part of ``gamma`` does
    not divide ``S``: what the scorer would ``settle`` to), and otherwise the decimal that the
    operator form computes (the caller checks its context's ``Inexact`` flag, as for every
    operator form, so the digits are the exact scorer's).

    **Threshold**: the score is the pass or fail score (the compiled scorer's comparison), and
    ``S`` the matching integer over ``gamma`` (the common denominator of the two scores).

    ``row(v)`` gives ``(S, score)``, or ``None`` when the value is not for this kernel (not a
    ``Decimal``, more decimals than ``scale``, ``|v| ≥ 1e100``): the caller then runs the exact path.
    """

    __slots__ = ("alpha", "beta", "cap", "decimal", "gamma", "high", "odd", "row", "units")

    def __init__(self, kpi: Kpi, scorer: Scorer) -> None:
        self.cap = kpi.cap
        kc = affine(kpi)
        if kc is None:  # threshold: the caller checked the method
            passed, failed = kpi.pass_score, kpi.fail_score
            self.gamma = lcm(Fraction(passed).denominator, Fraction(failed).denominator)
            s_pass, s_fail = int(Fraction(passed) * self.gamma), int(Fraction(failed) * self.gamma)

            def threshold_row(v: Number) -> tuple[int, Number] | None:
                score = scorer(v)
                return (s_pass if score is passed else s_fail), score

            self.row = threshold_row
            return
        scale = max(SCALE, *(_places(x) for x in (*kpi.floor[:1], kpi.target[0])))
        k, c = kc
        kd = k / 10**scale
        self.gamma = gamma = lcm(kd.denominator, c.denominator, Fraction(kpi.cap).denominator)
        self.alpha = alpha = kd.numerator * (gamma // kd.denominator)
        self.beta = beta = c.numerator * (gamma // c.denominator)
        self.high = high = int(Fraction(kpi.cap) * gamma)
        self.odd = odd = _odd_part(gamma)
        self.units = units = _denominators(scale)
        decimal = compile_operators(kpi, any_divisor=True)
        assert decimal is not None  # an affine method always has an operator form
        self.decimal = decimal
        limit = _VALUE_LIMIT * 10**scale
        cap = kpi.cap
        coprime = num.coprime_fraction

        def affine_row(v: Number) -> tuple[int, Number] | None:
            if type(v) is not Decimal:
                return None
            n, d = v.as_integer_ratio()
            m = units.get(d)
            if m is None:
                return None
            n *= m
            if not -limit < n < limit:
                return None
            s = alpha * n + beta
            if s < 0:
                return 0, ZERO
            if s > high:
                return high, cap
            if s % odd:  # no finite decimal expansion: the Fraction the scorer settles to
                g = gcd(s, gamma)
                return s, coprime(s // g, gamma // g)
            return s, decimal(v)  # a finite decimal: the operator form's digits (Inexact checked by the caller)

        self.row = affine_row

    @classmethod
    def of(cls, kpi: Kpi, scorer: Scorer | None) -> ScaledScore | None:
        """The kernel of ``kpi``, or ``None`` where it has none (bands, expression, range, attainment lower)."""
        if scorer is None:
            return None
        if affine(kpi) is None and not (kpi.method == "threshold" and kpi.direction != "range"):
            return None
        return cls(kpi, scorer)


def _places(x: Decimal) -> int:
    """The decimals of ``x`` as written (``0`` for a whole number)."""
    exponent = x.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


# --- bands: the first row with min ≤ v < max ------------------------------------------------------


def band(kpi: Kpi, v: Number) -> Band | None:
    """The first band with ``min ≤ v < max``, or ``None``."""
    for b in kpi.bands:
        if (b.min is None or v >= b.min) and (b.max is None or v < b.max):
            return b
    return None


def bands(kpi: Kpi, v: Number) -> Number:
    """The first matching band's score; no band gives ``fail_score``."""
    matched = band(kpi, v)
    return kpi.fail_score if matched is None else matched.score


def bands_column(ctx: Ctx, kpi: Kpi, v: Num) -> tuple[Num, ColumnFlags, list[str | None]]:
    """``bands`` over a column: the first matching band per row, its id, and ``no_band_matched``."""
    out = _const(kpi.fail_score)
    matched = np.zeros(ctx.n, dtype=bool)
    band_ids = np.full(ctx.n, None, dtype=object)
    for b in reversed(kpi.bands):  # the first band that matches wins: it is written last
        hit = np.ones(ctx.n, dtype=bool)
        if b.min is not None:
            hit &= n_cmp(ctx, v, _const(b.min), ">=")[0]
        if b.max is not None:
            hit &= n_cmp(ctx, v, _const(b.max), "<")[0]
        out = n_where(ctx, hit, _const(b.score), out)
        band_ids = np.where(hit, b.id, band_ids)
        matched |= hit
    known = ~v.na if v.na is not None else np.ones(ctx.n, dtype=bool)
    return Num(out.num, out.den, v.na), [("no_band_matched", ~matched & known)], list(band_ids)


# --- expression: a score expression over metrics and value ----------------------------------------


def expression(kpi: Kpi, v: Number, env: Mapping[str, Value]) -> Number | None:
    """The KPI's score expression over metrics and ``value``, clipped to ``[0, cap]``; N/A stays N/A."""
    assert kpi.score_expr is not None
    result = kpi.score_expr.evaluate({**env, "value": v})
    if result is None:
        return None
    assert num.is_number(result)
    return clip(result, kpi.cap)


def expression_column(ctx: Ctx, kpi: Kpi, v: Num, env: Mapping[str, Column]) -> tuple[Num, ColumnFlags]:
    """``expression`` over columns, clipped; a row whose expression is N/A is flagged ``excluded_na``."""
    assert kpi.score_expr is not None
    result = kpi.score_expr.evaluate_columns(ctx, {**env, "value": v})
    assert isinstance(result, Num)
    clipped = n_clip(ctx, result, Fraction(0), Fraction(kpi.cap))
    na = na_or(v.na, result.na)
    nothing = np.zeros(ctx.n, dtype=bool)
    expr_na = (nothing if result.na is None else result.na) & ~(nothing if v.na is None else v.na)
    return Num(clipped.num, clipped.den, na), [("excluded_na", expr_na)]


# --- a KPI's method: compiled row forms, dispatch, the trace's sentence ---------------------------


def compile_operators(kpi: Kpi, *, any_divisor: bool = False) -> Callable[[Decimal], Number] | None:
    """The KPI's compiled scorer written with plain operators, for a decimal value, or ``None``.

    Only for the methods whose arithmetic is a subtraction, a product and a division by a
    constant with a finite decimal quotient (``_terminating``). The caller runs it in the
    library's own context (``_numbers.own_context``) and takes its result only if that
    context's ``Inexact`` flag stayed unset: then every operation was exact and gave the digits
    the ``EXACT`` operations of ``compile_scorer`` give (same precision, range and rounding).
    With ``any_divisor``, also for a divisor whose quotients may have no finite expansion: for
    a caller that calls it only for values whose score has one (``ScaledScore``).
    """
    t, f = kpi.target, kpi.floor
    if kpi.method == "linear" and kpi.direction in {"higher", "lower"}:
        rising = kpi.direction == "higher"
        d = num.sub(t[0], f[0]) if rising else num.sub(f[0], t[0])
        if _terminating(d) or (any_divisor and type(d) is Decimal and d):
            return _operators(f[0], d, kpi.cap, rising=rising)  # type: ignore[arg-type]  # a Decimal
    if kpi.method == "attainment" and kpi.direction == "higher" and (_terminating(t[0]) or (any_divisor and t[0])):
        target, cap = t[0], kpi.cap

        def attained(v: Decimal) -> Number:
            r = HUNDRED * v / target
            if r < 0:
                return ZERO
            return cap if cap < r else r  # noqa: FURB136 - min(r, cap) without the call

        return attained
    return None


def compile_scorer(kpi: Kpi) -> Scorer | None:
    """The score of ``kpi`` as a function of its value, constants precomputed (same numbers as ``score``).

    ``None`` for the methods that read more than the value (``expression``) or report more
    than a number (``bands``): the evaluator calls ``score`` / ``band`` for those.
    """
    if kpi.method == "linear":
        return _linear_scorer(kpi)
    if kpi.method == "threshold":
        return _threshold_scorer(kpi)
    if kpi.method == "attainment":
        if kpi.direction == "lower":
            return lambda v: attainment(kpi, v)
        return _clipped(ratio_by(kpi.target[0]), kpi.cap)
    return None


def score(kpi: Kpi, v: Number, env: Mapping[str, Value]) -> Number | None:
    """The score of ``kpi`` for value ``v`` by its method (``env``: metrics an expression reads)."""
    method = kpi.method
    if method == "threshold":
        return threshold(kpi, v)
    if method == "linear":
        return linear(kpi, v)
    if method == "attainment":
        return attainment(kpi, v)
    if method == "bands":
        return bands(kpi, v)
    return expression(kpi, v, env)


def score_column(
    ctx: Ctx, kpi: Kpi, v: Num, env: Mapping[str, Column]
) -> tuple[Num, ColumnFlags, list[str | None] | None]:
    """The column form of ``score``: the scores (N/A where excluded), extra flags, and band ids."""
    if kpi.method == "threshold":
        return threshold_column(ctx, kpi, v), [], None
    if kpi.method == "linear":
        return linear_column(ctx, kpi, v), [], None
    if kpi.method == "attainment":
        return attainment_column(ctx, kpi, v), [], None
    if kpi.method == "bands":
        return bands_column(ctx, kpi, v)
    out, flags = expression_column(ctx, kpi, v, env)
    return out, flags, None


def rule(kpi: Kpi, v: Number, result: Number | None) -> str:
    """The sentence a trace shows for how ``kpi`` scored ``v`` (``result`` is what ``score`` gave)."""
    t, f, cap = kpi.target, kpi.floor, _c(kpi.cap)
    if kpi.method == "threshold":
        le, lt = ("<", ">") if kpi.strict else ("≤", "≥")
        if kpi.direction == "range":
            text = f"{_c(t[0])} {le} value {le} {_c(t[1])}"
        elif kpi.direction == "higher":
            text = f"value {lt} {_c(t[0])}"
        else:
            text = f"value {le} {_c(t[0])}"
        return f"{'pass' if _passes(kpi, v) else 'fail'}: {text}"
    if kpi.method == "linear":
        if kpi.direction == "higher" or (kpi.direction == "range" and v < t[0]):
            note = f"100 × (value − {_c(f[0])}) / ({_c(t[0])} − {_c(f[0])})"
            note = f"below range: {note}" if kpi.direction == "range" else note
        elif kpi.direction == "lower":
            note = f"100 × ({_c(f[0])} − value) / ({_c(f[0])} − {_c(t[0])})"
        elif v > t[1]:
            note = f"above range: 100 × ({_c(f[1])} − value) / ({_c(f[1])} − {_c(t[1])})"
        else:
            note = "inside the target range"
        return f"{note}, clipped to [0, {cap}]"
    if kpi.method == "attainment":
        if kpi.direction == "lower":
            if v <= 0:
                return "value ≤ 0 on a lower-is-better KPI scores the cap"
            return f"100 × {_c(t[0])} / value, clipped to [0, {cap}]"
        return f"100 × value / {_c(t[0])}, clipped to [0, {cap}]"
    if kpi.method == "bands":
        matched = band(kpi, v)
        return "no band matches the value" if matched is None else f"band {matched.id}"
    assert kpi.score_expr is not None
    if result is None:
        return f"{kpi.score_expr.text} is N/A"
    return f"{kpi.score_expr.text}, clipped to [0, {cap}]"


# --- one KPI: value → score, with its N/A policy (on_missing) ------------------------------------


class KpiOp:
    """One KPI of the plan: its method compiled once, and its row and column kernels.

    ``scorer`` (value → score) is the compiled row form for the methods that read only the value;
    ``operators`` the same with plain ``Decimal`` operators (kept only when nothing rounded, see
    ``compile_operators``). ``row`` and ``column`` apply ``on_missing`` and the method.
    """

    __slots__ = ("kpi", "metric", "operators", "path", "scaled", "score_names", "scorer")

    def __init__(self, kpi: Kpi) -> None:
        self.kpi = kpi
        self.metric = kpi.metric
        self.path = f"kpis.{kpi.id}"
        self.scorer = compile_scorer(kpi)
        self.operators = compile_operators(kpi) if self.scorer is not None else None
        self.scaled = ScaledScore.of(kpi, self.scorer)
        self.score_names = kpi.score_expr.names - {"value"} if kpi.score_expr is not None else frozenset()

    def _refusal(self, strict: bool, what: str) -> str | None:  # noqa: FBT001 - private helper
        """Why an N/A may not pass (a strict run, or ``on_missing: error``), or ``None``."""
        if strict or self.kpi.on_missing == "error":
            return f"KPI '{self.kpi.id}' {what} ({'strict run' if strict else 'on_missing: error'})"
        return None

    def row(
        self,
        value: Value,
        env: Callable[[frozenset[str]], Mapping[str, Value]],
        strict: bool,  # noqa: FBT001 - positional on a hot path
        explanation: dict[str, object] | None,
    ) -> tuple[Number | None, list[str], str | None]:
        """Score one value: the score (``None``: excluded), the KPI's flags, and why an N/A is refused.

        ``env(names)`` gives the metrics a score expression reads; ``explanation``, when tracing,
        receives the rule that decided (and the band or raw score).
        """
        kpi = self.kpi
        flags: list[str] = []
        if value is None:
            refused = self._refusal(strict, "has no value (N/A)")
            if kpi.on_missing == "zero":
                flags.append("missing_scored_zero")
                if explanation is not None:
                    explanation["rule"] = "value is N/A; on_missing: zero"
                return ZERO, flags, refused
            flags.append("excluded_na")
            if explanation is not None:
                explanation["rule"] = "value is N/A; on_missing: exclude — weight renormalised over the other KPIs"
            return None, flags, refused
        assert num.is_number(value)
        result: Number | None
        if self.scorer is not None:
            result = self.scorer(value)
        elif kpi.method == "bands":
            matched = band(kpi, value)
            result = kpi.fail_score if matched is None else matched.score  # ``bands``
            if matched is None:
                flags.append("no_band_matched")
            if explanation is not None:
                explanation["band"] = f"kpis.{kpi.id}.bands.{matched.id}" if matched else None
        else:
            result = score(kpi, value, env(self.score_names) if kpi.score_expr is not None else {})
        refused = None
        if result is None:
            flags.append("excluded_na")
            refused = self._refusal(strict, "has an N/A score")  # an N/A score may not pass silently either
        if explanation is not None:
            explanation["rule"] = rule(kpi, value, result)
            explanation["raw_score"] = result
        return result, flags, refused

    def column(
        self, ctx: Ctx, value: Column, env: Mapping[str, Column], *, strict: bool
    ) -> tuple[Num, ColumnFlags, list[str | None] | None, bool, bool]:
        """Score a column: scores (N/A where excluded), flags, band ids, and two refusals.

        The last two say whether a strict run, or ``on_missing: error``, met an N/A (the row
        executor then reports it).
        """
        kpi = self.kpi
        missing = ctx.nothing if value.na is None else value.na
        refused = bool(missing.any()) and (strict or kpi.on_missing == "error")
        flags: ColumnFlags = [("missing_scored_zero" if kpi.on_missing == "zero" else "excluded_na", missing)]
        bands_hit: list[str | None] | None = None
        if isinstance(value, Num):
            out, more, bands_hit = score_column(ctx, kpi, value, env)
        else:  # a KPI on a bool or text metric is refused by the checks; N/A everywhere keeps it honest
            out, more = Num(0, 1, np.ones(ctx.n, dtype=bool)), []
        flags.extend(more)
        if out.na is not None and not refused and (strict or kpi.on_missing == "error"):
            # An N/A score (an expression that is N/A for a known value) may not pass either (``row``).
            refused = bool((out.na & ~missing).any())
        if kpi.on_missing == "zero" and missing.any():
            out = n_where(ctx, missing, _const(0), out)
            na = (ctx.nothing if out.na is None else out.na) & ~missing
            out.na = na if na.any() else None
        return out, flags, bands_hit, refused and strict, refused and kpi.on_missing == "error"
