"""What pay reads, checked at the door: people, credited deals, deal facts, appraisals, lines already paid.

Each reader turns a ``Table`` (any source ``kpi_engine`` reads) into exact, typed values and
collects every bad row into one ``DataError`` with ``file:row:col``; nothing is dropped silently.

- **people**: one row per assignment — ``person``, ``start``/``end`` (inclusive dates; blank:
  open), ``team``, ``leads`` (the team the person leads, for overrides and team appraisals),
  ``target_incentive`` (money, or a percent of ``base_salary``), ``base_salary``, ``currency``,
  ``name``, ``plan`` (rows naming another plan are not this plan's), ``pool_weight`` (a member's
  weight in a team's pool split by weight). A hire is the first row's
  ``start``; a leaver the last row's ``end``; a transfer one row ending and the next starting.
- **credits**: ``deal_id``, ``credited_to``, ``amount``, ``date``, optional ``share`` (a split:
  several rows of one deal whose shares add up to 100 %); the CSV of ``kpi attribute`` is read as is.
- **deals**: ``deal_id``, ``product``, ``type``, ``paid`` (date the customer paid),
  ``cancelled`` (date of a cancellation or refund), ``refund`` (the refunded amount; blank: all).
- **appraisals**: ``subject``, ``period``, ``total``, ``grade``, ``bonus_multiplier``,
  ``gates`` (applied scorecard gates, space-separated) and one column per scorecard value.
- **paid**: lines already paid — ``person``, ``period``, ``line``, ``amount`` (the payout
  register ``kpi pay --format csv`` writes).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import attrs

from kpi_engine._numbers import NumberFormatError, as_fraction, is_number, to_decimal
from kpi_engine.errors import DataError, Issue, Location, did_you_mean
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.payout.model import PayPlan
from kpi_engine.payout.ops.money import split
from kpi_engine.time.periods import Period

PEOPLE_COLUMNS = (
    "person",
    "name",
    "start",
    "end",
    "team",
    "leads",
    "target_incentive",
    "base_salary",
    "currency",
    "plan",
    "pool_weight",
    "note",
)
CREDIT_COLUMNS = ("deal_id", "credited_to", "amount", "date", "share")
DEAL_FACTS = ("product", "type", "paid", "cancelled", "refund")  # may ride on the credit rows instead of a deals file
CREDIT_IGNORED = (  # what ``kpi attribute --format csv`` writes besides; read and ignored
    "customer",
    "closer",
    "reason",
    "owner",
    "decided_by",
    "protected_through",
    "claim_date",
    "claim_deadline",
    "note",
)
DEAL_COLUMNS = ("deal_id", "product", "type", "paid", "cancelled", "refund", "note")
PAID_COLUMNS = ("person", "period", "line", "amount")
PAID_IGNORED = ("name", "component", "kind", "description", "currency", "plan", "version", "note")
APPRAISAL_KEYS = ("subject", "period", "total", "grade", "bonus_multiplier", "gates", "name")


@attrs.frozen
class Assignment:
    """One row of the people file: a person in a team, with a target, between two dates."""

    person: str
    start: dt.date | None
    end: dt.date | None
    team: str | None
    leads: str | None
    target_incentive: Fraction
    base_salary: Fraction | None
    name: str | None
    where: Location
    plan: str | None = None  # the pay plan paying this assignment (None: the one run)
    pool_weight: Fraction | None = None  # the share of a team's pool (``split: weight``), relative to the others

    def covers(self, day: dt.date) -> bool:
        """Whether the person holds this assignment on ``day``."""
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@attrs.frozen
class CreditLine:
    """A person's part of a credited deal (the whole deal, or a split share apportioned to the cent)."""

    deal_id: str
    person: str
    amount: Fraction
    deal_amount: Fraction
    share: Fraction
    date: dt.date
    where: Location


@attrs.frozen
class Deal:
    """Facts about a deal from finance: product, type, paid, cancelled or refunded."""

    deal_id: str
    product: str | None = None
    type: str | None = None
    paid: dt.date | None = None
    cancelled: dt.date | None = None
    refund: Fraction | None = None
    where: Location | None = None


@attrs.frozen
class Scores:
    """What pay reads of one subject's appraisal in one period."""

    subject: str
    period: Period
    total: Fraction | None
    grade: str | None
    bonus_multiplier: Fraction | None
    values: Mapping[str, Fraction | None]
    gates: frozenset[str]
    rounding: tuple[int, str] | None = None  # the scorecard's places and mode, for showing the total


@attrs.frozen
class PaidLine:
    """A line already paid (from an earlier payout register)."""

    person: str
    period: Period
    line: str
    amount: Fraction
    where: Location


@attrs.frozen
class PayInputs:
    """Everything a pay run reads, validated."""

    people: Mapping[str, tuple[Assignment, ...]]
    scores: Mapping[tuple[str, Period], Scores]
    credits: tuple[CreditLine, ...]
    deals: Mapping[str, Deal]
    paid: tuple[PaidLine, ...]
    warnings: tuple[Issue, ...] = ()


# --- cells --------------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return text or None


def _date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        msg = f"{text!r} is not an ISO date (YYYY-MM-DD)"
        raise ValueError(msg) from None


def _money(value: object, *, percent: bool = False) -> Fraction | None:
    if is_number(value):
        return as_fraction(value)
    text = _text(value)
    if text is None:
        return None
    try:
        return as_fraction(to_decimal(text, allow_percent=percent))
    except NumberFormatError as exc:
        raise ValueError(str(exc)) from None


def _ratio(value: object, *, percent: bool = True) -> Fraction | None:
    """An exact value: a decimal, a percent, or ``n/d`` (how run records keep values with no decimal form)."""
    text = _text(value) if not is_number(value) else None
    if text is not None and "/" in text:
        top, _, bottom = text.partition("/")
        try:
            result = Fraction(int(top.strip()), int(bottom.strip()))
        except (ValueError, ZeroDivisionError):
            msg = f"{text!r} is not a number"
            raise ValueError(msg) from None
        return result
    return _money(value, percent=percent)


class _Reader:
    """Reads one table's rows, collecting located issues."""

    def __init__(
        self, table: Table, known: Sequence[str], required: Sequence[str], ignored: Sequence[str] = ()
    ) -> None:
        self.table = table
        self.issues: list[Issue] = []
        self.known = set(known) | set(ignored)
        self.required = required

    def add(self, line: int, column: str | None, code: str, message: str, suggestion: str | None = None) -> None:
        self.issues.append(Issue(code, message, column or "", self.table.where(line, column), "error", suggestion))

    def rows(self, *, extra: bool = False) -> Iterable[tuple[int, Mapping[str, Any]]]:
        reported: set[str] = set()
        for line, raw in self.table.rows:
            if not extra:
                for column in raw:
                    if column not in self.known and column not in reported:
                        reported.add(column)
                        self.add(
                            line,
                            column,
                            "unknown_column",
                            f"unknown column '{column}'",
                            did_you_mean(column, self.known),
                        )
            missing = [c for c in self.required if _text(raw.get(c)) is None]
            for column in missing:
                self.add(line, column, "missing_value", f"'{column}' is required")
            if missing:
                continue
            yield line, raw

    def cell(self, line: int, raw: Mapping[str, Any], column: str, read: Any, **kwargs: Any) -> Any:
        try:
            return read(raw.get(column), **kwargs)
        except ValueError as exc:
            self.add(line, column, "bad_value", f"'{column}': {exc}")
            return None


# --- people -------------------------------------------------------------------------------------


def prepare_people(plan: PayPlan, table: Table) -> dict[str, tuple[Assignment, ...]]:
    """Everyone's assignments by person, in date order, checked (rows of other plans give teams, not pay).

    Raises:
        DataError: a missing person or target, a bad date or amount, a currency other than the plan's,
            an end before a start, two assignments of one person that overlap (each located).
    """
    reader = _Reader(table, PEOPLE_COLUMNS, ("person",))
    out: dict[str, list[Assignment]] = defaultdict(list)
    for line, raw in reader.rows():
        plan_id = _text(raw.get("plan"))
        person = _text(raw.get("person"))
        assert person is not None
        start = reader.cell(line, raw, "start", _date)
        end = reader.cell(line, raw, "end", _date)
        if start and end and end < start:
            reader.add(line, "end", "bad_dates", f"ends {end} before it starts {start}")
            continue
        currency = _text(raw.get("currency"))
        ours = plan_id is None or plan_id == plan.id
        if ours and currency is not None and currency != plan.currency:
            reader.add(
                line,
                "currency",
                "bad_currency",
                f"pay in {currency}, but plan '{plan.id}' pays in {plan.currency} (no conversion is made)",
            )
        base = reader.cell(line, raw, "base_salary", _money)
        pool_weight = reader.cell(line, raw, "pool_weight", _ratio)
        if pool_weight is not None and pool_weight < 0:
            reader.add(line, "pool_weight", "bad_value", "'pool_weight' cannot be negative")
            continue
        given = _text(raw.get("target_incentive"))
        target: Fraction | None = None
        if given is None and not ours:
            target = Fraction(0)  # a member of a team, paid by another plan
        elif given is None:
            reader.add(line, "target_incentive", "missing_value", "'target_incentive' is required")
        elif given.endswith("%"):
            share = reader.cell(line, raw, "target_incentive", _money, percent=True)
            if share is not None and base is None:
                reader.add(line, "target_incentive", "bad_value", f"{given} of what? give base_salary too")
            elif share is not None and base is not None:
                target = share * base
        else:
            target = reader.cell(line, raw, "target_incentive", _money)
        for column, value in (("target_incentive", target), ("base_salary", base)):
            if value is not None and value < 0:
                reader.add(line, column, "bad_value", f"'{column}' cannot be negative")
        if target is None or target < 0:
            continue
        out[person].append(
            Assignment(
                person,
                start,
                end,
                _text(raw.get("team")),
                _text(raw.get("leads")),
                target,
                base,
                _text(raw.get("name")),
                table.where(line),
                plan_id,
                pool_weight,
            )
        )
    for person, rows in out.items():
        rows.sort(key=lambda a: a.start or dt.date.min)
        for a, b in itertools.pairwise(rows):
            if a.end is None or (b.start is not None and b.start <= a.end) or b.start is None:
                reader.issues.append(
                    Issue(
                        "overlapping_assignments",
                        f"'{person}' has two assignments at once: {_span(a)} (row {a.where.line}) and {_span(b)}",
                        "start",
                        b.where,
                    )
                )
    if reader.issues:
        raise DataError.from_issues(reader.issues, f"people {table.name}")
    return {p: tuple(rows) for p, rows in sorted(out.items())}


def _span(a: Assignment) -> str:
    return f"{a.start or '…'} – {a.end or '…'}"


# --- credits ------------------------------------------------------------------------------------


def prepare_credits(table: Table, places: int = 2) -> tuple[CreditLine, ...]:
    """Credited deals, one line per person and deal; a split deal's amount apportioned to the cent.

    Raises:
        DataError: a missing or bad cell, a deal credited twice to one person, the rows of a deal
            with different amounts or dates, split shares that do not add up to 100 %.
    """
    reader = _Reader(table, CREDIT_COLUMNS, ("deal_id", "credited_to", "amount", "date"), CREDIT_IGNORED + DEAL_FACTS)
    by_deal: dict[str, list[tuple[int, str, Fraction, Fraction | None, dt.date]]] = defaultdict(list)
    for line, raw in reader.rows():
        deal = _text(raw.get("deal_id"))
        person = _text(raw.get("credited_to"))
        amount = reader.cell(line, raw, "amount", _money)
        day = reader.cell(line, raw, "date", _date)
        share = reader.cell(line, raw, "share", _money, percent=True)
        if share is not None and not 0 <= share <= 1:
            reader.add(line, "share", "bad_value", "a share is between 0 and 100%")
            continue
        if amount is None or day is None or deal is None or person is None:
            continue
        by_deal[deal].append((line, person, amount, share, day))
    out: list[CreditLine] = []
    for deal, rows in sorted(by_deal.items()):
        line0, _, amount, _, day = rows[0]
        people = [r[1] for r in rows]
        twice = {p for p in people if people.count(p) > 1}
        for line, _, other_amount, _, other_day in rows[1:]:
            if other_amount != amount or other_day != day:
                reader.add(line, "amount", "split_mismatch", f"deal '{deal}' has another amount or date on row {line0}")
        if twice:
            reader.add(
                rows[-1][0],
                "credited_to",
                "duplicate_credit",
                f"deal '{deal}' is credited twice to " + ", ".join(sorted(twice)),
            )
            continue
        shares = [r[3] for r in rows]
        if len(rows) == 1 and shares[0] is None:
            shares = [Fraction(1)]
        if any(s is None for s in shares) or sum(s for s in shares if s is not None) != 1:
            given = ", ".join("?" if s is None else f"{s * 100}%" for s in shares)
            reader.add(rows[-1][0], "share", "split_sum", f"the shares of deal '{deal}' add up to 100%, not [{given}]")
            continue
        unit = 10**places
        cents = int(amount * unit)
        exact_cents = amount * unit == cents
        weights = [(i, s) for i, s in enumerate(shares) if s is not None]
        parts = split(cents, weights) if exact_cents else {i: None for i, _ in weights}
        for i, (line, person, _, _, _) in enumerate(rows):
            share = shares[i]
            assert share is not None
            part = parts[i]
            value = Fraction(part, unit) if part is not None else amount * share
            out.append(CreditLine(deal, person, value, amount, share, day, table.where(line)))
    if reader.issues:
        raise DataError.from_issues(reader.issues, f"credits {table.name}")
    return tuple(sorted(out, key=lambda c: (c.date, c.deal_id, c.person)))


HOUSE = "house"  # the house account as kpi attribute writes it (the policy's default): a company's, not a rep's


def is_attribution(value: object) -> bool:
    """Whether ``value`` is an ``Attribution`` (credits and the policy that decided them), not credit rows."""
    return hasattr(value, "credits") and hasattr(value, "policy")


def credits_from_attribution(result: Any) -> Table:
    """The credits of an ``Attribution`` as a credits table (one row per deal; the house account's left out)."""
    house = result.policy.house
    rows = [
        {"deal_id": c.deal_id, "credited_to": c.credited_to, "amount": c.amount, "date": c.date.isoformat()}
        for c in result.credits
        if c.credited_to != house
    ]
    return Table.from_rows(rows, "attribution")


# --- deals --------------------------------------------------------------------------------------


def facts_on_credits(table: Table) -> Table | None:
    """The deal facts written on credit rows (``paid``, ``cancelled``…), one row per deal, or ``None``.

    Raises:
        DataError: when two rows of one deal (a split) give different facts.
    """
    columns = set(table.header or (table.dict_rows[0][1] if table.dict_rows else ()))
    wanted = [c for c in DEAL_FACTS if c in columns]
    if not wanted:
        return None
    first: dict[str, tuple[int, tuple[object, ...]]] = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    issues: list[Issue] = []
    for line, raw in table.rows:
        deal = _text(raw.get("deal_id"))
        if deal is None:
            continue
        facts = tuple(_text(raw.get(c)) for c in wanted)
        if deal in first:
            if first[deal][1] != facts:
                issues.append(Issue("split_mismatch", f"deal '{deal}' has other facts on row {first[deal][0]}",
                                    "deal_id", table.where(line, "deal_id")))  # fmt: skip
            continue
        first[deal] = (line, facts)
        rows.append((line, {"deal_id": deal, **{c: raw.get(c) for c in wanted}}))
    if issues:
        raise DataError.from_issues(issues, f"credits {table.name}")
    return Table(table.name, tuple(rows), table.columns)


def prepare_deals(table: Table, lines: Sequence[CreditLine]) -> dict[str, Deal]:
    """Deal facts by id.

    Raises:
        DataError: a deal listed twice, a bad date or amount, a refund larger than the deal, a
            cancellation before the deal.
    """
    reader = _Reader(table, DEAL_COLUMNS, ("deal_id",))
    credited = {c.deal_id: c for c in lines}
    out: dict[str, Deal] = {}
    for line, raw in reader.rows():
        deal = _text(raw.get("deal_id"))
        assert deal is not None
        if deal in out:
            reader.add(line, "deal_id", "duplicate_deal", f"deal '{deal}' is listed twice")
            continue
        paid = reader.cell(line, raw, "paid", _date)
        cancelled = reader.cell(line, raw, "cancelled", _date)
        refund = reader.cell(line, raw, "refund", _money)
        credit = credited.get(deal)
        if refund is not None and (refund < 0 or (credit is not None and refund > credit.deal_amount)):
            reader.add(line, "refund", "bad_value", "a refund is between 0 and the deal's amount")
            continue
        if refund is not None and cancelled is None:
            reader.add(line, "cancelled", "missing_value", "a refund needs the date it was made ('cancelled')")
            continue
        if cancelled is not None and credit is not None and cancelled < credit.date:
            reader.add(line, "cancelled", "bad_dates", f"cancelled {cancelled}, before the deal ({credit.date})")
            continue
        out[deal] = Deal(
            deal, _text(raw.get("product")), _text(raw.get("type")), paid, cancelled, refund, table.where(line)
        )
    if reader.issues:
        raise DataError.from_issues(reader.issues, f"deals {table.name}")
    return out


# --- appraisals ---------------------------------------------------------------------------------


def scores_from_appraisal(appraisal: Appraisal) -> list[Scores]:
    """What pay reads of an appraisal: per subject, total, grade, multiplier, applied gates and values.

    Values: each KPI's metric value under the metric's name, its score as ``<kpi>.score``, and
    the metrics the scorecard reports.
    """
    period = _appraisal_period(appraisal)
    out: list[Scores] = []
    for r in appraisal.results:
        values: dict[str, Fraction | None] = {}
        for k in r.kpis:
            values[k.metric] = as_fraction(k.value) if is_number(k.value) else None
            score = _exact(k, "score")
            values[f"{k.id}.score"] = as_fraction(score) if is_number(score) else None
        for name, value in r.metrics.items():
            values[name] = as_fraction(value) if is_number(value) else None
        total = _exact(r, "total")
        out.append(
            Scores(
                r.subject,
                period,
                as_fraction(total) if is_number(total) else None,
                r.grade,
                as_fraction(r.bonus_multiplier) if r.bonus_multiplier is not None else None,
                values,
                frozenset(g.id for g in r.gates if g.outcome == "applied"),
                (appraisal.places, appraisal.rounding),
            )
        )
    return out


def _exact(result: object, name: str) -> object:
    """A result's exact figure: ``<name>_exact`` where results report rounded figures, else ``<name>``."""
    return getattr(result, f"{name}_exact", getattr(result, name, None))


def _appraisal_period(appraisal: Appraisal) -> Period:
    kind = appraisal.scorecard.period if appraisal.scorecard is not None else None
    if kind is None:
        msg = "an appraisal without its scorecard cannot be paid (give the Appraisal that evaluate() returned)"
        raise DataError(msg)
    return Period.parse(appraisal.period, kind)


def prepare_scores(plan: PayPlan, table: Table) -> list[Scores]:
    """Appraisals given as rows: subject, period, total, grade, bonus_multiplier, gates, and values.

    Raises:
        DataError: a missing subject or period, a period of another kind than the plan's, a bad number,
            a subject appraised twice in a period.
    """
    reader = _Reader(table, APPRAISAL_KEYS, ("subject", "period"))
    out: list[Scores] = []
    seen: set[tuple[str, Period]] = set()
    for line, raw in reader.rows(extra=True):
        subject = _text(raw.get("subject"))
        assert subject is not None
        try:
            period = Period.parse(str(raw.get("period")), plan.period)
        except ValueError as exc:
            reader.add(line, "period", "bad_period", str(exc))
            continue
        if (subject, period) in seen:
            reader.add(line, "subject", "duplicate_record", f"'{subject}' is appraised twice in {period}")
            continue
        seen.add((subject, period))
        total = reader.cell(line, raw, "total", _ratio)
        multiplier = reader.cell(line, raw, "bonus_multiplier", _ratio)
        values: dict[str, Fraction | None] = {}
        for column in raw:
            if column in APPRAISAL_KEYS:
                continue
            values[column] = reader.cell(line, raw, column, _ratio)
        gates = frozenset((_text(raw.get("gates")) or "").replace(",", " ").split())
        out.append(Scores(subject, period, total, _text(raw.get("grade")), multiplier, values, gates))
    if reader.issues:
        raise DataError.from_issues(reader.issues, f"appraisals {table.name}")
    return out


# --- lines already paid -------------------------------------------------------------------------


def prepare_paid(plan: PayPlan, table: Table) -> tuple[PaidLine, ...]:
    """Lines already paid (an earlier payout register), for true-ups.

    Raises:
        DataError: a missing or bad cell, a currency other than the plan's, a line listed twice.
    """
    reader = _Reader(table, PAID_COLUMNS, PAID_COLUMNS, PAID_IGNORED)
    out: list[PaidLine] = []
    seen: set[tuple[str, Period, str]] = set()
    for line, raw in reader.rows():
        person, name = _text(raw.get("person")), _text(raw.get("line"))
        assert person is not None
        assert name is not None
        try:
            period = Period.parse(str(raw.get("period")), plan.period)
        except ValueError as exc:
            reader.add(line, "period", "bad_period", str(exc))
            continue
        currency = _text(raw.get("currency"))
        if currency is not None and currency != plan.currency:
            reader.add(line, "currency", "bad_currency", f"paid in {currency}, not {plan.currency}")
            continue
        amount = reader.cell(line, raw, "amount", _money)
        if amount is None:
            continue
        if (person, period, name) in seen:
            reader.add(line, "line", "duplicate_line", f"line '{name}' of '{person}' in {period} is listed twice")
            continue
        seen.add((person, period, name))
        out.append(PaidLine(person, period, name, amount, table.where(line)))
    if reader.issues:
        raise DataError.from_issues(reader.issues, f"paid {table.name}")
    return tuple(out)
