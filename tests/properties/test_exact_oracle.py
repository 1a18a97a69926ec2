"""The evaluator against a plain ``Fraction`` oracle: every exact value and every reported digit agree.

The oracle below re-implements DOMAIN §4 for the generated rulesets straight from their YAML, in
``fractions.Fraction`` only, sharing no code with the engine. Values land on thresholds, band edges
and rounding ties; N/A KPIs force renormalisation; gates cap totals; every rounding mode is drawn.
"""

from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
)
from fractions import Fraction

import yaml
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import ruleset_texts

from kpi_engine import evaluate, parse_ruleset
from kpi_engine._numbers import quantize
from kpi_engine.testing import rulesets_with_records

MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "half_down": ROUND_HALF_DOWN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}


def frac(text):
    text = str(text)
    return Fraction(text[:-1]) / 100 if text.endswith("%") else Fraction(text)


def score(kpi, v):
    """The score of one KPI for value ``v`` (a Fraction), or None when excluded."""
    if v is None:
        return Fraction(0) if kpi.get("on_missing") == "zero" else None
    method, direction = kpi["method"], kpi.get("direction", "higher")
    cap = frac(kpi.get("cap", "100"))
    clip = lambda s: max(Fraction(0), min(cap, s))  # noqa: E731
    if method == "threshold":
        t = frac(kpi["target"])
        return Fraction(100) if (v >= t if direction == "higher" else v <= t) else Fraction(0)
    if method == "linear":
        t, f = frac(kpi["target"]), frac(kpi["floor"])
        return clip(100 * (v - f) / (t - f)) if direction == "higher" else clip(100 * (f - v) / (f - t))
    if method == "attainment":
        return clip(100 * v / frac(kpi["target"]))
    if method == "bands":
        for band in kpi["bands"]:
            if ("min" not in band or v >= frac(band["min"])) and ("max" not in band or v < frac(band["max"])):
                return frac(band["score"])
        return Fraction(0)
    expr = kpi["score"]
    if expr == "value":
        return clip(v)
    if expr == "min(value, 100)":
        return clip(min(v, Fraction(100)))
    return clip(100 - v if v < 100 else Fraction(0))


def appraise(doc, row):
    """Exact total before gates, total, grade and per-KPI (score, share, contribution) for one record."""
    values = {name: (None if row.get(name) is None else frac(row[name])) for name in doc["inputs"]}
    sections = doc.get("sections") or {"main": {"weight": "100%"}}
    scores = {k["id"]: score(k, values[k["metric"]]) for k in doc["kpis"]}
    kpi_share, live = {}, {}
    for sid in sections:
        members = [k for k in doc["kpis"] if k.get("section", "main") == sid and scores[k["id"]] is not None]
        wsum = sum(frac(k["weight"]) for k in members)
        if members and wsum:
            live[sid] = frac(sections[sid]["weight"])
            for k in members:
                kpi_share[k["id"]] = frac(k["weight"]) / wsum
    swsum = sum(live.values())
    kpis = {}
    for k in doc["kpis"]:
        share = kpi_share.get(k["id"], Fraction(0)) * (
            live[k.get("section", "main")] / swsum if k.get("section", "main") in live else 0
        )
        s = scores[k["id"]]
        kpis[k["id"]] = (s, share, Fraction(0) if s is None else share * s)
    before = sum(c for _, _, c in kpis.values()) if live else None
    total = before
    for gate in doc.get("gates", []):
        bound = frac(gate["when"].split("<")[1].strip())
        if before is not None and values["m0"] is not None and values["m0"] < bound:
            total = min(total, frac(gate["cap_total"]))
    grade = None if total is None else ("A" if total >= 90 else "B" if total >= 60 else "C")
    return before, total, grade, kpis


def reported(value, places, mode):
    """The correctly rounded text of an exact Fraction, by long division at 400 digits.

    For the small denominators drawn here, 400 digits cannot straddle a rounding boundary.
    """
    if value is None:
        return None
    ctx = Context(prec=400)
    approx = ctx.divide(Decimal(value.numerator), Decimal(value.denominator))
    rounded = approx.quantize(Decimal(1).scaleb(-places), rounding=MODES[mode], context=ctx)
    return format(rounded or rounded.copy_abs(), "f")  # zero is reported unsigned


@given(rulesets_with_records(max_kpis=5, max_subjects=5))
def test_every_value_and_reported_digit_matches_the_fraction_oracle(pair):
    """Scores, shares, contributions, totals, grades and ranks equal the Fraction oracle's exactly."""
    ruleset, records = pair
    doc = yaml.safe_load(ruleset.text)
    places, mode = doc["rounding"]["places"], doc["rounding"]["mode"]
    appraisal = evaluate(ruleset, records)
    totals = {}
    for row in records:
        before, total, grade, kpis = appraise(doc, row)
        result = appraisal.result(row["subject"])
        assert result.total_before_gates_exact == before
        assert result.total_exact == total
        assert result.grade == grade
        totals[row["subject"]] = total
        for k in result.kpis:
            s, share, contribution = kpis[k.id]
            assert k.score_exact == s
            assert k.effective_weight_exact == share
            assert k.contribution_exact == contribution
            rounded = None if k.score_exact is None else format(quantize(k.score_exact, places, mode), "f")
            assert rounded == reported(s, places, mode)
            assert format(quantize(k.contribution_exact, places, mode), "f") == reported(contribution, places, mode)
        if total is not None:
            assert format(quantize(result.total_exact, places, mode), "f") == reported(total, places, mode)
    ranked = sorted((t for t in totals.values() if t is not None), reverse=True)
    for subject, total in totals.items():
        assert appraisal.result(subject).rank == (None if total is None else ranked.index(total) + 1)


@given(
    st.integers(-(10**12), 10**12),
    st.integers(1, 10**6),
    st.integers(0, 6),
    st.sampled_from(sorted(MODES)),
)
def test_quantize_rounds_a_fraction_correctly(numerator, denominator, places, mode):
    """Rounding an exact Fraction gives the correctly rounded decimal in every mode, ties included."""
    value = Fraction(numerator, denominator)
    assert format(quantize(value, places, mode), "f") == reported(value, places, mode)


def test_the_issue_0375_case_reports_038():
    """A contribution of exactly 3/8 reports 0.38 half-up (a 34-digit share once gave 0.37)."""
    ruleset = parse_ruleset("""\
ruleset: tie
version: "1"
title: tie
subject: rep
period: month
inputs: {x: {type: number}, a: {type: count, required: false}, b: {type: count, required: false}}
metrics: {ratio: {formula: a / b, unit: ratio}}
sections: {s1: {weight: 25%}, s2: {weight: 75%}}
kpis:
  - {id: e1, metric: x, method: expression, score: value, section: s1, weight: 25%}
  - {id: e2, metric: x, method: expression, score: value, section: s1, weight: 25%}
  - {id: e3, metric: x, method: expression, score: value, section: s1, weight: 25%}
  - {id: t, metric: ratio, method: threshold, target: 90%, section: s1, weight: 25%}
  - {id: other, metric: x, method: threshold, target: 1000, section: s2, weight: 100%}
""")
    appraisal = evaluate(ruleset, [{"subject": "r", "period": "2026-03", "x": "4.5", "a": 0, "b": 0}])
    kpis = {k["id"]: k for k in appraisal.to_dict()["results"][0]["kpis"]}
    assert appraisal.result("r").kpi("e1").contribution_exact == Fraction(3, 8)
    assert [kpis[k]["contribution"] for k in ("e1", "e2", "e3")] == ["0.38", "0.38", "0.38"]
    assert kpis["t"]["status"] == "excluded"


def test_generated_rulesets_strategy_is_importable_from_tests():
    """The shared strategies module re-exports the public ruleset strategy."""
    assert callable(ruleset_texts)
