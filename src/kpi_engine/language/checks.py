"""Semantic checks on a schema-valid ``RulesetSpec``: every problem becomes a located ``Issue``.

Checked: names and references (with "did you mean"), expressions (parse, names, types),
circular metrics, weights, bands (gaps, overlaps, empty rows), contradictory targets and floors,
percent slips (a ratio target of 90 where 90% is meant), grades and gates.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from kpi_engine import _numbers as num
from kpi_engine._numbers import HUNDRED, ONE, Number, canonical
from kpi_engine.errors import ExpressionError, Issue, did_you_mean
from kpi_engine.expr import Expression, Type, parse_expression
from kpi_engine.expr._ir import BinOp, Name
from kpi_engine.expr._parse import parse_to_ir
from kpi_engine.language._yaml import PathKey, SourceMap, format_path
from kpi_engine.language.spec import AggregateSpec, InputType, KpiSpec, MetricSpec, RulesetSpec, WindowSpec

BUILTIN_EVENT_FIELDS: dict[str, InputType] = {"event_id": "text", "type": "text", "rep": "text", "customer": "text"}


MAX_METRIC_DEPTH = 16  # metrics built on metrics; bounds the evaluator's recursion


def expr_type(input_type: InputType) -> Type:
    """Expression type of a record field of ``input_type``."""
    if input_type in {"text", "date"}:
        return "text"
    if input_type == "bool":
        return "bool"
    return "number"


def metric_unit(spec: RulesetSpec, name: str) -> str | None:
    """The unit of a metric or input, declared or inferred (``ratio`` for growth and shares)."""
    if name in spec.inputs:
        return spec.inputs[name].type
    metric = spec.metrics.get(name)
    if metric is None:
        return None
    if metric.unit:
        return metric.unit
    if metric.window is not None:
        return _window_unit(metric.window.measure)
    if metric.members is not None and metric.members.measure == "count":
        return "count"
    if metric.members is not None or (
        metric.previous is not None and metric.previous.compare in {"growth", "reduction"}
    ):
        return "ratio"
    if metric.formula is not None and _is_share(spec, metric.formula):
        return "ratio"
    return None


def _window_unit(measure: str) -> str:
    if measure == "rate":
        return "ratio"
    return "number" if measure.endswith("duration") else "count"


def _is_share(spec: RulesetSpec, formula: str) -> bool:
    """``a / b`` of two counts, or of two money amounts, is a ratio (renewed / due, sales / target)."""
    try:
        _, node = parse_to_ir(formula, dict.fromkeys([*spec.inputs, *spec.metrics], "number"))
    except ExpressionError:
        return False
    if not (
        isinstance(node, BinOp) and node.op == "/" and isinstance(node.left, Name) and isinstance(node.right, Name)
    ):
        return False
    left, right = spec.inputs.get(node.left.id), spec.inputs.get(node.right.id)
    return left is not None and right is not None and left.type == right.type and left.type in {"count", "money"}


class _Checker:
    def __init__(self, spec: RulesetSpec, smap: SourceMap, raw: Any = None) -> None:
        self.spec = spec
        self.smap = smap
        self.raw = raw
        self.issues: list[Issue] = []
        self.metric_types: dict[str, Type] = {n: expr_type(i.type) for n, i in spec.inputs.items()}
        self.metric_types.update(dict.fromkeys(spec.metrics, "number"))
        self.event_types: dict[str, Type] = {
            n: expr_type(t) for n, t in {**BUILTIN_EVENT_FIELDS, **spec.event_fields}.items()
        }

    def add(
        self,
        code: str,
        message: str,
        path: PathKey,
        suggestion: str | None = None,
        *,
        key: bool = False,
        warn: bool = False,
    ) -> None:
        self.issues.append(
            Issue(
                code,
                message,
                format_path(path),
                self.smap.locate(path, key=key),
                "warning" if warn else "error",
                suggestion,
            )
        )

    def expression(self, text: str, path: PathKey, names: Mapping[str, Type], want: Type | None) -> Expression | None:
        try:
            return parse_expression(text, names, want)
        except ExpressionError as exc:
            loc = self.smap.locate(path)
            col = loc.col + max(exc.column - 1, 0) if loc.line else 0
            self.issues.append(
                Issue(
                    "unknown_name" if "is not defined" in str(exc) else "bad_expression",
                    str(exc),
                    format_path(path),
                    type(loc)(loc.file, loc.line, col),
                    "error",
                    exc.suggestion,
                )
            )
            return None

    def raw_at(self, path: PathKey) -> Any:
        """The value as written in the YAML (before conversion), or None."""
        node = self.raw
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def reference(self, name: str, known: Iterable[str], path: PathKey, what: str) -> bool:
        known = list(known)
        if name in known:
            return True
        self.add(f"unknown_{what}", f"'{name}' is not a defined {what}", path, did_you_mean(name, known))
        return False

    def run(self) -> list[Issue]:
        self.dates()
        self.names()
        self.rollups()
        self.sources()
        self.metrics()
        self.kpis()
        self.weights()
        self.rules()
        self.grades()
        self.columns()
        self.alerts_and_flags()
        return self.issues

    def columns(self) -> None:
        """Every column mapping names a column the data may have; no two columns map to one name."""
        known = {*self.spec.inputs, "subject", "period", "name", "note", "member", "parent", "at"}
        known |= {*BUILTIN_EVENT_FIELDS, *self.spec.event_fields}
        seen: dict[str, str] = {}
        for source, target in self.spec.columns.items():
            path = ("columns", source)
            if target in seen:
                self.add("duplicate_column", f"'{source}' and '{seen[target]}' both map to '{target}'", path)
            elif self.reference(target, sorted(known), path, "column"):
                seen[target] = source

    def rollups(self) -> None:
        """A sum, mean, min or max needs numbers; text, dates and booleans keep the latest (``last``) or none."""
        for name, spec in self.spec.inputs.items():
            if spec.rollup in {"sum", "mean", "min", "max"} and spec.type in {"text", "date", "bool"}:
                self.add(
                    "bad_rollup",
                    f"'{name}' is {spec.type}: it cannot roll up by {spec.rollup}",
                    ("inputs", name, "rollup"),
                    "use `rollup: last` (the latest value over time) or `none`",
                )

    def dates(self) -> None:
        eff = self.spec.effective
        if eff is not None and eff.until is not None and eff.until < eff.from_:
            self.add("bad_dates", f"effective until {eff.until} is before from {eff.from_}", ("effective", "until"))

    def names(self) -> None:
        for name in self.spec.metrics:
            if name in self.spec.inputs:
                self.add("duplicate_name", f"'{name}' is both an input and a metric", ("metrics", name), key=True)
        seen: dict[str, int] = {}
        for i, kpi in enumerate(self.spec.kpis):
            if kpi.id in seen:
                self.add(
                    "duplicate_id", f"KPI id '{kpi.id}' is already used by kpis[{seen[kpi.id]}]", ("kpis", i, "id")
                )
            seen.setdefault(kpi.id, i)
        rule_ids = {"gates": [g.id for g in self.spec.gates], "adjustments": [a.id for a in self.spec.adjustments]}
        for key, ids in rule_ids.items():
            first: dict[str, int] = {}
            for i, ident in enumerate(ids):
                if ident in first:
                    self.add("duplicate_id", f"id '{ident}' is already used by {key}[{first[ident]}]", (key, i, "id"))
                first.setdefault(ident, i)
        for name in self.spec.event_fields:
            if name in BUILTIN_EVENT_FIELDS:
                self.add("duplicate_name", f"'{name}' is a built-in event field", ("event_fields", name), key=True)

    def metrics(self) -> None:
        deps: dict[str, set[str]] = {}
        for name, metric in self.spec.metrics.items():
            deps[name] = self.metric(name, metric) & set(self.spec.metrics)
        self.cycles(deps)

    def metric(self, name: str, metric: MetricSpec) -> set[str]:
        base: PathKey = ("metrics", name)
        names = self.metric_types
        used: set[str] = set()
        if metric.formula is not None:
            path = (*base, "formula") if (*base, "formula") in self.smap.values else base
            e = self.expression(metric.formula, path, names, "number")
            used |= e.names if e else set()
        elif metric.aggregate is not None:
            self.aggregate(metric.aggregate, (*base, "aggregate"))
        elif metric.previous is not None:
            if self.reference(metric.previous.metric, names, (*base, "previous", "metric"), "metric"):
                used.add(metric.previous.metric)
        elif metric.streak is not None:
            e = self.expression(metric.streak, (*base, "streak"), names, "bool")
            used |= e.names if e else set()
        elif metric.window is not None:
            self.window(metric.window, (*base, "window"))
        elif metric.members is not None:
            if self.spec.subject == "rep":
                self.add("bad_metric", "a members metric needs a team or higher subject", (*base, "members"))
            e = self.expression(metric.members.where, (*base, "members", "where"), names, "bool")
            used |= e.names if e else set()
            if metric.members.among is not None:
                e = self.expression(metric.members.among, (*base, "members", "among"), names, "bool")
                used |= e.names if e else set()
        return used

    def aggregate(self, agg: AggregateSpec, path: PathKey) -> None:
        """An aggregate over events (a metric's, or an input's ``from: {events: …}``)."""
        if agg.where is not None:
            self.expression(agg.where, (*path, "where"), self.event_types, "bool")
        if agg.fn == "count" and agg.field is not None:
            self.add("bad_aggregate", "count takes no field (it counts events)", (*path, "field"))
        elif agg.fn != "count" and agg.field is None:
            self.add("bad_aggregate", f"{agg.fn} needs a field", path)
        elif agg.field is not None:
            ok = self.reference(agg.field, self.event_types, (*path, "field"), "event_field")
            if ok and agg.fn != "count_distinct" and self.event_types[agg.field] != "number":
                self.add("bad_aggregate", f"{agg.fn} needs a number field", (*path, "field"))

    def sources(self) -> None:
        """Every ``from: {events: …}`` is a valid aggregate over the declared event fields."""
        for name, spec in self.spec.inputs.items():
            if spec.from_ is not None and spec.from_.events is not None:
                self.aggregate(spec.from_.events, ("inputs", name, "from", "events"))

    def window(self, w: WindowSpec, path: PathKey) -> None:
        self.expression(w.trigger, (*path, "trigger"), self.event_types, "bool")
        self.expression(w.answer, (*path, "answer"), self.event_types, "bool")
        for i, name in enumerate(w.match):
            self.reference(name, self.event_types, (*path, "match", i), "event_field")
        if not w.match:
            self.add("bad_window", "match needs at least one event field (e.g. customer)", (*path, "match"))
        if w.measure in {"in_time", "late", "missed", "rate"} and w.within is None:
            self.add(
                "bad_window", f"measure {w.measure} needs a window (within: hours, days, working_days or months)", path
            )
        if w.anchor == "answer" and w.direction == "before":
            self.add("bad_window", "anchor answer pairs each answer with the trigger before it: drop direction", path)
        if w.within is not None and w.within.hours is not None and w.within.hours < 0:
            self.add("bad_window", "hours must be 0 or more", (*path, "within", "hours"))

    def cycles(self, deps: dict[str, set[str]]) -> None:
        """Report circular definitions and chains deeper than ``MAX_METRIC_DEPTH`` (a loop, no recursion)."""
        state: dict[str, int] = {}  # 1 on the current path, 2 done
        height: dict[str, int] = {}  # longest chain of metrics below, itself included
        reported: set[frozenset[str]] = set()
        for root in deps:
            if root in state:
                continue
            state[root] = 1
            path = [root]
            todo = [iter(sorted(deps.get(root, ())))]
            while todo:
                dep = next(todo[-1], None)
                if dep is None:
                    node = path.pop()
                    todo.pop()
                    state[node] = 2
                    height[node] = 1 + max((height.get(d, 0) for d in deps.get(node, ())), default=0)
                    if height[node] == MAX_METRIC_DEPTH + 1:
                        self.add(
                            "metric_depth",
                            f"'{node}' is built on a chain of more than {MAX_METRIC_DEPTH} metrics; flatten it",
                            ("metrics", node),
                        )
                elif state.get(dep) == 1:
                    cycle = [*path[path.index(dep) :], dep]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.add(
                            "circular_metric", "circular metric definition: " + " → ".join(cycle), ("metrics", dep)
                        )
                elif dep not in state:
                    state[dep] = 1
                    path.append(dep)
                    todo.append(iter(sorted(deps.get(dep, ()))))

    def kpis(self) -> None:
        sections = self.spec.sections
        for i, kpi in enumerate(self.spec.kpis):
            base: PathKey = ("kpis", i)
            self.reference(kpi.metric, self.metric_types, (*base, "metric"), "metric")
            if kpi.metric in self.metric_types and self.metric_types[kpi.metric] != "number":
                self.add("bad_kpi", f"KPI metric '{kpi.metric}' is not a number", (*base, "metric"))
            if sections and kpi.section is None:
                self.add("missing_section", "this scorecard has sections: name the KPI's section", base)
            elif kpi.section is not None:
                self.reference(kpi.section, sections, (*base, "section"), "section")
            if kpi.weight <= 0:
                self.add("bad_weight", "weight must be above 0", (*base, "weight"))
            if kpi.cap <= 0:
                self.add("bad_cap", "cap must be above 0", (*base, "cap"))
            self.method(kpi, base)

    def method(self, kpi: KpiSpec, base: PathKey) -> None:
        m, d = kpi.method, kpi.direction
        target, floor = kpi.target, kpi.floor
        pair = d == "range"
        need_target = m in {"threshold", "linear", "attainment"}
        if need_target and target is None:
            self.add("missing_target", f"method {m} needs a target", base)
        if target is not None and len(target) != (2 if pair else 1):
            want = "a pair [lo, hi]" if pair else "one number"
            self.add("bad_target", f"direction {d} needs target as {want}", (*base, "target"))
            return
        if m == "linear":
            if floor is None:
                self.add("missing_floor", "method linear needs a floor (the worst acceptable value, scored 0)", base)
            elif len(floor) != (2 if pair else 1):
                self.add(
                    "bad_floor", f"direction {d} needs floor as {'a pair' if pair else 'one number'}", (*base, "floor")
                )
            elif target is not None:
                self.contradiction(kpi, target, floor, base)
        if pair and target is not None and target[0] > target[1]:
            self.add("bad_target", "range target [lo, hi] has lo above hi", (*base, "target"))
        if m == "attainment":
            if d not in {"higher", "lower"}:
                self.add("bad_method", "attainment needs direction higher or lower", (*base, "direction"))
            if target is not None and target[0] <= 0:
                self.add("bad_target", "attainment needs a target above 0", (*base, "target"))
        if m == "threshold":
            for key in ("pass_score", "fail_score"):
                score = getattr(kpi, key)
                if score < 0 or score > kpi.cap:  # every score lies in [0, cap], as band scores do
                    self.add("bad_score", f"{key} must lie in [0, cap {canonical(kpi.cap)}]", (*base, key))
        if m == "bands":
            self.bands(kpi, base)
        elif kpi.bands is not None:
            self.add("unused_bands", f"bands are only read by method bands, not {m}", (*base, "bands"), warn=True)
        if m == "expression":
            if kpi.score is None:
                self.add("missing_score", "method expression needs a score expression", base)
            else:
                names = {**self.metric_types, "value": "number"}
                self.expression(kpi.score, (*base, "score"), names, "number")
        unit = metric_unit(self.spec, kpi.metric)
        written_as_percent = "%" in str(self.raw_at((*base, "target")))
        if unit == "ratio" and target is not None and any(t > ONE for t in target) and not written_as_percent:
            shown = canonical(max(target))
            self.add(
                "percent_slip",
                f"'{kpi.metric}' is a ratio but the target is {shown}",
                (*base, "target"),
                f"did you mean {shown}%?",
            )

    def contradiction(
        self, kpi: KpiSpec, target: tuple[Decimal, ...], floor: tuple[Decimal, ...], base: PathKey
    ) -> None:
        if kpi.direction == "higher" and floor[0] >= target[0]:
            self.add(
                "contradiction",
                f"higher-is-better KPI has floor {canonical(floor[0])} at or above its target {canonical(target[0])}",
                (*base, "floor"),
            )
        elif kpi.direction == "lower" and floor[0] <= target[0]:
            self.add(
                "contradiction",
                f"lower-is-better KPI has floor {canonical(floor[0])} at or below its target {canonical(target[0])}; "
                "the floor is the worst acceptable value, so it must be above the target",
                (*base, "floor"),
            )
        elif kpi.direction == "range" and not (floor[0] < target[0] and floor[1] > target[1]):
            self.add("contradiction", "range floor [lo, hi] must lie outside the target range", (*base, "floor"))

    def bands(self, kpi: KpiSpec, base: PathKey) -> None:
        if not kpi.bands:
            self.add("missing_bands", "method bands needs a bands table", base)
            return
        ids: set[str] = set()
        rows = []
        for j, band in enumerate(kpi.bands):
            path = (*base, "bands", j)
            if band.id in ids:
                self.add("duplicate_id", f"band id '{band.id}' is used twice", (*path, "id"))
            ids.add(band.id)
            if band.min is not None and band.max is not None and band.min >= band.max:
                self.add(
                    "empty_band",
                    f"band '{band.id}' is empty: min {canonical(band.min)} ≥ max {canonical(band.max)}",
                    path,
                )
                continue
            if band.score < 0 or band.score > kpi.cap:
                self.add("bad_score", f"band score must lie in [0, cap {canonical(kpi.cap)}]", (*path, "score"))
            rows.append((band, j))
        rows.sort(key=lambda r: (r[0].min is not None, r[0].min or 0))
        for (a, _), (b, jb) in itertools.pairwise(rows):
            if a.max is None or b.min is None:
                self.add("band_overlap", f"bands '{a.id}' and '{b.id}' overlap (an open bound)", (*base, "bands", jb))
            elif a.max > b.min:
                self.add(
                    "band_overlap",
                    f"bands '{a.id}' and '{b.id}' overlap on [{canonical(b.min)}, {canonical(a.max)})",
                    (*base, "bands", jb),
                )
            elif a.max < b.min:
                self.add(
                    "band_gap",
                    f"no band covers [{canonical(a.max)}, {canonical(b.min)}) between '{a.id}' and '{b.id}'",
                    (*base, "bands", jb),
                )

    def weights(self) -> None:
        if self.spec.normalize:
            return
        groups: dict[str | None, list[int]] = {}
        for i, kpi in enumerate(self.spec.kpis):
            groups.setdefault(kpi.section, []).append(i)
        for section, members in groups.items():
            total = num.total([self.spec.kpis[i].weight for i in members])  # exact, whatever the caller's context
            if total != ONE and (section is None or section in self.spec.sections):
                where = f'in section "{section}"' if section else "of the KPIs"
                hint = "write weights as percents (40%), or set normalize: true" if total > ONE * 2 else None
                self.add(
                    "weights_sum",
                    f"weights {where} add up to {_pct(total)}, not 100%",
                    ("kpis", members[-1], "weight"),
                    hint,
                )
        if self.spec.sections:
            total = num.total([s.weight for s in self.spec.sections.values()])
            if total != ONE:
                last = list(self.spec.sections)[-1]
                self.add(
                    "weights_sum", f"section weights add up to {_pct(total)}, not 100%", ("sections", last, "weight")
                )

    def rules(self) -> None:
        names = {**self.metric_types, "total": "number"}
        kpi_ids = [k.id for k in self.spec.kpis]
        grades = [g.grade for g in self.spec.grades]
        for i, gate in enumerate(self.spec.gates):
            base: PathKey = ("gates", i)
            when = self.expression(gate.when, (*base, "when"), names, "bool")
            if gate.zero_section is not None:
                self.reference(gate.zero_section, self.spec.sections, (*base, "zero_section"), "section")
                if when is not None and "total" in when.names:
                    self.add(
                        "bad_gate", "a zero_section gate cannot read total: the total depends on it", (*base, "when")
                    )
            if gate.force_grade is not None:
                self.reference(gate.force_grade, grades, (*base, "force_grade"), "grade")
            if gate.cap_total is not None and gate.cap_total < 0:
                self.add("bad_gate", "cap_total must be 0 or more", (*base, "cap_total"))
        for i, adj in enumerate(self.spec.adjustments):
            base = ("adjustments", i)
            self.expression(adj.when, (*base, "when"), self.metric_types, "bool")
            if self.reference(adj.kpi, kpi_ids, (*base, "kpi"), "kpi"):
                cap = next(k.cap for k in self.spec.kpis if k.id == adj.kpi)
                if not Decimal(0) <= adj.score <= cap:
                    self.add("bad_score", f"score must lie in [0, cap {canonical(cap)}]", (*base, "score"))

    def alerts_and_flags(self) -> None:
        for name in self.spec.alerts.metrics:
            path: PathKey = ("alerts", "metrics", name)
            if self.reference(name, self.metric_types, path, "metric") and self.metric_types[name] != "number":
                self.add("bad_alert", f"cannot watch '{name}': it is not a number", path, key=True)
        if self.spec.alerts.threshold < 0:
            self.add("bad_alert", "threshold must be 0 or more", ("alerts", "threshold"))
        for name, condition in self.spec.flags.items():
            self.expression(condition, ("flags", name), self.metric_types, "bool")

    def grades(self) -> None:
        for i, name in enumerate(self.spec.report):
            self.reference(name, self.metric_types, ("report", i), "metric")
        by = self.spec.ranking.by
        known = by == "total" or self.reference(by, [*self.metric_types, "total"], ("ranking", "by"), "metric")
        if known and by != "total" and self.metric_types[by] != "number":
            self.add("bad_ranking", f"cannot rank by '{by}': it is not a number", ("ranking", "by"))
        previous: Decimal | None = None
        seen: set[str] = set()
        bands = self.spec.grades
        for i, g in enumerate(bands):
            path: PathKey = ("grades", i)
            if g.grade in seen:
                self.add("duplicate_id", f"grade '{g.grade}' appears twice", (*path, "grade"))
            seen.add(g.grade)
            if g.min is None and i != len(bands) - 1:
                self.add("bad_grades", "only the last grade may omit min (it catches every lower total)", path)
            if g.min is not None and previous is not None and g.min >= previous:
                self.add("bad_grades", "grades must be listed from the highest min down", (*path, "min"))
            if g.min is not None:
                previous = g.min
        if bands and bands[-1].min is not None:
            self.add(
                "grade_gap",
                f"totals below {canonical(bands[-1].min)} get no grade; end with a band without min",
                ("grades", len(bands) - 1),
                warn=True,
            )


def _pct(value: Number) -> str:
    return canonical(num.mul(value, HUNDRED)) + "%"


def check_ruleset(spec: RulesetSpec, smap: SourceMap, raw: Any = None) -> list[Issue]:
    """Run every semantic check and return the issues (errors and warnings), in file order.

    ``raw`` is the data as loaded from YAML; with it, a ratio target written as a percent
    (``110%``) is known to be meant and is not flagged as a percent slip.
    """
    issues = _Checker(spec, smap, raw).run()
    return sorted(issues, key=lambda i: (i.location.line if i.location else 0, i.location.col if i.location else 0))
