"""Exact decimal arithmetic: the fixed context, parsing of text numbers and percents, rounding.

No binary float ever enters a quantity: text is parsed straight to ``Decimal``. A ``float``
cell (from a data frame, Arrow, Excel or Python rows) is read through its shortest repr, and only
when that repr has at most 15 significant digits: every decimal of 15 digits or fewer survives the
trip to a double and back, so such a float stands for exactly one short decimal (``0.1`` → 0.1).
A float needing 16-17 digits (``0.1 + 0.2``), NaN or infinity is refused (``float_text``).
"""

from __future__ import annotations

import re
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

# 34 significant digits (IEEE decimal128): more than the 28 DOMAIN §3 asks for.
CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)

ROUNDING_MODES: dict[str, str] = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "half_down": ROUND_HALF_DOWN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PERCENT = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%")
_MAX_DIGITS = 60
_MAX_EXPONENT = 100


class NumberFormatError(ValueError):
    """Text is not an exact decimal number (or percent)."""


def parse_decimal(text: str, *, allow_percent: bool = True) -> Decimal:
    """Parse ``"12.50"``, ``"-3"``, ``"1e3"`` or (if allowed) ``"90%"`` into an exact ``Decimal``.

    Raises:
        NumberFormatError: for anything else, including ``NaN``, ``inf`` and over-long digit strings.
    """
    s = text.strip().replace("_", "") if "_" in text else text.strip()
    if len(s) > _MAX_DIGITS:
        msg = f"number {text[:20]!r}... is too long"
        raise NumberFormatError(msg)
    if allow_percent:
        m = _PERCENT.fullmatch(s)
        if m:
            return CONTEXT.divide(Decimal(m.group(1)), HUNDRED)
    if not _NUMBER.fullmatch(s):
        msg = f"{text!r} is not a number"
        raise NumberFormatError(msg)
    value = Decimal(s)
    if abs(value.adjusted()) > _MAX_EXPONENT:
        msg = f"{text!r} is out of range"
        raise NumberFormatError(msg)
    return value


FLOAT_DIGITS = 15  # DBL_DIG: decimals of up to 15 significant digits round-trip through a double


def float_text(value: float) -> str:
    """The exact decimal text a binary float stands for, by its shortest repr.

    Raises:
        NumberFormatError: for NaN, infinities, and floats whose shortest repr needs more than
            15 significant digits (the float is not the image of a short decimal: ``0.1 + 0.2``).
    """
    if value != value or value in {float("inf"), float("-inf")}:  # noqa: PLR0124 - NaN test without math
        msg = f"{value!r} is not a finite number"
        raise NumberFormatError(msg)
    text = repr(value)
    significant = text.split("e")[0].lstrip("-").replace(".", "").strip("0")
    if len(significant) > FLOAT_DIGITS:
        msg = (
            f"binary float {value!r} is not a short decimal (its shortest form needs more than {FLOAT_DIGITS} digits): "
            "give the number as text or Decimal so no digit is lost"
        )
        raise NumberFormatError(msg)
    return text.removesuffix(".0")


def to_decimal(value: object, *, allow_percent: bool = True) -> Decimal:
    """Convert an int, Decimal or numeric text to ``Decimal``; refuse floats, bools and NaN."""
    if isinstance(value, bool):
        msg = f"expected a number, got {value!r}"
        raise NumberFormatError(msg)
    if isinstance(value, Decimal):
        if not value.is_finite():
            msg = f"{value} is not a finite number"
            raise NumberFormatError(msg)
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        msg = f"binary float {value!r} is not accepted: give the number as text or Decimal so no digit is lost"
        raise NumberFormatError(msg)
    if isinstance(value, str):
        return parse_decimal(value, allow_percent=allow_percent)
    msg = f"expected a number, got {type(value).__name__}"
    raise NumberFormatError(msg)


def quantize(value: Decimal, places: int, mode: str) -> Decimal:
    """Round ``value`` to ``places`` decimals with a mode named in ``ROUNDING_MODES``."""
    exp = Decimal(1).scaleb(-places)
    return value.quantize(exp, rounding=ROUNDING_MODES[mode], context=CONTEXT)


def canonical(value: Decimal) -> str:
    """Canonical text of an exact value: no exponent, no trailing zeros (``0.90`` → ``0.9``)."""
    if value == 0:
        return "0"
    return format(value.normalize(CONTEXT), "f")
