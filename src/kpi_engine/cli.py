"""The ``kpi`` command: the only module that prints or exits.

Exit codes: 0 success; 1 invalid ruleset, bad data or a failing case; 2 usage errors;
70 an internal error (one line asking for a report; ``KPI_DEBUG=1`` shows the traceback);
130 interrupted (Ctrl-C). Results go to stdout or ``--out`` (``io.output.write_file``: atomic for
regular files, through for devices and FIFOs); errors go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

from kpi_engine._numbers import HUNDRED, canonical, mul, quantize
from kpi_engine.audit.diff import compare
from kpi_engine.errors import Issue, KpiError, Location
from kpi_engine.evaluation.cases import run_cases
from kpi_engine.evaluation.engine import evaluate
from kpi_engine.evaluation.explain import explain_subject
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.io.columnar import write_parquet
from kpi_engine.io.loading import MAX_YAML_FILE_BYTES, _read_text, load_ruleset, read_table
from kpi_engine.io.output import write_file
from kpi_engine.io.scaffold import TEMPLATES, scaffold
from kpi_engine.language.build import Ruleset, check_text
from kpi_engine.language.schema import reference_markdown, ruleset_schema
from kpi_engine.report import (
    LANGS,
    Lang,
    Messages,
    language_from_env,
    messages,
    names_from_tables,
    render,
    render_issue,
    spreadsheet_safe,
    terminal_safe,
)
from kpi_engine.report.table import aligned

_LANG: list[Lang] = ["en"]  # the language of this run, set once by main()


def _msg() -> Messages:
    return messages(_LANG[0])


def _write(text: str | bytes | Iterable[str], out: str | None) -> None:
    """Write text (or pieces of it, streamed; or bytes) to stdout, or to ``out`` through ``write_file``.

    ``write_file`` replaces a regular file atomically, keeps its mode and writes through to devices.
    """
    if out is None:
        if isinstance(text, bytes):
            if sys.stdout.isatty():
                raise KpiError(_msg().t("binary output (xlsx) goes to a file: add --out FILE"))
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
            return
        for piece in [text] if isinstance(text, str) else text:
            sys.stdout.write(piece)
        return
    write_file(out, text)


def _readable(text: str) -> str:
    """Text for people: control, escape and bidi characters from data shown as visible escapes."""
    return "\n".join(terminal_safe(line) for line in text.split("\n"))


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


def _read(args: argparse.Namespace, path: str) -> Table:
    """Read one table with the reading options of the command (``--encoding``, ``--sheet``)."""
    return read_table(path, encoding=args.encoding, sheet=args.sheet)


def _warn(appraisal: Appraisal) -> Appraisal:
    """Print the appraisal's warnings (e.g. roster members without a record) on stderr."""
    for issue in appraisal.warnings:
        print(issue.render(), file=sys.stderr)
    return appraisal


def _inputs(args: argparse.Namespace, ruleset: Ruleset) -> dict[str, Any]:
    records = [_read(args, path) for path in args.records]
    if args.policy or args.lead_events:
        from kpi_engine.attribution import attribute, load_policy, merge_records, read_events  # noqa: PLC0415

        if not (args.policy and args.lead_events):
            raise KpiError(_msg().t("--policy and --lead-events go together"))
        policy = load_policy(args.policy)
        result = attribute(policy, read_events(args.lead_events, policy, encoding=args.encoding))
        card = ruleset.scorecard
        records = merge_records(records, result, set(card.inputs), card.period)
    if getattr(args, "plan", None):
        from kpi_engine.io.plans import read_plan  # noqa: PLC0415
        from kpi_engine.time.plan import decompose, merge_plan  # noqa: PLC0415

        card = ruleset.scorecard
        records = merge_plan(records, decompose(read_plan(args.plan)), set(card.inputs), card.period)
    return {
        "records": records,
        "members": _read(args, args.members) if args.members else None,
        "events": _read(args, args.events) if args.events else None,
        "allow_extra_columns": args.allow_extra_columns,
    }


def _is_policy(text: str) -> bool:
    """A file whose first top-level key is ``policy:`` is an attribution policy."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return line.startswith("policy:")
    return False


def _is_plan(text: str) -> bool:
    """A file whose first top-level key is ``plan:`` is a plan (kpi plan)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return line.startswith("plan:")
    return False


def cmd_validate(args: argparse.Namespace) -> int:
    if args.format == "json":
        return _validate_json(args)
    failed = False
    for path in args.rulesets:
        try:
            text = _read_text(Path(path), MAX_YAML_FILE_BYTES)  # the same size cap and messages as evaluate
        except KpiError as exc:
            print(str(exc), file=sys.stderr)
            failed = True
            continue
        if _is_policy(text):
            from kpi_engine.attribution._policy import check_policy_text  # noqa: PLC0415

            issues = check_policy_text(text, path)[1]
        elif _is_plan(text):
            from kpi_engine.time.plan import check_plan_text  # noqa: PLC0415

            issues = check_plan_text(text, path)
        else:
            issues = check_text(text, path)[2]
        errors = [i for i in issues if i.severity == "error"]
        for issue in issues:
            print(render_issue(issue, _msg()), file=sys.stderr)
        if errors:
            failed = True
            print(_msg().t("{path}: {count} error(s)", path=path, count=len(errors)), file=sys.stderr)
        else:
            warn = len(issues)
            ok = _msg().t("{path}: ok", path=path)
            print(ok + (_msg().t(" ({count} warning(s))", count=warn) if warn else ""))
    return 1 if failed else 0


def _validate_json(args: argparse.Namespace) -> int:
    """``kpi validate --format json``: one JSON document listing every file and its issues."""
    files: list[dict[str, Any]] = []
    for path in args.rulesets:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            issue = Issue("unreadable", f"cannot read: {exc}", "", Location(path))
            files.append({"file": path, "valid": False, "issues": [issue.to_dict()]})
            continue
        if _is_policy(text):
            from kpi_engine.attribution._policy import check_policy_text  # noqa: PLC0415

            issues = check_policy_text(text, path)[1]
        else:
            issues = check_text(text, path)[2]
        valid = not any(i.severity == "error" for i in issues)
        files.append({"file": path, "valid": valid, "issues": [i.to_dict() for i in issues]})
    valid = all(f["valid"] for f in files)
    _write(json.dumps({"valid": valid, "files": files}, ensure_ascii=False, indent=2) + "\n", None)
    return 0 if valid else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    ruleset, text = _load_version(args.ruleset, args.period)
    inputs = _columnar_inputs(args, ruleset) or _inputs(args, ruleset)
    with _progress("appraising") as progress:
        appraisal = evaluate(
            ruleset, period=args.period, strict=args.strict, progress=progress, engine=args.engine, **inputs
        )
    _warn(appraisal)
    if args.record:
        _record_appraisal(args, ruleset, text, inputs, appraisal)
    if args.format == "parquet":
        if args.out is None:
            raise KpiError("--format parquet writes a file: name it with --out FILE.parquet")
        write_parquet(appraisal, args.out)
        return 0
    pieces = _columnar_output(args, ruleset, inputs, appraisal)
    if pieces is not None:
        _write(pieces, args.out)
        return 0
    if args.format in {"json", "jsonl"}:
        _write(stream_appraisal(appraisal, args.format, compact=args.compact, traces=args.traces), args.out)
        return 0
    history = [evaluate(ruleset, period=p, strict=args.strict, **inputs) for p in args.history or ()]
    bom = args.bom if args.bom is not None else (args.format == "csv" and args.out is not None)
    output = format_appraisal(
        appraisal,
        args.format,
        ruleset=ruleset,
        names=_record_names(inputs["records"], appraisal.period),
        lang=_LANG[0],
        ids=args.ids,
        bom=bom,
        history=[h for h in history if h.period != appraisal.period],
    )
    _write(output, args.out)
    return 0


# --- kpi evaluate on the columnar kernel end to end: columns in, text out (issue 6 §3, issue 10) ---


def _columnar_inputs(args: argparse.Namespace, ruleset: Ruleset) -> dict[str, Any] | None:
    """Records (and events) read straight into Polars columns when the kernel will evaluate them.

    Only for one CSV or Parquet file in UTF-8, without members, a lead log, a plan or a run
    record (those go through the row reader's tables); ``auto`` also needs the kernel installed,
    able to evaluate the scorecard, and at least ``AUTO_THRESHOLD`` records. ``None``: read rows.
    Errors keep their locations: whenever the kernel hands a run to the row path, the row path
    reads the same file again with the row reader, whose messages name the file's lines.
    """
    from kpi_engine.evaluation import columnar  # noqa: PLC0415

    if args.engine == "row" or len(args.records) != 1 or args.members or args.policy or args.lead_events:
        return None
    if getattr(args, "plan", None) or getattr(args, "record", None) or (args.encoding or "utf-8") != "utf-8":
        return None
    from kpi_engine.io.frames import COLUMNAR_SUFFIXES, read_frame  # noqa: PLC0415

    paths = [args.records[0], *([args.events] if args.events else [])]
    if not all(Path(p).suffix.lower() in COLUMNAR_SUFFIXES for p in paths) or not columnar.available():
        return None
    if args.engine == "auto" and not columnar.plan(ruleset.scorecard).supported:
        return None
    card = ruleset.scorecard
    text = {"subject", "period", "name", "note"} | {
        n for n, spec in card.inputs.items() if spec.type in {"text", "date", "bool"}
    }
    records = read_frame(args.records[0], text=text)
    if not isinstance(records, columnar.Frame):  # Polars could not read it: the row reader's table
        return {"records": [records], "members": None, "events": _read(args, args.events) if args.events else None,
                "allow_extra_columns": args.allow_extra_columns}  # fmt: skip
    if args.engine == "auto" and records.data.height < columnar.AUTO_THRESHOLD:
        return None
    events = read_frame(args.events) if args.events else None
    return {"records": records, "members": None, "events": events, "allow_extra_columns": args.allow_extra_columns}


def _columnar_output(
    args: argparse.Namespace, ruleset: Ruleset, inputs: dict[str, Any], appraisal: Appraisal
) -> Iterator[str] | None:
    """CSV, JSON Lines or JSON written from the kernel's columns (the same bytes as the result objects give)."""
    if args.format not in {"csv", "jsonl", "json"} or args.traces or args.history:
        return None
    from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415

    if not isinstance(appraisal.results, ColumnarResults):
        return None
    from kpi_engine.report.columnar import columnar_text  # noqa: PLC0415

    names = _record_names(inputs["records"], appraisal.period) if args.format == "csv" else None
    bom = args.bom if args.bom is not None else (args.format == "csv" and args.out is not None)
    return columnar_text(
        appraisal, args.format, msg=_msg(), scorecard=ruleset.scorecard, names=names, bom=bom, compact=args.compact
    )


def _record_names(records: Any, period: str) -> dict[str, str]:
    """Subject → name from the records' ``name`` column: row tables, or the columns of one file."""
    if isinstance(records, list | tuple):
        return names_from_tables(records, period)
    from kpi_engine.report.columnar import frame_names  # noqa: PLC0415

    return frame_names(records.data, period)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr for runs longer than about a second; nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    try:
        from rich.console import Console  # noqa: PLC0415 - only a terminal run needs it
        from rich.progress import Progress  # noqa: PLC0415
    except ImportError:  # pragma: no cover - rich is a dependency; a stripped install just shows no bar
        yield None
        return
    started = time.monotonic()
    bar = Progress(transient=True, console=Console(stderr=True))  # stdout carries the results
    task: list[Any] = []

    def update(done: int, total: int) -> None:
        if not task:
            if time.monotonic() - started < 1:
                return
            bar.start()
            task.append(bar.add_task(label, total=total))
        bar.update(task[0], completed=done)

    try:
        yield update
    finally:
        if task:
            bar.stop()


def cmd_explain(args: argparse.Namespace) -> int:
    ruleset, _ = _load_version(args.ruleset, args.period)
    appraisal = _warn(evaluate(ruleset, period=args.period, strict=args.strict, **_inputs(args, ruleset)))
    try:
        result = appraisal.result(args.subject)
    except KeyError:
        known = ", ".join(r.subject for r in appraisal.results)
        text = _msg().t(
            "subject '{subject}' was not appraised in {period}; appraised: {known}",
            subject=args.subject,
            period=appraisal.period,
            known=known,
        )
        print(text, file=sys.stderr)
        return 1
    _write(_readable(explain_subject(appraisal, result, _msg().t)), args.out)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from kpi_engine.audit.diff import ruleset_changes  # noqa: PLC0415

    before, _ = _load_version(args.before, args.period)
    after, _ = _load_version(args.after, args.period)
    rules = ruleset_changes(before, after)
    report: dict[str, Any] = {"rules": [attrs.asdict(c) for c in rules]}
    lines = [f"{args.before} → {args.after}: {len(rules)} rule change(s)"]
    lines.extend(f"  {c.text}" for c in rules)
    if args.records:
        from kpi_engine.audit.impact import undated  # noqa: PLC0415

        a = _warn(evaluate(undated(before), period=args.period, strict=args.strict, **_inputs(args, before)))
        b = evaluate(undated(after), period=a.period, strict=args.strict, **_inputs(args, after))
        report.update(compare(a, b))
        count = len(report["changes"])
        lines.append(f"outcomes, period {a.period}: {count} subject(s) change, {report['unchanged']} unchanged")
        for change in report["changes"]:
            lines.append(f"  {change['subject']}")
            lines.extend(f"    {k}: {v[0]} → {v[1]}" for k, v in change.items() if k != "subject")
    if args.format == "json":
        _write(json.dumps(report, ensure_ascii=False, indent=2) + "\n", args.out)
        return 0
    _write(_readable("\n".join(lines) + "\n"), args.out)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.reference:
        _write(reference_markdown(), args.out)
        return 0
    if args.policy:
        from kpi_engine.attribution import policy_schema  # noqa: PLC0415

        schema = policy_schema()
    elif args.plan:
        from kpi_engine.time.plan import plan_schema  # noqa: PLC0415

        schema = plan_schema()
    else:
        schema = ruleset_schema()
    _write(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", args.out)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    files: list[Path] = []
    for p in map(Path, args.paths):
        files.extend(sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")) if p.is_dir() else [p])
    failed = total = 0
    suites: list[tuple[str, list[tuple[str, str | None]]]] = []  # file → (case, failure text or None)
    for f in files:
        outcomes: list[tuple[str, str | None]] = []
        suites.append((str(f), outcomes))
        try:
            cases = run_cases(load_ruleset(f))
        except KpiError as exc:  # one broken file does not hide the others' results
            failed += 1
            total += 1
            text = exc.render()
            outcomes.append(("(load)", text))
            print(f"FAIL {f}: cannot load\n  " + text.replace("\n", "\n  "))
            continue
        if not cases:
            print(f"NONE {f}: no cases")
        for case in cases:
            total += 1
            if case.passed:
                outcomes.append((case.name, None))
                print(f"PASS {f}::{case.name}")
                continue
            failed += 1
            t = _msg().t
            lines = ([t("error: ") + case.error] if case.error else []) + [
                t("{subject} {what}: expected {expected}, got {actual}", subject=m.subject, what=m.what,
                  expected=m.expected, actual=m.actual)
                for m in case.mismatches
            ]  # fmt: skip
            outcomes.append((case.name, "\n".join(lines)))
            print(f"FAIL {f}::{case.name}")
            for line in lines:
                print("  " + line.replace("\n", "\n  "))
    print(_msg().t("{passed} passed, {failed} failed", passed=total - failed, failed=failed))
    if args.junit:
        _write(junit_xml(suites), args.junit)
    if total == 0:
        print("kpi test: no case ran (add `cases:` to the ruleset)", file=sys.stderr)
        return 1
    return 1 if failed else 0


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


def cmd_init(args: argparse.Namespace) -> int:
    for path in scaffold(args.directory, args.template):
        print(f"wrote {path}")
    print(f"next: cd {args.directory} && kpi test ruleset.yaml")
    return 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from kpi_engine import attribution as a  # noqa: PLC0415

    if args.record:
        from kpi_engine.audit.record import record_attribution  # noqa: PLC0415
        from kpi_engine.io.records import read_text  # noqa: PLC0415

        events = _record_table(read_table(args.events, encoding=args.encoding), args.events, args)
        result, record = record_attribution(
            read_text(args.policy), events, policy_name=args.policy, inputs=args.record_inputs, created=args.created
        )
        _write(record.to_bytes(), args.record)
    else:
        policy = a.load_policy(args.policy)
        log = a.read_log(args.events, policy, args.engine, encoding=args.encoding)
        result = a.attribute(policy, log, engine=args.engine)
    if args.format == "json":
        _write(a.iter_attribution_json(result), args.out)  # streamed, column-wise when vectorised
    else:
        _write(a.format_attribution(result, args.format), args.out)
    return 0


# --- Run records, replay, ruleset versions and impact (issue 8) ---------------------------------


def _load_version(path: str, period: str | None) -> tuple[Ruleset, str | None]:
    """A ruleset file, or the version in effect for ``period`` from a folder of versions.

    Returns the ruleset and, for a folder, the chosen version's text (else ``None``: read on demand).
    """
    if not Path(path).is_dir():
        return load_ruleset(path), None
    from kpi_engine.audit.versions import choose_version  # noqa: PLC0415
    from kpi_engine.io.records import ruleset_files  # noqa: PLC0415
    from kpi_engine.language.build import parse_ruleset  # noqa: PLC0415

    if period is None:
        raise KpiError(f"{path} is a folder of ruleset versions: give --period to pick the version in effect")
    files = ruleset_files(path)
    texts = {}
    versions = []
    for name, text in files:
        ruleset = parse_ruleset(text, name)
        texts[name] = text
        versions.append(ruleset)
    chosen = choose_version(versions, period)
    print(f"{path}: version {chosen.version} ({chosen.file}) is in effect in {period}", file=sys.stderr)
    return chosen, texts[chosen.file]


def _record_table(table: Any, source: str, args: argparse.Namespace) -> Any:
    """Name a table as the record will: by file name (inline) or by path relative to the record (digest)."""
    if args.record_inputs != "digest":
        return table
    from kpi_engine.io.records import relative_to_record  # noqa: PLC0415

    return relative_to_record(table, source, args.record)


def _record_appraisal(
    args: argparse.Namespace, ruleset: Ruleset, text: str | None, inputs: dict[str, Any], appraisal: Appraisal
) -> None:
    from kpi_engine.audit.record import appraisal_values, record_appraisal  # noqa: PLC0415
    from kpi_engine.io.records import read_text  # noqa: PLC0415

    if args.policy and args.record_inputs == "digest":
        raise KpiError("--record-inputs digest cannot refer to records merged with --policy; use inline")
    records = inputs["records"]
    if not args.policy:
        records = [_record_table(t, src, args) for t, src in zip(records, args.records, strict=True)]
    members = _record_table(inputs["members"], args.members, args) if args.members else None
    events = _record_table(inputs["events"], args.events, args) if args.events else None
    recorded, record = record_appraisal(
        text if text is not None else read_text(args.ruleset),
        records,
        ruleset_name=ruleset.file,
        period=appraisal.period,
        members=members,
        events=events,
        strict=args.strict,
        inputs=args.record_inputs,
        created=args.created,
    )
    if appraisal_values(recorded) != appraisal_values(appraisal):  # pragma: no cover - row order changed a result
        raise KpiError("internal error: the results depend on the order of the input rows; nothing was recorded")
    _write(record.to_bytes(), args.record)


def cmd_replay(args: argparse.Namespace) -> int:
    from kpi_engine.audit.replay import replay  # noqa: PLC0415
    from kpi_engine.io.records import read_record, resolver  # noqa: PLC0415

    report = replay(read_record(args.record), resolve=resolver(args.record))
    if args.format == "json":
        _write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n", args.out)
    else:
        _write(report.render(), args.out)
    return 0 if report.reproduced else 1


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


def cmd_impact(args: argparse.Namespace) -> int:
    from kpi_engine.audit.impact import impact, undated  # noqa: PLC0415

    before, _ = _load_version(args.before, args.period)
    after, _ = _load_version(args.after, args.period)
    a = evaluate(undated(before), period=args.period, **_inputs(args, before))
    b = evaluate(undated(after), period=a.period, **_inputs(args, after))
    result = impact(a, b, before.scorecard, after.scorecard)
    _write(format_impact(result, args.format, args.before, args.after), args.out)
    return 0


# --- time: business calendars, plans, alerts (issue 11) ---------------------------------------------


def _calendar_arg(args: argparse.Namespace) -> Any:
    """The calendar named by ``--calendar FILE`` or ``--country CODE`` (None: the caller's default)."""
    from kpi_engine.io.calendars import read_calendar  # noqa: PLC0415
    from kpi_engine.time.calendar import business_calendar  # noqa: PLC0415

    if getattr(args, "calendar", None):
        return read_calendar(args.calendar)
    if getattr(args, "country", None):
        return business_calendar(args.country)
    return None


def format_month(cal: Any, month: Any) -> str:
    """A month as a grid, working days marked ``+`` and days off ``-``, then every special day."""
    import datetime as dt  # noqa: PLC0415

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


def cmd_calendar(args: argparse.Namespace) -> int:
    from kpi_engine.time.calendar import business_calendar  # noqa: PLC0415
    from kpi_engine.time.periods import Period  # noqa: PLC0415

    text = args.month.strip()
    try:
        if len(text) == 4:  # a whole year: twelve months  # noqa: PLR2004
            year = Period.parse(text, "year")
            months = [Period.parse(f"{text}-{m:02d}", "month") for m in range(1, 13)]
        else:
            year, months = None, [Period.parse(text, "month")]
    except ValueError as exc:
        raise KpiError(f"{exc}; give a month (2026-10) or a year (2026)") from None
    cal = _calendar_arg(args) or business_calendar()
    out = "\n".join(format_month(cal, m) for m in months)
    if year is not None:
        out += f"\n{year}: {len(cal.working_days_in(year))} working days\n"
    _write(out, args.out)
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
    _write(plan_json(result, levels) if args.format == "json" else plan_csv(result, levels), args.out)
    return 0


def format_alerts(report: Any, fmt: str, tz_name: str) -> str:
    """Render an ``AlertReport`` as a table, ``json``, ``csv`` or ``events`` (alert events for a window metric)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"
    if fmt in {"csv", "events"}:
        rows = report.event_rows(tz_name) if fmt == "events" else [a.to_dict() for a in report.alerts]
        buf = io.StringIO()
        columns = list(rows[0]) if rows else ["id"]
        writer = csv.DictWriter(buf, columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:  # names and ids from the data must not run as spreadsheet formulas
            writer.writerow(
                {
                    k: spreadsheet_safe(";".join(v) if isinstance(v, list) else ("" if v is None else str(v)))
                    for k, v in row.items()
                }
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


def cmd_alerts(args: argparse.Namespace) -> int:
    import datetime as dt  # noqa: PLC0415

    from kpi_engine.time.alerts import find_alerts  # noqa: PLC0415

    ruleset = load_ruleset(args.ruleset)
    try:
        opened = dt.date.fromisoformat(args.opened) if args.opened else None
    except ValueError:
        raise KpiError(f"--opened {args.opened!r} is not an ISO date (YYYY-MM-DD)") from None
    report = find_alerts(ruleset, period=args.period, opened=opened, **_inputs(args, ruleset))
    _write(format_alerts(report, args.format, ruleset.scorecard.timezone), args.out)
    return 0


def _version() -> str:
    try:
        return metadata.version("kpi_engine")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def build_parser(msg: Messages | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``kpi``, its help in ``msg``'s language (default English)."""
    t = (msg or messages("en")).t
    lang = argparse.ArgumentParser(add_help=False)
    lang.add_argument(
        "--lang", choices=LANGS, default=argparse.SUPPRESS,
        help=t("language of messages and reports (default: from LC_ALL, LC_MESSAGES or LANG)"),
    )  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="kpi", description=t("Exact, explainable sales scorecards and deal credit."), parents=[lang]
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "validate", parents=[lang], help=t("check rulesets and policies; report every problem with file:line:col")
    )
    p.add_argument("rulesets", nargs="+", metavar="RULESET")
    p.add_argument("--format", choices=("text", "json"), default="text", help="json: every issue, for editors and CI")
    p.set_defaults(func=cmd_validate)

    for name, func, text in (
        ("evaluate", cmd_evaluate, t("appraise every subject for a period")),
        ("alerts", cmd_alerts, t("list subjects' metrics that moved beyond the threshold, with working-day due dates")),
        ("explain", cmd_explain, t("show the readable trace of one subject")),
        ("diff", cmd_diff, t("what changed between two versions of a ruleset (and, with --records, their outcomes)")),
        ("impact", cmd_impact, t("who moves (total, grade, rank, bonus) under a new version, on the same records")),
    ):
        p = sub.add_parser(name, parents=[lang], help=text)
        if name in {"diff", "impact"}:
            p.add_argument("before", metavar="RULESET")
            p.add_argument("after", metavar="CHANGED_RULESET")
        else:
            p.add_argument("ruleset", metavar="RULESET")
        p.add_argument(
            "--records", required=name != "diff", metavar="FILE", nargs="+", action="extend", default=[],
            help=t("records: CSV, JSON, JSONL, XLSX, Parquet or duckdb:DB::SQL (several allowed, e.g. reps and teams)"),
        )  # fmt: skip
        p.add_argument("--encoding", metavar="NAME", help=t("of text files (default UTF-8), e.g. gb18030"))
        p.add_argument("--sheet", metavar="NAME", help=t("sheet of an Excel workbook (default: the first)"))
        p.add_argument(
            "--allow-extra-columns", action="store_true", help=t("ignore data columns the ruleset does not use")
        )
        p.add_argument("--members", metavar="FILE", help=t("membership rows: member,parent,period"))
        p.add_argument("--events", metavar="FILE", help=t("event rows for aggregate metrics"))
        p.add_argument("--period", metavar="P", help=t("period to appraise (default: the latest in the records)"))
        p.add_argument("--strict", action="store_true", help=t("every N/A is an error"))
        p.add_argument("--policy", metavar="POLICY", help=t("attribution policy: add credit and follow-up fields"))
        p.add_argument("--lead-events", metavar="FILE", help=t("lead event log for --policy"))
        p.add_argument(
            "--plan", metavar="PLAN", help=t("a yearly plan (kpi plan): fills the target inputs it provides")
        )
        p.add_argument("--out", metavar="FILE", help=t("write here instead of stdout"))
        if name == "evaluate":
            p.add_argument(
                "--format", choices=("table", "json", "jsonl", "csv", "html", "xlsx", "parquet"), default="table",
                help=t("output format (default: table)"),
            )  # fmt: skip
            p.add_argument("--compact", action="store_true", help=t("json on one line (much faster for big outputs)"))
            p.add_argument("--traces", action="store_true", help=t("json/jsonl: include every KPI's explanation"))
            p.add_argument(
                "--engine", choices=("auto", "row", "columnar"), default="auto",
                help="row: reference evaluator; columnar: compiled kernel (extra 'columnar'); auto: kernel when large",
            )  # fmt: skip
            p.add_argument("--ids", action="store_true", help=t("show KPI ids instead of their titles"))
            p.add_argument(
                "--bom", action=argparse.BooleanOptionalAction, default=None,
                help=t("start CSV with a UTF-8 byte-order mark for Excel (default: on with --out)"),
            )  # fmt: skip
            p.add_argument(
                "--history", metavar="P", nargs="+", action="extend",
                help=t("earlier periods to appraise from the same records, drawn as trends in the HTML report"),
            )  # fmt: skip
            _record_arguments(p)
        elif name == "alerts":
            p.add_argument("--format", choices=("table", "json", "csv", "events"), default="table")
            p.add_argument(
                "--opened", metavar="DATE", help=t("day the alerts open (default: the day after the period)")
            )
        elif name in {"diff", "impact"}:
            p.add_argument("--format", choices=("table", "json"), default="table")
        elif name == "alerts":
            p.add_argument("--format", choices=("table", "json", "csv", "events"), default="table")
            p.add_argument("--opened", metavar="DATE", help="day the alerts open (default: the day after the period)")
        else:
            p.add_argument("--subject", required=True, metavar="ID")
        p.set_defaults(func=func)

    p = sub.add_parser("schema", parents=[lang], help=t("print the JSON Schema of the ruleset language"))
    p.add_argument("--policy", action="store_true", help=t("the schema of attribution policies instead"))
    p.add_argument("--plan", action="store_true", help=t("the schema of plan files (kpi plan) instead"))
    p.add_argument("--reference", action="store_true", help=t("the Markdown language reference (docs/reference.md)"))
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("test", parents=[lang], help=t("run the cases embedded in rulesets"))
    p.add_argument("paths", nargs="+", metavar="PATH", help=t("ruleset files or folders of them"))
    p.add_argument("--junit", metavar="FILE", help=t("also write the results as JUnit XML for CI"))
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("init", parents=[lang], help=t("scaffold a ruleset, example data and cases from a template"))
    p.add_argument("directory", metavar="DIR")
    p.add_argument(
        "--template", choices=tuple(TEMPLATES), default="s1", help=t("s1 rep monthly, s2 supervisor, s5 dept")
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("attribute", parents=[lang], help=t("decide which rep each deal is credited to"))
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--events", required=True, metavar="FILE", help=t("lead log: CSV, JSONL, XLSX, Parquet, duckdb:"))
    p.add_argument("--encoding", metavar="NAME", help=t("of a text log (default UTF-8), e.g. gb18030"))
    p.add_argument("--format", choices=("json", "csv", "table"), default="json")
    p.add_argument("--out", metavar="FILE")
    _record_arguments(p)
    p.add_argument(
        "--engine", choices=("auto", "reference", "vectorised"), default="auto",
        help=t("reference: the Python walk; vectorised: Polars (the columnar extra); auto: vectorised for large logs"),
    )  # fmt: skip
    p.set_defaults(func=cmd_attribute)

    p = sub.add_parser("replay", help="recompute a run record and say whether it is reproduced exactly")
    p.add_argument("record", metavar="RECORD")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "calendar", parents=[lang], help=t("print a month of a business calendar with its working days marked")
    )
    p.add_argument("month", metavar="YYYY-MM", help="a month, or a year (YYYY) for all twelve")
    p.add_argument("--country", metavar="CODE", help="CN (default, with adjusted working weekends), US, DE…, weekdays")
    p.add_argument("--calendar", metavar="FILE", help="a company calendar file (YAML: country, days_off, days_on)")
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
    return parser


def _requested_lang(argv: Sequence[str]) -> Lang:
    """The ``--lang`` of the command line (read before parsing, so help is translated), else the locale's."""
    for i, arg in enumerate(argv):
        value = arg.partition("=")[2] if arg.startswith("--lang=") else None
        if arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
        if value == "zh":
            return "zh"
        if value == "en":
            return "en"
    return language_from_env(os.environ)


def _record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--record", metavar="FILE", help="also write a self-contained run record (kpi replay FILE)")
    p.add_argument(
        "--record-inputs", choices=("inline", "digest"), default="inline",
        help="inline: the input rows go into the record; digest: their SHA-256 and a path relative to the record",
    )  # fmt: skip
    p.add_argument("--created", metavar="STAMP", help="a timestamp or label stored in the record (no clock is read)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kpi`` with ``argv``; return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    _LANG[0] = _requested_lang(args_list)
    parser = build_parser(_msg())
    args = parser.parse_args(args_list)
    try:
        code: int = args.func(args)
    except KpiError as exc:
        print(_readable(_render(exc)), file=sys.stderr)  # a header or value may hold escape sequences
        return 1
    except BrokenPipeError:  # pragma: no cover - e.g. `kpi evaluate ... | head`
        return 0
    except KeyboardInterrupt:
        # One Ctrl-C can raise twice: Polars turns the signal into KeyboardInterrupt while
        # Python's own handler is still due, and raises it again at the next check (here).
        while True:
            try:
                return _fail("kpi: interrupted", 130)
            except KeyboardInterrupt:
                continue
    except MemoryError:  # the environment too (ulimit -v, a small container): say so, not "internal error"
        return _fail("kpi: not enough memory for this input (raise the memory limit, or split the input)", 1)
    except OSError as exc:  # the environment, not a bug: unreadable file, full disk, …
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"kpi: {where}{exc.strerror or exc}", 1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 70
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        message = f"kpi: internal error ({type(exc).__name__}): {first} — please report this with the command and input"
        return _fail(message, 70)
    return code


MAX_SHOWN_ISSUES = 1000  # a log of a million bad rows must not flood the terminal


def _render(exc: KpiError) -> str:
    """The error's located lines, at most ``MAX_SHOWN_ISSUES`` of them, then how many more there are."""
    if not exc.issues:
        return str(exc)
    msg = _msg()
    shown = [render_issue(issue, msg) for issue in exc.issues[:MAX_SHOWN_ISSUES]]
    rest = len(exc.issues) - len(shown)
    if rest:
        shown.append(f"… and {rest} more problem(s) not shown ({len(exc.issues)} in all)")
    return "\n".join(shown)


def _fail(message: str, code: int) -> int:
    """Print one line (the traceback too when ``KPI_DEBUG=1``) and return the exit code."""
    if os.environ.get("KPI_DEBUG") == "1":
        traceback.print_exc()
    print(_readable(message), file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
