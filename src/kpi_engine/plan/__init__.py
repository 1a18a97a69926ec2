"""The compiled evaluation plan: what a scorecard means, lowered once, run by any executor.

``lower(card)`` turns a compiled ``Scorecard`` into a ``Plan`` of operations, once per card (the
plan is cached while the card lives). Each operation lives in a module of ``plan.ops`` with its
**row kernel** (one subject at a time, over exact ``Number``s) and its **column kernel** (every
subject at once, over exact int64 rational columns, ``kpi_engine._columns``) side by side, so a
rule's meaning is one screen from its twin:

==================  ===========================================================================
``ops.inputs``      record fields, a subject's own value or its members' rollup; required inputs
``ops.formulas``    formulas over metrics (a team's rate is a ratio of sums; ``rollup: mean``)
``ops.aggregates``  event aggregates: count, sum, mean, min, max, count_distinct with ``where``
``ops.history``     ``previous`` (growth, reduction, change, value) and ``streak``
``ops.members``     the share (or count) of members meeting a condition
``ops.windows``     event windows: triggers paired with answers (a queue or a stack per key), measures
``ops.scoring``     threshold, linear, attainment, bands, expression; ``on_missing``
``ops.adjustments`` score overrides
``ops.weights``     sections, renormalisation, contributions, the total
``ops.gates``       zero_section, cap_total, force_grade
``ops.grades``      grade bands and bonus multipliers
``ops.ranks``       competition ranks, overall and within the parent
``ops.flags``       published per-subject flags
==================  ===========================================================================

Expressions (formulas, conditions, filters) are the expression package's own pair of kernels
(``kpi_engine.expr._kernels``); the ops call them through ``Expression.evaluate`` and
``Expression.evaluate_columns``.

**Executors** walk the same plan (``kpi_engine.evaluation``): the row executor calls the row
kernels subject by subject and builds traces by the same code (so a number and its explanation
agree by construction); the columnar executor calls the column kernels over every appraised
subject at once; the streaming executor (``evaluation.streaming``) runs them batch by batch and
ranks in a second pass. Which executor can run a plan is decided here, once, from the plan:
``plan.support("columnar")`` (or ``"streaming"``) is ``None`` or a sentence a user can read.

**Seams for the next executors.** The column kernels are written so that a streaming executor
and a Spark executor can call them on a batch of subjects at a time:

- every kernel from inputs to gates and grades (``inputs`` without members, ``formulas``,
  ``scoring``, ``adjustments``, ``weights``, ``gates``, ``grades``, ``flags``) is row-local: the
  result for a subject depends only on that subject's columns, so it runs per batch unchanged;
- team rollups (``inputs`` ``rollup``, ``formulas`` ``rollup: mean``, ``members``) and event
  aggregates reduce members or events per owner with sums, counts, minima and maxima, the
  partial aggregates a two-phase combine needs (``rollup`` and the event reductions are the
  per-batch step; a combine adds the partials per node);
- ``previous``/``streak`` read the same subjects in earlier periods: a batch must carry those
  periods' rows of its subjects (partition by subject); an aggregate ``over`` a span reads the
  span's events, each labelled with its owner in its own period, then reduces as above;
- windows pair triggers and answers across the whole event log (an answer by a colleague, in
  another period): ``windows.pair_column`` runs once over the log, partitioned by match key (the
  pairing of one key never reads another's); the per-owner counts, sums and maxima after it are
  per-batch partials like the aggregates';
- ranks are global: ``ranks.competition_ranks`` orders exact keys; an executor that runs per
  batch keeps each subject's exact key (the total is a rational ``num/den``) and ranks in a
  second pass over the keys (``ranks`` documents the order and ties).
"""

from __future__ import annotations

from kpi_engine._perf import per_card
from kpi_engine.language.model import Input, Metric, Scorecard
from kpi_engine.plan.ops.adjustments import Adjustments
from kpi_engine.plan.ops.aggregates import AggregateOp
from kpi_engine.plan.ops.flags import Flags
from kpi_engine.plan.ops.formulas import FormulaOp
from kpi_engine.plan.ops.gates import Gates
from kpi_engine.plan.ops.grades import Grades
from kpi_engine.plan.ops.history import PreviousOp, StreakOp
from kpi_engine.plan.ops.inputs import InputOp
from kpi_engine.plan.ops.members import MembersOp
from kpi_engine.plan.ops.scopes import MetricOp
from kpi_engine.plan.ops.scoring import KpiOp
from kpi_engine.plan.ops.weights import Weights
from kpi_engine.plan.ops.windows import WindowOp

__all__ = ["EXECUTORS", "Plan", "lower"]

EXECUTORS = ("row", "columnar", "streaming")


class Plan:
    """A scorecard lowered into operations, each with its row and column kernels.

    Attributes:
        card: the compiled scorecard the plan was lowered from.
        metrics: one op per metric (inputs included), by name: ``row`` and ``column`` kernels.
        kpis: one ``KpiOp`` per KPI, in the scorecard's order (the method compiled once).
        scaled: each KPI's scaled-integer row kernel (``ScaledScore.row``) when every KPI has one, else ``None``.
        weights, adjustments, gates, grades, flags: the operations after scoring, in the order
            an executor applies them.
        required: the required inputs (checked for the appraised subjects).
    """

    def __init__(self, card: Scorecard) -> None:
        self.card = card
        self.metrics: dict[str, MetricOp] = {name: _metric_op(card, m) for name, m in card.metrics.items()}
        for name, spec in card.inputs.items():  # every input is a metric (a compiled card lists them all)
            if name not in self.metrics:
                self.metrics[name] = InputOp(Metric(name, "input"), spec)
        # Every input is the metric of its name, so a subject's record seeds its metric values.
        self.inputs_are_metrics = all(isinstance(self.metrics.get(name), InputOp) for name in card.inputs)
        self.kpis = tuple(KpiOp(k) for k in card.kpis)
        self.index = {k.id: i for i, k in enumerate(card.kpis)}
        self.kpi_metrics = tuple(k.metric for k in card.kpis)
        self.operators = tuple(op.operators for op in self.kpis)
        self.all_operators = all(op is not None for op in self.operators)
        # Every KPI scored by a scaled-integer kernel: scores and their combination on integers.
        scaled = [op.scaled for op in self.kpis]
        self.scaled = tuple(sc.row for sc in scaled if sc is not None) if all(scaled) and scaled else None
        self.required = tuple(name for name, spec in card.inputs.items() if spec.required)
        self.adjustments = Adjustments(card)
        self.weights = Weights(card, tuple(sc.gamma for sc in scaled if sc is not None) if self.scaled else None)
        self.gates = Gates(card)
        self.grades = Grades(card)
        self.flags = Flags(card)
        self.rank_by = card.rank_by
        self.rank_lower_first = card.rank_lower_first
        columnar = tuple(op.without_column for op in self.metrics.values() if op.without_column is not None)
        # Streaming runs the column kernels batch by batch (membership trees by tree; the event log
        # held whole and given to every batch): it leaves aside what the columnar executor does.
        self._unsupported = {"row": (), "columnar": columnar, "streaming": columnar}
        self._leaves: dict[str, tuple[str, ...]] = {}

    def support(self, executor: str) -> str | None:
        """``None`` when ``executor`` can run this plan, else the reason, as a sentence a user can read.

        Raises:
            ValueError: for an executor name that is not one of ``EXECUTORS``.
        """
        if executor not in self._unsupported:
            msg = f"unknown executor {executor!r} (known: {', '.join(EXECUTORS)})"
            raise ValueError(msg)
        missing = self._unsupported[executor]
        if not missing:
            return None
        return f"the {executor} engine cannot evaluate " + "; ".join(missing)

    def leaf_inputs(self, name: str) -> tuple[str, ...]:
        """Inputs, event aggregates and windows a metric reads, transitively, in first-use order (for traces)."""
        found = self._leaves.get(name)
        if found is None:
            found = self._leaves[name] = tuple(_leaf_inputs(self.card, name, set()))
        return found


def _metric_op(card: Scorecard, m: Metric) -> MetricOp:
    """The op of one metric, by its kind."""
    if m.kind == "input":
        spec = card.inputs.get(m.name) or Input(m.name, "number", None, None, required=False, rollup="none")
        return InputOp(m, spec)
    if m.kind == "formula":
        return FormulaOp(m)
    if m.kind == "aggregate":
        return AggregateOp(m)
    if m.kind == "previous":
        return PreviousOp(m)
    if m.kind == "streak":
        return StreakOp(m)
    if m.kind == "members":
        return MembersOp(m)
    return WindowOp(m)


def _leaf_inputs(card: Scorecard, name: str, seen: set[str]) -> list[str]:
    if name in seen:
        return []
    seen.add(name)
    m = card.metrics[name]
    if m.kind in {"input", "aggregate", "window"}:
        return [name]
    deps: list[str] = []
    for e in (m.expr, m.among):
        if e is not None:
            deps.extend(sorted(e.names))
    if m.of is not None:
        deps.append(m.of)
    out: list[str] = []
    for d in deps:
        out.extend(x for x in _leaf_inputs(card, d, seen) if x not in out)
    return out


def lower(card: Scorecard) -> Plan:
    """The plan of ``card``, lowered once and kept while the card lives."""
    return per_card(card, "plan", lambda: Plan(card))
