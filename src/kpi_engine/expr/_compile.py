"""The fast path: IR compiled once into nested closures over exact numbers.

Arithmetic never rounds: it uses the exact operations of ``_numbers`` (``Decimal`` at C speed,
``Fraction`` once a result has no short decimal expansion).

N/A (``None``) propagates: arithmetic or comparison with N/A is N/A; a zero denominator is N/A;
``and``/``or``/``not`` follow three-valued (Kleene) logic, so ``false and N/A`` is ``false``.
``x ** 0`` is 1 for every ``x`` (also 0, as in Python).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kpi_engine import _numbers as num
from kpi_engine._numbers import Number, round_half_up
from kpi_engine.expr._ir import BinOp, BoolOp, Call, Compare, Const, IfExp, Name, Neg, Node, Not, Value

Env = Mapping[str, Value]
Fn = Callable[[Env], Value]


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
_CMP: dict[str, Callable[[Value, Value], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,  # type: ignore[operator]  # operands type-checked as numbers
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}


def compile_ir(node: Node) -> Fn:
    """Compile IR into a function of an environment mapping names to values."""
    match node:
        case Const(value=v):
            return lambda _env: v
        case Name(id=ident):
            return lambda env: env[ident]
        case Neg(operand=x):
            fx = compile_ir(x)

            def neg(env: Env) -> Value:
                v = fx(env)
                return None if v is None else num.neg(v)  # type: ignore[arg-type]

            return neg
        case Not(operand=x):
            fx = compile_ir(x)

            def not_(env: Env) -> Value:
                v = fx(env)
                return None if v is None else not v

            return not_
        case BinOp(op=op, left=a, right=b):
            return _binop(_ARITH[op], compile_ir(a), compile_ir(b))
        case Compare(ops=ops, operands=operands):
            return _compare(tuple(_CMP[o] for o in ops), tuple(compile_ir(x) for x in operands))
        case BoolOp(op=op, values=values):
            return _boolop(op == "and", tuple(compile_ir(v) for v in values))
        case IfExp(test=t, body=b, orelse=o):
            ft, fb, fo = compile_ir(t), compile_ir(b), compile_ir(o)

            def ifexp(env: Env) -> Value:
                cond = ft(env)
                if cond is None:
                    return None
                return fb(env) if cond else fo(env)

            return ifexp
        case Call(func=func, args=args):
            return _call(func, tuple(compile_ir(a) for a in args))
    msg = f"unknown IR node {node!r}"  # pragma: no cover
    raise TypeError(msg)  # pragma: no cover


def _binop(fn: Callable[[Number, Number], Number | None], fa: Fn, fb: Fn) -> Fn:
    def binop(env: Env) -> Value:
        a, b = fa(env), fb(env)
        if a is None or b is None:
            return None
        return fn(a, b)  # type: ignore[arg-type]

    return binop


def _compare(cmps: tuple[Callable[[Value, Value], bool], ...], fns: tuple[Fn, ...]) -> Fn:
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


def _boolop(is_and: bool, fns: tuple[Fn, ...]) -> Fn:  # noqa: FBT001 - private helper
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


def _call(func: str, fns: tuple[Fn, ...]) -> Fn:
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
