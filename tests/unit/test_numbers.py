from decimal import Decimal

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
