"""Event filters translated into Polars decide every event as the exact expression evaluator does."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine.expr import parse_expression

pl = pytest.importorskip("polars")
pytest.importorskip("numpy")

from kpi_engine.evaluation.columnar._events import _SPACE  # noqa: E402 - after the optional-extra skip
from kpi_engine.evaluation.columnar._filters import Field, translate  # noqa: E402

TYPES = {
    "type": "text",
    "customer": "text",
    "gone_text": "text",
    "amount": "number",
    "score": "number",
    "gone_number": "number",
    "flag": "bool",
    "gone_flag": "bool",
}
TEXTS = [None, "", "  ", "visit", " visit", "visit ", "call", "\x1c", "Visit"]
# Literals at and around the data's values, with many places, beyond int64 once scaled, negative.
NUMBERS = ["0", "1", "1.5", "1.50", "2.005", "2.0049999999", "-3", "-0.001", "0.00000001", "99", "1e30", "-1e30"]


def _literal(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    """One comparison of the translated subset (or a bare bool), literals on either side."""
    kind = draw(st.sampled_from(["text", "number", "number_chain", "bool", "fields"]))
    if kind == "text":
        field = draw(st.sampled_from(["type", "customer", "gone_text"]))
        op = draw(st.sampled_from(["==", "!="]))
        literal = repr(draw(st.sampled_from(["visit", "call", " visit", "", "x"])))
        return f"{literal} {op} {field}" if draw(st.booleans()) else f"{field} {op} {literal}"
    if kind in {"number", "number_chain"}:
        field = draw(st.sampled_from(["amount", "score", "gone_number"]))
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        literal = _literal(draw(st.sampled_from(NUMBERS)))
        if kind == "number_chain":
            high = _literal(draw(st.sampled_from(NUMBERS)))
            return f"{literal} {op} {field} {draw(st.sampled_from(['<', '<=', '==']))} {high}"
        return f"{literal} {op} {field}" if draw(st.booleans()) else f"{field} {op} {literal}"
    if kind == "bool":
        return draw(st.sampled_from(["flag", "not flag", "flag == true", "false != gone_flag", "true"]))
    return draw(st.sampled_from(["type == customer", "type != gone_text", "amount < score", "flag == gone_flag"]))


def filters() -> st.SearchStrategy[str]:
    """Random filters of the translated subset: comparisons combined with and/or/not."""
    return st.recursive(
        comparisons(),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
            inner.map(lambda x: f"not ({x})"),
        ),
        max_leaves=4,
    )


@st.composite
def events(draw: st.DrawFn) -> tuple[int, list[dict[str, object]]]:
    """Rows of events whose numbers have at most ``scale`` places (the column's scale), with blanks."""
    scale = draw(st.integers(0, 8))
    unit = Decimal(1).scaleb(-scale)
    small = [Decimal(v) for v in NUMBERS if abs(Decimal(v)) < 10**9]
    values = [v for v in small if v == v.quantize(unit)]
    number = st.none() | st.sampled_from(values) | st.integers(-(10**9), 10**9).map(lambda i: Decimal(i) * unit)
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(TEXTS),
                    "customer": st.sampled_from(TEXTS),
                    "amount": number,
                    "score": number,
                    "flag": st.sampled_from([None, True, False]),
                }
            ),
            min_size=1,
            max_size=25,
        )
    )
    return scale, rows


def _fields(scale: int, rows: list[dict[str, object]]) -> tuple[object, dict[str, Field]]:
    den = 10**scale
    frame = pl.DataFrame(
        {
            "type": [r["type"] for r in rows],
            "customer": [r["customer"] for r in rows],
            "amount": [None if r["amount"] is None else int(r["amount"] * den) for r in rows],
            "score": [None if r["score"] is None else int(r["score"] * den) for r in rows],
            "flag": [r["flag"] for r in rows],
        },
        schema={"type": pl.Utf8, "customer": pl.Utf8, "amount": pl.Int64, "score": pl.Int64, "flag": pl.Boolean},
    )

    def text(name: str) -> Field:  # as the kernel reads text: the cell as written, null where blank
        return Field(pl.when(pl.col(name).str.strip_chars(_SPACE) != "").then(pl.col(name)), "text")

    fields = {
        "type": text("type"),
        "customer": text("customer"),
        "gone_text": Field(pl.lit(None, dtype=pl.Utf8), "text"),
        "amount": Field(pl.col("amount"), "number", den),
        "score": Field(pl.col("score"), "number", den),
        "gone_number": Field(pl.lit(None, dtype=pl.Int64), "number"),
        "flag": Field(pl.col("flag"), "bool"),
        "gone_flag": Field(pl.lit(None, dtype=pl.Boolean), "bool"),
    }
    return frame, fields


def _row_env(row: dict[str, object]) -> dict[str, object]:
    """The row path's view of an event: blank text is N/A (None), missing fields are N/A."""
    env: dict[str, object] = dict.fromkeys(TYPES)
    for name in ("type", "customer"):
        v = row[name]
        env[name] = None if v is None or not str(v).strip() else v
    env.update(amount=row["amount"], score=row["score"], flag=row["flag"])
    return env


@given(filters(), events())
@settings(max_examples=200)
def test_translated_filter_agrees_with_the_exact_evaluator(text, data):
    """Each translated filter gives every event the evaluator's true, false or N/A."""
    scale, rows = data
    expr = parse_expression(text, TYPES, "bool")
    frame, fields = _fields(scale, rows)
    translated = translate(expr.node, fields)
    assert translated is not None, text
    got = frame.with_columns(translated.alias("\0f"))["\0f"].to_list()  # a literal filter broadcasts
    want = [expr.evaluate(_row_env(r)) for r in rows]
    assert got == want, (text, rows)


@pytest.mark.parametrize(
    "text",
    ["amount + 1 > 2", "amount * 2 == score", "(type if flag else customer) == 'x'", "round(amount) == 1"],
)
def test_arithmetic_and_conditionals_are_left_to_the_exact_kernel(text):
    """Filters outside the translated subset are not translated (the exact NumPy kernel evaluates them)."""
    _, fields = _fields(2, [{"type": None, "customer": None, "amount": None, "score": None, "flag": None}])
    assert translate(parse_expression(text, TYPES, "bool").node, fields) is None


def test_numbers_of_different_scales_are_left_to_the_exact_kernel():
    """Two number fields over different denominators are not compared in Polars."""
    _, fields = _fields(2, [{"type": None, "customer": None, "amount": None, "score": None, "flag": None}])
    fields["score"] = Field(pl.col("score"), "number", 1000)
    assert translate(parse_expression("amount < score", TYPES, "bool").node, fields) is None


def test_a_literal_between_two_scaled_integers_is_decided_by_its_floor_and_ceiling():
    """``amount >= 2.005`` on cents counts 2.01 and not 2.00; ``== 2.005`` is false, N/A stays N/A."""
    frame = pl.DataFrame({"amount": [200, 201, None]}, schema={"amount": pl.Int64})
    field = {"amount": Field(pl.col("amount"), "number", 100)}
    types = {"amount": "number"}

    def run(text: str) -> list[object]:
        return frame.select(translate(parse_expression(text, types, "bool").node, field)).to_series().to_list()

    assert run("amount >= 2.005") == [False, True, None]
    assert run("amount < 2.005") == [True, False, None]
    assert run("amount == 2.005") == [False, False, None]
    assert run("amount != 2.005") == [True, True, None]
    assert run("amount < 1e30") == [True, True, None]
