from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import exact_decimals, rulesets_with_records

from kpi_engine import evaluate
from kpi_engine._numbers import CONTEXT
from kpi_engine.language.build import build_scorecard
from kpi_engine.language.spec import RulesetSpec
from kpi_engine.plan.ops.scoring import attainment, bands, linear, threshold

values = exact_decimals("-50", "250", 3)


def kpi(**kw):
    spec = RulesetSpec(ruleset="p", version="1", title="p", inputs={"v": {"type": "number"}},
                       kpis=[{"id": "k", "metric": "v", "weight": "100%", **kw}])  # fmt: skip
    return build_scorecard(spec).kpis[0]


def score(k, v):
    if k.method == "threshold":
        return threshold(k, v)
    if k.method == "linear":
        return linear(k, v)
    if k.method == "bands":
        return bands(k, v)
    return attainment(k, v)


@st.composite
def kpis(draw):
    method = draw(st.sampled_from(["threshold", "linear", "attainment", "bands"]))
    direction = draw(st.sampled_from(["higher", "lower"])) if method != "bands" else "higher"
    cap = draw(st.sampled_from(["100", "120", "150"]))
    t = draw(exact_decimals("1", "100", 2))
    if method == "linear":
        gap = draw(exact_decimals("0.01", "100", 2))
        floor = t - gap if direction == "higher" else t + gap
        return kpi(method=method, direction=direction, target=str(t), floor=str(floor), cap=cap)
    if method == "bands":
        return kpi(method=method, bands=[{"id": "a", "max": str(t), "score": "0"},
                                         {"id": "b", "min": str(t), "max": str(t + 10), "score": "50"},
                                         {"id": "c", "min": str(t + 10), "score": "100"}])  # fmt: skip
    return kpi(method=method, direction=direction, target=str(t), cap=cap)


@given(kpis(), values, values)
def test_scores_are_monotone_in_the_value_for_their_direction(k, a, b):
    """A better value never scores lower (higher-is-better: larger; lower-is-better: smaller)."""
    lo, hi = min(a, b), max(a, b)
    if k.direction == "higher":
        assert score(k, lo) <= score(k, hi)
    else:
        assert score(k, lo) >= score(k, hi)


@given(kpis(), values)
def test_scores_stay_within_zero_and_cap(k, v):
    """Every method's score lies in [0, cap]."""
    assert Decimal(0) <= score(k, v) <= k.cap


@given(exact_decimals("-100", "100", 4), st.sampled_from(["higher", "lower"]))
def test_thresholds_include_their_bound_unless_strict(t, direction):
    """A value exactly on the threshold passes; with strict: true it fails."""
    assert threshold(kpi(method="threshold", direction=direction, target=str(t)), t) == 100
    assert threshold(kpi(method="threshold", direction=direction, target=str(t), strict=True), t) == 0


@given(rulesets_with_records())
def test_total_lies_between_smallest_and_largest_kpi_score(pair):
    """Before gates, the total is a weighted mean of the scores that apply; a gate only lowers it."""
    ruleset, records = pair
    for r in evaluate(ruleset, records).results:
        scores = [k.score_exact for k in r.kpis if k.score_exact is not None]
        if r.total_exact is None:
            assert not scores
            continue
        assert min(scores) <= r.total_before_gates_exact <= max(scores)
        assert r.total_exact <= r.total_before_gates_exact


@given(rulesets_with_records(max_kpis=4))
def test_excluding_a_kpi_renormalises_the_rest(pair):
    """The effective weights of the KPIs that apply add up to exactly 1, and contributions to the total."""
    ruleset, records = pair
    for r in evaluate(ruleset, records).results:
        live = [k for k in r.kpis if k.status == "scored"]
        if not live:
            continue
        assert sum(Fraction(k.effective_weight_exact) for k in live) == 1
        assert sum(Fraction(k.contribution_exact) for k in live) == r.total_before_gates_exact
        assert all(k.effective_weight_exact == 0 for k in r.kpis if k.status == "excluded")


@given(rulesets_with_records(), st.randoms(use_true_random=False))
def test_shuffling_records_changes_nothing(pair, rnd):
    """The appraisal's numbers do not depend on the order of the records."""
    ruleset, records = pair
    shuffled = list(records)
    rnd.shuffle(shuffled)
    a, b = evaluate(ruleset, records), evaluate(ruleset, shuffled)

    def key(ap):
        return [
            (r.subject, r.total_exact, r.grade, r.rank, [(k.id, k.score_exact) for k in r.kpis]) for r in ap.results
        ]

    assert key(a) == key(b)


def test_survey_mean_exactness():
    """4.3, 4.6, 4.6 average exactly 4.5 (not 4.499999…)."""
    total = sum((Decimal("4.3"), Decimal("4.6"), Decimal("4.6")), Decimal(0))
    assert CONTEXT.divide(total, Decimal(3)) == Decimal("4.5")
