"""The row evaluator's fast paths give the very numbers (same digits) of the exact functions they stand for."""

import decimal
from decimal import ROUND_DOWN, Decimal, Inexact, getcontext
from fractions import Fraction

from hypothesis import assume, given
from hypothesis import strategies as st
from tests.strategies import exact_decimals

from kpi_engine import _numbers as num
from kpi_engine import evaluate, parse_ruleset
from kpi_engine._numbers import NumberFormatError, exact, own_context, parse_decimal
from kpi_engine.evaluation.records import plain_decimal
from kpi_engine.language.build import build_scorecard
from kpi_engine.language.spec import RulesetSpec
from kpi_engine.plan import lower
from kpi_engine.plan.ops.scoring import ScaledScore, compile_operators, compile_scorer, score

# Digits a divisor may have: 2·5 only (terminating), or a factor 3 or 7 (Fractions); a divisor 1 (no division) or 1.00.
bounds = st.sampled_from(["0", "1", "0.3", "-20%", "10%", "8", "20", "120", "0.5", "7", "1E+2", "2.50", "1000", "1.00"])
values = st.one_of(
    exact_decimals("-50", "250", 4),
    st.sampled_from(["0", "-0", "1E+2", "0.0000001", "123456789012345678901234567890.1234", "1E-100"]).map(Decimal),
)
number_texts = st.one_of(
    st.from_regex(r"\s?[+-]?[0-9_]{0,8}(\.[0-9_]{0,6})?([eE][+-]?[0-9]{1,3})?\s?", fullmatch=True),
    st.sampled_from(["NaN", "-Infinity", "sNaN", "1%", "١٢٣", "１２", "1e101", "0e500", "9" * 61, "1__0", "+.5"]),
    st.text(max_size=12),
)


def kpi(**kw):
    spec = RulesetSpec(ruleset="p", version="1", title="p", inputs={"v": {"type": "number"}},
                       kpis=[{"id": "k", "metric": "v", "weight": "100%", **kw}])  # fmt: skip
    return build_scorecard(spec).kpis[0]


def same(a, b):
    """Equal and written alike: a Decimal with the same digits and exponent, or the same Fraction."""
    return type(a) is type(b) and str(a) == str(b)


@given(number_texts)
def test_a_plain_cell_reads_as_parse_decimal_reads_it(text):
    """plain_decimal gives parse_decimal's Decimal, or None where parse_decimal refuses (or takes a percent)."""
    with exact():
        fast = plain_decimal(text)
    try:
        slow = parse_decimal(text, allow_percent=False)
    except NumberFormatError:
        slow = None
    if fast is not None:
        assert same(fast, slow)


@given(lo=bounds, hi=bounds, direction=st.sampled_from(["higher", "lower"]), cap=st.sampled_from(["100", "120"]),
       v=values)  # fmt: skip
def test_compiled_linear_scores_match_the_method(lo, hi, direction, cap, v):
    """A compiled linear scorer, and its operator form when the context stays exact, give scoring.score's digits."""
    assume(Decimal(lo.rstrip("%")) != Decimal(hi.rstrip("%")))
    low, high = sorted([lo, hi], key=lambda t: Decimal(t.rstrip("%")) / (100 if t.endswith("%") else 1))
    target, floor = (high, low) if direction == "higher" else (low, high)
    k = kpi(method="linear", direction=direction, target=target, floor=floor, cap=cap)
    with exact() as ctx:
        expected = score(k, v, {})
        assert same(compile_scorer(k)(v), expected)
        operators = compile_operators(k)
        if operators is not None:
            ctx.flags[Inexact] = False
            fast = operators(v)
            if not ctx.flags[Inexact]:
                assert same(fast, expected)


@given(target=bounds, cap=st.sampled_from(["100", "120"]), v=values)
def test_compiled_attainment_scores_match_the_method(target, cap, v):
    """Attainment (higher and lower) compiled, and its operator form, give scoring.score's digits."""
    assume(Decimal(target.rstrip("%")) > 0)
    for direction in ("higher", "lower"):
        k = kpi(method="attainment", direction=direction, target=target, cap=cap)
        with exact() as ctx:
            expected = score(k, v, {})
            assert same(compile_scorer(k)(v), expected)
            operators = compile_operators(k)
            if operators is not None:
                ctx.flags[Inexact] = False
                fast = operators(v)
                if not ctx.flags[Inexact]:
                    assert same(fast, expected)


@given(st.lists(st.one_of(exact_decimals("-100", "100", 3), st.sampled_from([Fraction(1, 3), Fraction(-2, 7)])),
                max_size=8))  # fmt: skip
def test_sums_and_products_are_the_plain_loops(xs):
    """num.total, num.products and num.dot give what add and mul applied one by one give."""
    ys = list(reversed(xs))
    with exact():
        running = Decimal(0)
        for x in xs:
            running = num.add(running, x)
        assert same(num.total(xs), running)
        products = [num.mul(x, y) for x, y in zip(xs, ys, strict=True)]
        assert all(same(a, b) for a, b in zip(num.products(xs, ys), products, strict=True))
        dotted = Decimal(0)
        for p in products:
            dotted = num.add(dotted, p)
        assert same(num.dot(xs, ys), dotted)


def test_own_context_is_the_library_context_only():
    """own_context is None outside exact() and after code called back replaced the context; else exact()'s."""
    assert own_context() is None
    with exact() as ctx:
        assert own_context() is ctx
        saved = getcontext()
        decimal.setcontext(decimal.Context(prec=2))
        try:
            assert own_context() is None
        finally:
            decimal.setcontext(saved)
        assert own_context() is ctx
    assert own_context() is None


def test_a_callback_that_changes_the_context_changes_no_result():
    """A progress callback that installs prec=2 mid-run leaves every number as a run without it computes."""
    ruleset = parse_ruleset(
        'ruleset: t\nversion: "1"\ntitle: t\n'
        "inputs: {a: {type: number}, b: {type: number}}\n"
        "kpis:\n"
        "  - {id: x, metric: a, method: linear, floor: 0, target: 1, cap: 120, weight: 60%}\n"
        "  - {id: y, metric: b, method: linear, floor: 0, target: 120, cap: 120, weight: 40%}\n"
    )
    rows = [{"subject": f"r{i:03d}", "period": "2026-03", "a": f"0.{i:04d}", "b": str(i + 7)} for i in range(300)]
    expected = evaluate(ruleset, rows, engine="row").to_json()

    def hostile(_done, _total):
        ctx = getcontext()
        ctx.prec, ctx.rounding = 2, ROUND_DOWN

    saved = getcontext().copy()
    try:
        assert evaluate(ruleset, rows, engine="row", progress=hostile).to_json() == expected
    finally:
        decimal.setcontext(saved)


def test_a_callback_that_widens_the_context_changes_no_result():
    """A progress callback that raises the library context's precision in place: operators are not trusted then."""
    ruleset = parse_ruleset(
        'ruleset: t\nversion: "1"\ntitle: t\n'
        "inputs: {a: {type: number}}\n"
        "kpis: [{id: x, metric: a, method: linear, floor: 0, target: 1, cap: 1E+40, weight: 100%}]\n"
    )
    rows = [{"subject": f"r{i:03d}", "period": "2026-03", "a": f"{i}.{'3' * 33}"} for i in range(300)]
    expected = evaluate(ruleset, rows, engine="row")

    def widen(_done, _total):
        getcontext().prec = 100

    saved = getcontext().copy()
    try:
        got = evaluate(ruleset, rows, engine="row", progress=widen)
    finally:
        decimal.setcontext(saved)
    assert [same(a.total, b.total) for a, b in zip(got.results, expected.results, strict=True)] == [True] * 300


# --- scaled integers (plan.ops.scoring.ScaledScore, plan.ops.weights.Weights.row_scaled) ----------

scaled_values = st.one_of(
    exact_decimals("-50", "250", 4),
    exact_decimals("0", "80000", 2),
    st.sampled_from(["0", "-0", "0.000", "1E+2", "35000", "50000.00", "0.0000001", "1E+120", "1E-100"]).map(Decimal),
)


@given(lo=bounds, hi=bounds, method=st.sampled_from(["linear", "attainment", "threshold"]),
       direction=st.sampled_from(["higher", "lower"]), cap=st.sampled_from(["100", "120", "99.5"]), v=scaled_values)  # fmt: skip
def test_scaled_scores_are_the_method_scores(lo, hi, method, direction, cap, v):
    """A scaled kernel gives scoring.score's number, digits and form, and the integer S with S / gamma equal to it."""
    assume(Decimal(lo.rstrip("%")) != Decimal(hi.rstrip("%")))
    low, high = sorted([lo, hi], key=lambda t: Decimal(t.rstrip("%")) / (100 if t.endswith("%") else 1))
    target, floor = (high, low) if direction == "higher" else (low, high)
    if method == "linear":
        k = kpi(method="linear", direction=direction, target=target, floor=floor, cap=cap)
    elif method == "attainment":
        assume(Decimal(high.rstrip("%")) > 0)
        k = kpi(method="attainment", direction="higher", target=high, cap=cap)
    else:
        k = kpi(method="threshold", direction=direction, target=target, pass_score="100", fail_score="33.3")  # noqa: S106
    kernel = ScaledScore.of(k, compile_scorer(k))
    assert kernel is not None
    with exact() as ctx:
        expected = score(k, v, {})
        ctx.flags[Inexact] = False
        got = kernel.row(v)
        if ctx.flags[Inexact]:
            return  # the executor then scores this subject with the exact scorers
    few_places = v.as_tuple().exponent >= -6 and abs(v) < Decimal("1E+100")  # type: ignore[operator]
    assert (got is not None) == few_places or method == "threshold"
    if got is not None:
        s, found = got
        assert same(found, expected)
        assert Fraction(s, kernel.gamma) == expected


@st.composite
def cards_with_scores(draw):
    """A scorecard of linear KPIs in sections (realistic floors), and a subject's values, some N/A."""
    n = draw(st.integers(1, 6))
    two = draw(st.booleans())
    pairs = [("35000", "50000"), ("0", "1"), ("1.5", "2.2"), ("60", "100"), ("900", "1200"), ("0", "3"), ("10%", "25%")]
    kpis = []
    for i in range(n):
        f, t = draw(st.sampled_from(pairs))
        lower = draw(st.booleans())
        weight = draw(st.sampled_from(["20%", "12%", "7%", "5%", "33%", "1%"]))
        section = f", section: s{i % 2}" if two else ""
        kpis.append(f"  - {{id: k{i}, metric: m{i}, method: linear, direction: {'lower' if lower else 'higher'}, "
                    f"floor: {t if lower else f}, target: {f if lower else t}, cap: 120, weight: {weight}{section}}}")  # fmt: skip
    sections = "sections: {s0: {weight: 70%}, s1: {weight: 30%}}\n" if two and n > 1 else ""
    if two and n == 1:
        kpis[0] = kpis[0].replace(", section: s0", "")
    text = (f'ruleset: t\nversion: "1"\ntitle: t\nnormalize: true\n{sections}'
            "inputs: {" + ", ".join(f"m{i}: {{type: number, required: false}}" for i in range(n)) + "}\nkpis:\n" + "\n".join(kpis) + "\n")  # fmt: skip
    card = parse_ruleset(text).scorecard
    values = [draw(st.one_of(st.none(), scaled_values.filter(lambda v: abs(v) < 10**6))) for _ in range(n)]
    return card, values


@given(cards_with_scores())
def test_scaled_combination_is_the_exact_combination(found):
    """Weights.row_scaled gives _row_exactly's section scores, contributions and total, digits and form."""
    card, values = found
    plan = lower(card)
    assert plan.scaled is not None
    with exact() as ctx:
        ctx.flags[Inexact] = False
        rows = [None if v is None else kernel(v) for kernel, v in zip(plan.scaled, values, strict=True)]
        assume(
            not ctx.flags[Inexact] and all(r is not None for r, v in zip(rows, values, strict=True) if v is not None)
        )
        scores = [None if r is None else r[1] for r in rows]
        ints = [None if r is None else r[0] for r in rows]
        pattern = plan.weights.pattern(tuple(s is not None for s in scores))
        expected = plan.weights._row_exactly(scores, pattern, set())
        got = plan.weights.row_scaled(scores, ints, pattern)
    assert got[0].keys() == expected[0].keys()
    assert all(same(got[0][s], expected[0][s]) or got[0][s] is expected[0][s] is None for s in got[0])
    assert all(same(a, b) for a, b in zip(got[1], expected[1], strict=True))
    assert got[2] is expected[2] is None or same(got[2], expected[2])


@given(
    st.lists(st.sampled_from(["90", "89.995", "75", "60.5", "33.333", "0", "-10", "1E+2"]), min_size=1, max_size=4),
    st.fractions(min_value=-50, max_value=150, max_denominator=10**6),
)
def test_a_fraction_total_takes_the_grade_of_the_exact_comparison(mins, total):
    """Grades.row compares a Fraction total on integers and finds the band that Fraction >= Decimal finds."""
    bands = sorted({Decimal(m) for m in mins}, reverse=True)
    grades = (
        "\n".join(f"  - {{grade: G{i}, min: {m}}}" for i, m in enumerate(bands)) + f"\n  - {{grade: G{len(bands)}}}"
    )
    text = ('ruleset: g\nversion: "1"\ntitle: g\ninputs: {v: {type: number}}\n'
            "kpis:\n  - {id: k, metric: v, method: linear, floor: 0, target: 1, weight: 100%}\n"
            f"grades:\n{grades}\n")  # fmt: skip
    plan = lower(parse_ruleset(text).scorecard)
    expected = next((f"G{i}" for i, m in enumerate(bands) if total >= m), f"G{len(bands)}")
    assert plan.grades.row(total, None)[0] == expected
