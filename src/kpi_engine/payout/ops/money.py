"""Money: correct rounding of exact amounts, and parts that add up to their whole (largest remainder).

Row kernels work on one exact ``Fraction``; column kernels on NumPy int64 numerators over a common
denominator, with every product checked: a column whose products could pass 2**62 is computed
over Python integers instead (object arrays: slower, never wrong). Both give the same units.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from kpi_engine._numbers import apportion, quantize
from kpi_engine.payout.ops import LazyModule

if TYPE_CHECKING:
    import numpy as np
else:
    np = LazyModule("numpy")

Arr = Any  # a NumPy array
LIMIT = float(1 << 62)


# --- row kernels --------------------------------------------------------------------------------


def round_units(value: Fraction, places: int, mode: str) -> int:
    """``value`` in the currency's smallest units, correctly rounded with ``mode``."""
    return int(quantize(value, places, mode).scaleb(places))


def split(total: int, weights: Sequence[tuple[Any, Fraction]]) -> dict[Any, int]:
    """``total`` units apportioned by largest remainder in proportion to non-negative weights (ties: key order)."""
    return apportion(total, [(k, max(w, Fraction(0))) for k, w in weights])


# --- column kernels -----------------------------------------------------------------------------


def fits(*magnitudes: float) -> bool:
    """Whether a product of values up to these magnitudes stays below 2**62 (checked in float, with room)."""
    product = 1.0
    for m in magnitudes:
        product *= max(abs(m), 1.0)
    return product < LIMIT / 4


def widen(x: Arr) -> Arr:
    """The same integers as Python ints (an object array): exact whatever their size."""
    return x.astype(object)


def mul(a: Arr, b: Arr | int) -> Arr:
    """``a * b`` exactly: int64 when every product fits, else over Python integers."""
    amax = absmax(a)
    bmax = absmax(b)
    if fits(amax, bmax) and not _wide(a) and not _wide(b):
        return a * b
    return widen(a) * (b if isinstance(b, int) else widen(b))


def _wide(x: Arr | int) -> bool:
    return not isinstance(x, int) and getattr(getattr(x, "dtype", None), "kind", "") == "O"


def absmax(x: Arr | int) -> float:
    if isinstance(x, int):
        return float(abs(x))
    if x.size == 0:
        return 0.0
    if x.dtype == object:  # Python integers, in any shape (people × periods too)
        return float(max(abs(v) for v in x.ravel().tolist()))
    return float(max(abs(int(x.max())), abs(int(x.min()))))


def round_div(num: Arr, den: Arr | int, mode: str) -> Arr:
    """``num / den`` (``den > 0``) rounded to an integer with ``mode``, row by row, exactly."""
    q, r = _divmod(num, den)  # floor division: 0 <= r < den
    if mode == "floor":
        up = np.zeros(q.shape, dtype=bool)
    elif mode == "ceiling":
        up = r != 0
    else:
        negative = num < 0
        if mode == "down":
            up = (r != 0) & negative
        elif mode == "up":
            up = (r != 0) & ~negative
        else:
            twice = r * 2
            above = twice > den
            tie = twice == den
            if mode == "half_even":
                up = above | (tie & (q % 2 == 1))
            elif mode == "half_up":
                up = above | (tie & ~negative)
            else:  # half_down
                up = above | (tie & negative)
    out = q + up
    return out.astype(np.int64) if out.dtype == object and _fits_int64(out) else out


def _divmod(num: Arr, den: Arr | int) -> tuple[Arr, Arr]:
    """Floor quotient and remainder, also of Python-integer (object) arrays, which ``np.divmod`` refuses."""
    if _wide(num) or _wide(den):
        q = num // den
        return q, num - q * den
    q, r = divmod(num, den)
    return q, r


def _fits_int64(x: Arr) -> bool:
    values = x.ravel().tolist()  # a 2-D array's tolist() is a list of rows, which max() cannot compare
    return not values or bool(max(values) < (1 << 63) and min(values) >= -(1 << 63))


def group_sums(values: Arr, group: Arr, groups: int) -> Arr:
    """The sum of ``values`` per group (rows sorted by ``group``), exactly; groups without rows sum to 0."""
    out = np.zeros(groups, dtype=object if values.dtype == object else np.int64)
    if values.size == 0:
        return out
    firsts = np.concatenate(([0], np.flatnonzero(np.diff(group)) + 1))
    out[group[firsts]] = np.add.reduceat(values, firsts)
    return out


def split_groups(total: Arr, weight: Arr, group: Arr, groups: int) -> Arr:
    """Largest-remainder parts of each group's ``total`` units, in proportion to the rows' ``weight``.

    Rows are sorted by ``group`` and, within it, in their tie order; ``total`` has one entry per
    group. A group whose weights are all zero is split equally (as ``split``). Ties in the
    remainder go to the earlier row, as ``split`` gives them to the earlier key.
    """
    n = weight.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    wsum = group_sums(weight, group, groups)
    count = np.bincount(group, minlength=groups)
    equal = wsum == 0
    w = np.where(equal[group], 1, weight)
    den = np.where(equal, count, wsum)
    numer = mul(w, total[group])
    d = den[group]
    floor, rem = _divmod(numer, d)
    left = np.asarray(total - group_sums(floor, group, groups), dtype=np.int64)
    position = np.arange(n)
    if rem.dtype != object and int(np.abs(rem).max()) < 2**53:
        order = np.lexsort((position, -rem.astype(np.float64), group))
    else:  # remainders too large for float keys: an exact sort (rare)
        keys = list(zip(group.tolist(), (-r for r in rem.tolist()), position.tolist(), strict=True))
        order = np.array(sorted(range(n), key=keys.__getitem__), dtype=np.int64)
    sorted_group = group[order]
    starts = np.searchsorted(sorted_group, np.arange(groups), side="left")
    bonus = np.zeros(n, dtype=np.int64)
    bonus[order] = (np.arange(n) - starts[sorted_group]) < left[sorted_group]
    parts = floor + bonus
    return parts.astype(np.int64) if parts.dtype == object and _fits_int64(parts) else parts
