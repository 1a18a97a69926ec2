"""Plain-text and JSON renderings of the CLI's non-appraisal results: impact, calendar months, alerts, JUnit.

Pure functions from a result to text; the CLI writes it. (Appraisals render through
``kpi_engine.report.render``.)
"""

from __future__ import annotations

import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

from kpi_engine._numbers import HUNDRED, canonical, mul, quantize
from kpi_engine.report._view import CsvWriter, spreadsheet_safe, terminal_safe
from kpi_engine.report.table import aligned


def format_impact(result: Any, fmt: str, before: str, after: str) -> str:
    """Render an ``Impact`` as ``json`` (exact values) or a ``table`` (rounded to the new ruleset's places)."""
    if fmt == "json":
        return json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"
    data = result.to_dict(places=result.after.places)
    s = data["summary"]
    bonus = s["bonus_multiplier_total"]
    head = [
        f"{before} ({data['before']['version']}) → {after} ({data['after']['version']}), period {data['period']}",
        (
            f"{s['changed']} of {s['subjects']} subject(s) change; {s['grades_up']} up a grade, "
            f"{s['grades_down']} down; total bonus multiplier {bonus['before']} → {bonus['after']} ({bonus['change']})"
        ),
    ]
    if not data["changes"]:
        return "\n".join(head) + "\n"

    def pair(values: list[Any]) -> str:
        a, b = ("-" if v is None else str(v) for v in values)
        return a if a == b else f"{a} → {b}"

    rows = [["subject", "total", "Δ", "grade", "rank", "bonus", "moved most"]]
    for c in data["changes"]:
        top = f"{c['top_kpi']} ({c['top_kpi_delta']})" if c["top_kpi"] else "-"
        rows.append(
            [
                c["subject"],
                pair(c["total"]),
                c["delta_total"] or "-",
                pair(c["grade"]),
                pair(c["rank"]),
                pair(c["bonus_multiplier"]),
                top,
            ]
        )
    return "\n".join(head) + "\n" + aligned([[terminal_safe(c) for c in row] for row in rows], {1, 2})


def format_month(cal: Any, month: Any) -> str:
    """A month as a grid, working days marked ``+`` and days off ``-``, then every special day."""
    days = [month.start + dt.timedelta(days=i) for i in range((month.next_start() - month.start).days)]
    worked = {d: cal.is_working_day(d) for d in days}
    data = cal.data
    lines = [
        f"{month.start:%B %Y} — calendar {cal.name} ({data.source}, covers {data.first_year}–{data.last_year})",
        "  Mo   Tu   We   Th   Fr   Sa   Su",
    ]
    row = ["     "] * days[0].weekday()
    for d in days:
        row.append(f"{d.day:>4}{'+' if worked[d] else '-'}")
        if d.weekday() == 6:  # noqa: PLR2004 - Sunday ends the row
            lines.append("".join(row).rstrip())
            row = []
    if row:
        lines.append("".join(row).rstrip())
    lines.append(f"+ working day ({sum(worked.values())} in the month)   - day off")
    for d in days:
        why = cal.describe(d)
        if why and why != "weekend":
            lines.append(f"  {d.isoformat()} {d:%a}  {'work' if worked[d] else 'off '}  {why}")
    return "\n".join(lines) + "\n"


def format_alerts(report: Any, fmt: str, tz_name: str) -> str:
    """Render an ``AlertReport`` as a table, ``json``, ``csv`` or ``events`` (alert events for a window metric)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"
    if fmt in {"csv", "events"}:
        rows = report.event_rows(tz_name) if fmt == "events" else [a.to_dict() for a in report.alerts]
        buf = io.StringIO()
        columns = list(rows[0]) if rows else ["id"]
        writer = CsvWriter(buf)
        writer.writerow(columns)
        for row in rows:  # names and ids from the data must not run as spreadsheet formulas
            cells = (row.get(k) for k in columns)
            writer.writerow(
                [spreadsheet_safe(";".join(v) if isinstance(v, list) else ("" if v is None else str(v))) for v in cells]
            )
        return buf.getvalue()
    d = report.to_dict()
    pct = "n/a" if d["timeliness"] is None else f"{quantize(mul(Decimal(d['timeliness']), HUNDRED), 2, 'half_up')}%"
    head = (
        f"alerts — {d['ruleset']}, period {d['period']}, calendar {d['calendar']}: {d['count']} alert(s), "
        f"{d['answered_in_time']} answered in time, timeliness {pct}\n"
    )
    if not report.alerts:
        return head
    table = [["subject", "metric", "reasons", "previous", "value", "change", "opened", "due", "answered", "status"]]

    def shown(text: str) -> str:  # display only: four places, the JSON keeps every digit
        return canonical(quantize(Decimal(text), 4, "half_up"))

    for a in d["alerts"]:
        change = "n/a" if a["change"] is None else f"{quantize(mul(Decimal(a['change']), HUNDRED), 2, 'half_up'):+f}%"
        a["previous"], a["value"] = shown(a["previous"]), shown(a["value"])
        table.append(
            [a["subject"], a["metric"], "+".join(a["reasons"]), a["previous"], a["value"], change,
             a["opened"], a["due"], a["answered"] or "-", a["status"]]
        )  # fmt: skip
    return head + aligned([[terminal_safe(str(c)) for c in row] for row in table], {3, 4, 5})


def junit_xml(suites: list[tuple[str, list[tuple[str, str | None]]]]) -> str:
    """JUnit XML of ``kpi test``: one testsuite per ruleset file, one testcase per case."""
    root = ET.Element("testsuites", name="kpi test")
    for name, outcomes in suites:
        failures = sum(1 for _, text in outcomes if text is not None)
        suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(outcomes)), failures=str(failures))
        for case, text in outcomes:
            node = ET.SubElement(suite, "testcase", classname=name, name=case)
            if text is not None:
                ET.SubElement(node, "failure", message=text.splitlines()[0] if text else "failed").text = text
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
