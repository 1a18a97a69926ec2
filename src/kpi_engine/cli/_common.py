"""What every ``kpi`` command shares: writing results, reading inputs, warnings, progress, versions.

Every command receives its parsed ``args`` with ``args.msg`` (the run's message catalogue, set once by
``main``), so no module keeps the language in a global.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from kpi_engine.errors import Issue, KpiError
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.io.loading import MAX_YAML_FILE_BYTES, _read_text, load_ruleset, read_table
from kpi_engine.io.output import write_file
from kpi_engine.language.build import Ruleset
from kpi_engine.report import Messages, messages, render_issue, terminal_safe
from kpi_engine.report.issues import translate_message

_T = TypeVar("_T")

MAX_SHOWN_ISSUES = 1000  # a log of a million bad rows must not flood the terminal


def write(text: str | bytes | Iterable[str] | Iterable[bytes], out: str | None, msg: Messages | None = None) -> None:
    """Write text or bytes (whole, or in pieces, streamed) to stdout, or to ``out`` through ``write_file``.

    ``write_file`` replaces a regular file atomically, keeps its mode and writes through to devices.
    """
    if out is None:
        if isinstance(text, bytes):
            if sys.stdout.isatty():
                raise KpiError((msg or messages("en")).t("binary output (xlsx) goes to a file: add --out FILE"))
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
            return
        for piece in [text] if isinstance(text, str) else text:
            if isinstance(piece, bytes):
                sys.stdout.flush()
                sys.stdout.buffer.write(piece)
            else:
                sys.stdout.write(piece)
        return
    write_file(out, text)


def readable(text: str) -> str:
    """Text for people: control, escape and bidi characters from data shown as visible escapes."""
    return "\n".join(terminal_safe(line) for line in text.split("\n"))


def read(args: argparse.Namespace, path: str, *, records: bool = False) -> Table:
    """Read one table with the command's reading options (``--encoding``, ``--sheet``; ``--header-row``: records)."""
    header_row = getattr(args, "header_row", None) if records else None
    return noted(args, read_table(path, encoding=args.encoding, sheet=args.sheet, header_row=header_row))


def noted(args: argparse.Namespace, table: _T) -> _T:
    """``table``; its warnings (``Table.notes``) are kept in ``args.gathered``, shown even if an error follows."""
    notes = getattr(table, "notes", ())
    if notes and isinstance(getattr(args, "gathered", None), list):
        args.gathered.extend(notes)
    return table


def warnings_before(args: argparse.Namespace, error: KpiError) -> list[Issue]:
    """The warnings gathered before ``error`` stopped the run: the tables' notes, then the error's own, each once."""
    seen: list[Issue] = []
    for issue in [*getattr(args, "gathered", ()), *error.warnings]:
        if issue not in seen:
            seen.append(issue)
    return seen


def screening(args: argparse.Namespace) -> dict[str, Any]:
    """The ``evaluate`` keyword arguments of ``--skip-totals`` and ``--exclude-unlisted``."""
    return {
        "totals": "skip" if getattr(args, "skip_totals", False) else "refuse",
        "unlisted": "exclude" if getattr(args, "exclude_unlisted", False) else "error",
    }


def warn(appraisal: Appraisal, msg: Messages | None = None) -> Appraisal:
    """Print the appraisal's warnings (e.g. roster members without a record) on stderr."""
    print_warnings(appraisal.warnings, msg)
    return appraisal


def print_warnings(issues: Iterable[Issue], msg: Messages | None = None) -> None:
    """Print warnings on stderr in ``msg``'s language, data shown terminal-safe as errors are."""
    for issue in issues:
        print(readable(render_issue(issue, msg or messages("en"))), file=sys.stderr)


def inputs(args: argparse.Namespace, ruleset: Ruleset) -> dict[str, Any]:
    """The ``evaluate`` keyword arguments of the input options: records, members, events, credits, a plan."""
    records = [read(args, path, records=True) for path in args.records]
    if args.policy or args.lead_events:
        from kpi_engine.attribution import attribute, load_policy, merge_records, read_events  # noqa: PLC0415

        if not (args.policy and args.lead_events):
            raise KpiError(args.msg.t("--policy and --lead-events go together"))
        policy = load_policy(args.policy)
        result = attribute(policy, read_events(args.lead_events, policy, encoding=args.encoding))
        card = ruleset.scorecard
        sources = {n: i.source.credits for n, i in card.inputs.items() if i.source and i.source.credits}
        records = merge_records(records, result, set(card.inputs), card.period, sources)
    if getattr(args, "plan", None):
        from kpi_engine.time.calendar import unwatched  # noqa: PLC0415
        from kpi_engine.time.targets import decompose, merge_plan  # noqa: PLC0415

        card = ruleset.scorecard
        with unwatched():  # a plan reaches the last day of its year by design: not a sign of the calendar's end
            planned = decompose(read_plan_with_calendars(args, args.plan))
        records = merge_plan(records, planned, set(card.inputs), card.period)
    return {
        "records": records,
        "members": read(args, args.members) if args.members else None,
        "events": event_tables(args),
        "allow_extra_columns": args.allow_extra_columns,
        **screening(args),
    }


def with_calendars(ruleset: Ruleset, args: argparse.Namespace) -> Ruleset:
    """The ruleset with the company days of ``--calendar FILE…`` added to its business calendar.

    Raises:
        KpiError: with ``--record`` (a run record holds the ruleset's text, not these files: put the days
            in the ruleset's ``calendar:`` to record them), or for a calendar of another country.
    """
    files = getattr(args, "calendar", None) or []
    if not files:
        return ruleset
    if getattr(args, "record", None):
        raise KpiError(
            "--calendar days are not part of a run record (it holds the ruleset's text): "
            "copy them into the ruleset's calendar: section to record the run"
        )
    import attrs  # noqa: PLC0415

    from kpi_engine.io.calendars import read_calendar  # noqa: PLC0415

    calendar = ruleset.scorecard.calendar
    for path in files:
        calendar = calendar.extended(read_calendar(path))
    return attrs.evolve(ruleset, scorecard=attrs.evolve(ruleset.scorecard, calendar=calendar))


def read_plan_with_calendars(args: argparse.Namespace, path: str) -> Any:
    """The plan at ``path`` with the company days of ``--calendar FILE…`` added to its calendar.

    A plan's months reach the last day of its year, and a December alert falls due in January: the
    year after the library's data needs the State Council's notice, imported (``kpi calendar import``).
    """
    import attrs  # noqa: PLC0415

    from kpi_engine.io.calendars import read_calendar  # noqa: PLC0415
    from kpi_engine.io.targets import read_plan  # noqa: PLC0415

    plan = read_plan(path)
    calendar = plan.calendar
    for file in getattr(args, "calendar", None) or []:
        calendar = calendar.extended(read_calendar(file))
    return attrs.evolve(plan, calendar=calendar)


def add_calendar_argument(p: argparse.ArgumentParser, t: Callable[..., str]) -> None:
    """``--calendar FILE…`` for a command that reads a plan (kpi plan, kpi track)."""
    p.add_argument(
        "--calendar", metavar="FILE", nargs="+", action="extend", default=[],
        help=t("company calendar files (kpi calendar import) added to the plan's calendar, e.g. next year's notice"),
    )  # fmt: skip


def event_tables(args: argparse.Namespace) -> Table | list[Table] | None:
    """The ``--events`` files: none, one table, or several read as one log (``prepare_event_tables``)."""
    tables = [read(args, path) for path in args.events]
    if not tables:
        return None
    return tables[0] if len(tables) == 1 else tables


def yaml_files(paths: Iterable[str], msg: Messages) -> list[str]:
    """The files named, a folder standing for its ``*.yaml`` and ``*.yml`` files (sorted by name).

    Raises:
        KpiError: for a folder that holds no YAML file.
    """
    files: list[str] = []
    for path in paths:
        folder = Path(path)
        if not folder.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".yaml", ".yml"} and p.is_file())
        if not found:
            raise KpiError(msg.t("{path}: no ruleset files (*.yaml, *.yml) in this folder", path=path))
        files.extend(str(p) for p in found)
    return files


def first_key_is(text: str, key: str) -> bool:
    """Whether the first top-level key of a YAML document is ``key`` (``policy``, ``plan``, …)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return line.startswith(f"{key}:")
    return False


def load_version(path: str, period: str | None, args: argparse.Namespace | None = None) -> tuple[Ruleset, str | None]:
    """A ruleset file, or the version in effect for ``period`` from a folder of versions.

    With ``args``, the company calendars of ``--calendar FILE…`` are added (``with_calendars``).
    Returns the ruleset and, for a folder, the chosen version's text (else ``None``: read on demand).
    """
    if not Path(path).is_dir():
        return with_calendars(load_ruleset(path), args) if args is not None else load_ruleset(path), None
    from kpi_engine.audit.versions import VersionHeader, choose_header, confirm_header, version_header  # noqa: PLC0415
    from kpi_engine.io.records import ruleset_files  # noqa: PLC0415
    from kpi_engine.language.build import parse_ruleset  # noqa: PLC0415

    if period is None:
        raise KpiError(f"{path} is a folder of ruleset versions: give --period to pick the version in effect")
    # Each version's header only (a full parse where the header is not in its plain form); the
    # chosen version alone is parsed in full, and must say what its header said.
    headers = [version_header(t, name) or VersionHeader.of(parse_ruleset(t, name)) for name, t in ruleset_files(path)]
    header = choose_header(headers, period)
    text = _read_text(Path(header.file), MAX_YAML_FILE_BYTES)
    chosen = header.ruleset
    if chosen is None or chosen.text != text:  # read again: the file may have changed since
        chosen = parse_ruleset(text, header.file)
    confirm_header(header, chosen)
    print(f"{path}: version {chosen.version} ({chosen.file}) is in effect in {period}", file=sys.stderr)
    return (with_calendars(chosen, args) if args is not None else chosen), text


@contextlib.contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr for runs longer than about a second; nothing when stderr is not a terminal."""
    with stages() as run:
        run.stage(label)
        yield run.update if run.shown is not None else None


class Stages:
    """The stages of a command (reading, appraising, writing) as one progress display on stderr.

    Nothing is drawn for a run shorter than about a second, or when stderr is not a terminal
    (``shown`` is then ``None`` and every call does nothing). The display appears after a second
    even while a stage gives no counts (reading a file: an indeterminate bar), and is removed at
    the end, leaving stdout untouched.
    """

    def __init__(self, bar: Any | None) -> None:
        self.shown = bar
        self.started = time.monotonic()
        self.task: Any | None = None
        self.lock = threading.Lock()
        self.visible = False
        self.timer: threading.Timer | None = None
        if bar is not None:
            self.timer = threading.Timer(1.0, self._show)
            self.timer.daemon = True
            self.timer.start()

    def _show(self) -> None:
        with self.lock:
            if self.shown is not None and not self.visible:
                self.shown.start()
                self.visible = True

    def stage(self, label: str, total: int | None = None) -> None:
        """Start a stage (the previous one is complete); ``total`` when its count is known."""
        bar = self.shown
        if bar is None:
            return
        with self.lock:
            if self.task is not None:
                bar.update(self.task, visible=False)
            self.task = bar.add_task(label, total=total)

    def update(self, done: int, total: int) -> None:
        """Counts of the current stage (``evaluate(progress=…)``, ``write_xlsx(progress=…)``)."""
        bar = self.shown
        if bar is None or self.task is None:
            return
        if not self.visible and time.monotonic() - self.started >= 1:
            self._show()
        bar.update(self.task, completed=done, total=total)

    def track(self, pieces: Iterable[Any], label: str) -> Iterator[Any]:
        """``pieces`` passed through as the stage ``label`` (pieces of text being written)."""
        self.stage(label)
        for i, piece in enumerate(pieces, start=1):
            yield piece
            if self.shown is not None and self.task is not None:
                self.shown.update(self.task, completed=i)

    def close(self) -> None:
        """End the display (before results are printed to the terminal it shares)."""
        if self.timer is not None:
            self.timer.cancel()
        with self.lock:
            if self.shown is not None and self.visible:
                self.shown.stop()
            self.shown = None


@contextlib.contextmanager
def stages() -> Iterator[Stages]:
    """A ``Stages`` display for the duration of a command (a silent one off a terminal)."""
    bar = None
    if sys.stderr.isatty():
        try:
            from rich.console import Console  # noqa: PLC0415 - only a terminal run needs it
            from rich.progress import Progress  # noqa: PLC0415
        except ImportError:  # pragma: no cover - rich is a dependency; a stripped install just shows no bar
            bar = None
        else:
            # stdout carries the results, written while the bar may still show: never redirected into it
            bar = Progress(transient=True, console=Console(stderr=True), redirect_stdout=False)
    run = Stages(bar)
    try:
        yield run
    finally:
        run.close()


def add_input_arguments(p: argparse.ArgumentParser, t: Callable[..., str], *, records_required: bool = True) -> None:
    """The input options shared by the commands that appraise (evaluate, explain, alerts, diff, impact)."""
    p.add_argument(
        "--records", required=records_required, metavar="FILE", nargs="+", action="extend", default=[],
        help=t("records: CSV, JSON, JSONL, XLSX, Parquet or duckdb:DB::SQL (several allowed, e.g. reps and teams)"),
    )  # fmt: skip
    p.add_argument("--encoding", metavar="NAME", help=t("of text files (default UTF-8), e.g. gb18030"))
    p.add_argument("--sheet", metavar="NAME", help=t("sheet of an Excel workbook (default: the first visible one)"))
    p.add_argument("--allow-extra-columns", action="store_true", help=t("ignore data columns the ruleset does not use"))
    p.add_argument(
        "--header-row", type=int, metavar="N",
        help=t("row of the records' header in a CSV or sheet (default: found below any title rows)"),
    )  # fmt: skip
    p.add_argument(
        "--skip-totals", action="store_true",
        help=t("leave out totals rows (合计, Total, the column sums) with a warning instead of refusing them"),
    )  # fmt: skip
    p.add_argument(
        "--exclude-unlisted", action="store_true",
        help=t("leave out records of subjects not on the --members roster with a warning instead of refusing them"),
    )  # fmt: skip
    p.add_argument("--members", metavar="FILE", help=t("membership rows: member,parent,period"))
    p.add_argument(
        "--events", metavar="FILE", nargs="+", action="extend", default=[],
        help=t("event rows for aggregate and window metrics (several allowed, e.g. the CRM log and kpi alerts' log)"),
    )  # fmt: skip
    p.add_argument("--period", metavar="P", help=t("period to appraise (default: the latest in the records)"))
    p.add_argument("--strict", action="store_true", help=t("every N/A is an error"))
    p.add_argument("--policy", metavar="POLICY", help=t("attribution policy: add credit and follow-up fields"))
    p.add_argument("--lead-events", metavar="FILE", help=t("lead event log for --policy"))
    p.add_argument("--plan", metavar="PLAN", help=t("a yearly plan (kpi plan): fills the target inputs it provides"))
    p.add_argument(
        "--calendar", metavar="FILE", nargs="+", action="extend", default=[],
        help=t("company calendar files (kpi calendar import) added to the ruleset's calendar, e.g. next year's notice"),
    )  # fmt: skip
    p.add_argument("--out", metavar="FILE", help=t("write here instead of stdout"))


def add_record_arguments(p: argparse.ArgumentParser) -> None:
    """``--record FILE`` and its options (evaluate, attribute)."""
    p.add_argument("--record", metavar="FILE", help="also write a self-contained run record (kpi replay FILE)")
    p.add_argument(
        "--record-inputs", choices=("inline", "digest"), default="inline",
        help="inline: the input rows go into the record; digest: their SHA-256 and a path relative to the record",
    )  # fmt: skip
    p.add_argument("--created", metavar="STAMP", help="a timestamp or label stored in the record (no clock is read)")


def _is_utf8(encoding: str) -> bool:
    import codecs  # noqa: PLC0415

    try:
        return codecs.lookup(encoding).name in {"utf-8", "utf-8-sig"}
    except LookupError:
        return False


def record_table(table: Any, source: str, args: argparse.Namespace) -> Any:
    """Name a table as the record will: by file name (inline) or by path relative to the record (digest).

    Raises:
        KpiError: for digest inputs replay could not read back as they were read here.
    """
    if args.record_inputs != "digest":
        return table
    from kpi_engine.io.records import relative_to_record  # noqa: PLC0415

    for option in ("encoding", "sheet"):
        value = getattr(args, option, None)
        if value is not None and not (option == "encoding" and _is_utf8(value)):
            raise KpiError(
                f"--record-inputs digest with --{option} {value}: replay reads an input kept by digest as UTF-8 "
                "text or the first sheet, so the record could not be replayed; use --record-inputs inline"
            )
    return relative_to_record(table, source, args.record)


def version() -> str:
    """The installed version of kpi_engine."""
    try:
        return metadata.version("kpi_engine")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def render_error(exc: KpiError, msg: Messages) -> str:
    """The error's located lines, at most ``MAX_SHOWN_ISSUES`` of them, then how many more there are."""
    if not exc.issues:
        return translate_message(str(exc), msg)
    shown = [render_issue(issue, msg) for issue in exc.issues[:MAX_SHOWN_ISSUES]]
    rest = len(exc.issues) - len(shown)
    if rest:
        shown.append(f"… and {rest} more problem(s) not shown ({len(exc.issues)} in all)")
    return "\n".join(shown)
