"""The ``kpi`` command: the only module that prints or exits.

Exit codes: 0 success; 1 invalid ruleset, bad data or a failing case; 2 usage errors.
Results go to stdout or ``--out`` (written atomically); errors go to stderr.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
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


def _write(text: str | Iterable[str], out: str | None) -> None:
    """Write text (or chunks of it) to stdout, or atomically to ``out`` (a temporary file renamed into place)."""
    chunks = (text,) if isinstance(text, str) else text
    if out is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        return
    target = Path(out)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise KpiError(f"cannot write {out}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            for chunk in chunks:
                fh.write(chunk)
        umask = os.umask(0)
        os.umask(umask)
        Path(tmp).chmod(0o666 & ~umask)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def format_appraisal(appraisal: Appraisal, fmt: str, *, compact: bool = False) -> str:
    """Render an appraisal as ``json``, ``csv`` (one row per subject and KPI) or a ``table``."""
    if fmt == "json":
        return appraisal.to_json(indent=None if compact else 2) + "\n"
    data = appraisal.to_dict()
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(
            [
                "period",
                "subject",
                "parent",
                "total",
                "grade",
                "rank",
                "kpi",
                "value",
                "score",
                "weight",
                "contribution",
                "status",
            ]
        )
        for r in data["results"]:
            subject = [
                data["period"],
                r["subject"],
                r["parent"] or "",
                r["total"] or "",
                r["grade"] or "",
                r["rank"] or "",
            ]
            for k in r["kpis"]:
                value = "" if k["value"] is None else k["value"]
                writer.writerow(
                    [*subject, k["id"], value, k["score"] or "", k["weight"], k["contribution"], k["status"]]
                )
        return buf.getvalue()
    kpi_ids = [k["id"] for k in data["results"][0]["kpis"]] if data["results"] else []
    rows = [["rank", "subject", "parent", "total", "grade", *kpi_ids]]
    for r in data["results"]:
        scores = [k["score"] if k["status"] == "scored" else "n/a" for k in r["kpis"]]
        rows.append(
            [str(r["rank"] or "-"), r["subject"], r["parent"] or "-", r["total"] or "n/a", r["grade"] or "-", *scores]
        )
    head = (
        f"{data['ruleset']['title']} — {data['ruleset']['id']} {data['ruleset']['version']} — period {data['period']}\n"
    )
    return head + _table(rows)


def _inputs(args: argparse.Namespace, ruleset: Ruleset) -> dict[str, Any]:
    records = [read_table(path) for path in args.records]
    if args.policy or args.lead_events:
        from kpi_engine.attribution import attribute, load_policy, merge_records, read_events  # noqa: PLC0415

        if not (args.policy and args.lead_events):
            raise KpiError("--policy and --lead-events go together")
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
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            failed = True
            continue
        if _is_policy(text):
            from kpi_engine.attribution._policy import check_policy_text  # noqa: PLC0415

            issues = check_policy_text(text, path)[1]
        else:
            issues = check_text(text, path)[2]
        errors = [i for i in issues if i.severity == "error"]
        for issue in issues:
            print(issue.render(), file=sys.stderr)
        if errors:
            failed = True
            print(f"{path}: {len(errors)} error(s)", file=sys.stderr)
        else:
            warn = len(issues)
            print(f"{path}: ok" + (f" ({warn} warning(s))" if warn else ""))
    return 1 if failed else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    ruleset = load_ruleset(args.ruleset)
    appraisal = evaluate(ruleset, period=args.period, strict=args.strict, **_inputs(args, ruleset))
    _write(format_appraisal(appraisal, args.format, compact=args.compact), args.out)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    ruleset = load_ruleset(args.ruleset)
    appraisal = evaluate(ruleset, period=args.period, strict=args.strict, **_inputs(args, ruleset))
    try:
        result = appraisal.result(args.subject)
    except KeyError:
        known = ", ".join(r.subject for r in appraisal.results)
        print(f"subject '{args.subject}' was not appraised in {appraisal.period}; appraised: {known}", file=sys.stderr)
        return 1
    _write(explain_subject(appraisal, result), args.out)
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
        f"{args.before} → {args.after}, period {a.period}: {count} subject(s) change, {report['unchanged']} unchanged"
    ]
    for change in report["changes"]:
        lines.append(f"  {change['subject']}")
        lines.extend(f"    {k}: {v[0]} → {v[1]}" for k, v in change.items() if k != "subject")
    _write("\n".join(lines) + "\n", args.out)
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
                print("  error: " + case.error.replace("\n", "\n  "))
            for m in case.mismatches:
                print(f"  {m.subject} {m.what}: expected {m.expected}, got {m.actual}")
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from kpi_engine import attribution as a  # noqa: PLC0415

    policy = a.load_policy(args.policy)
    result = a.attribute(policy, a.read_log(args.events, policy, args.engine), engine=args.engine)
    if args.format == "json":
        _write(a.iter_attribution_json(result), args.out)  # streamed, column-wise when vectorised
    else:
        _write(a.format_attribution(result, args.format), args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``kpi``."""
    parser = argparse.ArgumentParser(prog="kpi", description="Exact, explainable sales scorecards and deal credit.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check rulesets and policies; report every problem with file:line:col")
    p.add_argument("rulesets", nargs="+", metavar="RULESET")
    p.set_defaults(func=cmd_validate)

    for name, func, text in (
        ("evaluate", cmd_evaluate, "appraise every subject for a period"),
        ("explain", cmd_explain, "show the readable trace of one subject"),
        ("diff", cmd_diff, "compare two versions of a ruleset on the same records"),
    ):
        p = sub.add_parser(name, help=text)
        if name == "diff":
            p.add_argument("before", metavar="RULESET")
            p.add_argument("after", metavar="CHANGED_RULESET")
        else:
            p.add_argument("ruleset", metavar="RULESET")
        p.add_argument(
            "--records", required=True, metavar="FILE", nargs="+", action="extend",
            help="CSV, JSON or JSONL records (several files allowed, e.g. reps and teams)",
        )  # fmt: skip
        p.add_argument("--members", metavar="FILE", help="membership rows: member,parent,period")
        p.add_argument("--events", metavar="FILE", help="event rows for aggregate metrics")
        p.add_argument("--period", metavar="P", help="period to appraise (default: the latest in the records)")
        p.add_argument("--strict", action="store_true", help="every N/A is an error")
        p.add_argument("--policy", metavar="POLICY", help="attribution policy: add credit and follow-up fields")
        p.add_argument("--lead-events", metavar="FILE", help="lead event log for --policy")
        p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
        if name == "evaluate":
            p.add_argument("--format", choices=("table", "json", "csv"), default="table")
            p.add_argument("--compact", action="store_true", help="json on one line (much faster for big outputs)")
        elif name == "diff":
            p.add_argument("--format", choices=("table", "json"), default="table")
        else:
            p.add_argument("--subject", required=True, metavar="ID")
        p.set_defaults(func=func)

    p = sub.add_parser("schema", help="print the JSON Schema of the ruleset language")
    p.add_argument("--policy", action="store_true", help="the schema of attribution policies instead")
    p.add_argument("--reference", action="store_true", help="the Markdown language reference (docs/reference.md)")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("test", help="run the cases embedded in rulesets")
    p.add_argument("paths", nargs="+", metavar="PATH", help="ruleset files or folders of them")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("attribute", help="decide which rep each deal is credited to")
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--events", required=True, metavar="FILE", help="lead event log (CSV or JSONL)")
    p.add_argument("--format", choices=("json", "csv", "table"), default="json")
    p.add_argument("--out", metavar="FILE")
    p.add_argument(
        "--engine", choices=("auto", "reference", "vectorised"), default="auto",
        help="reference: the Python walk; vectorised: Polars (the columnar extra); auto: vectorised for large logs",
    )  # fmt: skip
    p.set_defaults(func=cmd_attribute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kpi`` with ``argv``; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KpiError as exc:
        print(exc.render() if exc.issues else str(exc), file=sys.stderr)
        return 1
    except BrokenPipeError:  # pragma: no cover - e.g. `kpi evaluate ... | head`
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
