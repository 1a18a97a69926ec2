"""Formulas (DOMAIN §5): an expression over other metrics, evaluated on the subject's own values.

A team's formula is evaluated on its rolled-up inputs, so a rate is a ratio of sums (Σ won ÷ Σ
leads), never a mean of member rates — unless the metric says ``rollup: mean``: then a subject
with members takes the mean of its members' values of the formula. ``a / 0`` is N/A.

Row kernel: ``FormulaOp.row`` (the expression's row kernel on the subject's values). Column
kernel: ``FormulaOp.column`` (the expression's column kernel on the layer's columns; the mean
over the members' layer where a node has members).
"""

from __future__ import annotations

from typing import Any

from kpi_engine._columns import Column, Num, UnusualError
from kpi_engine.expr import Expression, Value
from kpi_engine.language.model import Metric
from kpi_engine.plan.ops.inputs import choose, rollup_column, rollup_row
from kpi_engine.plan.ops.scopes import ColumnScope, Layer, RowScope
from kpi_engine.time.periods import Period


class FormulaOp:
    """A formula metric (``metric.expr``), optionally ``rollup: mean`` over members."""

    without_column: str | None = None  # it has a column kernel

    def __init__(self, metric: Metric) -> None:
        assert metric.expr is not None
        self.metric = metric
        self.name = metric.name
        self.expr: Expression = metric.expr
        self.mean = metric.rollup == "mean"

    def row(self, scope: RowScope, node: str, period: Period) -> Value:
        """The formula on the node's values; with ``rollup: mean``, the mean of its members' values."""
        if self.mean:
            kids = scope.children(node, period)
            if kids:
                return rollup_row([scope.value(k, period, self.name) for k in kids], "mean")
        return self.expr.evaluate(scope.env(node, period, self.expr.names))

    def column(self, scope: ColumnScope, layer: Layer) -> Column:
        """The formula over the layer; with ``rollup: mean``, the members' mean where a node has members."""
        ctx = scope.ctx(layer)
        own = self.expr.evaluate_columns(ctx, scope.env(layer, self.expr.names))
        if self.mean and layer.has_kids.any():
            kids = scope.value(layer.kids(), self.name)
            if not isinstance(kids, Num):
                raise UnusualError("a mean of values that are not numbers")
            return choose(ctx, layer.has_kids, rollup_column(ctx, kids, layer.owner, layer.n, "mean"), own)
        return own

    def explain(self, scope: RowScope, node: str, period: Period) -> dict[str, Any]:  # noqa: ARG002 - the protocol
        """Nothing beyond the inputs it reads."""
        return {}
