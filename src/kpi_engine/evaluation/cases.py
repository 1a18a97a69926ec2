"""Ruleset tests kept as data: run a ruleset's embedded ``cases`` and compare with expectations.

Expected numbers compare with the reported (rounded) values, so an author writes what the
appraisal shows: ``total: 83.33``.
"""

from __future__ import annotations

import attrs

from kpi_engine._numbers import Number, NumberFormatError, exactly, quantize, to_decimal
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.engine import evaluate
from kpi_engine.evaluation.records import Table
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Scorecard


@attrs.frozen
class Mismatch:
    subject: str
    what: str
    expected: str
    actual: str


@attrs.frozen
class CaseResult:
    """The outcome of one case: passed, or the mismatches (or the error) found."""

    name: str
    mismatches: tuple[Mismatch, ...] = ()
    error: str | None = None

    @property
    def passed(self) -> bool:
        """True when the case ran and every expectation held."""
        return self.error is None and not self.mismatches


def _show(value: Number | None, places: int, mode: str) -> str:
    return "N/A" if value is None else format(quantize(value, places, mode), "f")


def _same(score: Number, want: object, card: Scorecard) -> bool:
    try:
        return quantize(score, card.places, card.rounding) == to_decimal(want, allow_percent=False)
    except NumberFormatError:
        return False


@exactly
def run_cases(ruleset: Ruleset) -> list[CaseResult]:
    """Run every case embedded in the ruleset and report each."""
    out: list[CaseResult] = []
    card = ruleset.scorecard
    for case in ruleset.spec.cases:
        label = f"{ruleset.file}#cases.{case.name}"
        try:
            appraisal = evaluate(
                ruleset,
                Table.from_rows(case.records, f"{label}.records"),
                period=case.period,
                members=Table.from_rows(case.members, f"{label}.members"),
                events=Table.from_rows(case.events, f"{label}.events"),
                strict=case.strict,
            )
        except KpiError as exc:
            out.append(CaseResult(case.name, error=exc.render()))
            continue
        mismatches: list[Mismatch] = []
        for subject, expect in case.expect.items():
            try:
                result = appraisal.result(subject)
            except KeyError:
                mismatches.append(Mismatch(subject, "subject", "appraised", "not appraised"))
                continue
            if expect.total is not None:
                actual = _show(result.total_exact, card.places, card.rounding)
                if result.total is None or result.total != expect.total:
                    mismatches.append(Mismatch(subject, "total", format(expect.total, "f"), actual))
            if expect.grade is not None and expect.grade != result.grade:
                mismatches.append(Mismatch(subject, "grade", expect.grade, str(result.grade)))
            if expect.rank is not None and expect.rank != result.rank:
                mismatches.append(Mismatch(subject, "rank", str(expect.rank), str(result.rank)))
            for kpi_id, want in expect.kpis.items():
                try:
                    k = result.kpi(kpi_id)
                except KeyError:
                    mismatches.append(Mismatch(subject, f"kpis.{kpi_id}", str(want), "no such KPI"))
                    continue
                got = "excluded" if k.status == "excluded" else _show(k.score_exact, card.places, card.rounding)
                ok = (
                    str(want) == got
                    if str(want) == "excluded" or k.score_exact is None
                    else _same(k.score_exact, want, card)
                )
                if not ok:
                    mismatches.append(Mismatch(subject, f"kpis.{kpi_id}.score", str(want), got))
        out.append(CaseResult(case.name, tuple(mismatches)))
    return out
