"""The columnar executor's scorecard pass: the plan's column kernels over every appraised subject.

Walks the plan in the row executor's order — each KPI's value → score (``ops.scoring``),
adjustments, ``zero_section`` gates, sections and renormalisation (``ops.weights``), the other
gates — and bundles the columns in ``Scored``; ``_run._materialise`` adds grades, ranks and flags
and turns it into the row executor's result objects.
"""

from __future__ import annotations

import attrs

from kpi_engine._columns import Arr, Bool, Column, Ctx, Num
from kpi_engine.plan import Plan
from kpi_engine.plan.ops.scoring import ColumnFlags


@attrs.define
class KpiColumns:
    value: Column
    score: Num  # N/A where excluded
    flags: ColumnFlags  # flag name and the rows it applies to, in the row path's order
    band: list[str | None] | None = None
    share: Num | None = None
    contribution: Num | None = None


@attrs.define
class Scored:
    """Every column the result objects are made of."""

    n: int
    kpis: dict[str, KpiColumns]
    sections: dict[str, tuple[Num, Num, Arr, Arr]]  # score (N/A when excluded), share, live, zeroed
    gates: dict[str, Bool]
    adjustments: list[tuple[str, Arr, Bool]]  # id, rows where recorded, holds
    total: Num
    before: Num
    forced: Arr  # object array of forced grades (None where none)
    strict_na: bool  # a strict run met an N/A: the row path reports it
    na_error: bool  # on_missing: error met an N/A


def run(plan: Plan, ctx: Ctx, env: dict[str, Column], *, strict: bool) -> Scored:
    """Evaluate the scorecard over all rows of ``env`` (metric name → column)."""
    card = plan.card
    strict_na = False
    na_error = False
    scores: list[Num] = []
    flags: list[ColumnFlags] = []
    bands: list[list[str | None] | None] = []
    for op in plan.kpis:
        score, kpi_flags, band, refused_strict, refused_error = op.column(ctx, env[op.metric], env, strict=strict)
        strict_na = strict_na or refused_strict
        na_error = na_error or refused_error
        scores.append(score)
        flags.append(kpi_flags)
        bands.append(band)
    adjustments, adjusted_na = plan.adjustments.column(ctx, scores, flags, env, strict=strict)
    strict_na = strict_na or adjusted_na
    gates, zeroed_by = plan.gates.early_column(ctx, env, [s.id for s in card.sections])
    combined = plan.weights.column(ctx, scores, zeroed_by)
    kpis: dict[str, KpiColumns] = {}
    for i, kpi in enumerate(card.kpis):
        zeroed = combined.zeroed[i]
        if zeroed is not None:
            flags[i].append(("section_zeroed", zeroed))
        kpis[kpi.id] = KpiColumns(
            env[kpi.metric], scores[i], flags[i], bands[i], combined.shares[i], combined.contributions[i]
        )
    before = combined.total
    total, forced = plan.gates.column(ctx, before, combined.any_live, env, gates)
    if strict:
        for holds in gates.values():
            if holds.na is not None and holds.na.any():
                strict_na = True
    return Scored(ctx.n, kpis, combined.sections, gates, adjustments, total, before, forced, strict_na, na_error)
