"""Each expression node's row kernel and column kernel, side by side.

The row kernel compiles the IR once into nested closures over exact numbers (``_numbers``:
``Decimal`` at C speed, ``Fraction`` once a result has no short decimal expansion). The column
kernel evaluates the same IR over whole exact columns (``_columns``: int64 ``num / den`` with an
N/A mask, or Python integers in the exact pass). A node's two kernels sit one screen apart, so a
change to what an operator means is made to both at once; the reference evaluator
(``_reference``, simpleeval over plain ``Fraction``) stays apart on purpose: it is the oracle.

Shared meaning:

- N/A (``None``, or a set N/A bit) propagates: arithmetic or comparison with N/A is N/A;
- a zero denominator is N/A; ``x ** 0`` is 1 for every ``x`` (also 0, as in Python), and a zero
  base with a negative exponent is N/A;
- ``and``/``or``/``not`` and comparison chains follow three-valued (Kleene) logic, so
  ``false and N/A`` is ``false``;
- ``round`` is half away from zero; ``min``/``max`` of anything N/A is N/A.

No NumPy at import: ``_columns`` (and this module's ``np``) import it when a column kernel first runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from kpi_engine import _numbers as num
from kpi_engine._columns import (
    Arr,
    Bool,
    Column,
    Ctx,
    Num,
    Text,
    UnusualError,
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
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import Number, round_half_up
from kpi_engine.expr._ir import BinOp, BoolOp, Call, Compare, Const, IfExp, Name, Neg, Node, Not, Value

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


Env = Mapping[str, Value]
Fn = Callable[[Env], Value]
Columns = Mapping[str, "Column"]


def compile_ir(node: Node) -> Fn:
    """The row kernel: ``node`` compiled into a function of an environment (name → value)."""
    match node:
        case Const(value=v):
            return lambda _env: v
        case Name(id=ident):
            return lambda env: env[ident]
        case Neg(operand=x):
            return _neg_row(compile_ir(x))
        case Not(operand=x):
            return _not_row(compile_ir(x))
        case BinOp(op=op, left=a, right=b):
            return _binop_row(_ARITH[op], compile_ir(a), compile_ir(b))
        case Compare(ops=ops, operands=operands):
            return _compare_row(tuple(_CMP[o] for o in ops), tuple(compile_ir(x) for x in operands))
        case BoolOp(op=op, values=values):
            return _boolop_row(op == "and", tuple(compile_ir(v) for v in values))
        case IfExp(test=t, body=b, orelse=o):
            return _ifexp_row(compile_ir(t), compile_ir(b), compile_ir(o))
        case Call(func=func, args=args):
            return _call_row(func, tuple(compile_ir(a) for a in args))
    msg = f"unknown IR node {node!r}"  # pragma: no cover
    raise TypeError(msg)  # pragma: no cover


def evaluate_columns(ctx: Ctx, node: Node, env: Columns) -> Column:
    """The column kernel: ``node`` over every row of ``env`` (name → column)."""
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
            return _neg_column(evaluate_columns(ctx, x, env))
        case Not(operand=x):
            return _not_column(evaluate_columns(ctx, x, env))
        case BinOp(op=op, left=a, right=b):
            return _binop_column(ctx, op, evaluate_columns(ctx, a, env), evaluate_columns(ctx, b, env), b)
        case Compare(ops=ops, operands=operands):
            values = [evaluate_columns(ctx, x, env) for x in operands]
            parts = [_compare_column(ctx, op, values[i], values[i + 1]) for i, op in enumerate(ops)]
            return _kleene_column(ctx, parts, is_and=True)
        case BoolOp(op=op, values=xs):
            parts = []
            for x in xs:
                part = evaluate_columns(ctx, x, env)
                assert isinstance(part, Bool)
                parts.append(part)
            return _kleene_column(ctx, parts, is_and=op == "and")
        case IfExp(test=t, body=b, orelse=o):
            cond = evaluate_columns(ctx, t, env)
            assert isinstance(cond, Bool)
            return _ifexp_column(ctx, cond, evaluate_columns(ctx, b, env), evaluate_columns(ctx, o, env))
        case Call(func=func, args=args):
            return _call_column(ctx, func, [evaluate_columns(ctx, a, env) for a in args], args)
    msg = f"unknown IR node {node!r}"  # pragma: no cover
    raise TypeError(msg)  # pragma: no cover


# --- negation and not ---------------------------------------------------------------------------


def _neg_row(fx: Fn) -> Fn:
    def neg(env: Env) -> Value:
        v = fx(env)
        return None if v is None else num.neg(v)  # type: ignore[arg-type]

    return neg


def _neg_column(value: Column) -> Num:

    assert isinstance(value, Num)
    return n_neg(value)


def _not_row(fx: Fn) -> Fn:
    def not_(env: Env) -> Value:
        v = fx(env)
        return None if v is None else not v

    return not_


def _not_column(value: Column) -> Bool:

    assert isinstance(value, Bool)
    return Bool(~value.val, value.na)


# --- arithmetic: + - * / ** ---------------------------------------------------------------------


def _div(a: Number, b: Number) -> Number | None:
    return None if b == 0 else num.div(a, b)


def _pow(a: Number, b: Number) -> Number | None:
    if a == 0 and b < 0:
        return None
    return num.power(a, int(b))  # the exponent is a checked integer constant


_ARITH: dict[str, Callable[[Number, Number], Number | None]] = {
    "+": num.add,
    "-": num.sub,
    "*": num.mul,
    "/": _div,
    "**": _pow,
}


def _binop_row(fn: Callable[[Number, Number], Number | None], fa: Fn, fb: Fn) -> Fn:
    def binop(env: Env) -> Value:
        a, b = fa(env), fb(env)
        if a is None or b is None:
            return None
        return fn(a, b)  # type: ignore[arg-type]

    return binop


def _binop_column(ctx: Ctx, op: str, left: Column, right: Column, right_node: Node) -> Num:

    assert isinstance(left, Num)
    assert isinstance(right, Num)
    if op == "+":
        return n_add(ctx, left, right)
    if op == "-":
        return n_add(ctx, left, right, -1)
    if op == "*":
        return n_mul(ctx, left, right)
    if op == "/":
        return n_div(ctx, left, right)  # a zero divisor: N/A
    assert isinstance(right_node, Const)  # the parser admits a constant whole exponent only
    assert isinstance(right_node.value, Decimal)
    return _power_column(ctx, left, int(right_node.value))


_MAX_BITS = 3000  # below 1e±999 (3,318 bits): larger values are the row executor's ``out_of_range``


def _bits(x: object) -> int:

    if isinstance(x, int):
        return abs(x).bit_length()
    assert isinstance(x, np.ndarray)
    if x.dtype != object:
        return 63
    return max((abs(int(v)).bit_length() for v in x.tolist()), default=0)


def _power_column(ctx: Ctx, base: Num, exponent: int) -> Num:
    """``base ** exponent`` by squaring (|exponent| ≤ 64: at most a dozen exact products).

    Products that could leave int64 mark their rows, and the run is redone in Python integers;
    there, a value beyond the row executor's exact range (about 1e±999) raises ``UnusualError``:
    the row executor reports it (``out_of_range``) or computes it.
    """
    result = Num(1, 1, base.na)
    square = base
    k = abs(exponent)
    first = True
    while k:
        if k & 1:
            result = square if first else n_mul(ctx, result, square)
            first = False
        k >>= 1
        if k:
            square = n_mul(ctx, square, square)
    if exponent < 0:
        result = n_div(ctx, Num.const(Fraction(1)), result)  # a zero base: N/A, as on the row
    if ctx.exact and max(_bits(result.num), _bits(result.den)) > _MAX_BITS:
        raise UnusualError("a power beyond the exact range")
    return result


# --- comparisons (chains are a Kleene 'and' of their links) -------------------------------------

_CMP: dict[str, Callable[[Value, Value], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,  # type: ignore[operator]  # operands type-checked as numbers
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}


def _compare_row(cmps: tuple[Callable[[Value, Value], bool], ...], fns: tuple[Fn, ...]) -> Fn:
    if len(cmps) == 1:  # ``a < b``, the usual gate or filter: the loop below for one pair
        cmp, fa, fb = cmps[0], fns[0], fns[1]

        def compare_one(env: Env) -> Value:
            a, b = fa(env), fb(env)
            if a is None or b is None:
                return None
            return bool(cmp(a, b))

        return compare_one

    def compare(env: Env) -> Value:
        values = [f(env) for f in fns]
        unknown = False
        for i, cmp in enumerate(cmps):
            a, b = values[i], values[i + 1]
            if a is None or b is None:
                unknown = True
            elif not cmp(a, b):
                return False
        return None if unknown else True

    return compare


def _compare_column(ctx: Ctx, op: str, a: Column, b: Column) -> Bool:

    if isinstance(a, Num) and isinstance(b, Num):
        val, na = n_cmp(ctx, a, b, op)
        return Bool(val, na)
    assert isinstance(a, Bool | Text)
    assert isinstance(b, Bool | Text)
    eq = np.asarray(a.val == b.val, dtype=bool)
    return Bool(eq if op == "==" else ~eq, na_or(a.na, b.na))


# --- and / or -----------------------------------------------------------------------------------


def _boolop_row(is_and: bool, fns: tuple[Fn, ...]) -> Fn:  # noqa: FBT001 - private helper
    decisive = not is_and  # False decides an 'and', True decides an 'or'

    def boolop(env: Env) -> Value:
        unknown = False
        for f in fns:
            v = f(env)
            if v is None:
                unknown = True
            elif v is decisive:
                return decisive
        return None if unknown else not decisive

    return boolop


def _kleene_column(ctx: Ctx, parts: list[Bool], *, is_and: bool) -> Bool:
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


# --- x if c else y ------------------------------------------------------------------------------


def _ifexp_row(ft: Fn, fb: Fn, fo: Fn) -> Fn:
    def ifexp(env: Env) -> Value:
        cond = ft(env)
        if cond is None:
            return None
        return fb(env) if cond else fo(env)

    return ifexp


def _ifexp_column(ctx: Ctx, cond: Bool, body: Column, orelse: Column) -> Column:

    c = cond.val if cond.na is None else cond.val & ~cond.na
    if isinstance(body, Num) and isinstance(orelse, Num):
        out = n_where(ctx, c, body, orelse)
        out.na = na_or(out.na, cond.na)
        return out
    assert isinstance(body, Bool | Text)
    assert isinstance(orelse, Bool | Text)
    val = np.where(c, body.val, orelse.val)
    picked: Arr = np.where(c, _mask(ctx, body.na), _mask(ctx, orelse.na))
    na = na_or(picked, cond.na)
    return Bool(val, na) if isinstance(body, Bool) else Text(val, na)


def _mask(ctx: Ctx, mask: Arr | None) -> Arr:

    return np.zeros(ctx.n, dtype=bool) if mask is None else mask


# --- calls: round, abs, min, max ----------------------------------------------------------------


def _call_row(func: str, fns: tuple[Fn, ...]) -> Fn:
    if func == "round":
        fx = fns[0]
        places = int(fns[1]({})) if len(fns) > 1 else 0  # type: ignore[arg-type]  # a constant

        def round_(env: Env) -> Value:
            v = fx(env)
            return None if v is None else round_half_up(v, places)  # type: ignore[arg-type]

        return round_
    if func == "abs":
        fx = fns[0]
        return lambda env: None if (v := fx(env)) is None else num.absolute(v)  # type: ignore[arg-type]
    pick = min if func == "min" else max

    def minmax(env: Env) -> Value:
        values = [f(env) for f in fns]
        if any(v is None for v in values):
            return None
        return pick(values)  # type: ignore[type-var]

    return minmax


def _call_column(ctx: Ctx, func: str, values: list[Column], args: tuple[Node, ...]) -> Column:

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
