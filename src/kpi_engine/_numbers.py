"""Exact arithmetic: parsing of text numbers and percents, exact operations, correct rounding.

No binary float ever enters a quantity: text is parsed straight to ``Decimal``. A ``float``
cell (from a data frame, Arrow, Excel or Python rows) is read through its shortest repr, and only
when that repr has at most 15 significant digits: every decimal of 15 digits or fewer survives the
trip to a double and back, so such a float stands for exactly one short decimal (``0.1`` → 0.1).
A float needing 16-17 digits (``0.1 + 0.2``), NaN or infinity is refused (``float_text``).

Every quantity is an exact rational held as a ``Number``: a ``Decimal`` while the value has a
short decimal expansion (the common case, computed at C speed) and a ``Fraction`` as soon as an
operation's exact result would need rounding (``1/3``, a 70-digit product). The ``add``, ``sub``,
``mul``, ``div``, ``power`` and ``mean`` functions below try the operation in a context that
*traps* ``Inexact`` and fall back to ``Fraction`` arithmetic when it fires, so no operation ever
rounds. Rounding happens once, in ``quantize``, where a number is reported; comparisons between
``Decimal`` and ``Fraction`` are exact in Python. The library never reads or changes the
caller's decimal context: every operation names its context explicitly, and every public entry
point also runs inside ``exact()`` (a thread-local copy of ``CONTEXT`` installed with
``decimal.localcontext``), so that any operator on a ``Decimal`` that is left in the code uses the
library's context, never the caller's, in whatever thread.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
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
    Inexact,
    InvalidOperation,
    Overflow,
    Underflow,
    getcontext,
    localcontext,
)
from fractions import Fraction
from typing import Any, ParamSpec, TypeGuard, TypeVar

# 34 significant digits (IEEE decimal128): more than the 28 DOMAIN §3 asks for. Used for parsing,
# reporting and displaying a Fraction; never for a decision.
CONTEXT = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    Emax=999,
    Emin=-999,
    traps=[InvalidOperation, DivisionByZero, Overflow, Underflow],
)
# The exact context: any operation whose result would be rounded raises Inexact instead. Its
# flags are never read (a trap decides), so sharing it between threads is safe.
# Magnitudes are bounded: a result beyond 1e±999 signals Overflow/Underflow (an error, never a
# thousand-digit number or a silent zero); the Fraction path applies the same bound in ``settle``.
EXACT = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    Emax=999,
    Emin=-999,
    traps=[Inexact, InvalidOperation, DivisionByZero, Overflow, Underflow],
)
_MAX_BITS = 3319  # 2**3319 < 1e999 < 2**3320: the bound of EXACT, in bits
_WIDE = Context(prec=100_000, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])

Number = Decimal | Fraction
_MAX_SETTLED = 10**34
_ACTIVE: ContextVar[bool] = ContextVar("kpi_engine_exact", default=False)
_OWN: ContextVar[Context | None] = ContextVar("kpi_engine_context", default=None)
_P = ParamSpec("_P")
_R = TypeVar("_R")
_K = TypeVar("_K")


class _Exact:
    """The context manager ``exact()`` returns (a class: entered once per public call, kept cheap)."""

    __slots__ = ("_active", "_manager", "_own")

    def __enter__(self) -> Context:
        if _ACTIVE.get():  # re-entered: the library's context is already the current one
            self._manager = None
            return getcontext()
        self._active = _ACTIVE.set(True)
        try:
            self._manager = localcontext(CONTEXT)
            ctx = self._manager.__enter__()
            self._own = _OWN.set(ctx)
        except BaseException:
            _ACTIVE.reset(self._active)
            raise
        return ctx

    def __exit__(self, *exc: object) -> None:
        if self._manager is None:
            return
        try:
            _OWN.reset(self._own)
            self._manager.__exit__(None, None, None)
        finally:
            _ACTIVE.reset(self._active)


def exact() -> AbstractContextManager[Context]:
    """Compute in a private copy of ``CONTEXT`` (re-entrant; the caller's context is restored after).

    Decimal operators inside use it; the caller's ``getcontext()`` is neither read nor changed,
    in whatever thread this runs.
    """
    return _Exact()


def in_exact() -> bool:
    """True inside ``exact()`` (a cheap check for hot public methods)."""
    return _ACTIVE.get()


def own_context() -> Context | None:
    """The library's private context when it is the current one (inside ``exact()``), else ``None``.

    The hot loops of the row evaluator compute with plain operators in this context and then
    read its ``Inexact`` flag: the context has ``CONTEXT``'s precision and range, so an operation
    that left the flag unset gave exactly what ``EXACT`` gives, and one that set it is redone
    exactly. ``None`` whenever the current context is not the one ``exact()`` installed (code
    called back by the library changed it, or no ``exact()`` is active): the caller's context is
    never read, and the exact functions are used instead.
    """
    own = _OWN.get()
    if own is None or getcontext() is not own:
        return None
    # Code called back (a progress callback) may have changed it in place: only as installed.
    if own.prec != CONTEXT.prec or own.Emax != CONTEXT.Emax or own.Emin != CONTEXT.Emin or own.clamp:
        return None
    return own


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


# Thousands separators as spreadsheets write them: groups of three digits after each comma.
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
# A decimal comma (1,5 or 1.234,56): never read, only named in the message.
_DECIMAL_COMMA = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+,\d+|\d+,\d{1,2})")


def _ungrouped(s: str, text: str) -> str:
    """``s`` without its thousands separators (``1,234,567.89`` → ``1234567.89``; a full-width ``，`` too).

    Raises:
        NumberFormatError: when a comma is not a thousands separator (``1,20``, ``1.234,56``, ``12,34,567``).
    """
    t = s.replace("\uff0c", ",")
    core, sign = (t[:-1].rstrip(), "%") if t.endswith("%") else (t, "")
    if _GROUPED.fullmatch(core):
        return core.replace(",", "") + sign
    if _DECIMAL_COMMA.fullmatch(core):
        point = core.replace(".", "").replace(",", ".")
        msg = (
            f"{text!r} is not a number: a comma only separates thousands (1,200); "
            f"if it is a decimal comma, write a decimal point ({point}{sign})"
        )
    else:
        msg = f"{text!r} is not a number: a thousands separator is followed by three digits (1,200 or 1,234,567.89)"
    raise NumberFormatError(msg)


def parse_decimal(text: str, *, allow_percent: bool = True, grouped: bool = False) -> Decimal:
    """Parse ``"12.50"``, ``"-3"``, ``"1e3"`` or (if allowed) ``"90%"`` into an exact ``Decimal``.

    With ``grouped`` (data cells), thousands separators are read where they are unambiguous:
    ``1,200`` and ``1,234,567.89``; any other comma (``1,20``, ``1.234,56``) is refused with a hint.

    Raises:
        NumberFormatError: for anything else, including ``NaN``, ``inf`` and over-long digit strings.
    """
    s = text.strip().replace("_", "") if "_" in text else text.strip()
    if len(s) > MAX_DIGITS:
        msg = f"number {text[:20]!r}... is too long"
        raise NumberFormatError(msg)
    if grouped and ("," in s or "\uff0c" in s):
        s = _ungrouped(s, text)
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


def to_decimal(value: object, *, allow_percent: bool = True, grouped: bool = False) -> Decimal:
    """Convert an int, Decimal or numeric text to ``Decimal``; refuse floats, bools and NaN.

    ``grouped``: read thousands separators in text, as ``parse_decimal`` does.
    """
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
        return parse_decimal(value, allow_percent=allow_percent, grouped=grouped)
    msg = f"expected a number, got {type(value).__name__}"
    raise NumberFormatError(msg)


# --- exact arithmetic ------------------------------------------------------------------------


def is_number(value: object) -> TypeGuard[Number]:
    """True for a ``Decimal`` or ``Fraction`` (the two forms of an exact quantity), not for bool or text."""
    kind = type(value)  # not isinstance: Fraction's ABC metaclass makes that slow on the hot path
    return kind is Decimal or kind is Fraction or isinstance(value, Decimal | Fraction)


def as_fraction(value: Number | int) -> Fraction:
    """The same value as a ``Fraction`` (exact for every finite ``Decimal``)."""
    if type(value) is Decimal:  # its exact ratio, already in lowest terms; no ABC checks in Fraction()
        return Fraction(*value.as_integer_ratio())
    return value if isinstance(value, Fraction) else Fraction(value)


def _coprime_maker() -> Callable[[int, int], Fraction]:
    """``Fraction(n, d)`` for ``n / d`` already in lowest terms with ``d > 0``, without normalising again.

    ``Fraction`` normalises in Python (a ``gcd`` and several checks, about 0.8 µs); a caller that
    has reduced its integers already builds the same object directly: ``Fraction._from_coprime_ints``
    where it exists (Python 3.12+), else the two slots a ``Fraction`` is made of, after checking once
    that such an object is the ``Fraction`` the constructor gives. Anything unexpected: the constructor.
    """
    maker = getattr(Fraction, "_from_coprime_ints", None)
    if callable(maker):
        return maker  # type: ignore[no-any-return]
    try:
        set_n = Fraction._numerator.__set__  # type: ignore[attr-defined]  # noqa: SLF001 - the slots, checked below
        set_d = Fraction._denominator.__set__  # type: ignore[attr-defined]  # noqa: SLF001
    except AttributeError:  # pragma: no cover - another Fraction layout: its own constructor
        return Fraction
    new = object.__new__

    def coprime(n: int, d: int) -> Fraction:
        f: Fraction = new(Fraction)
        set_n(f, n)
        set_d(f, d)
        return f

    probe, expected = coprime(-7, 12), Fraction(-7, 12)
    same = (probe.numerator, probe.denominator, hash(probe), probe + 1) == (-7, 12, hash(expected), expected + 1)
    return coprime if same and probe == expected else Fraction  # pragma: no branch


coprime_fraction = _coprime_maker()


def _settled(n: int, den: int) -> Decimal | None:
    """``n / den`` (lowest terms, ``den > 0``) as the ``Decimal`` ``settle`` gives, or ``None``: it stays a Fraction.

    Raises:
        Overflow: beyond 1e999 in magnitude. Underflow: non-zero and below 1e-999 in magnitude.
    """
    top = abs(n).bit_length()
    if top - den.bit_length() > _MAX_BITS:
        raise Overflow
    if n and den.bit_length() - top > _MAX_BITS:
        raise Underflow
    if den == 1:
        return Decimal(n)
    twos = (den & -den).bit_length() - 1
    rest = den >> twos
    fives = 0
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    if rest != 1:
        return None
    places = max(twos, fives)
    if places > CONTEXT.prec:  # keep giant expansions as fractions
        return None
    scaled = n * 10**places // den
    if abs(scaled) >= _MAX_SETTLED:  # more than 34 digits: stay exact as a Fraction
        return None
    return Decimal(scaled).scaleb(-places, EXACT)


def settle(value: Fraction) -> Number:
    """A ``Fraction`` whose value has a short decimal expansion becomes a ``Decimal`` again.

    Raises:
        Overflow: beyond 1e999 in magnitude. Underflow: non-zero and below 1e-999 in magnitude.
    """
    settled = _settled(value.numerator, value.denominator)
    return value if settled is None else settled


def ratio(n: int, d: int) -> Number:
    """``settle(Fraction(n, d))`` for integers ``n`` and ``d > 0``: the exact quotient, built from integers.

    The same number (and form) as the ``Fraction`` route, without its arithmetic in Python: the
    scaled-integer kernels (``plan.ops.scoring``, ``plan.ops.weights``) build their results here.

    Raises:
        Overflow, Underflow: as ``settle``.
    """
    g = math.gcd(n, d)
    if g != 1:
        n //= g
        d //= g
    settled = _settled(n, d)
    return coprime_fraction(n, d) if settled is None else settled


def add(a: Number, b: Number) -> Number:
    """``a + b`` exactly."""
    if type(a) is Decimal and type(b) is Decimal:
        try:
            return EXACT.add(a, b)
        except Inexact:
            pass
    return settle(as_fraction(a) + as_fraction(b))


def sub(a: Number, b: Number) -> Number:
    """``a − b`` exactly."""
    if type(a) is Decimal and type(b) is Decimal:
        try:
            return EXACT.subtract(a, b)
        except Inexact:
            pass
    return settle(as_fraction(a) - as_fraction(b))


def mul(a: Number, b: Number) -> Number:
    """``a × b`` exactly."""
    if type(a) is Decimal and type(b) is Decimal:
        try:
            return EXACT.multiply(a, b)
        except Inexact:
            pass
    return settle(as_fraction(a) * as_fraction(b))


def div(a: Number, b: Number) -> Number:
    """``a ÷ b`` exactly; the caller handles ``b == 0`` (N/A).

    Raises:
        ZeroDivisionError: if ``b`` is zero.
    """
    if type(a) is Decimal and type(b) is Decimal:
        if not b:
            raise ZeroDivisionError
        try:
            return EXACT.divide(a, b)
        except Inexact:
            pass
    return settle(as_fraction(a) / as_fraction(b))


def neg(a: Number) -> Number:
    """``−a`` exactly (a sign flip: an input may have more digits than a context's precision)."""
    if isinstance(a, Decimal):
        return a.copy_negate() if a else a.copy_abs()  # no "-0"
    return -a


def absolute(a: Number) -> Number:
    """``|a|`` exactly."""
    return a.copy_abs() if isinstance(a, Decimal) else abs(a)


def power(a: Number, n: int) -> Number:
    """``a ** n`` for an integer ``n``, exactly.

    Raises:
        ZeroDivisionError: for ``0 ** n`` with ``n < 0``.
    """
    if type(a) is Decimal and n >= 0:
        try:
            return EXACT.power(a, n)
        except Inexact:
            pass
        except InvalidOperation:  # 0 ** 0
            return Decimal(1)
    return settle(as_fraction(a) ** n)


def total(values: Sequence[Number]) -> Number:
    """The exact sum of ``values`` (0 for none)."""
    add_exactly = EXACT.add
    result: Number = ZERO
    try:  # all decimals, no rounding: the common case, without a call to ``add`` per value
        running = ZERO
        for v in values:
            if type(v) is not Decimal:
                raise TypeError  # noqa: TRY301 - leaves for the general path below
            running = add_exactly(running, v)
    except (Inexact, TypeError):
        result = ZERO  # start again: the same additions, in order, each in its exact form
        for v in values:
            result = add(result, v)
        return result
    return running


def dot(a: Sequence[Number], b: Sequence[Number]) -> Number:
    """``Σ a[i] × b[i]`` exactly: ``total(products(a, b))``, the same operations in the same order."""
    multiply, add_exactly = EXACT.multiply, EXACT.add
    try:
        running = ZERO
        for x, y in zip(a, b, strict=True):
            if type(x) is not Decimal or type(y) is not Decimal:
                raise TypeError  # noqa: TRY301 - leaves for the general path below
            running = add_exactly(running, multiply(x, y))
    except (Inexact, TypeError):
        return total(products(a, b))
    return running


def products(a: Sequence[Number], b: Sequence[Number]) -> list[Number]:
    """``[a[i] × b[i]]`` exactly (``mul`` of each pair)."""
    multiply = EXACT.multiply
    try:
        out: list[Number] = []
        for x, y in zip(a, b, strict=True):
            if type(x) is not Decimal or type(y) is not Decimal:
                raise TypeError  # noqa: TRY301 - leaves for the general path below
            out.append(multiply(x, y))
    except (Inexact, TypeError):
        return [mul(x, y) for x, y in zip(a, b, strict=True)]
    return out


def mean(values: Sequence[Number]) -> Number:
    """The exact mean of a non-empty list."""
    return div(total(values), Decimal(len(values)))


_UNITS = {places: Decimal(1).scaleb(-places) for places in range(13)}  # rounding.places is 0–12


def _round_fraction(value: Fraction, places: int, mode: str) -> Decimal:
    return round_ratio(value.numerator, value.denominator, places, mode)


def round_ratio(n: int, d: int, places: int, mode: str) -> Decimal:
    """``n / d`` (``d > 0``, any common factor) correctly rounded to ``places`` decimals, on integers.

    ``quantize``'s rounding of a ``Fraction``, every mode and every tie decided on the integer
    remainder of ``n × 10**places`` divided by ``d``; zero keeps no sign here either (``quantize``).
    """
    q, r = divmod(n * 10**places, d)  # floor division: 0 ≤ r < d
    if r:
        negative = n < 0
        twice = 2 * r
        if mode == "floor":
            up = False
        elif mode == "ceiling":
            up = True
        elif mode == "down":  # toward zero
            up = negative
        elif mode == "up":  # away from zero
            up = not negative
        elif twice != d:
            up = twice > d
        elif mode == "half_even":
            up = q % 2 == 1
        elif mode == "half_up":  # ties away from zero
            up = not negative
        else:  # half_down: ties toward zero
            up = negative
        q += up
    return Decimal(q).scaleb(-places, _WIDE)


def quantize(value: Number, places: int, mode: str) -> Decimal:
    """Round an exact ``value`` to ``places`` decimals with a mode named in ``ROUNDING_MODES``.

    The result is the correctly rounded value of the exact number (a ``Fraction`` is never first
    rounded to 34 digits); zero is reported without a sign.
    """
    if type(value) is not Decimal and isinstance(value, Fraction):
        rounded = _round_fraction(value, places, mode)
    else:
        unit = _UNITS.get(places) or Decimal(1).scaleb(-places)
        rounded = value.quantize(unit, rounding=ROUNDING_MODES[mode], context=_WIDE)
    return rounded or rounded.copy_abs()  # a reported zero has no sign: never "-0.00"


def round_half_up(value: Number, places: int) -> Number:
    """``round(x, n)`` in expressions: half-up, as appraisal tables round."""
    return quantize(value, places, "half_up")


def _decimal_places(den: int) -> int | None:
    """The decimal places of ``n / den`` in lowest terms when finite (``den`` is 2**a * 5**b), else ``None``."""
    twos = (den & -den).bit_length() - 1
    rest = den >> twos
    fives = 0
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    return max(twos, fives) if rest == 1 else None


def canonical(value: Number) -> str:
    """Canonical text of an exact value: no exponent, no trailing zeros (``0.90`` → ``0.9``).

    A ``Fraction`` without a finite decimal expansion is shown to 34 significant digits (the
    value itself stays exact wherever it decides anything).
    """
    if type(value) is not Decimal and isinstance(value, Fraction):
        settled = settle(value)
        if isinstance(settled, Fraction):
            places = _decimal_places(value.denominator)
            if places is not None:  # a finite decimal, only longer than 34 digits: every digit is shown
                exact = Decimal(value.numerator * 10**places // value.denominator).scaleb(-places, _WIDE)
                return format(exact.normalize(_WIDE), "f")
            ctx = CONTEXT.copy()  # CONTEXT is a template: no flags are ever recorded on it
            approx = ctx.divide(Decimal(value.numerator), Decimal(value.denominator))
            return format(approx.normalize(ctx), "f")
        value = settled
    if value == 0:
        return "0"
    return format(value.normalize(_WIDE), "f")


# --- exact splitting: parts that add up to their whole (DOMAIN §7, pay) ---------------------------


def split_units(total: int, parts: Sequence[tuple[_K, Fraction]], sort_key: Any = None) -> dict[_K, int]:
    """Split ``total`` whole units by exact ``parts`` weights (adding up to 1) with largest remainders.

    Each part gets ``floor(total × weight)``; the units left over go one each to the parts with the
    largest fractional remainder; ties go to the part whose key sorts first (``sort_key`` of the key).

    Raises:
        ValueError: if the weights do not add up to exactly 1, or one is negative.
    """
    if any(w < 0 for _, w in parts):
        msg = "weights must not be negative"
        raise ValueError(msg)
    key = sort_key or (lambda k: k)
    # On a common denominator every exact share is an integer quotient and remainder: no rationals in the loop.
    denominator = math.lcm(*(w.denominator for _, w in parts))
    if sum(w.numerator * (denominator // w.denominator) for _, w in parts) != denominator:
        msg = "weights must add up to exactly 100%"
        raise ValueError(msg)
    out: dict[_K, int] = {}
    remainders: dict[_K, int] = {}
    for k, w in parts:
        out[k], remainders[k] = divmod(total * w.numerator * (denominator // w.denominator), denominator)
    left = total - sum(out.values())
    if left:
        for k in sorted(out, key=lambda k: (-remainders[k], key(k)))[:left]:
            out[k] += 1
    return out


def apportion(total: int, parts: Sequence[tuple[_K, Fraction]], sort_key: Any = None) -> dict[_K, int]:
    """Split ``total`` whole units (of either sign) in proportion to non-negative ``parts`` weights.

    The weights need not add up to 1: each part's exact share is ``total × weight ÷ Σ weights``,
    and ``split_units`` hands out the units by largest remainder, so the parts add up to ``total``
    exactly and each is within one unit of its exact share. All weights zero: equal parts.

    Raises:
        ValueError: if a weight is negative.
    """
    if not parts:
        if total:
            msg = "cannot split a non-zero total into no parts"
            raise ValueError(msg)
        return {}
    whole = sum((w for _, w in parts), Fraction(0))
    if whole == 0:
        return split_units(total, [(k, Fraction(1, len(parts))) for k, _ in parts], sort_key)
    return split_units(total, [(k, Fraction(w) / whole) for k, w in parts], sort_key)
