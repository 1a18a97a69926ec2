"""Ranks (DOMAIN §4): competition ranking (1, 1, 3) by the exact key, overall and within the parent.

Ranks use the exact total, highest first, unless ``ranking: {by: <metric>, order: lower_first}``
says otherwise; ties share a rank and the next is skipped. A subject whose key is N/A is unranked;
``rank_in_parent`` ranks the subjects of the same parent (team). The row kernel sorts exact
values; the column kernel sorts integers (one denominator, packed keys) and compares exactly
wherever a float approximation could not decide.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from fractions import Fraction
from math import lcm
from typing import TYPE_CHECKING

from kpi_engine._columns import LIMIT, Arr, Ctx, Num, mul
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import is_number
from kpi_engine.expr import Value
from kpi_engine.plan.ops.gates import is_none

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


_FEW_DENOMINATORS = 64


def ranks_row(
    entries: Iterable[tuple[str, str | None, Value]], *, lower_first: bool
) -> tuple[dict[str, int], dict[str, int]]:
    """Overall and within-parent ranks of (subject, parent, key) entries; N/A keys get none."""
    entries = list(entries)

    def ranks(group: list[tuple[str, str | None, Value]]) -> dict[str, int]:
        # Sorted by key, equal keys are neighbours: each takes the position of the first of them.
        ranked = sorted(
            [(k, subject) for subject, _, k in group if is_number(k)],
            key=operator.itemgetter(0),
            reverse=not lower_first,
        )
        out: dict[str, int] = {}
        rank, previous = 0, None
        for i, (k, subject) in enumerate(ranked, start=1):
            if i == 1 or k != previous:
                rank, previous = i, k
            out[subject] = rank
        return out

    overall = ranks(entries)
    by_parent: dict[str | None, list[tuple[str, str | None, Value]]] = {}
    for entry in entries:
        by_parent.setdefault(entry[1], []).append(entry)
    within: dict[str, int] = {}
    for parent, group in by_parent.items():
        if parent is not None:
            within.update(ranks(group))
    return overall, within


def _common_den(ctx: Ctx, key: Num) -> Num:
    """The same values over one denominator when their few denominators have a small lcm."""
    if isinstance(key.den, int) or key.den.dtype == object:
        return key
    dens = np.unique(key.den if key.na is None else key.den[~key.na])
    common = lcm(*dens.tolist()) if len(dens) <= _FEW_DENOMINATORS else LIMIT
    if common >= LIMIT:
        return key
    trial = Ctx(ctx.n)
    scaled = mul(trial, key.num, common // key.den)
    if trial.bad.any():
        return key
    return Num(scaled, common, key.na)


def _packed_order(num: Arr, *, lower_first: bool) -> Arr | None:
    """Row order by ``num`` (ties by row) from one value sort, or ``None`` when the keys do not pack.

    Each key is the value's distance from the best value, shifted left, with the row number in
    the low bits: the keys are distinct and in the wanted order, and sorting values is several
    times faster than ``argsort`` (NumPy sorts them with SIMD). Exact: integers only.
    """
    n = len(num)
    if n == 0:
        return None
    low, high = int(num.min()), int(num.max())
    bits = n.bit_length()
    if (high - low) >> (62 - bits):
        return None  # the values' span and the row numbers do not fit together in 63 bits
    key = np.subtract(num, low) if lower_first else np.subtract(high, num)
    key <<= bits
    key |= np.arange(n)
    key.sort()
    key &= (1 << bits) - 1
    return key


def competition_ranks(ctx: Ctx, key: Num, groups: Arr | None, *, lower_first: bool) -> Arr:
    """Competition ranks (1, 1, 3) by exact key, optionally within groups (0: unranked, the key is N/A).

    Rows are ordered by a float64 approximation first; every run of neighbours whose
    approximations are close is then ordered and compared exactly, so float error never decides.
    """
    n = ctx.n
    key = _common_den(ctx, key)
    num, den = key.array(ctx)
    if groups is None and key.na is None and isinstance(key.den, int) and num.dtype != object:
        # One denominator, one group, every key known: the numerators order the rows exactly.
        # Ties share a rank whatever their order, so an unstable sort will do; highest first is
        # the ascending order read backwards (no negated copy).
        order = _packed_order(num, lower_first=lower_first)
        if order is None:
            order = np.argsort(num)
            if not lower_first:
                order = order[::-1]
        sk = num[order]
        first_of_run: Arr = np.arange(1, n + 1, dtype=np.int64)
        first_of_run[1:][sk[1:] == sk[:-1]] = 0  # a tie takes the rank of the first of its run
        np.maximum.accumulate(first_of_run, out=first_of_run)
        out = np.empty(n, dtype=np.int64)
        out[order] = first_of_run
        return out
    approx = np.asarray(num / den, dtype=np.float64)
    if not lower_first:
        approx = -approx
    known = ~key.na if key.na is not None else np.ones(n, dtype=bool)
    if groups is not None:
        known &= ~is_none(groups)
        codes = np.unique(groups[known].astype(str), return_inverse=True)[1]
        gcode = np.full(n, -1, dtype=np.int64)
        gcode[known] = codes
    else:
        gcode = np.zeros(n, dtype=np.int64)
    idx = np.flatnonzero(known)
    out = np.zeros(n, dtype=np.int64)
    if not len(idx):
        return out
    if isinstance(key.den, int) and num.dtype != object:  # one denominator: the numerators order the rows exactly
        signed = num if lower_first else -num
        order = idx[np.lexsort((signed[idx], gcode[idx]))]
        sk, sg = signed[order], gcode[order]
        at = np.arange(len(order))
        new_group = np.r_[True, sg[1:] != sg[:-1]]
        new_value = new_group | np.r_[True, sk[1:] != sk[:-1]]
        group_start = np.maximum.accumulate(np.where(new_group, at, 0))
        run_start = np.maximum.accumulate(np.where(new_value, at, 0))
        out[order] = run_start - group_start + 1
        return out
    order = idx[np.lexsort((approx[idx], gcode[idx]))]
    a = approx[order]
    g = gcode[order]
    close = (np.abs(np.diff(a)) <= 1e-9 * np.maximum(1.0, np.abs(a[1:]))) & (g[1:] == g[:-1])
    # Exact keys only where neighbours are close: a few rows, Python ints or Fractions.
    exact = dict.fromkeys(order[1:][close].tolist()) | dict.fromkeys(order[:-1][close].tolist())
    ordered = order.tolist()
    if exact:
        nums, dens = num.tolist(), den.tolist()
        sign = 1 if lower_first else -1
        pos = 0
        while pos < len(ordered):
            end = pos + 1
            while end < len(ordered) and end - 1 < len(close) and close[end - 1]:
                end += 1
            if end - pos > 1:
                run = ordered[pos:end]
                ordered[pos:end] = sorted(run, key=lambda i: sign * Fraction(nums[i], dens[i]))
            pos = end
    group = g.tolist()
    rank = 0
    start_of_group = 0
    prev: Fraction | None = None
    nums_l = num.tolist()
    dens_l = den.tolist()
    for pos, i in enumerate(ordered):
        if pos == 0 or group[pos] != group[pos - 1]:
            start_of_group = pos
            prev = None
        value = Fraction(nums_l[i], dens_l[i]) if exact and i in exact else None
        same = False
        if prev is not None and value is not None and pos > 0 and ordered[pos - 1] in exact:
            same = value == prev
        if not same:
            rank = pos - start_of_group + 1
        out[i] = rank
        prev = value
    return out


# Rank keys for an executor that ranks in a second pass (Spark, streaming): exact, sortable text.

_FLIP = str.maketrans("0123456789", "9876543210")
_KEY_DIGITS = 3  # a term's digit count is written in 3 digits: terms up to 999 digits


def rank_key(value: Value) -> str | None:
    """An exact rank key: text whose byte order is the order of the values; ``None`` for N/A.

    Equal values (``Decimal("0.50")``, ``Fraction(1, 2)``) give the same text and distinct values
    distinct texts, whatever their denominators, so a second pass ranks by comparing texts (a Spark
    ``Window`` ordered by the key, ``ranks_row``'s order and ties). The text is the value's
    continued fraction ``[a0; a1, a2, ...]`` (canonical: last term at least 2), each term written
    as its digit count and digits; terms at odd positions are written with flipped digits (a
    larger term there is a smaller value), and the end of the fraction is marked by ``~`` after an
    odd position's term and ``!`` after an even one (an ended fraction is the limit of a term
    growing without bound). Only ASCII: ``!`` < digits < ``~``.

    Raises:
        ValueError: for a non-numeric value, or a term of more than 999 digits.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not (is_number(value) or isinstance(value, int)):
        msg = f"a rank key needs a number, not {value!r}"
        raise ValueError(msg)
    f = Fraction(value)
    p, q = f.numerator, f.denominator
    a, r = divmod(p, q)
    parts = [_term(a) if a >= 0 else "0" + _term(-a)[1:].translate(_FLIP)]
    i = 0
    while r:
        p, q = q, r
        a, r = divmod(p, q)
        i += 1
        text = _term(a)[1:]
        parts.append(text.translate(_FLIP) if i % 2 else text)
    parts.append("~" if (i + 1) % 2 == 0 else "!")
    return "".join(parts)


def _term(n: int) -> str:
    digits = str(n)
    if len(digits) >= 10**_KEY_DIGITS:
        msg = f"a rank key term has {len(digits)} digits (at most 999)"
        raise ValueError(msg)
    return "1" + str(len(digits)).zfill(_KEY_DIGITS) + digits


def rank_keys(ctx: Ctx, key: Num) -> list[str | None]:
    """``rank_key`` of every row of an exact column (``None`` where the key is N/A)."""
    num, den = key.array(ctx)
    nums, dens = num.tolist(), den.tolist()
    na = key.na.tolist() if key.na is not None else None
    return [None if na is not None and na[i] else rank_key(Fraction(nums[i], dens[i])) for i in range(ctx.n)]
