"""A KPI's trace in words for people: what was measured, from which figures, by which rule, to which score.

Built from the structured explanation the evaluator gives (``KpiResult.explanation``) and the
compiled KPI (method, direction, target, floor, cap, bands), in the view's language: inputs and
metrics by their titles from the ruleset, ratios as percents, numbers rounded as the reports show
them with the exact value beside any that rounding changed (``≈0.1359, exactly 25/184``). No
English sentence of the engine and no YAML key is shown; a formula is shown with every name it
reads replaced by its title (``people=True`` leaves out a formula that still holds an identifier).

Used by the HTML report (each KPI's trace in a ``<details>``) and by statements (printed under
each line).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from pathlib import PurePath
from typing import Any

from kpi_engine._numbers import HUNDRED, canonical, is_number, mul, quantize
from kpi_engine.evaluation.results import KpiResult
from kpi_engine.language.model import Kpi, Metric
from kpi_engine.report._view import View

_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Translated under the contexts "method", "compare" and "aggregate" (tools/catalogue.py lists them).
METHODS = ("threshold", "linear", "attainment", "bands", "expression")
COMPARES = ("growth", "reduction", "change", "value")
AGGREGATES = ("count", "sum", "mean", "min", "max", "count_distinct")


def number(view: View, value: object, *, ratio: bool = False) -> str:
    """A number as a person reads it: rounded to the ruleset's places + 2, a ratio as a percent.

    When rounding changed the value the exact one follows (``≈0.1359（精确值 25/184）``).
    """
    if value is None:
        return view.msg.t("N/A")
    if isinstance(value, bool):
        return view.msg.t("yes") if value else view.msg.t("no")
    if not is_number(value):
        return str(value)
    a = view.appraisal
    if ratio:
        shown = quantize(mul(value, HUNDRED), a.places, a.rounding)
        text = canonical(shown) + "%"
        exact = mul(value, HUNDRED)
    else:
        shown = quantize(value, a.places + 2, a.rounding)
        text = canonical(shown)
        exact = value
    if shown == exact:
        return text
    rational = f"{exact.numerator}/{exact.denominator}" if isinstance(exact, Fraction) else canonical(exact)
    return view.msg.t("≈{shown} (exactly {exact})", shown=text, exact=rational + ("%" if ratio else ""))


def titled(view: View, text: str) -> str:
    """An expression with each input, metric and ``value`` named by its title (quoted text left as it is)."""
    return _titled(view, text)[0]


def _titled(view: View, text: str) -> tuple[str, bool]:
    """``titled`` and whether every name in it had a title (nothing but titles, numbers and operators left)."""
    names = view.titles
    missing: list[str] = []

    def name(m: re.Match[str]) -> str:
        word = m.group()
        if word == "value":
            return view.msg.t("the value")
        if word in names:
            return names[word]
        if word not in {"and", "or", "not", "if", "else", "min", "max", "abs", "round", "true", "false"}:
            missing.append(word)
        return word

    parts = []
    last = 0
    for q in _QUOTED.finditer(text):
        parts.append(_IDENT.sub(name, text[last : q.start()]))
        parts.append(q.group())
        last = q.end()
    parts.append(_IDENT.sub(name, text[last:]))
    return "".join(parts), not missing


def definition(view: View, metric: Metric, *, people: bool = False) -> str | None:
    """How a metric is computed, in the view's language (``None`` when it would show an identifier to people)."""
    t = view.msg.t
    text: str
    complete = True
    if metric.kind == "input":
        text = t("from the records")
    elif metric.kind == "formula" and metric.expr is not None:
        text, complete = _titled(view, metric.expr.text)
    elif metric.kind == "previous" and metric.of is not None:
        of = view.titles.get(metric.of) or metric.of
        compare = view.msg.pt("compare", metric.compare or "")
        text = t("{compare} of {name} against the previous period", compare=compare, name=of)
    elif metric.kind == "members" and metric.expr is not None:
        condition, complete = _titled(view, metric.expr.text)
        text = t("share of members where {condition}", condition=condition)
    elif metric.kind == "streak" and metric.expr is not None:
        condition, complete = _titled(view, metric.expr.text)
        text = t("consecutive periods where {condition}", condition=condition)
    elif metric.kind == "aggregate":
        what = view.msg.pt("aggregate", metric.fn or "")
        if metric.where is not None:
            where, complete = _titled(view, metric.where.text)
            text = t("{what} of the events where {where}", what=what, where=where)
        else:
            text = what
    else:  # an event window: its pairs are listed in the trace
        text = t("answers paired with their events within the window")
    return None if people and not complete else text


def rule(view: View, kpi: Kpi, *, ratio: bool) -> str:
    """The scoring rule of a KPI in words, with its parameters."""
    t = view.msg.t

    def n(value: Decimal) -> str:
        return number(view, value, ratio=ratio)

    cap = canonical(kpi.cap)
    if kpi.method == "threshold":
        if kpi.direction == "range":
            bound = t("between {low} and {high}", low=n(kpi.target[0]), high=n(kpi.target[1]))
        elif kpi.direction == "higher":
            bound = (
                t("at least {target}", target=n(kpi.target[0]))
                if not kpi.strict
                else t("above {target}", target=n(kpi.target[0]))
            )
        else:
            bound = (
                t("at most {target}", target=n(kpi.target[0]))
                if not kpi.strict
                else t("below {target}", target=n(kpi.target[0]))
            )
        return t("pass when {bound}: {pass_score} points, else {fail_score}", bound=bound,
                 pass_score=canonical(kpi.pass_score), fail_score=canonical(kpi.fail_score))  # fmt: skip
    if kpi.method == "linear":
        if kpi.direction == "range":
            return t("full marks between {low} and {high}, 0 at {floor_low} and {floor_high}, in a straight line "
                     "between; at most {cap}", low=n(kpi.target[0]), high=n(kpi.target[1]), floor_low=n(kpi.floor[0]),
                     floor_high=n(kpi.floor[1]), cap=cap)  # fmt: skip
        return t("0 points at {floor}, 100 at {target}, in a straight line between; at most {cap}",
                 floor=n(kpi.floor[0]), target=n(kpi.target[0]), cap=cap)  # fmt: skip
    if kpi.method == "attainment":
        if kpi.direction == "lower":
            return t("100 × target {target} ÷ the value; at most {cap}", target=n(kpi.target[0]), cap=cap)
        return t("100 × the value ÷ target {target}; at most {cap}", target=n(kpi.target[0]), cap=cap)
    if kpi.method == "bands":
        rows = []
        for b in kpi.bands:
            low = n(b.min) if b.min is not None else "−∞"
            high = n(b.max) if b.max is not None else "+∞"
            rows.append(f"[{low}, {high}) → {canonical(b.score)}")
        return t("bands: {bands}", bands="; ".join(rows))
    assert kpi.score_expr is not None
    return t("score = {formula}; at most {cap}", formula=titled(view, kpi.score_expr.text), cap=cap)


def trace_rows(view: View, k: KpiResult, *, people: bool = False) -> list[tuple[str, str]]:
    """(label, text) rows explaining one KPI result, in the view's language.

    Args:
        view: the appraisal and its language.
        k: the KPI result.
        people: for a page people read (a statement): formulas that would show an identifier are left out.
    """
    t, pt = view.msg.t, view.msg.pt
    card = view.scorecard or view.appraisal.scorecard
    ex: dict[str, Any] = k.explanation
    kpi = next((x for x in card.kpis if x.id == k.id), None) if card is not None else None
    metric = card.metrics.get(k.metric) if card is not None else None
    ratio = metric is not None and metric.unit == "ratio"
    rows: list[tuple[str, str]] = []
    if metric is not None:
        text = definition(view, metric, people=people)
        title = view.titles.get(metric.name) or view.kpi_title(k)
        shown = f"{title} = {number(view, k.value, ratio=ratio)}"
        rows.append((t("measured"), shown + (f" ({text})" if text and text != title else "")))
    figures = [
        (
            f"{view.titles.get(name) or name} = {number(view, item.get('value'))}",
            _source(view, str(item.get("source", "")), people=people),
        )
        for name, item in (ex.get("inputs") or {}).items()
        if not (metric is not None and name == metric.name and len(ex["inputs"]) == 1)
    ]
    if people and figures and len({source for _, source in figures}) == 1:  # one line, the source said once
        rows.append((t("figure"), "; ".join(f for f, _ in figures) + f" ({figures[0][1]})"))
    else:
        rows.extend((t("figure"), f"{figure} ({source})") for figure, source in figures)
    if "previous" in ex:
        previous = dict(ex["previous"])
        period = previous.pop("period", "")
        for name, value in previous.items():
            rows.append((t("previous period {period}", period=period),
                         f"{view.titles.get(name) or name} = {number(view, value)}"))  # fmt: skip
    if "events" in ex:
        rows.append((t("events"), t("{count} event(s) matched", count=ex["events"]["matched"])))
    if "window" in ex:
        w = ex["window"]
        rows.append((t("answers"), t("{counted} counted: {counts}", counted=w["counted"], counts=t(
            "{in_time} in time, {late} late, {never} never", in_time=w["in_time"], late=w["late"],
            never=w["never"]))))  # fmt: skip
    if "members" in ex:
        met = sum(1 for item in ex["members"].values() if item.get("meets") is True and item.get("counted"))
        counted = sum(1 for item in ex["members"].values() if item.get("counted"))
        rows.append((t("members"), t("{met} of {counted} member(s) meet the condition", met=met, counted=counted)))
    if kpi is not None:
        rows.append((pt("method", kpi.method), rule(view, kpi, ratio=ratio)))
    if people:  # the score, weights and contribution are the line's own cells
        pass
    elif k.status == "excluded":
        rows.append((t("score"), t("N/A: excluded, its weight moved to the other KPIs")))
    elif "raw_score" in ex:
        rows.append((t("score"), number(view, ex["raw_score"]) if is_number(ex["raw_score"]) else str(ex["raw_score"])))
    if "adjustment" in ex:
        adj = ex["adjustment"]
        rows.append((t("adjusted"), t("{before} → {after}: {reason}", before=number(view, adj.get("from")),
                                      after=number(view, adj.get("to")), reason=adj.get("reason") or "")))  # fmt: skip
    if people:
        return rows
    weight = view.rt(mul(k.weight, HUNDRED))
    effective = view.rt(mul(k.effective_weight_exact, HUNDRED))
    rows.append((t("weight"), t("{weight}% declared, {effective}% effective → contributes {contribution}",
                                weight=weight, effective=effective,
                                contribution=view.contribution_of(k))))  # fmt: skip
    return rows


_MEMBERS = re.compile(r"(?P<how>sum|mean|min|max) over (?P<count>\d+) members \((?P<names>.*)\)")


def _source(view: View, source: str, *, people: bool = False) -> str:
    """Where a figure came from, in the view's language (a file and line, a sum over members, …).

    ``people``: a file by its name only (``records.csv:9``), not its path.
    """
    t = view.msg.t
    if source.startswith("record "):
        where = source.removeprefix("record ")
        return t("from the record at {where}", where=PurePath(where).name if people else where)
    if source == "no record":
        return t("no record")
    if source == "empty in the record":
        return t("empty in the record")
    m = _MEMBERS.fullmatch(source)
    if m:
        how = view.msg.pt("aggregate", m.group("how"))
        return t("{how} over {count} member(s): {names}", how=how, count=m.group("count"), names=m.group("names"))
    return t("computed from the events")
