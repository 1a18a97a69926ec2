"""Statements: one printed page per person, with their figures, notes, trend and the trace of every line.

A statement is made of ``Page`` objects — a small data model that says nothing about appraisals:
a heading, the person, headline facts, notes, sections of ``Line`` s (a label, figures under the
section's columns, the amount the line adds, the rows of its trace) and an optional chart. The
appraisal statement (``appraisal_pages``) fills it from an appraisal; a pay statement fills it
with pay lines (earnings and deductions with their amounts and how each was computed), and
``render_statements`` prints either the same way.

The HTML is one self-contained file (no request, a Content-Security-Policy, no script) in Chinese
or English, for screens and for paper: A4 portrait, each person starting a new page
(``break-before: page``) and never split across two (``break-inside: avoid``); a browser's "Save as
PDF" gives one page per person.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import attrs

from kpi_engine import _numbers as num
from kpi_engine._numbers import HUNDRED
from kpi_engine.evaluation.results import Appraisal, SubjectResult
from kpi_engine.report._trace import trace_rows
from kpi_engine.report._view import View, applied_adjustments, changed_gates


@attrs.frozen
class Line:
    """One line of a statement section: a KPI, or a pay item.

    Attributes:
        label: what the line is (``销售目标完成率``, ``基本工资``).
        cells: the line's figures, under the section's ``columns``.
        amount: what the line adds to the section (a contribution, a pay amount); ``""`` for none.
        note: a short remark shown after the label (``不适用``, ``已调整``).
        trace: (label, text) rows saying how the figures were computed, printed under the line.
        muted: drawn in grey (a line that does not count, e.g. N/A).
    """

    label: str
    cells: tuple[str, ...] = ()
    amount: str = ""
    note: str = ""
    trace: tuple[tuple[str, str], ...] = ()
    muted: bool = False


@attrs.frozen
class Section:
    """A group of lines with column headings and an optional total (``小计``)."""

    title: str
    columns: tuple[str, ...] = ()
    amount_title: str = ""
    lines: tuple[Line, ...] = ()
    total: tuple[str, str] | None = None  # (label, amount)


@attrs.frozen
class Page:
    """One person's statement: printed on a page of its own.

    Attributes:
        heading: what the statement is (``销售代表月度考核表 — 2026-03``).
        person: who it is for (``赵磊 (zhao_lei)``).
        facts: headline figures (label, value): total, grade, rank … or gross and net pay.
        sections: the lines, grouped.
        notes: sentences the reader must see (a gate that capped the total, an exclusion …).
        chart: an SVG drawn by this module (``trend_svg``), or ``""``.
        footer: provenance in small print (ruleset, version, sha256).
    """

    heading: str
    person: str
    facts: tuple[tuple[str, str], ...] = ()
    sections: tuple[Section, ...] = ()
    notes: tuple[str, ...] = ()
    chart: str = ""
    footer: str = ""


_CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d0d7de; --soft: #f6f8fa; --accent: #37474f; }
* { box-sizing: border-box; }
body { font-family: "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC", "Source Han Sans SC",
  "WenQuanYi Micro Hei", "Segoe UI", Roboto, Arial, sans-serif; color: var(--ink); margin: 0; background: #eceff1;
  font-size: 13px; line-height: 1.4; }
.page { background: #fff; width: 210mm; min-height: 200mm; margin: 16px auto; padding: 14mm 14mm 10mm;
  box-shadow: 0 1px 4px rgba(0,0,0,.2); }
.heading { color: var(--muted); font-size: 12px; margin: 0; }
h1 { font-size: 20px; margin: 2px 0 10px; }
.facts { display: flex; flex-wrap: wrap; gap: 8px; margin: 0 0 10px; }
.fact { border: 1px solid var(--line); border-radius: 4px; padding: 4px 10px; background: var(--soft); }
.fact span { display: block; color: var(--muted); font-size: 11px; } .fact b { font-size: 16px; }
ul.notes { margin: 4px 0 8px; padding-left: 18px; }
h2 { font-size: 14px; margin: 12px 0 4px; border-bottom: 2px solid var(--accent); padding-bottom: 2px; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 3px 6px; text-align: left; vertical-align: top; border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-weight: 600; font-size: 12px; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.amount { font-weight: 600; }
tr.trace td { border-bottom: 1px solid var(--line); padding: 0 6px 3px 18px; color: var(--muted); font-size: 11px; }
tr.trace b { font-weight: 600; color: #455a64; }
tr.line td { border-bottom: none; }
tr.muted td { color: var(--muted); font-style: italic; }
tr.total td { font-weight: 600; border-top: 1px solid var(--ink); }
.note { color: var(--muted); font-size: 11px; margin-left: 6px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: inherit; font-size: 11px; fill: var(--ink); }
footer { color: var(--muted); font-size: 10px; margin-top: 10px; word-break: break-all; }
@page { size: A4 portrait; margin: 0; }
@media print {
  body { background: none; font-size: 10.5px; }
  .page { margin: 0; box-shadow: none; width: auto; min-height: 0; padding: 9mm 11mm 6mm;
    break-before: page; page-break-before: always; break-inside: avoid; page-break-inside: avoid; }
  .page:first-child { break-before: auto; page-break-before: auto; }
  tr.trace td { font-size: 8.5px; line-height: 1.25; }
  th, td { padding: 2px 5px; } h2 { margin: 8px 0 3px; } .fact b { font-size: 14px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_statements(pages: Sequence[Page], *, lang: str = "en", title: str = "") -> str:
    """One self-contained HTML document with a printed page per ``Page``.

    Args:
        pages: the statements, in order.
        lang: ``zh`` or ``en`` (the document's language, for fonts and screen readers).
        title: the document's title (the browser tab, the PDF's name).

    Returns:
        The HTML text.
    """
    body = [_page(p, i) for i, p in enumerate(pages)]
    # A page longer than a printed sheet is scaled down on paper (only there) to stay on one sheet.
    zooms = [(i, zoom) for i, p in enumerate(pages) if (zoom := print_zoom(p)) < 1]
    fitted = "".join(f"#p{i} {{ zoom: {zoom:.3f}; }}" for i, zoom in zooms)
    style = _CSS + (f"@media print {{ {fitted} }}\n" if fitted else "")
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    code = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{code}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{style}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


PRINT_ROWS = 56.0  # rows of body text a printed A4 page holds at full size (measured in Chromium)
TRACE_CELLS = 170  # display cells of trace text on one printed line


def print_zoom(page: Page) -> float:
    """The scale that keeps ``page`` on one printed A4 sheet: 1, or less for a long page.

    An estimate in rows of body text: the heading and facts, each note, each section's heading,
    column heads and total, each line and the lines its trace wraps onto (in smaller type), the
    chart and the footer. Chromium splits a block longer than the sheet however ``break-inside``
    asks, so a page that would not fit is scaled down instead (``zoom`` under ``@media print``).
    """
    from kpi_engine.report._view import display_width  # noqa: PLC0415

    rows = 7.0 + 1.2 * len(page.notes) + (8.0 if page.chart else 0.0) + 2.0
    for section in page.sections:
        rows += (2.6 if section.title else 0.0) + (1.0 if section.total else 0.0)
        for line in section.lines:
            text = " · ".join(f"{k} {v}" for k, v in line.trace)
            rows += 1.0 + 0.72 * -(-display_width(text) // TRACE_CELLS) if text else 1.0
    return min(1.0, PRINT_ROWS / rows)


def _page(page: Page, index: int) -> str:
    out = [f'<section class="page" id="p{index}">', f'<p class="heading">{_e(page.heading)}</p>']
    out.append(f"<h1>{_e(page.person)}</h1>")
    if page.facts:
        facts = "".join(f'<div class="fact"><span>{_e(k)}</span><b>{_e(v)}</b></div>' for k, v in page.facts)
        out.append(f'<div class="facts">{facts}</div>')
    if page.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in page.notes) + "</ul>")
    out.extend(_section(section) for section in page.sections)
    if page.chart:
        out.append(page.chart)  # drawn by trend_svg: every text in it escaped
    if page.footer:
        out.append(f"<footer>{_e(page.footer)}</footer>")
    out.append("</section>")
    return "".join(out)


def _section(section: Section) -> str:
    width = 1 + len(section.columns) + (1 if section.amount_title or any(x.amount for x in section.lines) else 0)
    head = "".join(f'<th class="num">{_e(c)}</th>' for c in section.columns)
    if width > 1 + len(section.columns):
        head += f'<th class="num">{_e(section.amount_title)}</th>'
    rows = []
    for line in section.lines:
        cls = "line muted" if line.muted else "line"
        note = f'<span class="note">{_e(line.note)}</span>' if line.note else ""
        cells = "".join(f'<td class="num">{_e(c)}</td>' for c in line.cells)
        amount = f'<td class="num amount">{_e(line.amount)}</td>' if width > 1 + len(section.columns) else ""
        rows.append(f'<tr class="{cls}"><td>{_e(line.label)}{note}</td>{cells}{amount}</tr>')
        if line.trace:
            items = " · ".join(f"<b>{_e(k)}</b> {_e(v)}" for k, v in line.trace)
            rows.append(f'<tr class="trace"><td colspan="{width}">{items}</td></tr>')
    if section.total is not None:
        label, amount = section.total
        rows.append(
            f'<tr class="total"><td colspan="{width - 1}">{_e(label)}</td><td class="num amount">{_e(amount)}</td></tr>'
        )
    thead = f"<thead><tr><th></th>{head}</tr></thead>" if head else ""
    title = f"<h2>{_e(section.title)}</h2>" if section.title else ""
    return f"{title}<table>{thead}<tbody>" + "".join(rows) + "</tbody></table>"


# --- the appraisal statement ---------------------------------------------------------------------------


def appraisal_pages(view: View, *, history: Sequence[Appraisal] = (), subjects: Sequence[str] = ()) -> list[Page]:
    """A statement page per appraised subject (or per id in ``subjects``, in that order).

    Each page has the total, grade, ranks and bonus; the notes (a gate that changed the result, an
    adjustment, an N/A exclusion, a rounding residue); per section a line per KPI with its value,
    score, weights and contribution and, under it, how it was computed; the trend of the total
    over ``history`` and this period; and the ruleset's id, version and sha256 in small print.

    Raises:
        KeyError: for an id in ``subjects`` that was not appraised.
    """
    a = view.appraisal
    chosen = [a.result(s) for s in subjects] if subjects else list(a.results)
    periods = sorted([*history, a], key=lambda x: x.period)
    return [_appraisal_page(view, r, periods) for r in chosen]


def _appraisal_page(view: View, r: SubjectResult, periods: Sequence[Appraisal]) -> Page:
    a, t = view.appraisal, view.msg.t
    card = view.scorecard or a.scorecard
    count = len(a.results)
    facts = [(t("total"), view.rt(r.total_exact)), (t("grade"), view.grade_title(r.grade))]
    facts.append((t("rank"), t("{rank} of {count}", rank=r.rank or "-", count=count)))
    if r.parent:
        facts.append((t("rank in {parent}", parent=view.label(r.parent)), str(r.rank_in_parent or "-")))
    if r.bonus_multiplier is not None:
        facts.append((t("bonus"), format(r.bonus_multiplier, "f")))
    before, total = r.total_before_gates_exact, r.total_exact
    if before is not None and total is not None and before != total:
        facts.append((t("total before gates"), view.rt(before)))
    notes = []
    changed = changed_gates(r, card)
    for g in r.gates:
        if g.outcome != "applied":
            continue
        reason = f" — {g.reason}" if g.reason else ""
        if g in changed:
            notes.append(t("a gate applied: {effect}", effect=view.gate_effect(g)) + reason)
        else:
            notes.append(
                t("a gate's condition held but changed nothing ({effect})", effect=view.gate_effect(g)) + reason
            )
    for adj in r.adjustments:
        if adj.id in applied_adjustments(r) and card is not None:
            rule = next((x for x in card.adjustments if x.id == adj.id), None)
            kpi = next((k for k in r.kpis if k.id == adj.kpi), None)
            if rule is not None:
                text = t("an adjustment set the score of {kpi} to {score}",
                         kpi=view.kpi_title(kpi) if kpi else adj.kpi, score=view.rt(rule.score))  # fmt: skip
                notes.append(text + (f" — {rule.reason}" if rule.reason else ""))
    residue = view.residue(r)
    if residue:
        notes.append(
            t("contributions are each rounded: they differ from the total before gates by {residue}", residue=residue)
        )
    columns = (t("value"), t("score"), t("weight %"), t("effective %"))
    groups: list[tuple[str | None, str]] = [(s.id, view.section_title(s.id, s.title)) for s in r.sections]
    groups = groups or [(None, t("KPIs"))]
    sections = []
    for section_id, title in groups:
        lines = []
        amounts = []
        for k in r.kpis:
            if section_id is not None and k.section != section_id:
                continue
            rows = tuple(trace_rows(view, k, people=True))
            scored = k.status == "scored"
            metric = card.metrics.get(k.metric) if card is not None else None
            value = _value(view, k.value, ratio=metric is not None and metric.unit == "ratio")
            lines.append(
                Line(
                    label=view.kpi_title(k),
                    cells=(
                        value,
                        view.rt(k.score_exact) if scored else t("N/A"),
                        view.rt(num.mul(k.weight, HUNDRED)),
                        view.rt(num.mul(k.effective_weight_exact, HUNDRED)),
                    ),
                    amount=view.contribution_of(k),
                    note=", ".join(view.msg.pt("flag", f) for f in k.flags),
                    trace=rows,
                    muted=not scored,
                )
            )
            amounts.append(k.contribution)
        subtotal = format(num.total(amounts), "f") if amounts else ""
        sections.append(
            Section(
                title=title,
                columns=columns,
                amount_title=t("contribution"),
                lines=tuple(lines),
                total=(t("subtotal"), subtotal) if section_id is not None else None,
            )
        )
    if before is not None:
        sections.append(Section(title="", total=(t("sum of the subtotals: total before gates"), view.rt(before))))
    chart = trend_svg(view, r.subject, periods) if len(periods) > 1 else ""
    footer = t("ruleset {id} {version}, sha256 {sha256}", id=a.ruleset_id, version=a.version, sha256=a.sha256)
    return Page(
        heading=f"{a.title} — {a.period}",
        person=view.label(r.subject),
        facts=tuple(facts),
        sections=tuple(sections),
        notes=tuple(notes),
        chart=chart,
        footer=footer,
    )


def _value(view: View, value: object, *, ratio: bool) -> str:
    """A metric value as the reports round it, ``≈`` when rounding changed it (exact in the trace)."""
    if value is None:
        return view.msg.t("N/A")
    if isinstance(value, bool) or not num.is_number(value):
        return str(value)
    a = view.appraisal
    exact = num.mul(value, HUNDRED) if ratio else value
    shown = num.quantize(exact, a.places if ratio else a.places + 2, a.rounding)
    text = num.canonical(shown) + ("%" if ratio else "")
    return text if shown == exact else "≈" + text


def trend_svg(view: View, subject: str, periods: Sequence[Appraisal]) -> str:
    """A small chart of one subject's total over ``periods``, each point in its grade's colour."""
    from kpi_engine.report.html import GRADE_COLOURS, UNGRADED  # noqa: PLC0415 - one palette for both

    card = view.scorecard or view.appraisal.scorecard
    grades = [g.grade for g in card.grades] if card is not None else []

    def colour(grade: str | None) -> str:
        return GRADE_COLOURS[grades.index(grade) % len(GRADE_COLOURS)] if grade in grades else UNGRADED

    points = []
    for i, appraisal in enumerate(periods):
        result = next((x for x in appraisal.results if x.subject == subject), None)
        if result is not None and result.total_exact is not None:
            points.append((i, result.total_exact, result.grade, appraisal.period))
    if not points:
        return ""
    left, width, height, pad = 40, 520, 70, 22
    top = max([num.HUNDRED, *(p[1] for p in points)])
    step = width / max(len(periods) - 1, 1)
    parts = []
    for tick in (0, 50, 100):
        y = pad + height - height * tick / float(top)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    xy = [
        (left + i * step, pad + height - height * float(max(total, num.ZERO)) / float(top)) for i, total, _, _ in points
    ]
    if len(xy) > 1:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="#90a4ae" stroke-width="2"/>')
    for (x, y), (_, total, grade, period) in zip(xy, points, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour(grade)}"/>')
        label = f"{view.rt(total)} {view.grade_title(grade)}"
        parts.append(f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle">{_e(label)}</text>')
        parts.append(f'<text x="{x:.1f}" y="{pad + height + 16}" text-anchor="middle">{_e(period)}</text>')
    total_w, total_h = left + width + 40, pad + height + 24
    return (
        f"<h2>{_e(view.msg.t('Trend of totals'))}</h2>"
        f'<svg class="trend" role="img" aria-label="{_e(view.msg.t("Trend of totals"))}" viewBox="0 0 {total_w} '
        f'{total_h}" width="{total_w}" height="{total_h}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )
