"""``kpi diff``, ``kpi impact`` and ``kpi replay``, and the run record ``kpi evaluate --record`` writes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from kpi_engine.audit.diff import compare
from kpi_engine.cli._common import (
    add_input_arguments,
    event_tables,
    inputs,
    load_version,
    read,
    readable,
    record_table,
    warn,
    write,
)
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.engine import evaluate
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.build import Ruleset
from kpi_engine.report.texts import format_impact


def record_appraisal(
    args: argparse.Namespace, ruleset: Ruleset, text: str | None, given: dict[str, Any], appraisal: Appraisal
) -> None:
    """Write the run record of ``kpi evaluate --record FILE``: the inputs in canonical order and the run's values.

    The values are the run's own (``appraisal``, from whichever engine ran): the results do not
    depend on the order of the rows (a property the tests hold), so the canonical rows are not
    appraised again, and no trace is built (``kpi explain RECORD`` builds them when asked). Inputs
    the kernel read as columns are encoded from those columns (``audit.record.frame_rows``: the
    same bytes as the row reader's table), or read again as rows when that cannot be promised.
    """
    from kpi_engine.audit.record import EncodedRows  # noqa: PLC0415
    from kpi_engine.audit.record import record_appraisal as record  # noqa: PLC0415
    from kpi_engine.io.records import read_text  # noqa: PLC0415

    if (args.policy or getattr(args, "plan", None)) and args.record_inputs == "digest":
        option = "--policy" if args.policy else "--plan"
        raise KpiError(
            f"--record-inputs digest cannot refer to records merged with {option} (the files differ from the rows "
            "appraised, so the record could not be replayed); use --record-inputs inline"
        )
    records: list[Any] = given["records"]
    if not isinstance(records, list | tuple):  # read as columns by the kernel: encoded from those columns
        records = [_frame_rows(args, records, path) for path in args.records]
    if given["events"] is not None and not isinstance(given["events"], Table | list | tuple):
        given = {**given, "events": event_tables(args)}
    if not args.policy:
        records = [t if isinstance(t, EncodedRows) else record_table(t, src, args)
                   for t, src in zip(records, args.records, strict=True)]  # fmt: skip
    members = record_table(given["members"], args.members, args) if args.members else None
    if len(args.events) > 1:
        raise KpiError("a run record holds one event table: --record takes a single --events file")
    events = record_table(given["events"], args.events[0], args) if args.events else None
    _, written = record(
        text if text is not None else read_text(args.ruleset),
        records,
        ruleset_name=ruleset.file,
        period=appraisal.period,
        members=members,
        events=events,
        strict=args.strict,
        inputs=args.record_inputs,
        created=args.created,
        totals=given.get("totals", "refuse"),
        unlisted=given.get("unlisted", "error"),
        allow_extra_columns=args.allow_extra_columns,
        appraisal=appraisal,
    )
    write(written.pieces(), args.record)  # streamed to a temporary file, then renamed: never joined whole


def _frame_rows(args: argparse.Namespace, frame: Any, path: str) -> Any:
    """The records the kernel read as columns, encoded for the record (``EncodedRows``), or read again as rows."""
    from kpi_engine.audit.record import frame_rows  # noqa: PLC0415
    from kpi_engine.io.column_files import read_text_columns  # noqa: PLC0415

    if Path(path).suffix.lower() == ".csv":
        name = record_table(Table(path, ()), path, args).name  # by file name, or by path below the record (digest)
        encoded = frame_rows(frame.data, name, lambda columns: read_text_columns(Path(path), columns))
        if encoded is not None:
            return encoded
    return read(args, path, records=True)


def cmd_diff(args: argparse.Namespace) -> int:
    from kpi_engine.audit.diff import ruleset_changes  # noqa: PLC0415

    before, _ = load_version(args.before, args.period, args)
    after, _ = load_version(args.after, args.period, args)
    rules = ruleset_changes(before, after)
    report: dict[str, Any] = {"rules": [attrs.asdict(c) for c in rules]}
    lines = [f"{args.before} → {args.after}: {len(rules)} rule change(s)"]
    lines.extend(f"  {c.text}" for c in rules)
    if args.records:
        from kpi_engine.audit.impact import undated  # noqa: PLC0415

        a = warn(evaluate(undated(before), period=args.period, strict=args.strict, **inputs(args, before)), args.msg)
        b = evaluate(undated(after), period=a.period, strict=args.strict, **inputs(args, after))
        report.update(compare(a, b))
        count = len(report["changes"])
        lines.append(f"outcomes, period {a.period}: {count} subject(s) change, {report['unchanged']} unchanged")
        for change in report["changes"]:
            lines.append(f"  {change['subject']}")
            lines.extend(f"    {k}: {v[0]} → {v[1]}" for k, v in change.items() if k != "subject")
    if args.format == "json":
        write(json.dumps(report, ensure_ascii=False, indent=2) + "\n", args.out)
        return 0
    write(readable("\n".join(lines) + "\n"), args.out)
    return 0


def cmd_impact(args: argparse.Namespace) -> int:
    from kpi_engine.audit.impact import impact, undated  # noqa: PLC0415
    from kpi_engine.cli.pay import impact_pay, is_pay_plan  # noqa: PLC0415

    if is_pay_plan(args.before):
        return impact_pay(args)
    if not args.records:
        raise KpiError(args.msg.t("--records is required"))
    before, _ = load_version(args.before, args.period, args)
    after, _ = load_version(args.after, args.period, args)
    a = evaluate(undated(before), period=args.period, **inputs(args, before))
    b = evaluate(undated(after), period=a.period, **inputs(args, after))
    result = impact(a, b, before.scorecard, after.scorecard)
    write(format_impact(result, args.format, args.before, args.after), args.out)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from kpi_engine.audit.replay import replay  # noqa: PLC0415
    from kpi_engine.io.records import read_record, resolver  # noqa: PLC0415

    raw = read_record(args.record)
    resolve = resolver(args.record, args.inputs)
    report = replay(raw, resolve=resolve, engine=args.engine)
    if args.format == "json":
        write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n", args.out)
    else:
        write(report.render(), args.out)
    if args.traces and report.reproduced:
        write_traces(raw, resolve, args.traces)
    elif args.traces:
        print(f"{args.traces}: not written: the record is not reproduced", file=sys.stderr)
    return 0 if report.reproduced else 1


def write_traces(raw: bytes, resolve: Any, out: str) -> None:
    """``kpi replay RECORD --traces FILE``: the results with every trace, as ``kpi evaluate --traces`` writes them."""
    from kpi_engine.audit.replay import replayed_appraisal  # noqa: PLC0415
    from kpi_engine.cli.appraise import stream_appraisal  # noqa: PLC0415

    write(stream_appraisal(replayed_appraisal(raw, resolve=resolve), "json", traces=True), out)


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add this group's commands to the ``kpi`` parser."""
    for name, func, text in (
        ("diff", cmd_diff, t("what changed between two versions of a ruleset (and, with --records, their outcomes)")),
        ("impact", cmd_impact, t("who moves (total, grade, rank, bonus) under a new version, on the same records")),
    ):
        p = sub.add_parser(name, parents=[lang], help=text)
        p.add_argument("before", metavar="RULESET")
        p.add_argument("after", metavar="CHANGED_RULESET")
        add_input_arguments(p, t, records_required=False)
        if name == "impact":
            from kpi_engine.cli.pay import add_pay_arguments  # noqa: PLC0415

            add_pay_arguments(p, t)
        p.add_argument("--format", choices=("table", "json"), default="table")
        p.set_defaults(func=func)

    p = sub.add_parser("replay", help="recompute a run record and say whether it is reproduced exactly")
    p.add_argument("record", metavar="RECORD")
    p.add_argument(
        "--inputs", metavar="DIR",
        help="read inputs kept by digest from DIR instead of the record's folder (paths below it only)",
    )  # fmt: skip
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--out", metavar="FILE")
    p.add_argument(
        "--engine", choices=("auto", "row", "columnar"), default="auto",
        help="recompute an appraisal record with this engine (row: the reference evaluator, independent of the "
        "kernel that may have written it)",
    )  # fmt: skip
    p.add_argument(
        "--traces", metavar="FILE",
        help="also write the record's results with every KPI's trace (JSON, as kpi evaluate --traces) when reproduced",
    )  # fmt: skip
    p.set_defaults(func=cmd_replay)
