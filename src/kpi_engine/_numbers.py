"""Exact decimal arithmetic: the fixed context, parsing of text numbers and percents, rounding.

No binary float ever enters a quantity: text is parsed straight to ``Decimal``; ``float``
inputs are refused because their digits are already lost.

The caller's decimal context is never read nor changed. Every public entry point computes inside
``exact()`` (a thread-local copy of ``CONTEXT`` installed with ``decimal.localcontext``), and the
helpers here (``parse_decimal``, ``quantize``, ``canonical``) do not depend on any context. ``CONTEXT``
itself is a template that is never computed with, so no thread records flags on a shared object.
Magnitudes are bounded (``Emax``/``Emin``, with ``Overflow`` and ``Underflow`` trapped): a value
beyond 1e±999 is an error rather than a thousand-digit number or a silent zero.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
    Underflow,
    getcontext,
    localcontext,
)
from typing import ParamSpec, TypeVar

# 34 significant digits (IEEE decimal128): more than the 28 DOMAIN §3 asks for.
CONTEXT = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    Emax=999,
    Emin=-999,
    traps=[InvalidOperation, DivisionByZero, Overflow, Underflow],
)
_ACTIVE: ContextVar[bool] = ContextVar("kpi_engine_exact", default=False)
_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextmanager
def exact() -> Iterator[Context]:
    """Compute in a private copy of ``CONTEXT`` (re-entrant; the caller's context is restored after).

    Decimal operators inside use it; the caller's ``getcontext()`` is neither read nor changed,
    in whatever thread this runs.
    """
    if _ACTIVE.get():
        yield getcontext()
        return
    token = _ACTIVE.set(True)
    try:
        with localcontext(CONTEXT) as ctx:
            yield ctx
    finally:
        _ACTIVE.reset(token)


def in_exact() -> bool:
    """True inside ``exact()`` (a cheap check for hot public methods)."""
    return _ACTIVE.get()


def exactly(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a public entry point so that it runs inside ``exact()``."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if _ACTIVE.get():
            return fn(*args, **kwargs)
        with exact():
            return fn(*args, **kwargs)

    return wrapper


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
MAX_DIGITS = 60  # characters of a number written in text (records, rulesets, expressions)
MAX_EXPONENT = 100  # |adjusted exponent| of a number written in text
_MAX_INT_BITS = 336  # 2**336 ≈ 1.4e101: every int within 1e±100 fits


class NumberFormatError(ValueError):
    """Text is not an exact decimal number (or percent)."""


def parse_decimal(text: str, *, allow_percent: bool = True) -> Decimal:
    """Parse ``"12.50"``, ``"-3"``, ``"1e3"`` or (if allowed) ``"90%"`` into an exact ``Decimal``.

    Raises:
        NumberFormatError: for anything else, including ``NaN``, ``inf`` and over-long digit strings.
    """
    s = text.strip().replace("_", "") if "_" in text else text.strip()
    if len(s) > MAX_DIGITS:
        msg = f"number {text[:20]!r}... is too long"
        raise NumberFormatError(msg)
    if allow_percent:
        m = _PERCENT.fullmatch(s)
        if m:
            return Decimal(f"{m.group(1)}e-2")  # exact, whatever the context
    if not _NUMBER.fullmatch(s):
        msg = f"{text!r} is not a number"
        raise NumberFormatError(msg)
    value = Decimal(s)
    if abs(value.adjusted()) > MAX_EXPONENT:
        msg = f"{text!r} is out of range"
        raise NumberFormatError(msg)
    return value


def to_decimal(value: object, *, allow_percent: bool = True) -> Decimal:
    """Convert an int, Decimal or numeric text to ``Decimal``; refuse floats, bools and NaN."""
    if isinstance(value, bool):
        msg = f"expected a number, got {value!r}"
        raise NumberFormatError(msg)
    if isinstance(value, Decimal):
        if not value.is_finite():
            msg = f"{value} is not a finite number"
            raise NumberFormatError(msg)
        if value and abs(value.adjusted()) > MAX_EXPONENT:  # the bound text numbers have, for API values too
            msg = f"{value:.3e} is out of range (beyond 1e±{MAX_EXPONENT})"
            raise NumberFormatError(msg)
        return value
    if isinstance(value, int):
        if value.bit_length() > _MAX_INT_BITS:
            msg = f"an integer of {value.bit_length()} bits is out of range (beyond 1e{MAX_EXPONENT})"
            raise NumberFormatError(msg)
        return Decimal(value)
    if isinstance(value, float):
        msg = f"binary float {value!r} is not accepted: give the number as text or Decimal so no digit is lost"
        raise NumberFormatError(msg)
    if isinstance(value, str):
        return parse_decimal(value, allow_percent=allow_percent)
    msg = f"expected a number, got {type(value).__name__}"
    raise NumberFormatError(msg)


def quantize(value: Decimal, places: int, mode: str) -> Decimal:
    """Round ``value`` to ``places`` decimals with a mode named in ``ROUNDING_MODES``.

    Exact whatever the size of ``value`` (the precision used grows with its integer digits) and
    whatever the caller's context.
    """
    return _quantize(value, places, ROUNDING_MODES[mode])


_EXPONENTS = {n: Decimal(1).scaleb(-n) for n in range(-64, 65)}


def _quantize(value: Decimal, places: int, rounding: str) -> Decimal:
    exp = _EXPONENTS.get(places) or Decimal(f"1e{-places}")
    digits = max(value.adjusted(), 0) + places + 2  # integer digits, places and a carry
    ctx = Context(prec=max(digits, 34), rounding=rounding, Emax=999_999, Emin=-999_999, traps=[InvalidOperation])
    return value.quantize(exp, context=ctx)


def round_half_up(value: Decimal, places: int) -> Decimal:
    """``round(x, n)`` in expressions: half-up, as appraisal tables round; exact for any size of ``x``."""
    return _quantize(value, places, ROUND_HALF_UP)


def canonical(value: Decimal) -> str:
    """Canonical text of an exact value: no exponent, no trailing zeros (``0.90`` → ``0.9``)."""
    if not value:
        return "0"
    text = format(value, "f")  # no rounding: every digit of value, whatever the context
    return text.rstrip("0").rstrip(".") if "." in text else text
