"""``kpi evaluate`` and ``kpi explain``: appraise every subject, or show one subject's trace.

``kpi evaluate`` runs end to end on the columnar kernel when it can (one CSV or Parquet file read
straight into Polars columns, CSV/JSON written from the kernel's columns); otherwise through the
row reader and the result objects. Both give the same bytes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kpi_engine._limits import KERNEL_BYTES_PER_INPUT_BYTE, NOT_ENOUGH_MEMORY, polars_allowed
from kpi_engine.cli._common import (
    Stages,
    add_input_arguments,
    add_record_arguments,
    event_tables,
    inputs,
    load_version,
    noted,
    readable,
    screening,
    stages,
    warn,
    write,
)
from kpi_engine.cli.audit import record_appraisal
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.engine import evaluate
from kpi_engine.evaluation.explain import explain_subject
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.io.arrow import write_parquet
from kpi_engine.io.output import replacing
from kpi_engine.language.build import Ruleset
from kpi_engine.report import names_from_tables, render, view_of
from kpi_engine.report.issues import translate_reason


def format_appraisal(
    appraisal: Appraisal, fmt: str, *, compact: bool = False, traces: bool = False, **options: Any
) -> str | bytes:
    """Render an appraisal as ``json``/``jsonl`` here, or through ``kpi_engine.report`` (table, csv, html, xlsx)."""
    if fmt in {"json", "jsonl"}:
        return "".join(stream_appraisal(appraisal, fmt, compact=compact, traces=traces))
    return render(appraisal, fmt, **options)


def stream_appraisal(appraisal: Appraisal, fmt: str, *, compact: bool = False, traces: bool = False) -> Iterator[str]:
    """JSON (``json``) or JSON Lines (``jsonl``) text in pieces, one subject at a time."""
    if fmt == "jsonl":
        yield from appraisal.iter_jsonl(traces=traces)
        return
    yield from appraisal.iter_json(traces=traces, indent=None if compact else 2)
    yield "\n"


def cmd_evaluate(args: argparse.Namespace) -> int:
    t = args.msg.t
    if args.layout != "long" and args.format not in {"csv", "xlsx", "parquet"}:
        raise KpiError(t("--layout wide applies to --format csv, xlsx and parquet"))
    if (args.kpis or args.width is not None) and args.format != "table":
        raise KpiError(t("--kpis and --width apply to --format table"))
    with stages() as run:
        run.stage(t("reading"))
        ruleset, text = load_version(args.ruleset, args.period, args)
        if _streams(args, ruleset):
            _stream_evaluate(args, ruleset, run)
            return 0
        given = _columnar_inputs(args, ruleset) or inputs(args, ruleset)
        run.stage(t("appraising"))
        counts = run.update if run.shown is not None else None
        appraisal = evaluate(
            ruleset, period=args.period, strict=args.strict, progress=counts, engine=args.engine, **given
        )
        warn(appraisal, args.msg)
        if appraisal.fallback is not None:  # never silent: the row engine can be 30 times slower
            print(
                readable(
                    t(
                        "note: the row engine ran this evaluation, not the columnar engine ({reason}); it is slower",
                        reason=translate_reason(appraisal.fallback, args.msg),
                    )
                ),
                file=sys.stderr,
            )
        if args.record:
            record_appraisal(args, ruleset, text, given, appraisal)
        _write_appraisal(args, ruleset, given, appraisal, run)
    return 0


def _write_appraisal(
    args: argparse.Namespace, ruleset: Ruleset, given: dict[str, Any], appraisal: Appraisal, run: Stages
) -> None:
    """Write the appraisal in ``args.format`` (and ``args.layout``) to stdout or ``args.out``."""
    t = args.msg.t
    if args.out is None and sys.stdout.isatty():
        run.close()  # the results go to the terminal the display is drawn on
    if args.format == "parquet":
        if args.out is None:
            raise KpiError("--format parquet writes a file: name it with --out FILE.parquet")
        run.stage(t("writing"))
        names = _record_names(given["records"], appraisal.period) if args.layout == "wide" else None
        write_parquet(appraisal, args.out, layout=args.layout, names=names)
        return
    pieces = _columnar_output(args, ruleset, given, appraisal)
    if pieces is not None:
        write(run.track(pieces, t("writing")), args.out)
        return
    if args.format in {"json", "jsonl"}:
        streamed = stream_appraisal(appraisal, args.format, compact=args.compact, traces=args.traces)
        write(run.track(streamed, t("writing")), args.out)
        return
    names = _record_names(given["records"], appraisal.period)
    view = view_of(appraisal, ruleset=ruleset, names=names, lang=args.lang, ids=args.ids)
    if args.format == "xlsx" and args.out is not None:  # constant memory, straight to the file
        from kpi_engine.report.xlsx import write_xlsx  # noqa: PLC0415 - the xlsx extra

        run.stage(t("writing"))
        with replacing(args.out) as path:
            write_xlsx(view, path, layout=args.layout, progress=run.update if run.shown is not None else None)
        return
    if args.format == "csv":
        from kpi_engine.report.csv import iter_csv  # noqa: PLC0415

        bom = args.bom if args.bom is not None else args.out is not None
        write(run.track(iter_csv(view, bom=bom, layout=args.layout), t("writing")), args.out)
        return
    history = []
    for period in args.history or ():
        run.stage(t("appraising {period}", period=period))
        history.append(evaluate(ruleset, period=period, strict=args.strict, **given))
    run.stage(t("writing"))
    output = format_appraisal(
        appraisal,
        args.format,
        ruleset=ruleset,
        names=names,
        lang=args.lang,
        ids=args.ids,
        history=[h for h in history if h.period != appraisal.period],
        layout=args.layout,
        width=_table_width(args),
        kpis=[k.strip() for k in args.kpis.split(",") if k.strip()] if args.kpis else None,
    )
    write(output, args.out, args.msg)


def _table_width(args: argparse.Namespace) -> int | None:
    """The width the table fits: ``--width`` (0: none), else the terminal's when printing to one."""
    if args.width is not None:
        return args.width or None
    if args.format == "table" and args.out is None and sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


# --- kpi evaluate on the columnar kernel end to end: columns in, text out (issue 6 §3, issue 10) ---


def _columnar_inputs(args: argparse.Namespace, ruleset: Ruleset) -> dict[str, Any] | None:
    """Records (and events) read straight into Polars columns when the kernel will evaluate them.

    Only for one CSV or Parquet file in UTF-8, without members, a lead log or a plan (those go
    through the row reader's tables; a run record reads the rows again for itself); ``auto`` also
    needs the kernel installed,
    able to evaluate the scorecard, and at least ``AUTO_THRESHOLD`` records. ``None``: read rows.
    Errors keep their locations: whenever the kernel hands a run to the row path, the row path
    reads the same file again with the row reader, whose messages name the file's lines.
    """
    from kpi_engine.evaluation import columnar  # noqa: PLC0415
    from kpi_engine.evaluation.engine import AUTO_THRESHOLD  # noqa: PLC0415
    from kpi_engine.plan import lower  # noqa: PLC0415

    if args.engine == "row" or len(args.records) != 1 or len(args.events) > 1 or args.members or args.policy:
        return None
    if args.lead_events:
        return None
    if getattr(args, "plan", None) or (args.encoding or "utf-8") != "utf-8":
        return None
    from kpi_engine.io.column_files import COLUMNAR_SUFFIXES, read_frame  # noqa: PLC0415

    paths = [args.records[0], *args.events]
    if not all(Path(p).suffix.lower() in COLUMNAR_SUFFIXES for p in paths) or not columnar.available():
        return None
    size = sum(_file_size(p) for p in paths)
    if not polars_allowed(size, per_byte=KERNEL_BYTES_PER_INPUT_BYTE):  # under a cap Polars aborts when out of memory
        if args.engine == "columnar":
            raise KpiError(
                f"{NOT_ENOUGH_MEMORY.split(' (')[0]} on the columnar engine under this address-space limit "
                f"({paths[0]}: {size:,} bytes); use --engine row, or raise the limit"
            )
        return None
    if args.engine == "auto" and lower(ruleset.scorecard).support("columnar") is not None:
        return None
    card = ruleset.scorecard
    text = {"subject", "period", "name", "note"} | {
        n for n, spec in card.inputs.items() if spec.type in {"text", "date", "bool"}
    }
    records = noted(args, read_frame(args.records[0], text=text, header_row=args.header_row))
    if not isinstance(records, columnar.Frame):  # Polars could not read it: the row reader's table
        return {"records": [records], "members": None, "events": event_tables(args),
                "allow_extra_columns": args.allow_extra_columns, **screening(args)}  # fmt: skip
    if args.engine == "auto" and records.data.height < AUTO_THRESHOLD:
        return None
    events = read_frame(args.events[0]) if args.events else None
    return {
        "records": records, "members": None, "events": events, "allow_extra_columns": args.allow_extra_columns,
        **screening(args),
    }  # fmt: skip


# --- kpi evaluate on the streaming executor: batches in, parts out, memory bounded (issue 16 §2) ---

STREAM_BYTES = 256 << 20  # CSV bytes (Parquet × PARQUET_EXPANSION) from which ``auto`` streams: ~2.5 M W1 records


def _stream_refusal(args: argparse.Namespace, ruleset: Ruleset) -> str | None:
    """Why this ``kpi evaluate`` cannot stream (a sentence), or ``None``."""
    from kpi_engine.evaluation import streaming  # noqa: PLC0415
    from kpi_engine.io.column_files import _titled  # noqa: PLC0415

    if len(args.records) != 1:
        return "it reads one --records file"
    if args.members or args.policy or args.lead_events or getattr(args, "plan", None):
        return "it takes no members, lead log or plan"
    if len(args.events) > 1:
        return "it reads one --events file"
    path = Path(args.records[0])
    if path.suffix.lower() not in {".csv", ".parquet", ".pq"}:
        return "it reads a CSV or Parquet records file"
    if args.events and Path(args.events[0]).suffix.lower() not in {".csv", ".parquet", ".pq"}:
        return "it reads a CSV or Parquet events file"
    if (args.encoding or "utf-8") != "utf-8" or args.header_row not in {None, 1}:
        return "it reads UTF-8 CSV with the header on the first row"
    if path.suffix.lower() == ".csv" and _titled(path):
        return "it reads UTF-8 CSV with the header on the first row"
    if args.format not in {"csv", "jsonl"}:
        return "it writes --format csv or jsonl"
    if args.traces or args.history or args.record:
        return "it writes no traces, history or run record"
    return streaming.refusal(ruleset)


def _streams(args: argparse.Namespace, ruleset: Ruleset) -> bool:
    """Whether ``kpi evaluate`` runs on the streaming executor: asked for, or ``auto`` on a very large file.

    Raises:
        KpiError: ``--engine streaming`` on a run it cannot stream (the reason).
    """
    if args.engine not in {"streaming", "auto"}:
        return False
    reason = _stream_refusal(args, ruleset)
    if args.engine == "streaming":
        if reason is not None:
            raise KpiError(f"--engine streaming: {reason}; use --engine columnar or row")
        return True
    return reason is None and _file_size(args.records[0]) >= STREAM_BYTES


def _stream_evaluate(args: argparse.Namespace, ruleset: Ruleset, run: Stages) -> None:
    """Appraise the records file batch by batch (spilled to a temporary directory) and write the parts in order."""
    from kpi_engine.cli._common import print_warnings  # noqa: PLC0415
    from kpi_engine.evaluation import streaming  # noqa: PLC0415
    from kpi_engine.io.batches import read_batches  # noqa: PLC0415
    from kpi_engine.io.spill import DirectorySpill  # noqa: PLC0415

    t = args.msg.t
    run.stage(t("appraising"))
    events: Any = None
    if args.events:  # the log is held whole (``streaming``): read as the columnar run reads it
        from kpi_engine.evaluation import columnar  # noqa: PLC0415
        from kpi_engine.io.column_files import read_frame  # noqa: PLC0415

        events = read_frame(args.events[0])
        if not isinstance(events, columnar.Frame):  # Polars could not read it: the row reader's table
            events = event_tables(args)
    streamed = streaming.stream(
        ruleset, read_batches(args.records[0]), period=args.period, strict=args.strict,
        allow_extra_columns=args.allow_extra_columns, totals=screening(args)["totals"], spill=DirectorySpill(),
        events=events,
    )  # fmt: skip
    try:
        print_warnings(streamed.warnings, args.msg)
        if args.out is None and sys.stdout.isatty():
            run.close()
        run.stage(t("writing"))
        write(_streamed_text(args, ruleset, streamed), args.out)
    finally:
        streamed.close()


def _streamed_text(args: argparse.Namespace, ruleset: Ruleset, streamed: Any) -> Iterator[str]:
    """The text of every part, the header (CSV header, JSON Lines head) once."""
    for i, (appraisal, records) in enumerate(streamed.parts()):
        pieces = _part_text(args, ruleset, appraisal, records, first=i == 0)
        yield from pieces if i == 0 else _after_first_line(pieces)


def _part_text(
    args: argparse.Namespace, ruleset: Ruleset, appraisal: Appraisal, records: Any, *, first: bool
) -> Iterator[str]:
    from kpi_engine.report.columnar import columnar_text, frame_names  # noqa: PLC0415

    if args.format == "jsonl":
        pieces = columnar_text(appraisal, "jsonl", compact=True)
        return pieces if pieces is not None else stream_appraisal(appraisal, "jsonl")
    names = frame_names(records, appraisal.period)
    bom = first and (args.bom if args.bom is not None else args.out is not None)
    pieces = columnar_text(
        appraisal, "csv", msg=args.msg, scorecard=ruleset.scorecard, names=names, bom=bom, layout=args.layout,
        ids=args.ids,
    )  # fmt: skip
    if pieces is not None:
        return pieces
    from kpi_engine.report.csv import iter_csv  # noqa: PLC0415

    view = view_of(appraisal, ruleset=ruleset, names=names, lang=args.lang, ids=args.ids)
    return iter_csv(view, bom=bom, layout=args.layout)


def _after_first_line(pieces: Iterator[str]) -> Iterator[str]:
    """The text after its first line."""
    head = True
    for piece in pieces:
        if head:
            cut = piece.find("\n")
            if cut < 0:
                continue
            head = False
            piece = piece[cut + 1 :]  # noqa: PLW2901 - the rest of the piece
        if piece:
            yield piece


PARQUET_EXPANSION = 10  # a Parquet file holds its columns compressed: about this many bytes of CSV per byte


def _file_size(path: str) -> int:
    """The size of a file as CSV text would be (bytes), 0 when it cannot be read (the reader then says why)."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return 0
    return size * PARQUET_EXPANSION if Path(path).suffix.lower() in {".parquet", ".pq"} else size


def _columnar_output(
    args: argparse.Namespace, ruleset: Ruleset, given: dict[str, Any], appraisal: Appraisal
) -> Iterator[str] | None:
    """CSV, JSON Lines or JSON written from the kernel's columns (the same bytes as the result objects give)."""
    if args.format not in {"csv", "jsonl", "json"} or args.traces or args.history:
        return None
    from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415

    if not isinstance(appraisal.results, ColumnarResults):
        return None
    from kpi_engine.report.columnar import columnar_text  # noqa: PLC0415

    names = _record_names(given["records"], appraisal.period) if args.format == "csv" else None
    bom = args.bom if args.bom is not None else (args.format == "csv" and args.out is not None)
    return columnar_text(
        appraisal,
        args.format,
        msg=args.msg,
        scorecard=ruleset.scorecard,
        names=names,
        bom=bom,
        compact=args.compact,
        layout=args.layout,
        ids=args.ids,
    )


def _record_names(records: Any, period: str) -> dict[str, str]:
    """Subject → name from the records' ``name`` column: row tables, or the columns of one file."""
    if isinstance(records, list | tuple):
        return names_from_tables(records, period)
    from kpi_engine.report.columnar import frame_names  # noqa: PLC0415

    return frame_names(records.data, period)


def cmd_explain(args: argparse.Namespace) -> int:
    from kpi_engine.cli.pay import explain_pay, is_pay_plan  # noqa: PLC0415
    from kpi_engine.io.records import is_run_record  # noqa: PLC0415

    if is_pay_plan(args.ruleset):
        return explain_pay(args)
    t = args.msg.t
    if is_run_record(args.ruleset):
        appraisal = _recorded_appraisal(args)
    else:
        if not args.records:
            raise KpiError(t("--records is required"))
        ruleset, _ = load_version(args.ruleset, args.period, args)
        appraisal = warn(evaluate(ruleset, period=args.period, strict=args.strict, **inputs(args, ruleset)), args.msg)
    try:
        result = appraisal.result(args.subject)
    except KeyError:
        known = ", ".join(r.subject for r in appraisal.results)
        text = t(
            "subject '{subject}' was not appraised in {period}; appraised: {known}",
            subject=args.subject,
            period=appraisal.period,
            known=known,
        )
        print(text, file=sys.stderr)
        return 1
    write(readable(explain_subject(appraisal, result, t)), args.out)
    return 0


def _recorded_appraisal(args: argparse.Namespace) -> Appraisal:
    """``kpi explain RECORD``: the record's appraisal recomputed from its own inputs, with every trace."""
    from kpi_engine.audit.replay import replayed_appraisal  # noqa: PLC0415
    from kpi_engine.io.records import read_record, resolver  # noqa: PLC0415

    given = [f"--{name.replace('_', '-')}" for name in ("records", "members", "events", "policy", "plan")
             if getattr(args, name, None)]  # fmt: skip
    if given:
        raise KpiError(f"{args.ruleset}: a run record holds its own inputs; {', '.join(given)} cannot be added")
    appraisal = replayed_appraisal(read_record(args.ruleset), resolve=resolver(args.ruleset))
    if args.period is not None and args.period != appraisal.period:
        raise KpiError(f"{args.ruleset}: the record appraised {appraisal.period}, not {args.period}")
    return appraisal


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add this group's commands to the ``kpi`` parser."""
    p = sub.add_parser("evaluate", parents=[lang], help=t("appraise every subject for a period"))
    p.add_argument("ruleset", metavar="RULESET")
    add_input_arguments(p, t)
    p.add_argument(
        "--format", choices=("table", "json", "jsonl", "csv", "html", "xlsx", "parquet"), default="table",
        help=t("output format (default: table)"),
    )  # fmt: skip
    p.add_argument(
        "--layout", choices=("long", "wide"), default="long",
        help=t("csv, xlsx, parquet: long, a row per subject and KPI (default); wide, a row per subject with a "
               "value and a score column per KPI"),
    )  # fmt: skip
    p.add_argument("--compact", action="store_true", help=t("json on one line (much faster for big outputs)"))
    p.add_argument("--traces", action="store_true", help=t("json/jsonl: include every KPI's explanation"))
    p.add_argument(
        "--engine", choices=("auto", "row", "columnar", "streaming"), default="auto",
        help="row: reference evaluator; columnar: compiled kernel (extra 'columnar'); streaming: the kernel batch by "
             "batch in bounded memory (one CSV/Parquet file, --format csv or jsonl); auto: kernel when large, "
             "streaming when very large",
    )  # fmt: skip
    p.add_argument("--ids", action="store_true", help=t("show KPI ids instead of their titles"))
    p.add_argument(
        "--kpis", metavar="IDS", help=t("table: the KPI columns to show, by id, comma-separated (e.g. calls,visits)")
    )
    p.add_argument(
        "--width", type=int, metavar="COLS",
        help=t("table: fit this many columns (default: the terminal's width; 0: one line per row)"),
    )  # fmt: skip
    p.add_argument(
        "--bom", action=argparse.BooleanOptionalAction, default=None,
        help=t("start CSV with a UTF-8 byte-order mark for Excel (default: on with --out)"),
    )  # fmt: skip
    p.add_argument(
        "--history", metavar="P", nargs="+", action="extend",
        help=t("earlier periods to appraise from the same records, drawn as trends in the HTML report"),
    )  # fmt: skip
    add_record_arguments(p)
    p.set_defaults(func=cmd_evaluate)

    from kpi_engine.cli.pay import add_pay_arguments  # noqa: PLC0415

    p = sub.add_parser(
        "explain",
        parents=[lang],
        help=t("show the readable trace of one subject (or, with a pay plan, a person's pay)"),
    )
    p.add_argument("ruleset", metavar="RULESET")
    add_input_arguments(p, t, records_required=False)
    add_pay_arguments(p, t)
    p.add_argument("--subject", required=True, metavar="ID")
    p.set_defaults(func=cmd_explain)
