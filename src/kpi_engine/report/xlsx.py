"""An xlsx workbook of an appraisal: results with titles, per-KPI detail, and the run's provenance.

Written with XlsxWriter (the optional ``xlsx`` extra). Every figure is a number cell with a number
format: totals, scores and contributions rounded to the ruleset's places (format ``0.00``), weights
and effective weights as shares with a percent format (``60.00%``), metric values rounded to the
ruleset's places + 2 (``View.value``; a ratio metric with a percent format, ``95.27%``). XlsxWriter
writes a ``Decimal`` with its own digits (``{:.16G}``), so no binary float touches a reported
digit; a value with more than 15 significant digits (beyond what Excel keeps) is stored as text
instead, exactly. Text cells are guarded against formula injection; header rows are frozen.

Layouts: ``long`` (default) has the sheets Results (one row per subject, the KPI scores),
KPI detail (one row per subject and KPI) and About; ``wide`` has Results with a value and a score
column under each KPI's title, and About.

At scale (``write_xlsx`` to a file): XlsxWriter's ``constant_memory`` mode writes each row to disk
as it goes, so memory stays flat; ``progress(done, total)`` is called as rows are written. A sheet
holds at most 1,048,576 rows (Excel's limit): the rows beyond continue on a sheet of the same name
with `` (2)``, `` (3)`` … and the header repeated; nothing is ever cut off. About lists the sheets.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import IO, Any

from kpi_engine._numbers import quantize
from kpi_engine.evaluation.frames import WIDE_COLUMNS
from kpi_engine.report._view import View, applied_adjustments, exact_text, fired_gates, spreadsheet_safe

_WIDE_HEADS = {
    "period": "period", "subject": "subject", "name": "name", "parent": "parent", "total": "total",
    "total_before_gates": "total before gates", "grade": "grade", "grade_title": "grade title",
    "bonus_multiplier": "bonus", "rank": "rank", "rank_in_parent": "rank in parent", "flags": "flags",
}  # fmt: skip

EXCEL_DIGITS = 15
EXCEL_ROWS = 1_048_576  # rows of a worksheet in Excel 2007 and later
SHEET_NAME = 31  # characters of a worksheet name
PROGRESS_EVERY = 10_000  # rows between two progress calls
Progress = Callable[[int, int], None]


def _fits(value: Decimal) -> bool:
    """Whether Excel keeps every digit of ``value`` (at most 15 significant digits, plain range)."""
    if len(value.as_tuple().digits) <= EXCEL_DIGITS and value.adjusted() < EXCEL_DIGITS:
        return True  # the common case, without normalising (a reported 110.00 has 5 digits)
    digits = value.normalize().as_tuple().digits
    return len(digits) <= EXCEL_DIGITS and abs(value) < Decimal("1e15")


def render_xlsx(view: View, *, layout: str = "long") -> bytes:
    """Render an appraisal as an xlsx workbook held in memory (``write_xlsx`` writes large ones to a file).

    Args:
        view: the appraisal with its titles, names and language.
        layout: ``long`` (with the KPI detail sheet) or ``wide`` (value and score per KPI on Results).

    Returns:
        The workbook's bytes.

    Raises:
        KpiError: when XlsxWriter is not installed (``pip install 'kpi_engine[xlsx]'``).
    """
    buf = io.BytesIO()
    write_xlsx(view, buf, layout=layout)
    return buf.getvalue()


def write_xlsx(
    view: View,
    target: str | os.PathLike[str] | IO[bytes],
    *,
    layout: str = "long",
    progress: Progress | None = None,
    max_rows: int = EXCEL_ROWS,
) -> None:
    """Write an appraisal as an xlsx workbook to a file (constant memory) or a binary stream.

    Args:
        view: the appraisal with its titles, names and language.
        target: a path (written in XlsxWriter's ``constant_memory`` mode: each row goes to disk as it
            is written) or a binary stream (the workbook is built in memory).
        layout: ``long`` or ``wide`` (see the module).
        progress: called with (rows written, rows in all) every ``PROGRESS_EVERY`` rows and at the end.
        max_rows: rows per worksheet before the rows continue on a new sheet (Excel's limit).

    Raises:
        KpiError: when XlsxWriter is not installed (``pip install 'kpi_engine[xlsx]'``).
    """
    try:
        import xlsxwriter  # noqa: PLC0415 - optional extra, imported only here
    except ImportError:  # pragma: no cover - exercised only without the extra
        from kpi_engine.errors import KpiError  # noqa: PLC0415

        raise KpiError(view.msg.t("xlsx output needs XlsxWriter: pip install 'kpi_engine[xlsx]'")) from None
    options: dict[str, Any] = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    if isinstance(target, str | os.PathLike):
        options["constant_memory"] = True
        book = xlsxwriter.Workbook(os.fspath(target), options)
    else:
        options["in_memory"] = True
        book = xlsxwriter.Workbook(target, options)
    _Writer(view, book, layout, progress, max_rows).write()
    book.close()


class _Sheet:
    """One logical sheet that continues on ``name (2)``, ``name (3)`` … past ``max_rows`` rows."""

    def __init__(
        self, writer: _Writer, name: str, head: Callable[[Any], int], setup: Callable[[Any, int], None]
    ) -> None:
        self.w = writer
        self.name = name
        self.head = head  # writes the header rows of a new worksheet; returns how many
        self.setup = setup  # columns, frozen panes, autofilter of a finished worksheet (its last row)
        self.sheets: list[Any] = []
        self.row = 0
        self.first = 0

    def _open(self) -> None:
        if self.sheets:
            self.setup(self.sheets[-1], self.row - 1)
        n = len(self.sheets) + 1
        suffix = "" if n == 1 else f" ({n})"
        ws = self.w.book.add_worksheet(self.name[: SHEET_NAME - len(suffix)] + suffix)
        self.sheets.append(ws)
        self.row = self.first = self.head(ws)

    def next(self) -> tuple[Any, int]:
        """The worksheet and row index of the next data row."""
        if not self.sheets or self.row >= self.w.max_rows:
            self._open()
        row = self.row
        self.row += 1
        self.w.tick()
        return self.sheets[-1], row

    def close(self) -> list[str]:
        """Finish the last worksheet; the names of all of them."""
        if not self.sheets:
            self._open()
        self.setup(self.sheets[-1], self.row - 1)
        return [ws.get_name() for ws in self.sheets]


class _Writer:
    def __init__(self, view: View, book: Any, layout: str, progress: Progress | None, max_rows: int) -> None:
        self.v = view
        self.book = book
        self.layout = layout
        self.progress = progress
        self.max_rows = max(max_rows, 4)
        a = view.appraisal
        self.a = a
        self.t = view.msg.t
        font = {"font_name": "Microsoft YaHei", "font_size": 10}
        self.head_fmt = book.add_format({**font, "bold": True, "bg_color": "#E8EEF4", "border": 1, "text_wrap": True})
        self.group_fmt = book.add_format({**font, "bold": True, "bg_color": "#D5E1EC", "border": 1, "align": "center"})
        self.text_fmt = book.add_format(font)
        places = "0." + "0" * a.places if a.places > 0 else "0"
        self.reported = book.add_format({**font, "num_format": places})
        self.percent = book.add_format({**font, "num_format": places + "%"})
        self.plain = book.add_format({**font, "num_format": "General"})
        self.title_fmt = book.add_format({**font, "bold": True, "font_size": 13})
        card = view.scorecard or a.scorecard
        self.ratios = {m for m, metric in card.metrics.items() if metric.unit == "ratio"} if card else set()
        self.kpis = [(k.id, view.scorecard_title(k.id) or k.title or k.id) for k in card.kpis] if card else []
        if not self.kpis and len(a.results):
            self.kpis = [(k.id, view.kpi_title(k)) for k in a.results[0].kpis]
        if view.ids:
            self.kpis = [(kid, kid) for kid, _ in self.kpis]
        self.grade_titles = {g.grade: g.title for g in card.grades} if card else {}
        count = len(a.results)
        self.total = count * (1 + (len(self.kpis) if layout == "long" else 0))
        self.done = 0

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None and (self.done % PROGRESS_EVERY == 0 or self.done == self.total):
            self.progress(self.done, self.total)

    # -- cells ------------------------------------------------------------------------------------

    def put(self, ws: Any, row: int, col: int, value: object, fmt: Any = None) -> None:
        if value is None:
            return  # an empty cell (constant_memory writes nothing for it)
        if isinstance(value, Decimal):
            if _fits(value):
                ws.write_number(row, col, value, fmt or self.plain)
            else:
                ws.write_string(row, col, exact_text(value), self.text_fmt)
        elif isinstance(value, bool):
            ws.write_string(row, col, "true" if value else "false", self.text_fmt)
        elif isinstance(value, int):
            ws.write_number(row, col, value, self.plain)
        else:
            ws.write_string(row, col, spreadsheet_safe(str(value)), self.text_fmt)

    def value(self, metric: str, value: object) -> tuple[object, Any]:
        """A metric value's cell: rounded to places + 2, a ratio with a percent format."""
        if isinstance(value, Decimal | Fraction):
            shown = quantize(value, self.a.places + 2, self.a.rounding)
            return shown, (self.percent if metric in self.ratios else self.plain)
        return value, self.text_fmt

    # -- sheets -----------------------------------------------------------------------------------

    def write(self) -> None:
        sheets = self.results()
        detail: list[str] = []
        if self.layout == "long":
            detail = self.detail()
        self.about(sheets, detail)

    def results(self) -> list[str]:
        a, t, v = self.a, self.t, self.v
        wide = self.layout == "wide"
        if wide:  # the columns of every wide form (evaluation.frames.WIDE_COLUMNS), headed in the language
            fixed = [t(_WIDE_HEADS[c]) for c in WIDE_COLUMNS]
        else:
            fixed = [t("rank"), t("subject"), t("name"), t("parent"), t("total"), t("grade"), t("grade title")]
            fixed += [t("bonus"), t("gates applied"), t("adjusted"), t("N/A KPIs")]
        per_kpi = 2 if wide else 1
        width = len(fixed) + per_kpi * len(self.kpis)
        title = spreadsheet_safe(f"{a.title} — {a.period}")

        def head(ws: Any) -> int:
            ws.set_row(1, 30 if wide else 36)
            ws.set_column(0, 0, 10 if wide else 6)
            ws.set_column(1, 3, 14)
            ws.set_column(4, len(fixed) - 1, 10)
            ws.set_column(len(fixed), max(len(fixed), width - 1), 12 if wide else 14)
            ws.write_string(0, 0, title, self.title_fmt)
            if not wide:
                for col, name in enumerate(fixed + [kt for _, kt in self.kpis]):
                    ws.write_string(1, col, spreadsheet_safe(name), self.head_fmt)
                return 2
            for i, (_, kpi_title) in enumerate(self.kpis):  # each KPI's title over its two columns
                col = len(fixed) + 2 * i
                ws.merge_range(1, col, 1, col + 1, spreadsheet_safe(kpi_title), self.group_fmt)
            for col, name in enumerate(fixed + [t("value"), t("score")] * len(self.kpis)):
                ws.write_string(2, col, spreadsheet_safe(name), self.head_fmt)
            return 3

        def setup(ws: Any, last: int) -> None:
            top = 2 if wide else 1
            ws.freeze_panes(top + 1, 2)
            ws.autofilter(top, 0, max(top, last), width - 1)

        sheet = _Sheet(self, t("Results"), head, setup)
        put = self.put
        for r in a.results:
            ws, i = sheet.next()
            if wide:
                cells: dict[str, tuple[object, Any]] = {
                    "period": (a.period, None),
                    "subject": (r.subject, None),
                    "name": (v.name(r.subject) or None, None),
                    "parent": (r.parent, None),
                    "total": (r.total, self.reported),
                    "total_before_gates": (r.total_before_gates, self.reported),
                    "grade": (r.grade, None),
                    "grade_title": (self.grade_titles.get(r.grade or "") or None, None),
                    "bonus_multiplier": (r.bonus_multiplier, None),
                    "rank": (r.rank, None),
                    "rank_in_parent": (r.rank_in_parent, None),
                    "flags": (" ".join([*r.flags, *(f"{k.id}:{f}" for k in r.kpis for f in k.flags)]) or None, None),
                }
                for col, name in enumerate(WIDE_COLUMNS):
                    value, fmt = cells[name]
                    put(ws, i, col, value, fmt)
                col = len(WIDE_COLUMNS)
                for k in r.kpis:
                    shown, fmt = self.value(k.metric, k.value)
                    put(ws, i, col, shown if k.value is not None else t("N/A"), fmt)
                    put(ws, i, col + 1, k.score if k.status == "scored" else t("N/A"), self.reported)
                    col += 2
                continue
            put(ws, i, 0, r.rank)
            put(ws, i, 1, r.subject)
            put(ws, i, 2, v.name(r.subject) or None)
            put(ws, i, 3, r.parent)
            put(ws, i, 4, r.total, self.reported)
            put(ws, i, 5, r.grade)
            put(ws, i, 6, self.grade_titles.get(r.grade or "") or None)
            put(ws, i, 7, r.bonus_multiplier)
            put(ws, i, 8, ", ".join(fired_gates(r)) or None)
            put(ws, i, 9, ", ".join(applied_adjustments(r)) or None)
            put(ws, i, 10, ", ".join(k.id for k in r.kpis if k.status == "excluded") or None)
            for col, k in enumerate(r.kpis, start=11):
                put(ws, i, col, k.score if k.status == "scored" else t("N/A"), self.reported)
        return sheet.close()

    def detail(self) -> list[str]:
        a, t, v = self.a, self.t, self.v
        cols = [
            t("subject"), t("name"), t("KPI"), t("KPI title"), t("section"), t("value"), t("score"), t("weight"),
            t("effective weight"), t("contribution"), t("status"), t("flags"),
        ]  # fmt: skip

        def head(ws: Any) -> int:
            ws.set_column(0, 2, 14)
            ws.set_column(3, 3, 30)
            ws.set_column(4, 4, 18)
            ws.set_column(5, 9, 12)
            ws.set_column(10, 11, 16)
            for col, name in enumerate(cols):
                ws.write_string(0, col, name, self.head_fmt)
            return 1

        def setup(ws: Any, last: int) -> None:
            ws.freeze_panes(1, 3)
            ws.autofilter(0, 0, max(0, last), len(cols) - 1)

        sheet = _Sheet(self, t("KPI detail"), head, setup)
        card = v.scorecard or a.scorecard
        sections = {s.id: v.section_title(s.id, s.title) for s in card.sections} if card else {}
        titles = dict(self.kpis)
        scored, excluded = t("scored"), t("N/A, excluded")
        for r in a.results:
            name = v.name(r.subject) or None
            parts = a.reported_contributions(r)[0]
            for k in r.kpis:
                ws, i = sheet.next()
                put = self.put
                put(ws, i, 0, r.subject)
                put(ws, i, 1, name)
                put(ws, i, 2, k.id)
                put(ws, i, 3, titles.get(k.id) or v.kpi_title(k))
                put(ws, i, 4, sections.get(k.section) or k.section)
                shown, fmt = self.value(k.metric, k.value)
                put(ws, i, 5, shown if k.value is not None else t("N/A"), fmt)
                put(ws, i, 6, k.score if k.status == "scored" else t("N/A"), self.reported)
                put(ws, i, 7, k.weight, self.percent)
                put(ws, i, 8, k.effective_weight, self.percent)
                put(ws, i, 9, parts[k.id], self.reported)
                put(ws, i, 10, scored if k.status == "scored" else excluded)
                put(ws, i, 11, ", ".join(k.flags) or None)
        return sheet.close()

    def about(self, results: Sequence[str], detail: Sequence[str]) -> None:
        a, t = self.a, self.t
        about = self.book.add_worksheet(t("About"))
        facts = [
            (t("ruleset"), a.ruleset_id),
            (t("version"), a.version),
            ("sha256", a.sha256),
            (t("title"), a.title),
            (t("period"), a.period),
            (t("level"), self.v.level_name(a.level)),
            (t("rounding"), self.v.rounding_text()),
            (t("strict run"), "true" if a.strict else "false"),
            (
                t("numbers"),
                t(
                    "totals, scores and contributions rounded to {places} places; metric values to {value_places}; "
                    "exact values: kpi evaluate --format json",
                    places=a.places,
                    value_places=a.places + 2,
                ),
            ),
        ]
        if len(results) > 1 or len(detail) > 1:
            sheets = ", ".join([*results, *detail])
            facts.append((t("sheets"), t("more rows than a sheet holds continue on: {sheets}", sheets=sheets)))
        for i, (key, value) in enumerate(facts):
            about.write_string(i, 0, key, self.head_fmt)
            about.write_string(i, 1, spreadsheet_safe(value), self.text_fmt)
        about.set_column(0, 0, 16)
        about.set_column(1, 1, 70)
