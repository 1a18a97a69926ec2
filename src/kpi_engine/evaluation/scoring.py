"""The scoring methods of DOMAIN §4, one small pure function each, over exact numbers.

Each returns the score (clipped to ``[0, cap]``). ``rule`` gives the sentence a trace shows for the
same computation; it is only called when a trace is asked for, so a run that only wants numbers
formats no text. A value of ``None`` (N/A) never reaches these functions: the evaluator applies
``on_missing`` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from kpi_engine import _numbers as num
from kpi_engine._numbers import HUNDRED, ZERO, Number, canonical
from kpi_engine.expr import Value
from kpi_engine.language.model import Band, Kpi


def _c(value: Number) -> str:
    return f"({canonical(value)})" if value < 0 else canonical(value)


def clip(score: Number, cap: Decimal) -> Number:
    """Clip a score to ``[0, cap]`` (exact comparisons)."""
    if score < 0:
        return ZERO
    return min(score, cap)


def _ratio(a: Number, b: Number) -> Number:
    """``100 × a / b`` exactly (``b`` is never 0: the checks forbid target = floor)."""
    return num.div(num.mul(HUNDRED, a), b)


def _passes(kpi: Kpi, v: Number) -> bool:
    t = kpi.target
    if kpi.direction == "range":
        return t[0] < v < t[1] if kpi.strict else t[0] <= v <= t[1]
    if kpi.direction == "higher":
        return v > t[0] if kpi.strict else v >= t[0]
    return v < t[0] if kpi.strict else v <= t[0]


def threshold(kpi: Kpi, v: Number) -> Number:
    """Pass → ``pass_score``, fail → ``fail_score``; the bound passes unless ``strict``."""
    return kpi.pass_score if _passes(kpi, v) else kpi.fail_score


def linear(kpi: Kpi, v: Number) -> Number:
    """``100 × (v − floor) / (target − floor)`` (mirrored for lower), clipped to ``[0, cap]``."""
    t, f = kpi.target, kpi.floor
    raw: Number
    if kpi.direction == "higher":
        raw = _ratio(num.sub(v, f[0]), num.sub(t[0], f[0]))
    elif kpi.direction == "lower":
        raw = _ratio(num.sub(f[0], v), num.sub(f[0], t[0]))
    elif v < t[0]:
        raw = _ratio(num.sub(v, f[0]), num.sub(t[0], f[0]))
    elif v > t[1]:
        raw = _ratio(num.sub(f[1], v), num.sub(f[1], t[1]))
    else:
        raw = HUNDRED
    return clip(raw, kpi.cap)


def attainment(kpi: Kpi, v: Number) -> Number:
    """``100 × v / target`` (``100 × target / v`` for lower-is-better), clipped to ``[0, cap]``."""
    t = kpi.target[0]
    if kpi.direction == "lower":
        return kpi.cap if v <= 0 else clip(_ratio(t, v), kpi.cap)
    return clip(_ratio(v, t), kpi.cap)


def band(kpi: Kpi, v: Number) -> Band | None:
    """The first band with ``min ≤ v < max``, or ``None``."""
    for b in kpi.bands:
        if (b.min is None or v >= b.min) and (b.max is None or v < b.max):
            return b
    return None


def bands(kpi: Kpi, v: Number) -> Number:
    """The first matching band's score; no band gives ``fail_score``."""
    matched = band(kpi, v)
    return kpi.fail_score if matched is None else matched.score


def expression(kpi: Kpi, v: Number, env: Mapping[str, Value]) -> Number | None:
    """The KPI's score expression over metrics and ``value``, clipped to ``[0, cap]``; N/A stays N/A."""
    assert kpi.score_expr is not None
    result = kpi.score_expr.evaluate({**env, "value": v})
    if result is None:
        return None
    assert num.is_number(result)
    return clip(result, kpi.cap)


def score(kpi: Kpi, v: Number, env: Mapping[str, Value]) -> Number | None:
    """The score of ``kpi`` for value ``v`` by its method (``env``: metrics an expression reads)."""
    method = kpi.method
    if method == "threshold":
        return threshold(kpi, v)
    if method == "linear":
        return linear(kpi, v)
    if method == "attainment":
        return attainment(kpi, v)
    if method == "bands":
        return bands(kpi, v)
    return expression(kpi, v, env)


def rule(kpi: Kpi, v: Number, result: Number | None) -> str:
    """The sentence a trace shows for how ``kpi`` scored ``v`` (``result`` is what ``score`` gave)."""
    t, f, cap = kpi.target, kpi.floor, _c(kpi.cap)
    if kpi.method == "threshold":
        le, lt = ("<", ">") if kpi.strict else ("≤", "≥")
        if kpi.direction == "range":
            text = f"{_c(t[0])} {le} value {le} {_c(t[1])}"
        elif kpi.direction == "higher":
            text = f"value {lt} {_c(t[0])}"
        else:
            text = f"value {le} {_c(t[0])}"
        return f"{'pass' if _passes(kpi, v) else 'fail'}: {text}"
    if kpi.method == "linear":
        if kpi.direction == "higher" or (kpi.direction == "range" and v < t[0]):
            note = f"100 × (value − {_c(f[0])}) / ({_c(t[0])} − {_c(f[0])})"
            note = f"below range: {note}" if kpi.direction == "range" else note
        elif kpi.direction == "lower":
            note = f"100 × ({_c(f[0])} − value) / ({_c(f[0])} − {_c(t[0])})"
        elif v > t[1]:
            note = f"above range: 100 × ({_c(f[1])} − value) / ({_c(f[1])} − {_c(t[1])})"
        else:
            note = "inside the target range"
        return f"{note}, clipped to [0, {cap}]"
    if kpi.method == "attainment":
        if kpi.direction == "lower":
            if v <= 0:
                return "value ≤ 0 on a lower-is-better KPI scores the cap"
            return f"100 × {_c(t[0])} / value, clipped to [0, {cap}]"
        return f"100 × value / {_c(t[0])}, clipped to [0, {cap}]"
    if kpi.method == "bands":
        matched = band(kpi, v)
        return "no band matches the value" if matched is None else f"band {matched.id}"
    assert kpi.score_expr is not None
    if result is None:
        return f"{kpi.score_expr.text} is N/A"
    return f"{kpi.score_expr.text}, clipped to [0, {cap}]"
