"""The kernel's fast paths: static range proofs, their checked fallbacks, and the byte-level decimal parser."""

from decimal import Decimal
from fractions import Fraction
from math import lcm

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_engine import evaluate, parse_ruleset

np = pytest.importorskip("numpy")
pl = pytest.importorskip("polars")
pytest.importorskip("pyarrow")

from kpi_engine._columns import (  # noqa: E402 - after the optional imports
    LIMIT,
    Ctx,
    Num,
    bound,
    n_add,
    n_affine,
    n_div,
    n_mul,
    n_round_half_up,
    n_weighted_sum,
)
from kpi_engine.evaluation.columnar._decimals import parse_plain  # noqa: E402
from kpi_engine.evaluation.columnar._run import run_columnar  # noqa: E402
from kpi_engine.plan.ops.ranks import _packed_order, competition_ranks  # noqa: E402

# Numerators from tiny to the edge of the range the kernel keeps in int64 (2**62).
numerators = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(-(2**62) + 1, 2**62 - 1),
    st.integers(2**62 // 200, 2**62 // 50),
)
fractions = st.fractions(max_denominator=1000).filter(lambda f: abs(f) < 10**6)


def _rows(col: Num, i: int) -> Fraction:
    num = col.num if isinstance(col.num, int) else int(col.num[i])
    den = col.den if isinstance(col.den, int) else int(col.den[i])
    return Fraction(num, den)


@given(
    values=st.lists(numerators, min_size=1, max_size=8),
    den=st.sampled_from([1, 10, 10_000, 3, 7 * 10**4]),
    k=fractions,
    c=fractions,
    clip=st.booleans(),
)
def test_affine_is_exact_or_marks_the_row(values, den, k, c, clip):
    """k·v + c (clipped) equals Fraction arithmetic on every row not marked for the exact pass."""
    ctx = Ctx(len(values))
    col = Num(np.array(values, dtype=np.int64), den, None)
    bounds = (Fraction(0), Fraction(120)) if clip else None
    out = n_affine(ctx, col, k, c, bounds)
    for i, v in enumerate(values):
        expected = k * Fraction(v, den) + c
        if clip:
            expected = min(max(expected, Fraction(0)), Fraction(120))
        if not ctx.bad[i]:
            assert _rows(out, i) == expected
    if out.hi is not None:
        assert out.hi >= bound(Num(out.num, out.den, None))  # a kept bound is a true bound


def test_affine_needs_no_check_when_the_bound_proves_it():
    """With |num| ≤ 20,000 the map 100·v/10⁴ cannot overflow: no row is marked, the bound is static."""
    ctx = Ctx(3)
    col = Num(np.array([0, 5_000, 20_000], dtype=np.int64), 10_000, None, hi=20_000)
    out = n_affine(ctx, col, Fraction(-100), Fraction(100), (Fraction(0), Fraction(120)))
    assert not ctx.bad.any()
    assert [_rows(out, i) for i in range(3)] == [100, 50, 0]
    assert out.hi == 120 * out.den  # the clip bounds bound the result


def test_affine_near_two_to_the_62_takes_the_checked_path():
    """A numerator whose scaled value would pass 2**62 is marked for the exact pass, never wrapped."""
    ctx = Ctx(2)
    big = 2**62 // 10
    col = Num(np.array([big, 5], dtype=np.int64), 1, None)
    out = n_affine(ctx, col, Fraction(100), Fraction(0))
    assert ctx.bad.tolist() == [True, False]  # only the row that does not fit
    assert _rows(out, 1) == 500


def test_affine_exactly_below_the_limit_stays_fast():
    """|alpha|·bound + |beta| = 2**62 − 1 is still provably in range: no row is marked."""
    ctx = Ctx(1)
    col = Num(np.array([(2**62 - 1) // 3], dtype=np.int64), 1, None)
    out = n_affine(ctx, col, Fraction(3), Fraction((2**62 - 1) % 3))
    assert not ctx.bad.any()
    assert _rows(out, 0) == 2**62 - 1


def test_a_denominator_past_int64_marks_its_row_and_the_next_operations_stay_quiet():
    """A row whose denominators' product leaves int64 is marked bad; sums, quotients and rounding after it raise no warning."""
    ctx = Ctx(2)
    big = 3_000_000_007
    a = Num(np.array([1, 1], dtype=np.int64), np.array([big, 3], dtype=np.int64), None)
    b = Num(np.array([1, 1], dtype=np.int64), np.array([big + 2, 5], dtype=np.int64), None)
    s = n_add(ctx, a, b)
    assert ctx.bad.tolist() == [True, False]
    out = n_round_half_up(ctx, n_div(ctx, n_add(ctx, s, s), n_mul(ctx, s, s)), -1)  # warnings are errors here
    assert _rows(s, 1) == Fraction(8, 15)
    assert isinstance(out, Num)


@given(
    terms=st.lists(
        st.tuples(st.integers(1, 100), st.lists(numerators, min_size=3, max_size=3), st.sampled_from([1, 100, 10**4])),
        min_size=1,
        max_size=5,
    )
)
def test_weighted_sum_is_exact_or_declines(terms):
    """Σ w·x in one accumulator equals the Fraction sum; when the bounds do not prove it, it declines."""
    ctx = Ctx(3)
    cols = [(w, Num(np.array(v, dtype=np.int64), den, None)) for w, v, den in terms]
    out = n_weighted_sum(ctx, cols)
    common = lcm(*(den for _, _, den in terms))
    top = sum(w * (common // den) * max(abs(x) for x in v) for w, v, den in terms)
    if top >= LIMIT:
        assert out is None
        return
    assert out is not None
    assert not ctx.bad.any()
    for i in range(3):
        assert _rows(out, i) == sum(w * Fraction(v[i], den) for w, v, den in terms)


def test_weighted_sum_declines_columns_with_na():
    """A column with N/A rows leaves the sum to the general path (weights are renormalised there)."""
    ctx = Ctx(2)
    col = Num(np.array([1, 2], dtype=np.int64), 1, np.array([False, True]))
    assert n_weighted_sum(ctx, [(1, col)]) is None


def _oracle_ranks(values, *, lower_first):
    keyed = sorted(values, reverse=not lower_first)
    return [keyed.index(v) + 1 for v in values]


@given(st.lists(st.integers(-50, 50), min_size=1, max_size=30), st.booleans())
def test_ranks_share_ties_in_either_direction(values, lower_first):
    """Competition ranks (1, 1, 3) from the one-denominator path, highest or lowest first."""
    ctx = Ctx(len(values))
    ranks = competition_ranks(ctx, Num(np.array(values, dtype=np.int64), 7, None), None, lower_first=lower_first)
    assert ranks.tolist() == _oracle_ranks(values, lower_first=lower_first)


@given(st.lists(st.sampled_from([-(2**62) + 1, -5, 0, 3, 2**40, 2**62 - 1]), min_size=1, max_size=30), st.booleans())
def test_ranks_of_far_apart_values_take_the_unpacked_path_alike(values, lower_first):
    """Values whose span leaves no room for row numbers in 63 bits are ranked as exactly."""
    ctx = Ctx(len(values))
    ranks = competition_ranks(ctx, Num(np.array(values, dtype=np.int64), 1, None), None, lower_first=lower_first)
    assert ranks.tolist() == _oracle_ranks(values, lower_first=lower_first)


@given(st.lists(st.integers(-(10**9), 10**9) | st.integers(-3, 3), min_size=1, max_size=40), st.booleans())
def test_packed_order_sorts_by_value_then_row(values, lower_first):
    """The packed sort gives the rows by value (either direction), ties in row order."""
    order = _packed_order(np.array(values, dtype=np.int64), lower_first=lower_first)
    expected = sorted(range(len(values)), key=lambda i: (values[i] if lower_first else -values[i], i))
    assert order is not None
    assert order.tolist() == expected


def test_packed_order_declines_a_span_too_wide():
    """Values 2**62 apart leave no bits for row numbers: the caller sorts another way."""
    assert _packed_order(np.array([-(2**61), 2**61], dtype=np.int64), lower_first=True) is None


_digits = st.text("0123456789", max_size=8)


@st.composite
def plain_decimals(draw):
    """``[+-]?(d+.?d*|.d+)`` over ASCII digits: the row path's plain decimal forms."""
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole, frac = draw(_digits), draw(_digits)
    if not whole and not frac:
        whole = "0"
    dot = "." if not whole else draw(st.sampled_from(["", "."]))
    return sign + whole + (dot + frac if dot else "")


@given(st.lists(st.one_of(plain_decimals(), st.none(), st.just("")), min_size=1, max_size=12))
def test_plain_decimals_parse_to_their_exact_value(cells):
    """Each plain decimal cell becomes numerator / 10**scale = its Decimal value; blanks are N/A."""
    parsed = parse_plain(pl.Series(cells, dtype=pl.Utf8))
    assert parsed is not None
    values, scale, na = parsed
    for cell, value, blank in zip(cells, values.tolist(), na.tolist(), strict=True):
        assert blank == (cell is None or cell == "")
        assert Fraction(value, 10**scale) == (0 if blank else Fraction(Decimal(cell)))


@pytest.mark.parametrize("cell", [" 5", "5 ", "1e5", "1.5%", "-", ".", "+", "1..2", "1-2", "--5", "١٢", "0x10"])
def test_other_forms_are_left_to_the_general_path(cell):
    """Spaces, exponents, percents, lone signs or dots, a second dot or sign: the parser declines."""
    assert parse_plain(pl.Series(["1.25", cell], dtype=pl.Utf8)) is None


def test_too_many_digits_are_left_to_the_general_path():
    """More than 17 digits (integer part plus the column's scale) might not fit: the parser declines."""
    assert parse_plain(pl.Series(["1" * 17], dtype=pl.Utf8)) is not None
    assert parse_plain(pl.Series(["1" * 17, "0.5"], dtype=pl.Utf8)) is None


W1 = """
ruleset: w1
version: "1"
title: linear KPIs
subject: rep
period: month
inputs:
  a: {type: number, min: 0, max: 2}
  b: {type: number}
kpis:
  - {id: ka, metric: a, method: linear, floor: 0, target: 1, cap: 120, weight: 70%}
  - {id: kb, metric: b, method: linear, direction: lower, floor: 1, target: 0, cap: 120, weight: 30%}
gates:
  - {id: g, when: a < 90%, cap_total: 60}
grades: [{grade: A, min: 90}, {grade: B, min: 75}, {grade: C}]
"""


def _compare(ruleset, frame):
    col = run_columnar(ruleset, frame, None, None, None, strict=False)
    row = evaluate(ruleset, frame.to_dicts() if hasattr(frame, "to_dicts") else frame, engine="row")
    assert [(r.subject, r.total, r.grade, r.rank) for r in col.results] == [
        (r.subject, r.total, r.grade, r.rank) for r in row.results
    ]
    for a, b in zip(col.results, row.results, strict=True):
        assert [(k.score, k.contribution, k.effective_weight) for k in a.kpis] == [
            (k.score, k.contribution, k.effective_weight) for k in b.kpis
        ]
    return col


def test_magnitudes_near_the_int64_edge_match_the_row_path():
    """An undeclared input near 2**62 defeats the static proof; the checked path keeps every digit."""
    ruleset = parse_ruleset(W1)
    frame = pl.DataFrame(
        {
            "subject": ["r1", "r2", "r3", "r4"],
            "period": ["2026-03"] * 4,
            "a": ["0.95", "1.5", "0.5", "2"],
            "b": [2**62 // 3, 0, -(2**61), 1],
        },
        schema_overrides={"b": pl.Int64},
    )
    col = _compare(ruleset, frame)
    assert col.result("r1").kpi("kb").score == 0  # (1 − huge) × 100 clipped at 0, exactly
    assert col.result("r3").kpi("kb").score == 120


def test_typed_and_text_inputs_agree_on_ties_and_bounds():
    """Values on clip bounds, grade bounds and ties give the same appraisal from text and decimal128 columns."""
    ruleset = parse_ruleset(W1)
    text = pl.DataFrame(
        {
            "subject": ["a", "b", "c", "d", "e"],
            "period": ["2026-03"] * 5,
            "a": ["1.2", "0.9", "0.8999", "1.2000", "0"],
            "b": ["-0.2", "0.1", "1", "-0.2", "0.5"],
        }
    )
    typed = text.with_columns(pl.col("a").cast(pl.Decimal(10, 4)), pl.col("b").cast(pl.Decimal(10, 4)))
    from_text = _compare(ruleset, text)
    from_typed = run_columnar(ruleset, typed, None, None, None, strict=False)
    assert from_text.results == from_typed.results
    assert from_text.result("a").rank == from_text.result("d").rank == 1  # a tie shares the rank
    assert from_text.result("c").total == 60  # 0.8999 < 90 %: the gate caps the total
