"""The GM's year in words and on one page: ``kpi track``, ``kpi risks`` and ``kpi territories`` output.

Text tables for the terminal, CSV for spreadsheets and one self-contained HTML page (offline,
printable on A4 landscape, Chinese or English through the message catalogue) with the plan
against actuals and forecasts, who is at risk, budget burn and variance, the alerts and the risk
matrix. Numbers are rounded only here, half-up, from the exact values the core computed.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from kpi_engine._numbers import Number, canonical, quantize
from kpi_engine.management.risks import RiskReport
from kpi_engine.management.territories import Balance, Proposal
from kpi_engine.report._i18n import Messages
from kpi_engine.report._view import CsvWriter, spreadsheet_safe, terminal_safe
from kpi_engine.report.html import _CSS
from kpi_engine.report.table import aligned
from kpi_engine.time.tracking import Line, TrackReport

_LEVEL_COLORS = ("#2e7d32", "#f9a825", "#ef6c00", "#c62828", "#6a1b9a", "#4e342e")
_STATUS_COLORS = {
    "met": "#2e7d32", "on_track": "#2e7d32", "within": "#2e7d32", "behind": "#ef6c00",
    "at_risk": "#c62828", "missed": "#c62828", "over": "#c62828", "no_data": "#757575",
}  # fmt: skip
CSV_COLUMNS = (
    "item", "kind", "subject", "parent", "level", "period", "plan", "plan_to_date", "actual", "to_date",
    "forecast", "forecast_ratio", "gap", "gap_to_date", "working_days", "elapsed_days", "complete", "status",
)  # fmt: skip


def status_text(msg: Messages, status: str) -> str:
    """A status word in the reader's language."""
    words = {
        "met": msg.pt("status", "met"),
        "missed": msg.pt("status", "missed"),
        "on_track": msg.pt("status", "on track"),
        "behind": msg.pt("status", "behind"),
        "at_risk": msg.pt("status", "at risk"),
        "over": msg.pt("status", "over budget"),
        "within": msg.pt("status", "within budget"),
        "no_data": msg.pt("status", "no data"),
    }
    return words.get(status, status)


def _amount(value: Number | None, places: int) -> str:
    return "-" if value is None else f"{quantize(value, places, 'half_up'):,f}"


def _pct(value: Fraction | None) -> str:
    return "-" if value is None else f"{quantize(value * 100, 1, 'half_up')}%"


def _places(report: TrackReport, line: Line) -> int:
    return report.plan.spec.money_places if line.unit == "money" else 0


def _label(line: Line, names: Mapping[str, str]) -> str:
    name = names.get(line.subject)
    shown = f"{line.subject} {name}" if name else line.subject
    return "  " * line.depth + shown


def _ordered(report: TrackReport, levels: Sequence[str]) -> list[Line]:
    return [ln for ln in report.lines if ln.period.kind in levels]


# --- kpi track ------------------------------------------------------------------------------------


def track_table(report: TrackReport, msg: Messages, names: Mapping[str, str], levels: Sequence[str]) -> str:
    """``kpi track`` as text: the header, each item's table, alerts and warnings."""
    t = msg.t
    spec = report.plan.spec
    out = [
        t(
            "{plan} — plan {year}, as of {as_of} ({calendar} calendar); forecast {forecast}; at risk below {at_risk} "
            "of plan; budget alert above {over} of budget to date",
            plan=spec.title or spec.plan,
            year=spec.year,
            as_of=report.as_of,
            calendar=report.plan.calendar.name,
            forecast=spec.tracking.forecast,
            at_risk=f"{canonical(spec.tracking.at_risk * 100)}%",
            over=f"{canonical(spec.tracking.over_budget * 100)}%",
        )
        + "\n"
    ]
    lines = _ordered(report, levels)
    for item in report.plan.items:
        mine = [ln for ln in lines if ln.item == item.name]
        if not mine:
            continue
        title = f"{item.title} ({item.name})" if item.title else item.name
        if item.kind == "target":
            out.append("\n" + t("Target {item}", item=title) + "\n")
            header = [t("period"), t("subject"), t("plan"), t("plan to date"), t("actual"), t("to date"),
                      t("forecast"), t("of plan"), t("gap"), t("status")]  # fmt: skip
            rows = [header]
            for ln in mine:
                p = _places(report, ln)
                rows.append([
                    str(ln.period), _label(ln, names), _amount(ln.plan, p), _amount(ln.plan_to_date, p),
                    _amount(ln.actual, p), _pct(ln.to_date_ratio), _amount(ln.forecast, p), _pct(ln.forecast_ratio),
                    _amount(ln.gap, p), status_text(msg, ln.status),
                ])  # fmt: skip
        else:
            out.append("\n" + t("Budget {item}", item=title) + "\n")
            header = [t("period"), t("subject"), t("budget"), t("budget to date"), t("spend"), t("burn"),
                      t("variance"), t("projected"), t("status")]  # fmt: skip
            rows = [header]
            for ln in mine:
                p = _places(report, ln)
                rows.append([
                    str(ln.period), _label(ln, names), _amount(ln.plan, p), _amount(ln.plan_to_date, p),
                    _amount(ln.actual, p), _pct(ln.to_date_ratio), _amount(ln.gap_to_date, p),
                    _amount(ln.forecast, p), status_text(msg, ln.status),
                ])  # fmt: skip
        out.append(aligned([[terminal_safe(c) for c in r] for r in rows], set(range(2, len(header) - 1))))
    out.append("\n" + t("{count} alert(s)", count=len(report.alerts)) + "\n")
    if report.alerts:
        rows = [[t("subject"), t("item"), t("period"), t("reason"), t("value"), t("against"), t("opened"), t("due")]]
        rows += [
            [names.get(a.subject, a.subject), a.item, str(a.period), _reason(msg, a.reason),
             _amount(a.value, a.places), _amount(a.reference, a.places), a.opened.isoformat(), a.due.isoformat()]
            for a in report.alerts
        ]  # fmt: skip
        out.append(aligned([[terminal_safe(c) for c in r] for r in rows], {4, 5}))
    return "".join(out)


def _reason(msg: Messages, reason: str) -> str:
    words = {
        "at_risk": msg.pt("status", "at risk"),
        "behind": msg.pt("status", "behind"),
        "missed": msg.pt("status", "missed"),
        "over_budget": msg.pt("status", "over budget"),
        "review_overdue": msg.t("review overdue"),
    }
    return words.get(reason, reason)


def track_csv(report: TrackReport, levels: Sequence[str]) -> str:
    """``kpi track --format csv``: one row per item, subject and period (numbers as in JSON)."""
    buf = io.StringIO()
    writer = CsvWriter(buf)
    writer.writerow(CSV_COLUMNS)
    places = report.plan.spec.money_places
    for ln in _ordered(report, levels):
        d = ln.to_dict(places)
        writer.writerow([spreadsheet_safe("" if d[c] is None else str(d[c])) for c in CSV_COLUMNS])
    return buf.getvalue()


# --- kpi risks ------------------------------------------------------------------------------------


def risks_table(report: RiskReport, msg: Messages) -> str:
    """``kpi risks`` as text: the matrix with counts, the risks by level, overdue reviews."""
    t = msg.t
    reg = report.register
    out = [t("{register} — {count} risk(s) on {as_of}", register=reg.spec.title or reg.spec.id,
             count=len(report.risks), as_of=report.as_of) + "\n\n"]  # fmt: skip
    counts = report.counts()
    rows = [[t("likelihood ↓ impact →"), *(s.title for s in reg.impact)]]
    for lk in reversed(reg.likelihood):
        cells = []
        for im in reg.impact:
            n = counts[(lk.id, im.id)]
            cells.append(f"{reg.level(lk.id, im.id).title}" + (f" ({n})" if n else ""))
        rows.append([lk.title, *cells])
    out.append(aligned([[terminal_safe(c) for c in r] for r in rows]))
    rows = [[t("risk"), t("title"), t("owner"), t("likelihood"), t("impact"), t("level"), t("next review")]]
    rows += [
        [r.spec.id, r.spec.title, r.spec.owner, r.likelihood.title, r.impact.title, r.level.title,
         r.spec.next_review.isoformat() + (" !" if r.spec.next_review < report.as_of else "")]
        for r in report.risks
    ]  # fmt: skip
    out.append("\n" + aligned([[terminal_safe(c) for c in r] for r in rows]))
    out.append("\n" + t("{count} review(s) overdue", count=len(report.alerts)) + "\n")
    late = "{risk} {title}: {owner}'s review was due {due} ({days} days overdue)"
    out.extend(
        terminal_safe(t(late, risk=a.risk, title=a.title, owner=a.owner, due=a.due, days=a.days_overdue)) + "\n"
        for a in report.alerts
    )
    return "".join(out)


# --- kpi territories ------------------------------------------------------------------------------


def balance_table(b: Balance, msg: Messages, names: Mapping[str, str]) -> str:
    """One balance as text: each territory's totals and share against equal, and the spread."""
    t = msg.t
    rows = [[t("territory"), t("accounts"), t("potential"), t("workload"), t("share"), t("equal"), t("deviation")]]
    for s in b.shares:
        label = f"{s.territory} {names[s.territory]}" if names.get(s.territory) else s.territory
        rows.append([label, str(s.accounts), f"{s.potential:,f}", f"{s.workload:,f}", _pct(s.share),
                     _pct(s.equal), _pct(s.deviation)])  # fmt: skip
    head = t("by {criterion}: spread {spread} (other measure {other})", criterion=t(b.criterion),
             spread=_pct(b.spread), other=_pct(b.other_spread))  # fmt: skip
    return head + "\n" + aligned([[terminal_safe(c) for c in r] for r in rows], {1, 2, 3, 4, 5, 6})


def territories_table(p: Proposal, msg: Messages, names: Mapping[str, str]) -> str:
    """``kpi territories`` as text: the balance now, the moves proposed, the balance after them."""
    t = msg.t
    out = [t("Now") + " — " + balance_table(p.before, msg, names)]
    if not p.moves:
        out.append("\n" + t("No move improves the balance.") + "\n")
        return "".join(out)
    rows = [[t("step"), t("account"), t("from"), t("to"), t(p.before.criterion)]]
    rows += [[str(m.step), m.account, m.source, m.target, f"{m.value:,f}"] for m in p.moves]
    out.append("\n" + t("Moves proposed") + "\n" + aligned([[terminal_safe(c) for c in r] for r in rows], {4}))
    out.append("\n" + t("After the moves") + " — " + balance_table(p.after, msg, names))
    if p.method == "cp-sat optimal":
        out.append(t("(the solver proved no assignment within the moves allowed has a smaller spread)") + "\n")
    elif p.method == "cp-sat feasible":
        out.append(t("(the solver's work limit stopped it: the best assignment it found, not proven optimal)") + "\n")
    elif not p.local_optimum:
        out.append(t("(stopped at the most moves allowed; more moves would improve it further)") + "\n")
    return "".join(out)


# --- the HTML page ----------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_YEAR_CSS = """
.status { display: inline-block; border-radius: 4px; color: #fff; padding: 0 6px; font-size: 12px; }
td.depth1 { padding-left: 22px; } td.depth2 { padding-left: 40px; } td.depth3 { padding-left: 58px; }
table.matrix td, table.matrix th { text-align: center; border: 1px solid #fff; }
table.matrix td { color: #fff; font-weight: 600; min-width: 80px; }
.bar { fill: #90caf9; } .bar.actual { fill: #1565c0; }
"""


def _status(msg: Messages, status: str) -> str:
    color = _STATUS_COLORS.get(status, "#757575")
    return f'<span class="status" style="background:{color}">{_e(status_text(msg, status))}</span>'


def _line_rows(report: TrackReport, lines: Sequence[Line], msg: Messages, names: Mapping[str, str]) -> str:
    out = []
    for ln in lines:
        p = _places(report, ln)
        name = names.get(ln.subject)
        who = _e(ln.subject) + (f" {_e(name)}" if name else "")
        if ln.kind == "target":
            cells = [_amount(ln.plan, p), _amount(ln.plan_to_date, p), _amount(ln.actual, p), _pct(ln.to_date_ratio),
                     _amount(ln.forecast, p), _pct(ln.forecast_ratio), _amount(ln.gap, p)]  # fmt: skip
        else:
            cells = [_amount(ln.plan, p), _amount(ln.plan_to_date, p), _amount(ln.actual, p), _pct(ln.to_date_ratio),
                     _amount(ln.gap_to_date, p), _amount(ln.forecast, p)]  # fmt: skip
        out.append(
            f"<tr><td>{_e(ln.period)}</td><td class='depth{min(ln.depth, 3)}'>{who}</td>"
            + "".join(f"<td class=num>{_e(c)}</td>" for c in cells)
            + f"<td>{_status(msg, ln.status)}</td></tr>"
        )
    return "".join(out)


def _item_table(report: TrackReport, kind: str, lines: Sequence[Line], msg: Messages, names: Mapping[str, str]) -> str:
    t = msg.t
    if kind == "target":
        heads = [t("plan"), t("plan to date"), t("actual"), t("to date"), t("forecast"), t("of plan"), t("gap")]
    else:
        heads = [t("budget"), t("budget to date"), t("spend"), t("burn"), t("variance"), t("projected")]
    head = (
        f"<tr><th>{_e(t('period'))}</th><th>{_e(t('subject'))}</th>"
        + "".join(f"<th class=num>{_e(h)}</th>" for h in heads)
        + f"<th>{_e(t('status'))}</th></tr>"
    )
    return f"<table>{head}{_line_rows(report, lines, msg, names)}</table>"


def _month_chart(report: TrackReport, item: str, msg: Messages) -> str:
    """Bars of the company's plan and actual per month (layout only: heights are not reported numbers)."""
    root = next(i.tree.id for i in report.plan.items if i.name == item)
    months = [ln for ln in report.lines if ln.item == item and ln.subject == root and ln.period.kind == "month"]
    if not months:
        return ""
    top = max(max(float(ln.plan), float(ln.actual or 0)) for ln in months) or 1.0
    width, height, step = 720, 180, 720 / 12
    bars = []
    for i, ln in enumerate(months):
        x = 30 + i * step
        for j, (value, cls) in enumerate(((float(ln.plan), "bar"), (float(ln.actual or 0), "bar actual"))):
            h = value / top * (height - 40)
            bars.append(
                f'<rect class="{cls}" x="{x + j * 18:.1f}" y="{height - 20 - h:.1f}" width="16" height="{h:.1f}"/>'
            )
        bars.append(f'<text x="{x:.1f}" y="{height - 5}">{_e(str(ln.period)[5:])}</text>')
    legend = (
        f'<p class="legend"><span><i style="background:#90caf9"></i>{_e(msg.t("plan"))}</span>'
        f'<span><i style="background:#1565c0"></i>{_e(msg.t("actual"))}</span></p>'
    )
    label = _e(msg.t("plan and actual by month"))
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{label}">{"".join(bars)}</svg>'
        + legend
    )


def _matrix(report: RiskReport, msg: Messages) -> str:
    reg = report.register
    counts = report.counts()
    top = max(len(reg.levels) - 1, 1)
    colors = {s.id: _LEVEL_COLORS[(s.rank * 3 + top // 2) // top] for s in reg.levels}
    corner = msg.t("likelihood ↓ impact →")
    head = f"<tr><th>{_e(corner)}</th>" + "".join(f"<th>{_e(s.title)}</th>" for s in reg.impact)
    rows = []
    for lk in reversed(reg.likelihood):
        cells = []
        for im in reg.impact:
            level = reg.level(lk.id, im.id)
            n = counts[(lk.id, im.id)]
            cells.append(
                f'<td style="background:{colors[level.id]}">{_e(level.title)}' + (f"<br>{n}" if n else "") + "</td>"
            )
        rows.append(f"<tr><th>{_e(lk.title)}</th>{''.join(cells)}</tr>")
    return f'<table class="matrix">{head}</tr>{"".join(rows)}</table>'


def _risk_list(report: RiskReport, msg: Messages, names: Mapping[str, str]) -> str:
    t = msg.t
    head = "".join(f"<th>{_e(h)}</th>" for h in (t("risk"), t("title"), t("owner"), t("likelihood"), t("impact"),
                                                  t("level"), t("next review"), t("response")))  # fmt: skip
    rows = []
    for r in report.risks:
        late = r.spec.next_review < report.as_of
        review = _e(r.spec.next_review) + (f" <span class='status' style='background:#c62828'>{_e(t('overdue'))}</span>"
                                             if late else "")  # fmt: skip
        owner = names.get(r.spec.owner, r.spec.owner)
        cells = [_e(r.spec.id), _e(r.spec.title), _e(owner), _e(r.likelihood.title), _e(r.impact.title),
                 _e(r.level.title), review, _e(r.spec.response or "")]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def year_html(report: TrackReport, msg: Messages, names: Mapping[str, str], risks: RiskReport | None = None) -> str:
    """The GM's mid-year page: status cards, targets with forecasts, at-risk subjects, budgets, alerts, risks."""
    t = msg.t
    spec = report.plan.spec
    title = spec.title or spec.plan
    at_risk = sorted({ln.subject for ln in report.lines if ln.kind == "target" and ln.period.kind == "year"
                      and ln.status == "at_risk"})  # fmt: skip
    over = sorted({(ln.item, ln.subject) for ln in report.lines if ln.kind == "budget" and ln.period.kind == "year"
                   and ln.status == "over"})  # fmt: skip
    first = next((i for i in report.plan.items if i.kind == "target"), None)
    cards = []
    if first is not None:
        top = report.line(first.name, first.tree.id, str(spec.year))
        if top is not None:
            places = _places(report, top)
            cards += [
                (t("{item} plan", item=first.title or first.name), _amount(top.plan, places)),
                (t("actual to date"), _amount(top.actual, places)),
                (t("forecast"), f"{_amount(top.forecast, places)} ({_pct(top.forecast_ratio)})"),
            ]
    cards += [
        (t("at risk"), str(len(at_risk))),
        (t("budgets over"), str(len(over))),
        (t("alerts"), str(len(report.alerts))),
    ]
    if risks is not None:
        cards.append((t("reviews overdue"), str(len(risks.alerts))))
    body = [
        f"<header><h1>{_e(title)}</h1><p class='meta'>"
        + _e(
            t(
                "plan {plan} {version} · year {year} · as of {as_of} · {calendar} calendar · forecast {forecast} · "
                "at risk below {at_risk} of plan · budget alert above {over} of budget to date",
                plan=spec.plan,
                version=spec.version,
                year=spec.year,
                as_of=report.as_of,
                calendar=report.plan.calendar.name,
                forecast=spec.tracking.forecast,
                at_risk=f"{canonical(spec.tracking.at_risk * 100)}%",
                over=f"{canonical(spec.tracking.over_budget * 100)}%",
            )
        )
        + f"<br>sha256 {_e(report.plan.sha256)}</p></header>",
        '<div class="cards">' + "".join(f"<div class=card>{_e(k)}<b>{_e(v)}</b></div>" for k, v in cards) + "</div>",
    ]
    if at_risk:
        shown = ", ".join(f"{s} {names[s]}" if names.get(s) else s for s in at_risk)
        body.append(f"<p><b>{_e(t('At risk this year'))}:</b> {_e(shown)}</p>")
    for kind, heading in (
        ("target", t("Targets: plan, actual and forecast")),
        ("budget", t("Budgets: spend and burn")),
    ):
        body.append(f"<h2>{_e(heading)}</h2>")
        for item in (i for i in report.plan.items if i.kind == kind):
            year_lines = [ln for ln in report.lines if ln.item == item.name and ln.period.kind == "year"]
            body.append(f"<h3>{_e(item.title or item.name)} <span class='meta'>{_e(item.name)}</span></h3>")
            body.append(_item_table(report, kind, year_lines, msg, names))
            if kind == "target" and item is first:
                body.append(f'<div class="chartbox">{_month_chart(report, item.name, msg)}</div>')
            detail = [ln for ln in report.lines if ln.item == item.name and ln.period.kind in {"quarter", "month"}]
            if detail:
                body.append(f"<details><summary>{_e(t('by quarter and month'))}</summary>"
                            f"{_item_table(report, kind, detail, msg, names)}</details>")  # fmt: skip
    body.append(f"<h2>{_e(t('Alerts'))}</h2>")
    if report.alerts:
        head = "".join(f"<th>{_e(h)}</th>" for h in (t("subject"), t("item"), t("period"), t("reason"), t("value"),
                                                      t("against"), t("opened"), t("due")))  # fmt: skip
        rows = "".join(
            f"<tr><td>{_e(names.get(a.subject, a.subject))}</td><td>{_e(a.item)}</td><td>{_e(a.period)}</td>"
            f"<td>{_e(_reason(msg, a.reason))}</td><td class=num>{_e(_amount(a.value, a.places))}</td>"
            f"<td class=num>{_e(_amount(a.reference, a.places))}</td><td>{_e(a.opened)}</td><td>{_e(a.due)}</td></tr>"
            for a in report.alerts
        )
        body.append(f"<table><tr>{head}</tr>{rows}</table>")
    else:
        body.append(f"<p>{_e(t('No alerts.'))}</p>")
    if risks is not None:
        reg = risks.register
        body.append(f"<h2>{_e(t('Risk matrix'))} <span class='meta'>{_e(reg.spec.title or reg.spec.id)}</span></h2>")
        body.append(_matrix(risks, msg))
        body.append(f"<h3>{_e(t('Risks by level'))}</h3>{_risk_list(risks, msg, names)}")
    if report.warnings:
        items = "".join(f"<li>{_e(w.message)}</li>" for w in report.warnings)
        body.append(f"<h2>{_e(t('Notes'))}</h2><ul class='notes'>{items}</ul>")
    body.append(f'<p class="meta">{_e(t("Exact values: kpi track --format json."))}</p>')
    lang = "zh-CN" if msg.lang == "zh" else "en"
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} — {_e(report.as_of)}</title><style>{_CSS}{_YEAR_CSS}</style></head>\n<body>"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def events_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Alert events as CSV (``event_id, type, at, rep, metric, alert_period``) for a window metric."""
    buf = io.StringIO()
    writer = CsvWriter(buf)
    columns = ("event_id", "type", "at", "rep", "metric", "alert_period")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([spreadsheet_safe(str(r[c])) for c in columns])
    return buf.getvalue()
