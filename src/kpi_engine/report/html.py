"""A self-contained HTML report of an appraisal: tables, inline SVG charts and every trace one click away.

One file that works offline: no CDN, no web font, no external request (a Content-Security-Policy
forbids them), a CJK-capable system font stack for Windows, macOS and Linux, and print CSS for A4
landscape so HR can save a PDF. Charts are SVG drawn here; the only script is a few lines that
record the drawn size and place of each chart on the page (a check for tests and for the
curious), allowed by its hash. Every text from data (names, ids, titles, reasons) is escaped.

Contents: heading and summary; ranking with grades (chart and table); grade distribution; team
comparison (by parent; by section when subjects have no parent); trends over periods when earlier
appraisals are given; per subject a contribution chart (each KPI's weighted score against its
weight), the KPI table with each trace in a ``<details>``, and the gates, adjustments and N/A
exclusions that apply; last, for auditors, the ruleset's id, version and sha256.

One colour meaning per report: the grades' colours (``GRADE_COLOURS``) mean grades wherever they
appear — ranking bars, badges, the grade chart and the trend lines (each line in its subject's
grade) — and every other mark is drawn in neutral slate or grey (adjustments in purple, the
``A`` marker's colour). The text people read says everything in words of their language: levels,
rounding, what a gate did (``总分封顶 60``), no YAML key, id of a gate or an adjustment, or engine
sentence; ids, formulas as written and the sha256 stay in the parts marked ``audit`` (each KPI's
trace and the closing provenance). A gate whose condition held but changed nothing is said to
have changed nothing. Printed (A4 landscape), the overview comes first and each subject takes a
page of its own, never split.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from decimal import Decimal

from kpi_engine import _numbers as num
from kpi_engine._numbers import HUNDRED, Number, is_number
from kpi_engine.evaluation.results import Appraisal, KpiResult, SubjectResult
from kpi_engine.report._trace import trace_rows
from kpi_engine.report._view import (
    View,
    applied_adjustments,
    changed_gates,
    clip,
    exact_text,
    markers,
    reported,
)
from kpi_engine.report.table import wrap

GRADE_COLOURS = ("#2e7d32", "#1565c0", "#ef6c00", "#c62828", "#00838f", "#5d4037", "#ad1457", "#9e9d24")
UNGRADED = "#9e9e9e"
SLATE = "#455a64"  # neutral marks: contributions, team means, gate cut-offs, the G marker
LIGHT = "#cfd8dc"  # neutral fills: tracks, team bars
ADJUSTED = "#6a1b9a"  # an adjusted score: the A marker's colour
_MAX_TREND_LINES = 10
_DARK = 60  # lightness (%) of a heat-map cell below which its text is white
_VALUE_PLACES = 4

_SCRIPT = """(function () {
  var n = 0;
  document.querySelectorAll("svg.chart").forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    svg.setAttribute("data-drawn-width", Math.round(box.width));
    svg.setAttribute("data-drawn-height", Math.round(box.height));
    svg.setAttribute("data-drawn-x", Math.round(box.left + window.scrollX));
    svg.setAttribute("data-drawn-y", Math.round(box.top + window.scrollY));
    if (box.width > 0 && box.height > 0) { n += 1; }
  });
  document.body.setAttribute("data-charts-drawn", n);
})();"""

_CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d0d7de; --soft: #f6f8fa; --accent: #1565c0; }
* { box-sizing: border-box; }
body { font-family: "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC", "Source Han Sans SC",
  "WenQuanYi Micro Hei", "Segoe UI", Roboto, Arial, sans-serif; color: var(--ink); margin: 0 auto; max-width: 1180px;
  padding: 24px; font-size: 14px; line-height: 1.45; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 2px solid var(--accent); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 8px; }
.meta { color: var(--muted); font-size: 12px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 14px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 120px;
  background: var(--soft); }
.card b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.grade { display: inline-block; min-width: 1.6em; text-align: center; border-radius: 4px; color: #fff; padding: 0 5px; }
.mark { display: inline-block; border-radius: 3px; padding: 0 4px; margin-right: 3px; font-size: 11px; color: #fff; }
.mark.G { background: #455a64; } .mark.A { background: #6a1b9a; } .mark.N { background: #9e9e9e; }
.na { color: var(--muted); font-style: italic; }
.subject { border: 1px solid var(--line); border-radius: 8px; padding: 14px; margin: 14px 0; break-inside: avoid; }
.notes { margin: 6px 0; padding-left: 18px; }
.notes li.gate { color: #263238; font-weight: 600; } .notes li.adjustment { color: #6a1b9a; }
.notes li.na, .notes li.held { color: #59636e; }
details { font-size: 12px; } details summary { cursor: pointer; color: var(--accent); }
dl.trace { margin: 4px 0 4px 8px; display: grid; grid-template-columns: max-content 1fr; gap: 1px 10px; }
dl.trace dt { color: var(--muted); } dl.trace dd { margin: 0; word-break: break-all; }
svg.chart { display: block; width: 100%; height: auto; }
svg text { font-family: inherit; font-size: 12px; fill: var(--ink); }
.two { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 28px; }
.legend span { display: inline-block; margin-right: 12px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.legend i.line { height: 3px; vertical-align: middle; border-radius: 0; }
.audit { color: var(--muted); font-size: 11px; }
.kpi-id { color: var(--muted); font-size: 11px; }
.kpibar { display: none; width: 150px; }
.kpibar svg { display: block; }
a { color: var(--accent); text-decoration: none; }
@page { size: A4 landscape; margin: 10mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10px; line-height: 1.3; }
  details, .noprint { display: none; }
  h2 { break-after: avoid; margin: 12px 0 6px; }
  .chartbox, table tr { break-inside: avoid; }
  .subjects > h2 { break-before: page; }
  .subject { break-before: page; break-inside: avoid; page-break-before: always; page-break-inside: avoid;
    border: none; padding: 0; margin: 0; }
  .subjects > h2 + .subject { break-before: avoid; page-break-before: avoid; }
  .subject .chartbox { display: none; }
  .kpibar { display: table-cell; }
  th, td { padding: 2px 5px; }
  .cards { margin: 8px 0; } .card { padding: 4px 10px; } .card b { font-size: 16px; }
  a { color: inherit; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _f(value: Decimal | float) -> str:
    """A coordinate for SVG (layout only: never a reported number)."""
    return f"{float(value):.1f}"


class _Html:
    def __init__(self, view: View) -> None:
        self.v = view
        self.msg = view.msg
        self.t = view.msg.t
        self.card = view.scorecard or view.appraisal.scorecard
        grades = [g.grade for g in self.card.grades] if self.card else []
        for r in view.appraisal.results:
            if r.grade is not None and r.grade not in grades:
                grades.append(r.grade)
        self.grades = grades
        self.charts = 0

    def color(self, grade: str | None) -> str:
        """The colour of a grade (the only meaning colour has in the report)."""
        if grade is None or grade not in self.grades:
            return UNGRADED
        return GRADE_COLOURS[self.grades.index(grade) % len(GRADE_COLOURS)]

    def grade_badge(self, grade: str | None) -> str:
        text = self.v.grade_title(grade)
        return f'<span class="grade" style="background:{self.color(grade)}">{_e(text)}</span>'

    def marks(self, r: SubjectResult) -> str:
        titles = {"G": self.t("a gate applied"), "A": self.t("an adjustment applied"), "N": self.t("a KPI is N/A")}
        return "".join(f'<span class="mark {m}" title="{_e(titles[m])}">{m}</span>' for m in markers(r, self.card))

    def svg(self, width: int, height: int, body: str, label: str, *, fixed: bool = False) -> str:
        """An SVG chart: scales down to the page width, never up (``fixed``: keeps its own width)."""
        self.charts += 1
        style = f"width:{width}px;max-width:100%" if fixed else f"max-width:{width}px"
        return (
            f'<svg class="chart" role="img" aria-label="{_e(label)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" style="{style}" '
            f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
        )

    def legend(self, items: Sequence[tuple[str, str, bool]]) -> str:
        """A legend under a chart: (colour, text, drawn as a line)."""
        spans = "".join(
            f'<span><i class="{"line" if line else ""}" style="background:{colour}"></i>{_e(text)}</span>'
            for colour, text, line in items
        )
        return f'<div class="legend">{spans}</div>'

    def grade_legend(self, results: Sequence[SubjectResult]) -> str:
        shown = [g for g in self.grades if any(r.grade == g for r in results)]
        items = [(self.color(g), self.v.grade_title(g), False) for g in shown]
        if any(r.grade is None for r in results):
            items.append((UNGRADED, self.t("no grade"), False))
        return self.legend(items)

    # -- charts -----------------------------------------------------------------------------------

    def ranking_chart(self, results: Sequence[SubjectResult]) -> str:
        rows = [r for r in results if r.total_exact is not None]
        if not rows:
            return ""
        top = max([Decimal(100), *(r.total_exact for r in rows if r.total_exact is not None)])
        label_w, bar_w, row_h = 230, 640, 22
        height = row_h * len(rows) + 30
        parts = []
        for x in (0, 25, 50, 75, 100):
            gx = label_w + bar_w * x / float(top)
            parts.append(f'<line x1="{_f(gx)}" y1="0" x2="{_f(gx)}" y2="{height - 22}" stroke="#e0e0e0"/>')
            parts.append(f'<text x="{_f(gx)}" y="{height - 8}" text-anchor="middle">{x}</text>')
        cut = False
        for i, r in enumerate(rows):
            y = i * row_h
            total = r.total_exact if r.total_exact is not None else Decimal(0)
            w = bar_w * float(max(total, Decimal(0))) / float(top)
            label = f"{r.rank or '-'}. {self.v.label(r.subject)}"
            parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{_e(label)}</text>')
            parts.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{_f(w)}" height="{row_h - 6}" fill="{self.color(r.grade)}">'
                f"<title>{_e(self.v.label(r.subject))}: {_e(self.v.rt(r.total_exact))}</title></rect>"
            )
            before = r.total_before_gates_exact
            if before is not None and r.total_exact is not None and before > r.total_exact:
                cut = True
                bx = label_w + bar_w * float(max(before, Decimal(0))) / float(top)
                parts.append(
                    f'<rect x="{_f(label_w + w)}" y="{y + 3}" width="{_f(max(bx - label_w - w, 0))}" '
                    f'height="{row_h - 6}" fill="none" stroke="{SLATE}" stroke-dasharray="3 2"/>'
                )
            text = f"{self.v.rt(r.total_exact)}  {self.v.grade_title(r.grade)}"
            parts.append(f'<text x="{_f(label_w + w + 6)}" y="{y + 15}">{_e(text)}</text>')
        chart = self.svg(label_w + bar_w + 150, height, "".join(parts), self.t("Ranking"))
        legend = self.grade_legend(rows)
        if cut:
            legend = legend.replace(
                "</div>",
                f'<span><i style="background:none;border:1px dashed {SLATE}"></i>'
                f"{_e(self.t('cut off by a gate'))}</span></div>",
            )
        return chart + legend

    def grade_chart(self, results: Sequence[SubjectResult]) -> str:
        counts = dict.fromkeys(self.grades, 0)
        ungraded = 0
        for r in results:
            if r.grade is None:
                ungraded += 1
            else:
                counts[r.grade] += 1
        items: list[tuple[str | None, int]] = [(g, c) for g, c in counts.items()]
        if ungraded:
            items.append((None, ungraded))
        if not items:
            return ""
        most = max(1, *(c for _, c in items))
        col_w, chart_h = 90, 160
        parts = []
        for i, (g, c) in enumerate(items):
            x = 20 + i * col_w
            h = chart_h * c / most
            parts.append(
                f'<rect x="{x}" y="{_f(chart_h - h + 20)}" width="{col_w - 30}" height="{_f(h)}" '
                f'fill="{self.color(g)}">'
                f"<title>{_e(self.v.grade_title(g))}: {c}</title></rect>"
            )
            parts.append(f'<text x="{x + (col_w - 30) / 2}" y="{_f(chart_h - h + 14)}" text-anchor="middle">{c}</text>')
            mid = x + (col_w - 30) / 2
            parts.append(f'<text x="{mid}" y="{chart_h + 38}" text-anchor="middle">{_e(self.v.grade_title(g))}</text>')
        return self.svg(40 + col_w * len(items), chart_h + 50, "".join(parts), self.t("Grade distribution"), fixed=True)

    def team_chart(self, results: Sequence[SubjectResult]) -> tuple[str, str]:
        """(heading, chart): mean total by parent, or each subject's section scores without parents."""
        if self.v.has_parent:
            groups: dict[str, list[Number]] = {}
            for r in results:
                if r.total_exact is not None:
                    groups.setdefault(r.parent or "-", []).append(r.total_exact)
            rows = sorted(groups.items(), key=lambda kv: num.neg(num.mean(kv[1])))
            label_w, bar_w, row_h = 150, 330, 26
            parts = []
            top = max([Decimal(100), *(t for _, ts in rows for t in ts)])
            for i, (parent, totals) in enumerate(rows):
                y = i * row_h
                mean = num.mean(totals)
                lo, hi = min(totals), max(totals)
                w = bar_w * float(max(mean, Decimal(0))) / float(top)
                x_lo = label_w + bar_w * float(max(lo, Decimal(0))) / float(top)
                x_hi = label_w + bar_w * float(max(hi, Decimal(0))) / float(top)
                parts.append(
                    f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{_e(self.v.label(parent))}</text>'
                )
                parts.append(
                    f'<rect x="{label_w}" y="{y + 5}" width="{_f(w)}" height="{row_h - 10}" fill="{LIGHT}">'
                    f"<title>{_e(self.t('mean total'))}: {_e(self.v.rt(mean))}</title></rect>"
                )
                parts.append(
                    f'<line x1="{_f(x_lo)}" y1="{y + row_h / 2}" x2="{_f(x_hi)}" y2="{y + row_h / 2}" stroke="{SLATE}" '
                    f'stroke-width="2"><title>{_e(self.t("min {lo} – max {hi}", lo=self.v.rt(lo), hi=self.v.rt(hi)))}'
                    "</title></line>"
                )
                text = self.t("mean {mean} · {count} subject(s)", mean=self.v.rt(mean), count=len(totals))
                parts.append(f'<text x="{_f(max(w, x_hi - label_w) + label_w + 8)}" y="{y + 17}">{_e(text)}</text>')
            body = "".join(parts)
            chart = self.svg(label_w + bar_w + 170, row_h * len(rows) + 6, body, self.t("Team comparison"))
            legend = self.legend(
                [(LIGHT, self.t("mean total"), False), (SLATE, self.t("lowest to highest total"), True)]
            )
            return self.t("Team comparison"), chart + legend
        sections = [(s.id, s.title) for s in results[0].sections] if results else []
        if not sections:
            return "", ""
        label_w, cell_w, row_h, line_h = 150, 120, 24, 15
        heads = [wrap(self.v.section_title(sid, title), 18) for sid, title in sections]
        lines = min(max((len(h) for h in heads), default=1), 4)
        head_h = 8 + line_h * lines
        parts = []
        for j, ((sid, title), head) in enumerate(zip(sections, heads, strict=True)):
            full = self.v.section_title(sid, title)
            shown = head[:lines]
            if len(head) > lines:
                shown[-1] = clip(shown[-1] + "…", 18)
            x = label_w + j * cell_w + cell_w / 2
            spans = "".join(
                f'<tspan x="{_f(x)}" y="{14 + line_h * (k + lines - len(shown))}">{_e(line)}</tspan>'
                for k, line in enumerate(shown)
            )
            parts.append(f'<text text-anchor="middle"><title>{_e(full)}</title>{spans}</text>')
        for i, r in enumerate(results):
            y = head_h + i * row_h
            parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{_e(self.v.label(r.subject))}</text>')
            for j, s in enumerate(r.sections):
                x = label_w + j * cell_w
                score = self.v.r(s.score_exact)
                shade = 0.0 if score is None else max(0.0, min(100.0, float(score)))
                lightness = 94 - shade * 0.5  # slate, darker for a higher score: no grade colour
                fill = "#f5f5f5" if score is None else f"hsl(200, 15%, {_f(lightness)}%)"
                ink = "#ffffff" if lightness < _DARK else "#1f2328"
                parts.append(f'<rect x="{x + 2}" y="{y + 2}" width="{cell_w - 4}" height="{row_h - 4}" fill="{fill}"/>')
                shown_score = _e(self.v.rt(s.score_exact))
                centre = x + cell_w / 2
                parts.append(
                    f'<text x="{centre}" y="{y + 16}" text-anchor="middle" style="fill:{ink}">{shown_score}</text>'
                )
        height = head_h + 4 + row_h * len(results)
        return self.t("Section scores by subject"), self.svg(
            label_w + cell_w * len(sections) + 10, height, "".join(parts), self.t("Section scores by subject")
        )

    def trend_chart(self, history: Sequence[Appraisal]) -> str:
        """Each subject's total over the periods, drawn in the colour of its grade in the latest period."""
        a = self.v.appraisal
        series = sorted([*history, a], key=lambda appraisal: appraisal.period)
        periods = [appraisal.period for appraisal in series]
        latest = list(a.results)[:_MAX_TREND_LINES]
        points: dict[str, list[tuple[int, Number]]] = {r.subject: [] for r in latest}
        for i, earlier in enumerate(series):
            for r in earlier.results:
                if r.subject in points and r.total_exact is not None:
                    points[r.subject].append((i, r.total_exact))
        left, width, height, top_pad, label_w = 50, 640, 240, 14, 170
        top = max([Decimal(100), *(t for pts in points.values() for _, t in pts)])
        step = width / max(len(periods) - 1, 1)
        parts = []
        for tick in (0, 25, 50, 75, 100):
            gy = top_pad + height - height * tick / float(top)
            parts.append(f'<line x1="{left}" y1="{_f(gy)}" x2="{left + width}" y2="{_f(gy)}" stroke="#e0e0e0"/>')
            parts.append(f'<text x="{left - 6}" y="{_f(gy + 4)}" text-anchor="end">{tick}</text>')
        for i, p in enumerate(periods):
            parts.append(
                f'<text x="{_f(left + i * step)}" y="{top_pad + height + 18}" text-anchor="middle">{_e(p)}</text>'
            )
        ends: list[tuple[float, str, str]] = []
        for r in latest:
            pts = points[r.subject]
            colour = self.color(r.grade)
            xy = [(left + i * step, top_pad + height - height * float(max(t, Decimal(0))) / float(top)) for i, t in pts]
            if len(xy) > 1:
                coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in xy)
                parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for (x, y), (i, t) in zip(xy, pts, strict=True):
                tip = f"{self.v.label(r.subject)} {periods[i]}: {self.v.rt(t)}"
                parts.append(
                    f'<circle cx="{_f(x)}" cy="{_f(y)}" r="3.5" fill="{colour}"><title>{_e(tip)}</title></circle>'
                )
            if xy:
                ends.append((xy[-1][1], self.v.name(r.subject) or r.subject, colour))
        # Each line is labelled at its end (no colour key to decode); labels pushed apart when close.
        ends.sort()
        placed: list[float] = []
        for y, name, colour in ends:
            y_label = max(y + 4, (placed[-1] + 14) if placed else y + 4)
            placed.append(y_label)
            x = left + (len(periods) - 1) * step + 8
            parts.append(f'<text x="{_f(x)}" y="{_f(y_label)}" style="fill:{colour}">{_e(clip(name, 24))}</text>')
        bottom = max([top_pad + height + 30, *(y + 6 for y in placed)])
        chart = self.svg(left + width + label_w, int(bottom), "".join(parts), self.t("Trend of totals"))
        more = len(a.results) - len(latest)
        note = f'<p class="meta">{_e(self.t("{count} more subject(s) not drawn", count=more))}</p>' if more > 0 else ""
        legend = self.grade_legend(latest).replace(
            '<div class="legend">',
            f'<div class="legend"><span>{_e(self.t("line colour: grade in {period}", period=a.period))}</span>',
        )
        return chart + legend + note

    def contribution_chart(self, r: SubjectResult) -> str:
        """Each KPI: a track as long as its effective weight, filled to its contribution."""
        label_w, bar_w, row_h = 260, 520, 20
        kpis = list(r.kpis)
        top = max(
            [
                Decimal(0),
                *(num.mul(k.effective_weight_exact, HUNDRED) for k in kpis),
                *(k.contribution_exact for k in kpis),
            ]
        )
        if top <= 0:
            top = Decimal(1)
        parts = []
        for i, k in enumerate(kpis):
            y = i * row_h
            title = self.v.kpi_title(k)
            short = clip(title, 36)
            parts.append(
                f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end"><title>{_e(title)}</title>{_e(short)}</text>'
            )
            weight_w = bar_w * float(num.mul(k.effective_weight_exact, HUNDRED)) / float(top)
            fill_w = bar_w * float(max(k.contribution_exact, Decimal(0))) / float(top)
            parts.append(
                f'<rect x="{label_w}" y="{y + 3}" width="{_f(weight_w)}" height="{row_h - 6}" fill="#eceff1" '
                f'stroke="{LIGHT}"/>'
            )
            if k.status == "scored":
                colour = ADJUSTED if "adjusted" in k.flags else SLATE
                parts.append(
                    f'<rect x="{label_w}" y="{y + 3}" width="{_f(fill_w)}" height="{row_h - 6}" fill="{colour}">'
                    f"<title>{_e(title)}: {_e(self.v.contribution_of(k))} / "
                    f"{_e(self.v.rt(num.mul(k.effective_weight_exact, HUNDRED)))}"
                    "</title></rect>"
                )
                text = f"{self.v.contribution_of(k)} / {self.v.rt(num.mul(k.effective_weight_exact, HUNDRED))}"
            else:
                text = self.t(
                    "N/A — excluded, weight {weight} moved to the others", weight=self.v.rt(num.mul(k.weight, HUNDRED))
                )
            parts.append(f'<text x="{_f(label_w + max(weight_w, fill_w) + 6)}" y="{y + 14}">{_e(text)}</text>')
        return self.svg(label_w + bar_w + 260, row_h * len(kpis) + 4, "".join(parts), self.t("Contributions"))

    # -- tables and traces ------------------------------------------------------------------------

    def ranking_table(self) -> str:
        v, t = self.v, self.t
        head = [t("rank"), t("subject")]
        if v.has_names:
            head.append(t("name"))
        if v.has_parent:
            head.append(t("parent"))
        head += [t("total"), t("grade")]
        if v.has_bonus:
            head.append(t("bonus"))
        head.append(t("marks"))
        numeric = {t("rank"), t("total"), t("bonus")}
        out = ["<table><thead><tr>"]
        out += [f'<th class="{"num" if h in numeric else ""}">{_e(h)}</th>' for h in head]
        out.append("</tr></thead><tbody>")
        for i, r in enumerate(v.appraisal.results):
            cells = [f'<td class="num">{r.rank or "-"}</td>', f'<td><a href="#s{i}">{_e(r.subject)}</a></td>']
            if v.has_names:
                cells.append(f"<td>{_e(v.name(r.subject))}</td>")
            if v.has_parent:
                cells.append(f"<td>{_e(v.label(r.parent) if r.parent else '-')}</td>")
            cells.append(
                f'<td class="num"><a href="#s{i}" title="{_e(t("show the trace"))}">{_e(v.rt(r.total_exact))}</a></td>'
            )
            cells.append(f"<td>{self.grade_badge(r.grade)}</td>")
            if v.has_bonus:
                bonus = "-" if r.bonus_multiplier is None else format(r.bonus_multiplier, "f")
                cells.append(f'<td class="num">{_e(bonus)}</td>')
            cells.append(f"<td>{self.marks(r)}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        return "".join(out)

    def trace(self, k: KpiResult) -> str:
        """A KPI's trace for auditors: the readable rows, and its id (the JSON has every exact value)."""
        rows = [(self.t("KPI id"), k.id), *trace_rows(self.v, k)]
        items = "".join(f"<dt>{_e(label)}</dt><dd>{_e(text)}</dd>" for label, text in rows)
        return f'<dl class="trace">{items}</dl>'

    def bar(self, k: KpiResult, top: Number) -> str:
        """The contribution chart of one KPI inside its table row (printed instead of the chart)."""
        width = 150
        track = width * float(num.mul(k.effective_weight_exact, HUNDRED)) / float(top)
        fill = width * float(max(k.contribution_exact, Decimal(0))) / float(top)
        colour = ADJUSTED if "adjusted" in k.flags else SLATE
        inner = f'<rect x="0" y="2" width="{_f(track)}" height="8" fill="#eceff1" stroke="{LIGHT}"/>'
        if k.status == "scored":
            inner += f'<rect x="0" y="2" width="{_f(fill)}" height="8" fill="{colour}"/>'
        return f'<svg viewBox="0 0 {width} 12" width="{width}" height="12" aria-hidden="true">{inner}</svg>'

    def kpi_rows(self, r: SubjectResult, i: int) -> str:
        v, t = self.v, self.t
        top = max(
            [
                Decimal(0),
                *(num.mul(k.effective_weight_exact, HUNDRED) for k in r.kpis),
                *(k.contribution_exact for k in r.kpis),
            ]
        )
        top = top if top > 0 else Decimal(1)
        out = []
        for j, k in enumerate(r.kpis):
            status = t("scored") if k.status == "scored" else t("N/A, excluded")
            flags = ", ".join(v.msg.pt("flag", f) for f in k.flags if f != "excluded_na")
            value = exact_text(k.value) if k.value is not None else t("N/A")
            score = v.rt(k.score_exact) if k.status == "scored" else t("N/A")
            cls = "" if k.status == "scored" else ' class="na"'
            out.append(
                f'<tr id="s{i}-k{j}"{cls}><td>{_e(v.kpi_title(k))}</td>'
                f'<td class="num">{_e(self._value(k, value))}</td><td class="num">{_e(score)}</td>'
                f'<td class="num">{_e(v.rt(num.mul(k.weight, HUNDRED)))}</td>'
                f'<td class="num">{_e(v.rt(num.mul(k.effective_weight_exact, HUNDRED)))}</td>'
                f'<td class="num">{_e(v.contribution_of(k))}</td><td>{_e(status)}{"; " + _e(flags) if flags else ""}'
                f'<details class="audit"><summary>{_e(t("trace"))}</summary>{self.trace(k)}</details></td>'
                f'<td class="kpibar">{self.bar(k, top)}</td></tr>'
            )
        residue = v.residue(r)
        if residue:
            note = t(
                "contributions are each rounded: they differ from the total before gates by {residue}", residue=residue
            )
            out.append(f'<tr class="residue"><td colspan="8" class="meta">{_e(note)}</td></tr>')
        return "".join(out)

    def _value(self, k: KpiResult, value: str) -> str:
        """A metric value for reading: a ratio also as a percent (exact digits kept in the trace)."""
        if not is_number(k.value) or self.card is None:
            return value
        metric = self.card.metrics.get(k.metric)
        if metric is not None and metric.unit == "ratio":
            pct = self.v.r(num.mul(k.value, HUNDRED))
            return f"{pct}%" if pct is not None else value
        exponent = k.value.as_tuple().exponent if isinstance(k.value, Decimal) else None
        if exponent is None or (isinstance(exponent, int) and exponent < -_VALUE_PLACES):  # a Fraction, or long
            # Display only: the exact value is in the trace and the JSON.
            return "≈" + exact_text(reported(k.value, _VALUE_PLACES, "half_even"))
        return value

    def notes(self, r: SubjectResult) -> list[str]:
        """The subject's notes in words: gates, adjustments, N/A exclusions, the total before gates.

        A gate that changed the result is said with its effect; one whose condition held without
        changing anything is said to have changed nothing.
        """
        v, t = self.v, self.t
        notes = []
        changed = changed_gates(r, self.card)
        before, total = r.total_before_gates_exact, r.total_exact
        if before is not None and total is not None and before != total:
            notes.append(
                '<li class="gate">'
                + _e(t("total before gates {before} → after gates {after}", before=v.rt(before), after=v.rt(total)))
                + "</li>"
            )
        for g in r.gates:
            if g.outcome != "applied":
                continue
            reason = f" — {g.reason}" if g.reason else ""
            if g in changed:
                text = t("a gate applied: {effect}", effect=v.gate_effect(g)) + reason
                notes.append(f'<li class="gate">{_e(text)}</li>')
            else:
                text = t("a gate's condition held but changed nothing ({effect})", effect=v.gate_effect(g)) + reason
                notes.append(f'<li class="held">{_e(text)}</li>')
        for adj in r.adjustments:
            if adj.id in applied_adjustments(r):
                kpi = next((k for k in r.kpis if k.id == adj.kpi), None)
                rule = next((a for a in self.card.adjustments if a.id == adj.id), None) if self.card else None
                text = t(
                    "an adjustment set the score of {kpi} to {score}",
                    kpi=v.kpi_title(kpi) if kpi else adj.kpi,
                    score=v.rt(rule.score) if rule is not None else "",
                )
                reason = f" — {rule.reason}" if rule is not None and rule.reason else ""
                notes.append(f'<li class="adjustment">{_e(text + reason)}</li>')
        for k in r.kpis:
            if k.status == "excluded":
                text = t("{kpi} is N/A (no value): excluded, its weight moved to the other KPIs", kpi=v.kpi_title(k))
                notes.append(f'<li class="na">{_e(text)}</li>')
        return notes

    def subject(self, r: SubjectResult, i: int) -> str:
        v, t = self.v, self.t
        head = (
            f'<div class="subject" id="s{i}"><h3>{_e(v.label(r.subject))} · {_e(t("total"))} {_e(v.rt(r.total_exact))} '
            f"{self.grade_badge(r.grade)} · {_e(t('rank'))} {r.rank or '-'}"
        )
        if r.parent:
            head += f" · {_e(t('rank in {parent}', parent=v.label(r.parent)))} {r.rank_in_parent or '-'}"
        if r.bonus_multiplier is not None:
            head += f" · {_e(t('bonus'))} {_e(format(r.bonus_multiplier, 'f'))}"
        head += "</h3>"
        notes = self.notes(r)
        notes_html = f'<ul class="notes">{"".join(notes)}</ul>' if notes else ""
        cols = [t("KPI"), t("value"), t("score"), t("weight %"), t("effective %"), t("contribution"), t("status")]
        table = (
            "<table><thead><tr>"
            + "".join(f'<th class="{"" if n in {0, 6} else "num"}">{_e(c)}</th>' for n, c in enumerate(cols))
            + f'<th class="kpibar">{_e(t("contribution / effective weight"))}</th>'
            + "</tr></thead><tbody>"
            + self.kpi_rows(r, i)
            + "</tbody></table>"
        )
        sections = ""
        if r.sections:
            cells = "".join(
                f"<td>{_e(v.section_title(s.id, s.title))}: <b>{_e(v.rt(s.score_exact))}</b> "
                f'<span class="meta">({_e(v.rt(num.mul(s.effective_weight_exact, HUNDRED)))}%)</span></td>'
                for s in r.sections
            )
            sections = f"<table><tr>{cells}</tr></table>"
        chart = f'<div class="chartbox">{self.contribution_chart(r)}</div>'
        return head + notes_html + sections + chart + table + "</div>"


def render_html(view: View, *, history: Sequence[Appraisal] = ()) -> str:
    """Render an appraisal as one self-contained HTML document.

    Args:
        view: the appraisal with its titles, names and language.
        history: appraisals of earlier periods by the same ruleset; draws the trend chart.

    Returns:
        The HTML text (UTF-8).
    """
    a, t = view.appraisal, view.msg.t
    h = _Html(view)
    results = a.results
    graded = [r.total_exact for r in results if r.total_exact is not None]
    mean = view.rt(num.mean(graded)) if graded else t("N/A")
    fired = sum(1 for r in results if changed_gates(r, h.card))
    adjusted = sum(1 for r in results if applied_adjustments(r))
    na = sum(1 for r in results for k in r.kpis if k.status == "excluded")
    cards = [
        (t("subjects"), str(len(results))),
        (t("mean total"), mean),
        (t("gates applied"), str(fired)),
        (t("adjusted"), str(adjusted)),
        (t("N/A KPIs"), str(na)),
    ]
    meta = t(
        "period {period} · {level} · {rounding}",
        period=a.period,
        level=view.level_name(a.level),
        rounding=view.rounding_text(),
    )
    body = [
        f"<header><h1>{_e(a.title)}</h1>",
        f'<p class="meta">{_e(meta)}' + (f" · {_e(t('strict run'))}" if a.strict else "") + "</p></header>",
        '<div class="cards">'
        + "".join(f"<div class=card>{_e(k)}<b>{_e(val)}</b></div>" for k, val in cards)
        + "</div>",
        f'<p class="meta">{_e(t("Markers: G a gate applied · A an adjustment applied · N a KPI is N/A"))}</p>',
        f"<h2>{_e(t('Ranking'))}</h2>",
        f'<div class="chartbox">{h.ranking_chart(results)}</div>',
        h.ranking_table(),
    ]
    team_title, team = h.team_chart(results)
    body.append(
        f'<div class="two"><div class="chartbox"><h2>{_e(t("Grade distribution"))}</h2>{h.grade_chart(results)}</div>'
        f'<div class="chartbox"><h2>{_e(team_title)}</h2>{team}</div></div>'
        if team
        else f'<h2>{_e(t("Grade distribution"))}</h2><div class="chartbox">{h.grade_chart(results)}</div>'
    )
    if history:
        body.append(f"<h2>{_e(t('Trend of totals'))}</h2><div class='chartbox'>{h.trend_chart(history)}</div>")
    audit = t(
        "For auditors: ruleset {id} {version}, sha256 {sha256}; exact values and every trace: "
        "kpi evaluate --format json --traces",
        id=a.ruleset_id,
        version=a.version,
        sha256=a.sha256,
    )
    body.append(f'<p class="audit">{_e(audit)}</p>')
    body.append(f'<div class="subjects"><h2>{_e(t("Subjects"))}</h2>')
    body.extend(h.subject(r, i) for i, r in enumerate(results))
    body.append("</div>")
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
    csp = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'"
    lang = "zh-CN" if view.msg.lang == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(a.title)} — {_e(a.period)}</title><style>{_CSS}</style></head>\n<body>"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script></body></html>\n"
    )
