import contextlib
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import exact_decimals

from kpi_engine.expr import parse_expression

NAMES = {"a": "number", "b": "number", "c": "number"}
numbers = st.one_of(st.sampled_from(["a", "b", "c"]), exact_decimals("0", "100", 2).map(str), st.just("50%"))


def _expr(children):
    arith = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )
    call = st.tuples(st.sampled_from(["min", "max"]), children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})")
    absolute = children.map(lambda x: f"abs({x})")
    cond = st.tuples(children, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), children, children, children).map(
        lambda t: f"({t[3]} if {t[0]} {t[1]} {t[2]} else {t[4]})"
    )
    return st.one_of(arith, call, absolute, cond)


expressions = st.recursive(numbers, _expr, max_leaves=12)
conditions = st.tuples(expressions, st.sampled_from(["<", ">=", "=="]), expressions, st.sampled_from(["and", "or"]),
                       expressions, expressions).map(lambda t: f"({t[0]} {t[1]} {t[2]}) {t[3]} not ({t[4]} > {t[5]})")  # fmt: skip
env_values = st.one_of(st.none(), exact_decimals("-20", "20", 2), st.just(Decimal(0)))


@given(expressions, env_values, env_values, env_values)
def test_compiled_and_reference_evaluators_agree_on_numbers(text, a, b, c):
    """The compiled fast path and the simpleeval oracle give the same value (N/A included)."""
    e = parse_expression(text, NAMES)
    env = {"a": a, "b": b, "c": c}
    assert e.evaluate(env) == e.evaluate_reference(env)


@given(conditions, env_values, env_values, env_values)
def test_compiled_and_reference_evaluators_agree_on_conditions(text, a, b, c):
    """Both evaluators agree on three-valued conditions."""
    e = parse_expression(text, NAMES)
    env = {"a": a, "b": b, "c": c}
    assert e.evaluate(env) == e.evaluate_reference(env)


@given(st.text(max_size=60))
def test_arbitrary_text_either_parses_or_raises_expression_error(text):
    """Any input gives a checked expression or an ExpressionError — never another exception."""
    from kpi_engine.errors import ExpressionError

    with contextlib.suppress(ExpressionError):
        parse_expression(text, NAMES)
