"""Appraisals for pay: a scorecard evaluated for every period of its records, up to the pay period."""

from __future__ import annotations

from kpi_engine.errors import DataError
from kpi_engine.evaluation.engine import RecordsLike, RowsLike, evaluate
from kpi_engine.evaluation.records import as_tables
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.build import Ruleset
from kpi_engine.payout.model import PayPlan
from kpi_engine.time.periods import Period


def appraise_periods(
    ruleset: Ruleset,
    records: RecordsLike,
    *,
    members: RowsLike | None = None,
    events: RowsLike | None = None,
    through: str | None = None,
    strict: bool = False,
    plan: PayPlan | None = None,
) -> list[Appraisal]:
    """Evaluate ``ruleset`` for each period found in the records (up to ``through``), oldest first.

    With a ``plan``, the ruleset is checked to be the one the plan reads (its id and period kind).

    Raises:
        DataError: a ruleset other than the plan's, or of another period kind; as ``evaluate``.
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
