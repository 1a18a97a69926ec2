from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_engine import _numbers as num
from kpi_engine import evaluate, parse_ruleset

LONG = Decimal("1234567890123456789012345678901234567.5")  # 38 digits: a valid input (< 60 characters)


def test_negation_and_absolute_value_are_exact_beyond_34_digits():
    """Unary minus and abs of a 38-digit input are exact, not an Inexact signal."""
    assert num.neg(LONG) == LONG.copy_negate()
    assert num.absolute(LONG.copy_negate()) == LONG
    assert str(num.neg(Decimal("0.00"))) == "0.00"


def test_formula_negating_a_long_input_evaluates():
    """A formula '-x' over a long input reports the exact negation."""
    rs = parse_ruleset(
        'ruleset: t\nversion: "1"\ntitle: t\n'
        "inputs:\n  x: {type: number}\n"
        "metrics:\n  negx: {formula: -x}\n  absx: {formula: abs(negx)}\n"
        "kpis:\n  - {id: k, metric: x, method: linear, floor: 0, target: 100, weight: 100%}\n"
        "report: [negx, absx]\n"
    )
    r = evaluate(rs, [{"subject": "a", "period": "2026-03", "x": str(LONG)}]).result("a")
    assert r.metrics == {"negx": LONG.copy_negate(), "absx": LONG}


def test_a_long_percent_is_parsed_exactly():
    """'33.3333333333333333333333333333333335%' is exactly 0.333333333333333333333333333333333335, not 34 digits."""
    assert num.parse_decimal("33.3333333333333333333333333333333335%") == Decimal(
        "0.333333333333333333333333333333333335"
    )


def test_a_threshold_decides_the_same_on_a_percent_and_its_decimal():
    """A record value given as a long percent passes the threshold its exact decimal passes."""
    rs = parse_ruleset(
        'ruleset: t\nversion: "1"\ntitle: t\n'
        "inputs:\n  r: {type: ratio}\n"
        'kpis:\n  - {id: k, metric: r, method: threshold, target: "0.333333333333333333333333333333333335", '
        "weight: 100%}\n"
    )
    for value in ("33.3333333333333333333333333333333335%", "0.333333333333333333333333333333333335"):
        r = evaluate(rs, [{"subject": "a", "period": "2026-03", "r": value}]).result("a")
        assert r.kpi("k").score == 100, value


def test_a_long_finite_decimal_is_written_exactly():
    """x + 1 on a 38-digit input is written with every digit (a finite decimal is never shown to 34 digits)."""
    rs = parse_ruleset(
        'ruleset: t\nversion: "1"\ntitle: t\n'
        "inputs:\n  x: {type: number}\n"
        "metrics:\n  x1: {formula: x + 1}\n"
        "kpis:\n  - {id: k, metric: x1, method: threshold, target: 1, weight: 100%}\n"
        "report: [x1]\n"
    )
    appraisal = evaluate(rs, [{"subject": "a", "period": "2026-03", "x": str(LONG)}])
    data = appraisal.to_dict()["results"][0]
    assert data["metrics"]["x1"] == data["kpis"][0]["value"] == "1234567890123456789012345678901234568.5"
    assert num.canonical(Fraction(1, 3)) == "0." + "3" * 34  # no finite expansion: 34 significant digits


def test_thousands_separators_are_read_in_data_cells_only():
    """1,200 and 1,234,567.89 are numbers in a data cell; a ruleset's or expression's number has no separator."""
    assert num.parse_decimal("1,200", grouped=True) == Decimal(1200)
    assert num.parse_decimal("-1,234,567.89", grouped=True) == Decimal("-1234567.89")
    assert num.parse_decimal("1，200", grouped=True) == Decimal(1200)  # a full-width comma
    assert num.parse_decimal("12,345%", grouped=True) == Decimal("123.45")
    with pytest.raises(num.NumberFormatError):
        num.parse_decimal("1,200")


@pytest.mark.parametrize(
    ("text", "hint"),
    [("1,20", "(1.20)"), ("3,5", "(3.5)"), ("1.234,56", "(1234.56)"), ("12,34,567", "three digits"),
     ("1,2345", "three digits"), ("1,200.5,1", "three digits")],
)  # fmt: skip
def test_a_comma_that_is_no_thousands_separator_is_refused_with_a_hint(text, hint):
    """A decimal comma or a misplaced group is refused, naming how to write the number."""
    with pytest.raises(num.NumberFormatError, match="is not a number") as info:
        num.parse_decimal(text, grouped=True)
    assert hint in str(info.value)
