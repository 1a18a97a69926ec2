"""Reading a company calendar file (YAML): a country plus the company's own days off and on.

The file holds the keys of ``CalendarSpec``::

    country: CN                  # the public calendar it builds on (default CN)
    days_off: [2026-12-31]       # company days off besides public holidays
    days_on: [2026-10-11]        # company working days on weekends or holidays
    years: []                    # years the company vouches for itself (not covered by the library)
    names: {}                    # what each company day is (2027-02-06: 春节 Spring Festival)

``read_notice`` reads the State Council's yearly holiday notice (``kpi_engine.time.notice``) and
``calendar_yaml`` writes the company calendar file it becomes (``kpi calendar import``).
"""

from __future__ import annotations

from pathlib import Path

from kpi_engine.errors import Issue, RulesetError
from kpi_engine.io.loading import MAX_YAML_FILE_BYTES, _read_text
from kpi_engine.language._validation import validate_model
from kpi_engine.language._yaml import load_yaml
from kpi_engine.time.calendar import BusinessCalendar, CalendarSpec
from kpi_engine.time.notice import Notice, parse_notice


def parse_calendar(text: str, file: str = "<string>") -> BusinessCalendar:
    """Parse company calendar YAML text.

    Raises:
        RulesetError: listing every problem with ``file:line:col``.
    """
    return BusinessCalendar.from_spec(parse_calendar_spec(text, file))


def parse_calendar_spec(text: str, file: str = "<string>") -> CalendarSpec:
    """Parse company calendar YAML text into its ``CalendarSpec`` (the file's keys as written).

    Raises:
        RulesetError: listing every problem with ``file:line:col``.
    """
    data, smap, issues = load_yaml(text, file)
    if data is None and not issues:
        issues = [Issue("empty", "the calendar file is empty", "", smap.locate(()))]
    spec = None
    if data is not None:
        spec, more = validate_model(CalendarSpec, data, smap, frozenset(CalendarSpec.model_fields))
        issues += more
    if spec is None or any(i.severity == "error" for i in issues):
        raise RulesetError.from_issues(issues, file)
    return spec


def read_calendar(path: str | Path) -> BusinessCalendar:
    """Read a company calendar file.

    Raises:
        RulesetError: for an invalid file, located. KpiError: if the file cannot be read.
    """
    return BusinessCalendar.from_spec(read_calendar_spec(path))


def read_calendar_spec(path: str | Path) -> CalendarSpec:
    """Read a company calendar file into its ``CalendarSpec``.

    Raises:
        RulesetError: for an invalid file, located. KpiError: if the file cannot be read.
    """
    p = Path(path)
    return parse_calendar_spec(_read_text(p, MAX_YAML_FILE_BYTES), str(p))


def read_notice(path: str | Path, year: int | None = None) -> Notice:
    """Read the State Council's holiday notice (UTF-8 text, as published) from a file.

    Raises:
        RulesetError: listing every problem of the text at ``file:line:col``. KpiError: if the file cannot be read.
    """
    p = Path(path)
    return parse_notice(_read_text(p, MAX_YAML_FILE_BYTES), str(p), year)


def calendar_yaml(spec: CalendarSpec, notice: Notice | None = None, source: str | None = None) -> str:
    """A company calendar file for ``spec`` (what ``read_calendar`` reads back to the same calendar).

    With the ``notice`` it came from, a comment per holiday says what the notice stated, so a reader
    can check the file against the published text line by line.
    """
    lines = []
    if notice is not None:
        lines.append(f"# The State Council's holiday notice for {notice.year}, imported by kpi calendar import")
        if source:
            lines.append(f"# from {source}")
        for h in notice.holidays:
            first, last, n = h.days_off[0].isoformat(), h.days_off[-1].isoformat(), len(h.days_off)
            off = f"{first} off (1 day)" if n == 1 else f"{first} … {last} off ({n} days)"
            on = ", ".join(d.isoformat() for d in h.days_on)
            lines.append(f"#   {h.number}、{h.name}: {off}" + (f"; worked: {on}" if on else ""))
        lines.extend(f"#   note (not a day off): {text}" for _where, text in notice.notes)
    lines.append(f"country: {spec.country}")
    lines.append(f"years: [{', '.join(str(y) for y in spec.years)}]")
    for key, days in (("days_off", spec.days_off), ("days_on", spec.days_on)):
        lines.append(f"{key}:" + ("" if days else " []"))
        lines.extend(f"  - {d.isoformat()}" for d in days)
    lines.append("names:" + ("" if spec.names else " {}"))
    lines.extend(f"  {d.isoformat()}: {_quoted(name)}" for d, name in spec.names.items())
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar (names may hold ':' or a quote)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
