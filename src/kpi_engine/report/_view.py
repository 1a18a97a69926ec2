"""What every renderer shares: reported rounding, titles, names, markers and safe text.

Renderers read results through the objects (``Appraisal.results``, ``SubjectResult``,
``KpiResult``), never through the JSON layout. Reported numbers are rounded here, exactly, to the
ruleset's places and mode (a ``Fraction`` as well as a ``Decimal``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import IO

import attrs
from wcwidth import wcswidth

from kpi_engine._numbers import CONTEXT, ROUNDING_MODES, canonical, quantize
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal, GateResult, KpiResult, SubjectResult
from kpi_engine.language.model import Scorecard
from kpi_engine.report._i18n import Messages

Number = Decimal | Fraction | int


def _round_fraction(value: Fraction, places: int, mode: str) -> Decimal:
    """Round a fraction exactly (integer arithmetic: no intermediate decimal that could double-round)."""
    scaled = value * 10**places
    q, r = divmod(scaled.numerator, scaled.denominator)  # floor division: r >= 0
    d = scaled.denominator
    if r:
        twice = 2 * r
        rounding = ROUNDING_MODES[mode]
        negative = value < 0
        away = {  # does the magnitude grow? (q is the floor)
            "ROUND_CEILING": True,
            "ROUND_FLOOR": False,
            "ROUND_UP": not negative,
            "ROUND_DOWN": negative,
            "ROUND_HALF_UP": twice > d or (twice == d and not negative),
            "ROUND_HALF_DOWN": twice > d or (twice == d and negative),
            "ROUND_HALF_EVEN": twice > d or (twice == d and q % 2 == 1),
        }[rounding]
        q += 1 if away else 0
    return Decimal(q).scaleb(-places, CONTEXT)


def reported(value: Number | None, places: int, mode: str) -> Decimal | None:
    """A value rounded as reported: to ``places`` decimals with the ruleset's rounding mode.

    Args:
        value: an exact ``Decimal``, ``Fraction`` or ``int``; ``None`` stays ``None`` (N/A).
        places: decimal places.
        mode: a rounding mode named in ``kpi_engine._numbers.ROUNDING_MODES``.

    Returns:
        The rounded ``Decimal`` with exactly ``places`` decimals, or ``None``.
    """
    if value is None:
        return None
    if isinstance(value, Fraction):
        return _round_fraction(value, places, mode)
    return quantize(Decimal(value), places, mode)


def exact_text(value: object) -> str:
    """A metric value as text, exactly: ``N/A`` for ``None``, no exponent, no trailing zeros."""
    if value is None:
        return "N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        value = CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))
    if isinstance(value, Decimal):
        return "0" if value == 0 else format(value.normalize(CONTEXT), "f")
    return str(value)


@attrs.frozen
class View:
    """An appraisal with what a reader needs beside it: titles, names, language and rounding."""

    appraisal: Appraisal
    msg: Messages
    scorecard: Scorecard | None = None
    names: Mapping[str, str] = attrs.field(factory=dict)
    ids: bool = False
    titles: Mapping[str, str] = attrs.field(factory=dict)  # input and metric name → title from the ruleset

    def r(self, value: Number | None) -> Decimal | None:
        """Round a reported number (score, weight in %, contribution, total)."""
        return reported(value, self.appraisal.places, self.appraisal.rounding)

    def rt(self, value: Number | None) -> str:
        """A reported number as text, ``N/A`` for ``None``."""
        rounded = self.r(value)
        return self.msg.t("N/A") if rounded is None else format(rounded, "f")

    def value(self, value: object) -> str:
        """A metric value as the readable reports show it: numbers to the ruleset's places + 2 decimals.

        ``Rounding.value``: ``0.952674…`` → ``0.9527``, ``99000`` → ``99000``, ``1.1`` → ``1.1`` (zeros
        that rounding adds are dropped); ``true``/``false``; text as is; ``""`` for N/A. The exact
        value is in the traces and the JSON.
        """
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, Decimal | Fraction):
            return canonical(quantize(value, self.appraisal.places + 2, self.appraisal.rounding))
        return str(value)

    def contribution(self, result: SubjectResult, kpi: KpiResult) -> str:
        """A KPI's reported contribution: the same part the JSON reports (rounded, or apportioned)."""
        return format(self.appraisal.reported_contributions(result)[0][kpi.id], "f")

    def contribution_of(self, kpi: KpiResult) -> str:
        """A KPI's reported contribution as text (``KpiResult.contribution``: rounded, or apportioned)."""
        return format(kpi.contribution, "f")

    def residue(self, result: SubjectResult) -> Decimal:
        """Reported total before gates − Σ reported contributions (0 when they add up)."""
        return self.appraisal.reported_contributions(result)[1]

    def scorecard_title(self, kpi_id: str) -> str | None:
        """The KPI's title in the ruleset the view was given (``None`` when it has none)."""
        if self.scorecard is not None:
            for k in self.scorecard.kpis:
                if k.id == kpi_id and k.title:
                    return k.title
        return None

    def kpi_title(self, kpi: KpiResult) -> str:
        """The KPI's title from the ruleset (its id with ``ids=True`` or when it has no title)."""
        if self.ids:
            return kpi.id
        if self.scorecard is not None:
            for k in self.scorecard.kpis:
                if k.id == kpi.id and k.title:
                    return k.title
        return kpi.title or kpi.id

    def section_title(self, section_id: str, title: str | None) -> str:
        """A section's title (or id)."""
        return section_id if self.ids or not title else title

    def grade_title(self, grade: str | None) -> str:
        """``A 优秀``: the grade and its title from the ruleset; ``-`` when ungraded."""
        if grade is None:
            return "-"
        if self.scorecard is not None and not self.ids:
            for g in self.scorecard.grades:
                if g.grade == grade and g.title:
                    return f"{grade} {g.title}"
        return grade

    def gate_effect(self, gate: GateResult) -> str:
        """What a gate does, in words: ``total capped at 60`` (``总分封顶 60``), never the ruleset's key."""
        t = self.msg.t
        if gate.action == "cap_total":
            return t("total capped at {value}", value=gate.value)
        if gate.action == "zero_section":
            titles = {s.id: s.title for s in self.scorecard.sections} if self.scorecard is not None else {}
            return t("section {section} scored 0", section=self.section_title(gate.value, titles.get(gate.value)))
        if gate.action == "force_grade":
            return t("grade set to {grade}", grade=self.grade_title(gate.value))
        return f"{gate.action} {gate.value}"  # pragma: no cover - every action is listed above

    def level_name(self, level: str) -> str:
        """``rep`` → 销售代表 in Chinese: the subject level in words."""
        return self.msg.pt("level", level)

    def rounding_text(self) -> str:
        """``2 places, half up`` (``2 位小数，四舍五入``): the ruleset's rounding in words."""
        a = self.appraisal
        words = ROUNDING_WORDS.get(a.rounding, a.rounding)
        return self.msg.t("{places} places, {mode}", places=a.places, mode=self.msg.pt("rounding", words))

    def _any_bonus(self) -> bool:
        if self.scorecard is not None and any(g.bonus_multiplier is not None for g in self.scorecard.grades):
            return True
        return any(r.bonus_multiplier is not None for r in self.appraisal.results)

    # Computed once (renderers ask per row): which optional columns the appraisal needs.
    has_bonus: bool = attrs.field(init=False, default=attrs.Factory(_any_bonus, takes_self=True))
    """Whether any grade of the ruleset (or any result) has a bonus multiplier."""
    has_parent: bool = attrs.field(
        init=False, default=attrs.Factory(lambda self: any(r.parent for r in self.appraisal.results), takes_self=True)
    )
    """Whether any subject belongs to a parent (a team, a department)."""
    has_names: bool = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: any(r.subject in self.names for r in self.appraisal.results), takes_self=True
        ),
    )
    """Whether any appraised subject has a name."""

    def name(self, subject: str) -> str:
        """The subject's name from the records, or an empty string."""
        return self.names.get(subject, "")

    def label(self, subject: str) -> str:
        """``张伟 (zhang_wei)`` when a name is known, else the subject id."""
        name = self.names.get(subject)
        return f"{name} ({subject})" if name and name != subject else subject


def fired_gates(result: SubjectResult) -> list[str]:
    """Ids of the gates whose condition held for a subject (``applied`` in the JSON)."""
    return [g.id for g in result.gates if g.outcome == "applied"]


def gate_changed(result: SubjectResult, gate: GateResult, card: Scorecard | None) -> bool:
    """Whether an applied gate changed the subject's result, not only held.

    A cap changes the total only when the total before gates is above it (王芳 at 33.53 under a
    cap of 60 is not capped); a zeroed section changes it only when one of its KPIs scored above
    0; a forced grade only when it differs from the grade the total earns (the first forced grade
    decides).
    """
    if gate.outcome != "applied":
        return False
    if gate.action == "cap_total":
        before = result.total_before_gates_exact
        return before is not None and before > Decimal(gate.value)
    if gate.action == "zero_section":
        return any(k.score_exact for k in result.kpis if k.section == gate.value and k.score_exact is not None)
    if gate.action == "force_grade":
        first = next((g for g in result.gates if g.outcome == "applied" and g.action == "force_grade"), None)
        if first is not gate or card is None or result.total_exact is None:
            return first is gate
        earned = next((g.grade for g in card.grades if g.min is None or result.total_exact >= g.min), None)
        return earned != gate.value
    return True  # pragma: no cover - every action is listed above


def changed_gates(result: SubjectResult, card: Scorecard | None) -> list[GateResult]:
    """The applied gates that changed the subject's total, a section or the grade."""
    return [g for g in result.gates if gate_changed(result, g, card)]


def applied_adjustments(result: SubjectResult) -> list[str]:
    """Ids of the adjustments whose condition held for a subject."""
    return [a.id for a in result.adjustments if a.holds is True]


def adjustment_rule(appraisal: Appraisal, adjustment_id: str) -> tuple[str, str]:
    """(condition, reason) of an adjustment, from the scorecard written once for every subject."""
    card = appraisal.scorecard
    rule = next((a for a in card.adjustments if a.id == adjustment_id), None) if card is not None else None
    return (rule.when.text, rule.reason) if rule is not None else ("", "")


def markers(result: SubjectResult, card: Scorecard | None = None) -> str:
    """``G`` when a gate changed the result, ``A`` when an adjustment changed a score, ``N`` when a KPI was N/A."""
    out = ""
    if changed_gates(result, card):
        out += "G"
    if applied_adjustments(result):
        out += "A"
    if any(k.status == "excluded" for k in result.kpis):
        out += "N"
    return out


def names_from_tables(tables: Iterable[Table], period: str | None = None) -> dict[str, str]:
    """Subject → name from the ``name`` column of record tables (record meta, not an input).

    A row of ``period`` wins over rows of other periods; otherwise the last row with a name does.

    Args:
        tables: record tables as read (``read_table``).
        period: the appraised period, to prefer its rows.

    Returns:
        A mapping of subject id to name (names are untrusted text: renderers escape them).
    """
    names: dict[str, str] = {}
    chosen: set[str] = set()
    for table in tables:
        for _row, raw in table.rows:
            subject, name = raw.get("subject"), raw.get("name")
            if not isinstance(subject, str) or not isinstance(name, str) or not name.strip():
                continue
            subject = subject.strip()
            if subject in chosen:
                continue
            names[subject] = name.strip()
            if period is not None and str(raw.get("period", "")).strip() == period:
                chosen.add(subject)
    return names


# C0 and C1 controls, DEL, and the bidi/zero-width format characters that can disguise text.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def terminal_safe(text: str) -> str:
    r"""Text with every control, escape and bidi character shown as a visible ``\xNN``/``\uNNNN`` escape.

    Data (names, ids, titles) may carry ANSI escape sequences or bidi overrides that would
    rewrite a terminal or disguise a name; after this nothing in the text is interpreted.
    """

    def esc(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"  # noqa: PLR2004

    return _UNSAFE.sub(esc, text)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?")


def spreadsheet_safe(text: str) -> str:
    """A text cell that a spreadsheet will not run as a formula (OWASP CSV injection advice).

    A cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return that is not a plain
    number gets a leading ``'``; plain numbers (``-3.5``) and all other text are unchanged.
    """
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class CsvWriter:
    r"""``csv.writer`` with ``\n`` line ends that also quotes a cell holding a carriage return.

    Python's writer quotes a cell only for the characters of its line terminator, so with ``\n``
    a bare ``\r`` went out unquoted: a spreadsheet reads it as a line break, and the rest of the
    cell (``=cmd…``) as the first cell of a new row, a live formula. A row holding ``\r`` is
    written with a ``\r\n`` writer (which quotes it) and ends in ``\n`` like every other row.
    """

    def __init__(self, buf: IO[str]) -> None:
        self.buf = buf
        self.writer = csv.writer(buf, lineterminator="\n")

    def writerow(self, row: Sequence[object]) -> None:
        """Write one row (cells as ``csv.writer`` takes them)."""
        if any(isinstance(cell, str) and "\r" in cell for cell in row):
            one = io.StringIO()
            csv.writer(one, lineterminator="\r\n").writerow(row)
            self.buf.write(one.getvalue()[:-2] + "\n")
        else:
            self.writer.writerow(row)

    def writerows(self, rows: Iterable[Sequence[object]]) -> None:
        """Write rows in order."""
        for row in rows:
            self.writerow(row)


def display_width(text: str) -> int:
    """Terminal cells taken by ``text``: wide (CJK) characters count 2, combining marks 0."""
    width = wcswidth(text)
    if width >= 0:
        return width
    # wcswidth is -1 when a control character is present; count it as its escape would show.
    return sum(max(wcswidth(c), 0) if wcswidth(c) >= 0 else 1 for c in text)


# Subject levels and rounding modes in words (translated in the catalogue under contexts "level", "rounding").
LEVELS = ("rep", "team", "department", "company")
ROUNDING_WORDS = {
    "half_up": "half up",
    "half_even": "half even",
    "half_down": "half down",
    "up": "away from zero",
    "down": "toward zero",
    "ceiling": "up (ceiling)",
    "floor": "down (floor)",
}

# The flags the engine sets on a KPI result (translated in the catalogue under context "flag").
KPI_FLAGS = ("adjusted", "excluded_na", "missing_scored_zero", "no_band_matched", "section_zeroed")


def clip(text: str, cells: int) -> str:
    """``text`` cut to at most ``cells`` display cells, with ``…`` when cut (labels in charts)."""
    if display_width(text) <= cells:
        return text
    out = ""
    for char in text:
        if display_width(out + char) > cells - 1:
            break
        out += char
    return out + "…"
