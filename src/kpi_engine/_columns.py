"""Exact rational columns in NumPy int64, with a checked fallback instead of overflow.

A number column is ``num / den`` row by row (``den > 0``) plus an N/A mask. Every product is
checked before it is formed: when the largest magnitudes of the two factors multiply to less
than ``LIMIT`` (2**62) the whole column is multiplied at C speed; otherwise each row's product
is estimated in float64 (relative error below 2**-52) and the rows whose product could reach
2**62 are marked in ``Ctx.bad`` and computed as 0. Sums of two values below 2**62 stay below
2**63, and a sum at or above 2**62 is marked the same way. So every row not marked ``bad``
holds the exact rational result; marked rows are recomputed by the exact row evaluator. No
operation rounds: division multiplies by the reciprocal, and a zero divisor is N/A.
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd, lcm
from typing import TYPE_CHECKING, Any

from kpi_engine._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")  # imported when a column is first built: the row executor never needs NumPy

LIMIT = 1 << 62
_FLIMIT = float(LIMIT)
_I64_MAX = 2**63 - 1
_REDUCE_ABOVE = 1 << 31  # smaller denominators are left as they are: a gcd pass costs more than it saves

Arr = Any  # a NumPy array (int64 or bool); typed loosely: NumPy's generics add nothing here
IntLike = int | Arr


class UnusualError(Exception):
    """Something the column kernels leave to the row executor (which reports it, or computes it).

    Raised for data in a form the vectorised readers do not take (a bad cell, a float column …)
    and for values beyond what the exact columns hold; the columnar executor then hands the
    whole run to the row executor, so both give the same appraisal or the same located error.

    ``form`` marks data that is valid but in a form the kernel does not hold (a float of more
    than 15 significant digits, a decimal beyond int64 …): the row executor would compute it,
    only slowly, so ``engine="columnar"`` refuses it at once with this reason.
    """

    def __init__(self, reason: str = "", *, form: bool = False) -> None:
        super().__init__(reason)
        self.form = form


class Ctx:
    """Per-evaluation state: the row count and the rows whose int64 values might not be exact.

    With ``exact=True`` every product and sum is formed in Python integers (NumPy object arrays):
    slower, never out of range, and never marks a row.
    """

    def __init__(self, n: int, *, exact: bool = False) -> None:
        self.n = n
        self.exact = exact
        self.bad = np.zeros(n, dtype=bool)
        self._nothing: Arr | None = None

    @property
    def nothing(self) -> Arr:
        """One shared all-false mask (never written): the N/A mask of a column without N/A."""
        if self._nothing is None:
            self._nothing = np.zeros(self.n, dtype=bool)
        return self._nothing


def _big(x: IntLike) -> IntLike:
    return x if isinstance(x, int) or x.dtype == object else x.astype(object)


def _absmax(x: IntLike) -> int:
    if isinstance(x, int):
        return abs(x)
    if x.dtype == object:
        return max((abs(v) for v in x.tolist()), default=0)
    if x.size == 0:
        return 0
    return max(int(x.max()), -int(x.min()))


def mul(
    ctx: Ctx, a: IntLike, b: IntLike, amax: int | None = None, bmax: int | None = None, *, fill: int = 0
) -> IntLike:
    """``a * b`` exactly where it fits; rows where it might not are marked bad and give ``fill``.

    ``amax``/``bmax`` are proven bounds on ``|a|``/``|b|`` when the caller knows them (static
    range analysis): with them no pass over the data is needed to prove the product fits. A
    product of denominators passes ``fill=1`` (``den_mul``): a bad row's value is never read, but a
    denominator of 0 would make the next ``gcd`` 0 and the next floor division divide by zero.
    """
    if isinstance(a, int) and isinstance(b, int):
        return a * b  # Python ints: exact; range-checked when they meet a column
    if ctx.exact:
        return _big(a) * _big(b)
    if isinstance(b, int) and b == 1:
        return a
    if isinstance(a, int) and a == 1:
        return b
    ma = amax if amax is not None and not isinstance(a, int) else _absmax(a)
    mb = bmax if bmax is not None and not isinstance(b, int) else _absmax(b)
    if ma * mb < LIMIT:
        return np.multiply(a, b, dtype=np.int64)
    if (isinstance(a, int) and abs(a) >= LIMIT) or (isinstance(b, int) and abs(b) >= LIMIT):
        ctx.bad[:] = True
        return np.full(ctx.n, fill, dtype=np.int64)
    risk = np.abs(np.multiply(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))) >= _FLIMIT / 2
    ctx.bad |= risk
    a2 = np.where(risk, fill, a)
    b2 = np.where(risk, 1, b)
    return np.multiply(a2, b2, dtype=np.int64)


def den_mul(ctx: Ctx, a: IntLike, b: IntLike) -> IntLike:
    """A product of positive denominators: as ``mul``, with 1 (never 0) in the rows marked bad."""
    return mul(ctx, a, b, fill=1)


def add(ctx: Ctx, a: IntLike, b: IntLike, amax: int | None = None, bmax: int | None = None) -> IntLike:
    """``a + b`` for operands below 2**62; results at or above 2**62 are marked bad and give 0."""
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if ctx.exact:
        return _big(a) + _big(b)
    if (isinstance(a, int) and abs(a) >= LIMIT) or (isinstance(b, int) and abs(b) >= LIMIT):
        ctx.bad[:] = True
        return np.zeros(ctx.n, dtype=np.int64)
    if isinstance(b, int) and b == 0:
        return a
    if isinstance(a, int) and a == 0:
        return b
    out = np.add(a, b, dtype=np.int64)
    ma = amax if amax is not None and not isinstance(a, int) else _absmax(a)
    mb = bmax if bmax is not None and not isinstance(b, int) else _absmax(b)
    if ma + mb >= LIMIT:
        risk = np.abs(out) >= LIMIT
        ctx.bad |= risk
        out = np.where(risk, 0, out)
    return out


class Num:
    """A column of exact rationals ``num / den`` (``den > 0``) with an N/A mask (``None``: none N/A).

    ``hi``, when known, is a proven bound on ``|num|`` (set by the operation that made the column,
    or measured once by ``bound``); it lets later products skip their range pass.
    """

    __slots__ = ("den", "hi", "na", "num")

    def __init__(self, num: IntLike, den: IntLike, na: Arr | None, hi: int | None = None) -> None:
        self.num = num
        self.den = den
        self.na = na
        self.hi = hi

    @classmethod
    def const(cls, value: Fraction) -> Num:
        return cls(value.numerator, value.denominator, None)

    def array(self, ctx: Ctx) -> tuple[Arr, Arr]:
        """Numerators and denominators as full int64 arrays."""
        num, den = self.num, self.den
        if ctx.exact:
            return (
                np.full(ctx.n, num, dtype=object) if isinstance(num, int) else _big(num),
                np.full(ctx.n, den, dtype=object) if isinstance(den, int) else _big(den),
            )
        if isinstance(num, int) or isinstance(den, int):
            if _absmax(num) >= LIMIT or _absmax(den) >= LIMIT:
                ctx.bad[:] = True
                return np.zeros(ctx.n, dtype=np.int64), np.ones(ctx.n, dtype=np.int64)
            num = np.full(ctx.n, num, dtype=np.int64) if isinstance(num, int) else num
            den = np.full(ctx.n, den, dtype=np.int64) if isinstance(den, int) else den
        return num, den

    def reduced(self) -> Num:
        """Divide out common factors when the denominator has grown (keeps the next products in range)."""
        if _absmax(self.den) < _REDUCE_ABOVE:
            return self
        if isinstance(self.den, int):
            if isinstance(self.num, int):
                g = gcd(self.num, self.den)
                return Num(self.num // g, self.den // g, self.na)
            g = gcd(self.den, int(np.gcd.reduce(self.num))) if self.num.size else 1
            if g > _I64_MAX and self.num.dtype != object:  # every numerator is 0 (gcd 0): g is the denominator
                return Num(np.zeros_like(self.num), self.den // g, self.na)
            return self if g <= 1 else Num(self.num // g, self.den // g, self.na)
        common = np.gcd(self.num, self.den)
        common = np.where(common == 0, 1, common)
        return Num(self.num // common, self.den // common, self.na)


def bound(a: Num) -> int:
    """A bound on ``|a.num|``: the static one when known, else measured once (one pass) and kept."""
    if isinstance(a.num, int):
        return abs(a.num)
    if a.hi is None:
        a.hi = _absmax(a.num)
    return a.hi


def na_or(*masks: Arr | None) -> Arr | None:
    out = None
    for m in masks:
        if m is not None:
            out = m if out is None else out | m
    return out


def _same_den(a: Num, b: Num) -> bool:
    return isinstance(a.den, int) and isinstance(b.den, int) and a.den == b.den


def n_add(ctx: Ctx, a: Num, b: Num, sign: int = 1) -> Num:
    """``a + b`` (or ``a - b`` with ``sign=-1``), exact."""
    if isinstance(a.den, int) and isinstance(b.den, int):
        common = lcm(a.den, b.den)
        # Python integers here; beyond int64 (a value with 30 decimals) NumPy's gcd below cannot take
        # them: ``mul`` marks the rows for the exact pass instead (or computes them, in that pass).
        if common < LIMIT or ctx.exact or common >> 63 or (isinstance(a.num, int) and isinstance(b.num, int)):
            fa, fb = common // a.den, common // b.den
            left = mul(ctx, a.num, fa, bound(a))
            right = mul(ctx, b.num, sign * fb, bound(b))
            hi_l, hi_r = bound(a) * fa, bound(b) * fb
            return Num(add(ctx, left, right, hi_l, hi_r), common, na_or(a.na, b.na), hi_l + hi_r)
    # Over the row-wise lcm of the denominators: they usually share factors (powers of ten, weight sums).
    g = np.gcd(a.den, b.den)
    b_part = b.den // g
    a_part = a.den // g
    left = mul(ctx, a.num, b_part, bound(a))
    right = mul(
        ctx, b.num, a_part if sign == 1 else -a_part if isinstance(a_part, int) else np.negative(a_part), bound(b)
    )
    den = den_mul(ctx, a.den, b_part)
    return Num(add(ctx, left, right), den, na_or(a.na, b.na)).reduced()


def n_mul(ctx: Ctx, a: Num, b: Num) -> Num:
    """``a * b``, exact."""
    if isinstance(a.den, int) and isinstance(b.den, int) and (isinstance(a.num, int) or isinstance(b.num, int)):
        # A column times a constant: the denominator stays one number and the bound is known.
        num = mul(ctx, a.num, b.num, bound(a), bound(b))
        return Num(num, a.den * b.den, na_or(a.na, b.na), bound(a) * bound(b)).reduced()
    return Num(mul(ctx, a.num, b.num, bound(a), bound(b)), den_mul(ctx, a.den, b.den), na_or(a.na, b.na)).reduced()


def n_affine(ctx: Ctx, a: Num, k: Fraction, c: Fraction, clip: tuple[Fraction, Fraction] | None = None) -> Num:
    """``k * a + c`` for constants ``k`` and ``c``, clipped to ``clip`` when given.

    With ``a = num / D``, the result is ``(alpha * num + beta) / gamma`` with integers fixed at
    compile time (``gamma`` also makes the clip bounds integers); when the bound on ``|num|``
    proves ``|alpha| * bound + |beta| < 2**62`` no row can overflow and no check runs, and the
    whole map is one or two passes into one new array. Otherwise the general (checked)
    operations take over.
    """
    if ctx.exact or not isinstance(a.den, int) or isinstance(a.num, int):
        return _affine_checked(ctx, a, k, c, clip)
    kd = k / a.den
    lo, hi = clip if clip is not None else (Fraction(0), Fraction(0))
    gamma = lcm(kd.denominator, c.denominator, lo.denominator, hi.denominator)
    alpha = kd.numerator * (gamma // kd.denominator)
    beta = c.numerator * (gamma // c.denominator)
    top = bound(a) * abs(alpha) + abs(beta)
    if top >= LIMIT or gamma >= LIMIT or max(abs(lo), abs(hi)) * gamma >= LIMIT:
        return _affine_checked(ctx, a, k, c, clip)
    fresh = alpha != 1 or beta != 0
    if alpha != 1:
        out = np.multiply(a.num, alpha, dtype=np.int64)
        if beta:
            out += beta
    else:
        out = np.add(a.num, beta, dtype=np.int64) if beta else a.num
    if clip is None:
        return Num(out, gamma, a.na, top)
    low, high = int(lo * gamma), int(hi * gamma)
    out = np.clip(out, low, high, out=out if fresh else None)
    return Num(out, gamma, a.na, max(abs(low), abs(high)))


def _affine_checked(ctx: Ctx, a: Num, k: Fraction, c: Fraction, clip: tuple[Fraction, Fraction] | None) -> Num:
    out = n_add(ctx, n_mul(ctx, Num.const(k), a), Num.const(c))
    return out if clip is None else n_clip(ctx, out, *clip)


def n_weighted_sum(ctx: Ctx, terms: list[tuple[int, Num]]) -> Num | None:
    """``Σ w·x`` over columns without N/A, each over one denominator, accumulated in place.

    Over the lcm of the denominators every term is an integer multiple of its numerators; the
    sum of the bounds proves that no partial sum reaches 2**62, so nothing is checked row by row.
    Returns ``None`` when that proof (or the shape) is not there: the caller takes the general path.
    """
    if ctx.exact or not terms:
        return None
    dens = []
    for _, x in terms:
        if not isinstance(x.den, int) or x.na is not None:
            return None
        dens.append(x.den)
    common = lcm(*dens)
    factors = [w * (common // den) for (w, _), den in zip(terms, dens, strict=True)]
    top = sum(abs(f) * bound(x) for f, (_, x) in zip(factors, terms, strict=True))
    if common >= LIMIT or top >= LIMIT or any(abs(f) >= LIMIT for f in factors):
        return None
    const = 0
    acc: Arr | None = None
    scratch: Arr | None = None
    for f, (_, x) in zip(factors, terms, strict=True):
        if isinstance(x.num, int):
            const += f * x.num
        elif acc is None:
            acc = np.multiply(x.num, f, dtype=np.int64)
        elif f == 1:
            acc += x.num
        else:
            scratch = np.multiply(x.num, f, out=scratch, dtype=np.int64)
            acc += scratch
    if acc is None:
        return Num(const, common, None)
    if const:
        acc += const
    return Num(acc, common, None, top)


def n_div(ctx: Ctx, a: Num, b: Num) -> Num:
    """``a / b``, exact; a zero divisor gives N/A."""
    bnum = b.num
    if isinstance(bnum, int):
        if bnum == 0:
            return Num(0, 1, np.ones(ctx.n, dtype=bool))
        flip = -1 if bnum < 0 else 1
        num = mul(ctx, a.num, flip * b.den, bound(a))
        hi = bound(a) * b.den if isinstance(b.den, int) else None
        return Num(num, den_mul(ctx, a.den, abs(bnum)), na_or(a.na, b.na), hi).reduced()
    zero = bnum == 0
    safe = np.where(zero, 1, bnum)
    sign = np.where(safe < 0, -1, 1)
    num = mul(ctx, a.num, mul(ctx, sign, b.den))
    den = den_mul(ctx, a.den, np.abs(safe))
    na = na_or(a.na, b.na, zero if zero.any() else None)
    return Num(num, den, na).reduced()


def n_neg(a: Num) -> Num:
    return Num(-a.num if isinstance(a.num, int) else np.negative(a.num), a.den, a.na, a.hi)


def n_abs(a: Num) -> Num:
    return Num(abs(a.num) if isinstance(a.num, int) else np.abs(a.num), a.den, a.na, a.hi)


def n_cmp(ctx: Ctx, a: Num, b: Num, op: str) -> tuple[Arr, Arr | None]:
    """Exact comparison ``a op b`` row by row: the boolean column and its N/A mask."""
    if _same_den(a, b):
        left, right = a.num, b.num
    else:
        left, right = mul(ctx, a.num, b.den, bound(a)), mul(ctx, b.num, a.den, bound(b))
    left = np.broadcast_to(np.asarray(left), (ctx.n,))
    right = np.broadcast_to(np.asarray(right), (ctx.n,))
    result = {
        "==": np.equal,
        "!=": np.not_equal,
        "<": np.less,
        "<=": np.less_equal,
        ">": np.greater,
        ">=": np.greater_equal,
    }[op](left, right)
    return result, na_or(a.na, b.na)


def n_where(ctx: Ctx, cond: Arr, a: Num, b: Num) -> Num:
    """Row by row: ``a`` where ``cond`` else ``b``."""
    if _same_den(a, b):
        den: IntLike = a.den
    elif isinstance(a.den, int) and isinstance(b.den, int) and lcm(a.den, b.den) < LIMIT:
        common = lcm(a.den, b.den)
        a = Num(mul(ctx, a.num, common // a.den, bound(a)), common, a.na, bound(a) * (common // a.den))
        b = Num(mul(ctx, b.num, common // b.den, bound(b)), common, b.na, bound(b) * (common // b.den))
        den = common
    else:
        den = _as_column(ctx, np.where(cond, _operand(ctx, a.den), _operand(ctx, b.den)))
    num = _as_column(ctx, np.where(cond, _operand(ctx, a.num), _operand(ctx, b.num)))
    both = a.na is None and b.na is None
    na = None if both else np.where(cond, _mask(ctx, a.na), _mask(ctx, b.na))
    hi = max(bound(a), bound(b)) if isinstance(den, int) and not ctx.exact else None
    return Num(num, den, na, hi)


def _operand(ctx: Ctx, x: IntLike) -> IntLike:
    """In exact mode, Python integers and int64 columns alike as object arrays (no C long conversion)."""
    if not ctx.exact:
        if isinstance(x, int) and abs(x) >= LIMIT:
            ctx.bad[:] = True  # a constant beyond int64: the exact pass takes every row
            return 1
        return x
    return np.array(x, dtype=object) if isinstance(x, int) else _big(x)


def _as_column(ctx: Ctx, x: Arr) -> Arr:
    if ctx.exact or x.dtype == object:
        return _big(x)
    return x.astype(np.int64)


def _mask(ctx: Ctx, m: Arr | None) -> Arr:
    return np.zeros(ctx.n, dtype=bool) if m is None else m


def n_clip(ctx: Ctx, a: Num, lo: Fraction, hi: Fraction) -> Num:
    """Clip to ``[lo, hi]`` exactly."""
    if not ctx.exact and isinstance(a.den, int) and not isinstance(a.num, int):
        # One denominator: the bounds over it are integers (after scaling the column if needed).
        common = lcm(a.den, lo.denominator, hi.denominator)
        factor = common // a.den
        top = max(abs(lo), abs(hi)) * common
        if common < LIMIT and top < LIMIT and bound(a) * factor < LIMIT:
            num = a.num if factor == 1 else np.multiply(a.num, factor, dtype=np.int64)
            low_n, high_n = int(lo * common), int(hi * common)
            return Num(np.clip(num, low_n, high_n), common, a.na, max(abs(low_n), abs(high_n)))
    low = Num.const(lo)
    high = Num.const(hi)
    below, _ = n_cmp(ctx, a, low, "<")
    above, _ = n_cmp(ctx, a, high, ">")
    out = n_where(ctx, below, low, a)
    out = n_where(ctx, above, high, out)
    out.na = a.na
    return out


def n_round_half_up(ctx: Ctx, a: Num, places: int) -> Num:
    """Round half away from zero to ``places`` decimals (Decimal's ROUND_HALF_UP), exact."""
    num, den = a.array(ctx)
    if places >= 0:
        scaled_num, scaled_den, unit_den = mul(ctx, num, 10**places), den, 10**places
    else:
        scaled_num, scaled_den, unit_den = num, den_mul(ctx, den, 10**-places), 1
    mag = np.abs(scaled_num)
    q = (add(ctx, mul(ctx, mag, 2), scaled_den)) // den_mul(ctx, scaled_den, 2)
    r = np.where(scaled_num < 0, -q, q)
    if places >= 0:
        return Num(r, unit_den, a.na).reduced()
    return Num(mul(ctx, r, 10**-places), 1, a.na)


def round_parts(ctx: Ctx, col: Num, places: int, mode: str) -> tuple[Arr, Arr, Arr]:
    """Magnitudes correctly rounded to ``places`` with ``mode``, signs and N/A masks.

    The column form of ``_numbers.quantize`` (the seven modes of ``ROUNDING_MODES``), by integer
    division with the remainder deciding the mode, as ``_numbers`` rounds a ``Fraction``.
    """
    num, den = col.array(ctx)
    mag = mul(ctx, np.abs(num), 10**places)
    q, r = mag // den, mag % den
    negative = num < 0
    twice = 2 * r
    if mode == "half_up":
        up = twice >= den
    elif mode == "half_down":
        up = twice > den
    elif mode == "half_even":
        up = (twice > den) | ((twice == den) & (q % 2 == 1))
    elif mode == "up":
        up = r > 0
    elif mode == "down":
        up = np.zeros(ctx.n, dtype=bool)
    elif mode == "ceiling":
        up = (r > 0) & ~negative
    else:  # floor
        up = (r > 0) & negative
    return (q + up).astype(np.int64), negative, np.zeros(ctx.n, dtype=bool) if col.na is None else col.na


def to_fraction(a: Num, i: int) -> Fraction | None:
    """The exact value of row ``i`` (``None`` when N/A)."""
    if a.na is not None and a.na[i]:
        return None
    num = a.num if isinstance(a.num, int) else int(a.num[i])
    den = a.den if isinstance(a.den, int) else int(a.den[i])
    return Fraction(num, den)


class Bool:
    """A column of three-valued booleans: ``val`` where ``na`` is false, N/A where it is true."""

    __slots__ = ("na", "val")

    def __init__(self, val: Arr, na: Arr | None) -> None:
        self.val = val
        self.na = na


class Text:
    """A column of strings (NumPy object array) with an N/A mask."""

    __slots__ = ("na", "val")

    def __init__(self, val: Arr, na: Arr | None) -> None:
        self.val = val
        self.na = na


Column = Num | Bool | Text
