"""Feeding scorecards from deal credits: credit fields merged into the records of each rep and period.

``kpi evaluate --policy … --lead-events …`` and pay (``appraise_periods(…, credits=…)``) fill a
scorecard's attribution inputs (``credited_deals``, ``credited_amount``, ``lead_registrations``,
``timely_follow_ups``) and the inputs declared ``from: {credits: …}`` here, with one semantic
whether the credits come from an ``Attribution`` or from a credits table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from kpi_engine.attribution._engine import Attribution
from kpi_engine.errors import DataError, Issue
from kpi_engine.evaluation.records import Table
from kpi_engine.time.periods import Period

CREDIT_FIELDS = ("credited_deals", "credited_amount", "lead_registrations", "timely_follow_ups")


def merge_records(
    tables: list[Table],
    attribution: Attribution,
    fields: set[str],
    period: Any,
    sources: Mapping[str, str] | None = None,
) -> list[Table]:
    """Add attribution fields (only those in ``fields``) to the matching subject-period rows.

    ``sources`` maps further inputs to the credit field they take (an input declared
    ``from: {credits: credited_amount}``, such as S1's ``sales_actual``); a rep the log knows (a
    closer, an owner or a credited rep) with no credit in a period the log covers gets 0 there, as
    a rep with no sale sold nothing. Reps with credits but no record get a row of their own. A
    field already filled in a record is a conflict, reported as an error rather than overwritten.

    Raises:
        DataError: on conflicts, or when the ruleset declares none of the attribution fields.
    """
    known = {c.closer for c in attribution.credits} | {c.credited_to for c in attribution.credits}
    known |= {c.owner for c in attribution.credits if c.owner} | {f.owner for f in attribution.follow_ups}
    known.discard(attribution.policy.house)
    return merge_credit_rows(tables, attribution.to_rows(period), known, fields, period, sources)


def merge_credit_rows(
    tables: list[Table],
    extra: list[dict[str, Any]],
    known: set[str],
    fields: set[str],
    period: Any,
    sources: Mapping[str, str] | None = None,
    available: Iterable[str] = CREDIT_FIELDS,
    origin: str = "attribution",
) -> list[Table]:
    """``merge_records`` on credit rows already summed per rep and period (``Attribution.to_rows``'s shape).

    ``extra`` holds ``subject``, ``period`` and the ``available`` credit fields (a credits table
    has ``credited_deals`` and ``credited_amount`` only: follow-ups are the lead log's); ``known``
    are the reps that sold 0 in a period the rows cover when they have no row there. ``origin``
    (``attribution`` or ``credits``) is named in a conflict and names the rows of reps with credits
    but no record.

    Raises:
        DataError: on conflicts, or when the ruleset declares none of the available fields.
    """
    credit_fields = set(available)
    taken = {f: f for f in sorted(fields & credit_fields)}
    taken.update({name: field for name, field in (sources or {}).items() if field in credit_fields})
    wanted = sorted(taken)
    if not wanted:
        msg = (
            "the ruleset declares none of the attribution inputs: "
            + ", ".join(f for f in CREDIT_FIELDS if f in credit_fields)
            + " (or from: {credits: …})"
        )
        raise DataError(msg)
    by_key = {(r["subject"], r["period"]): r for r in extra}
    covered = {r["period"] for r in extra}
    zero = {n: Decimal(0) if f == "credited_amount" else 0 for n, f in taken.items() if n not in CREDIT_FIELDS}
    by = "by attribution" if origin == "attribution" else f"from the {origin}"
    used: set[tuple[str, str]] = set()
    issues: list[Issue] = []
    out: list[Table] = []
    for table in tables:
        rows = []
        for line, raw in table.rows:
            try:
                key = (str(raw.get("subject", "")).strip(), str(Period.parse(str(raw.get("period", "")), period)))
            except ValueError:
                rows.append((line, raw))
                continue
            add = by_key.get(key)
            if add is None:
                empty = [n for n in zero if not str(raw.get(n) or "").strip()]
                if empty and key[0] in known and key[1] in covered:  # a rep of the log without a credit: 0
                    rows.append((line, {**raw, **{n: zero[n] for n in empty}}))
                else:
                    rows.append((line, raw))
                continue
            used.add(key)
            merged = dict(raw)
            for f in wanted:
                if str(merged.get(f) or "").strip():
                    issues.append(
                        Issue(
                            "conflict",
                            f"'{f}' is given in the record and also computed {by}",
                            f,
                            table.where(line, f),
                        )
                    )
                merged[f] = add[taken[f]]
            rows.append((line, merged))
        out.append(Table(table.name, tuple(rows), table.columns))
    if issues:
        raise DataError.from_issues(issues, "records")
    rest = [
        {"subject": r["subject"], "period": r["period"], **{f: r[taken[f]] for f in wanted}}
        for k2, r in by_key.items()
        if k2 not in used
    ]
    if rest:
        out.append(Table.from_rows(rest, origin))
    return out


__all__ = ["CREDIT_FIELDS", "merge_credit_rows", "merge_records"]
