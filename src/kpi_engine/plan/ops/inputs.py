"""Inputs and team rollups (DOMAIN §5): a subject's own record value, else its members' rollup.

An input's value is the subject's own record cell. When that is empty and the subject has
members in the period, the members' values roll up by the input's ``rollup``: ``sum``, ``mean``,
``min`` or ``max`` of the members that have a number (N/A when none has one); ``none`` keeps it
N/A. A value on the subject's own row wins over its members' rollup (a team target set by
management). A *required* input must have a value, own or rolled up, for every appraised subject
(each executor checks the values this op gives, and the row executor reports the missing ones).

Row kernel: ``InputOp.row`` (members' values through the row scope, ``rollup_row``). Column
kernel: ``InputOp.column`` (members' layer, ``rollup_column``: per owner with integer sums where
the range is proven, else exact fractions). ``rollup_row``/``rollup_column`` also serve
``formulas`` (``rollup: mean``).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import lcm
from typing import TYPE_CHECKING, Any

from kpi_engine import _numbers as num
from kpi_engine._columns import LIMIT, Arr, Bool, Column, Ctx, Num, Text, n_where
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import Number, is_number
from kpi_engine.expr import Value
from kpi_engine.language.model import Input, Metric
from kpi_engine.plan.ops.scopes import ColumnScope, Layer, RowScope
from kpi_engine.time.periods import Period

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

_FEW_DENOMINATORS = 64


class InputOp:
    """A record field, rolled up over members where the subject's own cell is empty."""

    without_column: str | None = None  # it has a column kernel

    def __init__(self, metric: Metric, spec: Input) -> None:
        self.metric = metric
        self.name = metric.name
        self.spec = spec
        self.rollup = spec.rollup

    def row(self, scope: RowScope, node: str, period: Period) -> Value:
        """The node's own cell, else its members' rollup (``None``: N/A)."""
        own = scope.own(node, period, self.name)
        kids = scope.children(node, period)
        if own is not None or not kids:
            return own
        how = self.rollup
        if how == "none":
            return None
        return rollup_row([scope.value(k, period, self.name) for k in kids], how)

    def column(self, scope: ColumnScope, layer: Layer) -> Column:
        """The nodes' own cells, else their members' rollup, for every node of the layer."""
        own = scope.own(layer, self.name)
        if self.rollup == "none" or not layer.has_kids.any():
            return own
        use = layer.has_kids & na_of(own, layer.n)
        if not use.any():
            return own
        kids = scope.value(layer.kids(), self.name)
        ctx = scope.ctx(layer)
        if not isinstance(kids, Num) or not isinstance(own, Num):
            return choose(ctx, use, own, own)
        return choose(ctx, use, rollup_column(ctx, kids, layer.owner, layer.n, self.rollup), own)

    def explain(self, scope: RowScope, node: str, period: Period) -> dict[str, Any]:  # noqa: ARG002 - the protocol
        """Nothing beyond the input's own source (``source``)."""
        return {}

    def source(self, scope: RowScope, node: str, period: Period, origin: object | None) -> str:
        """Where the value came from, for a trace: the record (``origin``), a rollup, or nothing."""
        if origin is not None and scope.own(node, period, self.name) is not None:
            return f"record {origin}"
        kids = scope.children(node, period)
        if kids:
            return f"{self.rollup} over {len(kids)} members ({', '.join(kids)})"
        return "no record" if origin is None else "empty in the record"


# --- rollups: sum, mean, min, max of the members that have a number -----------------------------


def rollup_row(values: Sequence[Value], how: str) -> Number | None:
    """One node's rollup of its members' values (N/A when none has a number)."""
    numbers = [v for v in values if is_number(v)]
    if not numbers:
        return None
    if how == "sum":
        return num.total(numbers)
    if how == "mean":
        return num.mean(numbers)
    return min(numbers) if how == "min" else max(numbers)


def rollup_column(ctx: Ctx, values: Num, owner: Arr, n: int, how: str) -> Num:
    """Per owner: sum, mean, min or max of the values that are not N/A (N/A for an owner with none)."""
    present = ~na_of(values, len(owner))
    values = _one_den(values, present)
    who = owner[present]
    count = np.bincount(who, minlength=n).astype(np.int64)
    empty = count == 0
    numerators = values.num
    # int64 sums whose range is checked first: exact in either pass (the exact pass takes int64 columns too).
    fast = isinstance(values.den, int) and (isinstance(numerators, int) or numerators.dtype != object)
    if fast:
        nums = np.broadcast_to(np.asarray(numerators, dtype=np.int64), (len(owner),))[present]
        peak = int(np.abs(nums).max()) if len(nums) else 0
        most = int(count.max()) if n else 0
        if peak * max(most, 1) < LIMIT and values.den * max(most, 1) < LIMIT:
            if how in {"sum", "mean"}:
                sums = np.zeros(n, dtype=np.int64)
                np.add.at(sums, who, nums)
                if how == "sum":
                    return Num(sums, values.den, empty if empty.any() else None)
                return Num(sums, np.where(empty, 1, count) * values.den, empty if empty.any() else None).reduced()
            start = np.iinfo(np.int64).max if how == "min" else np.iinfo(np.int64).min
            out = np.full(n, start, dtype=np.int64)
            (np.minimum if how == "min" else np.maximum).at(out, who, nums)
            return Num(np.where(empty, 0, out), values.den, empty if empty.any() else None)
    groups: list[list[Fraction]] = [[] for _ in range(n)]
    for o, v in zip(owner.tolist(), _fractions(values, len(owner)), strict=True):
        if v is not None:
            groups[o].append(v)
    result: list[Fraction | None] = []
    for g in groups:
        if not g:
            result.append(None)
        elif how == "sum":
            result.append(sum(g, Fraction(0)))
        elif how == "mean":
            result.append(sum(g, Fraction(0)) / len(g))
        else:
            result.append(min(g) if how == "min" else max(g))
    return _from_fractions(ctx, result)


def na_of(col: Column, n: int) -> Arr:
    """The column's N/A mask as an array (all false when it has none)."""
    return np.zeros(n, dtype=bool) if col.na is None else col.na


def choose(ctx: Ctx, use: Arr, a: Column, b: Column) -> Column:
    """``a`` where ``use``, else ``b`` (same kind of column); a non-number rolled up is N/A."""
    if isinstance(a, Num) and isinstance(b, Num):
        out = n_where(ctx, use, a, b)
        na: Arr = np.where(use, na_of(a, ctx.n), na_of(b, ctx.n))
        out.na = na if na.any() else None
        return out
    assert isinstance(b, Bool | Text)
    na = na_of(b, ctx.n) | use  # only numbers roll up
    return type(b)(b.val, na if na.any() else None)


def _fractions(col: Num, n: int) -> list[Fraction | None]:
    nums = np.broadcast_to(np.asarray(col.num, dtype=object), (n,)).tolist()
    dens = np.broadcast_to(np.asarray(col.den, dtype=object), (n,)).tolist()
    na = na_of(col, n).tolist()
    # A zero denominator marks a row whose int64 product was not formed (``Ctx.bad``): the run is redone exactly.
    return [None if bad or not b else Fraction(int(a), int(b)) for a, b, bad in zip(nums, dens, na, strict=True)]


def _from_fractions(ctx: Ctx, values: list[Fraction | None]) -> Num:
    """A column of exact values: int64 where they fit (rows that do not are marked bad), else Python ints."""
    nums = [0 if v is None else v.numerator for v in values]
    dens = [1 if v is None else v.denominator for v in values]
    na = np.array([v is None for v in values], dtype=bool)
    if ctx.exact:
        return Num(np.array(nums, dtype=object), np.array(dens, dtype=object), na if na.any() else None)
    big = np.array([abs(a) >= LIMIT or b >= LIMIT for a, b in zip(nums, dens, strict=True)], dtype=bool)
    if big.any():
        ctx.bad[:] = True  # the kernel's rows cannot hold these values; the exact pass takes every row
        nums = [0 if b else a for a, b in zip(nums, big.tolist(), strict=True)]
        dens = [1 if b else d for d, b in zip(dens, big.tolist(), strict=True)]
    return Num(np.array(nums, dtype=np.int64), np.array(dens, dtype=np.int64), na if na.any() else None)


def _small(x: Any) -> Any:
    """An object array of Python integers as int64 when every value fits (exact mode keeps small values)."""
    if isinstance(x, int) or x.dtype != object:
        return x
    values = x.tolist()
    if max((abs(v) for v in values), default=0) >= LIMIT:
        return x
    return np.array(values, dtype=np.int64)


def _one_den(values: Num, present: Arr) -> Num:
    """The same values over one denominator when their denominators have a small lcm (else as they are)."""
    values = Num(_small(values.num), _small(values.den), values.na)
    den = values.den
    if isinstance(den, int) or den.dtype == object or isinstance(values.num, int) or values.num.dtype == object:
        return values
    present = present & (den > 0)  # a zero denominator: a row left for the exact pass (its value is unused)
    dens = np.unique(den[present])
    common = lcm(*dens.tolist()) if 0 < len(dens) <= _FEW_DENOMINATORS else LIMIT
    if common >= LIMIT:
        return values
    factor = common // np.where(present, den, common)
    numerators = np.where(present, values.num, 0)
    if int(np.abs(numerators).max(initial=0)) * int(factor.max(initial=1)) >= LIMIT:
        return values
    return Num(numerators * factor, common, values.na)
