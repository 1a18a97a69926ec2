"""The ``kpi`` command: the only module that prints or exits.

Exit codes: 0 success; 1 invalid ruleset, bad data or a failing case; 2 usage errors.
Results go to stdout or ``--out`` (written atomically); errors go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kpi_engine.audit.diff import compare
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.cases import run_cases
from kpi_engine.evaluation.engine import evaluate
from kpi_engine.evaluation.explain import explain_subject
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.io.loading import load_ruleset, read_table
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
    terminal_safe,
)

_LANG: list[Lang] = ["en"]  # the language of this run, set once by main()


def _msg() -> Messages:
    return messages(_LANG[0])


def _write(text: str | bytes, out: str | None) -> None:
    """Write to stdout, or atomically to ``out`` (a temporary file renamed into place)."""
    if out is None:
        if isinstance(text, bytes):
            if sys.stdout.isatty():
                raise KpiError(_msg().t("binary output (xlsx) goes to a file: add --out FILE"))
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
            return
        sys.stdout.write(text)
        return
    target = Path(out)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise KpiError(_msg().t("cannot write {path}: {error}", path=out, error=exc.strerror)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text if isinstance(text, bytes) else text.encode("utf-8"))
        umask = os.umask(0)
        os.umask(umask)
        Path(tmp).chmod(0o666 & ~umask)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _readable(text: str) -> str:
    """Text for people: control, escape and bidi characters from data shown as visible escapes."""
    return "\n".join(terminal_safe(line) for line in text.split("\n"))


def format_appraisal(appraisal: Appraisal, fmt: str, *, compact: bool = False, **options: Any) -> str | bytes:
    """Render an appraisal as ``json`` here, or through ``kpi_engine.report`` (table, csv, html, xlsx)."""
    if fmt == "json":
        return appraisal.to_json(indent=None if compact else 2) + "\n"
    return render(appraisal, fmt, **options)


def _inputs(args: argparse.Namespace, ruleset: Ruleset) -> dict[str, Any]:
    records = [read_table(path) for path in args.records]
    if args.policy or args.lead_events:
        from kpi_engine.attribution import attribute, load_policy, merge_records, read_events  # noqa: PLC0415

        if not (args.policy and args.lead_events):
            raise KpiError(_msg().t("--policy and --lead-events go together"))
        policy = load_policy(args.policy)
        result = attribute(policy, read_events(args.lead_events, policy))
        card = ruleset.scorecard
        records = merge_records(records, result, set(card.inputs), card.period)
    return {
        "records": records,
        "members": read_table(args.members) if args.members else None,
        "events": read_table(args.events) if args.events else None,
    }


def _is_policy(text: str) -> bool:
    """A file whose first top-level key is ``policy:`` is an attribution policy."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return line.startswith("policy:")
    return False


def cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for path in args.rulesets:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            print(_msg().t("{path}: cannot read: {error}", path=path, error=exc), file=sys.stderr)
            failed = True
            continue
        if _is_policy(text):
            from kpi_engine.attribution._policy import check_policy_text  # noqa: PLC0415

            issues = check_policy_text(text, path)[1]
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


def cmd_evaluate(args: argparse.Namespace) -> int:
    ruleset = load_ruleset(args.ruleset)
    inputs = _inputs(args, ruleset)
    appraisal = evaluate(ruleset, period=args.period, strict=args.strict, **inputs)
    if args.format == "json":
        _write(format_appraisal(appraisal, "json", compact=args.compact), args.out)
        return 0
    history = [evaluate(ruleset, period=p, strict=args.strict, **inputs) for p in args.history or ()]
    bom = args.bom if args.bom is not None else (args.format == "csv" and args.out is not None)
    output = format_appraisal(
        appraisal,
        args.format,
        ruleset=ruleset,
        names=names_from_tables(inputs["records"], appraisal.period),
        lang=_LANG[0],
        ids=args.ids,
        bom=bom,
        history=[h for h in history if h.period != appraisal.period],
    )
    _write(output, args.out)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    ruleset = load_ruleset(args.ruleset)
    appraisal = evaluate(ruleset, period=args.period, strict=args.strict, **_inputs(args, ruleset))
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
    _write(_readable(explain_subject(appraisal, result)), args.out)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    before, after = load_ruleset(args.before), load_ruleset(args.after)
    a = evaluate(before, period=args.period, **_inputs(args, before))
    b = evaluate(after, period=a.period, **_inputs(args, after))
    report = compare(a, b)
    if args.format == "json":
        _write(json.dumps(report, ensure_ascii=False, indent=2) + "\n", args.out)
        return 0
    count = len(report["changes"])
    lines = [
        _msg().t(
            "{before} → {after}, period {period}: {count} subject(s) change, {unchanged} unchanged",
            before=args.before,
            after=args.after,
            period=a.period,
            count=count,
            unchanged=report["unchanged"],
        )
    ]
    for change in report["changes"]:
        lines.append(f"  {change['subject']}")
        lines.extend(f"    {k}: {v[0]} → {v[1]}" for k, v in change.items() if k != "subject")
    _write(_readable("\n".join(lines) + "\n"), args.out)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.reference:
        _write(reference_markdown(), args.out)
        return 0
    if args.policy:
        from kpi_engine.attribution import policy_schema  # noqa: PLC0415

        schema = policy_schema()
    else:
        schema = ruleset_schema()
    _write(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", args.out)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    files: list[Path] = []
    for p in map(Path, args.paths):
        files.extend(sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")) if p.is_dir() else [p])
    failed = total = 0
    for f in files:
        ruleset = load_ruleset(f)
        for case in run_cases(ruleset):
            total += 1
            if case.passed:
                print(f"PASS {f}::{case.name}")
                continue
            failed += 1
            print(f"FAIL {f}::{case.name}")
            if case.error:
                print("  " + _msg().t("error: ") + case.error.replace("\n", "\n  "))
            for m in case.mismatches:
                print(
                    "  "
                    + _msg().t(
                        "{subject} {what}: expected {expected}, got {actual}",
                        subject=m.subject,
                        what=m.what,
                        expected=m.expected,
                        actual=m.actual,
                    )
                )
    print(_msg().t("{passed} passed, {failed} failed", passed=total - failed, failed=failed))
    return 1 if failed else 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from kpi_engine.attribution import attribute, format_attribution, load_policy, read_events  # noqa: PLC0415

    policy = load_policy(args.policy)
    result = attribute(policy, read_events(args.events, policy))
    _write(format_attribution(result, args.format), args.out)
    return 0


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
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "validate", parents=[lang], help=t("check rulesets and policies; report every problem with file:line:col")
    )
    p.add_argument("rulesets", nargs="+", metavar="RULESET")
    p.set_defaults(func=cmd_validate)

    for name, func, text in (
        ("evaluate", cmd_evaluate, t("appraise every subject for a period")),
        ("explain", cmd_explain, t("show the readable trace of one subject")),
        ("diff", cmd_diff, t("compare two versions of a ruleset on the same records")),
    ):
        p = sub.add_parser(name, parents=[lang], help=text)
        if name == "diff":
            p.add_argument("before", metavar="RULESET")
            p.add_argument("after", metavar="CHANGED_RULESET")
        else:
            p.add_argument("ruleset", metavar="RULESET")
        p.add_argument(
            "--records", required=True, metavar="FILE", nargs="+", action="extend",
            help=t("CSV, JSON or JSONL records (several files allowed, e.g. reps and teams)"),
        )  # fmt: skip
        p.add_argument("--members", metavar="FILE", help=t("membership rows: member,parent,period"))
        p.add_argument("--events", metavar="FILE", help=t("event rows for aggregate metrics"))
        p.add_argument("--period", metavar="P", help=t("period to appraise (default: the latest in the records)"))
        p.add_argument("--strict", action="store_true", help=t("every N/A is an error"))
        p.add_argument("--policy", metavar="POLICY", help=t("attribution policy: add credit and follow-up fields"))
        p.add_argument("--lead-events", metavar="FILE", help=t("lead event log for --policy"))
        p.add_argument("--out", metavar="FILE", help=t("write here instead of stdout"))
        if name == "evaluate":
            p.add_argument(
                "--format", choices=("table", "json", "csv", "html", "xlsx"), default="table",
                help=t("output format (default: table)"),
            )  # fmt: skip
            p.add_argument("--compact", action="store_true", help=t("json on one line (much faster for big outputs)"))
            p.add_argument("--ids", action="store_true", help=t("show KPI ids instead of their titles"))
            p.add_argument(
                "--bom", action=argparse.BooleanOptionalAction, default=None,
                help=t("start CSV with a UTF-8 byte-order mark for Excel (default: on with --out)"),
            )  # fmt: skip
            p.add_argument(
                "--history", metavar="P", nargs="+", action="extend",
                help=t("earlier periods to appraise from the same records, drawn as trends in the HTML report"),
            )  # fmt: skip
        elif name == "diff":
            p.add_argument("--format", choices=("table", "json"), default="table")
        else:
            p.add_argument("--subject", required=True, metavar="ID")
        p.set_defaults(func=func)

    p = sub.add_parser("schema", parents=[lang], help=t("print the JSON Schema of the ruleset language"))
    p.add_argument("--policy", action="store_true", help=t("the schema of attribution policies instead"))
    p.add_argument("--reference", action="store_true", help=t("the Markdown language reference (docs/reference.md)"))
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("test", parents=[lang], help=t("run the cases embedded in rulesets"))
    p.add_argument("paths", nargs="+", metavar="PATH", help=t("ruleset files or folders of them"))
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("attribute", parents=[lang], help=t("decide which rep each deal is credited to"))
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--events", required=True, metavar="FILE", help=t("lead event log (CSV or JSONL)"))
    p.add_argument("--format", choices=("json", "csv", "table"), default="json")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_attribute)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kpi`` with ``argv``; return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    _LANG[0] = _requested_lang(args_list)
    parser = build_parser(_msg())
    args = parser.parse_args(args_list)
    try:
        code: int = args.func(args)
    except KpiError as exc:
        msg = _msg()
        print("\n".join(render_issue(i, msg) for i in exc.issues) if exc.issues else str(exc), file=sys.stderr)
        return 1
    except BrokenPipeError:  # pragma: no cover - e.g. `kpi evaluate ... | head`
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
