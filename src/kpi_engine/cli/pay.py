"""``kpi pay``: payouts from a pay plan, the appraisals of its scorecard, credited deals and a people file.

``kpi pay PLAN --ruleset R --records … --people FILE [--credits FILE | --policy P --lead-events L]
[--deals FILE] [--paid FILE]`` evaluates the scorecard for every period of the records up to the
pay period, credits the deals (or reads credits), and prints or writes the payouts. ``PLAN`` may
be a folder of plan versions with ``effective`` dates. The same options serve ``kpi explain PLAN
… --subject PERSON`` and ``kpi impact OLD_PLAN NEW_PLAN …`` (see ``explain_pay``, ``impact_pay``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from kpi_engine.cli._common import add_record_arguments, print_warnings, read, readable, write
from kpi_engine.errors import KpiError
from kpi_engine.payout.model import PayPlan
from kpi_engine.payout.results import PayRun
from kpi_engine.report import Messages


def is_pay_plan(path: str) -> bool:
    """Whether ``path`` is a pay plan (its first key is ``pay_plan:``) or a folder of them."""
    from kpi_engine.cli._common import first_key_is  # noqa: PLC0415
    from kpi_engine.io.loading import MAX_YAML_FILE_BYTES, _read_text  # noqa: PLC0415

    target = Path(path)
    if target.is_dir():
        files = sorted(target.glob("*.yaml")) + sorted(target.glob("*.yml"))
        return bool(files) and all(is_pay_plan(str(f)) for f in files)
    try:
        return first_key_is(_read_text(target, MAX_YAML_FILE_BYTES), "pay_plan")
    except KpiError:
        return False


def load_plan(path: str, period: str | None) -> PayPlan:
    """A pay plan file, or the version in effect for ``period`` from a folder of versions."""
    from kpi_engine.io.loading import load_pay_plan  # noqa: PLC0415

    if not Path(path).is_dir():
        return load_pay_plan(path)
    from kpi_engine.audit.versions import choose_version  # noqa: PLC0415
    from kpi_engine.io.records import ruleset_files  # noqa: PLC0415
    from kpi_engine.payout.build import parse_pay_plan  # noqa: PLC0415

    if period is None:
        raise KpiError(f"{path} is a folder of pay plan versions: give --period to pick the version in effect")
    plans = [parse_pay_plan(text, name) for name, text in ruleset_files(path)]
    chosen = choose_version(plans, period, plans[0].period if plans else None)
    print(f"{path}: version {chosen.version} ({chosen.file}) is in effect in {period}", file=sys.stderr)
    return chosen


def pay_inputs(args: argparse.Namespace, plan: PayPlan) -> dict[str, Any]:
    """The ``pay`` keyword arguments of the command line's inputs (appraisals evaluated here).

    The credits (``--credits FILE``, or the attribution of ``--policy`` and ``--lead-events``) are
    read first and given both to the appraisal, where they fill the scorecard's inputs declared
    ``from: {credits: …}`` (``appraise_periods(…, credits=…)``), and to pay, for commission: one
    meaning whichever way they arrive.
    """
    from kpi_engine.attribution import attribute, load_policy, read_events  # noqa: PLC0415
    from kpi_engine.cli._common import inputs  # noqa: PLC0415
    from kpi_engine.io.loading import load_ruleset  # noqa: PLC0415
    from kpi_engine.payout.appraise import appraise_periods  # noqa: PLC0415

    t = args.msg.t
    if bool(args.policy) != bool(args.lead_events):
        raise KpiError(t("--policy and --lead-events go together"))
    if args.credits and args.policy:
        raise KpiError(t("give the credits (--credits) or the lead log to credit (--policy, --lead-events), not both"))
    if args.people is None:
        raise KpiError(t("pay needs the people file: --people FILE"))
    credited: Any = None
    if args.credits:
        credited = read(args, args.credits)
    elif args.policy:
        policy = load_policy(args.policy)
        credited = attribute(policy, read_events(args.lead_events, policy, encoding=args.encoding))
    appraisals: Any = None
    if args.appraisals:
        if args.scorecard:
            raise KpiError(t("give --appraisals or --ruleset with --records, not both"))
        appraisals = read(args, args.appraisals)
    elif args.scorecard:
        if not args.records:
            raise KpiError(t("--ruleset needs --records"))
        ruleset = load_ruleset(args.scorecard)
        given = inputs(argparse.Namespace(**{**vars(args), "policy": None, "lead_events": None}), ruleset)
        appraisals = appraise_periods(
            ruleset, given["records"], members=given["members"], events=given["events"], credits=credited,
            through=args.period, strict=args.strict, plan=plan,
        )  # fmt: skip
        for a in appraisals:
            print_warnings(a.warnings, args.msg)
    return {
        "appraisals": appraisals,
        "people": read(args, args.people),
        "credits": credited,
        "deals": read(args, args.deals) if args.deals else None,
        "paid": read(args, args.paid) if args.paid else None,
        "period": args.period,
    }


def run_pay(args: argparse.Namespace, plan: PayPlan, given: dict[str, Any] | None = None) -> PayRun:
    """The pay run of the command line's plan and inputs; warnings printed on stderr."""
    from kpi_engine.payout.engine import pay  # noqa: PLC0415

    given = dict(given or pay_inputs(args, plan))
    run = pay(plan, given.pop("appraisals"), given.pop("people"), **given)
    print_warnings(run.warnings, args.msg)
    return run


def component_titles(plan: PayPlan) -> dict[str, str]:
    """Component id → title (the labels of pay lines)."""
    return {c.id: c.title or c.id for c in plan.components}


def trace_names(args: argparse.Namespace, plan: PayPlan) -> dict[tuple[str, str], str]:
    """Titles for the ids a pay trace names, for statements in Chinese (none in English: the ids, as the register).

    Lines by their component's title; ``total`` in the reader's words; with ``--ruleset``, the
    scorecard's metrics and inputs by their titles, ``<kpi>.score`` by the KPI's title and its
    gates by their reasons.
    """
    from kpi_engine.io.loading import load_ruleset  # noqa: PLC0415

    msg = args.msg
    if msg.lang == "en":
        return {}
    names: dict[tuple[str, str], str] = {("line", c.id): c.title or c.id for c in plan.components}
    names["measure", "total"] = msg.t("total")
    if getattr(args, "scorecard", None):
        ruleset = load_ruleset(args.scorecard)
        for specs in (ruleset.spec.inputs, ruleset.spec.metrics):
            for name, spec in specs.items():
                title = getattr(spec, "title", None)
                if title:
                    names["measure", name] = title
        for k in ruleset.scorecard.kpis:
            if k.title:
                names["measure", f"{k.id}.score"] = msg.t("{kpi} score", kpi=k.title)
        for g in ruleset.scorecard.gates:
            if g.reason:
                names["scorecard_gate", g.id] = g.reason
    return names


def format_run(
    run: PayRun,
    plan: PayPlan,
    fmt: str,
    msg: Messages,
    *,
    bom: bool = False,
    names: Mapping[tuple[str, str], str] | None = None,
) -> str | bytes:
    """Render a pay run: ``table``, ``json``, ``csv`` (register), ``xlsx`` (register), ``html`` (statements)."""
    from kpi_engine.report import pay as report  # noqa: PLC0415

    if fmt == "json":
        return run.to_json()
    if fmt == "csv":
        return report.render_register_csv(run, bom=bom)
    if fmt == "xlsx":
        return report.render_register_xlsx(run, msg)
    if fmt == "html":
        return report.render_pay_statements(run, msg, component_titles(plan), names)
    return report.render_pay_table(run, msg, [c.id for c in plan.components])


def _columnar_wanted(args: argparse.Namespace, people: Any) -> bool:
    """``--engine columnar``, or ``auto`` for a large register (the column path writes registers and totals)."""
    if args.engine == "row":
        return False
    fits = args.format in {"csv", "parquet", "table"} and not args.record
    if args.engine == "columnar":
        if not fits:
            raise KpiError(
                args.msg.t("--engine columnar writes the register (csv, parquet) or the table; use --engine row")
            )
        return True
    return fits and args.format != "table" and len(people.rows) >= COLUMNAR_FROM


COLUMNAR_FROM = 2_000  # people from which ``--engine auto`` writes the register on the columnar executor


def _pay_columnar(args: argparse.Namespace, plan: PayPlan, given: dict[str, Any]) -> int:
    """The register or the table of a company, from the columnar executor (``payout.columnar``)."""
    import polars as pl  # noqa: PLC0415 - the columnar extra

    from kpi_engine.audit.record import scores_table  # noqa: PLC0415
    from kpi_engine.payout.columnar import pay_table  # noqa: PLC0415
    from kpi_engine.payout.engine import latest_period, prepare_inputs  # noqa: PLC0415
    from kpi_engine.payout.inputs import credits_from_attribution  # noqa: PLC0415

    inputs = prepare_inputs(plan, given["appraisals"], given["people"], credits=given["credits"],
                            deals=given["deals"], paid=given["paid"])  # fmt: skip
    print_warnings(inputs.warnings, args.msg)
    period = args.period or str(latest_period(plan, inputs))

    def frame(table: Any) -> Any:
        if table is None:
            return None
        rows = [{k: (None if v is None else str(v)) for k, v in row.items()} for _, row in table.rows]
        return pl.DataFrame(rows, infer_schema_length=None) if rows else None

    credited = given["credits"]
    if credited is not None and hasattr(credited, "policy"):
        credited = credits_from_attribution(credited)
    scores = scores_table(inputs.scores.values()) if inputs.scores else None
    table = pay_table(
        plan, frame(scores), frame(given["people"]), credits=frame(credited), deals=frame(given["deals"]),
        paid=frame(given["paid"]), period=period,
    )  # fmt: skip
    if table.reason:
        print(f"kpi pay: the row executor computed this run ({table.reason})", file=sys.stderr)
    for warning in table.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    register = table.register()
    names = {row["person"]: row.get("name") or "" for _, row in given["people"].rows}
    register = register.with_columns(
        pl.col("person").cast(pl.String).replace_strict(names, default="").alias("name"),
        pl.lit("").alias("description"),
    ).select("period", "person", "name", "line", "component", "kind", "amount", "currency", "description")
    if args.format == "parquet":
        from kpi_engine.io.arrow import write_arrow_parquet  # noqa: PLC0415

        if args.out is None:
            raise KpiError("--format parquet writes a file: name it with --out FILE.parquet")
        write_arrow_parquet(lambda: register.with_columns(pl.col(pl.Enum).cast(pl.String)).to_arrow(), args.out)
        return 0
    if args.format == "csv":
        from kpi_engine.report.pay import register_csv_rows  # noqa: PLC0415

        bom = args.bom if args.bom is not None else args.out is not None
        rows = ({k: "" if v is None else str(v) for k, v in r.items()} for r in register.iter_rows(named=True))
        write(register_csv_rows(rows, bom=bom), args.out)
        return 0
    totals = table.totals()
    lines = [f"{plan.id} {plan.version}, pay period {period}, {plan.currency}: {len(totals)} people (columnar)"]
    lines.extend(f"{person}  {total}" for person, total in sorted(totals.items()))
    write("\n".join(lines) + "\n", args.out)
    return 0


def cmd_pay(args: argparse.Namespace) -> int:
    plan = load_plan(args.pay_plan, args.period)
    given = pay_inputs(args, plan)
    if _columnar_wanted(args, given["people"]):
        return _pay_columnar(args, plan, given)
    run = run_pay(args, plan, given)
    if args.record:
        record_pay(args, plan, run)
    if args.format == "parquet":
        from kpi_engine.io.arrow import write_arrow_parquet  # noqa: PLC0415
        from kpi_engine.report.pay import register_arrow  # noqa: PLC0415

        if args.out is None:
            raise KpiError("--format parquet writes a file: name it with --out FILE.parquet")
        write_arrow_parquet(lambda: register_arrow(run), args.out)
        return 0
    bom = args.bom if args.bom is not None else (args.format == "csv" and args.out is not None)
    names = trace_names(args, plan) if args.format == "html" else None
    output = format_run(run, plan, args.format, args.msg, bom=bom, names=names)
    write(readable(output) if args.format == "table" and isinstance(output, str) else output, args.out, args.msg)
    return 0


def record_pay(args: argparse.Namespace, plan: PayPlan, run: PayRun) -> None:
    """Write the run record of ``kpi pay --record FILE``, checked against the run just computed."""
    from kpi_engine.audit.record import pay_values, record_pay_run  # noqa: PLC0415

    if args.record_inputs == "digest":
        raise KpiError("a pay record keeps its inputs inline (--record-inputs inline)")
    given = pay_inputs(args, plan)
    recorded, written = record_pay_run(plan.text, plan_name=plan.file, created=args.created, **given)
    if pay_values(recorded) != pay_values(run):  # pragma: no cover - row order changed a result
        raise KpiError("internal error: the pay depends on the order of the input rows; nothing was recorded")
    write(written.to_bytes(), args.record)


def explain_pay(args: argparse.Namespace) -> int:
    """``kpi explain PLAN … --subject PERSON``: one person's pay, every line with its trace."""
    from kpi_engine.report.pay import explain_person  # noqa: PLC0415

    plan = load_plan(args.ruleset, args.period)
    run = run_pay(args, plan)
    try:
        person = run.person(args.subject)
    except KeyError:
        known = ", ".join(p.person for p in run.people)
        print(f"'{args.subject}' is not paid in {run.period}; paid: {known}", file=sys.stderr)
        return 1
    write(readable(explain_person(run, person, args.msg, trace_names(args, plan))), args.out)
    return 0


def statement_pay(args: argparse.Namespace) -> int:
    """``kpi statement PLAN …``: a pay statement per person (``--subject``: some), as ``kpi pay --format html``."""
    from kpi_engine.report.pay import render_pay_statements  # noqa: PLC0415

    plan = load_plan(args.ruleset, args.period)
    run = run_pay(args, plan)
    if args.subject:
        paid = {p.person for p in run.people}
        unknown = [s for s in args.subject if s not in paid]
        if unknown:
            raise KpiError(
                args.msg.t("'{person}' is not paid in {period}; paid: {known}", person=", ".join(unknown),
                           period=run.period, known=", ".join(sorted(paid)))
            )  # fmt: skip
        run = attrs.evolve(run, people=tuple(p for p in run.people if p.person in args.subject))
    names = trace_names(args, plan)
    write(render_pay_statements(run, args.msg, component_titles(plan), names), args.out, args.msg)
    return 0


def impact_pay(args: argparse.Namespace) -> int:
    """``kpi impact OLD_PLAN NEW_PLAN …``: each person's change in pay and tier, and the total cost."""
    from kpi_engine.payout.impact import pay_impact  # noqa: PLC0415
    from kpi_engine.report.pay import render_pay_impact  # noqa: PLC0415

    before = load_plan(args.before, args.period)
    after = load_plan(args.after, args.period)
    a = run_pay(args, before)
    b = run_pay(args, after)
    result = pay_impact(before, after, a, b)
    write(render_pay_impact(result, args.format, args.msg), args.out)
    return 0


def add_pay_arguments(p: argparse.ArgumentParser, t: Callable[..., str], *, inputs: bool = False) -> None:
    """The inputs of a pay run (``kpi pay``; with ``inputs`` also the appraisal ones ``kpi pay`` needs)."""
    if inputs:
        p.add_argument(
            "--records", metavar="FILE", nargs="+", action="extend", default=[],
            help=t("records of the scorecard (several allowed), appraised for every period up to the pay period"),
        )  # fmt: skip
        p.add_argument("--encoding", metavar="NAME", help=t("of text files (default UTF-8), e.g. gb18030"))
        p.add_argument("--sheet", metavar="NAME", help=t("sheet of an Excel workbook (default: the first visible one)"))
        p.add_argument(
            "--allow-extra-columns", action="store_true", help=t("ignore data columns the ruleset does not use")
        )
        p.add_argument("--members", metavar="FILE", help=t("membership rows: member,parent,period"))
        events = t(
            "event rows for aggregate and window metrics (several allowed, e.g. the CRM log and kpi alerts' log)"
        )
        p.add_argument("--events", metavar="FILE", nargs="+", action="extend", default=[], help=events)
        targets = t("a yearly plan (kpi plan): fills the target inputs it provides")
        p.add_argument("--plan", metavar="PLAN", help=targets)
        p.add_argument("--period", metavar="P", help=t("the pay period (default: the latest appraised or credited)"))
        p.add_argument("--strict", action="store_true", help=t("every N/A is an error"))
        p.add_argument("--policy", metavar="POLICY", help=t("attribution policy: credit the deals of --lead-events"))
        p.add_argument("--lead-events", metavar="FILE", help=t("lead event log for --policy"))
        p.add_argument("--out", metavar="FILE", help=t("write here instead of stdout"))
    p.add_argument(
        "--ruleset", dest="scorecard", metavar="RULESET",
        help=t("pay plans: the scorecard whose appraisal the plan reads"),
    )  # fmt: skip
    p.add_argument(
        "--appraisals", metavar="FILE", help=t("pay plans: appraisal rows instead of --ruleset and --records")
    )
    p.add_argument(
        "--people", metavar="FILE", help=t("pay plans: people (person, start, end, team, target_incentive…)")
    )
    p.add_argument("--credits", metavar="FILE", help=t("pay plans: credited deals (kpi attribute --format csv)"))
    p.add_argument("--deals", metavar="FILE", help=t("pay plans: deal facts (deal_id, product, type, paid, cancelled)"))
    p.add_argument(
        "--paid", metavar="FILE", help=t("pay plans: lines already paid (an earlier register), for true-ups")
    )


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add this group's commands to the ``kpi`` parser."""
    p = sub.add_parser(
        "pay", parents=[lang], help=t("payouts from a pay plan, appraisals, credited deals and people, with traces")
    )
    p.add_argument("pay_plan", metavar="PLAN")
    add_pay_arguments(p, t, inputs=True)
    p.add_argument(
        "--format", choices=("table", "json", "csv", "xlsx", "parquet", "html"), default="table",
        help=t("table; json for apps; csv, xlsx or parquet: the payout register for payroll; html: statements"),
    )  # fmt: skip
    p.add_argument(
        "--bom", action=argparse.BooleanOptionalAction, default=None,
        help=t("start CSV with a UTF-8 byte-order mark for Excel (default: on with --out)"),
    )  # fmt: skip
    p.add_argument(
        "--engine", choices=("auto", "row", "columnar"), default="auto",
        help=t("row: person by person, with traces; columnar: every person at once (the register and totals); "
               "auto: columnar for a register of 2,000 people or more"),
    )  # fmt: skip
    add_record_arguments(p)
    p.set_defaults(func=cmd_pay)
