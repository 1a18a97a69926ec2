"""Reported contributions: rounded parts with their residue, or largest-remainder parts that add up."""

from fractions import Fraction

import attrs
from hypothesis import given

from kpi_engine import evaluate
from kpi_engine._numbers import quantize
from kpi_engine.testing import rulesets_with_records


@given(rulesets_with_records(max_kpis=5, max_subjects=4))
def test_reported_parts_and_residue_add_up_to_the_reported_total(pair):
    """Rounded parts plus residue make the reported total; largest-remainder parts make it alone, each within a unit."""
    ruleset, records = pair
    appraisal = evaluate(ruleset, records)
    for mode in ("rounded", "largest_remainder"):
        shown = attrs.evolve(appraisal, contributions=mode)
        unit = Fraction(1, 10**shown.places)
        for r in shown.results:
            parts, residue = shown.reported_contributions(r)
            assert sum(parts.values()) + residue == (shown.round(r.total_before_gates_exact) or 0)
            for k in r.kpis:
                if mode == "rounded":
                    assert parts[k.id] == quantize(k.contribution_exact, shown.places, shown.rounding)
                else:
                    assert residue == 0
                    assert abs(Fraction(parts[k.id]) - Fraction(k.contribution_exact)) < unit
