"""Ruleset and data issues in the reader's language, through the message catalogue.

The checks build their messages in English (the source language, golden-tested). Each message
shape is listed here as a template per issue code; the catalogue translates the template (gettext
context ``issue:<code>``) and the values read back from the English message fill the translated
one. A message whose shape is not listed stays in English: nothing is lost, only untranslated.
"""

from __future__ import annotations

import re
from functools import cache

import attrs

from kpi_engine.errors import Issue
from kpi_engine.report._i18n import Messages

# code → English templates, exactly as the checks write them ({placeholders} match any text).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "unknown_key": ("unknown key '{key}'",),
    "missing_key": ("missing required key '{key}'",),
    "unknown_name": ("'{name}' is not defined",),
    "unknown_metric": ("'{name}' is not a defined metric",),
    "unknown_section": ("'{name}' is not a defined section",),
    "unknown_kpi": ("'{name}' is not a defined kpi",),
    "unknown_grade": ("'{name}' is not a defined grade",),
    "unknown_event_field": ("'{name}' is not a defined event_field",),
    "circular_metric": ("circular metric definition: {cycle}",),
    "bad_expression": (
        "expression does not parse: {detail}",
        "attribute access is not allowed; only min, max, abs, round may be called",
        "'%' is only allowed right after a number, as in 90%",
    ),
    "percent_slip": ("'{metric}' is a ratio but the target is {target}",),
    "contradiction": (
        "higher-is-better KPI has floor {floor} at or above its target {target}",
        (
            "lower-is-better KPI has floor {floor} at or below its target {target}; "
            "the floor is the worst acceptable value, so it must be above the target"
        ),
        "range floor [lo, hi] must lie outside the target range",
    ),
    "weights_sum": (
        'weights in section "{section}" add up to {total}, not 100%',
        "weights of the KPIs add up to {total}, not 100%",
        "section weights add up to {total}, not 100%",
    ),
    "band_gap": ("no band covers [{low}, {high}) between '{a}' and '{b}'",),
    "band_overlap": (
        "bands '{a}' and '{b}' overlap on [{low}, {high})",
        "bands '{a}' and '{b}' overlap (an open bound)",
    ),
    "empty_band": ("band '{band}' is empty: min {low} ≥ max {high}",),
    "duplicate_id": (
        "KPI id '{id}' is already used by {where}",
        "id '{id}' is already used by {where}",
        "band id '{id}' is used twice",
        "grade '{id}' appears twice",
    ),
    "duplicate_name": ("'{name}' is both an input and a metric", "'{name}' is a built-in event field"),
    "missing_target": ("method {method} needs a target",),
    "missing_floor": ("method linear needs a floor (the worst acceptable value, scored 0)",),
    "missing_section": ("this scorecard has sections: name the KPI's section",),
    "missing_bands": ("method bands needs a bands table",),
    "missing_score": ("method expression needs a score expression",),
    "bad_weight": ("weight must be above 0",),
    "bad_cap": ("cap must be above 0",),
    "bad_score": ("band score must lie in [0, cap {cap}]", "score must lie in [0, cap {cap}]"),
    "bad_target": ("attainment needs a target above 0", "range target [lo, hi] has lo above hi"),
    "bad_method": ("attainment needs direction higher or lower",),
    "bad_kpi": ("KPI metric '{metric}' is not a number",),
    "bad_gate": ("cap_total must be 0 or more", "a zero_section gate cannot read total: the total depends on it"),
    "bad_grades": (
        "only the last grade may omit min (it catches every lower total)",
        "grades must be listed from the highest min down",
    ),
    "grade_gap": ("totals below {min} get no grade; end with a band without min",),
    "bad_dates": ("effective until {until} is before from {start}",),
    "bad_document": ("the document must be a mapping of keys to values",),
    "bad_aggregate": ("count takes no field (it counts events)", "{fn} needs a number field", "{fn} needs a field"),
    "bad_metric": ("a members metric needs a team or higher subject",),
    "unused_bands": ("bands are only read by method bands, not {method}",),
    # data: records, membership rows, events
    "unknown_column": ("column '{column}' is not an input of this ruleset",),
    "missing_field": ("'{field}' is required",),
    "out_of_bounds": (
        "'{field}' is {value}, below its minimum {bound}",
        "'{field}' is {value}, above its maximum {bound}",
    ),
    "duplicate_row": (
        "subject '{subject}' has a second record for period {period} (first at {first})",
        "event_id '{id}' repeats (first at {first})",
    ),
    "bad_member": ("'{member}' cannot be its own parent",),
    "bad_header": ("column {index} has no name",),
    "duplicate_column": ("column '{column}' appears twice",),
    "bad_csv": ("row has {cells} cells but the header has {header}",),
    "bad_json": ("each row must be a JSON object", "expected an array of objects", "not valid JSON: {detail}"),
    "conflict": (
        (
            "'{name}' is typed in the record ({value}) and also recorded as events ({source}) for '{subject}' in "
            "{period}; keep one of the two"
        ),
    ),
    "incomplete_period": ("'{subject}' has no record for {missing}: its {period} is rolled up from the records given",),
    # the State Council's holiday notice (kpi calendar import) and the calendar's covered end
    "notice_weekday": (
        "{date} is a 周{actual} ({weekday}), but the notice says {said}",
        "{date} ({weekday}) is worked anyway; the notice lists it as an adjusted working day",
    ),
    "notice_count": ("{first} to {last} is {n} day(s), but the notice says {said}",),
    "notice_date": (
        "{text} is not a date",
        "'{text}' has no month",
        "the holiday ends ({last}) before it starts ({first})",
    ),
    "notice_year": (
        "the notice schedules {stated}, not {given}",
        "the text does not say which year it schedules (no '…YYYY年部分节假日安排…' title)",
    ),
    "calendar_horizon": (
        (
            "the {code} calendar covers days up to {end}; this run used {day}, {n} day(s) before that end. "
            "From {year} on, working days and due dates cannot be computed until the State Council's {notice} "
            "notice is imported"
        ),
    ),
    "bad_value": ("'{field}': {detail}",),
    # data as HR handles it (issue 19): rows that are not subjects, headers, scores read as fractions
    "totals_row": (
        "'{label}' is a totals row, not a subject",
        "'{label}' is a totals row, not a subject; left out",
        "'{label}' looks like a totals row: its {columns} are the sums of the other {n} rows of {period}",
        "'{label}' looks like a totals row: its {columns} are the sums of the other {n} rows of {period}; left out",
        "this row looks like a totals row: its {columns} are the sums of the other {n} rows of {period}",
        "this row looks like a totals row: its {columns} are the sums of the other {n} rows of {period}; left out",
    ),
    "unlisted_subject": (
        "'{subject}' is not on the roster (members)",
        "'{subject}' is not on the roster (members); left out",
        "'{subject}' is not on the roster (members) (a totals row?)",
        "'{subject}' is not on the roster (members) (a totals row?); left out",
    ),
    "header_row": (
        "took row {line} as the header: the {n} row(s) above it look like a title ('{title}')",
        "took row {line} as the header: the {n} row(s) above it look like a title",
    ),
    "missing_column": ("no '{key}' column (the header is: {header})",),
    "suspect_score": (
        (
            "'{name}' is a 0–100 score, but every value lies between 0 and 1 ({value} at row {line}): "
            "percent-formatted cells read by a frame (pandas.read_excel) arrive as fractions"
        ),
        "'{name}' is a 0–100 score, but {value} (row(s) {rows}) lies between 0 and 1 while other values go above 1",
    ),
    "note_row": ("row {line} holds no period and no input below the last record: a note ('{note}'); left out",),
    "formula_without_value": ("the cell holds {formula} whose value was never saved in the workbook",),
    "bad_period": (
        "{text} is not a {kind} period (like {example})",
        "{text} is not a valid {kind} period: {detail}",
        "period {text}: year {year} is out of range ({low}–{high})",
    ),
}
# The detail of a bad value or period ({detail} above), translated in turn (context "detail").
DETAILS: tuple[str, ...] = (
    "{value} is not a number",
    "a count must be a whole number, not {value}",
    "a count cannot be negative ({value})",
    "{value} is not an ISO date (YYYY-MM-DD)",
    "{value} has a percent sign, but only ratio and score inputs take percents; a {kind} is written {bare}",
    (
        "{value} is not a number: a comma only separates thousands (1,200); "
        "if it is a decimal comma, write a decimal point ({point})"
    ),
    "{value} is not a number: a thousands separator is followed by three digits (1,200 or 1,234,567.89)",
    "{value} is not true or false",
    "{value} is out of range",
    "{value} is not a finite number",
    "month must be in 1..12",
    "day is out of range for month",
)
# Whole messages of errors that carry no located issue (``KpiError(message)``), context "message".
MESSAGES: tuple[str, ...] = (
    "{path}: no such file",
    "{path}: is a directory, not a file",
    "{path}: file is larger than {cap} bytes",
    "ruleset {name} is effective from {start}; period {period} is outside",
    "no {level} has data for period {period}",
    (
        "the records hold {count} periods ({shown}) and the ruleset reads no history; "
        "choose the period to appraise (--period, or evaluate(..., period=...))"
    ),
    "{path}: no sheet named {sheet} (sheets: {shown}); name one with --sheet",
    "no records to evaluate",
    "the columnar engine cannot run this input ({reason}); use engine='row' (--engine row)",
)
# The period kinds and levels that fill the messages above, translated under "period kind" and "level".
PERIOD_KINDS = ("day", "week", "month", "quarter", "half", "year")
SUGGESTIONS = (
    "kpi calendar import NOTICE --out {file}, then --calendar {again}",
    "give the year (kpi calendar import NOTICE --year {year})",
    "did you mean '{name}'?",
    "did you mean {value}%?",
    "write weights as percents (40%), or set normalize: true",
    "leave such rows out with --skip-totals (API: totals='skip')",
    (
        "leave such rows out with --skip-totals (API: totals='skip'), "
        "or, if it is a real subject, give the roster with --members"
    ),
    "leave subjects not on the roster out with --exclude-unlisted (API: unlisted='exclude')",
    "did you mean '{name}'? or leave subjects not on the roster out with --exclude-unlisted (API: unlisted='exclude')",
    "choose another with --header-row N (API: read_table(..., header_row=N))",
    "map the headers in the ruleset: columns: {mapping}",
    "name the columns subject and period, or map them with columns:",
    (
        "write the score in points ({points}), or read the workbook with read_table or kpi evaluate, "
        "which read the percent format"
    ),
    "open the workbook in Excel or LibreOffice and save it, so that the value is stored",
    "ignore columns the ruleset does not use with --allow-extra-columns (API: allow_extra_columns=True)",
)


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(regex, re.DOTALL)


def _translate(text: str, context: str, templates: tuple[str, ...], msg: Messages) -> str:
    for template in templates:
        m = _pattern(template).fullmatch(text)
        if m and msg.has(context, template):
            values = m.groupdict()
            if "detail" in values:  # a nested message: its own templates
                values["detail"] = _translate(values["detail"], "detail", DETAILS, msg)
            if "kind" in values and values["kind"] in PERIOD_KINDS:
                values["kind"] = msg.pt("period kind", values["kind"])
            if "level" in values:
                values["level"] = msg.pt("level", values["level"])
            if "reason" in values:  # why the columnar engine would hand a run over
                values["reason"] = translate_reason(values["reason"], msg)
            return msg.pt(context, template, **values)
    return text


def translate_reason(reason: str, msg: Messages) -> str:
    """Why the columnar engine hands a run to the row engine, in ``msg``'s language (the column name kept)."""
    located = re.fullmatch(r"(.*) in columns? (.*) of the records", reason)
    if located is None:
        return msg.t(reason)
    return msg.t("{reason} in column {where} of the records", reason=msg.t(located[1]), where=located[2])


def translate_message(text: str, msg: Messages) -> str:
    """A plain error message (one without located issues) in ``msg``'s language, where its shape is known."""
    if msg.lang == "en":
        return text
    return _translate(text, "message", MESSAGES, msg)


def translate_issue(issue: Issue, msg: Messages) -> Issue:
    """The issue with its message and suggestion in ``msg``'s language (where the catalogue has them).

    Args:
        issue: an issue as the checks wrote it (English).
        msg: the catalogue of the reader's language.

    Returns:
        A copy with translated ``message`` and ``suggestion``; code, path and location unchanged.
    """
    if msg.lang == "en":
        return issue
    message = _translate(issue.message, f"issue:{issue.code}", TEMPLATES.get(issue.code, ()), msg)
    suggestion = issue.suggestion and _translate(issue.suggestion, "suggestion", SUGGESTIONS, msg)
    return attrs.evolve(issue, message=message, suggestion=suggestion)


def render_issue(issue: Issue, msg: Messages) -> str:
    """``FILE:LINE:COL: PATH: message; suggestion [code]`` in the reader's language."""
    translated = translate_issue(issue, msg)
    if translated.severity == "warning" and msg.lang != "en":
        # Issue.render writes the English "warning: " prefix itself; give it the translated one.
        body = attrs.evolve(translated, severity="error").render()
        head, sep, tail = body.rpartition(translated.message)
        return f"{head}{msg.t('warning: ')}{translated.message}{tail}" if sep else body
    return translated.render()
