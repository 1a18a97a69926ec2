"""``kpi calendar import NOTICE``: the State Council's yearly holiday notice into a company calendar file."""

from __future__ import annotations

import argparse
import sys

from kpi_engine.cli._common import write
from kpi_engine.errors import KpiError
from kpi_engine.report import render_issue


def cmd_calendar_import(args: argparse.Namespace) -> int:
    """Read the notice (checked: weekdays, day counts, dates), write the calendar file, list what was read."""
    from kpi_engine.io.calendars import calendar_yaml, read_calendar_spec, read_notice  # noqa: PLC0415
    from kpi_engine.time.calendar import CalendarSpec  # noqa: PLC0415

    if not args.notice:
        raise KpiError("kpi calendar import NOTICE: name the notice's text file (UTF-8)")
    notice = read_notice(args.notice, args.year)
    base = read_calendar_spec(args.calendar) if args.calendar else CalendarSpec()
    for issue in notice.warnings:
        print(render_issue(issue, args.msg), file=sys.stderr)
    for where, text in notice.notes:
        print(f"{where}: note: not a day off: {text}", file=sys.stderr)
    off, on = notice.days_off, notice.days_on
    print(
        f"{args.notice}: {notice.year}: {len(notice.holidays)} holidays, {len(off)} days off, "
        f"{len(on)} adjusted working days",
        file=sys.stderr,
    )
    write(calendar_yaml(notice.calendar_spec(base), notice, args.notice), args.out)
    return 0
