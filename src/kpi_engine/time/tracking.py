"""The year against its plan (DOMAIN S4, S6): actuals, forecasts, gap to plan, at risk, budgets, alerts.

For every item of a plan (a target such as sales, or an expense budget such as travel), every
subject of its share tree (company, regions or teams, reps) and every period of the levels asked
for (year, half, quarter, month, week, day) that has started by ``as_of``:

- **plan**: the period's planned amount (``decompose``); **plan to date**: the sum of the plan's
  working-day parts from the period's first day to ``as_of``;
- **actual**: the sum of the actual rows (``subject, period, <item's column>``) of the subject's
  leaves that lie inside the period up to ``as_of`` (rows of any kind: days, weeks, months…);
- **forecast** to the period's end: its actual once the period is over; before that,
  ``plan_pace`` (the default): actual ÷ plan to date × plan — the plan's own pace over the working
  days of its calendar, so a seasonal plan's strong fourth quarter stays strong and a rep exactly on
  plan to date is on track; or ``run_rate``: actual ÷ working days elapsed × working days in the
  period, every working day alike (the same as plan pace for a plan split by working days alone);
- **gap** = forecast − plan; **gap to date** = actual − plan to date;
- a target's **status**: ``met`` or ``missed`` once the period is over, else ``on_track``
  (forecast ≥ plan), ``behind`` (below the plan) or ``at_risk`` (forecast below ``at_risk`` ×
  plan, 90 % by default: strictly below, so exactly 90 % is behind, not at risk);
- a budget's **burn** = spend to date ÷ budget to date, **variance** = spend to date − budget to
  date (positive: over), status ``over`` when the burn is above ``over_budget`` (100 % by
  default, strictly) else ``within``.

Alerts open for the current period (the one holding ``as_of``) of each level in ``alert_levels``
(default: the year, so one alert per subject and item): a target whose forecast is at risk (or
below plan with ``alert_on: behind``; ``missed`` once the period is over), a budget over. They
open the day after ``as_of`` and are due ``due_working_days`` later, as period alerts are
(``time.alerts``).

Every number is exact; rounding happens where a report shows it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import attrs

from kpi_engine import _numbers as num
from kpi_engine._numbers import Number, as_fraction, canonical, exactly, quantize
from kpi_engine.errors import DataError, Issue, Location, did_you_mean
from kpi_engine.evaluation.records import Table, as_tables, coerce
from kpi_engine.time.periods import Period, period_kind_of, stretch_text, uncovered
from kpi_engine.time.targets import LEVELS, Item, Node, TargetPlan, TargetPlanResult

Status = Literal["met", "missed", "on_track", "behind", "at_risk", "over", "within", "no_data"]
DEFAULT_LEVELS = ("year", "half", "quarter", "month")
_META = frozenset({"subject", "period", "name", "note"})


@attrs.frozen
class Line:
    """One item for one subject and period: plan, actual, forecast and status."""

    item: str
    kind: Literal["target", "budget"]
    unit: Literal["money", "count"]
    subject: str
    parent: str | None
    depth: int
    period: Period
    plan: Decimal
    plan_to_date: Decimal
    actual: Decimal | None  # None: no actual can be placed in this period (monthly rows and a week)
    forecast: Number | None
    working_days: int
    elapsed_days: int
    complete: bool
    status: Status

    @property
    def gap(self) -> Number | None:
        """Forecast − plan (negative: short of the plan; for a budget, under it)."""
        return None if self.forecast is None else num.sub(self.forecast, self.plan)

    @property
    def gap_to_date(self) -> Number | None:
        """Actual − plan to date (exact, whatever the caller's decimal context)."""
        return None if self.actual is None else num.sub(self.actual, self.plan_to_date)

    @property
    def to_date_ratio(self) -> Fraction | None:
        """Actual ÷ plan to date (a budget's burn); None when nothing was planned to date."""
        if self.actual is None or self.plan_to_date == 0:
            return None
        return Fraction(self.actual) / Fraction(self.plan_to_date)

    @property
    def forecast_ratio(self) -> Fraction | None:
        """Forecast ÷ plan; None without a forecast or a plan."""
        if self.forecast is None or self.plan == 0:
            return None
        return Fraction(self.forecast) / Fraction(self.plan)

    def to_dict(self, places: int) -> dict[str, Any]:
        """A JSON-ready row: amounts as exact text, the forecast and ratios rounded half-up as shown."""
        shown = places if self.unit == "money" else 0

        def amount(v: Number | None) -> str | None:
            return None if v is None else format(quantize(v, shown, "half_up"), "f")

        def ratio(v: Fraction | None) -> str | None:
            return None if v is None else format(quantize(v * 100, 1, "half_up"), "f") + "%"

        return {
            "item": self.item,
            "kind": self.kind,
            "subject": self.subject,
            "parent": self.parent,
            "level": self.period.kind,
            "period": str(self.period),
            "plan": canonical(self.plan),
            "plan_to_date": canonical(self.plan_to_date),
            "actual": None if self.actual is None else canonical(self.actual),
            "to_date": ratio(self.to_date_ratio),
            "forecast": amount(self.forecast),
            "forecast_ratio": ratio(self.forecast_ratio),
            "gap": amount(self.gap),
            "gap_to_date": None if self.gap_to_date is None else canonical(self.gap_to_date),
            "working_days": self.working_days,
            "elapsed_days": self.elapsed_days,
            "complete": self.complete,
            "status": self.status,
        }


@attrs.frozen
class TrackAlert:
    """A forecast at risk or a budget over, with its due date (the shape of ``time.alerts.Alert``)."""

    subject: str
    item: str
    period: Period
    reason: Literal["at_risk", "behind", "missed", "over_budget", "review_overdue"]
    value: Number
    reference: Number  # the plan (or budget to date) the value is held against
    threshold: Decimal
    opened: dt.date
    due: dt.date
    places: int = 2  # how the value and reference are shown

    @property
    def id(self) -> str:
        """A stable id: ``subject/item/period``."""
        return f"{self.subject}/{self.item}/{self.period}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (exact numbers as text)."""
        return {
            "id": self.id,
            "subject": self.subject,
            "metric": self.item,
            "period": str(self.period),
            "reason": self.reason,
            "value": format(quantize(self.value, self.places, "half_up"), "f"),
            "reference": format(quantize(self.reference, self.places, "half_up"), "f"),
            "threshold": canonical(self.threshold),
            "opened": self.opened.isoformat(),
            "due": self.due.isoformat(),
        }

    def event_row(self) -> dict[str, str]:
        """The alert as an ``alert`` event (as ``kpi alerts --format events``), for a window metric."""
        return {
            "event_id": f"alert:{self.id}",
            "type": "alert",
            "at": f"{self.opened.isoformat()}T00:00:00",
            "rep": self.subject,
            "metric": self.item,
            "alert_period": str(self.period),
        }


@attrs.frozen
class TrackReport:
    """The year against its plan on ``as_of``: every line, the alerts and the warnings."""

    plan: TargetPlan
    as_of: dt.date
    lines: tuple[Line, ...]
    alerts: tuple[TrackAlert, ...]
    warnings: tuple[Issue, ...] = ()

    def at_risk(self, item: str | None = None, level: str = "year") -> list[Line]:
        """Targets whose forecast is at risk at ``level`` (default the year), worst first."""
        found = [
            ln
            for ln in self.lines
            if ln.kind == "target" and ln.status == "at_risk" and ln.period.kind == level and item in {None, ln.item}
        ]
        return sorted(found, key=lambda ln: (ln.forecast_ratio or Fraction(0), ln.subject))

    def line(self, item: str, subject: str, period: str) -> Line | None:
        """The line of ``item`` for ``subject`` in ``period`` (text such as ``2026-Q2``), or None."""
        for ln in self.lines:
            if ln.item == item and ln.subject == subject and str(ln.period) == period:
                return ln
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        places = self.plan.spec.money_places
        t = self.plan.spec.tracking
        return {
            "plan": self.plan.spec.plan,
            "year": self.plan.spec.year,
            "as_of": self.as_of.isoformat(),
            "calendar": self.plan.calendar.name,
            "forecast": t.forecast,
            "at_risk": canonical(t.at_risk),
            "over_budget": canonical(t.over_budget),
            "lines": [ln.to_dict(places) for ln in self.lines],
            "alerts": [a.to_dict() for a in self.alerts],
            "warnings": [w.render() for w in self.warnings],
        }


# --- actuals ------------------------------------------------------------------------------------


@attrs.frozen
class _Row:
    start: dt.date
    end: dt.date
    value: Decimal


def _last_day(p: Period) -> dt.date:
    return p.next_start() - dt.timedelta(days=1)


def read_actuals(
    plan: TargetPlan, tables: Iterable[Table], as_of: dt.date | None
) -> tuple[dict[tuple[str, str], list[_Row]], dt.date, list[Issue]]:
    """Validated actual rows per (item, leaf subject), the as-of day, and warnings.

    A row is ``subject, period`` (a day, ISO week, month, quarter, half or the year, inside the
    plan year and ending by ``as_of``) with the columns of the items it gives; ``name`` and
    ``note`` are free text. Without ``as_of``, it is the last day of the latest row.

    Raises:
        DataError: listing every bad row: an unknown column or subject, a subject that is not a
            leaf of the item's share tree, a bad number, a duplicate or overlapping period, a
            period outside the plan year or after ``as_of``.
    """
    year = plan.spec.year
    by_column = {i.actual: i for i in plan.items}
    leaves = {i.name: {n.id for n in _nodes(i.tree) if not n.children} for i in plan.items}
    subjects = {n.id for i in plan.items for n in _nodes(i.tree)}
    issues: list[Issue] = []
    rows: list[tuple[Table, int, str, Period, dict[str, Decimal]]] = []
    for table in tables:
        for line, raw in table.rows:
            for col in raw:
                if col not in _META and col not in by_column:
                    hint = did_you_mean(str(col), [*by_column, *_META])
                    issues.append(
                        Issue(
                            "unknown_column",
                            f"column '{col}' is not an item's actual column",
                            str(col),
                            table.where(line, str(col)),
                            suggestion=hint,
                        )
                    )
            subject = str(raw.get("subject") or "").strip()
            text = str(raw.get("period") or "").strip()
            if not subject or not text:
                missing = "subject" if not subject else "period"
                issues.append(Issue("missing_field", f"'{missing}' is required", missing, table.where(line, missing)))
                continue
            if subject not in subjects:
                hint = did_you_mean(subject, sorted(subjects))
                issues.append(
                    Issue(
                        "unknown_subject",
                        f"'{subject}' is not in the plan's share tree (add it with a share, even 0%)",
                        "subject",
                        table.where(line, "subject"),
                        suggestion=hint,
                    )
                )
                continue
            kind = period_kind_of(text)
            if kind is None:
                issues.append(
                    Issue(
                        "bad_period",
                        f"{text!r} is not a period (2026-06, 2026-W23…)",
                        "period",
                        table.where(line, "period"),
                    )
                )
                continue
            period = Period.parse(text, kind)
            if period.start.year != year or _last_day(period).year != year:
                issues.append(
                    Issue(
                        "bad_period",
                        f"{period} is not inside the plan year {year}",
                        "period",
                        table.where(line, "period"),
                    )
                )
                continue
            values: dict[str, Decimal] = {}
            for column, item in by_column.items():
                cell = raw.get(column)
                if cell is None or (isinstance(cell, str) and not cell.strip()):
                    continue
                try:
                    value = coerce(cell, "count" if item.unit == "count" else "money")
                except ValueError as exc:
                    issues.append(Issue("bad_value", f"'{column}': {exc}", column, table.where(line, column)))
                    continue
                if subject not in leaves[item.name]:
                    where = "not in" if subject not in {n.id for n in _nodes(item.tree)} else "not a leaf of"
                    issues.append(
                        Issue(
                            "not_a_leaf",
                            f"'{subject}' is {where} {item.name}'s share tree: its {item.name} is the sum of its "
                            "members' (give their figures instead)",
                            column,
                            table.where(line, column),
                        )
                    )
                    continue
                values[item.name] = Decimal(value)  # type: ignore[arg-type]
            rows.append((table, line, subject, period, values))
    ends = [_last_day(p) for *_, p, _ in rows]
    day = as_of or (max(ends) if ends else None)
    if day is None:
        issues.append(Issue("empty", "no actual rows", "", Location("actuals")))
        raise DataError.from_issues(issues, "actuals")
    given: dict[tuple[str, str], list[tuple[Period, int, Table, int, Decimal]]] = {}
    for order, (table, line, subject, period, values) in enumerate(rows):
        if _last_day(period) > day:
            issues.append(
                Issue(
                    "after_as_of",
                    f"{period} ends after the as-of day {day}: its figures are not complete by then",
                    "period",
                    table.where(line, "period"),
                )
            )
            continue
        for name, value in values.items():
            given.setdefault((name, subject), []).append((period, order, table, line, value))
    out: dict[tuple[str, str], list[_Row]] = {}
    for (name, subject), found in given.items():
        # One sweep in time order (the kept rows never overlap, so only the last kept one can reach a
        # row that starts later): linear after the sort, however many rows repeat.
        kept: list[tuple[Period, Table, int]] = []
        for period, _order, table, line, value in sorted(found, key=lambda f: (f[0].start, f[1])):
            if kept and period.start <= _last_day(kept[-1][0]):
                other, other_table, other_line = kept[-1]
                what = "repeats" if other == period else f"overlaps {other}"
                issues.append(
                    Issue(
                        "overlap",
                        f"{subject}'s {name} for {period} {what} (first at {other_table.where(other_line)})",
                        "period",
                        table.where(line, "period"),
                    )
                )
                continue
            kept.append((period, table, line))
            out.setdefault((name, subject), []).append(_Row(period.start, _last_day(period), value))
    if issues:
        raise DataError.from_issues(issues, "actuals")
    return out, day, _gaps(plan, out, day, set(by_column) & _columns(tables))


def _absent(plan: TargetPlan, tables: Iterable[Table]) -> set[str]:
    """The items whose actual column no table has: they have no actual (not an actual of 0)."""
    columns = _columns(tables)
    return {i.name for i in plan.items if i.actual not in columns}


def _columns(tables: Iterable[Table]) -> set[str]:
    found: set[str] = set()
    for t in tables:
        found |= set(t.header) if t.header else {str(k) for _, raw in t.dict_rows for k in raw}
    return found


def _gaps(plan: TargetPlan, rows: Mapping[tuple[str, str], list[_Row]], as_of: dt.date, given: set[str]) -> list[Issue]:
    """Warnings: items without a column, leaves whose actuals leave months uncovered (counted as 0)."""
    out: list[Issue] = []
    first = dt.date(plan.spec.year, 1, 1)
    for item in plan.items:
        if item.actual not in given:
            message = f"no column '{item.actual}' in the actuals: {item.name} has no actual"
            out.append(Issue("no_actual", message, item.actual, Location("actuals"), "warning"))
            continue
        for leaf in sorted(n.id for n in _nodes(item.tree) if not n.children):
            covered = [(r.start, r.end) for r in rows.get((item.name, leaf), [])]
            missing = [stretch_text(a, b) for a, b in uncovered(first, as_of, covered)]
            if missing:
                message = f"{leaf} has no {item.actual} for {', '.join(missing)} (counted as 0)"
                out.append(Issue("no_actual", message, item.actual, Location("actuals"), "warning"))
    return out


# --- tracking ---------------------------------------------------------------------------------------


def _nodes(node: Node) -> Iterable[Node]:
    yield node
    for child in node.children:
        yield from _nodes(child)


def _periods(year: int, levels: Sequence[str], as_of: dt.date) -> list[Period]:
    """Every period of the levels that overlaps the plan year and has started by ``as_of``."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    out: list[Period] = []
    for level in LEVELS:
        if level not in levels:
            continue
        p = Period.containing(first, level)
        while p.start <= last and p.start <= as_of:
            out.append(p)
            p = Period(level, p.next_start())
    return out


@exactly
def track(
    plan: TargetPlan,
    result: TargetPlanResult,
    actuals: Any,
    *,
    as_of: dt.date | None = None,
    levels: Sequence[str] = DEFAULT_LEVELS,
) -> TrackReport:
    """Every item of ``plan`` against its actuals on ``as_of``, at every level of the share tree.

    Args:
        plan: the parsed plan (its ``tracking`` settings, calendar and items).
        result: ``decompose(plan)``.
        actuals: tables or rows of ``subject, period`` and the items' actual columns.
        as_of: the day the actuals are complete through (default: the end of the latest row).
        levels: the period levels to report (default year, half, quarter, month).

    Raises:
        DataError: on bad actual rows (every one at once). CalendarError: if the calendar does
            not cover the plan year or an alert's due date.
    """
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        msg = f"unknown level {unknown[0]!r} (use {', '.join(LEVELS)})"
        raise DataError(msg)
    tables = as_tables(actuals, "actuals")
    rows, day, warnings = read_actuals(plan, tables, as_of)
    absent = _absent(plan, tables)
    year = plan.spec.year
    if not dt.date(year, 1, 1) <= day <= dt.date(year, 12, 31):
        msg = f"the as-of day {day} is not in the plan year {year}"
        raise DataError(msg)
    spec = plan.spec.tracking
    cal = plan.calendar
    year_start, year_end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    periods = _periods(year, levels, day)
    opened = day + dt.timedelta(days=1)
    due = functools.cache(lambda: cal.add_working_days(opened, spec.due_working_days))  # only once an alert opens
    lines: list[Line] = []
    alerts: list[TrackAlert] = []
    for item in plan.items:
        nodes = list(_nodes(item.tree))
        depth = {item.tree.id: 0}
        for n in nodes:
            for c in n.children:
                depth[c.id] = depth[n.id] + 1
        below = {n.id: [leaf.id for leaf in _nodes(n) if not leaf.children] for n in nodes}
        for p in periods:
            start, end = max(p.start, year_start), min(_last_day(p), year_end)
            elapsed_end = min(end, day)
            complete = end <= day
            working = len(cal.working_days(start, end))
            elapsed = len(cal.working_days(start, elapsed_end))
            days = [Period("day", start + dt.timedelta(days=i)) for i in range((elapsed_end - start).days + 1)]
            for n in nodes:
                planned = result.value(item.name, n.id, p) or Decimal(0)
                to_date = planned if complete else sum(
                    (result.value(item.name, n.id, d) or Decimal(0) for d in days), Decimal(0)
                )  # fmt: skip
                actual = None if item.name in absent else _actual(rows, item.name, below[n.id], start, elapsed_end)
                forecast = _forecast(spec.forecast, actual, planned, to_date, working, elapsed, complete=complete)
                line = Line(
                    item.name, item.kind, item.unit, n.id, n.parent, depth[n.id], p, planned, to_date, actual,
                    forecast, working, elapsed, complete, "no_data",
                )  # fmt: skip
                line = attrs.evolve(line, status=_status(line, spec.at_risk, spec.over_budget))
                lines.append(line)
                if start <= day <= end and p.kind in spec.alert_levels:
                    alert = _alert(line, item, spec, opened, due, 0 if item.unit == "count" else plan.spec.money_places)
                    if alert is not None:
                        alerts.append(alert)
    order = {lv: i for i, lv in enumerate(LEVELS)}
    alerts.sort(key=lambda a: (a.item, order[a.period.kind], a.subject))
    return TrackReport(plan, day, tuple(lines), tuple(alerts), tuple(warnings))


def _actual(
    rows: Mapping[tuple[str, str], list[_Row]], item: str, leaves: Sequence[str], start: dt.date, end: dt.date
) -> Decimal | None:
    """The sum of the leaves' rows inside [start, end]; None if a row straddles the window's edge."""
    total = Decimal(0)
    for leaf in leaves:
        for r in rows.get((item, leaf), ()):
            if r.end < start or r.start > end:
                continue
            if r.start < start or r.end > end:
                return None  # a month's figure cannot be cut into weeks
            total += r.value
    return total


def _forecast(
    how: str, actual: Decimal | None, plan: Decimal, to_date: Decimal, working: int, elapsed: int, *, complete: bool
) -> Number | None:
    if actual is None:
        return None
    if complete:
        return actual
    if how == "plan_pace":
        if to_date == 0:
            return None
        return Fraction(actual) * Fraction(plan) / Fraction(to_date)
    if elapsed == 0:
        return None
    return Fraction(actual) * working / elapsed


def _status(line: Line, at_risk: Decimal, over_budget: Decimal) -> Status:
    """A target's met/missed or on_track/behind/at_risk; a budget's over/within (exact comparisons)."""
    if line.actual is None or line.forecast is None:
        return "no_data"
    if line.kind == "budget":
        burn = line.to_date_ratio
        if burn is None:
            return "over" if line.actual > 0 else "within"
        return "over" if burn > over_budget else "within"
    if line.complete:
        return "met" if line.actual >= line.plan else "missed"
    forecast, plan = as_fraction(line.forecast), Fraction(line.plan)
    if forecast >= plan:
        return "on_track"
    return "at_risk" if forecast < Fraction(at_risk) * plan else "behind"


def _alert(
    line: Line, item: Item, spec: Any, opened: dt.date, due: Callable[[], dt.date], places: int
) -> TrackAlert | None:
    if line.forecast is None or line.actual is None:
        return None
    if line.kind == "budget":
        if line.status != "over":
            return None
        return TrackAlert(
            line.subject, item.name, line.period, "over_budget", line.actual, line.plan_to_date, spec.over_budget,
            opened, due(), places,
        )  # fmt: skip
    forecast, plan = as_fraction(line.forecast), Fraction(line.plan)
    below = forecast < (Fraction(spec.at_risk) * plan if spec.alert_on == "at_risk" else plan)
    if not below:
        return None
    reason: Literal["at_risk", "behind", "missed"] = (
        "missed" if line.complete else ("at_risk" if line.status == "at_risk" else "behind")
    )
    threshold = spec.at_risk if spec.alert_on == "at_risk" else Decimal(1)
    return TrackAlert(
        line.subject, item.name, line.period, reason, line.forecast, line.plan, threshold, opened, due(), places
    )
