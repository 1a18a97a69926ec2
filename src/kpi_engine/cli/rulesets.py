"""``kpi validate``, ``kpi schema``, ``kpi test`` and ``kpi init``: writing and checking rulesets."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kpi_engine.cli._common import first_key_is, write, yaml_files
from kpi_engine.errors import Issue, KpiError, Location, RulesetError
from kpi_engine.evaluation.cases import run_cases
from kpi_engine.io.loading import MAX_YAML_FILE_BYTES, _read_text, load_ruleset
from kpi_engine.io.scaffold import TEMPLATES, scaffold
from kpi_engine.language.build import check_text
from kpi_engine.language.schema import reference_markdown, ruleset_schema
from kpi_engine.report import render_issue
from kpi_engine.report.texts import junit_xml


def _issues_of(text: str, path: str) -> list[Issue]:
    """Every issue of one document: a ruleset, an attribution policy, a plan or a risk register (by its first key)."""
    if first_key_is(text, "policy"):
        from kpi_engine.attribution._policy import check_policy_text  # noqa: PLC0415

        return check_policy_text(text, path)[1]
    if first_key_is(text, "plan"):
        from kpi_engine.time.targets import check_plan_text  # noqa: PLC0415

        return check_plan_text(text, path)
    if first_key_is(text, "register"):
        from kpi_engine.management.risks import check_register_text  # noqa: PLC0415

        return check_register_text(text, path)
    if first_key_is(text, "territories"):
        from kpi_engine.management.territories import parse_territories  # noqa: PLC0415

        try:
            parse_territories(text, path)
        except RulesetError as exc:
            return list(exc.issues)
        return []
    if first_key_is(text, "pay_plan"):
        from kpi_engine.payout.build import check_pay_plan_text  # noqa: PLC0415

        return check_pay_plan_text(text, path)
    return check_text(text, path)[2]


def cmd_validate(args: argparse.Namespace) -> int:
    if args.format == "json":
        return _validate_json(args)
    msg = args.msg
    failed = False
    for path in yaml_files(args.rulesets, args.msg):
        try:
            text = _read_text(Path(path), MAX_YAML_FILE_BYTES)  # the same size cap and messages as evaluate
        except KpiError as exc:
            print(str(exc), file=sys.stderr)
            failed = True
            continue
        issues = _issues_of(text, path)
        errors = [i for i in issues if i.severity == "error"]
        for issue in issues:
            print(render_issue(issue, msg), file=sys.stderr)
        if errors:
            failed = True
            print(msg.t("{path}: {count} error(s)", path=path, count=len(errors)), file=sys.stderr)
        else:
            warn = len(issues)
            ok = msg.t("{path}: ok", path=path)
            print(ok + (msg.t(" ({count} warning(s))", count=warn) if warn else ""))
            if first_key_is(text, "pay_plan"):
                from kpi_engine.payout.build import parse_pay_plan  # noqa: PLC0415
                from kpi_engine.report.pay import render_cost  # noqa: PLC0415

                print(render_cost(parse_pay_plan(text, path), msg), end="")
    return 1 if failed else 0


def _validate_json(args: argparse.Namespace) -> int:
    """``kpi validate --format json``: one JSON document listing every file and its issues."""
    files: list[dict[str, Any]] = []
    for path in yaml_files(args.rulesets, args.msg):
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            issue = Issue("unreadable", f"cannot read: {exc}", "", Location(path))
            files.append({"file": path, "valid": False, "issues": [issue.to_dict()]})
            continue
        issues = _issues_of(text, path)
        valid = not any(i.severity == "error" for i in issues)
        files.append({"file": path, "valid": valid, "issues": [i.to_dict() for i in issues]})
    valid = all(f["valid"] for f in files)
    write(json.dumps({"valid": valid, "files": files}, ensure_ascii=False, indent=2) + "\n", None)
    return 0 if valid else 1


def cmd_schema(args: argparse.Namespace) -> int:
    if args.reference:
        write(reference_markdown(), args.out)
        return 0
    if args.policy:
        from kpi_engine.attribution import policy_schema  # noqa: PLC0415

        schema = policy_schema()
    elif args.plan:
        from kpi_engine.time.targets import plan_schema  # noqa: PLC0415

        schema = plan_schema()
    elif args.risks:
        from kpi_engine.management.risks import register_schema  # noqa: PLC0415

        schema = register_schema()
    elif args.territories:
        from kpi_engine.management.territories import territories_schema  # noqa: PLC0415

        schema = territories_schema()
    elif args.pay:
        from kpi_engine.payout.build import pay_plan_schema  # noqa: PLC0415

        schema = pay_plan_schema()
    else:
        schema = ruleset_schema()
    write(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", args.out)
    return 0


def _cases_of(path: Path) -> list[Any]:
    """The case results of a ruleset or a pay plan (by its first key)."""
    text = _read_text(path, MAX_YAML_FILE_BYTES)
    if first_key_is(text, "pay_plan"):
        from kpi_engine.payout.build import parse_pay_plan  # noqa: PLC0415
        from kpi_engine.payout.cases import run_pay_cases  # noqa: PLC0415

        return list(run_pay_cases(parse_pay_plan(text, str(path))))
    return list(run_cases(load_ruleset(path)))


def cmd_test(args: argparse.Namespace) -> int:
    t = args.msg.t
    files: list[Path] = []
    for p in map(Path, args.paths):
        files.extend(sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")) if p.is_dir() else [p])
    failed = total = 0
    suites: list[tuple[str, list[tuple[str, str | None]]]] = []  # file → (case, failure text or None)
    for f in files:
        outcomes: list[tuple[str, str | None]] = []
        suites.append((str(f), outcomes))
        try:
            cases = _cases_of(f)
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
            lines = ([t("error: ") + case.error] if case.error else []) + [
                t("{subject} {what}: expected {expected}, got {actual}", subject=m.subject, what=m.what,
                  expected=m.expected, actual=m.actual)
                for m in case.mismatches
            ]  # fmt: skip
            outcomes.append((case.name, "\n".join(lines)))
            print(f"FAIL {f}::{case.name}")
            for line in lines:
                print("  " + line.replace("\n", "\n  "))
    print(t("{passed} passed, {failed} failed", passed=total - failed, failed=failed))
    if args.junit:
        write(junit_xml(suites), args.junit)
    if total == 0:
        print("kpi test: no case ran (add `cases:` to the ruleset)", file=sys.stderr)
        return 1
    return 1 if failed else 0


def cmd_init(args: argparse.Namespace) -> int:
    for path in scaffold(args.directory, args.template):
        print(f"wrote {path}")
    print(f"next: cd {args.directory} && kpi test ruleset.yaml")
    return 0


def register(sub: Any, lang: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """Add this group's commands to the ``kpi`` parser."""
    p = sub.add_parser(
        "validate", parents=[lang], help=t("check rulesets and policies; report every problem with file:line:col")
    )
    p.add_argument(
        "rulesets", nargs="+", metavar="RULESET", help=t("ruleset, policy or plan files, or folders of them")
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="json: every issue, for editors and CI")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", parents=[lang], help=t("print the JSON Schema of the ruleset language"))
    p.add_argument("--policy", action="store_true", help=t("the schema of attribution policies instead"))
    p.add_argument("--plan", action="store_true", help=t("the schema of plan files (kpi plan) instead"))
    p.add_argument("--risks", action="store_true", help=t("the schema of risk registers (kpi risks) instead"))
    p.add_argument(
        "--territories", action="store_true", help=t("the schema of territory designs (kpi territories) instead")
    )
    p.add_argument("--pay", action="store_true", help=t("the schema of pay plans (kpi pay) instead"))
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
