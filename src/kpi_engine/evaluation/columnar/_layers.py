"""The columnar executor's column scope: metric columns of *layers*, each computed by its op.

A ``Layer`` is a list of nodes in one period, with their record rows; its members form the layer
below and the same nodes one period earlier form another layer. ``Resolver`` gives each metric of
a layer the column its op's column kernel computes (``plan.ops``: inputs and rollups, formulas,
aggregates, previous, streak, members), once per pass. A run of one period without members uses
a ``FlatLayer``: the appraised subjects' own columns, nothing to roll up.

Columns are exact rationals (``_columns``). Every layer other than the appraised one has its own
``Ctx``; a row that could leave int64 there marks every appraised row, so the run is redone in
Python integers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from kpi_engine._columns import Arr, Bool, Column, Ctx, Num, Text, UnusualError
from kpi_engine.errors import DataError
from kpi_engine.evaluation import checks
from kpi_engine.evaluation.columnar._events import aggregate, window_log
from kpi_engine.evaluation.columnar._teams import Hierarchy, reaches, subjects_at
from kpi_engine.evaluation.row import run_rows
from kpi_engine.language.model import Scorecard
from kpi_engine.plan import Plan, lower
from kpi_engine.plan.ops.aggregates import AggregateOp
from kpi_engine.plan.ops.windows import LogColumns
from kpi_engine.time.periods import Period, spanned

_OTHER = "\x00"  # events of reps below no node of a layer
_EPOCH = dt.date(1970, 1, 1)


def needs_layers(card: Scorecard) -> bool:
    """True when the scorecard reads other periods, members' values or the whole event log, or rolls up to teams.

    Other periods: ``previous``, ``streak`` and aggregates ``over`` a span; the whole event log: windows.
    """
    return card.subject != "rep" or any(
        m.kind in {"previous", "streak", "members", "window"} or (m.kind == "aggregate" and m.over != "period")
        for m in card.metrics.values()
    )


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
        self._log: LogColumns | None = None

    def window_log(self) -> LogColumns:
        """The whole event log for the scorecard's window metrics, validated once per run."""
        if self._log is None:
            windows = [m for m in self.card.metrics.values() if m.kind == "window"]
            if self.events is None or self.events.height == 0:
                empty = np.zeros(0, dtype=np.int64)
                nothing = np.zeros(0, dtype=bool)
                self._log = LogColumns(
                    us=empty, order=empty, day=empty, trigger={m.name: nothing for m in windows},
                    answer={m.name: nothing for m in windows}, key={m.name: empty for m in windows},
                    calendar=self.card.calendar, rep=None,
                )  # fmt: skip
            else:
                self._log = window_log(self.card, self.events, windows)
        return self._log

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
        self._counted: Arr | None = None
        self.own: dict[str, Column] = {}  # inputs from the nodes' own records (the same in every pass)

    def own_column(self, name: str, kind: str) -> Column:
        """The nodes' own record cells of input ``name`` (N/A where no record), read once."""
        own = self.own.get(name)
        if own is None:
            if self.data.columns is None:  # pragma: no cover - every pass reads the same inputs
                raise UnusualError("an input read only in the exact pass")
            own = self.own[name] = _gather(self.data.columns.get(name), self.row, kind)
        return own

    def release(self) -> None:
        """Free the record columns of every period (the layers keep what they read)."""
        self.data.columns = None

    def kids(self) -> Layer:
        if self._kids is None:
            self._kids = Layer(self.data, self.period, self.kid_nodes)
        return self._kids

    def earlier(self) -> Layer:
        if self._earlier is None:
            self._earlier = Layer(self.data, self.period.previous(), self.nodes)
        return self._earlier

    def exists(self) -> Arr:
        """A record in the period, or members (``RowMetrics.exists``)."""
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

    def counted_by(self) -> Arr:
        """Per event of the log: the node whose window metrics count it (its rep's, or its own), -1 for none."""
        import polars as pl  # noqa: PLC0415

        if self._counted is not None:
            return self._counted
        log = self.data.window_log()
        if log.rep is None:
            return np.zeros(0, dtype=np.int64)
        names, owner = self.leaves()
        teams = np.flatnonzero(self.has_kids)  # a team's own events (its alerts) count for it too
        names = np.concatenate([names, self.nodes[teams]])
        owner = np.concatenate([owner, teams])
        if len(set(names.tolist())) != len(names):
            raise UnusualError("a rep below two nodes")
        found = log.rep.replace_strict(
            pl.Series(names, dtype=pl.Utf8), pl.Series(owner, dtype=pl.Int64), default=-1, return_dtype=pl.Int64
        ).to_numpy()
        start = (self.period.start - _EPOCH).days
        end = (self.period.next_start() - _EPOCH).days
        self._counted = np.where((log.day >= start) & (log.day < end), found, -1)
        return self._counted

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
            return {m.name: AggregateOp(m).empty_column(self.n) for m in needed}
        if "rep" not in events.columns:
            raise UnusualError("no rep column")
        labels = [str(i) for i in range(self.n)]
        rep = pl.col("rep").cast(pl.Utf8).str.strip_chars()
        blank = rep.is_null() | (rep == "")
        out: dict[str, Column] = {}
        for over in dict.fromkeys(m.over for m in needed):
            metrics = [m for m in needed if m.over == over]
            if over == "period":
                relabel = self._relabel(rep, *self.leaves())
                relabelled = events.with_columns(pl.when(blank).then(rep).otherwise(relabel).alias("rep"))
                found = aggregate(card, relabelled, self.period, [*labels, _OTHER], metrics)
                out.update({name: _head(col, self.n) for name, col in found.items()})
                continue
            periods = spanned(self.period, over)
            owners = self._span_owners(periods)
            colour = _colours(owners, self.n)
            # One pass per colour: within a colour, every rep has one owner in each period.
            for c in range(int(colour.max()) + 1 if self.n else 1):
                picked = [(p, names[colour[owner] == c], owner[colour[owner] == c]) for p, names, owner in owners]
                relabel = self._span_labels(rep, events, picked)
                relabelled = events.with_columns(pl.when(blank).then(rep).otherwise(relabel).alias("rep"))
                found = aggregate(card, relabelled, self.period, [*labels, _OTHER], metrics, periods[0])
                mine = colour == c
                for name, col in found.items():
                    head = _head(col, self.n)
                    out[name] = head if c == 0 else _merge(out[name], head, mine)
        return out

    def _relabel(self, rep: Any, names: Arr, owner: Arr) -> Any:
        """The expression giving each event's owner: the position (as text) of the node its rep is below."""
        import polars as pl  # noqa: PLC0415

        if len(set(names.tolist())) != len(names):  # a rep below two nodes: the row path counts it twice
            raise UnusualError("a rep below two nodes")
        return rep.replace_strict(
            pl.Series(names, dtype=pl.Utf8), pl.Series([str(i) for i in owner], dtype=pl.Utf8), default=_OTHER
        )

    def _span_owners(self, periods: list[Period]) -> list[tuple[Period, Arr, Arr]]:
        """Per period of a span, its reps and their owners' positions (the rule of ``ops.aggregates``).

        That period's members decide for a node with members then, the appraised period's otherwise;
        so a rep may be below two nodes in one period (the row kernel counts its events for both).
        """
        now_names, now_owner = self.leaves()
        out = []
        for p in periods:
            if p == self.period:
                out.append((p, now_names, now_owner))
                continue
            then = Layer(self.data, p, self.nodes)
            then_names, then_owner = then.leaves()
            keep_then = then.has_kids[then_owner]
            keep_now = ~then.has_kids[now_owner]
            names = np.concatenate([then_names[keep_then], now_names[keep_now]])
            owner = np.concatenate([then_owner[keep_then], now_owner[keep_now]])
            out.append((p, names, owner))
        return out

    def _span_labels(self, rep: Any, events: Any, owners: list[tuple[Period, Arr, Arr]]) -> Any:
        """Each event's owner in its own period of a span (one owner per rep in each period)."""
        import polars as pl  # noqa: PLC0415

        from kpi_engine.evaluation.columnar._events import _local_dates  # noqa: PLC0415

        dates = _local_dates(events["at"], self.data.card.timezone)
        label = pl.Series([_OTHER] * events.height, dtype=pl.Utf8)
        for p, names, owner in owners:
            inside = (dates >= p.start) & (dates < p.next_start())
            if not inside.any():
                continue
            found = events.select(self._relabel(rep, names, owner).alias("l"))["l"]
            label = found.zip_with(inside, label)
        return pl.lit(label)


def _colours(owners: list[tuple[Period, Arr, Arr]], n: int) -> Arr:
    """A colour per node such that no two nodes of one colour share a rep in any period (greedy; usually one)."""
    colour = np.zeros(n, dtype=np.int64)
    shared: dict[int, set[int]] = {}
    for _, names, owner in owners:
        if len(set(names.tolist())) == len(names):
            continue
        below: dict[str, list[int]] = {}
        for name, o in zip(names.tolist(), owner.tolist(), strict=True):
            below.setdefault(name, []).append(o)
        for found in below.values():
            for a in found:
                shared.setdefault(a, set()).update(b for b in found if b != a)
    for node in sorted(shared):
        taken = {int(colour[other]) for other in shared[node] if other < node}
        colour[node] = next(c for c in range(len(taken) + 1) if c not in taken)
    return colour


def _merge(a: Column, b: Column, take_b: Arr) -> Column:
    """``b`` where ``take_b``, else ``a`` (two aggregate columns of the same nodes)."""
    assert isinstance(a, Num)
    assert isinstance(b, Num)
    n = len(take_b)
    na_a = a.na if a.na is not None else np.zeros(n, dtype=bool)
    na_b = b.na if b.na is not None else np.zeros(n, dtype=bool)
    na = np.where(take_b, na_b, na_a)
    return Num(
        np.where(take_b, b.num, a.num).astype(np.int64),
        np.where(take_b, b.den, a.den).astype(np.int64),
        na if na.any() else None,
    )


class FlatLayer:
    """The appraised subjects of a one-period run without members: their own columns, nothing below or before."""

    def __init__(self, n: int, own: dict[str, Column], aggregates: dict[str, Column]) -> None:
        self.n = n
        self.own = own
        self._aggregates = aggregates
        self.has_kids = np.zeros(n, dtype=bool)

    def own_column(self, name: str, kind: str) -> Column:  # noqa: ARG002 - the layer's interface
        return self.own[name]

    def aggregates(self) -> dict[str, Column]:
        return self._aggregates

    def release(self) -> None:
        """Nothing to free: the columns are the appraised rows'."""

    def kids(self) -> Layer:  # pragma: no cover - a flat run has no members, history or rollups
        raise UnusualError("members in a flat run")

    def earlier(self) -> Layer:  # pragma: no cover - see ``kids``
        raise UnusualError("history in a flat run")


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


class Resolver:
    """Metric columns of layers for one pass (one ``Ctx`` of the appraised layer): the ``ColumnScope``."""

    def __init__(self, plan: Plan, top: Layer | FlatLayer, ctx: Ctx) -> None:
        self.plan = plan
        self.card = plan.card
        self.top = top
        self.top_ctx = ctx
        self.ctxs: dict[int, Ctx] = {id(top): ctx}
        self.values: dict[tuple[int, str], Column] = {}
        self.alive: list[Any] = [top]  # keeps every layer (and so its id) alive for the pass

    def ctx(self, layer: Any) -> Ctx:
        found = self.ctxs.get(id(layer))
        if found is None:
            found = self.ctxs[id(layer)] = Ctx(layer.n, exact=self.top_ctx.exact)
            self.alive.append(layer)
        return found

    def settle(self) -> None:
        """A possibly inexact row in any other layer sends the whole run to the exact pass."""
        if any(c.bad.any() for c in self.ctxs.values() if c is not self.top_ctx):
            self.top_ctx.bad[:] = True

    def value(self, layer: Any, name: str) -> Column:
        key = (id(layer), name)
        found = self.values.get(key)
        if found is None:
            self.ctx(layer)
            found = self.values[key] = self.plan.metrics[name].column(self, layer)
        return found

    def env(self, layer: Any, names: frozenset[str] | set[str]) -> dict[str, Column]:
        return {name: self.value(layer, name) for name in names}

    def own(self, layer: Any, name: str) -> Column:
        column: Column = layer.own_column(name, self.card.inputs[name].type)
        return column

    def aggregates(self, layer: Any) -> dict[str, Column]:
        found: dict[str, Column] = layer.aggregates()
        return found

    def window_log(self) -> LogColumns:
        if isinstance(self.top, FlatLayer):  # pragma: no cover - a scorecard with windows runs in layers
            raise UnusualError("windows in a flat run")
        return self.top.data.window_log()

    def counted_by(self, layer: Any) -> Arr:
        return layer.counted_by()


class Metrics:
    """Every metric of the appraised subjects in the chosen period, computed through layers."""

    def __init__(self, card: Scorecard, top: Layer | FlatLayer) -> None:
        self.card = card
        self.plan = lower(card)
        self.top = top

    def complete(self, ctx: Ctx, env: dict[str, Column]) -> None:
        """Fill ``env`` with every input and metric column (the same signature as ``_run._formulas``).

        Raises:
            UnusualError: a required input without a value (the row path reports it), or a form
                the kernel leaves to the row path.
        """
        resolver = Resolver(self.plan, self.top, ctx)
        for name in [*self.card.inputs, *self.card.metrics]:
            if name not in env:
                env[name] = resolver.value(self.top, name)
        for name, spec in self.card.inputs.items():
            na = env[name].na
            if spec.required and na is not None and na.any():
                raise UnusualError("a required input without a value")
        resolver.settle()
        self.top.release()  # every layer keeps the inputs it read: free the columns of all periods


def _with_record(subjects: Any, periods: Any, period: Period) -> list[str]:
    import polars as pl  # noqa: PLC0415

    return pl.DataFrame({"s": subjects, "k": periods}).filter(pl.col("k") == str(period))["s"].to_list()


def latest(card: Scorecard, hierarchy: Hierarchy | None, subjects: Any, periods: Any, known: set[Period]) -> Period:
    """The period a run without ``period`` appraises (``checks.latest_period``).

    Raises:
        UnusualError: where the row executor refuses (it reports the located error).
    """

    def subjects_of(period: Period) -> list[str]:
        return subjects_at(card, hierarchy, period, _with_record(subjects, periods, period))

    try:
        return checks.latest_period(card, known, subjects_of)
    except DataError as exc:
        raise UnusualError(str(exc)) from None


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
        from kpi_engine.evaluation._foreign import FOREIGN  # noqa: PLC0415

        elsewhere = FOREIGN.get()  # reps another streamed batch appraises
        reps = [r for r in reps if r not in elsewhere]
        if not all(reaches(data.hierarchy, period, reps, appraised)):
            raise UnusualError("an event that belongs to no appraised subject")
    parents = data.hierarchy.parents(period) if data.hierarchy is not None else {}
    parent = {s: parents[s] for s in subjects if s in parents}
    return subjects, parent, Metrics(card, Layer(data, period, np.array(subjects, dtype=object)))


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
        from kpi_engine.evaluation.engine import row_inputs  # noqa: PLC0415 - the engine imports this package

        if self.appraisal is None:
            records, members, events = self.inputs
            self.appraisal = run_rows(
                self.ruleset,
                row_inputs(records, "records"),
                period=str(self.period),
                members=row_inputs(members, "members"),
                events=row_inputs(events, "events"),
                allow_extra_columns=self.extra,
            )
        explanation: dict[str, Any] = self.appraisal.result(subject).kpi(kpi_id).explanation
        return explanation
