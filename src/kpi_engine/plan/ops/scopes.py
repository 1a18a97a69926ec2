"""What a metric op's kernels read from an executor: a row scope and a column scope (protocols).

A metric's row kernel is ``row(scope, node, period)``: one subject in one period, other metrics
read through ``scope.value`` (memoised by the row executor). Its column kernel is
``column(scope, layer)``: a *layer* is a list of nodes in one period, other metrics read through
``scope.value(layer, name)``; a layer's members form the layer below (``layer.kids()``, with
``layer.owner`` giving each member's position in the layer above) and the same nodes one period
earlier form ``layer.earlier()``. Executors implement these; the ops never import an executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from kpi_engine._columns import Arr, Column, Ctx
from kpi_engine.expr import Value
from kpi_engine.language.model import Metric
from kpi_engine.time.periods import Period


class RowScope(Protocol):
    """The row executor's memo of metric values over the subject hierarchy."""

    def value(self, node: str, period: Period, name: str) -> Value:
        """The value of metric ``name`` for ``node`` in ``period`` (computed once)."""
        ...

    def env(self, node: str, period: Period, names: Iterable[str]) -> dict[str, Value]:
        """``{name: value}`` for the names an expression reads."""
        ...

    def children(self, node: str, period: Period) -> tuple[str, ...]:
        """The node's members in the period (membership rows decide), in name order."""
        ...

    def exists(self, node: str, period: Period) -> bool:
        """The node has a record, or members, in the period."""
        ...

    def own(self, node: str, period: Period, name: str) -> Value:
        """The node's own record cell for input ``name`` (``None``: no record, or empty)."""
        ...

    def events(self, node: str, period: Period, members: Period | None = None) -> list[Any]:
        """The events in ``period`` of every rep below the node in ``members`` (default: the same period).

        The node itself when it has no members.
        """
        ...


class Layer(Protocol):
    """Nodes in one period, as the columnar executor holds them."""

    n: int
    period: Period
    has_kids: Arr  # per node: has members in the period
    owner: Arr  # per member (the layer below): the position of its node in this layer

    def kids(self) -> Layer:
        """The layer of every node's members (ordered by owner, then name)."""
        ...

    def earlier(self) -> Layer:
        """The same nodes one period earlier."""
        ...

    def exists(self) -> Arr:
        """Per node: a record in the period, or members."""
        ...


class ColumnScope(Protocol):
    """The columnar executor's metric columns of layers, for one pass (one exact context)."""

    def value(self, layer: Layer, name: str) -> Column:
        """The column of metric ``name`` for ``layer`` (computed once per pass)."""
        ...

    def env(self, layer: Layer, names: frozenset[str] | set[str]) -> dict[str, Column]:
        """``{name: column}`` for the names an expression reads."""
        ...

    def ctx(self, layer: Layer) -> Ctx:
        """The layer's exact context (rows whose int64 arithmetic might not be exact are marked)."""
        ...

    def own(self, layer: Layer, name: str) -> Column:
        """The nodes' own record cells for input ``name`` (N/A where none)."""
        ...

    def aggregates(self, layer: Layer) -> Mapping[str, Column]:
        """Every event aggregate of the scorecard for the layer (``ops.aggregates`` reduces them)."""
        ...


class MetricOp(Protocol):
    """One metric of the plan: its row kernel and its column kernel.

    ``without_column`` is ``None``, or the sentence naming what has no column kernel (the plan's
    ``support("columnar")`` gives it to the user).
    """

    metric: Metric
    without_column: str | None

    def row(self, scope: RowScope, node: str, period: Period) -> Value:
        """The metric's value for one node in one period."""
        ...

    def column(self, scope: ColumnScope, layer: Layer) -> Column:
        """The metric's column for every node of a layer."""
        ...

    def explain(self, scope: RowScope, node: str, period: Period) -> dict[str, Any]:
        """What a trace shows beyond the metric's inputs (events, members, the previous period …)."""
        ...
