"""Metrics over periods and levels in the kernel: ``previous``, ``streak``, ``members`` and team rollups.

A ``Layer`` is a list of nodes in one period. Its metric columns follow the row evaluator's
``engine._Metrics`` node by node, over whole columns:

- an input is the node's own record value; when that is empty and the node has members in the
  period, it rolls up over the members' layer (``rollup``: sum, mean, min or max of the members
  that have a number; N/A when none has one; ``none`` keeps it N/A);
- a formula is evaluated on the node's values, so a team's rate is a ratio of sums (DOMAIN §5);
  ``rollup: mean`` takes the mean of the members' values instead;
- an event aggregate reads the events of every rep below the node (its leaves) in the period;
- ``previous`` reads the same nodes' layer one period earlier (N/A there where no record, a zero
  base for growth and reduction is N/A); ``streak`` walks the same nodes back period by period
  while a node exists (a record or members) and its condition is true, at most ``MAX_STREAK``;
- ``members`` is the share of members meeting a condition among those counted (N/A for none).

Columns are exact rationals (``_columns``). Every layer other than the appraised one has its own
``Ctx``; a row that could leave int64 there marks every appraised row, so the run is redone in
Python integers.
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm
from typing import Any

import numpy as np

from kpi_engine._columns import LIMIT, Arr, Bool, Column, Ctx, Num, Text, UnusualError, n_add, n_div, n_where
from kpi_engine.evaluation.columnar._events import aggregate
from kpi_engine.evaluation.columnar._teams import Hierarchy, reaches, subjects_at
from kpi_engine.expr import evaluate_columns as evaluate
from kpi_engine.language.model import Metric, Scorecard
from kpi_engine.time.periods import Period

_OTHER = "\x00"  # events of reps below no node of a layer
_FEW_DENOMINATORS = 64


def needs_layers(card: Scorecard) -> bool:
    """True when the scorecard reads other periods, members' values, or rolls records up to teams."""
    return card.subject != "rep" or any(m.kind in {"previous", "streak", "members"} for m in card.metrics.values())


def _true(b: Column) -> Arr:
    assert isinstance(b, Bool)
    return b.val & ~b.na if b.na is not None else b.val.copy()


def _na_of(col: Column, n: int) -> Arr:
    return np.zeros(n, dtype=bool) if col.na is None else col.na


class Data:
    """What every layer reads: validated record columns over all rows, events and membership."""

    def __init__(
        self,
        card: Scorecard,
        subjects: Any,
        periods: Any,
        columns: dict[str, Column],
        events: Any,
        hierarchy: Hierarchy | None,
    ) -> None:
        import polars as pl  # noqa: PLC0415

        self.card = card
        self.records = pl.DataFrame({"s": subjects, "k": periods}).with_row_index("r")
        self.columns: dict[str, Column] | None = columns  # released after the first pass (``Metrics.complete``)
        self.events = events
        self.hierarchy = hierarchy
        self._rows: dict[str, Any] = {}

    def align(self, period: Period, nodes: Arr) -> Arr:
        """The record row of each node in ``period`` (-1 where it has none)."""
        import polars as pl  # noqa: PLC0415

        key = str(period)
        if key not in self._rows:
            self._rows[key] = self.records.filter(pl.col("k") == key).select("s", "r")
        frame = pl.DataFrame({"s": pl.Series(nodes, dtype=pl.Utf8)}).with_row_index("i")
        joined = frame.join(self._rows[key], on="s", how="left").sort("i")
        return joined["r"].fill_null(-1).cast(pl.Int64).to_numpy()

    def kids(self, period: Period, nodes: Arr) -> tuple[Arr, Arr]:
        """The members of each node in ``period``: their names and their owner's position, by owner then name."""
        import polars as pl  # noqa: PLC0415

        if self.hierarchy is None or not len(nodes):
            return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
        frame = pl.DataFrame({"u": pl.Series(nodes, dtype=pl.Utf8)}).with_row_index("i")
        joined = frame.join(self.hierarchy.at(period), on="u", how="inner").sort(["i", "m"])
        return joined["m"].to_numpy().astype(object), joined["i"].cast(pl.Int64).to_numpy()


class Layer:
    """Nodes in one period: their record rows, their members (a layer below) and the same nodes earlier."""

    def __init__(self, data: Data, period: Period, nodes: Arr) -> None:
        self.data = data
        self.period = period
        self.nodes = nodes
        self.n = len(nodes)
        self.row = data.align(period, nodes)
        self.kid_nodes, self.owner = data.kids(period, nodes)
        self.has_kids = np.bincount(self.owner, minlength=self.n).astype(bool) if self.n else np.zeros(0, bool)
        self._kids: Layer | None = None
        self._earlier: Layer | None = None
        self._aggregates: dict[str, Column] | None = None
        self.own: dict[str, Column] = {}  # inputs from the nodes' own records (the same in every pass)

    def kids(self) -> Layer:
        if self._kids is None:
            self._kids = Layer(self.data, self.period, self.kid_nodes)
        return self._kids

    def earlier(self) -> Layer:
        if self._earlier is None:
            self._earlier = Layer(self.data, self.period.previous(), self.nodes)
        return self._earlier

    def exists(self) -> Arr:
        """A record in the period, or members (``_Metrics.exists``)."""
        return (self.row >= 0) | self.has_kids

    def leaves(self) -> tuple[Arr, Arr]:
        """The reps below each node (the node itself when it has no members) and their owner's position."""
        if not self.has_kids.any():
            return self.nodes, np.arange(self.n, dtype=np.int64)
        names, owner = self.kids().leaves()
        mine = ~self.has_kids
        return (
            np.concatenate([self.nodes[mine], names]),
            np.concatenate([np.flatnonzero(mine), self.owner[owner]]),
        )

    def aggregates(self) -> dict[str, Column]:
        """Every event aggregate of the scorecard for these nodes in this period (exact, from ``_events``)."""
        if self._aggregates is None:
            self._aggregates = self._aggregate()
        return self._aggregates

    def _aggregate(self) -> dict[str, Column]:
        import polars as pl  # noqa: PLC0415

        card = self.data.card
        needed = [m for m in card.metrics.values() if m.kind == "aggregate"]
        events = self.data.events
        if events is None or events.height == 0:
            return {
                m.name: Num(0, 1, None)
                if m.fn in {"count", "count_distinct", "sum"}
                else Num(0, 1, np.ones(self.n, dtype=bool))
                for m in needed
            }
        if "rep" not in events.columns:
            raise UnusualError("no rep column")
        names, owner = self.leaves()
        labels = [str(i) for i in range(self.n)]
        rep = pl.col("rep").cast(pl.Utf8).str.strip_chars()
        relabel = rep.replace_strict(
            pl.Series(names, dtype=pl.Utf8), pl.Series([labels[i] for i in owner], dtype=pl.Utf8), default=_OTHER
        )
        blank = rep.is_null() | (rep == "")
        relabelled = events.with_columns(pl.when(blank).then(rep).otherwise(relabel).alias("rep"))
        found = aggregate(card, relabelled, self.period, [*labels, _OTHER], needed)
        return {name: _head(col, self.n) for name, col in found.items()}


def _head(col: Column, n: int) -> Column:
    na = None if col.na is None else col.na[:n]
    if isinstance(col, Num):
        num = col.num if isinstance(col.num, int) else col.num[:n]
        den = col.den if isinstance(col.den, int) else col.den[:n]
        return Num(num, den, na)
    return type(col)(col.val[:n], na)


def _gather(col: Column | None, rows: Arr, kind: str) -> Column:
    """Column values at record ``rows`` (-1: no record, N/A)."""
    n = len(rows)
    missing = rows < 0
    safe = np.where(missing, 0, rows)
    if col is None:
        if kind == "bool":
            return Bool(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
        if kind in {"text", "date"}:
            return Text(np.full(n, None, dtype=object), np.ones(n, dtype=bool))
        return Num(0, 1, np.ones(n, dtype=bool))
    na = missing if col.na is None else (missing | col.na[safe] if len(col.na) else missing)
    if isinstance(col, Num):
        num = col.num if isinstance(col.num, int) else np.where(missing, 0, col.num[safe]) if len(col.num) else 0
        den = col.den if isinstance(col.den, int) else np.where(missing, 1, col.den[safe]) if len(col.den) else 1
        return Num(num, den, na if na.any() else None)
    val = col.val[safe] if len(col.val) else np.full(n, None, dtype=object)
    return type(col)(val, na if na.any() else None)


def _fractions(col: Num, n: int) -> list[Fraction | None]:
    num = np.broadcast_to(np.asarray(col.num, dtype=object), (n,)).tolist()
    den = np.broadcast_to(np.asarray(col.den, dtype=object), (n,)).tolist()
    na = _na_of(col, n).tolist()
    # A zero denominator marks a row whose int64 product was not formed (``Ctx.bad``): the run is redone exactly.
    return [None if bad or not b else Fraction(int(a), int(b)) for a, b, bad in zip(num, den, na, strict=True)]


def _from_fractions(ctx: Ctx, values: list[Fraction | None]) -> Num:
    """A column of exact values: int64 where they fit (rows that do not are marked bad), else Python ints."""
    nums = [0 if v is None else v.numerator for v in values]
    dens = [1 if v is None else v.denominator for v in values]
    na = np.array([v is None for v in values], dtype=bool)
    if ctx.exact:
        return Num(np.array(nums, dtype=object), np.array(dens, dtype=object), na if na.any() else None)
    big = np.array([abs(a) >= LIMIT or b >= LIMIT for a, b in zip(nums, dens, strict=True)], dtype=bool)
    if big.any():
        ctx.bad[:] = True  # the kernel's rows cannot hold these values; the exact pass takes every row
        nums = [0 if b else a for a, b in zip(nums, big.tolist(), strict=True)]
        dens = [1 if b else d for d, b in zip(dens, big.tolist(), strict=True)]
    return Num(np.array(nums, dtype=np.int64), np.array(dens, dtype=np.int64), na if na.any() else None)


def _small(x: Any) -> Any:
    """An object array of Python integers as int64 when every value fits (exact mode keeps small values)."""
    if isinstance(x, int) or x.dtype != object:
        return x
    values = x.tolist()
    if max((abs(v) for v in values), default=0) >= LIMIT:
        return x
    return np.array(values, dtype=np.int64)


def _one_den(values: Num, present: Arr) -> Num:
    """The same values over one denominator when their denominators have a small lcm (else as they are)."""
    values = Num(_small(values.num), _small(values.den), values.na)
    den = values.den
    if isinstance(den, int) or den.dtype == object or isinstance(values.num, int) or values.num.dtype == object:
        return values
    present = present & (den > 0)  # a zero denominator: a row left for the exact pass (its value is unused)
    dens = np.unique(den[present])
    common = lcm(*dens.tolist()) if 0 < len(dens) <= _FEW_DENOMINATORS else LIMIT
    if common >= LIMIT:
        return values
    factor = common // np.where(present, den, common)
    num = np.where(present, values.num, 0)
    if int(np.abs(num).max(initial=0)) * int(factor.max(initial=1)) >= LIMIT:
        return values
    return Num(num * factor, common, values.na)


def _rollup(ctx: Ctx, values: Num, owner: Arr, n: int, how: str) -> Num:
    """Per owner: sum, mean, min or max of the values that are not N/A (N/A for an owner with none)."""
    present = ~_na_of(values, len(owner))
    values = _one_den(values, present)
    who = owner[present]
    count = np.bincount(who, minlength=n).astype(np.int64)
    empty = count == 0
    num = values.num
    # int64 sums whose range is checked first: exact in either pass (the exact pass takes int64 columns too).
    fast = isinstance(values.den, int) and (isinstance(num, int) or num.dtype != object)
    if fast:
        nums = np.broadcast_to(np.asarray(num, dtype=np.int64), (len(owner),))[present]
        peak = int(np.abs(nums).max()) if len(nums) else 0
        most = int(count.max()) if n else 0
        if peak * max(most, 1) < LIMIT and values.den * max(most, 1) < LIMIT:
            if how in {"sum", "mean"}:
                sums = np.zeros(n, dtype=np.int64)
                np.add.at(sums, who, nums)
                if how == "sum":
                    return Num(sums, values.den, empty if empty.any() else None)
                return Num(sums, np.where(empty, 1, count) * values.den, empty if empty.any() else None).reduced()
            start = np.iinfo(np.int64).max if how == "min" else np.iinfo(np.int64).min
            out = np.full(n, start, dtype=np.int64)
            (np.minimum if how == "min" else np.maximum).at(out, who, nums)
            return Num(np.where(empty, 0, out), values.den, empty if empty.any() else None)
    groups: list[list[Fraction]] = [[] for _ in range(n)]
    for o, v in zip(owner.tolist(), _fractions(values, len(owner)), strict=True):
        if v is not None:
            groups[o].append(v)
    result: list[Fraction | None] = []
    for g in groups:
        if not g:
            result.append(None)
        elif how == "sum":
            result.append(sum(g, Fraction(0)))
        elif how == "mean":
            result.append(sum(g, Fraction(0)) / len(g))
        else:
            result.append(min(g) if how == "min" else max(g))
    return _from_fractions(ctx, result)


def _choose(ctx: Ctx, use: Arr, a: Column, b: Column) -> Column:
    """``a`` where ``use``, else ``b`` (same kind of column)."""
    if isinstance(a, Num) and isinstance(b, Num):
        out = n_where(ctx, use, a, b)
        na: Arr = np.where(use, _na_of(a, ctx.n), _na_of(b, ctx.n))
        out.na = na if na.any() else None
        return out
    assert isinstance(b, Bool | Text)
    na = _na_of(b, ctx.n) | use  # a non-number rolled up is N/A (only numbers roll up)
    return type(b)(b.val, na if na.any() else None)


class Resolver:
    """Metric columns of layers for one pass (one ``Ctx`` of the appraised layer)."""

    def __init__(self, card: Scorecard, top: Layer, ctx: Ctx) -> None:
        self.card = card
        self.top = top
        self.top_ctx = ctx
        self.ctxs: dict[int, Ctx] = {id(top): ctx}
        self.values: dict[tuple[int, str], Column] = {}
        self.alive: list[Layer] = [top]  # keeps every layer (and so its id) alive for the pass

    def ctx(self, layer: Layer) -> Ctx:
        found = self.ctxs.get(id(layer))
        if found is None:
            found = self.ctxs[id(layer)] = Ctx(layer.n, exact=self.top_ctx.exact)
            self.alive.append(layer)
        return found

    def settle(self) -> None:
        """A possibly inexact row in any other layer sends the whole run to the exact pass."""
        if any(c.bad.any() for c in self.ctxs.values() if c is not self.top_ctx):
            self.top_ctx.bad[:] = True

    def value(self, layer: Layer, name: str) -> Column:
        key = (id(layer), name)
        found = self.values.get(key)
        if found is None:
            self.ctx(layer)
            found = self.values[key] = self._compute(layer, name)
        return found

    def env(self, layer: Layer, names: frozenset[str] | set[str]) -> dict[str, Column]:
        return {name: self.value(layer, name) for name in names}

    def _compute(self, layer: Layer, name: str) -> Column:
        if name in self.card.inputs and (name not in self.card.metrics or self.card.metrics[name].kind == "input"):
            return self._input(layer, name)
        m = self.card.metrics[name]
        ctx = self.ctx(layer)
        if m.kind == "aggregate":
            return layer.aggregates()[name]
        if m.kind == "formula":
            assert m.expr is not None
            own = evaluate(ctx, m.expr.node, self.env(layer, m.expr.names))
            if m.rollup == "mean" and layer.has_kids.any():
                kids = self.value(layer.kids(), name)
                if not isinstance(kids, Num):
                    raise UnusualError("a mean of values that are not numbers")
                return _choose(ctx, layer.has_kids, _rollup(ctx, kids, layer.owner, layer.n, "mean"), own)
            return own
        if m.kind == "previous":
            return self._previous(layer, m)
        if m.kind == "streak":
            return self._streak(layer, m)
        if m.kind == "members":
            return self._members(layer, m)
        msg = f"metric '{m.name}' of kind '{m.kind}'"
        raise UnusualError(msg)

    def _input(self, layer: Layer, name: str) -> Column:
        spec = self.card.inputs[name]
        own = layer.own.get(name)
        if own is None:
            if layer.data.columns is None:  # pragma: no cover - every pass reads the same inputs
                raise UnusualError("an input read only in the exact pass")
            own = layer.own[name] = _gather(layer.data.columns.get(name), layer.row, spec.type)
        if spec.rollup == "none" or not layer.has_kids.any():
            return own
        use = layer.has_kids & _na_of(own, layer.n)
        if not use.any():
            return own
        kids = self.value(layer.kids(), name)
        ctx = self.ctx(layer)
        if not isinstance(kids, Num) or not isinstance(own, Num):
            return _choose(ctx, use, own, own)
        return _choose(ctx, use, _rollup(ctx, kids, layer.owner, layer.n, spec.rollup), own)

    def _previous(self, layer: Layer, m: Metric) -> Column:
        assert m.of is not None
        before = self.value(layer.earlier(), m.of)
        if m.compare == "value":
            return before
        now = self.value(layer, m.of)
        ctx = self.ctx(layer)
        if not isinstance(now, Num) or not isinstance(before, Num):
            return Num(0, 1, np.ones(layer.n, dtype=bool))
        if m.compare == "change":
            return n_add(ctx, now, before, -1)
        diff = n_add(ctx, now, before, -1) if m.compare == "growth" else n_add(ctx, before, now, -1)
        return n_div(ctx, diff, before)

    def _streak(self, layer: Layer, m: Metric) -> Column:
        from kpi_engine.evaluation.engine import MAX_STREAK  # noqa: PLC0415 - the engine imports this package

        assert m.expr is not None
        count = np.zeros(layer.n, dtype=np.int64)
        alive = np.ones(layer.n, dtype=bool)
        step = layer
        for _ in range(MAX_STREAK):
            alive &= step.exists()
            if not alive.any():
                break
            alive &= _true(evaluate(self.ctx(step), m.expr.node, self.env(step, m.expr.names)))
            count += alive
            step = step.earlier()
        return Num(count, 1, None)

    def _members(self, layer: Layer, m: Metric) -> Column:
        assert m.expr is not None
        if not layer.has_kids.any():
            return Num(0, 1, np.ones(layer.n, dtype=bool))
        kids = layer.kids()
        kctx = self.ctx(kids)
        counted = np.ones(kids.n, dtype=bool)
        if m.among is not None:
            counted = _true(evaluate(kctx, m.among.node, self.env(kids, m.among.names)))
        meets = counted & _true(evaluate(kctx, m.expr.node, self.env(kids, m.expr.names)))
        total = np.bincount(layer.owner[counted], minlength=layer.n).astype(np.int64)
        met = np.bincount(layer.owner[meets], minlength=layer.n).astype(np.int64)
        none = total == 0
        return Num(met, np.where(none, 1, total), none if none.any() else None)


class Metrics:
    """Every metric of the appraised subjects in the chosen period, computed through layers."""

    def __init__(self, card: Scorecard, data: Data, period: Period, subjects: list[str]) -> None:
        self.card = card
        self.top = Layer(data, period, np.array(subjects, dtype=object))

    def complete(self, ctx: Ctx, env: dict[str, Column]) -> None:
        """Fill ``env`` with every input and metric column (the same signature as ``_run._formulas``).

        Raises:
            UnusualError: a required input without a value (the row path reports it), or a form
                the kernel leaves to the row path.
        """
        resolver = Resolver(self.card, self.top, ctx)
        for name in [*self.card.inputs, *self.card.metrics]:
            if name not in env:
                env[name] = resolver.value(self.top, name)
        for name, spec in self.card.inputs.items():
            na = env[name].na
            if spec.required and na is not None and na.any():
                raise UnusualError("a required input without a value")
        resolver.settle()
        self.top.data.columns = None  # every layer keeps the inputs it read: free the columns of all periods


def _with_record(subjects: Any, periods: Any, period: Period) -> list[str]:
    import polars as pl  # noqa: PLC0415

    return pl.DataFrame({"s": subjects, "k": periods}).filter(pl.col("k") == str(period))["s"].to_list()


def latest(card: Scorecard, hierarchy: Hierarchy | None, subjects: Any, periods: Any, known: set[Period]) -> Period:
    """The period a run without ``period`` appraises, or ``UnusualError`` where the row path refuses.

    As ``engine._latest_period``: several periods need a ruleset that reads history, and the
    latest period must keep every subject of the one before it.
    """
    ordered = sorted(known)
    if not ordered:
        raise UnusualError("no period")
    if len(ordered) == 1:
        return ordered[0]
    if not card.reads_history:
        raise UnusualError("several periods and no history read")
    now = subjects_at(card, hierarchy, ordered[-1], _with_record(subjects, periods, ordered[-1]))
    before = subjects_at(card, hierarchy, ordered[-2], _with_record(subjects, periods, ordered[-2]))
    if set(before) - set(now):
        raise UnusualError("a subject of the period before has no data in the latest")
    return ordered[-1]


def prepare(card: Scorecard, data: Data, period: Period) -> tuple[list[str], dict[str, str], Metrics]:
    """The appraised subjects, their parents and their metrics; ``UnusualError`` where the row path must report.

    Records (team levels) and events of the period must reach an appraised subject (``check_orphans``).
    """
    import polars as pl  # noqa: PLC0415

    from kpi_engine.evaluation.columnar._events import _local_dates  # noqa: PLC0415

    with_record = _with_record(data.records["s"], data.records["k"], period)
    subjects = subjects_at(card, data.hierarchy, period, with_record)
    if not subjects:
        raise UnusualError("no subject in the period")
    appraised = set(subjects)
    if card.subject != "rep" and not all(reaches(data.hierarchy, period, with_record, appraised)):
        raise UnusualError("a record that belongs to no appraised subject")
    events = data.events
    if events is not None and events.height:
        if "rep" not in events.columns or "at" not in events.columns:
            raise UnusualError("no rep or at column")
        dates = _local_dates(events["at"], card.timezone)
        mine = [d for d in dates.unique().to_list() if Period.containing(d, card.period) == period]
        reps = events.filter(dates.is_in(mine))["rep"].cast(pl.Utf8).str.strip_chars().unique().to_list()
        if any(r is None or r == "" for r in reps):
            raise UnusualError("an event without a rep")
        if not all(reaches(data.hierarchy, period, reps, appraised)):
            raise UnusualError("an event that belongs to no appraised subject")
    parents = data.hierarchy.parents(period) if data.hierarchy is not None else {}
    parent = {s: parents[s] for s in subjects if s in parents}
    return subjects, parent, Metrics(card, data, period, subjects)


class WholeTracer:
    """Explanations of a team run: the row evaluator over all the run's inputs, once, when first asked.

    A team's explanation reads its members' records, events and membership rows (in this and
    earlier periods), so the trace is the row path's own by construction.
    """

    def __init__(self, ruleset: Any, period: Period, records: Any, members: Any, events: Any, *, extra: bool) -> None:
        self.ruleset = ruleset
        self.period = period
        self.inputs = (records, members, events)
        self.extra = extra
        self.appraisal: Any = None

    def explanation(self, subject: str, kpi_id: str) -> dict[str, Any]:
        from kpi_engine.evaluation.columnar import row_inputs  # noqa: PLC0415
        from kpi_engine.evaluation.engine import _rows  # noqa: PLC0415 - the engine imports this package

        if self.appraisal is None:
            records, members, events = self.inputs
            self.appraisal = _rows(
                self.ruleset,
                row_inputs(records, "records"),
                period=str(self.period),
                members=row_inputs(members, "members"),
                events=row_inputs(events, "events"),
                allow_extra_columns=self.extra,
            )
        explanation: dict[str, Any] = self.appraisal.result(subject).kpi(kpi_id).explanation
        return explanation
