"""The expression IR evaluated over whole columns, with the row evaluator's N/A rules.

Arithmetic or comparison with N/A is N/A; a zero denominator is N/A; ``and``/``or``/``not`` and
comparison chains follow three-valued logic exactly as ``expr/_compile.py`` does row by row.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

import numpy as np

from kpi_engine.evaluation.columnar._columns import (
    Arr,
    Bool,
    Column,
    Ctx,
    Num,
    Text,
    n_abs,
    n_add,
    n_cmp,
    n_div,
    n_mul,
    n_neg,
    n_round_half_up,
    n_where,
    na_or,
)
from kpi_engine.evaluation.columnar._power import power
from kpi_engine.expr._ir import BinOp, BoolOp, Call, Compare, Const, IfExp, Name, Neg, Node, Not


def _na_any(ctx: Ctx, mask: Arr | None) -> Arr:
    return np.zeros(ctx.n, dtype=bool) if mask is None else mask


def evaluate(ctx: Ctx, node: Node, env: Mapping[str, Column]) -> Column:
    """Evaluate ``node`` over all rows; names are looked up in ``env``."""
    match node:
        case Const(value=v, type="number"):
            assert isinstance(v, Decimal)
            return Num.const(Fraction(v))
        case Const(value=v, type="bool"):
            return Bool(np.full(ctx.n, bool(v)), None)
        case Const(value=v):
            return Text(np.array(str(v), dtype=object), None)  # a 0-d array broadcasts against any column
        case Name(id=ident):
            return env[ident]
        case Neg(operand=x):
            value = evaluate(ctx, x, env)
            assert isinstance(value, Num)
            return n_neg(value)
        case Not(operand=x):
            b = evaluate(ctx, x, env)
            assert isinstance(b, Bool)
            return Bool(~b.val, b.na)
        case BinOp(op=op, left=a, right=b):
            left, right = evaluate(ctx, a, env), evaluate(ctx, b, env)
            assert isinstance(left, Num)
            assert isinstance(right, Num)
            if op == "+":
                return n_add(ctx, left, right)
            if op == "-":
                return n_add(ctx, left, right, -1)
            if op == "*":
                return n_mul(ctx, left, right)
            if op == "/":
                return n_div(ctx, left, right)
            assert isinstance(b, Const)  # the parser admits a constant whole exponent only
            assert isinstance(b.value, Decimal)
            return power(ctx, left, int(b.value))
        case Compare(ops=ops, operands=operands):
            values = [evaluate(ctx, x, env) for x in operands]
            parts = [_compare(ctx, op, values[i], values[i + 1]) for i, op in enumerate(ops)]
            return _kleene(ctx, parts, is_and=True)
        case BoolOp(op=op, values=xs):
            parts = []
            for x in xs:
                b = evaluate(ctx, x, env)
                assert isinstance(b, Bool)
                parts.append(b)
            return _kleene(ctx, parts, is_and=op == "and")
        case IfExp(test=t, body=b, orelse=o):
            cond = evaluate(ctx, t, env)
            assert isinstance(cond, Bool)
            body, orelse = evaluate(ctx, b, env), evaluate(ctx, o, env)
            return _where(ctx, cond, body, orelse)
        case Call(func=func, args=args):
            return _call(ctx, func, [evaluate(ctx, a, env) for a in args], args)
    msg = f"unknown IR node {node!r}"  # pragma: no cover
    raise TypeError(msg)  # pragma: no cover


def _compare(ctx: Ctx, op: str, a: Column, b: Column) -> Bool:
    if isinstance(a, Num) and isinstance(b, Num):
        val, na = n_cmp(ctx, a, b, op)
        return Bool(val, na)
    assert isinstance(a, Bool | Text)
    assert isinstance(b, Bool | Text)
    eq = np.asarray(a.val == b.val, dtype=bool)
    return Bool(eq if op == "==" else ~eq, na_or(a.na, b.na))


def _kleene(ctx: Ctx, parts: list[Bool], *, is_and: bool) -> Bool:
    """Three-valued and/or: a decisive known value wins; otherwise any N/A makes N/A."""
    decisive = np.zeros(ctx.n, dtype=bool)
    unknown = np.zeros(ctx.n, dtype=bool)
    for p in parts:
        known = ~p.na if p.na is not None else None
        hit = ~p.val if is_and else p.val
        decisive |= hit if known is None else (hit & known)
        if p.na is not None:
            unknown |= p.na
    na = ~decisive & unknown
    val = ~decisive if is_and else decisive
    return Bool(val, na if na.any() else None)


def _where(ctx: Ctx, cond: Bool, body: Column, orelse: Column) -> Column:
    c = cond.val if cond.na is None else cond.val & ~cond.na
    if isinstance(body, Num) and isinstance(orelse, Num):
        out = n_where(ctx, c, body, orelse)
        out.na = na_or(out.na, cond.na)
        return out
    assert isinstance(body, Bool | Text)
    assert isinstance(orelse, Bool | Text)
    val = np.where(c, body.val, orelse.val)
    picked: Arr = np.where(c, _na_any(ctx, body.na), _na_any(ctx, orelse.na))
    na = na_or(picked, cond.na)
    return Bool(val, na) if isinstance(body, Bool) else Text(val, na)


def _call(ctx: Ctx, func: str, values: list[Column], args: tuple[Node, ...]) -> Column:
    nums = [v for v in values if isinstance(v, Num)]
    if func == "abs":
        return n_abs(nums[0])
    if func == "round":
        places = 0
        if len(args) > 1:
            const = args[1]
            assert isinstance(const, Const)
            assert isinstance(const.value, Decimal)
            places = int(const.value)
        return n_round_half_up(ctx, nums[0], places)
    out = nums[0]
    for other in nums[1:]:
        less, _ = n_cmp(ctx, other, out, "<" if func == "min" else ">")
        out = n_where(ctx, less, other, out)
    out.na = na_or(*(v.na for v in nums))
    return out
