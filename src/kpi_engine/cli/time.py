"""``kpi calendar``, ``kpi plan`` and ``kpi alerts``: business calendars, yearly plans and alerts (DOMAIN S6, S7)."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kpi_engine.cli._common import (
    add_calendar_argument,
    add_input_arguments,
    inputs,
    print_warnings,
    read_plan_with_calendars,
    with_calendars,
    write,
)
from kpi_engine.errors import KpiError
from kpi_engine.io.loading import load_ruleset
from kpi_engine.report.texts import format_alerts, format_month


def calendar_arg(args: argparse.Namespace) -> Any:
    """The calendar named by ``--calendar FILE`` or ``--country CODE`` (None: the caller's default)."""
    from kpi_engine.io.calendars import read_calendar  # noqa: PLC0415
    from kpi_engine.time.calendar import business_calendar  # noqa: PLC0415

    if getattr(args, "calendar", None):
        return read_calendar(args.calendar)
    if getattr(args, "country", None):
        return business_calendar(args.country)
    return None


def cmd_calendar(args: argparse.Namespace) -> int:
    from kpi_engine.time.calendar import business_calendar  # noqa: PLC0415
    from kpi_engine.time.periods import Period  # noqa: PLC0415

    text = args.month.strip()
    if text == "import":
        from kpi_engine.cli.calendars import cmd_calendar_import  # noqa: PLC0415

        return cmd_calendar_import(args)
    if args.notice or args.year:
        raise KpiError("a notice and --year belong to kpi calendar import NOTICE")
    try:
        if len(text) == 4:  # a whole year: twelve months  # noqa: PLR2004
            year = Period.parse(text, "year")
            months = [Period.parse(f"{text}-{m:02d}", "month") for m in range(1, 13)]
        else:
            year, months = None, [Period.parse(text, "month")]
    except ValueError as exc:
        raise KpiError(f"{exc}; give a month (2026-10) or a year (2026)") from None
    cal = calendar_arg(args) or business_calendar()
    out = "\n".join(format_month(cal, m) for m in months)
    if year is not None:
        out += f"\n{year}: {len(cal.working_days_in(year))} working days\n"
    write(out, args.out)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from kpi_engine.io.targets import plan_csv, plan_json, write_plan_xlsx  # noqa: PLC0415
    from kpi_engine.time.calendar import unwatched  # noqa: PLC0415
    from kpi_engine.time.targets import LEVELS, decompose  # noqa: PLC0415

    with unwatched():  # a plan reaches the last day of its year by design: not a sign of the calendar's end
        result = decompose(read_plan_with_calendars(args, args.plan))
    levels = LEVELS if "all" in args.level else tuple(args.level)
    if args.format == "xlsx":
        if not args.out:
            raise KpiError("--format xlsx needs --out FILE")
        write_plan_xlsx(result, args.out, levels)
        return 0
    write(plan_json(result, levels) if args.format == "json" else plan_csv(result, levels), args.out)
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from kpi_engine.time.alerts import find_alerts  # noqa: PLC0415

    ruleset = with_calendars(load_ruleset(args.ruleset), args)
    try:
        opened = dt.date.fromisoformat(args.opened) if args.opened else None
    except ValueError:
        raise KpiError(f"--opened {args.opened!r} is not an ISO date (YYYY-MM-DD)") from None
    report = find_alerts(ruleset, period=args.period, opened=opened, **inputs(args, ruleset))
    print_warnings(report.warnings, args.msg)
    if args.log:
        added = append_alert_log(args.log, report.event_rows(ruleset.scorecard.timezone))
        print(f"{args.log}: {added} alert event(s) added, {len(report.alerts) - added} already there", file=sys.stderr)
    write(format_alerts(report, args.format, ruleset.scorecard.timezone), args.out)
    return 0


ALERT_LOG_COLUMNS = ("event_id", "type", "at", "rep", "metric", "alert_period")


def append_alert_log(path: str, rows: list[dict[str, str]]) -> int:
    """Add alert events to the alert log (CSV) unless an event of the same id is there; return how many were added.

    The log is the engine's own record of the alerts it opened, read back directly by a scorecard's
    window metric (``kpi evaluate … --events crm.csv alerts.csv``). It is rewritten atomically.

    Raises:
        KpiError: when the file exists but is not an alert log (other columns).
    """
    from kpi_engine.io.loading import read_table  # noqa: PLC0415
    from kpi_engine.io.output import write_file  # noqa: PLC0415
    from kpi_engine.report import CsvWriter, spreadsheet_safe  # noqa: PLC0415

    kept: list[dict[str, str]] = []
    if Path(path).exists():
        table = read_table(path)
        columns = tuple(table.header or (table.rows[0][1] if table.rows else ()))
        if columns and columns != ALERT_LOG_COLUMNS:
            raise KpiError(
                f"{path}: not an alert log (columns {', '.join(columns)}; expected {', '.join(ALERT_LOG_COLUMNS)})"
            )
        kept = [{k: str(row.get(k) or "") for k in ALERT_LOG_COLUMNS} for _line, row in table.rows]
    known = {row["event_id"] for row in kept}
    new = [row for row in rows if row["event_id"] not in known]
    buf = io.StringIO()
    writer = CsvWriter(buf)
    writer.writerow(ALERT_LOG_COLUMNS)
    for row in [*kept, *new]:
        writer.writerow([spreadsheet_safe(row[k]) for k in ALERT_LOG_COLUMNS])
    write_file(path, buf.getvalue())
    return len(new)


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add this group's commands to the ``kpi`` parser."""
    p = sub.add_parser(
        "alerts",
        parents=[lang],
        help=t("list subjects' metrics that moved beyond the threshold, with working-day due dates"),
    )
    p.add_argument("ruleset", metavar="RULESET")
    add_input_arguments(p, t)
    p.add_argument("--format", choices=("table", "json", "csv", "events"), default="table")
    p.add_argument("--opened", metavar="DATE", help=t("day the alerts open (default: the day after the period)"))
    p.add_argument(
        "--log", metavar="FILE",
        help=t("also add the alerts as events to this alert log (CSV), which kpi evaluate --events reads directly"),
    )  # fmt: skip
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser(
        "calendar", parents=[lang], help=t("print a month of a business calendar with its working days marked")
    )
    p.add_argument(
        "month", metavar="YYYY-MM", help="a month, a year (YYYY) for all twelve, or 'import NOTICE' (see below)"
    )
    p.add_argument(
        "notice", metavar="NOTICE", nargs="?",
        help=t("with 'import': the State Council's holiday notice (text as published) to turn into company days"),
    )  # fmt: skip
    p.add_argument("--year", type=int, help=t("import: the year, when the notice's text does not name it"))
    p.add_argument("--country", metavar="CODE", help="CN (default, with adjusted working weekends), US, DE…, weekdays")
    p.add_argument(
        "--calendar", metavar="FILE",
        help="a company calendar file (YAML: country, days_off, days_on); with import: the file to add the year to",
    )  # fmt: skip
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_calendar)

    p = sub.add_parser(
        "plan", parents=[lang], help=t("decompose a yearly plan into exact targets and budgets per subject and period")
    )
    p.add_argument("plan", metavar="PLAN")
    p.add_argument(
        "--level", nargs="+", default=["all"], choices=("all", "year", "half", "quarter", "month", "week", "day"),
        help="which period levels to output (default all)",
    )  # fmt: skip
    p.add_argument("--format", choices=("csv", "json", "xlsx"), default="csv")
    add_calendar_argument(p, t)
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_plan)
