"""Periods that accumulate: finer records rolled up into the period a scorecard appraises.

A quarter, half or year scorecard accepts records of finer periods (days, ISO weeks, months,
quarters, halves) and rolls each subject's records up into the scorecard's period, input by
input, by the input's ``rollup`` over time:

- ``sum`` (the default for counts and money): the sum of the records that give a value;
- ``mean``, ``min``, ``max``: of the records that give a value (a mean is exact: 13/3 stays 13/3);
- ``last``: the value of the latest record that gives one (a head count, a survey at period end);
- ``none`` (the default for ratios, scores, dates, text, bool): no rollup over time; the value
  must be on a record of the scorecard's own period (a finer record giving it is an error).

Rates are formulas over rolled-up inputs, so a half-year rate is a ratio of the half's sums.
A record of the scorecard's period may sit beside finer records of the same subject (a half-year
survey next to monthly sales); a field given by both is an error, as are finer records that
overlap (a day inside a month also given) or cross the period's boundary (an ISO week spanning
two quarters). The trace names the records used: ``records.csv rows 2, 6, 10 (2026-01, 2026-02,
2026-03)``.

**Windows.** An appraisal may also be of a span that is not a period of the scorecard's kind:

- ``2026-YTD-06`` (year to date through June) on a year scorecard, ``2026-HTD-05`` (the half to
  date through May) on a half scorecard, ``2026-QTD-05`` (April–May) on a quarter scorecard;
- ``2026-06-R3``, ``2026-06-R6``, ``2026-06-R12``: the 3, 6 or 12 months ending June 2026 on a
  quarter, half or year scorecard.

Each span is carried by a period of the scorecard's kind (``2026`` for ``2026-YTD-06``; the
period containing the last month for a rolling window) and history steps back span by span:
the previous of ``2026-YTD-06`` is January–June 2025 (the same months a year earlier); the
previous of ``2026-05-R3`` (March–May) is December–February. Records outside every span are
not read; events of a to-date span are read up to its last day (the year as known at the end
of June); a rolling window reads events only when it coincides with periods of the scorecard
(``2026-06-R3`` is the second quarter).

Pure functions over tables: nothing here reads a file or a clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import attrs

from kpi_engine import _numbers as num
from kpi_engine._numbers import Number, is_number
from kpi_engine.errors import DataError, Issue, Location
from kpi_engine.evaluation.records import (
    Record,
    Table,
    as_table,
    as_tables,
    prepare_records,
)
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.expr import Value
from kpi_engine.language.model import Input, Scorecard
from kpi_engine.language.spec import PeriodKind
from kpi_engine.time.periods import (
    Period,
    add_months,
    period_kind_of,
    rolling_start,
    stretch_text,
    to_date_start,
    uncovered,
)
from kpi_engine.time.zones import MAX_YEAR, MIN_YEAR, local_date, parse_instant, zone

Rollup = Literal["sum", "mean", "min", "max", "last", "none"]
KINDS: tuple[PeriodKind, ...] = ("day", "week", "month", "quarter", "half", "year")
_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "half": 6, "year": 12}
_TO_DATE = re.compile(r"(\d{4})-(YTD|HTD|QTD)-(\d{2})")
_ROLLING = re.compile(r"(\d{4})-(\d{2})-R(\d{1,2})")
_TO_DATE_KIND: dict[str, PeriodKind] = {"YTD": "year", "HTD": "half", "QTD": "quarter"}
_ROLLING_KIND: dict[int, PeriodKind] = {3: "quarter", 6: "half", 12: "year"}
_SHOWN_SOURCES = 12  # a trace lists up to a year of months; more sources are summarised
_DAY = dt.timedelta(days=1)


def _month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


@attrs.frozen
class Span:
    """An appraised span that is not itself a period of the scorecard's kind.

    ``label`` is how it is written (``2026-YTD-06``), ``carrier`` the scorecard period that holds
    it, ``length`` its number of months and ``end`` the index (year × 12 + month − 1) of its last month.
    """

    label: str
    form: Literal["to_date", "rolling"]
    carrier: Period
    length: int
    end: int

    @property
    def first_day(self) -> dt.date:
        """The first day of the span (as ``over: year_to_date`` / ``rolling_year`` reckon theirs)."""
        if self.form == "to_date":
            return to_date_start(self.last_day, self.carrier.kind)
        return rolling_start(self.last_day + dt.timedelta(days=1), self.length)

    @property
    def last_day(self) -> dt.date:
        """The last day of the span."""
        return _month_start(self.end + 1) - dt.timedelta(days=1)

    @property
    def aligned(self) -> bool:
        """True when every span of this form coincides with a period of the scorecard's kind."""
        months = _MONTHS[self.carrier.kind]
        return self.length == months and (self.end + 1) % months == 0

    def target(self, day: dt.date) -> Period | None:
        """The carrier period of the span (this one or an earlier one) holding ``day``, or None."""
        kind = self.carrier.kind
        index = _month_index(day)
        if self.form == "to_date":  # the same months of the year (half, quarter) holding ``day``
            first = to_date_start(day, kind)
            return Period(kind, first) if day < add_months(first, self.length) else None
        if index > self.end:
            return None
        back = (self.end - index) // self.length
        return Period(kind, _month_start(_month_index(self.carrier.start) - back * _MONTHS[kind]))

    def bounds(self, carrier: Period) -> tuple[dt.date, dt.date]:
        """The first and last day of the span carried by ``carrier`` (this span or an earlier one)."""
        if self.form == "to_date":
            return carrier.start, add_months(carrier.start, self.length) - dt.timedelta(days=1)
        back = (_month_index(self.carrier.start) - _month_index(carrier.start)) // _MONTHS[carrier.kind]
        after = _month_start(self.end - back * self.length + 1)
        return rolling_start(after, self.length), after - dt.timedelta(days=1)

    def label_of(self, carrier: Period) -> str:
        """How the span carried by ``carrier`` is written (``2025-YTD-06`` for 2025)."""
        if self.form == "to_date":
            end = _month_index(carrier.start) + self.length - 1
            code = {"year": "YTD", "half": "HTD", "quarter": "QTD"}[carrier.kind]
            return f"{carrier.start.year}-{code}-{end % 12 + 1:02d}"
        back = (_month_index(self.carrier.start) - _month_index(carrier.start)) // _MONTHS[carrier.kind]
        end = self.end - back * self.length
        return f"{end // 12}-{end % 12 + 1:02d}-R{self.length}"


def parse_span(text: str, kind: PeriodKind) -> Span | None:
    """Read a to-date or rolling span for a scorecard of ``kind``; None if ``text`` is neither.

    Raises:
        ValueError: if the text is a span that a scorecard of ``kind`` cannot appraise.
    """
    text = text.strip()
    m = _TO_DATE.fullmatch(text) or _ROLLING.fullmatch(text)
    if m and not MIN_YEAR <= int(m.group(1)) <= MAX_YEAR:
        msg = f"period {text!r}: year {m.group(1)} is out of range ({MIN_YEAR}–{MAX_YEAR})"
        raise ValueError(msg)
    m = _TO_DATE.fullmatch(text)
    if m:
        year, code, month = int(m.group(1)), m.group(2), int(m.group(3))
        if not 1 <= month <= 12:  # noqa: PLR2004 - months
            msg = f"{text!r}: {month:02d} is not a month"
            raise ValueError(msg)
        want = _TO_DATE_KIND[code]
        if want != kind:
            msg = f"{text!r} is a {want} to date: it needs a {want} scorecard (this one appraises a {kind})"
            raise ValueError(msg)
        last = dt.date(year, month, 1)
        carrier = Period.containing(last, kind)
        length = _month_index(last) - _month_index(carrier.start) + 1
        return Span(text, "to_date", carrier, length, _month_index(last))
    m = _ROLLING.fullmatch(text)
    if m:
        year, month, length = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if not 1 <= month <= 12:  # noqa: PLR2004 - months
            msg = f"{text!r}: {month:02d} is not a month"
            raise ValueError(msg)
        rolling = _ROLLING_KIND.get(length)
        if rolling is None:
            msg = f"{text!r}: a rolling window is 3, 6 or 12 months (R3, R6, R12)"
            raise ValueError(msg)
        if rolling != kind:
            msg = f"{text!r} is {length} months: it needs a {rolling} scorecard (this one appraises a {kind})"
            raise ValueError(msg)
        last = dt.date(year, month, 1)
        return Span(text, "rolling", Period.containing(last, kind), length, _month_index(last))
    return None


def _finer(kind: PeriodKind, than: PeriodKind) -> bool:
    return KINDS.index(kind) < KINDS.index(than)


def _last_day(period: Period) -> dt.date:
    return period.next_start() - dt.timedelta(days=1)


# --- what needs accumulating ----------------------------------------------------------------------


def _period_texts(data: Any) -> Iterable[object] | None:
    """The period cells of records (distinct where cheap), or None when they cannot be read cheaply."""
    if data is None:
        return ()
    if isinstance(data, Table):
        if data.header:
            if "period" not in data.columns:
                return ()
            i = data.header.index("period")
            return {cells[i] for _, cells in data.cells}
        return _distinct(raw.get("period") for _, raw in data.dict_rows)
    module = type(data).__module__.split(".")[0]
    if module in {"polars", "pandas", "pyarrow", "duckdb", "_duckdb"} or (
        hasattr(data, "rows") and hasattr(data, "data")
    ):
        return _frame_periods(data)
    if isinstance(data, str | bytes) or hasattr(data, "__fspath__"):
        return ()
    if isinstance(data, list | tuple):
        if all(isinstance(row, Mapping) for row in data):  # Python dicts: no need to build a table to look
            return _distinct(row.get("period") for row in data)
        if all(isinstance(t, Table) for t in data):
            return {text for t in data for text in (_period_texts(t) or ())}
    if isinstance(data, Iterable):
        return None  # objects, frames among tables: read them (``as_tables``)
    return ()


def _distinct(cells: Iterable[object]) -> list[object]:
    """The distinct period cells.

    A cell that cannot be hashed (a list, a signaling NaN) is kept as it is: it is no period, and
    the reader refuses it at its cell (a set comprehension raised TypeError through ``evaluate``).
    """
    seen: set[object] = set()
    out: list[object] = []
    for cell in cells:
        try:
            if cell in seen:
                continue
            seen.add(cell)
        except TypeError:
            pass
        out.append(cell)
    return out


def _frame_periods(data: Any) -> Iterable[object] | None:
    """Distinct period cells of a frame, read by the frame's own library; None if not readable that way."""
    inner = getattr(data, "data", data)  # the kernel's Frame holds a Polars frame
    try:
        module = type(inner).__module__.split(".")[0]
        if module == "polars":
            if type(inner).__name__ == "LazyFrame":
                return None
            return set(inner.get_column("period").cast(str).unique().to_list())
        if module == "pandas":
            return {str(v) for v in inner["period"].unique()}
        if module == "pyarrow":
            return {str(v) for v in inner.column("period").unique().to_pylist()}
    except Exception:  # noqa: BLE001 - no period column or an odd frame: the evaluation reports it
        return ()
    return None


def _needs_accumulation(kind: PeriodKind, texts: Iterable[object]) -> bool:
    for text in texts:
        if text is None:
            continue
        found = period_kind_of(str(text))
        if found is not None and _finer(found, kind):
            return True
    return False


# --- the accumulation -----------------------------------------------------------------------------


@attrs.frozen
class AccumulatedTable(Table):
    """Records rolled up from finer ones; each row's location names the records it came from."""

    sources: Mapping[int, str] = attrs.field(factory=dict)

    def where(self, row: int, column: str | None = None) -> Location:  # noqa: ARG002 - one place per row
        """Where a rolled-up row came from: its source records, listed (``records.csv rows 2, 6 (…)``)."""
        return Location(self.sources.get(row, self.name))


@attrs.frozen
class Accumulated:
    """What the evaluation reads after the accumulation, and how to label its results."""

    records: Any
    members: Any
    events: Any
    period: str | None  # the carrier period to appraise (a span's carrier), or the period as given
    span: Span | None
    warnings: tuple[Issue, ...] = ()  # subjects whose finer records leave part of a period uncovered


def _describe(subject: str, target: Period, sources: Sequence[Record], coarse: Record | None) -> str:
    """``records.csv rows 2, 6 (2026-01, 2026-02)``: the records a rolled-up row came from."""
    parts: list[str] = []
    by_table: dict[str, list[Record]] = {}
    for r in sorted(sources, key=lambda r: r.period.start):
        by_table.setdefault(r.table.name, []).append(r)
    for name, group in by_table.items():
        if len(group) <= _SHOWN_SOURCES:
            rows = ", ".join(str(r.line) for r in group)
            periods = ", ".join(str(r.period) for r in group)
            parts.append(f"{name} rows {rows} ({periods})")
        else:
            first, last = group[0], group[-1]
            parts.append(f"{name}: {len(group)} {first.period.kind} records {first.period}…{last.period}")
    if coarse is not None:
        parts.append(f"{coarse.table.name} row {coarse.line} ({coarse.period})")
    return f"{'; '.join(parts)} → {subject} {target}"


def _roll(values: Sequence[tuple[Period, Value]], how: Rollup) -> Value:
    """One input over the source records (in time order) by its rollup over time."""
    present = [(p, v) for p, v in values if v is not None]
    if not present:
        return None
    if how == "last":
        return present[-1][1]
    numbers: list[Number] = [v for _, v in present if is_number(v)]
    if not numbers:
        return None
    if how == "sum":
        return num.total(numbers)
    if how == "mean":
        return num.mean(numbers)
    return min(numbers) if how == "min" else max(numbers)


def _cell(value: Value, spec: Input) -> object:
    """A rolled-up value as a record cell the evaluation reads back exactly."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return Decimal(value.numerator)
    if spec.type == "ratio" and isinstance(value, Decimal):  # a plain ratio above 1 reads as a percent slip
        return f"{format(value * 100, 'f')}%"
    return value


def _finer_card(card: Scorecard, kind: PeriodKind) -> Scorecard:
    """The scorecard as finer records are checked: the same types; sums keep only a sign bound."""
    inputs = {}
    for name, spec in card.inputs.items():
        low = spec.min if spec.min is not None and spec.min <= 0 else None
        inputs[name] = attrs.evolve(spec, min=low, max=None) if spec.over_time == "sum" else spec
    return attrs.evolve(card, period=kind, inputs=inputs)


def accumulate(
    card: Scorecard,
    records: Any,
    *,
    period: str | None = None,
    members: Any = None,
    events: Any = None,
    history: bool | None = None,
    strict: bool = False,
) -> Accumulated | None:
    """Roll finer records up into the scorecard's periods (or into a to-date or rolling span).

    ``history`` (default: whether the scorecard reads earlier periods) keeps the rolled-up records
    of every period; without it only the appraised period's are handed on. A subject whose finer
    records leave part of a period uncovered (May missing from a half) is a warning
    (``Accumulated.warnings``; ``relabel`` adds them to the appraisal), an error when ``strict``.

    Returns None when there is nothing to do: every record is of the scorecard's period kind and
    ``period`` is not a span (records given as an iterator come back read into a list, with no
    span). Otherwise the records, membership rows and events the evaluation reads instead, and the
    carrier period to appraise.

    Raises:
        DataError: listing every problem: a bad finer record (type, duplicate), records that
            overlap or cross a period boundary, a field given twice, an input without a rollup
            over time given on finer records, records that no span can hold.
    """
    once = isinstance(records, Iterator)
    if once:  # an iterator is read once: keep its rows for the check and for the run
        records = list(records)
    unchanged = Accumulated(records, members, events, period, None) if once else None
    span: Span | None = None
    if period is not None:
        try:
            span = parse_span(period, card.period)
        except ValueError as exc:
            raise DataError(str(exc)) from None
    if span is None:
        texts = _period_texts(records)
        if texts is not None and not _needs_accumulation(card.period, texts):
            return unchanged
    tables = [t.renamed(card.columns) for t in as_tables(records, "records")]
    if span is None and not any(_needs_accumulation(card.period, _period_texts(t) or ()) for t in tables):
        return unchanged

    issues: list[Issue] = []
    kept: list[Table] = []  # tables with the records that pass through as they are
    fine: dict[tuple[str, Period], list[Record]] = {}
    coarse_rows: dict[tuple[str, Period], tuple[Table, int, Mapping[str, Any]]] = {}
    row_names: dict[tuple[str, int], object] = {}
    for table in tables:
        by_kind: dict[PeriodKind, list[tuple[int, Any]]] = {}
        keep: list[tuple[int, Any]] = []
        for index, (line, raw) in enumerate(table.rows):
            cell = raw.get("period")
            kind = period_kind_of(str(cell)) if cell is not None else None
            if kind is not None and _finer(kind, card.period):
                by_kind.setdefault(kind, []).append((index, line))
                row_names[(table.name, line)] = raw.get("name")
                continue
            if span is not None and kind == card.period:
                issues.append(
                    Issue(
                        "not_in_span",
                        f"a record for {str(cell).strip()} cannot be cut to {span.label}: give finer records "
                        "(months, weeks or days)",
                        "period",
                        table.where(line, "period"),
                    )
                )
                continue
            keep.append((index, line))
            if kind == card.period and cell is not None and raw.get("subject") is not None:
                coarse_rows[(str(raw["subject"]).strip(), Period.parse(str(cell), card.period))] = (table, line, raw)
        kept.append(_subset(table, [i for i, _ in keep]))
        for kind, rows in by_kind.items():
            part = _subset(table, [i for i, _ in rows])
            try:
                prepared = prepare_records(_finer_card(card, kind), [part])
            except DataError as exc:
                issues.extend(exc.issues)
                continue
            for (subject, p), record in prepared.items():
                first, last = p.start, _last_day(p)
                target = span.target(first) if span is not None else Period.containing(first, card.period)
                end_target = span.target(last) if span is not None else Period.containing(last, card.period)
                if target != end_target:
                    where = part.where(record.line, "period")
                    if target is None or end_target is None:
                        message = f"{p} ({first}…{last}) crosses the end of {span.label if span else ''}"
                    else:
                        message = f"{p} ({first}…{last}) crosses from {target} into {end_target}"
                    issues.append(Issue("crosses_period", message + "; give days or months instead", "period", where))
                    continue
                if target is None:
                    continue  # after the span, or outside every span: not read
                fine.setdefault((subject, target), []).append(attrs.evolve(record, table=part))

    out_rows: list[tuple[int, dict[str, Any]]] = []
    sources: dict[int, str] = {}
    gaps: list[tuple[str, Issue]] = []  # (period, warning)
    summed = [n for n, spec in card.inputs.items() if spec.over_time in {"sum", "mean", "min", "max"}]
    merged_coarse: set[tuple[str, Period]] = set()
    for (subject, target), group in sorted(fine.items(), key=lambda kv: (kv[0][1].start, kv[0][0])):
        group.sort(key=lambda r: (r.period.start, r.period.kind != "day"))
        bad = False
        for before, after in itertools.pairwise(group):
            if after.period.start <= _last_day(before.period):
                issues.append(
                    Issue(
                        "overlap",
                        f"'{subject}' has records for {before.period} and {after.period}, which overlap "
                        f"(first at {before.origin})",
                        "period",
                        after.table.where(after.line, "period"),
                    )
                )
                bad = True
        coarse = coarse_rows.get((subject, target))
        row: dict[str, Any] = {"subject": subject, "period": str(target)}
        for r in reversed(group):  # the latest name given
            shown = row_names.get((r.table.name, r.line))
            if not _blank(shown):
                row["name"] = shown
                break
        for name, spec in card.inputs.items():
            values = [(r.period, r.values.get(name)) for r in group]
            given = [(p, v) for p, v in values if v is not None]
            if coarse is not None and not _blank(coarse[2].get(name)):
                if given:
                    table, line, _ = coarse
                    issues.append(
                        Issue(
                            "conflict",
                            f"'{name}' of '{subject}' is given for {target} and also on {len(given)} finer record(s) "
                            f"({', '.join(str(p) for p, _ in given[:6])})",
                            name,
                            table.where(line, name),
                        )
                    )
                    bad = True
                row[name] = coarse[2][name]
                continue
            if given and spec.over_time == "none":
                giver = next(r for r in group if r.values.get(name) is not None)
                issues.append(
                    Issue(
                        "no_rollup",
                        f"'{name}' ({spec.type}) has no rollup over time, so {giver.period} cannot count for "
                        f"{target}; give it on a record for {target}, or declare its rollup",
                        name,
                        giver.table.where(giver.line, name),
                        suggestion="declare `rollup: mean` or `rollup: last` on the input",
                    )
                )
                bad = True
                continue
            row[name] = _cell(_roll(values, spec.over_time), spec)
        if coarse is not None:
            merged_coarse.add((subject, target))
            for key in ("name", "note"):
                if not _blank(coarse[2].get(key)):
                    row[key] = coarse[2][key]
        if bad:
            continue
        line = len(out_rows) + 1
        out_rows.append((line, row))
        sources[line] = _describe(subject, target, group, _coarse_record(coarse, target))
        if any(r.values.get(n) is not None for n in summed for r in group):  # a last value needs no full cover
            gaps.extend((str(target), g) for g in _gap(subject, target, span, group))
    if issues:
        raise DataError.from_issues(issues, "records")
    if not (card.reads_history if history is None else history):  # one period read: hand on its rows alone
        chosen_period = span.carrier if span is not None else _parsed(period, card.period)
        if chosen_period is not None:
            wanted = str(chosen_period)
            out_rows = [(line, row) for line, row in out_rows if row["period"] == wanted]
            gaps = [(p, g) for p, g in gaps if p == wanted]
    if gaps and strict:
        raise DataError.from_issues([attrs.evolve(g, severity="error") for _, g in gaps], "records")
    if merged_coarse:
        kept = [_without(t, merged_coarse, card.period) for t in kept]
    out: list[Table] = [t for t in kept if t.cells or t.dict_rows]
    if out_rows:
        out.append(AccumulatedTable("records (rolled up)", tuple(out_rows), sources=sources))
    chosen = str(span.carrier) if span is not None else period
    return Accumulated(
        records=out or [Table("records")],
        members=_members(card, members, span),
        events=_events(card, events, span),
        period=chosen,
        span=span,
        warnings=tuple(g for _, g in gaps),
    )


def _gap(subject: str, target: Period, span: Span | None, group: Sequence[Record]) -> list[Issue]:
    """A warning when a month of the period (or span) has none of ``subject``'s finer records.

    The rolled-up row sums (or means) the records given, as a team sums the members with a value;
    a month left out lowers a half's sales without an error, so it is said. Months, not days: days
    without a record are ordinary (a weekend, a day without a sale), a month without one is not.
    """
    first, last = span.bounds(target) if span is not None else (target.start, _last_day(target))
    touched: set[int] = set()
    for r in group:
        touched.update(range(_month_index(r.period.start), _month_index(r.period.next_start() - _DAY) + 1))
    needed = range(_month_index(first), _month_index(last) + 1)
    if touched.issuperset(needed):
        return []
    missing = uncovered(first, last, [(_month_start(i), _month_start(i + 1) - _DAY) for i in touched])
    label = span.label_of(target) if span is not None else str(target)
    shown = ", ".join(stretch_text(a, b) for a, b in missing)
    message = f"'{subject}' has no record for {shown}: its {label} is rolled up from the records given"
    return [Issue("incomplete_period", message, "period", Location("records"), "warning")]


def _parsed(text: str | None, kind: PeriodKind) -> Period | None:
    if text is None:
        return None
    try:
        return Period.parse(text, kind)
    except ValueError:
        return None  # the evaluation reports it


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _coarse_record(coarse: tuple[Table, int, Mapping[str, Any]] | None, target: Period) -> Record | None:
    if coarse is None:
        return None
    table, line, raw = coarse
    return Record(str(raw["subject"]).strip(), target, {}, line, table)


def _subset(table: Table, indexes: Sequence[int]) -> Table:
    """The same table (name, header, row numbers) holding only the rows at ``indexes``."""
    if table.header:
        return attrs.evolve(table, cells=tuple(table.cells[i] for i in indexes))
    return attrs.evolve(table, dict_rows=tuple(table.dict_rows[i] for i in indexes))


def _without(table: Table, keys: set[tuple[str, Period]], kind: PeriodKind) -> Table:
    """``table`` without the rows of ``keys`` (records merged into a rolled-up row)."""
    drop = []
    for index, (_, raw) in enumerate(table.rows):
        try:
            key = (str(raw.get("subject")).strip(), Period.parse(str(raw.get("period")), kind))
        except ValueError:
            continue
        if key in keys:
            drop.append(index)
    if not drop:
        return table
    gone = set(drop)
    return _subset(table, [i for i in range(len(table.rows)) if i not in gone])


def _members(card: Scorecard, members: Any, span: Span | None) -> Any:
    """Membership rows of finer periods mapped to the scorecard's periods (one parent each)."""
    if members is None:
        return None
    table = as_table(members, "members").renamed(card.columns)
    texts = _period_texts(table) or ()
    if span is None and not _needs_accumulation(card.period, texts):
        return table  # read (an iterator is consumed), columns as the ruleset names them
    issues: list[Issue] = []
    keep: list[int] = []
    mapped: dict[tuple[str, Period], tuple[str, int]] = {}
    given: dict[tuple[str, Period], str] = {}
    for index, (line, raw) in enumerate(table.rows):
        cell, member, parent = raw.get("period"), raw.get("member"), raw.get("parent")
        kind = period_kind_of(str(cell)) if cell is not None else None
        if kind is None or _blank(member) or _blank(parent):
            keep.append(index)  # the membership reader reports it
            continue
        p = Period.parse(str(cell), kind)
        key_member, key_parent = str(member).strip(), str(parent).strip()
        if kind == card.period:
            if span is not None and span.form == "rolling" and not span.aligned:
                issues.append(
                    Issue(
                        "not_in_span",
                        f"a membership row for {p} cannot be cut to {span.label}: give monthly rows",
                        "period",
                        table.where(line, "period"),
                    )
                )
                continue
            keep.append(index)
            given[(key_member, p)] = key_parent
            continue
        if not _finer(kind, card.period):
            keep.append(index)
            continue
        first, last = p.start, _last_day(p)
        target, end_target = (
            (span.target(first), span.target(last))
            if span is not None
            else (Period.containing(first, card.period), Period.containing(last, card.period))
        )
        if target is None or target != end_target:
            continue  # outside every span, or across a boundary: no one period to belong to
        known = mapped.get((key_member, target))
        if known is not None and known[0] != key_parent:
            issues.append(
                Issue(
                    "moved",
                    f"'{key_member}' belongs to '{known[0]}' and to '{key_parent}' within {target}; "
                    f"give one membership row for {target}",
                    "parent",
                    table.where(line, "parent"),
                )
            )
            continue
        mapped[(key_member, target)] = (key_parent, line)
    rows: list[tuple[int, dict[str, Any]]] = [
        (line, {"member": m, "parent": parent, "period": str(p)})
        for (m, p), (parent, line) in sorted(mapped.items(), key=lambda kv: (kv[0][1].start, kv[0][0]))
        if (m, p) not in given
    ]
    for (m, p), (parent, line) in mapped.items():
        if (m, p) in given and given[(m, p)] != parent:
            issues.append(
                Issue(
                    "moved",
                    f"'{m}' belongs to '{given[(m, p)]}' for {p} and to '{parent}' in a part of it",
                    "parent",
                    table.where(line, "parent"),
                )
            )
    if issues:
        raise DataError.from_issues(issues, "members")
    kept = _subset(table, keep)
    if not rows:
        return kept
    return Table(table.name, (*kept.rows, *rows), table.columns)


def _events(card: Scorecard, events: Any, span: Span | None) -> Any:
    """Events a span reads: a to-date span's up to its last day; a rolling window's when aligned."""
    if events is None or span is None or (span.form == "rolling" and span.aligned):
        return events
    table = as_table(events, "events").renamed(card.columns)
    if span.form == "rolling":
        if table.rows:
            last = _last_day(span.carrier)
            msg = (
                f"{span.label}: a rolling window that is not a {span.carrier.kind} of the calendar reads records "
                f"only; evaluate events by period, or a window ending a {span.carrier.kind} "
                f"(such as {last.year}-{last.month:02d}-R{span.length})"
            )
            raise DataError(msg)
        return events
    tz = zone(card.timezone)
    keep = []
    for index, (_, raw) in enumerate(table.rows):
        try:
            day = local_date(parse_instant(str(raw.get("at")), tz), tz)
        except ValueError:
            keep.append(index)  # the event reader reports it
            continue
        if span.target(day) is not None:
            keep.append(index)
    return _subset(table, keep)


def relabel(appraisal: Appraisal, span: Span | None, warnings: Sequence[Issue] = ()) -> Appraisal:
    """The appraisal of a span's carrier, labelled as the span (``2026`` → ``2026-YTD-06``).

    ``warnings`` (the accumulation's: records that leave part of a period uncovered) join the
    appraisal's own.
    """
    if warnings:
        appraisal = attrs.evolve(appraisal, warnings=(*appraisal.warnings, *warnings))
    if span is None:
        return appraisal
    return attrs.evolve(appraisal, period=span.label)
