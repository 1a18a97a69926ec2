"""Event aggregates (DOMAIN §1): count, sum, mean, min, max, count_distinct over a subject's events.

The events an aggregate reads are those of every rep below the subject (the subject itself when
it has no members) whose local date falls in the period, filtered by ``where`` (an event is
counted where the filter is true, not N/A). ``count`` counts them; the others read ``field``
where it has a value: ``count_distinct`` counts its distinct values, ``sum`` adds the numbers (0
for none), ``mean``, ``min`` and ``max`` are N/A for none (``aggregate``, which inputs filled from
events, ``evaluation/sources.py``, use too). ``over: year_to_date`` / ``rolling_year`` reads the
periods from 1 January, or the twelve months ending with the period (``time.periods.spanned``, shared
with ``--period`` spans); each period's members decide, the appraised period's where a period has no
membership rows for the subject.

Row kernel: ``AggregateOp.row`` over the subject's ``Event`` objects. Column kernel:
``reduce_column`` over the events of every owner at once (the columnar executor reads, validates
and filters the events, ``evaluation/columnar/_events.py``). Over several periods, the executor
labels each event with its owner in the event's own period by the rule above (that period's members
for a node with members then, the appraised period's otherwise) and reduces the span's events once;
where that rule puts a rep below two nodes in one period (the row kernel counts its events for
both), the nodes are split into groups that share no rep and each group is reduced on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kpi_engine import _numbers as num
from kpi_engine._columns import LIMIT, Column, Num, UnusualError
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import is_number
from kpi_engine.expr import Value
from kpi_engine.language.model import Metric
from kpi_engine.plan.ops.scopes import ColumnScope, Layer, RowScope
from kpi_engine.time.periods import Period, spanned

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
else:
    np = lazy_module("numpy")
    pl = lazy_module("polars")

TRACE_EVENTS = 100  # event ids listed in a trace; the count is always complete


def aggregate(fn: str, field: str | None, events: Iterable[Any]) -> Value:
    """``count``, ``sum``, ``mean``, ``min``, ``max`` or ``count_distinct`` of a field over events (exact).

    ``sum`` of nothing is 0, ``mean``/``min``/``max`` of nothing N/A (``None``).
    """
    found = list(events)
    if fn == "count":
        return Decimal(len(found))
    assert field is not None
    values = [e.fields[field] for e in found if e.fields.get(field) is not None]
    if fn == "count_distinct":
        return Decimal(len(set(values)))
    numbers = [v for v in values if is_number(v)]
    if fn == "sum":
        return num.total(numbers)
    if not numbers:
        return None
    if fn == "mean":
        return num.mean(numbers)
    return min(numbers) if fn == "min" else max(numbers)


class AggregateOp:
    """An aggregate of events (``metric.fn`` of ``metric.field`` where ``metric.where``, ``over`` periods)."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric
        self.name = metric.name
        self.fn = metric.fn
        self.field = metric.field
        self.where = metric.where
        self.over = metric.over
        self.without_column: str | None = None  # it has a column kernel, over one period or several

    def matching(self, scope: RowScope, node: str, period: Period) -> list[Any]:
        """The events the aggregate reads: all reps below the subject, filtered (over its periods)."""
        if self.over != "period":
            return [e for p in spanned(period, self.over) for e in self._matching(scope, node, p, period)]
        return self._matching(scope, node, period, period)

    def _matching(self, scope: RowScope, node: str, period: Period, appraised: Period) -> list[Any]:
        members = period if period == appraised or scope.children(node, period) else appraised
        events = scope.events(node, period, members)
        if self.where is not None:
            where = self.where
            events = [e for e in events if where.evaluate(e.fields) is True]
        return events

    def row(self, scope: RowScope, node: str, period: Period) -> Value:
        """The aggregate over one node's events."""
        return aggregate(self.fn or "count", self.field, self.matching(scope, node, period))

    def column(self, scope: ColumnScope, layer: Layer) -> Column:
        """The aggregate for every node of a layer (the executor reduces all of a layer's at once)."""
        return scope.aggregates(layer)[self.name]

    def explain(self, scope: RowScope, node: str, period: Period) -> dict[str, Any]:
        """How many events matched, and the first ids."""
        events = self.matching(scope, node, period)
        return {"events": {"matched": len(events), "ids": [e.event_id for e in events[:TRACE_EVENTS]]}}

    def empty_column(self, n: int) -> Num:
        """The aggregate over no events at all: 0 for counts and sums, N/A otherwise."""
        if self.fn in {"count", "count_distinct", "sum"}:
            return Num(0, 1, None)
        return Num(0, 1, np.ones(n, dtype=bool))


def reduce_column(work: Any, needed: list[Metric], fields: Mapping[str, tuple[str, int]], n: int) -> dict[str, Column]:
    r"""The column kernel: every aggregate in ``needed`` for ``n`` owners, from the period's events.

    ``work`` (a Polars frame, one row per event of the period) holds ``NUL g``, the position of the
    event's owner, and per metric ``NUL v:<name>``, the field it reads where its filter holds (null
    elsewhere), or for a filtered count ``NUL c:<name>``, the filter (``NUL``: the character
    ``\x00``, which no column of the data can start with). ``fields`` gives each field's
    kind and, for numbers, the denominator of its exact scaled integers. One Polars aggregation,
    plus one per distinct count; sums, counts, minima and maxima per owner are exactly the partial
    aggregates a per-batch executor combines.

    Raises:
        UnusualError: a sum that could leave the exact int64 range, or a number aggregate of a
            field that is not a number (the row executor decides).
    """
    aggs: list[Any] = []
    distinct: dict[str, Any] = {}
    for m in needed:
        if m.fn == "count":
            aggs.append((pl.len() if m.where is None else pl.col(f"\0c:{m.name}").sum()).cast(pl.Int64).alias(m.name))
            continue
        assert m.field is not None
        v = pl.col(f"\0v:{m.name}")
        if m.fn == "count_distinct":
            distinct[m.name] = (
                work.lazy().select("\0g", v).drop_nulls().unique().group_by("\0g").agg(pl.len().alias("c"))
            )
            continue
        if fields[m.field][0] != "number":
            raise UnusualError(f"{m.fn} of a field that is not a number")
        aggs += [
            v.sum().alias(f"{m.name}\0sum"),
            v.count().cast(pl.Int64).alias(f"{m.name}\0count"),
            v.min().alias(f"{m.name}\0min"),
            v.max().alias(f"{m.name}\0max"),
        ]
    queries = [work.lazy().group_by("\0g").agg(aggs)] if aggs else []
    frames = pl.collect_all([*queries, *distinct.values()])
    out: dict[str, Column] = {}
    for name, frame in zip(distinct, frames[len(queries) :], strict=True):
        out[name] = Num(_spread(frame, "c", n), 1, None)
    if not queries:
        return out
    agg = frames[0]
    for m in needed:
        if m.fn == "count":
            out[m.name] = Num(_spread(agg, m.name, n), 1, None)
        elif m.fn != "count_distinct":
            out[m.name] = _number(m, agg, fields[m.field or ""][1], n)
    return out


def _number(m: Metric, agg: Any, den: int, n: int) -> Num:
    counts = _spread(agg, f"{m.name}\0count", n)
    peak = np.maximum(np.abs(_spread(agg, f"{m.name}\0min", n)), np.abs(_spread(agg, f"{m.name}\0max", n)))
    # Each group's sum is below peak × count < 2**62, so Polars' int64 sum is exact.
    if (peak > LIMIT // np.maximum(counts, 1)).any() or den * (int(counts.max()) if n else 0) >= LIMIT:
        raise UnusualError("sums beyond the exact integer range")
    empty = counts == 0
    na = empty if empty.any() else None
    if m.fn == "sum":
        return Num(_spread(agg, f"{m.name}\0sum", n), den, None)
    if m.fn == "mean":
        return Num(_spread(agg, f"{m.name}\0sum", n), np.where(empty, 1, counts) * den, na).reduced()
    return Num(_spread(agg, f"{m.name}\0{'min' if m.fn == 'min' else 'max'}", n), den, na)


def _spread(frame: Any, column: str, n: int) -> Any:
    """A per-group result as an int64 array over all subjects (0 where a subject has no group)."""
    out = np.zeros(n, dtype=np.int64)
    values = frame[column].fill_null(0).to_numpy()
    out[frame["\0g"].to_numpy()] = values
    return out
