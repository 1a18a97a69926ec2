"""The row executor: the plan's row kernels, one subject at a time → ``Appraisal``.

No clock, no I/O, no global state. Inputs are validated into Python values (``records``), then
each metric is its op's row kernel, computed lazily per (subject, period) and memoised
(``RowMetrics``: the row scope of ``plan.ops.scopes``). Each subject is appraised by walking the
plan: scoring, adjustments, gates, weights, grades, flags; then ranks. Traces are built by the
same code on demand (``appraise(trace=True)``), so a number and its explanation agree by
construction; the columnar executor's traces come from here too.

This is also the reference executor: whatever the columnar executor leaves aside (an unusual
cell, a strict N/A, a located error) it hands to ``run_rows``.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, Inexact
from typing import Any

import attrs

from kpi_engine import _numbers as num
from kpi_engine._numbers import ZERO, Number, canonical, exact
from kpi_engine._perf import paused_gc, per_card
from kpi_engine.errors import DataError, EvaluationError, Issue, Location
from kpi_engine.evaluation import checks
from kpi_engine.evaluation.records import (
    Event,
    Inputs,
    RecordsLike,
    RowsLike,
    as_table,
    as_tables,
    prepare_event_tables,
    prepare_members,
    prepare_records,
)
from kpi_engine.evaluation.results import (
    AdjustmentResult,
    Appraisal,
    GateResult,
    Rounding,
    SectionResult,
    SubjectResult,
    new_kpi_results,
)
from kpi_engine.evaluation.sources import fill_sources
from kpi_engine.expr import Expression, Value
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Scorecard
from kpi_engine.plan import Plan, lower
from kpi_engine.plan.ops.gates import OUTCOMES
from kpi_engine.plan.ops.inputs import InputOp
from kpi_engine.plan.ops.ranks import ranks_row
from kpi_engine.plan.ops.scoring import KpiOp
from kpi_engine.plan.ops.weights import section_flags
from kpi_engine.time.periods import Period

_Scored = tuple[Value, "Number | None", Sequence[str], dict[str, Any]]  # value, score, flags, explanation
# Flags and explanation of a KPI scored without a trace and without a flag: shared, never changed
# (an adjustment replaces the flags; explanations are written only when tracing).
_NO_FLAGS: tuple[str, ...] = ()  # immutable, so nothing can append to the shared value
_NONES = itertools.repeat(None)
_UNTRACED: dict[str, Any] = {}
_NO_EARLY: dict[str, Value] = {}  # no zero_section gate: nothing evaluated before the total (never written)
_DECIMAL_ONLY = frozenset({Decimal})  # ``issuperset(map(type, values))``: every value is exactly a Decimal


class RowMetrics:
    """Lazy, memoised metric values over the subject hierarchy: the row scope the metric ops read.

    Each value is its op's row kernel (``plan.ops``), computed once per (subject, period, metric).
    """

    def __init__(self, card: Scorecard, data: Inputs) -> None:
        self.card = card
        self.data = data
        plan = lower(card)
        self.ops = plan.metrics
        # (subject, period) → metric name → value. A subject without members starts from its
        # record's values: an input's value is then the record's cell (``InputOp.row``), looked up once.
        self.memo: dict[tuple[str, Period], dict[str, Value]] = {}
        self.seeded = plan.inputs_are_metrics
        self.heights: dict[tuple[str, Period], int] = {}
        self.windows: dict[Any, Any] = {}  # event-window pairings and pairs (plan/ops/windows.py)

    def children(self, node: str, period: Period) -> tuple[str, ...]:
        return self.data.children.get((node, period), ())

    def height(self, node: str, period: Period) -> int:
        key = (node, period)
        if key not in self.heights:
            kids = self.children(node, period)
            self.heights[key] = 1 + max(self.height(k, period) for k in kids) if kids else 0
        return self.heights[key]

    def exists(self, node: str, period: Period) -> bool:
        return (node, period) in self.data.records or bool(self.children(node, period))

    def leaves(self, node: str, period: Period) -> list[str]:
        kids = self.children(node, period)
        if not kids:
            return [node]
        out: list[str] = []
        for k in kids:
            out.extend(self.leaves(k, period))
        return out

    def own(self, node: str, period: Period, name: str) -> Value:
        record = self.data.records.get((node, period))
        return record.values.get(name) if record is not None else None

    def events(self, node: str, period: Period, members: Period | None = None) -> list[Event]:
        below = self.leaves(node, period if members is None else members)
        return [e for leaf in below for e in self.data.events.get((leaf, period), ())]

    def own_events(self, node: str, period: Period) -> tuple[Event, ...]:
        return self.data.events.get((node, period), ())

    def all_events(self) -> Iterable[Event]:
        return (e for group in self.data.events.values() for e in group)

    def values(self, node: str, period: Period) -> dict[str, Value]:
        """The memo of one subject and period (metric name → value), seeded from its record."""
        key = (node, period)
        known = self.memo.get(key)
        if known is None:
            record = self.data.records.get(key)
            seed = record is not None and self.seeded and key not in self.data.children
            known = self.memo[key] = dict(record.values) if seed else {}  # type: ignore[union-attr]
        return known

    def value(self, node: str, period: Period, name: str) -> Value:
        known = self.memo.get((node, period))
        if known is None:
            known = self.values(node, period)
        if name in known:
            return known[name]
        result = known[name] = self.ops[name].row(self, node, period)
        return result

    def env(self, node: str, period: Period, names: Iterable[str]) -> dict[str, Value]:
        return {n: self.value(node, period, n) for n in names}

    def input_source(self, node: str, period: Period, name: str) -> str:
        filled = self.data.sourced.get((node, period, name))
        if filled is not None:
            return f"from events: {filled}"
        record = self.data.records.get((node, period))
        op = self.ops[name]
        assert isinstance(op, InputOp)
        return op.source(self, node, period, record.origin if record is not None else None)


class _Shared:
    """The row executor's result objects derived from the plan alone (lean results: shared by subjects).

    A KpiResult's constants per KPI, and the three results of each gate.
    """

    def __init__(self, plan: Plan) -> None:
        card = plan.card
        self.heads = tuple((k.id, k.title, k.section, k.metric, k.weight) for k in card.kpis)
        self.gate_results = {
            g.id: {
                outcome: GateResult(
                    g.id,
                    g.when.text,
                    outcome,
                    g.action,
                    canonical(g.value) if isinstance(g.value, Decimal) else g.value,
                    g.reason,
                )
                for outcome in OUTCOMES
            }
            for g in card.gates
        }


def shared_of(plan: Plan) -> _Shared:
    """The plan's shared result parts (KPI heads, gate results), built once per card."""
    return per_card(plan.card, "row_shared", lambda: _Shared(plan))


_shared = shared_of


class RowRun:
    """One run of the row executor: a scorecard's plan over one period's validated inputs."""

    def __init__(self, card: Scorecard, metrics: RowMetrics, period: Period, *, strict: bool) -> None:
        self.card = card
        self.m = metrics
        self.period = period
        self.strict = strict
        self.leaves: dict[str, tuple[str, ...]] = {}  # per metric: static, so computed once
        self.na_issues: list[Issue] = []  # every N/A a strict run (or on_missing: error) refuses
        self.tracer = _Tracer(self)
        self.rounding = Rounding.of(card)
        self.plan = lower(card)
        self.shared = _shared(self.plan)
        self.current: tuple[str, str] = ("", "")  # (subject, path) being computed, to locate an ArithmeticError
        # The last subject's scaled score integers (``score_all``), or ``None`` when it was scored otherwise.
        self.ints: list[int | None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the plan (compiled closures); an unpickled evaluator lowers it again."""
        state = dict(self.__dict__)
        del state["plan"], state["shared"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.plan = lower(self.card)
        self.shared = _shared(self.plan)

    def out_of_range(self, exc: ArithmeticError | RecursionError) -> EvaluationError:
        """A decimal signal (a value beyond 1e±999, or undefined) as a located error of the current step."""
        subject, path = self.current
        record = self.m.data.records.get((subject, self.period))
        where = record.origin if record is not None else Location("records")
        what = type(exc).__name__
        message = f"'{subject}': a value is out of the exact range (1e±999) or undefined ({what}) in {self.period}"
        issue = Issue("out_of_range", message, path, where)
        return EvaluationError(issue.render(), [issue])

    def na(self, subject: str, path: str, message: str) -> None:
        record = self.m.data.records.get((subject, self.period))
        where = record.origin if record is not None else Location("records")
        self.na_issues.append(Issue("not_applicable", f"{message} in {self.period}", path, where))

    def subjects(self) -> list[str]:
        level = checks.LEVELS.index(self.card.subject)
        nodes = {s for (s, p) in self.m.data.records if p == self.period}
        if not self.m.data.children:  # no membership: every subject is a rep (height 0)
            return sorted(nodes) if level == 0 else []
        nodes |= {s for (s, p) in self.m.data.children if p == self.period}
        return sorted(n for n in nodes if self.m.height(n, self.period) == level)

    def _reaches(self, node: str, appraised: set[str]) -> bool:
        up, seen = node, set()
        while up not in appraised and (up, self.period) in self.m.data.parent and up not in seen:
            seen.add(up)
            up = self.m.data.parent[(up, self.period)]
        return up in appraised

    def check_orphans(self, subjects: list[str]) -> None:
        """Every record and event of the period belongs to an appraised subject or rolls up into one."""
        from kpi_engine.evaluation._foreign import FOREIGN  # noqa: PLC0415

        appraised = set(subjects)
        elsewhere = FOREIGN.get()  # reps another streamed batch appraises
        issues: list[Issue] = []
        for (rep, period), events in sorted(self.m.data.events.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            if period == self.period and rep not in elsewhere and not self._reaches(rep, appraised):
                issues.append(
                    Issue(
                        "orphan_event",
                        f"{len(events)} event(s) of '{rep}' in {period} belong to no appraised {self.card.subject} "
                        "(add a record or membership row for it)",
                        "rep",
                        events[0].origin,
                    )
                )
        if checks.LEVELS.index(self.card.subject) == 0:
            if issues:
                raise DataError.from_issues(issues, "events")
            return
        for (node, period), record in sorted(self.m.data.records.items(), key=lambda kv: str(kv[1].origin)):
            if period != self.period or node in appraised:
                continue
            if not self._reaches(node, appraised):
                issues.append(
                    Issue(
                        "orphan_record",
                        f"'{node}' has a record for {period} but is not a {self.card.subject} and belongs to none "
                        "(add its membership row)",
                        "subject",
                        record.table.where(record.origin.line, "subject"),
                    )
                )
        if issues:
            raise DataError.from_issues(issues, "records")

    def check_required(self, subjects: list[str]) -> None:
        """Every required input has a value (own or rolled up) for every appraised subject."""
        issues: list[Issue] = []
        required = self.plan.required
        for subject in subjects:
            record = self.m.data.records.get((subject, self.period))
            own = record.values if record is not None else {}
            for name in required:
                if own.get(name) is not None:
                    continue  # a record's own value is the input's value (``RowMetrics._input``)
                spec = self.card.inputs[name]
                self.current = (subject, f"inputs.{name}")
                if self.m.value(subject, self.period, name) is None:
                    where = record.table.where(record.origin.line, name) if record is not None else Location("records")
                    how = "" if spec.rollup == "none" or record is not None else " and its members have none to roll up"
                    issues.append(
                        Issue(
                            "missing_field",
                            f"'{subject}' has no value for required input '{name}' in {self.period}{how}",
                            name,
                            where,
                        )
                    )
        if issues:
            raise DataError.from_issues(issues, "records")

    def trace_metric(self, subject: str, name: str) -> dict[str, Any]:
        metric = self.card.metrics[name]
        inputs: dict[str, Any] = {}
        # A member share reads each member's own values (listed below), not the subject's rollup.
        if name not in self.leaves:
            self.leaves[name] = () if metric.kind == "members" else self.plan.leaf_inputs(name)
        leaves = self.leaves[name]
        for leaf in leaves:
            leaf_metric = self.card.metrics[leaf]
            if leaf_metric.kind == "input":
                source = self.m.input_source(subject, self.period, leaf)
            else:
                source = leaf_metric.describe()
            inputs[leaf] = {"value": self.m.value(subject, self.period, leaf), "source": source}
        trace: dict[str, Any] = {"metric": name, "definition": metric.describe(), "inputs": inputs}
        trace.update(self.plan.metrics[name].explain(self.m, subject, self.period))
        return trace

    def score_kpi(self, subject: str, kp: KpiOp, *, trace: bool) -> _Scored:
        """Value → score of one KPI (``KpiOp.row``); the explanation dict is filled only when ``trace`` is set."""
        kpi = kp.kpi
        self.current = (subject, kp.path)
        value = self.m.value(subject, self.period, kpi.metric)
        explanation: dict[str, Any] = {}
        if trace:
            explanation = self.trace_metric(subject, kpi.metric)
            explanation.update(method=kpi.method, parameters=kpi.parameters())
        m, period = self.m, self.period
        score, flags, refused = kp.row(
            value, lambda names: m.env(subject, period, names), self.strict, explanation if trace else None
        )
        if refused is not None:
            self.na(subject, kp.path, f"'{subject}': {refused}")
        return value, score, flags, explanation

    def score_all(self, subject: str, *, trace: bool) -> list[_Scored]:
        """``score_kpi`` of every KPI; without traces, a KPI with a compiled scorer and a value inline.

        In the library's own context (``own_context``), a KPI with an operator form scores with
        plain operators; if any of them rounded (the context's ``Inexact`` flag), those KPIs are
        scored again with the exact scorers.
        """
        self.ints = None
        if trace:
            return [self.score_kpi(subject, kp, trace=True) for kp in self.plan.kpis]
        known = self.m.values(subject, self.period)
        value_of = self.m.value
        period = self.period
        kpis = self.plan.kpis
        ctx = num.own_context()
        fast = ctx is not None
        if fast:
            ctx.flags[Inexact] = False  # type: ignore[union-attr]  # our own context: its flag is ours to read
        out: list[_Scored] = []
        kp = kpis[0] if kpis else None
        if fast and self.plan.scaled is not None:  # every KPI has a scaled-integer kernel
            try:
                values = [known[metric] for metric in self.plan.kpi_metrics]
            except KeyError:
                values = None  # a metric not computed yet: the loops below compute it
            if values is not None and _DECIMAL_ONLY.issuperset(map(type, values)):
                try:
                    rows = [kernel(v) for kernel, v in zip(self.plan.scaled, values, strict=True)]  # type: ignore[arg-type]
                except ArithmeticError:  # the exact loop below raises it again, at its KPI
                    rows = [None]
                if None not in rows and not ctx.flags[Inexact]:  # type: ignore[union-attr]
                    self.ints = [r[0] for r in rows]  # type: ignore[index]
                    return [(v, r[1], _NO_FLAGS, _UNTRACED) for v, r in zip(values, rows, strict=True)]  # type: ignore[index]
                ctx.flags[Inexact] = False  # type: ignore[union-attr]
        if fast and self.plan.all_operators:  # every KPI has an operator form: scored in one comprehension
            try:
                values = [known[metric] for metric in self.plan.kpi_metrics]
            except KeyError:
                values = None  # a metric not computed yet: the loop below computes it
            if values is not None and _DECIMAL_ONLY.issuperset(map(type, values)):
                ops = self.plan.operators
                try:
                    out = [(v, op(v), _NO_FLAGS, _UNTRACED) for v, op in zip(values, ops, strict=True)]  # type: ignore[arg-type, misc]
                    if not ctx.flags[Inexact]:  # type: ignore[union-attr]
                        return out
                except ArithmeticError:  # the exact loop below raises it again, at its KPI
                    pass
                out = []  # an operation rounded (or failed): every KPI again, below, exactly
                fast = False
        try:
            for kp in kpis:
                metric = kp.metric
                value = known[metric] if metric in known else value_of(subject, period, metric)
                if type(value) is Decimal:
                    if fast and kp.operators is not None:
                        try:
                            out.append((value, kp.operators(value), _NO_FLAGS, _UNTRACED))
                            continue
                        except ArithmeticError:  # out of range: the exact scorer raises it as it would
                            pass
                    if kp.scorer is not None:  # ``score_kpi`` for it: no flag, no explanation
                        out.append((value, kp.scorer(value), _NO_FLAGS, _UNTRACED))
                        continue
                out.append(self.score_kpi(subject, kp, trace=False))
            if fast and ctx.flags[Inexact]:  # type: ignore[union-attr]
                ctx.flags[Inexact] = False  # type: ignore[union-attr]
                for i, kp in enumerate(kpis):  # some operation rounded: these KPIs again, exactly
                    value = out[i][0]
                    if kp.operators is not None and kp.scorer is not None and type(value) is Decimal:
                        out[i] = (value, kp.scorer(value), _NO_FLAGS, _UNTRACED)
        except (ArithmeticError, RecursionError):
            if kp is not None:
                self.current = (subject, kp.path)  # where ``out_of_range`` locates it
            raise
        return out

    def condition(
        self,
        subject: str,
        expr: Expression,
        extra: Mapping[str, Value] | None = None,
        names: Iterable[str] | None = None,
    ) -> Value:
        """``expr`` for ``subject`` (``names``: the metrics it reads, when known; else all but ``extra``'s)."""
        self.current = (subject, expr.text)
        if names is None:
            names = expr.names - set(extra or {})
        m, period = self.m, self.period
        known = m.memo.get((subject, period))  # ``m.env``, reading the subject's memo directly
        if known is None:
            known = m.values(subject, period)
        env = {n: known[n] if n in known else m.value(subject, period, n) for n in names}
        if extra:
            env.update(extra)
        result = expr.evaluate(env)
        if result is None and self.strict:
            self.na(subject, "", f"'{subject}': condition '{expr.text}' is N/A (strict run)")
        return result

    def appraise(self, subject: str, *, trace: bool = False) -> SubjectResult:
        """The numbers of one subject; with ``trace``, also each KPI's explanation (same code path)."""
        card = self.card
        plan = self.plan
        condition = self.condition
        # One entry per KPI, in the scorecard's order.
        scored = self.score_all(subject, trace=trace)
        adjustments = (
            [AdjustmentResult(*a) for a in plan.adjustments.row(scored, condition, subject, trace=trace)]
            if plan.adjustments.rules
            else []
        )
        # zero_section gates run first (the total depends on them) and never read the total.
        early, zeroed = plan.gates.early_row(condition, subject) if plan.gates.early else (_NO_EARLY, set())
        # Every step below is exact (``_numbers``): shares such as 1/3 stay rational and nothing is
        # rounded before it is reported.
        self.current = (subject, "total")
        scores = [entry[1] for entry in scored]
        # The effective shares depend only on which KPIs apply: computed once per pattern.
        pattern = plan.weights.pattern(tuple(map(operator.is_not, scores, _NONES)))  # which KPIs apply
        # The total is exactly the sum of the KPI contributions an auditor sees.
        ints = self.ints
        if ints is not None and not zeroed and not _DECIMAL_ONLY.issuperset(map(type, scores)):
            # Some score is a Fraction: combined on the scaled integers (same numbers, no Fraction arithmetic).
            section_scores, contributions, total = plan.weights.row_scaled(scores, ints, pattern)
        else:
            section_scores, contributions, total = plan.weights.row(scores, pattern, zeroed)
        section_share = pattern.section_share
        shares = pattern.share_list
        before_gates = total
        total, forced, subject_flags, gates = plan.gates.row(total, early, condition, subject, self.shared.gate_results)
        grade, bonus = plan.grades.row(total, forced)
        if total is None:
            subject_flags.append("no_kpi_applies")
        # Published flags (e.g. eligible_for_promotion): the name, when the ruleset's condition holds.
        if plan.flags.flags:
            subject_flags.extend(plan.flags.row(condition, subject))
        tracer = self.tracer
        if trace or zeroed:
            for i, kp in enumerate(plan.kpis):
                value, score, flags, explanation = scored[i]
                if kp.kpi.section in zeroed:
                    scored[i] = (value, score, [*flags, "section_zeroed"], explanation)
                if trace:
                    weight = {"declared": kp.kpi.weight, "effective": shares[i], "contribution": contributions[i]}
                    explanation["weight"] = weight
        rounding = self.rounding
        heads = self.shared.heads
        kpi_results = new_kpi_results(heads, scored, shares, contributions, subject, tracer, trace, rounding)
        sections = tuple(
            SectionResult(
                s.id,
                s.title,
                s.weight,
                section_scores[s.id],
                section_share.get(s.id, ZERO),
                section_flags(zeroed=s.id in zeroed, scored=section_scores[s.id] is not None),
                rounding,
            )
            for s in card.sections
        )
        return SubjectResult(
            subject=subject,
            level=card.subject,
            parent=self.m.data.parent.get((subject, self.period)),
            total_exact=total,
            grade=grade,
            bonus_multiplier=bonus,
            rank=None,
            rank_in_parent=None,
            kpis=tuple(kpi_results),
            sections=sections,
            gates=tuple(gates),
            adjustments=tuple(adjustments),
            flags=tuple(subject_flags),
            total_before_gates_exact=before_gates,
            metrics={name: self.m.value(subject, self.period, name) for name in card.report} if card.report else {},
            rounding=rounding,
        )


class _Tracer:
    """Builds a subject's explanations on demand, from the same code that computed its numbers.

    The metric memo is dropped once every subject is appraised (it is the bulk of an evaluation's
    memory); a trace recomputes the few values of its subject. A small cache keeps the last
    subjects' traces, so walking one subject's KPIs computes its trace once.
    """

    CACHED = 64

    def __init__(self, evaluator: RowRun) -> None:
        self.evaluator = evaluator
        self.cache: dict[str, dict[str, dict[str, Any]]] = {}

    def explanation(self, subject: str, kpi_id: str) -> dict[str, Any]:
        traces = self.cache.get(subject)
        if traces is None:
            ev = self.evaluator
            with exact(), paused_gc():
                result = ev.appraise(subject, trace=True)
            ev.m.memo.clear()
            ev.na_issues.clear()
            traces = {k.id: k.trace or {} for k in result.kpis}
            if len(self.cache) >= self.CACHED:
                self.cache.pop(next(iter(self.cache)))
            self.cache[subject] = traces
        return traces[kpi_id]


def _rank(results: list[SubjectResult], keys: dict[str, Value], *, lower_first: bool) -> list[SubjectResult]:
    """Competition ranking (1, 1, 3) by exact key (``ranks.ranks_row``); subjects whose key is N/A get no rank."""
    overall, within = ranks_row(((r.subject, r.parent, keys[r.subject]) for r in results), lower_first=lower_first)
    for r in results:
        # The results were built by this run and nobody holds them yet: their ranks are filled in
        # place (as ``attrs.evolve`` would, without building every result a second time).
        object.__setattr__(r, "rank", overall.get(r.subject))
        object.__setattr__(r, "rank_in_parent", within.get(r.subject))
    return sorted(results, key=lambda r: (r.rank is None, r.rank or 0, r.subject))


def prepare_inputs(
    card: Scorecard, records: RecordsLike, members: RowsLike | None = None, events: RowsLike | None = None
) -> Inputs:
    """Validate all inputs of one evaluation, reporting every bad row across all tables at once.

    Raises:
        DataError: listing every problem, each with its file, row and column.
    """
    problems: list[DataError] = []
    recs: dict[Any, Any] = {}
    parent: dict[Any, Any] = {}
    children: dict[Any, Any] = {}
    evs: dict[Any, Any] = {}
    try:
        recs = prepare_records(card, as_tables(records, "records"))
    except DataError as exc:
        problems.append(exc)
    if members is not None:  # no rows: no parent and no children
        try:
            known = {subject for (subject, _) in recs} if recs or not problems else None  # None: records failed
            parent, children = prepare_members(card, as_table(members, "members"), known)
        except DataError as exc:
            problems.append(exc)
    if events is not None:  # no rows: no events
        try:
            evs = prepare_event_tables(card, as_tables(events, "events"))
        except DataError as exc:
            problems.append(exc)
    if problems:
        if len(problems) == 1:
            raise problems[0]
        raise DataError.from_issues([i for p in problems for i in p.issues])
    recs, sourced = fill_sources(card, recs, children, evs)
    return Inputs(recs, parent, children, evs, sourced)


def run_rows(
    ruleset: Ruleset,
    records: RecordsLike,
    *,
    period: str | None = None,
    members: RowsLike | None = None,
    events: RowsLike | None = None,
    strict: bool = False,
    allow_extra_columns: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Appraisal:
    """Appraise on the row executor (``evaluate(..., engine="row")``; its arguments).

    Raises:
        DataError, EvaluationError: as ``evaluate``.
    """
    card = ruleset.scorecard
    if allow_extra_columns:
        card = attrs.evolve(card, allow_extra_columns=True)
    with exact(), paused_gc():
        data = prepare_inputs(card, records, members, events)
        if period is not None:
            try:
                chosen = Period.parse(period, card.period)
            except ValueError as exc:
                raise DataError(str(exc)) from None
        else:
            chosen = latest_period(card, data)
        checks.check_effective(ruleset, chosen)
        metrics = RowMetrics(card, data)
        ev = RowRun(card, metrics, chosen, strict=strict)
        subjects = ev.subjects()
        if not subjects:
            msg = f"no {card.subject} has data for period {chosen}"
            raise DataError(msg)
        ev.check_orphans(subjects)
        try:
            ev.check_required(subjects)
            warnings = roster_warnings(data, chosen)
            if warnings and strict:
                raise DataError.from_issues([attrs.evolve(w, severity="error") for w in warnings], "members")
            appraised = []
            step = max(1, len(subjects) // 100)
            for i, s in enumerate(subjects, start=1):
                appraised.append(ev.appraise(s))
                if progress is not None and (i % step == 0 or i == len(subjects)):
                    progress(i, len(subjects))
        except (ArithmeticError, RecursionError) as exc:  # decimal signals; a computation nested too deep
            raise ev.out_of_range(exc) from None
        if ev.na_issues:
            count = len(ev.na_issues)
            lines = "\n".join(i.render() for i in ev.na_issues)
            raise EvaluationError(f"{count} value(s) are N/A where they may not be\n{lines}", ev.na_issues)
        by = card.rank_by
        try:
            keys = {
                r.subject: r.total_exact if by == "total" else metrics.value(r.subject, chosen, by) for r in appraised
            }
        except ArithmeticError as exc:
            raise ev.out_of_range(exc) from None
        results = _rank(appraised, keys, lower_first=card.rank_lower_first)
        metrics.memo.clear()  # the bulk of the memory; a trace recomputes its own subject's values
    return Appraisal.of_run(ruleset, card, str(chosen), tuple(results), strict=strict, warnings=tuple(warnings))


# Data at the door (issue 7): the period a run appraises, and roster members without a record.


def latest_period(card: Scorecard, data: Inputs) -> Period:
    """The period to appraise when none is given (``checks.latest_period``), with located errors.

    Raises:
        DataError: naming the periods (and, at the latest period's records, the subjects that
            would disappear).
    """
    known = {p for (_, p) in data.records} | {p for (_, p) in data.children}
    metrics = RowMetrics(card, data)
    try:
        return checks.latest_period(card, known, lambda p: RowRun(card, metrics, p, strict=False).subjects())
    except checks.StrayPeriodError as exc:
        latest = exc.latest
        rows = sorted((r for (_, p), r in data.records.items() if p == latest), key=lambda r: str(r.origin))
        if not rows:
            raise DataError(str(exc)) from None
        first, *rest = [r.table.where(r.origin.line, "period") for r in rows[:20]]
        issues = [Issue("stray_period", str(exc), "period", first)]
        issues += [Issue("stray_period", f"a record for {latest}", "period", where) for where in rest]
        raise DataError.from_issues(issues, "records") from None


def roster_warnings(data: Inputs, period: Period) -> list[Issue]:
    """``checks.roster_warnings`` for the period's membership rows."""
    lonely = [
        (member, up)
        for (member, p), up in data.parent.items()
        if p == period and (member, p) not in data.records and (member, p) not in data.children
    ]
    return checks.roster_warnings(period, lonely)
