"""Metrics over periods: ``previous`` and ``streak`` (DOMAIN §4, multi-period rules).

``previous`` compares a metric with the same subject's value one period earlier: ``growth`` =
(now − before) ÷ before, ``reduction`` = (before − now) ÷ before (60 → 45 days is 25 %),
``change`` = now − before, ``value`` = before. Missing history is N/A; a zero base makes growth
and reduction N/A. ``streak`` counts consecutive periods, ending with the appraised one, in which a
condition holds: it stops at the first period that fails, is N/A or has no data (no record and no
members), and at ``MAX_STREAK``.

Row kernels walk the subject's periods through the row scope; column kernels walk the layer of
the same nodes one period earlier (``layer.earlier()``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kpi_engine import _numbers as num
from kpi_engine._columns import Arr, Bool, Column, Num, n_add, n_div
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import is_number
from kpi_engine.expr import Expression, Value
from kpi_engine.language.model import Metric
from kpi_engine.plan.ops.scopes import ColumnScope, Layer, RowScope
from kpi_engine.time.periods import Period

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy")

MAX_STREAK = 240


class PreviousOp:
    """A comparison of ``metric.of`` with the previous period (``metric.compare``)."""

    without_column: str | None = None  # it has a column kernel

    def __init__(self, metric: Metric) -> None:
        assert metric.of is not None
        self.metric = metric
        self.of: str = metric.of
        self.compare = metric.compare

    def row(self, scope: RowScope, node: str, period: Period) -> Value:
        """Now against before, for one node."""
        now = scope.value(node, period, self.of)
        before = scope.value(node, period.previous(), self.of)
        if self.compare == "value":
            return before
        if not is_number(now) or not is_number(before):
            return None
        if self.compare == "change":
            return num.sub(now, before)
        if before == 0:
            return None
        diff = num.sub(now, before) if self.compare == "growth" else num.sub(before, now)
        return num.div(diff, before)

    def column(self, scope: ColumnScope, layer: Layer) -> Column:
        """Now against before, for every node of the layer (a zero divisor is N/A)."""
        before = scope.value(layer.earlier(), self.of)
        if self.compare == "value":
            return before
        now = scope.value(layer, self.of)
        ctx = scope.ctx(layer)
        if not isinstance(now, Num) or not isinstance(before, Num):
            return Num(0, 1, np.ones(layer.n, dtype=bool))
        if self.compare == "change":
            return n_add(ctx, now, before, -1)
        diff = n_add(ctx, now, before, -1) if self.compare == "growth" else n_add(ctx, before, now, -1)
        return n_div(ctx, diff, before)

    def explain(self, scope: RowScope, node: str, period: Period) -> dict[str, Any]:
        """The previous period and the compared metric's value there."""
        prev = period.previous()
        return {"previous": {"period": str(prev), self.of: scope.value(node, prev, self.of)}}


class StreakOp:
    """Consecutive periods, ending with the appraised one, where ``metric.expr`` holds."""

    without_column: str | None = None  # it has a column kernel

    def __init__(self, metric: Metric) -> None:
        assert metric.expr is not None
        self.metric = metric
        self.expr: Expression = metric.expr

    def row(self, scope: RowScope, node: str, period: Period) -> Value:
        """The length of the node's streak."""
        count, p = 0, period
        names = self.expr.names
        while count < MAX_STREAK and scope.exists(node, p):
            if self.expr.evaluate(scope.env(node, p, names)) is not True:
                break
            count += 1
            p = p.previous()
        return Decimal(count)

    def column(self, scope: ColumnScope, layer: Layer) -> Column:
        """The length of every node's streak, walking the layers of earlier periods."""
        count = np.zeros(layer.n, dtype=np.int64)
        alive = np.ones(layer.n, dtype=bool)
        step = layer
        for _ in range(MAX_STREAK):
            alive &= step.exists()
            if not alive.any():
                break
            alive &= true_rows(self.expr.evaluate_columns(scope.ctx(step), scope.env(step, self.expr.names)))
            count += alive
            step = step.earlier()
        return Num(count, 1, None)

    def explain(self, scope: RowScope, node: str, period: Period) -> dict[str, Any]:  # noqa: ARG002 - the protocol
        """Nothing beyond the inputs it reads."""
        return {}


def true_rows(b: Column) -> Arr:
    """Rows where a condition column is true (N/A is not true)."""
    assert isinstance(b, Bool)
    return b.val & ~b.na if b.na is not None else b.val.copy()
