"""CSV of an appraisal, safe to open in Excel: one row per subject and KPI, or one per subject (wide).

The header row is in the chosen language (English: the stable column keys ``period``,
``subject`` …; Chinese: 期间, 考核对象 …). Titles (KPI, grade) and names from the records ride in
their own columns. Reported numbers are rounded to the ruleset's places; metric values to the
ruleset's places + 2 decimals (``View.value``: the exact values are in the JSON). Every text cell
that a spreadsheet could run as a formula is prefixed with ``'``. A UTF-8 byte-order mark
(``bom=True``) makes Excel on Chinese Windows read UTF-8.

``layout="wide"`` writes one row per subject (``evaluation.frames.WIDE_COLUMNS``, then a value and a score column
per KPI: ``<kpi>_value``, ``<kpi>_score`` in English, ``<title> 数值``, ``<title> 得分`` in Chinese),
the shape HR opens in Excel; ``layout="long"`` (the default) one row per subject and KPI.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import attrs

from kpi_engine.evaluation.frames import WIDE_COLUMNS
from kpi_engine.report._i18n import Messages
from kpi_engine.report._view import CsvWriter, View, exact_text, fired_gates, spreadsheet_safe

COLUMNS = (
    "period",
    "subject",
    "name",
    "parent",
    "total",
    "grade",
    "grade_title",
    "bonus_multiplier",
    "rank",
    "kpi",
    "kpi_title",
    "value",
    "score",
    "weight",
    "contribution",
    "status",
    "flags",
    "total_before_gates",
    "contributions_residue",
)
KPI_CELLS = ("{kpi}_value", "{kpi}_score")  # per KPI in the wide layout (csv context: "{kpi} 数值" in Chinese)
LAYOUTS = ("long", "wide")


def wide_header(msg: Messages, kpis: Sequence[tuple[str, str | None]], *, ids: bool = False) -> list[str]:
    """The header of the wide layout: ``WIDE_COLUMNS`` then two cells per KPI (id, title), in ``msg``'s language.

    English keeps stable keys (``target_completion_value``); Chinese names each KPI by its title
    (``销售目标完成率 数值``), or by its id with ``ids=True``.
    """
    english = msg.lang == "en" or ids
    header = [msg.pt("csv", c) for c in WIDE_COLUMNS]
    for kid, title in kpis:
        header += [msg.pt("csv", cell, kpi=kid if english or not title else title) for cell in KPI_CELLS]
    return header


def kpi_heads(view: View) -> list[tuple[str, str | None]]:
    """(id, title) of each KPI in the scorecard's order, titles as the view shows them."""
    card = view.appraisal.scorecard
    if card is not None:
        return [(k.id, view.scorecard_title(k.id) or k.title) for k in card.kpis]
    first = view.appraisal.results[0].kpis if len(view.appraisal.results) else ()
    return [(k.id, k.title) for k in first]


def render_csv(view: View, *, bom: bool = False, layout: str = "long") -> str:
    r"""Render an appraisal as CSV text.

    Args:
        view: the appraisal with its titles, names and language.
        bom: start with a UTF-8 byte-order mark (U+FEFF), for Excel.
        layout: ``long`` (a row per subject and KPI) or ``wide`` (a row per subject).

    Returns:
        The CSV text (``\n`` line ends; the caller writes it as UTF-8).
    """
    return "".join(iter_csv(view, bom=bom, layout=layout))


def iter_csv(view: View, *, bom: bool = False, layout: str = "long") -> Iterator[str]:
    """``render_csv`` in pieces: the header, then one piece per subject (large appraisals stream)."""
    buf = io.StringIO()
    writer = CsvWriter(buf)

    def flush() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    if layout == "wide":
        writer.writerow([spreadsheet_safe(cell) for cell in wide_header(view.msg, kpi_heads(view), ids=view.ids)])
        yield ("\ufeff" if bom else "") + flush()
        for row in wide_rows(view):
            writer.writerow([spreadsheet_safe(cell) for cell in row])
            yield flush()
        return
    a, msg = view.appraisal, view.msg
    writer.writerow([msg.pt("csv", c) for c in COLUMNS])
    yield ("\ufeff" if bom else "") + flush()
    titled = attrs.evolve(view, ids=False)  # the id has its own column
    titles = {g.grade: g.title for g in view.scorecard.grades} if view.scorecard else {}
    for r in a.results:
        gates = [f"gate:{g}" for g in fired_gates(r)]
        subject = [
            a.period,
            r.subject,
            view.name(r.subject),
            r.parent or "",
            view.rt(r.total_exact) if r.total_exact is not None else "",
            r.grade or "",
            titles.get(r.grade or "") or "",
            "" if r.bonus_multiplier is None else format(r.bonus_multiplier, "f"),
            str(r.rank or ""),
        ]
        for k in r.kpis:
            flags = [*k.flags, *gates]
            row = [
                *subject,
                k.id,
                titled.kpi_title(k),
                view.value(k.value),
                "" if k.score_exact is None else view.rt(k.score_exact),
                exact_text(k.weight),
                view.contribution(r, k),
                k.status,
                " ".join(flags),
                view.rt(r.total_before_gates_exact) if r.total_before_gates_exact is not None else "",
                format(view.residue(r), "f"),
            ]
            writer.writerow([spreadsheet_safe(cell) for cell in row])
        yield flush()


def wide_rows(view: View) -> Iterator[list[str]]:
    """The cells of the wide layout, a subject at a time (the header is ``wide_header``)."""
    a = view.appraisal
    titles = {g.grade: g.title for g in view.scorecard.grades} if view.scorecard else {}
    for r in a.results:
        flags = [*r.flags, *(f"{k.id}:{f}" for k in r.kpis for f in k.flags)]
        cells = {
            "period": a.period,
            "subject": r.subject,
            "name": view.name(r.subject),
            "parent": r.parent or "",
            "total": "" if r.total_exact is None else view.rt(r.total_exact),
            "total_before_gates": "" if r.total_before_gates_exact is None else view.rt(r.total_before_gates_exact),
            "grade": r.grade or "",
            "grade_title": titles.get(r.grade or "") or "",
            "bonus_multiplier": "" if r.bonus_multiplier is None else format(r.bonus_multiplier, "f"),
            "rank": str(r.rank or ""),
            "rank_in_parent": str(r.rank_in_parent or ""),
            "flags": " ".join(flags),
        }
        row = [cells[c] for c in WIDE_COLUMNS]
        for k in r.kpis:
            row += [view.value(k.value), "" if k.score_exact is None else view.rt(k.score_exact)]
        yield row
