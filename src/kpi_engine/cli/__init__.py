"""The ``kpi`` command: the only package that prints or exits.

One module per command group (``rulesets``: validate, schema, test, init; ``appraise``: evaluate,
explain; ``statement``: statement; ``audit``: diff, impact, replay; ``attribution``: attribute;
``rotation``: rotation; ``time``: alerts, calendar (``calendars``: calendar import), plan; ``year``:
track, risks, territories; ``pay``: pay; ``completion``: completion); each has a
``register(sub, lang, t)`` that adds its commands. ``_common`` holds what they share. A new command
group is a new module added to ``GROUPS``.

Exit codes: 0 success; 1 invalid ruleset, bad data or a failing case; 2 usage errors;
70 an internal error (one line asking for a report; ``KPI_DEBUG=1`` shows the traceback);
130 interrupted (Ctrl-C). Results go to stdout or ``--out`` (``io.output.write_file``: atomic for
regular files, through for devices and FIFOs); errors go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from kpi_engine._limits import NOT_ENOUGH_MEMORY, memory_guard
from kpi_engine.cli import appraise, attribution, audit, completion, pay, rotation, rulesets, statement, time, year
from kpi_engine.cli._common import print_warnings, readable, render_error, version, warnings_before
from kpi_engine.errors import KpiError
from kpi_engine.report import LANGS, Lang, Messages, language_from_env, messages, render_issue
from kpi_engine.time.calendar import watch_horizon

GROUPS = (rulesets, appraise, statement, audit, attribution, rotation, time, year, pay, completion)


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
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub, lang, t)
    return parser


def requested_lang(argv: Sequence[str]) -> Lang:
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
    lang = requested_lang(args_list)
    msg = messages(lang)
    args = build_parser(msg).parse_args(args_list)
    args.lang, args.msg = lang, msg
    args.gathered = []  # warnings of the tables read (cli._common.noted), shown before an error too
    try:
        with memory_guard(), watch_horizon() as near:  # memory guard: under a cap, a MemoryError with room to report it
            code: int = args.func(args)
        for issue in near:
            print(readable(render_issue(issue, msg)), file=sys.stderr)
    except KpiError as exc:
        print_warnings(warnings_before(args, exc), msg)  # what was found before the error is not lost
        print(readable(render_error(exc, msg)), file=sys.stderr)  # a header or value may hold escape sequences
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
        return _fail(f"kpi: {NOT_ENOUGH_MEMORY}", 1)
    except OSError as exc:  # the environment, not a bug: unreadable file, full disk, …
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"kpi: {where}{exc.strerror or exc}", 1)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 70
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        message = f"kpi: internal error ({type(exc).__name__}): {first} — please report this with the command and input"
        return _fail(message, 70)
    return code


def _fail(message: str, code: int) -> int:
    """Print one line (the traceback too when ``KPI_DEBUG=1``) and return the exit code."""
    if os.environ.get("KPI_DEBUG") == "1":
        traceback.print_exc()
    print(readable(message), file=sys.stderr)
    return code


__all__ = ["GROUPS", "build_parser", "main", "requested_lang"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
