"""The impact of a new ruleset version on the same records: who moves, by how much, and why.

Both appraisals are compared through the result objects, exactly: a subject is listed when its
total, grade, rank or bonus multiplier changes, largest change of total first, with the KPI whose
contribution moved most. The summary counts grade moves up and down and the change in the sum
of bonus multipliers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from kpi_engine import _numbers as exact
from kpi_engine._numbers import ZERO, Number, canonical, quantize
from kpi_engine.evaluation.results import Appraisal, SubjectResult
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Scorecard


@attrs.frozen
class SubjectImpact:
    """How one subject's outcome changes from the old version to the new one."""

    subject: str
    total: tuple[Number | None, Number | None]
    grade: tuple[str | None, str | None]
    rank: tuple[int | None, int | None]
    bonus_multiplier: tuple[Decimal | None, Decimal | None]
    delta_total: Number | None
    grade_move: int  # +1 up a grade (or more), -1 down, 0 same
    top_kpi: str | None  # the KPI whose contribution moved most
    top_kpi_delta: Number | None


@attrs.frozen
class Impact:
    """The subjects whose outcome changes and the totals of the change."""

    before: Appraisal
    after: Appraisal
    changes: tuple[SubjectImpact, ...]
    unchanged: int
    grades_up: int
    grades_down: int
    bonus_before: Number
    bonus_after: Number

    def to_dict(self, places: int | None = None) -> dict[str, Any]:
        """JSON-ready mapping; exact values as canonical text (``places`` rounds them for display)."""

        def num(value: Number | None) -> str | None:
            if value is None:
                return None
            if places is None:
                return canonical(value)
            return format(quantize(value, places, self.after.rounding), "f")

        return {
            "before": {"ruleset": self.before.ruleset_id, "version": self.before.version, "sha256": self.before.sha256},
            "after": {"ruleset": self.after.ruleset_id, "version": self.after.version, "sha256": self.after.sha256},
            "period": self.after.period,
            "summary": {
                "subjects": len(self.changes) + self.unchanged,
                "changed": len(self.changes),
                "unchanged": self.unchanged,
                "grades_up": self.grades_up,
                "grades_down": self.grades_down,
                "bonus_multiplier_total": {
                    "before": num(self.bonus_before),
                    "after": num(self.bonus_after),
                    "change": num(exact.sub(self.bonus_after, self.bonus_before)),
                },
            },
            "changes": [
                {
                    "subject": c.subject,
                    "total": [num(c.total[0]), num(c.total[1])],
                    "delta_total": num(c.delta_total),
                    "grade": list(c.grade),
                    "grade_move": c.grade_move,
                    "rank": list(c.rank),
                    "bonus_multiplier": [num(c.bonus_multiplier[0]), num(c.bonus_multiplier[1])],
                    "top_kpi": c.top_kpi,
                    "top_kpi_delta": num(c.top_kpi_delta),
                }
                for c in self.changes
            ],
        }


def undated(ruleset: Ruleset) -> Ruleset:
    """The same rules without effective dates: to apply a draft or an old version to any period's records."""
    if ruleset.spec.effective is None:
        return ruleset
    return attrs.evolve(ruleset, spec=ruleset.spec.model_copy(update={"effective": None}))


def _grade_order(old: Scorecard, new: Scorecard) -> dict[str, Decimal]:
    """Each grade's lower bound (the best grade has the highest); an open band ranks lowest."""
    order: dict[str, Decimal] = {}
    for card in (old, new):
        for g in card.grades:
            order[g.grade] = g.min if g.min is not None else Decimal("-Infinity")
    return order


def _contribution(r: SubjectResult | None, kpi: str) -> Number:
    if r is None:
        return ZERO
    for k in r.kpis:
        if k.id == kpi:
            return k.contribution_exact
    return ZERO


def _top_kpi(a: SubjectResult | None, b: SubjectResult | None) -> tuple[str | None, Number | None]:
    ids = [k.id for k in (a.kpis if a else ())] + [k.id for k in (b.kpis if b else ()) if not a or k.id not in {
        x.id for x in a.kpis}]  # fmt: skip
    best: tuple[str | None, Number | None] = (None, None)
    for kid in ids:
        delta = exact.sub(_contribution(b, kid), _contribution(a, kid))
        if delta != 0 and (best[1] is None or exact.absolute(delta) > exact.absolute(best[1])):
            best = (kid, delta)
    return best


def impact(before: Appraisal, after: Appraisal, old: Scorecard, new: Scorecard) -> Impact:
    """Compare two appraisals of the same records under two versions of a ruleset.

    Args:
        before: the appraisal under the old version.
        after: the appraisal under the new version, on the same records.
        old: the old compiled scorecard.
        new: the new compiled scorecard (the order of grades is read from both).

    Returns:
        The ``Impact``: changed subjects largest ``|Δ total|`` first (a subject appraised on one
        side only comes first), then by subject id.
    """
    order = _grade_order(old, new)
    a = {r.subject: r for r in before.results}
    b = {r.subject: r for r in after.results}
    changes: list[SubjectImpact] = []
    unchanged = up = down = 0
    for subject in sorted(a.keys() | b.keys()):
        ra, rb = a.get(subject), b.get(subject)
        pair = (
            (ra.total_exact if ra else None, rb.total_exact if rb else None),
            (ra.grade if ra else None, rb.grade if rb else None),
            (ra.rank if ra else None, rb.rank if rb else None),
            (ra.bonus_multiplier if ra else None, rb.bonus_multiplier if rb else None),
        )
        if ra is not None and rb is not None and all(x == y for x, y in pair):
            unchanged += 1
            continue
        total, grade, rank, bonus = pair
        delta = exact.sub(total[1], total[0]) if total[0] is not None and total[1] is not None else None
        move = 0
        if grade[0] != grade[1] and grade[0] in order and grade[1] in order:
            move = (order[grade[1]] > order[grade[0]]) - (order[grade[1]] < order[grade[0]])
        up += move > 0
        down += move < 0
        kid, kdelta = _top_kpi(ra, rb)
        changes.append(SubjectImpact(subject, total, grade, rank, bonus, delta, move, kid, kdelta))
    changes.sort(key=lambda c: (c.delta_total is not None, exact.neg(exact.absolute(c.delta_total or ZERO)), c.subject))
    bonus_a: Number = ZERO
    bonus_b: Number = ZERO
    for r in before.results:
        bonus_a = exact.add(bonus_a, r.bonus_multiplier or ZERO)
    for r in after.results:
        bonus_b = exact.add(bonus_b, r.bonus_multiplier or ZERO)
    return Impact(before, after, tuple(changes), unchanged, up, down, bonus_a, bonus_b)
