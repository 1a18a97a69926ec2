"""``kpi calendar``, ``kpi plan`` and ``kpi alerts``: business calendars, yearly plans and alerts (DOMAIN S6, S7)."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from kpi_engine.cli._common import add_input_arguments, inputs, with_calendars, write
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
    from kpi_engine.io.plans import plan_csv, plan_json, read_plan, write_plan_xlsx  # noqa: PLC0415
    from kpi_engine.time.plan import LEVELS, decompose  # noqa: PLC0415

    result = decompose(read_plan(args.plan))
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
    write(format_alerts(report, args.format, ruleset.scorecard.timezone), args.out)
    return 0


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
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_plan)
