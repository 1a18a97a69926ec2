"""Payouts people and payroll can read: a summary, a person's pay explained, the register, statements.

The payout register is CSV, xlsx or Arrow (for Parquet), with the formula guard; statements are HTML,
one A4 page per person.

Rendering only: pure functions from a ``PayRun`` and a message catalogue to text or bytes; the CLI
writes the files. Amounts are the run's lines as paid (rounded to the plan's places), never
recomputed here. Labels are translated (``--lang zh|en``); a line's trace is the engine's words.

Pay statements are pages of the one statement model (``report.statement``: ``Page``, ``Section``,
``Line``), printed by its renderer as appraisal statements are: one A4 page per person, never
split, in Chinese or English — the traces too (``trace_text``: the engine's words translated).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kpi_engine.payout.results import REGISTER_COLUMNS, PayLine, PayRun, PersonPay
from kpi_engine.payout.text import money, number, render
from kpi_engine.report._i18n import Messages
from kpi_engine.report._view import CsvWriter, spreadsheet_safe, terminal_safe
from kpi_engine.report.statement import Line, Page, Section, render_statements
from kpi_engine.report.table import aligned

EXCEL_DIGITS = 15


def _amount(run: PayRun, value: Decimal) -> str:
    return money(value, run.places, run.mode)


def _kind(msg: Messages, kind: str) -> str:
    """A line's kind in the reader's language (each msgid written out, so the catalogue sees it)."""
    pt = msg.pt
    names = {
        "component": pt("pay line", "component"),
        "cap": pt("pay line", "cap"),
        "held": pt("pay line", "held"),
        "released": pt("pay line", "released"),
        "clawback": pt("pay line", "clawback"),
        "true_up": pt("pay line", "true_up"),
        "draw": pt("pay line", "draw"),
        "recovery": pt("pay line", "recovery"),
        "carried": pt("pay line", "carried"),
    }
    return names.get(kind, kind)


# --- terminal -----------------------------------------------------------------------------------


def render_pay_table(run: PayRun, msg: Messages, components: list[str]) -> str:
    """One row per person: each component's amount, the other lines together, the total, the year so far."""
    t = msg.t
    head = [t("person"), t("name"), *components, t("other"), msg.pt("pay", "total"), t("year to date")]
    rows = [head]
    for p in run.people:
        by_component = [p.component(c) for c in components]
        other = p.total - sum(by_component, Decimal(0))
        cells = [p.person, p.name or "", *(_amount(run, v) for v in by_component)]
        cells += [_amount(run, other), _amount(run, p.total), _amount(run, p.year_to_date)]
        rows.append([terminal_safe(c) for c in cells])
    total = [msg.pt("pay", "total"), "", *([""] * len(components)), "", _amount(run, run.total), ""]
    rows.append(total)
    heading = t(
        "{plan} {version}, pay period {period}, {currency}: {count} people",
        plan=run.plan_id,
        version=run.version,
        period=run.period,
        currency=run.currency,
        count=len(run.people),
    )
    numbers = set(range(2, len(head)))
    return heading + "\n" + aligned(rows, numbers)


def explain_person(run: PayRun, p: PersonPay, msg: Messages, names: Mapping[tuple[str, str], str] | None = None) -> str:
    """A person's pay in words: target and days, the appraisal read, every line with its trace (``msg``'s language)."""
    t = msg.t
    lines = [f"{p.person}" + (f" ({p.name})" if p.name else "") + f", {p.period}, {run.plan_id} {run.version}"]
    for s in p.segments:
        team = s.team or "-"
        lines.append(
            t(
                "target incentive {target} ({team}, {start} – {end}, {days}/{of} working days)",
                target=_amount(run, s.target),
                team=team,
                start=s.start,
                end=s.end,
                days=s.working_days,
                of=s.period_working_days,
            )
        )
    a = p.appraisal
    if a:
        lines.append(t("appraisal of {subject}: grade {grade}, total {total}", subject=a["subject"],
                       grade=a.get("grade") or "-", total=a.get("total") or "-"))  # fmt: skip
    width = max((len(ln.id) for ln in p.lines), default=10)
    lines.extend(
        f"  {ln.id.ljust(width)}  {_amount(run, ln.amount).rjust(14)}  "
        + (trace_text(ln.words, msg, names) if ln.words is not None else ln.trace)
        for ln in p.lines
    )
    lines.append(
        t(
            "total {total}; year to date {ytd}; held until deals are paid {held}; owed {owed}",
            total=_amount(run, p.total),
            ytd=_amount(run, p.year_to_date),
            held=_amount(run, p.held),
            owed=_amount(run, p.balance),
        )
    )
    notes = [trace_text(n, msg, names) for n in p.note_words] if p.note_words else list(p.notes)
    lines.extend(t("note: {text}", text=n) for n in notes)
    return "\n".join(lines) + "\n"


# --- the payout register ------------------------------------------------------------------------


def render_register_csv(run: PayRun, *, bom: bool = False) -> str:
    """The payout register as CSV: one row per line; text cells guarded against formulas."""
    return register_csv_rows(run.register(), bom=bom)


def register_csv_rows(rows: Any, *, bom: bool = False) -> str:
    """Register rows (mappings of ``REGISTER_COLUMNS`` to text) as CSV, text cells guarded against formulas."""
    buf = io.StringIO()
    writer = CsvWriter(buf)
    writer.writerow(REGISTER_COLUMNS)
    for row in rows:
        writer.writerow([spreadsheet_safe(row[c]) if c != "amount" else row[c] for c in REGISTER_COLUMNS])
    text = buf.getvalue()
    return ("\ufeff" + text) if bom else text


def _fits(value: Decimal) -> bool:
    digits = value.normalize().as_tuple().digits
    return len(digits) <= EXCEL_DIGITS and abs(value) < Decimal("1e15")


def render_register_xlsx(run: PayRun, msg: Messages) -> bytes:
    """The payout register as an xlsx workbook: a register sheet and a sheet of totals per person.

    Raises:
        KpiError: when XlsxWriter is not installed.
    """
    try:
        import xlsxwriter  # noqa: PLC0415 - optional extra, imported only here
    except ImportError:  # pragma: no cover - exercised only without the extra
        from kpi_engine.errors import KpiError  # noqa: PLC0415

        raise KpiError(msg.t("xlsx output needs XlsxWriter: pip install 'kpi_engine[xlsx]'")) from None
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    font = {"font_name": "Microsoft YaHei", "font_size": 10}
    head = book.add_format({**font, "bold": True, "bg_color": "#E8EEF4", "border": 1})
    text = book.add_format(font)
    places = "#,##0." + "0" * run.places if run.places > 0 else "#,##0"
    number = book.add_format({**font, "num_format": places})
    sheet = book.add_worksheet(msg.t("register"))
    for col, name in enumerate(REGISTER_COLUMNS):
        sheet.write_string(0, col, name, head)
    for r, row in enumerate(run.register(), start=1):
        for col, name in enumerate(REGISTER_COLUMNS):
            value = row[name]
            if name == "amount" and _fits(Decimal(value)):
                sheet.write_number(r, col, Decimal(value), number)  # XlsxWriter writes a Decimal's own digits
            else:
                sheet.write_string(r, col, spreadsheet_safe(value), text)
    sheet.freeze_panes(1, 0)
    sheet.set_column(0, 1, 12)
    sheet.set_column(3, 3, 28)
    sheet.set_column(8, 8, 100)
    totals = book.add_worksheet(msg.t("totals"))
    for col, name in enumerate(("period", "person", "name", "total", "year_to_date", "held", "owed", "currency")):
        totals.write_string(0, col, name, head)
    for r, p in enumerate(run.people, start=1):
        totals.write_string(r, 0, run.period, text)
        totals.write_string(r, 1, spreadsheet_safe(p.person), text)
        totals.write_string(r, 2, spreadsheet_safe(p.name or ""), text)
        for col, figure in ((3, p.total), (4, p.year_to_date), (5, p.held), (6, p.balance)):
            totals.write_number(r, col, figure, number)
        totals.write_string(r, 7, run.currency, text)
    totals.freeze_panes(1, 0)
    book.close()
    return buf.getvalue()


def register_arrow(run: PayRun) -> Any:
    """The payout register as an Arrow table (amounts as ``decimal128(38, places)``), for Parquet.

    Raises:
        KpiError: when pyarrow is not installed.
    """
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional extra
    except ImportError:  # pragma: no cover - exercised only without the extra
        from kpi_engine.errors import KpiError  # noqa: PLC0415

        raise KpiError("Parquet output needs pyarrow: pip install 'kpi_engine[arrow]'") from None
    rows = list(run.register())
    columns: dict[str, Any] = {c: [r[c] for r in rows] for c in REGISTER_COLUMNS if c != "amount"}
    columns["amount"] = pa.array([Decimal(r["amount"]) for r in rows], pa.decimal128(38, run.places))
    return pa.table({c: columns[c] for c in REGISTER_COLUMNS})


# --- statements ---------------------------------------------------------------------------------


def _label(msg: Messages, line: PayLine, titles: Mapping[str, str]) -> str:
    if line.kind == "component" and line.component is not None:
        return titles.get(line.component) or line.component
    base = _kind(msg, line.kind)
    if line.component is not None:
        base += f" ({titles.get(line.component) or line.component})"
    return base


def trace_text(words: Any, msg: Messages, names: Mapping[tuple[str, str], str] | None = None) -> str:
    """Trace words (``PayLine.words``, ``PersonPay.note_words``) in the reader's language.

    Each template is translated in the catalogue's context ``pay trace``; ids (measures, gates,
    lines) are shown by the titles in ``names`` (``("measure", "attainment") → 目标完成率``). In
    English with no names this is the engine's trace, word for word.
    """
    return render(words, lambda template: msg.pt("pay trace", template), names)


def pay_pages(
    run: PayRun,
    msg: Messages,
    titles: Mapping[str, str] | None = None,
    names: Mapping[tuple[str, str], str] | None = None,
) -> list[Page]:
    """A statement ``Page`` per person paid (``report.statement``'s model, printed by its renderer).

    Each page has the total, the target and working days of each assignment, the appraisal read;
    the pay lines with how each was computed (in the reader's language), the total; the year to
    date, what is held until deals are paid and what is owed; the notes; the plan's id, version
    and sha256 in small print.

    Args:
        run: the pay run.
        msg: the reader's catalogue (``--lang``).
        titles: component id → title (line labels).
        names: (kind, id) → title for the ids a trace names (see ``trace_text``).
    """
    t = msg.t
    titles = titles or {}
    pages = []
    for p in run.people:
        facts: list[tuple[str, str]] = [(msg.pt("pay", "total"), _amount(run, p.total))]
        for seg in p.segments:
            days = t("{days}/{of} working days", days=seg.working_days, of=seg.period_working_days)
            where = f"{seg.team or '-'}, {seg.start} – {seg.end}, {days}"
            facts.append((t("target incentive"), f"{_amount(run, seg.target)} ({where})"))
        a = p.appraisal
        if a:
            facts.append(
                (t("appraisal"), f"{t('grade')} {a.get('grade') or '-'}, {t('total')} {a.get('total') or '-'}")
            )
        how = t("how it was computed")
        lines = tuple(
            Line(
                _label(msg, line, titles),
                amount=_amount(run, line.amount),
                trace=((how, trace_text(line.words, msg, names) if line.words is not None else line.trace),),
            )
            for line in p.lines
        )
        balances = tuple(
            Line(label, amount=_amount(run, value))
            for label, value in (
                (t("year to date"), p.year_to_date),
                (t("held until deals are paid"), p.held),
                (t("owed, recovered from later pay"), p.balance),
            )
        )
        notes = tuple(trace_text(n, msg, names) for n in p.note_words) if p.note_words else p.notes
        pages.append(
            Page(
                heading=f"{run.title} — {t('pay period')} {run.period} · {run.currency}",
                person=f"{p.name} ({p.person})" if p.name else p.person,
                facts=tuple(facts),
                sections=(
                    Section(
                        t("pay"),
                        amount_title=t("amount"),
                        lines=lines,
                        total=(msg.pt("pay", "total"), _amount(run, p.total)),
                    ),
                    Section(t("balances"), amount_title=t("amount"), lines=balances),
                ),
                notes=notes,
                footer=f"{run.plan_id} {run.version} sha256 {run.sha256}",
            )
        )
    return pages


def render_pay_statements(
    run: PayRun,
    msg: Messages,
    titles: Mapping[str, str] | None = None,
    names: Mapping[tuple[str, str], str] | None = None,
) -> str:
    """One self-contained HTML file, a printable A4 page per person (``report.statement.render_statements``)."""
    title = msg.t("Pay statements {period}", period=run.period)
    return render_statements(pay_pages(run, msg, titles, names), lang=msg.lang, title=title)


# --- impact of a new plan -----------------------------------------------------------------------


def render_pay_impact(result: Any, fmt: str, msg: Messages) -> str:
    """A ``PayImpact`` as ``json`` (exact) or a ``table``: each person's change in pay and tier, the cost."""
    import json  # noqa: PLC0415 - only this format needs it

    data = result.to_dict()
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    t = msg.t
    run = result.after
    s = data["summary"]
    cost = s["cost"]
    head = [
        (
            f"{data['before']['pay_plan']} {data['before']['version']} → {data['after']['pay_plan']} "
            f"{data['after']['version']}, {t('pay period')} {data['period']}, {data['currency']}"
        ),
        t(
            "{changed} of {people} people paid differently ({more} more, {less} less); total cost {before} → "
            "{after} ({change})",
            changed=s["changed"],
            people=s["people"],
            more=s["paid_more"],
            less=s["paid_less"],
            before=_amount(run, Decimal(cost["before"])),
            after=_amount(run, Decimal(cost["after"])),
            change=_amount(run, Decimal(cost["change"])),
        ),
    ]
    if not result.changes:
        return "\n".join(head) + "\n"

    def pair(a: Decimal | None, b: Decimal | None) -> str:
        left = "-" if a is None else _amount(run, a)
        right = "-" if b is None else _amount(run, b)
        return left if left == right else f"{left} → {right}"

    rows = [[t("person"), t("pay"), "Δ", t("components"), t("tiers")]]
    for c in result.changes:
        parts = "; ".join(f"{k} {pair(a, b)}" for k, (a, b) in c.components.items()) or "-"
        tiers = "; ".join(f"{k} {a} → {b}" for k, (a, b) in c.tiers.items()) or "-"
        rows.append([terminal_safe(x) for x in (c.person, pair(*c.total), _amount(run, c.change), parts, tiers)])
    return "\n".join(head) + "\n" + aligned(rows, {1, 2})


# --- cost of a plan -----------------------------------------------------------------------------


def _cost_text(cost: Any, currency: str) -> str:
    if cost.unbounded:
        return "no cap"
    parts = []
    if cost.share or not cost.money:
        parts.append(number(cost.share * 100) + " %")
    if cost.money:
        parts.append(f"{number(cost.money)} {currency}")
    return " + ".join(parts)


def render_cost(plan: Any, msg: Messages) -> str:
    """The plan's cost per person and period at 0 %, 100 % and the caps (``kpi validate``)."""
    from kpi_engine.payout.cost import plan_cost  # noqa: PLC0415

    t = msg.t
    rows = [[t("component"), t("at 0 %"), t("at 100 %"), t("at the caps")]]
    for r in plan_cost(plan):
        figures = [_cost_text(c, plan.currency) for c in (r.at_zero, r.on_target, r.at_cap)]
        if r.id == "person cap":
            figures = ["", "", t("at most {limit}", limit=figures[2])]
        elif r.pool:
            component = plan.component(r.id)
            per_team = figures[2] if component.amount is not None else component.formula.text
            figures = ["", "", t("pool per team: {amount}, split by {split}", amount=per_team, split=component.split)]
        elif r.id == "draw":
            window = t(" in the first {n} periods", n=plan.draw.periods) if plan.draw.periods else ""
            figures = [t("at least {floor}", floor=figures[0]) + window, "", ""]
        rows.append(
            [terminal_safe(c) for c in [t(r.id) if r.id in {"total", "person cap", "draw"} else r.id, *figures]]
        )
    head = t("  cost per person and period, as a share of the target incentive:")
    table = aligned(rows, {1, 2, 3})
    return head + "\n" + "".join("    " + line + "\n" for line in table.splitlines())
