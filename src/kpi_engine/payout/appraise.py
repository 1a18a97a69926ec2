"""Appraisals for pay: a scorecard evaluated for every period of its records, up to the pay period.

The deals credited to each rep mean one thing for the appraisal and for commission: given to
``appraise_periods(…, credits=…)`` — an ``Attribution`` or rows of a credits table, as ``pay``
takes them — they fill the scorecard's inputs declared ``from: {credits: …}`` (S1's
``sales_actual``) and its attribution inputs, exactly as ``kpi evaluate --policy … --lead-events …``
does, and a rep's part of a split deal is the part commission pays on.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction
from typing import Any

from kpi_engine._numbers import settle
from kpi_engine.attribution._feed import CREDIT_FIELDS, merge_credit_rows, merge_records
from kpi_engine.errors import DataError
from kpi_engine.evaluation.engine import RecordsLike, RowsLike, evaluate
from kpi_engine.evaluation.records import Table, as_table, as_tables
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.build import Ruleset
from kpi_engine.payout.inputs import HOUSE, is_attribution, prepare_credits
from kpi_engine.payout.model import PayPlan
from kpi_engine.time.periods import Period

# What a credits table gives a scorecard: its deals, not the lead log's follow-ups.
TABLE_FIELDS = ("credited_deals", "credited_amount")


def appraise_periods(
    ruleset: Ruleset,
    records: RecordsLike,
    *,
    members: RowsLike | None = None,
    events: RowsLike | None = None,
    credits: Any = None,  # noqa: A002 - the input's name, as in pay()
    through: str | None = None,
    strict: bool = False,
    plan: PayPlan | None = None,
) -> list[Appraisal]:
    """Evaluate ``ruleset`` for each period found in the records (up to ``through``), oldest first.

    With a ``plan``, the ruleset is checked to be the one the plan reads (its id and period kind).

    Args:
        ruleset: the scorecard the plan reads.
        records: its records (tables or rows).
        members: membership rows, for team scorecards.
        events: event rows, for inputs and metrics the events give.
        credits: the credited deals ``pay`` reads (an ``Attribution``, or rows of ``deal_id,
            credited_to, amount, date[, share]``): they fill the inputs declared ``from: {credits:
            …}`` and the attribution inputs of the records (``with_credits``). A scorecard that
            takes no credits is appraised without them.
        through: the last period to appraise (the pay period).
        strict: every N/A is an error.
        plan: the pay plan, to check the ruleset against.

    Raises:
        DataError: a ruleset other than the plan's, or of another period kind; a value typed in a
            record that the credits also give (``conflict``); as ``evaluate``.
    """
    card = ruleset.scorecard
    if plan is not None:
        wanted = plan.spec.ruleset
        if wanted is not None and wanted != ruleset.id:
            raise DataError(f"pay plan '{plan.id}' reads the appraisal of '{wanted}', not of '{ruleset.id}'")
        if card.period != plan.period:
            msg = f"ruleset '{ruleset.id}' appraises per {card.period}, but pay plan '{plan.id}' pays per {plan.period}"
            raise DataError(msg)
    tables = as_tables(records, "records")
    if credits is not None:
        tables = with_credits(ruleset, tables, credits, plan.places if plan is not None else 2)
    last = Period.parse(through, card.period) if through is not None else None
    periods: set[Period] = set()
    for table in tables:
        for _, raw in table.rows:
            try:
                period = Period.parse(str(raw.get("period", "")), card.period)
            except ValueError:
                continue  # evaluate names the row
            if last is None or period <= last:
                periods.add(period)
    return [
        evaluate(ruleset, tables, period=str(p), members=members, events=events, strict=strict) for p in sorted(periods)
    ]


def with_credits(ruleset: Ruleset, tables: list[Table], credits: Any, places: int = 2) -> list[Table]:  # noqa: A002
    """The records with the scorecard's credit inputs filled from ``credits`` (one semantic for both forms).

    From an ``Attribution``: ``merge_records``, as ``kpi evaluate --policy … --lead-events …``.
    From rows of a credits table (``kpi attribute --format csv``, or any ``deal_id, credited_to,
    amount, date[, share]``): each rep's ``credited_deals`` and ``credited_amount`` per period — a
    split deal counts the rep's part, apportioned to the cent with ``places`` as commission does —
    merged the same way: a value typed for a rep with credits in that period is a conflict, a rep
    the table names (``credited_to``, ``closer``, ``owner``) with no credit in a period it covers
    sold 0, and the house account (``house``) is nobody's. A table carries no follow-ups:
    ``lead_registrations`` and ``timely_follow_ups`` come from a lead log or are typed.

    Raises:
        DataError: a bad credit row (located), a conflict with a typed value.
    """
    card = ruleset.scorecard
    fields = set(card.inputs)
    sources = {n: i.source.credits for n, i in card.inputs.items() if i.source and i.source.credits}
    if is_attribution(credits):
        if not fields & set(CREDIT_FIELDS) and not sources:
            return tables
        return merge_records(tables, credits, fields, card.period, sources)
    if not fields & set(TABLE_FIELDS) and not set(sources.values()) & set(TABLE_FIELDS):
        return tables
    table = as_table(credits, "credits")
    lines = [c for c in prepare_credits(table, places) if c.person != HOUSE]
    deals: dict[tuple[str, str], int] = defaultdict(int)
    amounts: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for c in lines:
        key = (c.person, str(Period.containing(c.date, card.period)))
        deals[key] += 1
        amounts[key] += c.amount
    extra = [
        {"subject": rep, "period": period, "credited_deals": deals[rep, period],
         "credited_amount": settle(amounts[rep, period])}
        for rep, period in sorted(deals)
    ]  # fmt: skip
    known = {c.person for c in lines}
    for _, raw in table.rows:
        for column in ("closer", "owner"):
            name = str(raw.get(column) or "").strip()
            if name:
                known.add(name)
    known.discard(HOUSE)
    return merge_credit_rows(tables, extra, known, fields, card.period, sources, TABLE_FIELDS, origin="credits")
