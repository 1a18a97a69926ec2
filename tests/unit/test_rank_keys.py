"""Exact rank keys (plan.ops.ranks.rank_key): text order is value order, equal text exactly for equal values."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_engine._columns import Ctx, Num
from kpi_engine.plan.ops.ranks import rank_key, rank_keys, ranks_row

rationals = st.fractions(max_denominator=10**30) | st.decimals(allow_nan=False, allow_infinity=False, places=6).map(
    Fraction
)


@given(st.lists(rationals, min_size=2, max_size=40))
def test_keys_sort_as_the_values_and_tie_exactly_when_equal(values):
    keys = [rank_key(v) for v in values]
    assert sorted(values) == sorted(values, key=rank_key)
    for a, ka in zip(values, keys, strict=True):
        for b, kb in zip(values, keys, strict=True):
            assert (ka < kb) == (a < b)
            assert (ka == kb) == (a == b)


@given(rationals, rationals)
def test_keys_of_huge_denominators_still_separate_neighbours(a, b):
    tiny = Fraction(1, 10**60 + 7)
    assert rank_key(a) < rank_key(a + tiny)
    assert (rank_key(a) < rank_key(b)) == (a < b)


def test_the_same_value_in_any_form_has_one_key():
    assert rank_key(Decimal("0.50")) == rank_key(Fraction(1, 2)) == rank_key(Decimal("0.5"))
    assert rank_key(Decimal(-3)) == rank_key(Fraction(-6, 2))
    assert rank_key(None) is None
    assert rank_key(Decimal(0)) < rank_key(Fraction(1, 10**40)) < rank_key(Decimal(1))
    assert rank_key(Decimal("-0.001")) < rank_key(Decimal(0))


def test_keys_are_ascii():
    for v in (Fraction(-355, 113), Decimal("87.345"), Fraction(10**50, 3)):
        assert rank_key(v).isascii()


def test_a_non_number_has_no_key():
    with pytest.raises(ValueError, match="number"):
        rank_key("high")
    with pytest.raises(ValueError, match="number"):
        rank_key(value=True)


def test_ranking_by_the_keys_gives_the_row_kernels_competition_ranks():
    values = [Decimal("90.5"), Fraction(181, 2), Decimal(70), None, Fraction(1, 3), Decimal("70.000")]
    entries = [(f"s{i}", None, v) for i, v in enumerate(values)]
    expected, _ = ranks_row(entries, lower_first=False)
    keyed = sorted(((rank_key(v), s) for s, _, v in entries if v is not None), reverse=True)
    got, previous = {}, None
    for position, (k, s) in enumerate(keyed, start=1):
        got[s] = got[keyed[position - 2][1]] if previous == k else position
        previous = k
    assert got == expected


def test_the_column_kernel_gives_the_same_keys_by_row():
    import numpy as np

    col = Num(np.array([1, 3, 5, -2]), np.array([2, 6, 1, 3]), np.array([False, False, False, True]))
    assert rank_keys(Ctx(4), col) == [rank_key(Fraction(1, 2)), rank_key(Fraction(1, 2)), rank_key(5), None]
