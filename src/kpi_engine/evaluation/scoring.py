"""The scoring methods of DOMAIN §4, one small pure function each, over exact decimals.

Each returns the score (clipped to ``[0, cap]``) and a short note for the trace. A value of
``None`` (N/A) never reaches these functions: the evaluator applies ``on_missing`` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from kpi_engine._numbers import HUNDRED, ZERO, canonical
from kpi_engine.expr import Value
from kpi_engine.language.model import Kpi


def _c(value: Decimal) -> str:
    return f"({canonical(value)})" if value < 0 else canonical(value)


def clip(score: Decimal, cap: Decimal) -> Decimal:
    """Clip a score to ``[0, cap]``."""
    return max(ZERO, min(cap, score))


def _ratio(num: Decimal, den: Decimal) -> Decimal:
    return HUNDRED * (num / den)  # in the evaluator's exact() context


def threshold(kpi: Kpi, v: Decimal) -> tuple[Decimal, str]:
    """Pass → ``pass_score``, fail → ``fail_score``; the bound passes unless ``strict``."""
    t = kpi.target
    if kpi.direction == "range":
        ok = t[0] < v < t[1] if kpi.strict else t[0] <= v <= t[1]
        rule = f"{_c(t[0])} {'<' if kpi.strict else '≤'} value {'<' if kpi.strict else '≤'} {_c(t[1])}"
    elif kpi.direction == "higher":
        ok = v > t[0] if kpi.strict else v >= t[0]
        rule = f"value {'>' if kpi.strict else '≥'} {_c(t[0])}"
    else:
        ok = v < t[0] if kpi.strict else v <= t[0]
        rule = f"value {'<' if kpi.strict else '≤'} {_c(t[0])}"
    return (kpi.pass_score if ok else kpi.fail_score), f"{'pass' if ok else 'fail'}: {rule}"


def linear(kpi: Kpi, v: Decimal) -> tuple[Decimal, str]:
    """``100 × (v − floor) / (target − floor)`` (mirrored for lower), clipped to ``[0, cap]``."""
    t, f = kpi.target, kpi.floor
    if kpi.direction == "higher":
        raw = _ratio(v - f[0], t[0] - f[0])
        note = f"100 × (value − {_c(f[0])}) / ({_c(t[0])} − {_c(f[0])})"
    elif kpi.direction == "lower":
        raw = _ratio(f[0] - v, f[0] - t[0])
        note = f"100 × ({_c(f[0])} − value) / ({_c(f[0])} − {_c(t[0])})"
    elif v < t[0]:
        raw = _ratio(v - f[0], t[0] - f[0])
        note = f"below range: 100 × (value − {_c(f[0])}) / ({_c(t[0])} − {_c(f[0])})"
    elif v > t[1]:
        raw = _ratio(f[1] - v, f[1] - t[1])
        note = f"above range: 100 × ({_c(f[1])} − value) / ({_c(f[1])} − {_c(t[1])})"
    else:
        raw = HUNDRED
        note = "inside the target range"
    return clip(raw, kpi.cap), f"{note}, clipped to [0, {_c(kpi.cap)}]"


def attainment(kpi: Kpi, v: Decimal) -> tuple[Decimal, str]:
    """``100 × v / target`` (``100 × target / v`` for lower-is-better), clipped to ``[0, cap]``."""
    t = kpi.target[0]
    if kpi.direction == "lower":
        if v <= 0:
            return kpi.cap, "value ≤ 0 on a lower-is-better KPI scores the cap"
        return clip(_ratio(t, v), kpi.cap), f"100 × {_c(t)} / value, clipped to [0, {_c(kpi.cap)}]"
    return clip(_ratio(v, t), kpi.cap), f"100 × value / {_c(t)}, clipped to [0, {_c(kpi.cap)}]"


def bands(kpi: Kpi, v: Decimal) -> tuple[Decimal, str, str | None]:
    """The first band with ``min ≤ v < max`` gives the score; no band gives ``fail_score``."""
    for band in kpi.bands:
        if (band.min is None or v >= band.min) and (band.max is None or v < band.max):
            return band.score, f"band {band.id}", band.id
    return kpi.fail_score, "no band matches the value", None


def expression(kpi: Kpi, v: Decimal, env: Mapping[str, Value]) -> tuple[Decimal | None, str]:
    """The KPI's score expression over metrics and ``value``, clipped to ``[0, cap]``; N/A stays N/A."""
    assert kpi.score_expr is not None
    result = kpi.score_expr.evaluate({**env, "value": v})
    if result is None:
        return None, f"{kpi.score_expr.text} is N/A"
    assert isinstance(result, Decimal)
    return clip(result, kpi.cap), f"{kpi.score_expr.text}, clipped to [0, {_c(kpi.cap)}]"
