"""The pure evaluator: compiled scorecard + validated inputs → ``Appraisal``.

No clock, no I/O, no global state. Metrics are computed lazily per (subject, period) and
memoised. Teams and higher subjects roll up from membership rows (DOMAIN §5): inputs by their
``rollup`` (sum for counts and money), formulas on the rolled-up inputs (ratio of sums), events
pooled over all reps below the subject.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, Inexact
from typing import Any, Literal

import attrs

from kpi_engine import _numbers as num
from kpi_engine._numbers import ZERO, Number, canonical, exact, is_number
from kpi_engine._perf import paused_gc
from kpi_engine.errors import DataError, EvaluationError, Issue, Location
from kpi_engine.evaluation import scoring
from kpi_engine.evaluation.records import (
    Event,
    Inputs,
    Table,
    as_table,
    as_tables,
    per_card,
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
from kpi_engine.evaluation.screening import Screened, screen
from kpi_engine.evaluation.sources import aggregate, fill_sources
from kpi_engine.evaluation.windows import window_trace, window_value
from kpi_engine.expr import Expression, Value
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Kpi, Metric, Scorecard
from kpi_engine.time.accumulate import accumulate, relabel
from kpi_engine.time.periods import Period, spanned

LEVELS = ("rep", "team", "department", "company")
TRACE_EVENTS = 100  # event ids listed in a trace; the count is always complete
MAX_STREAK = 240

_Scored = tuple[Value, "Number | None", Sequence[str], dict[str, Any]]  # value, score, flags, explanation
# Flags and explanation of a KPI scored without a trace and without a flag: shared, never changed
# (an adjustment replaces the flags; explanations are written only when tracing).
_NO_FLAGS: tuple[str, ...] = ()  # immutable, so nothing can append to the shared value
_NONES = itertools.repeat(None)
_UNTRACED: dict[str, Any] = {}
_DECIMAL_ONLY = frozenset({Decimal})  # ``issuperset(map(type, values))``: every value is exactly a Decimal
RowsLike = Table | Iterable[Mapping[str, Any] | object]
RecordsLike = Table | Iterable[Table] | Iterable[Mapping[str, Any] | object]


class _Metrics:
    """Lazy, memoised metric values over the subject hierarchy."""

    def __init__(self, card: Scorecard, data: Inputs) -> None:
        self.card = card
        self.data = data
        # (subject, period) → metric name → value. A subject without members starts from its
        # record's values: an input's value is then the record's cell (``_input``), looked up once.
        self.memo: dict[tuple[str, Period], dict[str, Value]] = {}
        self.seeded = per_card(card, "inputs_are_metrics", lambda: _inputs_are_metrics(card))
        self.heights: dict[tuple[str, Period], int] = {}
        self.windows: dict[Any, Any] = {}  # event-window pairings and pairs (evaluation/windows.py)

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
        result = known[name] = self._compute(node, period, self.card.metrics[name])
        return result

    def env(self, node: str, period: Period, names: Iterable[str]) -> dict[str, Value]:
        return {n: self.value(node, period, n) for n in names}

    def input_source(self, node: str, period: Period, name: str) -> str:
        filled = self.data.sourced.get((node, period, name))
        if filled is not None:
            return f"from events: {filled}"
        record = self.data.records.get((node, period))
        if record is not None and record.values.get(name) is not None:
            return f"record {record.origin}"
        kids = self.children(node, period)
        if kids:
            return f"{self.card.inputs[name].rollup} over {len(kids)} members ({', '.join(kids)})"
        return "no record" if record is None else "empty in the record"

    def _compute(self, node: str, period: Period, m: Metric) -> Value:
        kids = self.children(node, period)
        if m.kind == "input":
            return self._input(node, period, m.name, kids)
        if m.kind == "formula":
            assert m.expr is not None
            if kids and m.rollup == "mean":
                return _mean([self.value(k, period, m.name) for k in kids])
            return m.expr.evaluate(self.env(node, period, m.expr.names))
        if m.kind == "aggregate":
            return self._aggregate(node, period, m)
        if m.kind == "previous":
            return self._previous(node, period, m)
        if m.kind == "window":
            return window_value(self, node, period, m)
        if m.kind == "streak":
            assert m.expr is not None
            count, p = 0, period
            while count < MAX_STREAK and self.exists(node, p):
                if m.expr.evaluate(self.env(node, p, m.expr.names)) is not True:
                    break
                count += 1
                p = p.previous()
            return Decimal(count)
        return self._members(period, m, kids)

    def _input(self, node: str, period: Period, name: str, kids: tuple[str, ...]) -> Value:
        record = self.data.records.get((node, period))
        own = record.values.get(name) if record is not None else None
        if own is not None or not kids:
            return own
        how = self.card.inputs[name].rollup
        if how == "none":
            return None
        values = [v for k in kids if is_number(v := self.value(k, period, name))]
        if not values:
            return None
        if how == "sum":
            return num.total(values)
        if how == "mean":
            return num.mean(values)
        return min(values) if how == "min" else max(values)

    def matching_events(self, node: str, period: Period, m: Metric) -> list[Event]:
        """The events an aggregate metric reads: all reps below the subject, filtered.

        ``over: year_to_date`` / ``rolling_year`` reads the periods from 1 January, or the twelve months
        ending with the period; each period's members decide, the appraised period's where a period
        has no membership rows for the subject.
        """
        if m.over != "period":
            return [e for p in spanned(period, m.over) for e in self._matching(node, p, period, m)]
        return self._matching(node, period, period, m)

    def _matching(self, node: str, period: Period, appraised: Period, m: Metric) -> list[Event]:
        members = period if period == appraised or self.children(node, period) else appraised
        events = [e for leaf in self.leaves(node, members) for e in self.data.events.get((leaf, period), ())]
        if m.where is not None:
            where = m.where
            events = [e for e in events if where.evaluate(e.fields) is True]
        return events

    def _aggregate(self, node: str, period: Period, m: Metric) -> Value:
        return aggregate(m.fn or "count", m.field, self.matching_events(node, period, m))

    def _previous(self, node: str, period: Period, m: Metric) -> Value:
        assert m.of is not None
        now = self.value(node, period, m.of)
        before = self.value(node, period.previous(), m.of)
        if m.compare == "value":
            return before
        if not is_number(now) or not is_number(before):
            return None
        if m.compare == "change":
            return num.sub(now, before)
        if before == 0:
            return None
        diff = num.sub(now, before) if m.compare == "growth" else num.sub(before, now)
        return num.div(diff, before)

    def _members(self, period: Period, m: Metric, kids: tuple[str, ...]) -> Value:
        assert m.expr is not None
        counted = met = 0
        for k in kids:
            if m.among is not None and m.among.evaluate(self.env(k, period, m.among.names)) is not True:
                continue
            counted += 1
            if m.expr.evaluate(self.env(k, period, m.expr.names)) is True:
                met += 1
        if m.measure == "count":
            return Decimal(met)
        return None if counted == 0 else num.div(Decimal(met), Decimal(counted))


def _inputs_are_metrics(card: Scorecard) -> bool:
    """Every input is the metric of its name (always, for a compiled scorecard; checked, not assumed)."""
    return all((m := card.metrics.get(name)) is not None and m.kind == "input" for name in card.inputs)


def _mean(values: Iterable[Value]) -> Number | None:
    numbers = [v for v in values if is_number(v)]
    return num.mean(numbers) if numbers else None


def _leaf_inputs(card: Scorecard, name: str, seen: set[str] | None = None) -> list[str]:
    """Inputs and event aggregates a metric reads, transitively, in first-use order."""
    seen = set() if seen is None else seen
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


class _KpiPlan:
    """One KPI as the hot loop reads it: the compiled scorer and the strings it needs, made once."""

    __slots__ = ("kpi", "metric", "operators", "path", "score_names", "scorer")

    def __init__(self, kpi: Kpi) -> None:
        self.kpi = kpi
        self.metric = kpi.metric
        self.path = f"kpis.{kpi.id}"
        self.scorer = scoring.compile_scorer(kpi)
        self.operators = scoring.compile_operators(kpi) if self.scorer is not None else None
        self.score_names = kpi.score_expr.names - {"value"} if kpi.score_expr is not None else frozenset()


class _Pattern:
    """Effective weights for one pattern of applicable KPIs (the same for every subject with it)."""

    __slots__ = ("live", "members", "section_share", "share_list", "shares", "wsums")

    def __init__(self, card: Scorecard, applies: tuple[bool, ...]) -> None:
        live_kpis = [k for k, ok in zip(card.kpis, applies, strict=True) if ok]
        wsums: dict[str, Number] = {}
        for section in card.sections:
            wsum = num.total([k.weight for k in live_kpis if k.section == section.id])
            if wsum != 0:
                wsums[section.id] = wsum
        swsum = num.total([s.weight for s in card.sections if s.id in wsums])
        section_share = {s.id: num.div(s.weight, swsum) for s in card.sections if s.id in wsums} if swsum else {}
        self.shares: dict[str, Number] = {
            k.id: num.mul(num.div(k.weight, wsums[k.section]), section_share.get(k.section, ZERO))
            if ok and k.section in wsums
            else ZERO
            for k, ok in zip(card.kpis, applies, strict=True)
        }
        self.wsums = wsums
        self.section_share = section_share
        self.share_list = tuple(self.shares[k.id] for k in card.kpis)
        self.live = tuple(i for i, ok in enumerate(applies) if ok)  # positions of the applicable KPIs
        # Per section: the positions of its applicable KPIs, in KPI order.
        self.members: dict[str, tuple[int, ...]] = {
            s.id: tuple(i for i, (k, ok) in enumerate(zip(card.kpis, applies, strict=True)) if ok and k.section == s.id)
            for s in card.sections
        }


class _Plan:
    """What evaluating a scorecard derives from the scorecard alone, worked out once per card.

    Compiled scorers and KPI paths, the three shared results of each gate, the required inputs,
    and the effective weights of each pattern of applicable KPIs met so far.
    """

    def __init__(self, card: Scorecard) -> None:
        self.kpis = tuple(_KpiPlan(k) for k in card.kpis)
        self.index = {k.id: i for i, k in enumerate(card.kpis)}
        self.grades = tuple((g.min, g.grade, g.bonus_multiplier) for g in card.grades)
        self.metrics = tuple(k.metric for k in card.kpis)
        self.operators = tuple(kp.operators for kp in self.kpis)
        self.all_operators = all(op is not None for op in self.operators)
        self.heads = tuple((k.id, k.title, k.section, k.metric, k.weight) for k in card.kpis)  # a KpiResult's constants
        self.weights = tuple(k.weight for k in card.kpis)
        self.required = tuple(name for name, spec in card.inputs.items() if spec.required)
        self.early = tuple(g for g in card.gates if g.action == "zero_section")
        self.gate_names = {g.id: g.when.names - {"total"} for g in card.gates}
        # A gate's result is one of three values shared by every subject (lean results).
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
                for outcome in ("applied", "not_applied", "not_evaluated")
            }
            for g in card.gates
        }
        self.patterns: dict[tuple[bool, ...], _Pattern] = {}


def _plan(card: Scorecard) -> _Plan:
    return per_card(card, "row_plan", lambda: _Plan(card))


class _Evaluator:
    def __init__(self, card: Scorecard, metrics: _Metrics, period: Period, *, strict: bool) -> None:
        self.card = card
        self.m = metrics
        self.period = period
        self.strict = strict
        self.leaves: dict[str, tuple[str, ...]] = {}  # per metric: static, so computed once
        self.na_issues: list[Issue] = []  # every N/A a strict run (or on_missing: error) refuses
        self.tracer = _Tracer(self)
        self.rounding = Rounding.of(card)
        self.plan = _plan(card)
        self.gate_results = self.plan.gate_results
        self.current: tuple[str, str] = ("", "")  # (subject, path) being computed, to locate an ArithmeticError

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the plan (compiled closures); an unpickled evaluator compiles it again."""
        state = dict(self.__dict__)
        del state["plan"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.plan = _plan(self.card)

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
        level = LEVELS.index(self.card.subject)
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
        appraised = set(subjects)
        issues: list[Issue] = []
        for (rep, period), events in sorted(self.m.data.events.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            if period == self.period and not self._reaches(rep, appraised):
                issues.append(
                    Issue(
                        "orphan_event",
                        f"{len(events)} event(s) of '{rep}' in {period} belong to no appraised {self.card.subject} "
                        "(add a record or membership row for it)",
                        "rep",
                        events[0].origin,
                    )
                )
        if LEVELS.index(self.card.subject) == 0:
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
                    continue  # a record's own value is the input's value (``_Metrics._input``)
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
            self.leaves[name] = () if metric.kind == "members" else tuple(_leaf_inputs(self.card, name))
        leaves = self.leaves[name]
        for leaf in leaves:
            leaf_metric = self.card.metrics[leaf]
            if leaf_metric.kind == "input":
                source = self.m.input_source(subject, self.period, leaf)
            else:
                source = leaf_metric.describe()
            inputs[leaf] = {"value": self.m.value(subject, self.period, leaf), "source": source}
        trace: dict[str, Any] = {"metric": name, "definition": metric.describe(), "inputs": inputs}
        if metric.kind == "aggregate":
            events = self.m.matching_events(subject, self.period, metric)
            trace["events"] = {"matched": len(events), "ids": [e.event_id for e in events[:TRACE_EVENTS]]}
        if metric.kind == "window":
            trace["window"] = window_trace(self.m, subject, self.period, metric)
        if metric.kind == "members" and metric.expr is not None:
            detail = {}
            for kid in self.m.children(subject, self.period):
                counted = metric.among is None or metric.among.evaluate(
                    self.m.env(kid, self.period, metric.among.names)
                )
                meets = metric.expr.evaluate(self.m.env(kid, self.period, metric.expr.names))
                detail[kid] = {"counted": counted is True, "meets": meets}
            trace["members"] = detail
        if metric.kind == "previous" and metric.of:
            prev = self.period.previous()
            trace["previous"] = {"period": str(prev), metric.of: self.m.value(subject, prev, metric.of)}
        return trace

    def score_kpi(self, subject: str, kp: _KpiPlan, *, trace: bool) -> _Scored:
        """Value → score of one KPI; the explanation dict is filled only when ``trace`` is set."""
        kpi = kp.kpi
        self.current = (subject, kp.path)
        value = self.m.value(subject, self.period, kpi.metric)
        explanation: dict[str, Any] = {}
        if trace:
            explanation = self.trace_metric(subject, kpi.metric)
            explanation.update(method=kpi.method, parameters=kpi.parameters())
        flags: list[str] = []
        if value is None:
            if self.strict or kpi.on_missing == "error":
                why = "strict run" if self.strict else "on_missing: error"
                self.na(subject, kp.path, f"'{subject}': KPI '{kpi.id}' has no value (N/A) ({why})")
            if kpi.on_missing == "zero":
                flags.append("missing_scored_zero")
                if trace:
                    explanation["rule"] = "value is N/A; on_missing: zero"
                return value, ZERO, flags, explanation
            flags.append("excluded_na")
            if trace:
                explanation["rule"] = "value is N/A; on_missing: exclude — weight renormalised over the other KPIs"
            return value, None, flags, explanation
        assert is_number(value)
        score: Number | None
        if kp.scorer is not None:
            score = kp.scorer(value)
        elif kpi.method == "bands":
            matched = scoring.band(kpi, value)
            score = kpi.fail_score if matched is None else matched.score  # ``scoring.bands``
            if matched is None:
                flags.append("no_band_matched")
            if trace:
                explanation["band"] = f"kpis.{kpi.id}.bands.{matched.id}" if matched else None
        else:
            env: Mapping[str, Value] = {}
            if kpi.score_expr is not None:
                env = self.m.env(subject, self.period, kp.score_names)
            score = scoring.score(kpi, value, env)
        if score is None:
            flags.append("excluded_na")
            if self.strict or kpi.on_missing == "error":  # an N/A score may not pass silently either
                why = "strict run" if self.strict else "on_missing: error"
                self.na(subject, kp.path, f"'{subject}': KPI '{kpi.id}' has an N/A score ({why})")
        if trace:
            explanation["rule"] = scoring.rule(kpi, value, score)
            explanation["raw_score"] = score
        return value, score, flags, explanation

    def score_all(self, subject: str, *, trace: bool) -> list[_Scored]:
        """``score_kpi`` of every KPI; without traces, a KPI with a compiled scorer and a value inline.

        In the library's own context (``own_context``), a KPI with an operator form scores with
        plain operators; if any of them rounded (the context's ``Inexact`` flag), those KPIs are
        scored again with the exact scorers.
        """
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
        if fast and self.plan.all_operators:  # every KPI has an operator form: scored in one comprehension
            try:
                values = [known[metric] for metric in self.plan.metrics]
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

    def combine(
        self, scores: list[Number | None], pattern: _Pattern, zeroed: set[str]
    ) -> tuple[dict[str, Number | None], list[Number], Number | None]:
        """Section scores, KPI contributions and their total (exact) of one subject's scores.

        Decimal scores in the library's own context are combined with plain operators and kept
        when its ``Inexact`` flag stayed unset (the same digits as the exact functions); any
        other case, and any rounding, takes ``_numbers``' exact functions.
        """
        ctx = num.own_context()
        if ctx is not None and not zeroed:
            ctx.flags[Inexact] = False
            try:
                found = self._combine_operators(scores, pattern)
            except (TypeError, ArithmeticError):  # a Fraction among the numbers, or a value out of range
                found = None  # the exact functions below decide (and raise what they raise)
            if found is not None and not ctx.flags[Inexact]:
                return found
            ctx.flags[Inexact] = False
        return self._combine_exactly(scores, pattern, zeroed)

    def _combine_operators(
        self, scores: list[Number | None], pattern: _Pattern
    ) -> tuple[dict[str, Number | None], list[Number], Number | None]:
        weights = self.plan.weights
        section_scores: dict[str, Number | None] = {}
        for section in self.card.sections:
            wsum = pattern.wsums.get(section.id)
            if wsum is None:
                section_scores[section.id] = None
                continue
            members = pattern.members[section.id]
            if len(members) == len(scores):
                weighted = sum(map(operator.mul, weights, scores), ZERO)
            else:
                weighted = sum(map(operator.mul, [weights[i] for i in members], [scores[i] for i in members]), ZERO)
            section_scores[section.id] = weighted / wsum  # type: ignore[operator]  # TypeError: the exact path
        counted = pattern.live
        if len(counted) == len(scores):
            contributions: list[Number] = list(map(operator.mul, pattern.share_list, scores))
        else:
            contributions = [ZERO] * len(scores)  # an excluded KPI contributes 0
            shares = pattern.share_list
            for i in counted:
                contributions[i] = shares[i] * scores[i]  # type: ignore[operator]
        total = sum(contributions, ZERO) if pattern.wsums else None  # ``num.total``: from 0, in order
        return section_scores, contributions, total

    def _combine_exactly(
        self, scores: list[Number | None], pattern: _Pattern, zeroed: set[str]
    ) -> tuple[dict[str, Number | None], list[Number], Number | None]:
        plan = self.plan
        section_scores: dict[str, Number | None] = {}
        for section in self.card.sections:
            wsum = pattern.wsums.get(section.id)
            if wsum is None:
                section_scores[section.id] = None
                continue
            members = pattern.members[section.id]
            weighted = num.dot([plan.weights[i] for i in members], [scores[i] for i in members])  # type: ignore[misc]
            section_scores[section.id] = ZERO if section.id in zeroed else num.div(weighted, wsum)
        shares = pattern.share_list
        counted = pattern.live
        if zeroed:
            counted = tuple(i for i in counted if plan.kpis[i].kpi.section not in zeroed)
        contributions: list[Number] = [ZERO] * len(scores)  # an excluded or zeroed KPI contributes 0
        parts = num.products([shares[i] for i in counted], [scores[i] for i in counted])  # type: ignore[misc]
        for i, part in zip(counted, parts, strict=True):
            contributions[i] = part
        # A section with applicable KPIs has a score; with none, there is no total.
        return section_scores, contributions, num.total(contributions) if pattern.wsums else None

    def pattern(self, applies: tuple[bool, ...]) -> _Pattern:
        """The effective weights for a pattern of applicable KPIs (computed once per pattern and card)."""
        patterns = self.plan.patterns
        found = patterns.get(applies)
        if found is None:
            found = patterns[applies] = _Pattern(self.card, applies)
        return found

    def shares(self, applies: tuple[bool, ...]) -> tuple[dict[str, Number], dict[str, Number]]:
        """Each KPI's exact effective weight, and each live section's weight sum, for a pattern of applicable KPIs."""
        found = self.pattern(applies)
        return found.shares, found.wsums

    def section_shares(self, applies: tuple[bool, ...]) -> dict[str, Number]:
        """Each live section's exact share of the total for a pattern of applicable KPIs."""
        return self.pattern(applies).section_share

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
        # One entry per KPI, in the scorecard's order.
        scored = self.score_all(subject, trace=trace)
        adjustments: list[AdjustmentResult] = []
        for adj in card.adjustments:
            at = plan.index[adj.kpi]
            value, score, flags, explanation = scored[at]
            if score is None:
                continue
            holds = self.condition(subject, adj.when)
            adjustments.append(AdjustmentResult(adj.id, adj.kpi, holds))
            if holds is True and "adjusted" not in flags:
                if trace:
                    explanation["adjustment"] = {"id": adj.id, "from": score, "to": adj.score, "reason": adj.reason}
                scored[at] = (value, adj.score, [*flags, "adjusted"], explanation)
        gates: list[GateResult] = []
        # zero_section gates run first (the total depends on them) and never read the total.
        early = {g.id: self.condition(subject, g.when) for g in plan.early} if plan.early else {}
        zeroed = {str(g.value) for g in plan.early if early[g.id] is True} if early else set()
        # Every step below is exact (``_numbers``): shares such as 1/3 stay rational and nothing is
        # rounded before it is reported.
        self.current = (subject, "total")
        scores = [entry[1] for entry in scored]
        # The effective shares depend only on which KPIs apply: computed once per pattern.
        pattern = self.pattern(tuple(map(operator.is_not, scores, _NONES)))  # which KPIs apply
        # The total is exactly the sum of the KPI contributions an auditor sees.
        section_scores, contributions, total = self.combine(scores, pattern, zeroed)
        section_share = pattern.section_share
        shares = pattern.share_list
        before_gates = total
        forced: str | None = None
        subject_flags: list[str] = []
        for gate in card.gates:
            if gate.id in early:
                holds = early[gate.id]
            else:
                holds = self.condition(subject, gate.when, {"total": before_gates}, plan.gate_names[gate.id])
            outcome: Literal["applied", "not_applied", "not_evaluated"] = (
                "not_evaluated" if holds is None else ("applied" if holds else "not_applied")
            )
            if holds is True:
                if gate.action == "cap_total" and total is not None:
                    assert isinstance(gate.value, Decimal)
                    total = min(total, gate.value)
                elif gate.action == "force_grade" and forced is None:
                    forced = str(gate.value)
                subject_flags.append(f"gate:{gate.id}")
            gates.append(self.gate_results[gate.id][outcome])
        grade, bonus = None, None
        if total is not None:
            for least, name, multiplier in plan.grades:
                if least is None or total >= least:
                    grade, bonus = name, multiplier
                    break
        if forced is not None:
            grade = forced
            bonus = next((g.bonus_multiplier for g in card.grades if g.grade == forced), None)
        if total is None:
            subject_flags.append("no_kpi_applies")
        # Published flags (e.g. eligible_for_promotion): the name, when the ruleset's condition holds.
        if card.flags:
            subject_flags.extend(name for name, when in card.flags if self.condition(subject, when) is True)
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
        kpi_results = new_kpi_results(plan.heads, scored, shares, contributions, subject, tracer, trace, rounding)
        sections = tuple(
            SectionResult(
                s.id,
                s.title,
                s.weight,
                section_scores[s.id],
                section_share.get(s.id, ZERO),
                ("zeroed_by_gate",) if s.id in zeroed else (("excluded_na",) if section_scores[s.id] is None else ()),
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

    def __init__(self, evaluator: _Evaluator) -> None:
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
    """Competition ranking (1, 1, 3) by exact key; subjects whose key is N/A get no rank."""

    def ranks(group: list[SubjectResult]) -> dict[str, int]:
        # Sorted by key, equal keys are neighbours: each takes the position of the first of them.
        ranked = sorted(
            [(k, r.subject) for r in group if is_number(k := keys[r.subject])],
            key=operator.itemgetter(0),
            reverse=not lower_first,
        )
        out: dict[str, int] = {}
        rank, previous = 0, None
        for i, (k, subject) in enumerate(ranked, start=1):
            if i == 1 or k != previous:
                rank, previous = i, k
            out[subject] = rank
        return out

    overall = ranks(results)
    by_parent: dict[str | None, list[SubjectResult]] = {}
    for r in results:
        by_parent.setdefault(r.parent, []).append(r)
    within: dict[str, int] = {}
    for parent, group in by_parent.items():
        if parent is not None:
            within.update(ranks(group))
    for r in results:
        # The results were built by this run and nobody holds them yet: their ranks are filled in
        # place (as ``attrs.evolve`` would, without building every result a second time).
        object.__setattr__(r, "rank", overall.get(r.subject))
        object.__setattr__(r, "rank_in_parent", within.get(r.subject))
    return sorted(results, key=lambda r: (r.rank is None, r.rank or 0, r.subject))


def _check_effective(ruleset: Ruleset, period: Period) -> None:
    """Refuse a period that ends before the ruleset takes effect or starts after it lapses."""
    effective = ruleset.spec.effective
    if effective is None:
        return
    end = period.next_start() - dt.timedelta(days=1)
    if end < effective.from_ or (effective.until is not None and period.start > effective.until):
        until = f" until {effective.until}" if effective.until else ""
        name = f"{ruleset.id} {ruleset.version}"
        msg = f"ruleset {name} is effective from {effective.from_}{until}; period {period} is outside"
        raise DataError(msg)


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


def evaluate(
    ruleset: Ruleset,
    records: RecordsLike,
    *,
    period: str | None = None,
    members: RowsLike | None = None,
    events: RowsLike | None = None,
    strict: bool = False,
    allow_extra_columns: bool = False,
    progress: Callable[[int, int], None] | None = None,
    engine: Literal["auto", "row", "columnar"] = "auto",
    totals: Literal["refuse", "skip"] = "refuse",
    unlisted: Literal["error", "exclude"] = "error",
) -> Appraisal:
    """Appraise every subject of the ruleset's level for one period.

    Args:
        ruleset: a loaded ruleset (``load_ruleset``).
        records: rows with ``subject``, ``period`` and the ruleset's inputs: a ``Table`` read from a
            file, several tables, or Python dicts / objects. Rows of earlier periods serve as history (growth, streaks).
        period: the period to appraise (``2026-03``, ``2026-Q1`` …); default: the latest in ``records``.
        members: membership rows ``member, parent, period`` (rep → team → department → company).
        events: event rows ``event_id, type, at, rep`` plus the ruleset's ``event_fields``.
        strict: turn every N/A KPI value or condition into an error, and every warning too.
        allow_extra_columns: ignore data columns the ruleset does not use (as ``allow_extra_columns: true``).
        progress: called as ``progress(done, total)`` about a hundred times while subjects are appraised.
        engine: ``row`` (the reference evaluator), ``columnar`` (the compiled kernel, extra
            ``columnar``; also takes Polars/Arrow/pandas frames and DuckDB relations), or ``auto``
            (the kernel for large inputs when it is installed and supports the scorecard). Both
            give the same appraisal; the kernel's traces are lean (``kpi explain`` builds full ones).
        totals: a record that is a totals row (合计, Total …, or the column sums of its period's other
            rows) is refused (``refuse``) or left out with a warning (``skip``); see ``screening``.
        unlisted: with ``members``, a record whose subject is not on the roster for its period is an
            error (``error``) or left out with a warning (``exclude``).

    Returns:
        The ``Appraisal``: one result per subject, ranked, with traces.

    Raises:
        DataError: on any bad input row. EvaluationError: on N/A in a strict run or ``on_missing: error``.
        KpiError: for ``engine="columnar"`` on a scorecard feature the kernel does not evaluate.
    """
    screened = screen_inputs(ruleset, records, members, events, period, allow_extra_columns, totals, unlisted)
    records, members = screened.records, screened.members
    # Finer records (months for a half) and spans (2026-YTD-06) become records of the card's periods.
    span = None
    gaps: tuple[Issue, ...] = ()  # a month missing from a half: a warning (an error when strict)
    rolled = accumulate(ruleset.scorecard, records, period=period, members=members, events=events, strict=strict)
    if rolled is not None:
        records, members, events = rolled.records, rolled.members, rolled.events
        period, span, gaps = rolled.period, rolled.span, rolled.warnings
    if engine != "row":
        from kpi_engine.evaluation.columnar import dispatch  # noqa: PLC0415 - optional kernel

        rows = functools.partial(_rows, allow_extra_columns=allow_extra_columns, progress=progress)
        extra = allow_extra_columns or ruleset.scorecard.allow_extra_columns
        appraisal = dispatch(
            ruleset, records, period=period, members=members, events=events, strict=strict, engine=engine, rows=rows,
            allow_extra_columns=extra,
        )  # fmt: skip
    else:
        appraisal = _rows(
            ruleset, records, period=period, members=members, events=events, strict=strict,
            allow_extra_columns=allow_extra_columns, progress=progress,
        )  # fmt: skip
    if screened.warnings:
        appraisal = attrs.evolve(appraisal, warnings=(*screened.warnings, *appraisal.warnings))
    return relabel(appraisal, span, gaps)


def screen_inputs(
    ruleset: Ruleset,
    records: RecordsLike,
    members: RowsLike | None,
    events: RowsLike | None,
    period: str | None,
    allow_extra_columns: bool,  # noqa: FBT001
    totals: Literal["refuse", "skip"],
    unlisted: Literal["error", "exclude"],
) -> Screened:
    """Who is a subject, before any engine reads the rows (``screening``), as ``evaluate`` runs it.

    When screening refuses, the records check's own issues come in the same error (every problem of
    the files at once). An executor that bypasses ``evaluate`` (the conformance suite's kernel)
    calls this first and adds ``Screened.warnings`` before the appraisal's own.

    Raises:
        DataError: naming every row refused.
    """
    card = ruleset.scorecard
    if allow_extra_columns:
        card = attrs.evolve(card, allow_extra_columns=True)

    def also(kept: Any, roster: Any) -> list[Issue]:
        try:
            with exact():
                prepare_inputs(card, kept, roster, events)
        except DataError as exc:
            return list(exc.issues)
        return []

    return screen(card, records, members, events, period=period, totals=totals, unlisted=unlisted, also=also)


def _rows(
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
    """The row evaluator behind ``evaluate``."""
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
            chosen = _latest_period(card, data)
        _check_effective(ruleset, chosen)
        metrics = _Metrics(card, data)
        ev = _Evaluator(card, metrics, chosen, strict=strict)
        subjects = ev.subjects()
        if not subjects:
            msg = f"no {card.subject} has data for period {chosen}"
            raise DataError(msg)
        ev.check_orphans(subjects)
        try:
            ev.check_required(subjects)
            warnings = _roster_without_records(data, chosen)
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


def _latest_period(card: Scorecard, data: Inputs) -> Period:
    """The period to appraise when none is given: the latest, unless that would mislead.

    Records of several periods are history only if the ruleset reads history (a ``previous`` or
    ``streak`` metric); otherwise several periods is an error listing them. With history, the
    latest period must keep every subject of the period before it: a stray row dated a month
    ahead would otherwise move the run to that month and drop everybody else without a word.

    Raises:
        DataError: naming the periods (and the subjects that would disappear).
    """
    known = sorted({p for (_, p) in data.records} | {p for (_, p) in data.children})
    if not known:
        msg = "no records to evaluate"
        raise DataError(msg)
    latest = known[-1]
    if len(known) == 1:
        return latest
    shown = ", ".join(str(p) for p in known)
    if not card.reads_history:
        msg = (
            f"the records hold {len(known)} periods ({shown}) and the ruleset reads no history; "
            "choose the period to appraise (--period, or evaluate(..., period=...))"
        )
        raise DataError(msg)
    metrics = _Metrics(card, data)
    now = set(_Evaluator(card, metrics, latest, strict=False).subjects())
    before = _Evaluator(card, metrics, known[-2], strict=False).subjects()
    gone = [s for s in before if s not in now]
    if gone:
        names = ", ".join(gone[:20]) + (" …" if len(gone) > 20 else "")  # noqa: PLR2004 - enough to recognise
        msg = (
            f"the records hold periods {shown}; without --period the latest, {latest}, would be appraised, "
            f"but {len(gone)} of the {len(before)} {card.subject}(s) of {known[-2]} have no data in it ({names}); "
            "a row dated in the wrong period? choose the period to appraise (--period, or evaluate(..., period=...))"
        )
        rows = sorted((r for (_, p), r in data.records.items() if p == latest), key=lambda r: str(r.origin))
        if not rows:
            raise DataError(msg)
        first, *rest = [r.table.where(r.origin.line, "period") for r in rows[:20]]
        issues = [Issue("stray_period", msg, "period", first)]
        issues += [Issue("stray_period", f"a record for {latest}", "period", where) for where in rest]
        raise DataError.from_issues(issues, "records")
    return latest


def _roster_without_records(data: Inputs, period: Period) -> list[Issue]:
    """Warnings for members on the period's roster with neither a record nor members of their own."""
    return [
        Issue(
            "no_record",
            f"'{member}' is a member of '{up}' in {period} but has no record: not appraised, "
            "and nothing of theirs rolls up",
            "member",
            Location("members"),
            "warning",
        )
        for (member, p), up in sorted(data.parent.items(), key=lambda kv: kv[0][0])
        if p == period and (member, p) not in data.records and (member, p) not in data.children
    ]
