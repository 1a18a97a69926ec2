from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from kpi_engine import evaluate, parse_ruleset

TEAM = parse_ruleset("""\
ruleset: t
version: "1"
title: t
subject: team
inputs: {won: {type: count}, leads: {type: count}}
metrics: {conversion: {formula: won / leads, unit: ratio}}
kpis: [{id: c, metric: conversion, method: attainment, target: 50%, weight: 100%}]
""")

reps = st.lists(
    st.tuples(st.sampled_from(["T1", "T2", "T3"]), st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=12
)


@given(reps)
def test_team_rate_equals_the_rate_of_pooled_records(rows):
    """A team's conversion is Σ won ÷ Σ leads over its members (N/A when Σ leads is 0)."""
    records = [
        {"subject": f"r{i}", "period": "2026-03", "won": w, "leads": w + extra} for i, (_, w, extra) in enumerate(rows)
    ]
    members = [{"member": f"r{i}", "parent": team, "period": "2026-03"} for i, (team, _, _) in enumerate(rows)]
    appraisal = evaluate(TEAM, records, members=members)
    for team in {t for t, _, _ in rows}:
        won = sum(w for t, w, _ in rows if t == team)
        leads = sum(w + e for t, w, e in rows if t == team)
        expected = None if leads == 0 else Fraction(won, leads)
        assert appraisal.result(team).kpi("c").value == expected
