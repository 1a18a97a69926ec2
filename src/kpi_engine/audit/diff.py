"""Compare two versions of a ruleset: their outcomes on the same records, and their rules.

``compare`` diffs two appraisals subject by subject; ``ruleset_changes`` states what changed
between the compiled scorecards in the ruleset's own terms (weight 20 % → 25 %, a gate added).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import attrs

from kpi_engine._numbers import Number, canonical, quantize
from kpi_engine.evaluation.results import Appraisal, SubjectResult
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Gate, Grade, Kpi, Scorecard


def compare(before: Appraisal, after: Appraisal) -> dict[str, Any]:
    """Subjects whose total, grade, rank or KPI scores differ, at reported precision.

    Returns:
        ``{"before": {...}, "after": {...}, "changes": [...], "unchanged": n}``; each change
        names the subject and lists ``field: [before, after]`` pairs, KPIs included as
        ``kpis.<id>`` (``None`` where a KPI or subject exists on one side only).
    """
    old = {r.subject: _reported(before, r) for r in before.results}
    new = {r.subject: _reported(after, r) for r in after.results}
    changes: list[dict[str, Any]] = []
    unchanged = 0
    for subject in sorted(old.keys() | new.keys()):
        a, b = old.get(subject, {}), new.get(subject, {})
        fields: dict[str, list[Any]] = {}
        for key in ("total", "grade", "rank"):
            if a.get(key) != b.get(key):
                fields[key] = [a.get(key), b.get(key)]
        ka = a.get("kpis", {})
        kb = b.get("kpis", {})
        for kpi in sorted(ka.keys() | kb.keys()):
            sa = ka.get(kpi, {}).get("score") if kpi in ka else None
            sb = kb.get(kpi, {}).get("score") if kpi in kb else None
            if sa != sb or (kpi in ka) != (kpi in kb):
                fields[f"kpis.{kpi}"] = [sa if kpi in ka else "absent", sb if kpi in kb else "absent"]
        if fields:
            changes.append({"subject": subject, **fields})
        else:
            unchanged += 1
    return {"before": _side(before), "after": _side(after), "changes": changes, "unchanged": unchanged}


def _reported(appraisal: Appraisal, r: SubjectResult) -> dict[str, Any]:
    """A subject's total, grade, rank and KPI scores at the reported precision, read through the objects."""

    def rounded(value: Number | None) -> str | None:
        return None if value is None else format(quantize(value, appraisal.places, appraisal.rounding), "f")

    return {
        "total": rounded(r.total_exact),
        "grade": r.grade,
        "rank": r.rank,
        "kpis": {k.id: {"score": rounded(k.score_exact)} for k in r.kpis},
    }


def _side(appraisal: Appraisal) -> dict[str, str]:
    return {
        "ruleset": appraisal.ruleset_id,
        "version": appraisal.version,
        "sha256": appraisal.sha256,
        "period": appraisal.period,
    }


# --- What changed in the ruleset's own terms -------------------------------------------------


@attrs.frozen
class RuleChange:
    """One change between two compiled scorecards: where (a dotted path), what, and a sentence."""

    path: str
    change: Literal["added", "removed", "changed"]
    before: str | None
    after: str | None
    text: str


def _pct(value: Decimal) -> str:
    return f"{canonical(value * 100)} %"


def _num(value: Decimal | None, unit: str | None = None) -> str:
    if value is None:
        return "none"
    return _pct(value) if unit == "ratio" else canonical(value)


def _nums(values: tuple[Decimal, ...], unit: str | None) -> str:
    return " .. ".join(_num(v, unit) for v in values) if values else "none"


class _Changes:
    def __init__(self) -> None:
        self.items: list[RuleChange] = []

    def added(self, path: str, what: str, after: str) -> None:
        self.items.append(RuleChange(path, "added", None, after, f"{what} added: {after}"))

    def removed(self, path: str, what: str, before: str) -> None:
        self.items.append(RuleChange(path, "removed", before, None, f"{what} removed: {before}"))

    def changed(self, path: str, what: str, before: str, after: str) -> None:
        if before != after:
            self.items.append(RuleChange(path, "changed", before, after, f"{what}: {before} → {after}"))


def _kpi_text(k: Kpi, unit: str | None) -> str:
    target = f", target {_nums(k.target, unit)}" if k.target else ""
    return f"{k.id} ({k.method} on {k.metric}{target}, weight {_pct(k.weight)})"


def _bands(k: Kpi, unit: str | None) -> dict[str, str]:
    return {b.id: f"[{_num(b.min, unit)}, {_num(b.max, unit)}) → {canonical(b.score)}" for b in k.bands}


def _compare_kpi(out: _Changes, a: Kpi, b: Kpi, unit: str | None) -> None:
    base = f"kpis.{a.id}"
    label = f"KPI {a.id}"
    out.changed(f"{base}.weight", f"{label} weight", _pct(a.weight), _pct(b.weight))
    out.changed(f"{base}.metric", f"{label} metric", a.metric, b.metric)
    out.changed(f"{base}.section", f"{label} section", a.section, b.section)
    out.changed(f"{base}.method", f"{label} method", a.method, b.method)
    out.changed(f"{base}.direction", f"{label} direction", a.direction, b.direction)
    what = "threshold" if b.method == "threshold" else "target"
    out.changed(f"{base}.target", f"{label} {what}", _nums(a.target, unit), _nums(b.target, unit))
    out.changed(f"{base}.floor", f"{label} floor", _nums(a.floor, unit), _nums(b.floor, unit))
    out.changed(f"{base}.cap", f"{label} cap", canonical(a.cap), canonical(b.cap))
    out.changed(f"{base}.strict", f"{label} bound", _bound(a), _bound(b))
    out.changed(f"{base}.pass_score", f"{label} pass score", canonical(a.pass_score), canonical(b.pass_score))
    out.changed(f"{base}.fail_score", f"{label} fail score", canonical(a.fail_score), canonical(b.fail_score))
    out.changed(f"{base}.on_missing", f"{label} on_missing", a.on_missing, b.on_missing)
    out.changed(f"{base}.title", f"{label} title", a.title or "", b.title or "")
    sa = a.score_expr.text if a.score_expr else "none"
    sb = b.score_expr.text if b.score_expr else "none"
    out.changed(f"{base}.score", f"{label} score expression", sa, sb)
    ba, bb = _bands(a, unit), _bands(b, unit)
    for band in [*ba, *(x for x in bb if x not in ba)]:
        path, name = f"{base}.bands.{band}", f"{label} band {band}"
        if band not in bb:
            out.removed(path, name, ba[band])
        elif band not in ba:
            out.added(path, name, bb[band])
        else:
            out.changed(path, f"{name} moved", ba[band], bb[band])


def _bound(k: Kpi) -> str:
    return "exclusive" if k.strict else "inclusive"


def _gate_text(g: Gate) -> str:
    value = canonical(g.value) if isinstance(g.value, Decimal) else g.value
    return f"when {g.when.text} → {g.action} {value}"


def _bound_text(g: Grade) -> str:
    return f"total ≥ {canonical(g.min)}" if g.min is not None else "otherwise"


def _bonus(g: Grade) -> str:
    return canonical(g.bonus_multiplier) if g.bonus_multiplier is not None else "none"


def _grade_text(g: Grade) -> str:
    bonus = f", bonus × {canonical(g.bonus_multiplier)}" if g.bonus_multiplier is not None else ""
    return f"{_bound_text(g)}{bonus}"


def _effective(ruleset: Ruleset) -> str:
    eff = ruleset.spec.effective
    if eff is None:
        return "always"
    return f"from {eff.from_} until {eff.until}" if eff.until else f"from {eff.from_}"


def _keyed(out: _Changes, group: str, what: str, old: dict[str, str], new: dict[str, str]) -> None:
    for key in [*old, *(k for k in new if k not in old)]:
        path, name = f"{group}.{key}", f"{what} {key}"
        if key not in new:
            out.removed(path, name, old[key])
        elif key not in old:
            out.added(path, name, new[key])
        else:
            out.changed(path, name, old[key], new[key])


def ruleset_changes(old: Scorecard | Ruleset, new: Scorecard | Ruleset) -> list[RuleChange]:
    """What changed from one compiled scorecard to another, in the ruleset's own terms.

    KPIs added or removed; each KPI's weight, threshold or target, floor, cap, method, direction,
    bands, score expression and missing-data policy; sections and their weights; gates;
    adjustments; grade bands and bonus multipliers; inputs, metrics, ranking and rounding.
    Ratios are shown as percentages (``90 % → 85 %``). Given two ``Ruleset`` values, their
    effective dates are compared too.

    Returns:
        The changes in scorecard order; empty when the two rule the same way.
    """
    out = _Changes()
    if isinstance(old, Ruleset) and isinstance(new, Ruleset):
        out.changed("effective", "effective", _effective(old), _effective(new))
    old = old.scorecard if isinstance(old, Ruleset) else old
    new = new.scorecard if isinstance(new, Ruleset) else new
    out.changed("version", "version", old.version, new.version)
    out.changed("title", "title", old.title, new.title)
    out.changed("subject", "subject level", old.subject, new.subject)
    out.changed("period", "period kind", old.period, new.period)
    out.changed("timezone", "time zone", old.timezone, new.timezone)
    _inputs(out, old, new)
    _keyed(
        out,
        "metrics",
        "metric",
        {n: m.describe() for n, m in old.metrics.items() if m.kind != "input"},
        {n: m.describe() for n, m in new.metrics.items() if m.kind != "input"},
    )
    _keyed(
        out,
        "sections",
        "section",
        {s.id: f"weight {_pct(s.weight)}" for s in old.sections},
        {s.id: f"weight {_pct(s.weight)}" for s in new.sections},
    )
    ka = {k.id: k for k in old.kpis}
    kb = {k.id: k for k in new.kpis}
    for kid in [*ka, *(k for k in kb if k not in ka)]:
        if kid not in kb:
            out.removed(f"kpis.{kid}", "KPI", _kpi_text(ka[kid], _unit(old, ka[kid])))
        elif kid not in ka:
            out.added(f"kpis.{kid}", "KPI", _kpi_text(kb[kid], _unit(new, kb[kid])))
        else:
            _compare_kpi(out, ka[kid], kb[kid], _unit(new, kb[kid]))
    _keyed(out, "gates", "gate", {g.id: _gate_text(g) for g in old.gates}, {g.id: _gate_text(g) for g in new.gates})
    _keyed(
        out,
        "adjustments",
        "adjustment",
        {a.id: f"when {a.when.text} → {a.kpi} scores {canonical(a.score)}" for a in old.adjustments},
        {a.id: f"when {a.when.text} → {a.kpi} scores {canonical(a.score)}" for a in new.adjustments},
    )
    ga = {g.grade: g for g in old.grades}
    gb = {g.grade: g for g in new.grades}
    for grade in [*ga, *(g for g in gb if g not in ga)]:
        path, name = f"grades.{grade}", f"grade {grade}"
        if grade not in gb:
            out.removed(path, name, _grade_text(ga[grade]))
        elif grade not in ga:
            out.added(path, name, _grade_text(gb[grade]))
        else:
            a, b = ga[grade], gb[grade]
            out.changed(f"{path}.min", f"{name} band moved", _bound_text(a), _bound_text(b))
            out.changed(f"{path}.bonus_multiplier", f"{name} bonus multiplier", _bonus(a), _bonus(b))
    out.changed(
        "ranking",
        "ranking",
        f"by {old.rank_by} {'lower' if old.rank_lower_first else 'higher'} first",
        f"by {new.rank_by} {'lower' if new.rank_lower_first else 'higher'} first",
    )
    out.changed("rounding", "rounding", f"{old.places} places {old.rounding}", f"{new.places} places {new.rounding}")
    return out.items


def _inputs(out: _Changes, old: Scorecard, new: Scorecard) -> None:
    for name in [*old.inputs, *(n for n in new.inputs if n not in old.inputs)]:
        ia, ib = old.inputs.get(name), new.inputs.get(name)
        if ia is None or ib is None:
            one = ib if ia is None else ia
            assert one is not None
            text = f"{one.type}" + ("" if one.required else ", optional")
            (out.added if ia is None else out.removed)(f"inputs.{name}", f"input {name}", text)
            continue
        for field in ("type", "min", "max", "required", "rollup"):
            va, vb = getattr(ia, field), getattr(ib, field)
            if field in {"min", "max"}:
                va, vb = _num(va), _num(vb)
            out.changed(f"inputs.{name}.{field}", f"input {name} {field}", str(va), str(vb))
        sa = ia.source.describe() if ia.source else "typed"
        sb = ib.source.describe() if ib.source else "typed"
        out.changed(f"inputs.{name}.from", f"input {name} from", sa, sb)


def _unit(card: Scorecard, kpi: Kpi) -> str | None:
    metric = card.metrics.get(kpi.metric)
    return metric.unit if metric is not None else None
