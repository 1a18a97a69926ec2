"""Member shares (DOMAIN §5): the share of a subject's members for whom a condition holds.

Members' attainment rate = members meeting ``where`` ÷ members counted, where ``among`` decides
who is counted (all members by default); N/A when no member counts. ``measure: count`` gives the
number of members meeting ``where`` instead (0 for a subject without members). Each member's own values
decide (a member's own rollup for a department's teams), not the subject's.

Row kernel: each member through the row scope. Column kernel: the members' layer, counted per
owner.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kpi_engine import _numbers as num
from kpi_engine._columns import Column, Num
from kpi_engine._lazy import lazy_module
from kpi_engine.expr import Expression, Value
from kpi_engine.language.model import Metric
from kpi_engine.plan.ops.history import true_rows
from kpi_engine.plan.ops.scopes import ColumnScope, Layer, RowScope
from kpi_engine.time.periods import Period

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")


class MembersOp:
    """The share of members meeting ``metric.expr`` among those meeting ``metric.among``."""

    def __init__(self, metric: Metric) -> None:
        assert metric.expr is not None
        self.metric = metric
        self.expr: Expression = metric.expr
        self.among = metric.among
        self.count = metric.measure == "count"
        self.without_column: str | None = None  # both measures have a column kernel

    def row(self, scope: RowScope, node: str, period: Period) -> Value:
        """The node's share (``None`` when no member counts)."""
        counted = met = 0
        for k in scope.children(node, period):
            if self.among is not None and self.among.evaluate(scope.env(k, period, self.among.names)) is not True:
                continue
            counted += 1
            if self.expr.evaluate(scope.env(k, period, self.expr.names)) is True:
                met += 1
        if self.count:
            return Decimal(met)
        return None if counted == 0 else num.div(Decimal(met), Decimal(counted))

    def column(self, scope: ColumnScope, layer: Layer) -> Column:
        """Every node's share (or count), counted over the members' layer."""
        if not layer.has_kids.any():
            return Num(0, 1, None) if self.count else Num(0, 1, np.ones(layer.n, dtype=bool))
        kids = layer.kids()
        kctx = scope.ctx(kids)
        counted = np.ones(kids.n, dtype=bool)
        if self.among is not None:
            counted = true_rows(self.among.evaluate_columns(kctx, scope.env(kids, self.among.names)))
        meets = counted & true_rows(self.expr.evaluate_columns(kctx, scope.env(kids, self.expr.names)))
        total = np.bincount(layer.owner[counted], minlength=layer.n).astype(np.int64)
        met = np.bincount(layer.owner[meets], minlength=layer.n).astype(np.int64)
        if self.count:
            return Num(met, 1, None)
        none = total == 0
        return Num(met, np.where(none, 1, total), none if none.any() else None)

    def explain(self, scope: RowScope, node: str, period: Period) -> dict[str, Any]:
        """Each member: counted or not, and whether it meets the condition."""
        detail = {}
        for kid in scope.children(node, period):
            counted = self.among is None or self.among.evaluate(scope.env(kid, period, self.among.names))
            meets = self.expr.evaluate(scope.env(kid, period, self.expr.names))
            detail[kid] = {"counted": counted is True, "meets": meets}
        return {"members": detail}
