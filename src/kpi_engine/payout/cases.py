"""Pay plan tests kept as data: run a plan's embedded ``cases`` and compare with expectations.

Amounts compare at the plan's places, as the payout shows them: ``total: 6500.00``.
"""

from __future__ import annotations

from decimal import Decimal

from kpi_engine._numbers import exactly
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.cases import CaseResult, Mismatch
from kpi_engine.evaluation.records import Table
from kpi_engine.payout.engine import pay
from kpi_engine.payout.model import PayPlan


def _show(value: Decimal) -> str:
    return format(value, "f")


@exactly
def run_pay_cases(plan: PayPlan) -> list[CaseResult]:
    """Run every case embedded in the pay plan and report each."""
    out: list[CaseResult] = []
    unit = Decimal(1).scaleb(-plan.places)
    for case in plan.spec.cases:
        label = f"{plan.file}#cases.{case.name}"
        try:
            run = pay(
                plan,
                Table.from_rows(case.appraisals, f"{label}.appraisals"),
                Table.from_rows(case.people, f"{label}.people"),
                credits=Table.from_rows(case.credits, f"{label}.credits") if case.credits else None,
                deals=Table.from_rows(case.deals, f"{label}.deals") if case.deals else None,
                paid=Table.from_rows(case.paid, f"{label}.paid") if case.paid else None,
                period=case.period,
            )
        except KpiError as exc:
            out.append(CaseResult(case.name, error=exc.render()))
            continue
        mismatches: list[Mismatch] = []
        for person, expect in case.expect.items():
            try:
                result = run.person(person)
            except KeyError:
                mismatches.append(Mismatch(person, "person", "paid", "not paid in " + run.period))
                continue
            wanted: list[tuple[str, Decimal, Decimal | None]] = []
            if expect.total is not None:
                wanted.append(("total", expect.total, result.total))
            wanted.extend((f"components.{c}", v, result.component(c)) for c, v in expect.components.items())
            for line_id, v in expect.lines.items():
                try:
                    got: Decimal | None = result.line(line_id).amount
                except KeyError:
                    got = None
                wanted.append((f"lines.{line_id}", v, got))
            for what, want, actual in wanted:
                if actual is None or actual != want.quantize(unit):
                    shown = "no such line" if actual is None else _show(actual)
                    mismatches.append(Mismatch(person, what, _show(want.quantize(unit)), shown))
        out.append(CaseResult(case.name, tuple(mismatches)))
    return out
