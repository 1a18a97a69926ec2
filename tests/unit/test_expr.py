from decimal import Decimal

import pytest

from kpi_engine.errors import ExpressionError
from kpi_engine.expr import parse_expression

NAMES = {"a": "number", "b": "number", "kind": "text", "flag": "bool"}


def ev(text, **env):
    return parse_expression(text, NAMES).evaluate(env)


def test_decimal_literals_are_exact():
    """0.1 + 0.2 equals 0.3 exactly."""
    assert ev("0.1 + 0.2 == 0.3") is True


def test_percent_literal_is_exactly_a_ratio():
    """90% is exactly 0.9, and a value of 0.9 passes >= 90%."""
    assert ev("a >= 90%", a=Decimal("0.9")) is True
    assert ev("90%") == Decimal("0.9")


def test_division_by_zero_is_not_applicable():
    """A zero denominator gives N/A (None), never 0 and never a crash."""
    assert ev("a / b", a=Decimal(1), b=Decimal(0)) is None


def test_na_propagates_through_arithmetic_and_comparison():
    """N/A in arithmetic or a comparison stays N/A."""
    assert ev("a + 1", a=None) is None
    assert ev("a > 1", a=None) is None


def test_kleene_logic_lets_false_decide_an_and():
    """'false and N/A' is false, 'true or N/A' is true, 'true and N/A' is N/A."""
    assert ev("a > 1 and b > 1", a=Decimal(0), b=None) is False
    assert ev("a > 1 or b > 1", a=Decimal(2), b=None) is True
    assert ev("a > 1 and b > 1", a=Decimal(2), b=None) is None


def test_functions_and_conditionals():
    """min, max, abs, round (half-up) and if-else work on decimals."""
    assert ev("max(a, b) - min(a, b)", a=Decimal(3), b=Decimal(5)) == 2
    assert ev("abs(a)", a=Decimal(-2)) == 2
    assert ev("round(a, 1)", a=Decimal("0.25")) == Decimal("0.3")
    assert ev("1 if kind == 'visit' else 0", kind="visit") == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os')", "not allowed"),
        ("a.real", "attribute access"),
        ("[x for x in a]", "comprehension"),
        ("a[0]", "indexing"),
        ("lambda: 1", "lambda"),
        ("a ** 100000", "exponent"),
        ("a % 2", "'%'"),
        ("'x' * 3", "needs numbers"),
        ("open('f')", "not allowed"),
        ("(a := 1)", "assignment"),
        ("a and b", "needs conditions"),
        ("'x' < 'y'", "compares numbers"),
    ],
)
def test_hostile_or_mistyped_expressions_are_refused(text, fragment):
    """Everything outside the safe, typed subset is an ExpressionError naming why."""
    with pytest.raises(ExpressionError, match=fragment):
        parse_expression(text, NAMES)


def test_unknown_name_suggests_the_closest():
    """A misspelt name is reported with a did-you-mean suggestion and its column."""
    with pytest.raises(ExpressionError) as info:
        parse_expression("1 + aa_rate", {"aa_rates": "number"})
    assert info.value.suggestion == "did you mean 'aa_rates'?"
    assert info.value.column == 5


def test_length_and_nesting_are_bounded():
    """Over-long or over-nested expressions are refused quickly."""
    with pytest.raises(ExpressionError, match="longer"):
        parse_expression("a + " * 1000 + "a", NAMES)
    with pytest.raises(ExpressionError, match="nested"):
        parse_expression("abs(" * 60 + "a" + ")" * 60, NAMES)


def test_result_type_is_checked():
    """An expression that must give a bool but gives a number is refused."""
    with pytest.raises(ExpressionError, match="must give a bool"):
        parse_expression("a + 1", NAMES, "bool")
