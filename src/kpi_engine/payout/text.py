"""Pay traces: numbers as they show them (``145,000``, ``4 %``, ``1,100.00``), and their words in any language.

Numbers are exact unless rounded on purpose. A trace is built of ``Words`` (an English template
and its parts) so that the same trace reads in English in the register and in Chinese on a
statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Union

import attrs

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


# --- trace words --------------------------------------------------------------------------------

Translate = Callable[[str], str]


@attrs.frozen
class Name:
    """An id in a trace (a measure, a gate, a line): shown as is, or by a title the reader knows."""

    kind: str  # "measure", "gate", "scorecard_gate", "condition", "line"
    id: str


@attrs.frozen
class Joined:
    """Phrases shown one after another with a separator (``"; "``, ``" + "``), translated as a template is."""

    separator: str
    items: tuple[Words | Joined | str, ...]


Part = Union["Words", Joined, Name, str]


@attrs.frozen
class Words:
    """A phrase of a pay trace: an English ``str.format`` template and its parts, rendered in a language.

    The English trace of a line (``PayLine.trace``, the register's description) is ``render()``;
    a statement in Chinese renders the same words with the catalogue's translation of each
    template (context ``pay trace``) and titles for ids. The templates are the literal first
    arguments of ``w(...)`` calls, which ``tools/catalogue.py`` collects.
    """

    template: str
    params: Mapping[str, Part] = attrs.field(factory=dict)

    def render(self, translate: Translate | None = None, names: Mapping[tuple[str, str], str] | None = None) -> str:
        """The phrase as text: each template through ``translate`` (default: English), ids through ``names``."""
        return render(self, translate, names)

    def __str__(self) -> str:
        return self.render()


def render(part: Part, translate: Translate | None = None, names: Mapping[tuple[str, str], str] | None = None) -> str:
    """Trace words as text: each template through ``translate`` (default: English), ids through ``names``."""
    return _render(part, translate or _english, names or {})


def _english(template: str) -> str:
    return template


def _render(part: Part, translate: Translate, names: Mapping[tuple[str, str], str]) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, Name):
        return names.get((part.kind, part.id), part.id)
    if isinstance(part, Joined):
        separator = translate(part.separator)
        return separator.join(text for x in part.items if (text := _render(x, translate, names)))
    params = {k: _render(v, translate, names) for k, v in part.params.items()}
    return translate(part.template).format(**params)


def w(template: str, /, **params: Part) -> Words:
    """A trace phrase (``template`` must be a literal: the message catalogue collects it)."""
    return Words(template, params)
