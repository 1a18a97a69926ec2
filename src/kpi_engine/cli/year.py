"""``kpi track``, ``kpi risks`` and ``kpi territories``: running the year (DOMAIN S4, S5, S6).

``kpi track PLAN --actuals FILE…`` holds the actuals against the plan on ``--as-of`` (forecast,
gap, at risk, budgets, alerts; ``--risks`` adds the risk register to the page); ``kpi risks``
rates a risk register and lists overdue reviews; ``kpi territories`` reports the balance of
accounts over territories and proposes moves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kpi_engine.cli._common import add_calendar_argument, print_warnings, read, read_plan_with_calendars, write
from kpi_engine.errors import KpiError
from kpi_engine.io.loading import MAX_YAML_FILE_BYTES, _read_text


def _as_of(args: argparse.Namespace) -> dt.date | None:
    if not args.as_of:
        return None
    try:
        return dt.date.fromisoformat(args.as_of)
    except ValueError:
        raise KpiError(args.msg.t("--as-of {value!r} is not an ISO date (YYYY-MM-DD)", value=args.as_of)) from None


def _names(tables: list[Any]) -> dict[str, str]:
    from kpi_engine.report import names_from_tables  # noqa: PLC0415

    return names_from_tables(tables)


def _risk_report(path: str, as_of: dt.date) -> Any:
    from kpi_engine.management.risks import assess, parse_register  # noqa: PLC0415

    return assess(parse_register(_read_text(Path(path), MAX_YAML_FILE_BYTES), path), as_of)


def cmd_track(args: argparse.Namespace) -> int:
    from kpi_engine.report.year import events_csv, track_csv, track_table, year_html  # noqa: PLC0415
    from kpi_engine.time.targets import decompose, subject_titles  # noqa: PLC0415
    from kpi_engine.time.tracking import track  # noqa: PLC0415

    plan = read_plan_with_calendars(args, args.plan)
    tables = [read(args, path) for path in args.actuals]
    levels = tuple(args.level)
    html = args.format == "html"
    computed = tuple(dict.fromkeys(("year", "quarter", "month", *levels))) if html else levels
    report = track(plan, decompose(plan), tables, as_of=_as_of(args), levels=computed)
    print_warnings(report.warnings, args.msg)
    names = {**subject_titles(plan), **_names(tables)}
    risks = _risk_report(args.risks, report.as_of) if args.risks else None
    if args.format == "json":
        data = report.to_dict()
        if risks is not None:
            data["risks"] = risks.to_dict()
        write(json.dumps(data, ensure_ascii=False, indent=2) + "\n", args.out)
    elif args.format == "csv":
        write(track_csv(report, levels), args.out)
    elif args.format == "events":
        write(events_csv([a.event_row() for a in report.alerts]), args.out)
    elif html:
        write(year_html(report, args.msg, names, risks), args.out)
    else:
        from kpi_engine.report.year import risks_table  # noqa: PLC0415

        text = track_table(report, args.msg, names, levels)
        if risks is not None:
            text += "\n" + risks_table(risks, args.msg)
        write(text, args.out)
    return 0


def cmd_risks(args: argparse.Namespace) -> int:
    from kpi_engine.report.year import risks_table  # noqa: PLC0415

    as_of = _as_of(args)
    if as_of is None:
        raise KpiError(args.msg.t("--as-of DATE is needed: overdue means overdue on a day"))
    report = _risk_report(args.register, as_of)
    if args.format == "json":
        write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n", args.out)
    else:
        write(risks_table(report, args.msg), args.out)
    return 0


def cmd_territories(args: argparse.Namespace) -> int:
    from kpi_engine.management.territories import (  # noqa: PLC0415
        parse_territories,
        propose,
        propose_optimal,
        read_accounts,
    )
    from kpi_engine.report.year import territories_table  # noqa: PLC0415

    spec = parse_territories(_read_text(Path(args.design), MAX_YAML_FILE_BYTES), args.design) if args.design else None
    criterion = args.by or (spec.criterion if spec else None)
    if criterion is None:
        raise KpiError(args.msg.t("say what to balance: --by potential|workload, or a --design file with a criterion"))
    moves = args.moves if args.moves is not None else (spec.max_moves if spec else 10)
    if moves < 0:
        raise KpiError(args.msg.t("--moves {value} is negative: give 0 or more", value=moves))
    table = read(args, args.accounts)
    accounts = read_accounts(table, spec)
    names = dict(spec.names) if spec else {}
    search = propose_optimal if args.solver == "cp-sat" else propose
    proposal = search(accounts, criterion, territories=names, max_moves=moves)
    if args.format == "json":
        write(json.dumps(proposal.to_dict(), ensure_ascii=False, indent=2) + "\n", args.out)
    else:
        write(territories_table(proposal, args.msg, names), args.out)
    return 0


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add this group's commands to the ``kpi`` parser."""
    p = sub.add_parser(
        "track", parents=[lang],
        help=t("hold actuals against the yearly plan: forecast, gap, at risk, budgets and alerts"),
    )  # fmt: skip
    p.add_argument("plan", metavar="PLAN")
    p.add_argument(
        "--actuals", required=True, metavar="FILE", nargs="+", action="extend",
        help=t("actuals and spend: subject, period (a month, week or day) and the items' columns"),
    )  # fmt: skip
    p.add_argument("--as-of", metavar="DATE", help=t("the day the actuals are complete through (default: the latest)"))
    p.add_argument(
        "--level", nargs="+", default=["year"], choices=("year", "half", "quarter", "month", "week", "day"),
        help=t("period levels to report (default year; the html page adds quarters and months)"),
    )  # fmt: skip
    p.add_argument("--risks", metavar="REGISTER", help=t("a risk register to add (its matrix and overdue reviews)"))
    add_calendar_argument(p, t)
    p.add_argument("--format", choices=("table", "json", "csv", "html", "events"), default="table")
    p.add_argument("--encoding", metavar="NAME", help=t("of text files (default UTF-8), e.g. gb18030"))
    p.add_argument("--sheet", metavar="NAME", help=t("sheet of an Excel workbook (default: the first)"))
    p.add_argument("--out", metavar="FILE", help=t("write here instead of stdout"))
    p.set_defaults(func=cmd_track)

    p = sub.add_parser(
        "risks", parents=[lang], help=t("rate a risk register through its matrix and list overdue reviews")
    )
    p.add_argument("register", metavar="REGISTER")
    p.add_argument("--as-of", metavar="DATE", required=True, help=t("the day reviews are checked on"))
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--out", metavar="FILE", help=t("write here instead of stdout"))
    p.set_defaults(func=cmd_risks)

    p = sub.add_parser(
        "territories", parents=[lang],
        help=t("report the balance of accounts over territories and propose moves that improve it"),
    )  # fmt: skip
    p.add_argument("accounts", metavar="ACCOUNTS", help=t("account, territory, potential, workload"))
    p.add_argument("--design", metavar="FILE", help=t("a territory design: criterion, names, locked accounts"))
    p.add_argument("--by", choices=("potential", "workload"), help=t("what to balance (overrides the design)"))
    p.add_argument("--moves", type=int, metavar="N", help=t("propose at most N account moves (default 10)"))
    p.add_argument(
        "--solver", choices=("local", "cp-sat"), default="local",
        help=t("local: best change first (a local optimum); cp-sat: the smallest spread, proven (extra solver)"),
    )  # fmt: skip
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--encoding", metavar="NAME", help=t("of text files (default UTF-8), e.g. gb18030"))
    p.add_argument("--sheet", metavar="NAME", help=t("sheet of an Excel workbook (default: the first)"))
    p.add_argument("--out", metavar="FILE", help=t("write here instead of stdout"))
    p.set_defaults(func=cmd_territories)
