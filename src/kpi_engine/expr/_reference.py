"""The reference evaluator (the oracle): simpleeval walking the Python AST directly over ``Fraction``.

It does not use the IR, the compiled closures nor the exact ``Decimal``/``Fraction`` mix of the
fast path: every number is a plain ``fractions.Fraction``, so property tests can check that the
fast path is exact. It is slower and only used in tests and ``Expression.evaluate_reference``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import simpleeval

from kpi_engine.expr._ir import Value


def _na(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        try:
            return fn(*args)
        except ZeroDivisionError:
            return None

    return wrapped


def _round(x: Fraction | None, places: Fraction | None = None) -> Fraction | None:
    """Half-up (ties away from zero) to ``places`` decimals, in plain integer arithmetic."""
    if x is None:
        return None
    scale = 10 ** (0 if places is None else int(places))
    scaled = abs(x) * scale
    q, r = divmod(scaled.numerator, scaled.denominator)
    q += 2 * r >= scaled.denominator
    return Fraction(q if x >= 0 else -q, scale)


def _fractions(names: Mapping[str, Value]) -> dict[str, Any]:
    return {k: Fraction(v) if isinstance(v, Decimal) else v for k, v in names.items()}


class _Kleene(simpleeval.SimpleEval):  # type: ignore[misc]  # simpleeval is untyped
    def __init__(self, source: str, names: Mapping[str, Value]) -> None:
        ops = {
            ast.Add: _na(operator.add),
            ast.Sub: _na(operator.sub),
            ast.Mult: _na(operator.mul),
            ast.Div: _na(lambda a, b: None if b == 0 else a / b),
            ast.Pow: _na(lambda a, b: None if (a == 0 and b < 0) else a ** int(b)),
            ast.USub: _na(operator.neg),
            ast.UAdd: _na(operator.pos),
            ast.Not: _na(operator.not_),
            ast.Eq: _na(operator.eq),
            ast.NotEq: _na(operator.ne),
            ast.Lt: _na(operator.lt),
            ast.LtE: _na(operator.le),
            ast.Gt: _na(operator.gt),
            ast.GtE: _na(operator.ge),
        }
        funcs = {"min": _na(min), "max": _na(max), "abs": _na(abs), "round": _round}
        names = {**_fractions(names), "true": True, "false": False}
        super().__init__(operators=ops, functions=funcs, names=names)
        self.source = source

    def _eval_constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bool | str):
            return node.value
        return Fraction(Decimal(ast.get_source_segment(self.source, node) or ""))

    def _eval_boolop(self, node: ast.BoolOp) -> Any:
        values = [self._eval(v) for v in node.values]
        if isinstance(node.op, ast.And):
            if any(v is False for v in values):
                return False
            return None if any(v is None for v in values) else True
        if any(v is True for v in values):
            return True
        return None if any(v is None for v in values) else False

    def _eval_compare(self, node: ast.Compare) -> Any:
        items = [self._eval(node.left), *(self._eval(c) for c in node.comparators)]
        results = [self.operators[type(op)](items[i], items[i + 1]) for i, op in enumerate(node.ops)]
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True

    def _eval_ifexp(self, node: ast.IfExp) -> Any:
        test = self._eval(node.test)
        if test is None:
            return None
        return self._eval(node.body) if test else self._eval(node.orelse)


def evaluate_reference(source: str, env: Mapping[str, Value]) -> Value:
    """Evaluate already-checked (percent-rewritten) expression text with simpleeval over fractions."""
    evaluator = _Kleene(source, env)
    result: Value = evaluator.eval(source)
    return result
