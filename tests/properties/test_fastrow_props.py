"""The fast lane (``evaluation.fastrow``) against the general row path and the columnar kernel.

Random T12-like scorecards (linear rules both ways, attainment, thresholds, a cap gate and a
forced grade on input conditions, grades) and random small teams: values on and around every
floor, target, cap point and grade bound, ties, text/``Decimal``/``int`` cells. The fast lane
must be taken, and its appraisal must be the general path's: same order, ranks, totals, grades,
the same JSON with traces; its own integers (``total_key``, ``grade``) must agree with the
results built from them. Rows it must not take (a blank, a sign, a totals row …) give the general
path's appraisal or error.
"""

from decimal import Decimal
from fractions import Fraction
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kpi_engine import KpiError, evaluate
from kpi_engine._numbers import exact
from kpi_engine.evaluation import fastrow
from kpi_engine.evaluation.row import prepare_inputs
from kpi_engine.language.build import parse_ruleset

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cards(draw):
    """(ruleset text, per input: (type, interesting values)), at most five KPIs."""
    n = draw(st.integers(1, 5))
    inputs, kpis, specials = [], [], []
    cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=n - 1, max_size=n - 1, unique=True)))
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]  # percents adding up to 100
    for i in range(1, n + 1):
        money = draw(st.booleans())
        kind = "money" if money else "count"
        target = draw(st.integers(1, 5000))
        method = draw(st.sampled_from(["linear_up", "linear_down", "attainment", "threshold"]))
        weight = f"{weights[i - 1]}%"
        cap = draw(st.sampled_from([100, 110, 120, 150]))
        if method == "linear_up":
            floor = draw(st.integers(0, target - 1)) if target > 0 else 0
            assume(floor < target)
            rule = f"method: linear, direction: higher, floor: {floor}, target: {target}, cap: {cap}"
            points = [floor, target, floor + (target - floor) * cap // 100]
        elif method == "linear_down":
            floor = target + draw(st.integers(1, 3000))
            rule = f"method: linear, direction: lower, floor: {floor}, target: {target}, cap: {cap}"
            points = [floor, target, max(0, floor - (floor - target) * cap // 100)]
        elif method == "attainment":
            rule = f"method: attainment, direction: higher, target: {target}, cap: {cap}"
            points = [target, target * cap // 100]
        else:
            strict = draw(st.booleans())
            up = draw(st.booleans())
            rule = (f"method: threshold, direction: {'higher' if up else 'lower'}, target: {target}, "
                    f"strict: {str(strict).lower()}")  # fmt: skip
            points = [target]
        inputs.append(f"  m{i}: {{type: {kind}, min: 0}}")
        kpis.append(f"  - {{id: k{i}, metric: m{i}, {rule}, weight: {weight}}}")
        specials.append((kind, points))
    gate_input = draw(st.integers(1, n))
    gate_bound = draw(st.integers(0, 3000))
    gate = draw(st.sampled_from(["cap", "force", "none"]))
    gates = ""
    if gate == "cap":
        gates = f"gates:\n  - {{id: g, when: m{gate_input} < {gate_bound}, cap_total: {draw(st.integers(10, 90))}}}\n"
    elif gate == "force":
        gates = f"gates:\n  - {{id: g, when: m{gate_input} >= {gate_bound}, force_grade: D}}\n"
    lows = sorted(draw(st.lists(st.integers(1, 119), min_size=3, max_size=3, unique=True)), reverse=True)
    text = f"""ruleset: fast
version: "1"
title: t
subject: rep
period: month
inputs:
{chr(10).join(inputs)}
kpis:
{chr(10).join(kpis)}
{gates}grades:
  - {{grade: A, min: {lows[0]}}}
  - {{grade: B, min: {lows[1]}}}
  - {{grade: C, min: {lows[2]}}}
  - {{grade: D}}
"""
    return text, specials


def _cell(draw, kind, points, style):
    base = draw(st.sampled_from(points)) if points and draw(st.booleans()) else draw(st.integers(0, 9000))
    base = max(0, base + draw(st.sampled_from([0, 0, -1, 1])))
    if kind == "money" and draw(st.booleans()):
        cents = base * 100 + draw(st.sampled_from([0, 1, 33, 50, 99]))
        text = f"{cents // 100}.{cents % 100:02d}"
    else:
        text = str(base)
    if style == "decimal":
        return Decimal(text)
    if style == "int" and "." not in text:
        return int(text)
    return text


@st.composite
def teams(draw, specials):
    size = draw(st.integers(1, 12))
    style = draw(st.sampled_from(["text", "decimal", "int"]))
    rows = []
    for r in range(size):
        row = {"subject": f"r{r:03d}", "period": "2026-03"}
        for i, (kind, points) in enumerate(specials, start=1):
            row[f"m{i}"] = _cell(draw, kind, points, style)
        rows.append(row)
    if size > 1 and draw(st.booleans()):  # a tie: a copy of another rep's numbers
        rows[-1] = {**rows[0], "subject": rows[-1]["subject"]}
    return rows


def general(ruleset, rows, **kw):
    """``evaluate(..., engine="row")`` with the fast lane switched off: the general row path."""
    with mock.patch.object(fastrow, "appraise", return_value=None):
        return evaluate(ruleset, rows, engine="row", **kw)


@_SETTINGS
@given(data=st.data())
def test_fast_lane_is_the_general_path(data):
    text, specials = data.draw(cards())
    ruleset = parse_ruleset(text)
    card = fastrow.FastCard.of(ruleset.scorecard)
    assert not isinstance(card, str), card
    rows = data.draw(teams(specials))
    fast = fastrow.appraise(ruleset, rows, period=None, strict=False, auto=False)
    assume(fast is not None)  # a team whose first column holds a sum goes to the screening
    assert isinstance(fast.results, fastrow.FastResults)
    ref = general(ruleset, rows)
    assert not isinstance(ref.results, fastrow.FastResults)
    got = evaluate(ruleset, rows, engine="row")
    assert isinstance(got.results, fastrow.FastResults)
    for j, r in enumerate(ref.results):  # the integers, before any result is built
        assert got.results.subject(j) == r.subject
        assert got.results.rank(j) == r.rank
        assert got.results.total_key(j) == Fraction(r.total_exact)
        assert got.results.grade(j) == r.grade
        assert got.results.total(j) == r.total
        assert str(got.results.total(j)) == str(r.total)  # the same digits as reported
    assert got == ref
    for a, b in zip(got.results, ref.results, strict=True):  # built from the rows directly: the same forms
        assert _forms(a) == _forms(b)
    with exact():
        assert got.results.inputs() == prepare_inputs(ruleset.scorecard, rows)  # the records check's values
    assert got.to_json(traces=True) == ref.to_json(traces=True)
    pytest.importorskip("polars")
    col = evaluate(ruleset, rows, engine="columnar")
    assert [(r.subject, r.rank, r.total, r.grade) for r in col.results] == [
        (r.subject, r.rank, r.total, r.grade) for r in got.results
    ]


def _forms(r):
    """Every exact number of a result as type and digits (``==`` alone would take 1.0 for 1 or 1/2 for 0.5)."""

    def form(x):
        return None if x is None else (type(x).__name__, str(x))

    return (
        r.subject,
        r.rank,
        r.rank_in_parent,
        r.parent,
        r.grade,
        form(r.bonus_multiplier),
        form(r.total_exact),
        form(r.total_before_gates_exact),
        r.flags,
        r.gates,
        r.metrics,
        [
            (
                k.id,
                form(k.value),
                k.status,
                form(k.score_exact),
                form(k.weight),
                form(k.effective_weight_exact),
                form(k.contribution_exact),
                k.flags,
                k.trace,
                k.subject,
            )
            for k in r.kpis
        ],
        [(s.id, form(s.score_exact), form(s.effective_weight_exact), s.flags) for s in r.sections],
    )


_T12_TEXT = """ruleset: t
version: "1"
title: t
subject: rep
period: month
inputs:
  m1: {type: money, min: 0}
  m2: {type: count, min: 0, max: 500}
kpis:
  - {id: a, metric: m1, method: linear, direction: higher, floor: 700, target: 1000, cap: 120, weight: 60%}
  - {id: b, metric: m2, method: linear, direction: lower, floor: 300, target: 90, cap: 120, weight: 40%}
gates:
  - {id: low, when: m1 < 700, cap_total: 60}
grades:
  - {grade: A, min: 90}
  - {grade: B}
"""
_T12 = parse_ruleset(_T12_TEXT)


def _rows(*cells):
    return [{"subject": f"s{i}", "period": "2026-03", "m1": a, "m2": b} for i, (a, b) in enumerate(cells)]


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        (_rows(("800", "10"), ("", "20")), "a blank cell"),
        (_rows(("-5", "10")), "a negative value"),
        (_rows(("800", "501")), "above the maximum"),
        (_rows(("800", "1.5")), "a count with decimals"),
        (_rows(("1,200", "10")), "a grouped number"),
        (_rows(("80%", "10")), "a percent"),
        (_rows((800.5, "10")), "a float"),
        (_rows((Decimal("NaN"), "10")), "a NaN"),
        (_rows((Decimal("800.0000001"), "10")), "more places than the lane's scale"),
        (_rows((Decimal(800), Decimal("1.5"))), "a Decimal count with decimals"),
        (_rows(("800", "10"), ("900", "20"), ("1700", "30")), "a totals row"),
        ([{"subject": "Total", "period": "2026-03", "m1": "1", "m2": "2"}], "a totals label"),
        ([*_rows(("800", "10")), *_rows(("900", "20"))], "a duplicate subject"),
        ([{"subject": "s", "period": "2026-03", "m1": "1", "m2": "2", "note": "x"}], "another column"),
        ([{"subject": "s", "period": "2026-03-05", "m1": "1", "m2": "2"}], "a day for a month"),
        ([{"subject": " s", "period": "2026-03", "m1": "1", "m2": "2"}], "spaces around the subject"),
    ],
)
def test_rows_it_does_not_take_go_to_the_general_path(rows, why):
    assert fastrow.appraise(_T12, rows, period=None, strict=False, auto=False) is None, why
    try:
        expected = general(_T12, rows)
    except KpiError as exc:
        message = str(exc)
        with pytest.raises(type(exc)) as caught:
            evaluate(_T12, rows, engine="row")
        assert str(caught.value) == message
    else:
        assert evaluate(_T12, rows, engine="row") == expected


def test_the_generated_source_is_inspectable():
    card = fastrow.FastCard.of(_T12.scorecard)
    assert not isinstance(card, str)
    assert card.source.startswith("def run(rows, period):")
    assert "'m1'" in card.source  # names only as string literals
    assert "eval(" not in card.source


def test_a_card_it_does_not_take_says_why():
    ruleset = parse_ruleset("""ruleset: t
version: "1"
title: t
subject: rep
period: month
inputs:
  m1: {type: ratio}
kpis:
  - {id: a, metric: m1, method: linear, direction: higher, floor: 0.5, target: 1, weight: 100%}
""")
    reason = fastrow.FastCard.of(ruleset.scorecard)
    assert isinstance(reason, str)
    assert "count, money or number" in reason
    rows = [{"subject": "s", "period": "2026-03", "m1": "0.75"}]
    assert fastrow.appraise(ruleset, rows, period=None, strict=False, auto=False) is None
    assert evaluate(ruleset, rows, engine="row") == general(ruleset, rows)


def test_period_strict_and_results_access():
    rows = _rows(("1000", "90"), ("650", "300"), ("1000", "90"), ("850.50", "120"))
    got = evaluate(_T12, rows, engine="row", period="2026-03", strict=True)
    assert isinstance(got.results, fastrow.FastResults)
    ref = general(_T12, rows, period="2026-03", strict=True)
    assert got == ref
    assert [r.rank for r in got.results] == [1, 1, 3, 4]  # a tie shares its rank
    assert got.results[-1].subject == ref.results[-1].subject
    assert got.results[1:3] == ref.results[1:3]
    assert got.results[0].kpis[0].explanation == ref.results[0].kpis[0].explanation
    assert got.result("s1").total == Decimal("60.00") or got.result("s1").total <= 60  # the gate capped it


def test_a_fast_appraisal_pickles_with_its_traces():
    """Like the general path's appraisal, it crosses a process boundary: same numbers, same traced JSON."""
    import pickle

    rows = _rows(("1000", "90"), ("650", "300"), ("850.50", "120"))
    got = evaluate(_T12, rows, engine="row")
    assert isinstance(got.results, fastrow.FastResults)
    copy = pickle.loads(pickle.dumps(got))  # noqa: S301 - our own bytes, round-tripped
    assert copy == got == general(_T12, rows)
    assert copy.to_json(traces=True) == general(_T12, rows).to_json(traces=True)
    read = pickle.loads(pickle.dumps(got))  # noqa: S301 - after its results were built and read
    assert read.to_json(traces=True) == got.to_json(traces=True)


@pytest.mark.parametrize("cell", [Decimal("1E+3"), Decimal("850.5000000000"), Decimal("0E-7"), Decimal("-0"), 10**3])
def test_typed_cells_in_any_form(cell):
    """Exponents, trailing zeros, a negative zero, an int: taken by the lane, the general path's appraisal."""
    rows = _rows((cell, "10"), ("900", Decimal(20)))
    got = evaluate(_T12, rows, engine="row")
    assert isinstance(got.results, fastrow.FastResults)
    assert got == general(_T12, rows)
    assert got.to_json(traces=True) == general(_T12, rows).to_json(traces=True)


def test_results_read_later_do_not_see_the_callers_later_edits():
    rows = _rows(("1000", "90"), ("650", "300"))
    expected = general(_T12, [dict(r) for r in rows])
    got = evaluate(_T12, rows, engine="row")
    rows[0]["m1"] = "1"  # an app reusing its buffers before it reads the results
    rows.append({"subject": "late", "period": "2026-03", "m1": "5", "m2": "5"})
    assert got == expected


def test_results_are_built_without_the_general_path():
    """Reading every result builds no row executor; the traces (read later) build it, and agree."""
    rows = _rows(("1000", "90"), ("650", "300"), ("850.50", "120"), (Decimal("700.25"), 45))
    got = evaluate(_T12, rows, engine="row")
    ref = general(_T12, rows)
    assert [_forms(r) for r in got.results] == [_forms(r) for r in ref.results]
    assert got.results._run is None  # no re-appraisal by the row executor
    assert got.to_json() == ref.to_json()
    assert got.results._run is None
    assert got.to_json(traces=True) == ref.to_json(traces=True)


def test_a_result_the_kernels_decline_is_built_by_the_general_path():
    """A value with more decimals than a KPI's kernel reads (6): the row executor builds that result."""
    text = _T12_TEXT.replace("m1 < 700,", "m1 < 700.0000001,")  # the lane reads m1 at 7 places
    ruleset = parse_ruleset(text)
    rows = _rows(("1000", "90"), ("850.1234567", "120"))
    got = evaluate(ruleset, rows, engine="row")
    ref = general(ruleset, rows)
    assert isinstance(got.results, fastrow.FastResults)
    assert got.results._run is None  # nothing built yet
    assert [_forms(r) for r in got.results] == [_forms(r) for r in ref.results]
    assert got.results._run is not None  # the second result came from the row executor
    assert got.to_json(traces=True) == ref.to_json(traces=True)
