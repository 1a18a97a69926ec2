"""Reading a company calendar file (YAML): a country plus the company's own days off and on.

The file holds the keys of ``CalendarSpec``::

    country: CN                  # the public calendar it builds on (default CN)
    days_off: [2026-12-31]       # company days off besides public holidays
    days_on: [2026-10-11]        # company working days on weekends or holidays
    years: []                    # years the company vouches for itself (not covered by the library)
"""

from __future__ import annotations

from pathlib import Path

from kpi_engine.errors import Issue, RulesetError
from kpi_engine.io.loading import MAX_YAML_FILE_BYTES, _read_text
from kpi_engine.language._validation import validate_model
from kpi_engine.language._yaml import load_yaml
from kpi_engine.time.calendar import BusinessCalendar, CalendarSpec


def parse_calendar(text: str, file: str = "<string>") -> BusinessCalendar:
    """Parse company calendar YAML text.

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
    return BusinessCalendar.from_spec(spec)


def read_calendar(path: str | Path) -> BusinessCalendar:
    """Read a company calendar file.

    Raises:
        RulesetError: for an invalid file, located. KpiError: if the file cannot be read.
    """
    p = Path(path)
    return parse_calendar(_read_text(p, MAX_YAML_FILE_BYTES), str(p))
