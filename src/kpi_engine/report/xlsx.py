"""An xlsx workbook of an appraisal: results with titles, per-KPI detail, and the run's provenance.

Written with XlsxWriter (the optional ``xlsx`` extra). Reported numbers (totals, scores, weights,
contributions) are the ruleset-rounded values stored as numbers with a matching number format.
XlsxWriter writes a ``Decimal`` with its own digits (``{:.16G}``), so no binary float touches a
reported digit; a value with more than 15 significant digits (beyond what Excel keeps) is stored as
text instead, exactly. Text cells are guarded against formula injection; header rows are frozen.
"""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from kpi_engine import _numbers as num
from kpi_engine._numbers import HUNDRED
from kpi_engine.report._view import (
    View,
    applied_adjustments,
    exact_text,
    fired_gates,
    spreadsheet_safe,
)

EXCEL_DIGITS = 15


def _fits(value: Decimal) -> bool:
    """Whether Excel keeps every digit of ``value`` (at most 15 significant digits, plain range)."""
    digits = value.normalize().as_tuple().digits
    return len(digits) <= EXCEL_DIGITS and abs(value) < Decimal("1e15")


def render_xlsx(view: View) -> bytes:
    """Render an appraisal as an xlsx workbook.

    Args:
        view: the appraisal with its titles, names and language.

    Returns:
        The workbook's bytes.

    Raises:
        KpiError: when XlsxWriter is not installed (``pip install 'kpi_engine[xlsx]'``).
    """
    try:
        import xlsxwriter  # noqa: PLC0415 - optional extra, imported only here
    except ImportError:  # pragma: no cover - exercised only without the extra
        from kpi_engine.errors import KpiError  # noqa: PLC0415

        raise KpiError(view.msg.t("xlsx output needs XlsxWriter: pip install 'kpi_engine[xlsx]'")) from None

    a, t = view.appraisal, view.msg.t
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    font = {"font_name": "Microsoft YaHei", "font_size": 10}
    head = book.add_format({**font, "bold": True, "bg_color": "#E8EEF4", "border": 1, "text_wrap": True})
    text = book.add_format(font)
    places = "0." + "0" * a.places if a.places > 0 else "0"
    reported = book.add_format({**font, "num_format": places})
    plain = book.add_format({**font, "num_format": "General"})
    title_fmt = book.add_format({**font, "bold": True, "font_size": 13})

    def put(sheet: Any, row: int, col: int, value: object, fmt: Any = None) -> None:
        if value is None:
            sheet.write_blank(row, col, None, text)
        elif isinstance(value, Decimal):
            if _fits(value):
                sheet.write_number(row, col, value, fmt or plain)
            else:
                sheet.write_string(row, col, exact_text(value), text)
        elif isinstance(value, int) and not isinstance(value, bool):
            sheet.write_number(row, col, value, plain)
        else:
            sheet.write_string(row, col, spreadsheet_safe(str(value)), text)

    # Results: one row per subject, KPI scores under their titles.
    res = book.add_worksheet(t("Results"))
    kpis = a.results[0].kpis if a.results else ()
    header = [t("rank"), t("subject"), t("name"), t("parent"), t("total"), t("grade"), t("grade title"), t("bonus")]
    header += [t("gates applied"), t("adjusted"), t("N/A KPIs")]
    first_kpi = len(header)
    header += [view.kpi_title(k) for k in kpis]
    res.write_string(0, 0, spreadsheet_safe(f"{a.title} — {a.period}"), title_fmt)
    for col, name in enumerate(header):
        res.write_string(1, col, spreadsheet_safe(name), head)
    titles = {g.grade: g.title for g in view.scorecard.grades} if view.scorecard else {}
    for i, r in enumerate(a.results, start=2):
        row: list[tuple[object, Any]] = [
            (r.rank, plain),
            (r.subject, text),
            (view.name(r.subject) or None, text),
            (r.parent, text),
            (view.r(r.total_exact), reported),
            (r.grade, text),
            (titles.get(r.grade or "") or None, text),
            (r.bonus_multiplier, plain),
            (", ".join(fired_gates(r)) or None, text),
            (", ".join(applied_adjustments(r)) or None, text),
            (", ".join(k.id for k in r.kpis if k.status == "excluded") or None, text),
        ]
        row += [(view.r(k.score_exact) if k.status == "scored" else t("N/A"), reported) for k in r.kpis]
        for col, (value, fmt) in enumerate(row):
            put(res, i, col, value, fmt)
    res.freeze_panes(2, 2)
    res.autofilter(1, 0, max(1, len(a.results) + 1), len(header) - 1)
    res.set_row(1, 36)
    res.set_column(0, 0, 6)
    res.set_column(1, 3, 14)
    res.set_column(4, first_kpi - 1, 10)
    res.set_column(first_kpi, max(first_kpi, len(header) - 1), 14)

    # KPI detail: one row per subject and KPI.
    det = book.add_worksheet(t("KPI detail"))
    cols = [
        t("subject"), t("name"), t("KPI"), t("KPI title"), t("section"), t("value"), t("score"), t("weight %"),
        t("effective %"), t("contribution"), t("status"), t("flags"),
    ]  # fmt: skip
    for col, name in enumerate(cols):
        det.write_string(0, col, name, head)
    line = 1
    sections = {s.id: s.title for s in view.scorecard.sections} if view.scorecard else {}
    for r in a.results:
        for k in r.kpis:
            value = k.value if isinstance(k.value, Decimal) else (None if k.value is None else str(k.value))
            cells: list[tuple[object, Any]] = [
                (r.subject, text),
                (view.name(r.subject) or None, text),
                (k.id, text),
                (view.kpi_title(k), text),
                (view.section_title(k.section, sections.get(k.section)), text),
                (value if value is not None else t("N/A"), plain),
                (view.r(k.score_exact) if k.score_exact is not None else t("N/A"), reported),
                (view.r(num.mul(k.weight, HUNDRED)), reported),
                (view.r(num.mul(k.effective_weight_exact, HUNDRED)), reported),
                (Decimal(view.contribution(r, k)), reported),
                (t("scored") if k.status == "scored" else t("N/A, excluded"), text),
                (", ".join(k.flags) or None, text),
            ]
            for col, (cell, fmt) in enumerate(cells):
                put(det, line, col, cell, fmt)
            line += 1
    det.freeze_panes(1, 3)
    det.autofilter(0, 0, max(0, line - 1), len(cols) - 1)
    det.set_column(0, 2, 14)
    det.set_column(3, 3, 30)
    det.set_column(4, 4, 18)
    det.set_column(5, 9, 12)
    det.set_column(10, 11, 16)

    # About: where the numbers come from.
    about = book.add_worksheet(t("About"))
    facts = [
        (t("ruleset"), a.ruleset_id),
        (t("version"), a.version),
        ("sha256", a.sha256),
        (t("title"), a.title),
        (t("period"), a.period),
        (t("level"), a.level),
        (t("rounding"), f"{a.places} ({a.rounding})"),
        (t("strict run"), "true" if a.strict else "false"),
    ]
    for i, (key, value) in enumerate(facts):
        about.write_string(i, 0, key, head)
        about.write_string(i, 1, spreadsheet_safe(value), text)
    about.set_column(0, 0, 16)
    about.set_column(1, 1, 70)
    book.close()
    return buf.getvalue()
