"""``kpi statement``: one printable page per person (A4, Chinese or English), from an appraisal or a pay plan.

The page layout is ``kpi_engine.report.statement``'s; given a pay plan (``kpi statement PLAN
--ruleset R --records … --people …``, the inputs of ``kpi pay``) the pages are pay statements,
the same as ``kpi pay --format html``. Options are those of ``kpi evaluate`` (records, members, events, period …), plus
``--subject`` to print some people only and ``--history`` for the trend of each total.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from kpi_engine.cli._common import add_input_arguments, inputs, load_version, stages, warn, write
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.engine import evaluate
from kpi_engine.report import names_from_tables, view_of
from kpi_engine.report.statement import appraisal_pages, render_statements


def cmd_statement(args: argparse.Namespace) -> int:
    from kpi_engine.cli.pay import is_pay_plan, statement_pay  # noqa: PLC0415

    if is_pay_plan(args.ruleset):
        return statement_pay(args)
    t = args.msg.t
    if not args.records:
        raise KpiError(t("--records is required"))
    with stages() as run:
        run.stage(t("reading"))
        ruleset, _ = load_version(args.ruleset, args.period, args)
        given = inputs(args, ruleset)
        run.stage(t("appraising"))
        appraisal = warn(evaluate(ruleset, period=args.period, strict=args.strict, **given), args.msg)
        history = [
            evaluate(ruleset, period=period, strict=args.strict, **given)
            for period in args.history or ()
            if period != appraisal.period
        ]
        names = names_from_tables(given["records"], appraisal.period)
        view = view_of(appraisal, ruleset=ruleset, names=names, lang=args.lang, ids=args.ids)
        known = {r.subject for r in appraisal.results}
        unknown = [s for s in args.subject or () if s not in known]
        if unknown:
            raise KpiError(
                t("subject '{subject}' was not appraised in {period}; appraised: {known}", subject=", ".join(unknown),
                  period=appraisal.period, known=", ".join(sorted(known)))
            )  # fmt: skip
        run.stage(t("writing"))
        pages = appraisal_pages(view, history=history, subjects=args.subject or ())
        title = t("Statements: {title} — {period}", title=appraisal.title, period=appraisal.period)
        write(render_statements(pages, lang=args.lang, title=title), args.out, args.msg)
    return 0


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add ``kpi statement`` to the ``kpi`` parser."""
    p = sub.add_parser(
        "statement", parents=[lang], help=t("one printable page per person: scores, contributions, trend and trace")
    )
    from kpi_engine.cli.pay import add_pay_arguments  # noqa: PLC0415

    p.add_argument("ruleset", metavar="RULESET")
    add_input_arguments(p, t, records_required=False)
    add_pay_arguments(p, t)
    p.add_argument(
        "--subject", metavar="ID", nargs="+", action="extend", help=t("only these people (default: everyone)")
    )
    p.add_argument(
        "--history", metavar="P", nargs="+", action="extend",
        help=t("earlier periods to appraise from the same records, drawn as each person's trend"),
    )  # fmt: skip
    p.add_argument("--ids", action="store_true", help=t("show KPI ids instead of their titles"))
    p.set_defaults(func=cmd_statement)
