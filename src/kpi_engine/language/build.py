"""Spec → compiled scorecard, and the pure text → ``Ruleset`` pipeline.

parse YAML (with a source map) → validate the schema → semantic checks → build. Every issue from
each stage is collected; a ruleset with any error raises one ``RulesetError`` listing them all.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Literal

import attrs

from kpi_engine._numbers import exactly
from kpi_engine.errors import Issue, RulesetError
from kpi_engine.expr import Expression, Type, parse_expression
from kpi_engine.language._validation import validate_model
from kpi_engine.language._yaml import SourceMap, load_yaml
from kpi_engine.language.checks import BUILTIN_EVENT_FIELDS, check_ruleset, expr_type, metric_unit
from kpi_engine.language.model import (
    Adjustment,
    Band,
    Gate,
    Grade,
    Input,
    Kpi,
    MemberRollup,
    Metric,
    Scorecard,
    Section,
    Source,
    TimeRollup,
    Window,
)
from kpi_engine.language.spec import InputSpec, RulesetSpec, WindowSpec, known_keys
from kpi_engine.time.calendar import BusinessCalendar

DEFAULT_SECTION = "main"


@attrs.frozen
class Ruleset:
    """A loaded, valid ruleset: its spec, compiled scorecard, provenance and warnings."""

    spec: RulesetSpec
    scorecard: Scorecard
    file: str
    sha256: str
    warnings: tuple[Issue, ...] = ()
    source_map: SourceMap | None = attrs.field(default=None, eq=False, repr=False)
    text: str = attrs.field(default="", eq=False, repr=False)  # the YAML source, for records and audits

    @property
    def id(self) -> str:
        """The ruleset id."""
        return self.spec.ruleset

    @property
    def version(self) -> str:
        """The ruleset version."""
        return self.spec.version


def _input_rollup(kind: str, declared: TimeRollup | None) -> TimeRollup:
    if declared is not None:
        return declared
    return "sum" if kind in {"count", "money"} else "none"


def _member_rollup(kind: str, declared: TimeRollup | None) -> MemberRollup:
    """Members have no order: an input that keeps its latest value over time is not rolled up over members."""
    how = _input_rollup(kind, declared)
    return "none" if how == "last" else how


def build_window(w: WindowSpec, events: dict[str, Type]) -> Window:
    """Compile an event-window spec (already checked)."""
    within = w.within
    basis: Literal["hours", "days", "working_days", "months"] = "days"
    length: Decimal | None = None
    if within is not None:
        if within.hours is not None:
            basis, length = "hours", within.hours
        elif within.days is not None:
            basis, length = "days", Decimal(within.days)
        elif within.months is not None:
            basis, length = "months", Decimal(within.months)
        else:
            basis, length = "working_days", Decimal(within.working_days or 0)
    return Window(
        trigger=parse_expression(w.trigger, events, "bool"),
        answer=parse_expression(w.answer, events, "bool"),
        match=tuple(w.match),
        length=length,
        basis=basis,
        direction=w.direction,
        anchor=w.anchor,
        measure=w.measure,
        duration_unit=w.duration_unit or (basis if within is not None and basis != "months" else "days"),
    )


def _source(spec: InputSpec, events: dict[str, Type]) -> Source | None:
    """The compiled ``from:`` of an input (already checked)."""
    src = spec.from_
    if src is None:
        return None
    if src.events is None:
        return Source("credits", credits=src.credits)
    a = src.events
    where = parse_expression(a.where, events, "bool") if a.where else None
    return Source("events", a.fn, a.field, where, a.over, src.per, src.deduct_from)


def build_scorecard(spec: RulesetSpec) -> Scorecard:
    """Compile a spec that passed ``check_ruleset`` into a ``Scorecard``."""
    names: dict[str, Type] = {n: expr_type(i.type) for n, i in spec.inputs.items()}
    names.update(dict.fromkeys(spec.metrics, "number"))
    events: dict[str, Type] = {n: expr_type(t) for n, t in {**BUILTIN_EVENT_FIELDS, **spec.event_fields}.items()}

    def ex(text: str, table: dict[str, Type], want: Type) -> Expression:
        return parse_expression(text, table, want)

    inputs = {
        n: Input(
            n,
            i.type,
            i.min,
            i.max,
            i.required,
            _member_rollup(i.type, i.rollup),
            _input_rollup(i.type, i.rollup),
            _source(i, events),
            title=i.title,
        )
        for n, i in spec.inputs.items()
    }
    metrics: dict[str, Metric] = {n: Metric(n, "input", unit=i.type) for n, i in spec.inputs.items()}
    for name, m in spec.metrics.items():
        unit = metric_unit(spec, name)
        if m.formula is not None:
            metrics[name] = Metric(name, "formula", unit, expr=ex(m.formula, names, "number"), rollup=m.rollup)
        elif m.aggregate is not None:
            a = m.aggregate
            where = ex(a.where, events, "bool") if a.where else None
            metrics[name] = Metric(name, "aggregate", unit, where=where, fn=a.fn, field=a.field, over=a.over)
        elif m.previous is not None:
            metrics[name] = Metric(name, "previous", unit, of=m.previous.metric, compare=m.previous.compare)
        elif m.streak is not None:
            metrics[name] = Metric(name, "streak", unit or "count", expr=ex(m.streak, names, "bool"))
        elif m.members is not None:
            among = ex(m.members.among, names, "bool") if m.members.among else None
            where = ex(m.members.where, names, "bool")
            measure = m.members.measure
            metrics[name] = Metric(name, "members", unit, expr=where, among=among, measure=measure)
        elif m.window is not None:
            metrics[name] = Metric(name, "window", unit, window=build_window(m.window, events))
    sections = tuple(Section(s, v.title, v.weight) for s, v in spec.sections.items()) or (
        Section(DEFAULT_SECTION, None, Decimal(1)),
    )
    kpis = tuple(
        Kpi(
            id=k.id,
            title=k.title,
            metric=k.metric,
            section=k.section or DEFAULT_SECTION,
            direction=k.direction,
            method=k.method,
            target=k.target or (),
            floor=k.floor or (),
            cap=k.cap,
            strict=k.strict,
            pass_score=k.pass_score,
            fail_score=k.fail_score,
            bands=tuple(Band(b.id, b.min, b.max, b.score) for b in k.bands or ()),
            score_expr=ex(k.score, {**names, "value": "number"}, "number") if k.score else None,
            weight=k.weight,
            on_missing=k.on_missing,
        )
        for k in spec.kpis
    )
    gate_names: dict[str, Type] = {**names, "total": "number"}
    gates = []
    value: Decimal | str
    for g in spec.gates:
        if g.cap_total is not None:
            action, value = "cap_total", g.cap_total
        elif g.zero_section is not None:
            action, value = "zero_section", g.zero_section
        else:
            action, value = "force_grade", g.force_grade or ""
        gates.append(Gate(g.id, ex(g.when, gate_names, "bool"), action, value, g.reason))  # type: ignore[arg-type]
    return Scorecard(
        id=spec.ruleset,
        version=spec.version,
        title=spec.title,
        subject=spec.subject,
        period=spec.period,
        timezone=spec.timezone,
        inputs=inputs,
        event_fields=dict(spec.event_fields),
        metrics=metrics,
        sections=sections,
        kpis=kpis,
        gates=tuple(gates),
        adjustments=tuple(
            Adjustment(a.id, a.kpi, ex(a.when, names, "bool"), a.score, a.reason) for a in spec.adjustments
        ),
        grades=tuple(Grade(g.grade, g.min, g.title, g.bonus_multiplier) for g in spec.grades),
        report=tuple(spec.report),
        rank_by=spec.ranking.by,
        rank_lower_first=spec.ranking.order == "lower_first",
        places=spec.rounding.places,
        rounding=spec.rounding.mode,
        contributions=spec.rounding.contributions,
        columns=dict(spec.columns),
        allow_extra_columns=spec.allow_extra_columns,
        reads_history=any(m.kind in {"previous", "streak"} for m in metrics.values()),
        calendar=BusinessCalendar.from_spec(spec.calendar),
        flags=tuple((name, ex(text, names, "bool")) for name, text in spec.flags.items()),
    )


def _timezone_issue(spec: RulesetSpec, smap: SourceMap) -> list[Issue]:
    from kpi_engine.time.zones import zone  # noqa: PLC0415 - avoid a cycle at import time

    try:
        zone(spec.timezone)
    except ValueError as exc:
        return [Issue("bad_timezone", str(exc), "timezone", smap.locate(("timezone",)))]
    return []


@exactly  # the caller's decimal context never leaks in (issue 10)
def check_text(text: str, file: str = "<string>") -> tuple[RulesetSpec | None, SourceMap, list[Issue]]:
    """Run every stage but the build and return the spec (if schema-valid) and all issues."""
    data, smap, issues = load_yaml(text, file)
    if data is None and not issues:
        issues = [Issue("empty", "the ruleset is empty", "", smap.locate(()))]
    if data is None:
        return None, smap, issues
    spec, schema_issues = validate_model(RulesetSpec, data, smap, known_keys())
    issues += schema_issues
    if spec is not None:
        issues += check_ruleset(spec, smap, data)
        issues += _timezone_issue(spec, smap)
    issues.sort(key=lambda i: (i.location.line, i.location.col) if i.location else (0, 0))
    return spec, smap, issues


@exactly
def parse_ruleset(text: str, file: str = "<string>") -> Ruleset:
    """Parse ruleset YAML text into a ``Ruleset``.

    Raises:
        RulesetError: listing every problem, each located as ``file:line:col: path``.
    """
    spec, smap, issues = check_text(text, file)
    if spec is None or any(i.severity == "error" for i in issues):
        raise RulesetError.from_issues(issues, file)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Ruleset(spec, build_scorecard(spec), file, digest, tuple(issues), smap, text)
