"""Numbers as pay traces show them: ``145,000``, ``4 %``, ``1,100.00`` — exact unless rounded on purpose."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from kpi_engine._numbers import canonical, quantize


def _grouped(text: str) -> str:
    sign = "-" if text.startswith("-") else ""
    whole, _, frac = text.lstrip("-").partition(".")
    return sign + f"{int(whole or '0'):,}" + (f".{frac}" if frac else "")


def number(value: Fraction | Decimal | int) -> str:
    """An exact value with thousands separators and no trailing zeros (``145,000``; ``2/3`` to 34 digits)."""
    return _grouped(canonical(value if isinstance(value, Decimal) else Fraction(value)))


def money(value: Fraction | Decimal, places: int, mode: str) -> str:
    """An amount rounded to the currency's places, with thousands separators (``1,100.00``)."""
    return _grouped(format(quantize(value, places, mode), "f"))


def percent(value: Fraction | Decimal | int) -> str:
    """A ratio as a percent, exactly (``0.045`` → ``4.5 %``)."""
    return number(Fraction(value) * 100) + " %"


def rate_text(value: Fraction | Decimal) -> str:
    """An effective rate: exactly when it has at most 4 decimals as a percent, else ``≈ 0.2969 %``."""
    scaled = Fraction(value) * 100
    if (scaled * 10**4).denominator == 1:
        return number(scaled) + " %"
    return "≈ " + format(quantize(scaled, 4, "half_even"), "f") + " %"
