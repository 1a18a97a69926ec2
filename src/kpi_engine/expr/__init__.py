"""Safe expressions: parsed and type-checked once, evaluated exactly many times.

``Expression.evaluate`` is the compiled row kernel, ``Expression.evaluate_columns`` the column
kernel over exact columns (``_kernels`` holds both, node by node); ``Expression.evaluate_reference``
is the simpleeval oracle the tests compare them with. All share the IR in ``node``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from kpi_engine._numbers import exact, in_exact
from kpi_engine.expr._ir import Node, Type, Value, names_in
from kpi_engine.expr._kernels import compile_ir, evaluate_columns
from kpi_engine.expr._parse import FUNCTIONS, MAX_DEPTH, MAX_LENGTH, parse_to_ir
from kpi_engine.expr._reference import evaluate_reference

if TYPE_CHECKING:
    from kpi_engine._columns import Column, Ctx

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Expression",
    "Type",
    "Value",
    "evaluate_columns",
    "parse_expression",
]


@attrs.frozen
class Expression:
    """A checked expression: its text, IR, result type, the names it reads, and compiled form."""

    text: str
    source: str
    node: Node
    names: frozenset[str]
    _fn: Callable[[Mapping[str, Value]], Value] = attrs.field(repr=False, eq=False)

    @property
    def type(self) -> Type:
        """The result type: ``number``, ``text`` or ``bool``."""
        return self.node.type

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the checked form only; the closures are compiled again from the IR when loaded."""
        return _rebuild, (self.text, self.source, self.node, self.names)

    def evaluate(self, env: Mapping[str, Value]) -> Value:
        """Evaluate with the compiled fast path; ``None`` means N/A.

        Raises:
            decimal.DecimalException: when a value leaves the library's range (beyond 1e±999);
                the evaluator turns it into a located ``EvaluationError``.
        """
        if in_exact():
            return self._fn(env)
        with exact():
            return self._fn(env)

    def evaluate_columns(self, ctx: Ctx, env: Mapping[str, Column]) -> Column:
        """Evaluate over whole exact columns (the columnar executor's kernel); N/A rows are masked.

        Raises:
            UnusualError: a value beyond the exact range (the row executor reports it).
        """
        return evaluate_columns(ctx, self.node, env)

    def evaluate_reference(self, env: Mapping[str, Value]) -> Value:
        """Evaluate with the simpleeval reference evaluator (slow; for tests and audits)."""
        return evaluate_reference(self.source, env)


def _rebuild(text: str, source: str, node: Node, names: frozenset[str]) -> Expression:
    return Expression(text, source, node, names, compile_ir(node))


def parse_expression(text: str, names: Mapping[str, Type], want: Type | None = None) -> Expression:
    """Parse, type-check against ``names`` and compile ``text``.

    Raises:
        ExpressionError: with the 1-based column and a suggestion where one helps.
    """
    source, node = parse_to_ir(text, names, want)
    return Expression(text, source, node, names_in(node), compile_ir(node))
