"""The float rule: a float stands for the short decimal it was made from, or is refused (issue 7)."""

import math
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kpi_engine._numbers import FLOAT_DIGITS, NumberFormatError, float_text

short_decimals = st.builds(
    lambda digits, exponent, negative: Decimal((int(negative), tuple(int(d) for d in digits), exponent)),
    st.text("0123456789", min_size=1, max_size=FLOAT_DIGITS),
    st.integers(-20, 10),
    st.booleans(),
)


@given(short_decimals)
def test_a_short_decimal_survives_the_trip_through_a_double(value):
    """Any decimal of at most 15 significant digits, made a float, reads back as the same decimal."""
    assert Decimal(float_text(float(value))) == value


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_is_read_exactly_as_its_repr_or_refused(value):
    """A float is either its shortest repr's decimal (≤ 15 digits, the nearest double to it) or refused."""
    try:
        text = float_text(value)
    except NumberFormatError:
        assert (
            math.isnan(value)
            or abs(value) == float("inf")
            or len(repr(value).split("e")[0].strip("-0.").replace(".", "")) > FLOAT_DIGITS
        )
        return
    assert float(text) == value
    assert len(Decimal(text).normalize().as_tuple().digits) <= FLOAT_DIGITS or Decimal(text) == 0
