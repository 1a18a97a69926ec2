"""Input data: rep-period records, membership rows and events, checked at the door.

A ``Table`` is rows with their origin (file and row number). ``prepare_*`` turn tables into
typed, exact values for one scorecard, collecting every bad row — missing required field,
wrong type, negative count, NaN, out-of-bounds value, unknown column, duplicate subject-period —
into one ``DataError``. Nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from kpi_engine._numbers import (
    MAX_DIGITS,
    MAX_EXPONENT,
    NumberFormatError,
    canonical,
    float_text,
    own_context,
    to_decimal,
)
from kpi_engine._perf import per_card
from kpi_engine.errors import DataError, Issue, Location, did_you_mean
from kpi_engine.evaluation.headers import guess, mapping_hint
from kpi_engine.expr import Value
from kpi_engine.language.checks import BUILTIN_EVENT_FIELDS
from kpi_engine.language.model import Scorecard
from kpi_engine.language.spec import InputType
from kpi_engine.time.periods import Period
from kpi_engine.time.zones import local_date, parse_instant, zone

RECORD_KEYS = ("subject", "period")
RECORD_META = frozenset({"name", "note"})
MEMBER_KEYS = ("member", "parent", "period")
MAX_HIERARCHY_DEPTH = 16  # membership levels above a rep; the language has four (rep → company)
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


@attrs.frozen
class Table:
    """Rows of input data with where each came from (row numbers are file lines for CSV and JSONL).

    A CSV table keeps its ``header`` and compact ``cells`` (stripped text, ``None`` when empty);
    ``rows`` builds mappings from them on demand. Other tables hold ``dict_rows``.
    """

    name: str
    dict_rows: tuple[tuple[int, Mapping[str, Any]], ...] = ()
    columns: dict[str, int] = attrs.field(factory=dict)  # column name → 1-based position (CSV)
    header: tuple[str, ...] = ()
    cells: tuple[tuple[int, tuple[str | None, ...]], ...] = ()  # CSV rows, each padded with a final None
    header_line: int = 1  # the row of the header (below a sheet's title rows)
    notes: tuple[Issue, ...] = attrs.field(default=(), eq=False)  # the reader's warnings (which row was the header)

    @property
    def rows(self) -> tuple[tuple[int, Mapping[str, Any]], ...]:
        """Every row as (row number, mapping of column to value); built on demand for CSV tables."""
        if not self.header:
            return self.dict_rows
        header = self.header
        return tuple((line, dict(zip(header, values, strict=False))) for line, values in self.cells)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any] | object], name: str = "records") -> Table:
        """Wrap Python rows; row numbers start at 1.

        A row is a mapping, a dataclass (slots too), an attrs instance, a named tuple, a pydantic
        model or an object with attributes. A float is read by its shortest repr (``float_text``).

        Raises:
            DataError: naming each row that is none of these, and each float that is not a short decimal.
        """
        issues: list[Issue] = []
        out = tuple((i, _as_mapping(row, name, i, issues)) for i, row in enumerate(rows, start=1))
        if issues:
            raise DataError.from_issues(issues, name)
        return cls(name, out)

    def renamed(self, mapping: Mapping[str, str]) -> Table:
        """The same rows with columns renamed by ``mapping`` (source name → name); locations unchanged."""
        if not mapping:
            return self
        names = self.header or (tuple(self.dict_rows[0][1]) if self.dict_rows else ())
        clashes = [(source, mapping[source]) for source in names if source in mapping and mapping[source] in names]
        if clashes:
            issues = [
                Issue(
                    "duplicate_column",
                    f"columns '{source}' and '{target}' both give '{target}' (columns: maps '{source}' to it)",
                    source,
                    self.where(1, source),
                )
                for source, target in clashes
            ]
            raise DataError.from_issues(issues, self.name)
        if self.header:
            header = tuple(mapping.get(c, c) for c in self.header)
            columns = {mapping.get(c, c): i for c, i in self.columns.items()}
            return attrs.evolve(self, header=header, columns=columns)
        rows = tuple((row, {mapping.get(k, k): v for k, v in raw.items()}) for row, raw in self.dict_rows)
        return attrs.evolve(self, dict_rows=rows)

    def where(self, row: int, column: str | None = None) -> Location:
        """Location of a row (and column): ``file:row:col`` for CSV, ``name:row`` otherwise."""
        return Location(self.name, row, self.columns.get(column, 0) if column else 0)


def _fields(row: object) -> Mapping[str, Any] | None:
    if isinstance(row, Mapping):
        return row
    if attrs.has(type(row)):
        return attrs.asdict(row, recurse=False)  # type: ignore[arg-type]
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}  # slots dataclasses have no __dict__
    as_dict = getattr(row, "_asdict", None)
    if isinstance(row, tuple) and callable(as_dict):  # a named tuple
        result = as_dict()
        return result if isinstance(result, dict) else None
    dump = getattr(row, "model_dump", None)
    if callable(dump):
        result = dump()
        if isinstance(result, dict):
            return result
    if hasattr(row, "__dict__"):
        return dict(vars(row))
    return None


def _as_mapping(row: object, name: str, line: int, issues: list[Issue]) -> Mapping[str, Any]:
    fields = row if type(row) is dict else _fields(row)  # a plain dict, the usual row, needs no lookup
    if fields is None:
        message = (
            "a record must be a mapping, a dataclass, an attrs instance, a named tuple or an object with fields, "
            f"not {type(row).__name__}"
        )
        issues.append(Issue("bad_row", message, "", Location(name, line)))
        return {}
    if float not in set(map(type, fields.values())):
        return fields
    out = dict(fields)
    for key, value in fields.items():
        if type(value) is float:
            try:
                out[key] = float_text(value)
            except NumberFormatError as exc:
                issues.append(Issue("bad_value", f"'{key}': {exc}", str(key), Location(name, line)))
    return out


def as_table(data: Table | Iterable[Mapping[str, Any] | object] | None, name: str) -> Table:
    """Accept a ``Table``, a data frame / Arrow table / DuckDB relation, or Python rows."""
    if data is None:
        return Table(name, ())
    if isinstance(data, Table):
        return data
    from kpi_engine.evaluation.frames import frame_table, is_frame  # noqa: PLC0415 - frames imports this module

    if is_frame(data):
        return frame_table(data, name)
    if isinstance(data, str | bytes) or hasattr(data, "__fspath__"):
        msg = f"{name}: {str(data)[:80]!r} is a file name, not rows; read it with read_table(path) first"
        raise DataError(msg)
    return Table.from_rows(data, name)


def as_tables(data: Table | Iterable[Table] | Iterable[Mapping[str, Any] | object] | None, name: str) -> list[Table]:
    """Accept one table (a ``Table`` or a frame), several tables, or Python rows."""
    from kpi_engine.evaluation.frames import frame_table, is_frame  # noqa: PLC0415 - frames imports this module

    if isinstance(data, Table | str | bytes) or data is None or is_frame(data) or hasattr(data, "__fspath__"):
        return [as_table(data, name)]
    items = list(data)
    if items and all(isinstance(t, Table) or is_frame(t) for t in items):
        return [t if isinstance(t, Table) else frame_table(t, name) for t in items]
    return [as_table(items, name)]


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def coerce(value: object, kind: InputType) -> Value:
    """Convert one raw cell to the exact value of its input type.

    Raises:
        ValueError: naming why the cell is not a value of that type.
    """
    if kind == "text":
        return value if isinstance(value, str) else str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        msg = f"{value!r} is not true or false"
        raise ValueError(msg)
    if kind == "date":
        return _date_text(value)
    if isinstance(value, Fraction) and kind in _NUMERIC_TYPES:  # an exact mean rolled up over time (13/3)
        if kind == "count" and value.denominator != 1:
            msg = f"a count must be a whole number, not {canonical(value)}"
            raise ValueError(msg)
        return value
    if kind not in {"ratio", "score"} and isinstance(value, str) and "%" in value:
        bare = value.strip().rstrip("%").strip()
        msg = f"{value!r} has a percent sign, but only ratio and score inputs take percents; a {kind} is written {bare}"
        raise ValueError(msg)
    if kind == "score" and isinstance(value, str) and value.rstrip().endswith("%"):
        value = value.rstrip()[:-1]  # a 0–100 score shown as a percent (Excel's 0% format): 92% is 92 points
    try:
        number = to_decimal(value, allow_percent=kind == "ratio", grouped=True)
    except NumberFormatError as exc:
        raise ValueError(str(exc)) from None
    if kind == "count":
        if number != number.to_integral_value():
            msg = f"a count must be a whole number, not {canonical(number)}"
            raise ValueError(msg)
        if number < 0:
            msg = f"a count cannot be negative ({canonical(number)})"
            raise ValueError(msg)
    return number


RowsLike = Table | Iterable[Mapping[str, Any] | object]  # what ``evaluate`` takes as member or event rows
RecordsLike = Table | Iterable[Table] | Iterable[Mapping[str, Any] | object]  # ... and as records


_MIDNIGHT = ("T00:00:00", " 00:00:00", "T00:00", " 00:00")


def _date_text(value: object) -> str:
    """A date cell as ISO text; a date-time at midnight (a spreadsheet's date cell read by a frame) is its date."""
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0):
            msg = f"{value.isoformat()!r} is a date and time, not a date"
            raise ValueError(msg)
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    for tail in _MIDNIGHT:
        if text.endswith(tail) or (tail in text and not text.split(tail, 1)[1].strip("0.")):
            text = text.split(tail, 1)[0]
            break
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        msg = f"{value!r} is not an ISO date (YYYY-MM-DD)"
        raise ValueError(msg) from None


@attrs.frozen
class Record:
    """One subject's validated values for one period, with the table row they came from."""

    subject: str
    period: Period
    values: dict[str, Value]
    line: int  # the row number in ``table``
    table: Table = attrs.field(eq=False, repr=False)

    @property
    def origin(self) -> Location:
        """Where the record came from: ``file:row`` (built when an error or a trace names it)."""
        return self.table.where(self.line)


@attrs.frozen
class Event:
    event_id: str
    rep: str
    at: dt.datetime
    period: Period
    fields: dict[str, Value]
    origin: Location


@attrs.frozen
class Inputs:
    """Everything an evaluation reads, validated: records, membership and events."""

    records: dict[tuple[str, Period], Record]
    parent: dict[tuple[str, Period], str]
    children: dict[tuple[str, Period], tuple[str, ...]]
    events: dict[tuple[str, Period], tuple[Event, ...]]
    # (subject, period, input) → the source of a value filled from events (``evaluation.sources``)
    sourced: dict[tuple[str, Period, str], str] = attrs.field(factory=dict)


_IGNORE_COLUMNS = "ignore columns the ruleset does not use with --allow-extra-columns (API: allow_extra_columns=True)"


def _check_columns(
    table: Table,
    row: int,
    keys: Iterable[str],
    known: set[str],
    issues: list[Issue],
    card: Scorecard | None = None,
    labels: tuple[str, ...] = ("subject", "name", "period", "note"),
) -> None:
    for key in keys:
        if key in known:
            continue
        meant = guess(key, card, labels) if card is not None else None
        hint = mapping_hint([(key, meant)]) if meant is not None else did_you_mean(key, known)
        hint = hint or _IGNORE_COLUMNS  # a 序号 (row number) or 部门 column of an HR sheet
        message = f"column '{key}' is not an input of this ruleset"
        issues.append(Issue("unknown_column", message, key, table.where(row, key), suggestion=hint))


_PERIODS: dict[tuple[str, str], Period] = {}  # (text, kind) → period: a run reads the same few texts
_PERIODS_KEPT = 4096


def _period(text: object, card: Scorecard, table: Table, row: int, col: str, issues: list[Issue]) -> Period | None:
    if type(text) is str:
        known = _PERIODS.get((text, card.period))
        if known is not None:
            return known
    if _blank(text):
        issues.append(Issue("missing_field", f"'{col}' is required", col, table.where(row, col)))
        return None
    try:
        period = Period.parse(str(text), card.period)
    except ValueError as exc:
        issues.append(Issue("bad_period", str(exc), col, table.where(row, col)))
        return None
    if type(text) is str:
        if len(_PERIODS) >= _PERIODS_KEPT:
            _PERIODS.clear()
        _PERIODS[text, card.period] = period
    return period


def prepare_records(card: Scorecard, tables: Iterable[Table]) -> dict[tuple[str, Period], Record]:
    """Validate subject-period records (from one or more tables) against the scorecard's inputs.

    Types, bounds, unknown columns and duplicates are checked here; whether a *required* input
    has a value is checked for the subjects being appraised (a team's fields may sit on the
    team's own row while its reps' rows leave them empty).

    Raises:
        DataError: listing every bad row and cell.
    """
    issues: list[Issue] = []
    out: dict[tuple[str, Period], Record] = {}
    for table in tables:
        _prepare_table(card, table, out, issues)
    if issues:
        raise DataError.from_issues(issues, "records")
    return out


_NUMERIC_TYPES = frozenset({"count", "money", "ratio", "score", "number"})
_SMALL_INT = 10**30  # ints that ``to_decimal`` takes as they are (it refuses beyond 1e100)


def plain_decimal(cell: str) -> Decimal | None:
    """``parse_decimal(cell)`` when that is ``Decimal(cell)``, else ``None`` (the general parser decides).

    Call it in the library's context (``exact()``): a bad cell signals ``InvalidOperation`` there.

    ``Decimal`` reads text as ``parse_decimal`` does (surrounding spaces, underscores, Unicode
    digits, exponents) but also reads what it refuses: ``NaN``, infinities, more than
    ``MAX_DIGITS`` characters, magnitudes beyond 1e±100. A cell of at most ``MAX_DIGITS``
    characters whose ``Decimal`` is finite and within range is what ``parse_decimal`` returns;
    anything else (a percent, a bad cell) goes to ``coerce`` for its value or its issue.
    """
    if len(cell) > MAX_DIGITS:
        return None
    try:
        value = Decimal(cell)
    except ArithmeticError:  # InvalidOperation in a context that traps it
        return None
    if value.is_finite() and -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        return value
    return None  # NaN in a context that does not trap, or out of range


def _input_checks(card: Scorecard) -> tuple[tuple[str, InputType, Decimal | None, Decimal | None, bool, bool], ...]:
    """Per input: name, type, min, max, numeric, and whether a plain cell above 1 is a suspect ratio."""
    return per_card(
        card,
        "input_checks",
        lambda: tuple(
            (
                name,
                spec.type,
                spec.min,
                spec.max,
                spec.type in _NUMERIC_TYPES,
                spec.type == "ratio" and spec.max is None,
            )
            for name, spec in card.inputs.items()
        ),
    )


def _prepare_table(card: Scorecard, table: Table, out: dict[tuple[str, Period], Record], issues: list[Issue]) -> None:
    table = table.renamed(card.columns)
    known = set(card.inputs) | set(RECORD_KEYS) | RECORD_META
    reported_columns = card.allow_extra_columns
    checks = _input_checks(card)
    # ``Decimal(cell)`` of a bad cell signals InvalidOperation: only in the library's own context.
    plain = own_context() is not None
    for row, raw in table.rows:
        if not reported_columns:
            if not known.issuperset(raw):
                _check_columns(table, row, raw, known, issues, card)
            reported_columns = bool(table.columns)  # a CSV header is checked once
        subject = raw.get("subject")
        if _blank(subject):
            issues.append(Issue("missing_field", "'subject' is required", "subject", table.where(row, "subject")))
        period = _period(raw.get("period"), card, table, row, "period", issues)
        values: dict[str, Value] = {}
        get = raw.get
        for name, kind, low, high, numeric, suspect in checks:
            cell = get(name)
            number: Decimal | None = None
            if numeric and plain:  # plain text numbers, Decimals and small ints first: the value ``coerce`` gives
                if type(cell) is str:
                    if len(cell) <= MAX_DIGITS:  # ``plain_decimal``, inline
                        try:
                            number = Decimal(cell)
                        except ArithmeticError:
                            number = None
                        else:
                            if not number.is_finite() or not -MAX_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
                                number = None
                elif type(cell) is Decimal:  # a typed exact cell: no text to read, still validated
                    if cell.is_finite() and (-MAX_EXPONENT <= cell.adjusted() <= MAX_EXPONENT or not cell):
                        number = cell  # what ``to_decimal`` returns; anything else goes to ``coerce``
                elif type(cell) is int and -_SMALL_INT < cell < _SMALL_INT:
                    number = Decimal(cell)
                if number is not None:
                    if kind == "count" and (number < 0 or number != number.to_integral_value()):
                        number = None  # ``coerce`` names the problem
                    elif (
                        (low is None or number >= low)
                        and (high is None or number <= high)
                        and not (suspect and number > 1)
                    ):
                        values[name] = number  # nothing to report: the checks below would pass
                        continue
            value: Value = number
            if value is None:
                if _blank(cell):
                    values[name] = None  # required inputs are checked for the appraised subjects
                    continue
                try:
                    value = coerce(cell, kind)
                except ValueError as exc:
                    issues.append(Issue("bad_value", f"'{name}': {exc}", name, table.where(row, name)))
                    continue
            if isinstance(value, Decimal | Fraction):
                if suspect and value > 1 and "%" not in str(cell):
                    issues.append(
                        Issue(
                            "suspect_ratio",
                            f"'{name}' is a ratio but the cell is {str(cell).strip()} (that is "
                            f"{canonical(value * 100)}%); write percents with a % sign, or declare the input's max",
                            name,
                            table.where(row, name),
                            suggestion=f"did you mean {str(cell).strip()}%?",
                        )
                    )
                    continue
                if low is not None and value < low:
                    issues.append(
                        Issue(
                            "out_of_bounds",
                            f"'{name}' is {canonical(value)}, below its minimum {canonical(low)}",
                            name,
                            table.where(row, name),
                        )
                    )
                if high is not None and value > high:
                    issues.append(
                        Issue(
                            "out_of_bounds",
                            f"'{name}' is {canonical(value)}, above its maximum {canonical(high)}",
                            name,
                            table.where(row, name),
                        )
                    )
            values[name] = value
        if _blank(subject) or period is None:
            continue
        key = (str(subject).strip(), period)
        if key in out:
            first = out[key].origin
            issues.append(
                Issue(
                    "duplicate_row",
                    f"subject '{key[0]}' has a second record for period {period} (first at {first})",
                    "subject",
                    table.where(row, "subject"),
                )
            )
            continue
        out[key] = Record(key[0], period, values, row, table)


def prepare_members(
    card: Scorecard, table: Table, known: set[str] | None = None
) -> tuple[dict[tuple[str, Period], str], dict[tuple[str, Period], tuple[str, ...]]]:
    """Validate membership rows (``member, parent, period``): one parent per member and period.

    The hierarchy must be a forest: a cycle is an error naming its members, and a chain deeper
    than ``MAX_HIERARCHY_DEPTH`` levels is an error (both found with a loop, not recursion). With
    ``known`` (the subjects that have a record in any period), a member that has no record in any
    period and no members of its own is an ``unknown_member`` error (most likely a misspelt id);
    a parent needs no record: its members define it.

    Raises:
        DataError: listing every bad row.
    """
    issues: list[Issue] = []
    parent: dict[tuple[str, Period], str] = {}
    origin: dict[tuple[str, Period], Location] = {}
    table = table.renamed(card.columns)
    for row, raw in table.rows:
        if not card.allow_extra_columns:
            _check_columns(table, row, raw, set(MEMBER_KEYS), issues, card, MEMBER_KEYS)
        member, up = raw.get("member"), raw.get("parent")
        for col, cell in (("member", member), ("parent", up)):
            if _blank(cell):
                issues.append(Issue("missing_field", f"'{col}' is required", col, table.where(row, col)))
        period = _period(raw.get("period"), card, table, row, "period", issues)
        if _blank(member) or _blank(up) or period is None:
            continue
        key = (str(member).strip(), period)
        if key in parent:
            issues.append(
                Issue(
                    "duplicate_row",
                    f"'{key[0]}' already belongs to '{parent[key]}' in {period} (at {origin[key]}); "
                    "a member belongs to one parent per period",
                    "member",
                    table.where(row, "member"),
                )
            )
            continue
        if str(up).strip() == key[0]:
            issues.append(
                Issue("bad_member", f"'{key[0]}' cannot be its own parent", "parent", table.where(row, "parent"))
            )
            continue
        parent[key] = str(up).strip()
        origin[key] = table.where(row)
    issues.extend(_hierarchy_issues(parent, origin))
    if known is not None:
        parents = set(parent.values())
        for (member, _), where in origin.items():
            if member not in known and member not in parents:
                hint = did_you_mean(member, known)
                message = f"member '{member}' has no record in any period and no members of its own"
                issues.append(Issue("unknown_member", message, "member", _at(where, table, "member"), suggestion=hint))
    if issues:
        raise DataError.from_issues(issues, table.name)
    children: dict[tuple[str, Period], list[str]] = {}
    for (member, period), up in sorted(parent.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        children.setdefault((up, period), []).append(member)
    return parent, {k: tuple(v) for k, v in children.items()}


def _at(where: Location, table: Table, column: str) -> Location:
    return table.where(where.line, column)


def _hierarchy_issues(parent: dict[tuple[str, Period], str], origin: dict[tuple[str, Period], Location]) -> list[Issue]:
    """Cycles and over-deep chains of membership rows, found by walking up with a loop."""
    issues: list[Issue] = []
    depth: dict[tuple[str, Period], int] = {}  # levels above; -1 once judged bad (reported once)
    for start in sorted(parent, key=lambda k: (k[1], k[0])):
        path: list[tuple[str, Period]] = []
        on_path: dict[tuple[str, Period], int] = {}
        node = start
        while node in parent and node not in depth:
            if node in on_path:
                cycle = [n for n, _ in path[on_path[node] :]]
                shown = " → ".join([*cycle, cycle[0]])
                first = min(path[on_path[node] :], key=lambda k: (origin[k].line, k[0]))
                message = f"membership rows form a cycle in {node[1]}: {shown}"
                issues.append(Issue("member_cycle", message, "parent", origin[first]))
                break
            on_path[node] = len(path)
            path.append(node)
            node = (parent[node], node[1])
        else:
            base = depth.get(node, 0)
            if base >= 0:
                for i, n in enumerate(reversed(path), start=1):
                    depth[n] = base + i
                if depth[start] > MAX_HIERARCHY_DEPTH:
                    top = node[0]
                    message = (
                        f"'{start[0]}' is {depth[start]} membership levels below '{top}' in {start[1]}; "
                        f"at most {MAX_HIERARCHY_DEPTH} are allowed"
                    )
                    issues.append(Issue("member_depth", message, "parent", origin[start]))
                    for n in path:
                        depth[n] = -1
                continue
        for n in path:
            depth[n] = -1
    return issues


def prepare_event_tables(card: Scorecard, tables: list[Table]) -> dict[tuple[str, Period], tuple[Event, ...]]:
    """Validate several event tables as one log (a CRM export and the alert log ``kpi alerts`` wrote).

    Each table keeps its own columns and locations; an ``event_id`` given in two tables is an error.

    Raises:
        DataError: listing every bad row of every table.
    """
    if len(tables) == 1:
        return prepare_events(card, tables[0])
    issues: list[Issue] = []
    grouped: dict[tuple[str, Period], list[Event]] = {}
    first: dict[str, Location] = {}
    for table in tables:
        try:
            found = prepare_events(card, table)
        except DataError as exc:
            issues.extend(exc.issues)
            continue
        for key, events in found.items():
            for e in events:
                if e.event_id in first:
                    message = f"event_id '{e.event_id}' repeats (first at {first[e.event_id]})"
                    issues.append(Issue("duplicate_row", message, "event_id", e.origin))
                    continue
                first[e.event_id] = e.origin
                grouped.setdefault(key, []).append(e)
    if issues:
        raise DataError.from_issues(issues, "events")
    return {k: tuple(sorted(v, key=lambda e: (e.at, e.event_id))) for k, v in grouped.items()}


def prepare_events(card: Scorecard, table: Table) -> dict[tuple[str, Period], tuple[Event, ...]]:
    """Validate events (``event_id, type, at, rep`` plus declared event fields), keyed by rep and period.

    Raises:
        DataError: listing every bad row.
    """
    issues: list[Issue] = []
    tz = zone(card.timezone)
    types: dict[str, InputType] = {**BUILTIN_EVENT_FIELDS, **card.event_fields}
    known = set(types) | {"at"}
    seen: dict[str, Location] = {}
    grouped: dict[tuple[str, Period], list[Event]] = {}
    table = table.renamed(card.columns)
    for row, raw in table.rows:
        if not card.allow_extra_columns:
            _check_columns(table, row, raw, known, issues)
        bad = False
        for col in ("event_id", "type", "at", "rep"):
            if _blank(raw.get(col)):
                issues.append(Issue("missing_field", f"'{col}' is required", col, table.where(row, col)))
                bad = True
        if bad:
            continue
        try:
            at = parse_instant(str(raw["at"]), tz)
        except ValueError as exc:
            issues.append(Issue("bad_value", str(exc), "at", table.where(row, "at")))
            continue
        fields: dict[str, Value] = {}
        for name, kind in types.items():
            cell = raw.get(name)
            if _blank(cell):
                fields[name] = None
                continue
            try:
                fields[name] = coerce(cell, kind)
            except ValueError as exc:
                issues.append(Issue("bad_value", f"'{name}': {exc}", name, table.where(row, name)))
                bad = True
        event_id = str(raw["event_id"]).strip()
        if event_id in seen:
            issues.append(
                Issue(
                    "duplicate_row",
                    f"event_id '{event_id}' repeats (first at {seen[event_id]})",
                    "event_id",
                    table.where(row, "event_id"),
                )
            )
            continue
        seen[event_id] = table.where(row)
        if bad:
            continue
        rep = str(raw["rep"]).strip()
        period = Period.containing(local_date(at, tz), card.period)
        event = Event(event_id, rep, at, period, fields, table.where(row))
        grouped.setdefault((rep, period), []).append(event)
    if issues:
        raise DataError.from_issues(issues, table.name)
    return {k: tuple(sorted(v, key=lambda e: (e.at, e.event_id))) for k, v in grouped.items()}
