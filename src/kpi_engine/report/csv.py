"""CSV of an appraisal: one row per subject and KPI, safe to open in Excel.

The header row is in the chosen language (English: the stable column keys ``period``,
``subject`` …; Chinese: 期间, 考核对象 …). Titles (KPI, grade) and names from the records ride in
their own columns. Reported numbers are rounded to the ruleset's places; metric values are
exact. Every text cell that a spreadsheet could run as a formula is prefixed with ``'``.
A UTF-8 byte-order mark (``bom=True``) makes Excel on Chinese Windows read UTF-8.
"""

from __future__ import annotations

import csv
import io

import attrs

from kpi_engine.report._view import View, exact_text, fired_gates, spreadsheet_safe

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


def render_csv(view: View, *, bom: bool = False) -> str:
    r"""Render an appraisal as CSV text.

    Args:
        view: the appraisal with its titles, names and language.
        bom: start with a UTF-8 byte-order mark (U+FEFF), for Excel.

    Returns:
        The CSV text (``\n`` line ends; the caller writes it as UTF-8).
    """
    a, msg = view.appraisal, view.msg
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([msg.pt("csv", c) for c in COLUMNS])
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
                "" if k.value is None else exact_text(k.value),
                "" if k.score_exact is None else view.rt(k.score_exact),
                exact_text(k.weight),
                view.contribution(r, k),
                k.status,
                " ".join(flags),
                view.rt(r.total_before_gates_exact) if r.total_before_gates_exact is not None else "",
                format(view.residue(r), "f"),
            ]
            writer.writerow([spreadsheet_safe(cell) for cell in row])
    text = buf.getvalue()
    return "\ufeff" + text if bom else text
