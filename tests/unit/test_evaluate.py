import json
from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_engine import EvaluationError, evaluate, parse_ruleset

HEAD = """\
ruleset: t
version: "1"
title: t
"""


def ruleset(body, head=HEAD):
    return parse_ruleset(head + body)


TEAM = ruleset(
    """\
subject: team
inputs:
  won: {type: count}
  leads: {type: count}
metrics:
  conversion: {formula: won / leads, unit: ratio}
  mean_conversion: {formula: won / leads, rollup: mean}
  on_target: {members: {where: conversion >= 50%}}
kpis:
  - {id: conv, metric: conversion, method: attainment, target: 100%, weight: 100%}
report: [mean_conversion, on_target]
"""
)
MEMBERS = [
    {"member": "a", "parent": "T", "period": "2026-03"},
    {"member": "b", "parent": "T", "period": "2026-03"},
]


def test_team_rate_is_ratio_of_sums_not_mean_of_rates():
    """Conversion 1/1 and 1/9 pool to 2/10 = 20%, not the mean 55.6%."""
    records = [
        {"subject": "a", "period": "2026-03", "won": 1, "leads": 1},
        {"subject": "b", "period": "2026-03", "won": 1, "leads": 9},
    ]
    result = evaluate(TEAM, records, members=MEMBERS).result("T")
    assert result.kpi("conv").value == Decimal("0.2")
    assert result.metrics["mean_conversion"] == Fraction(5, 9)  # (1 + 1/9) / 2, exactly
    assert result.metrics["on_target"] == Decimal("0.5")


def test_membership_rows_decide_the_team_not_the_current_team():
    """A rep counts for the team its membership row names in that period."""
    records = [
        {"subject": "a", "period": "2026-03", "won": 1, "leads": 1},
        {"subject": "b", "period": "2026-03", "won": 0, "leads": 1},
    ]
    members = [*MEMBERS[:1], {"member": "b", "parent": "U", "period": "2026-03"}]
    appraisal = evaluate(TEAM, records, members=members)
    assert appraisal.result("T").kpi("conv").value == 1
    assert appraisal.result("U").kpi("conv").value == 0


TWO = ruleset(
    """\
inputs:
  x: {type: number, required: false}
  y: {type: number, required: false}
kpis:
  - {id: kx, metric: x, method: linear, floor: 0, target: 100, weight: 75%}
  - {id: ky, metric: y, method: linear, floor: 0, target: 100, weight: 25%, on_missing: zero}
"""
)


def test_excluded_kpi_renormalises_the_remaining_weights():
    """With x N/A (excluded) the total is y's score alone, and kx is flagged."""
    r = evaluate(TWO, [{"subject": "a", "period": "2026-03", "y": 40}]).result("a")
    assert r.total_exact == 40
    assert r.kpi("kx").status == "excluded"
    assert "excluded_na" in r.kpi("kx").flags
    assert r.kpi("ky").effective_weight_exact == 1


def test_on_missing_zero_scores_zero_and_keeps_the_weight():
    """With y N/A and on_missing zero, y scores 0 at its full weight."""
    r = evaluate(TWO, [{"subject": "a", "period": "2026-03", "x": 100}]).result("a")
    assert r.total_exact == 75
    assert "missing_scored_zero" in r.kpi("ky").flags


def test_strict_run_turns_na_into_an_error():
    """A strict run refuses every N/A KPI value at once, naming subject and KPI."""
    records = [{"subject": "a", "period": "2026-03", "x": 100}, {"subject": "b", "period": "2026-03"}]
    with pytest.raises(EvaluationError) as info:
        evaluate(TWO, records, strict=True)
    found = sorted((i.path, i.message.split(":")[0]) for i in info.value.issues)
    assert found == [("kpis.kx", "'b'"), ("kpis.ky", "'a'"), ("kpis.ky", "'b'")]
    assert "strict run" in info.value.render()


def test_on_missing_error_raises():
    """on_missing: error refuses an N/A value even in a lenient run."""
    rs = ruleset(
        """\
inputs: {x: {type: number, required: false}}
kpis: [{id: k, metric: x, method: threshold, target: 1, weight: 100%, on_missing: error}]
"""
    )
    with pytest.raises(EvaluationError, match="on_missing"):
        evaluate(rs, [{"subject": "a", "period": "2026-03"}])


def test_ties_share_a_rank():
    """Equal totals share a rank and the next rank is skipped (1, 1, 3)."""
    records = [{"subject": s, "period": "2026-03", "x": v, "y": v} for s, v in (("a", 50), ("b", 50), ("c", 10))]
    ranks = {r.subject: r.rank for r in evaluate(TWO, records).results}
    assert ranks == {"a": 1, "b": 1, "c": 3}


def test_rounding_happens_only_when_reported():
    """The exact total keeps every digit; to_dict rounds half-up to the declared places."""
    r = evaluate(TWO, [{"subject": "a", "period": "2026-03", "x": "33.335", "y": "33.335"}])
    assert r.results[0].total_exact == Decimal("33.335")
    assert r.to_dict()["results"][0]["total"] == "33.34"


def test_survey_mean_is_exact_and_passes_its_bound():
    """Surveys 4.3, 4.6, 4.6 average exactly 4.5, which passes >= 4.5."""
    rs = ruleset(
        """\
event_fields: {score: score}
metrics:
  satisfaction: {aggregate: {fn: mean, field: score, where: type == 'survey'}}
kpis: [{id: s, metric: satisfaction, method: threshold, target: 4.5, weight: 100%}]
"""
    )
    events = [
        {"event_id": str(i), "type": "survey", "at": "2026-03-10T10:00:00", "rep": "a", "score": v}
        for i, v in enumerate(["4.3", "4.6", "4.6"])
    ]
    events.append({"event_id": "x", "type": "call", "at": "2026-03-10T10:00:00", "rep": "a", "score": "1"})
    result = evaluate(rs, [{"subject": "a", "period": "2026-03"}], events=events).result("a")
    assert result.kpi("s").value == Decimal("4.5")
    assert result.kpi("s").score_exact == 100


def test_events_fall_into_periods_in_the_ruleset_time_zone():
    """An event at 16:30 UTC on 31 March is 1 April in Shanghai: not a March event."""
    rs = ruleset(
        """\
metrics:
  calls: {aggregate: {fn: count, where: type == 'call'}}
kpis: [{id: c, metric: calls, method: linear, floor: 0, target: 2, weight: 100%}]
"""
    )
    events = [
        {"event_id": "1", "type": "call", "at": "2026-03-31T16:30:00Z", "rep": "a"},
        {"event_id": "2", "type": "call", "at": "2026-03-31T15:59:00Z", "rep": "a"},
    ]
    result = evaluate(rs, [{"subject": "a", "period": "2026-03"}], events=events).result("a")
    assert result.kpi("c").value == 1


def test_previous_period_growth_and_reduction():
    """Growth is (now - before)/before; a cycle of 60 → 45 days is a 25% reduction."""
    rs = ruleset(
        """\
inputs: {cycle: {type: number}}
metrics:
  reduction: {previous: {metric: cycle, compare: reduction}}
  growth: {previous: {metric: cycle, compare: growth}}
kpis: [{id: r, metric: reduction, method: threshold, target: 25%, weight: 100%}]
report: [growth]
"""
    )
    records = [{"subject": "a", "period": "2026-02", "cycle": 60}, {"subject": "a", "period": "2026-03", "cycle": 45}]
    result = evaluate(rs, records).result("a")
    assert result.kpi("r").value == Decimal("0.25")
    assert result.kpi("r").score_exact == 100
    assert result.metrics["growth"] == Decimal("-0.25")


def test_streak_counts_consecutive_periods_on_target():
    """Two consecutive quarters on target give a streak of 2; a miss resets it."""
    rs = ruleset(
        """\
period: quarter
inputs: {att: {type: ratio, max: 2}}
metrics: {streak: {streak: att >= 100%}}
kpis: [{id: s, metric: streak, method: threshold, target: 2, weight: 100%}]
"""
    )
    rows = [("2025-Q3", "1.2"), ("2025-Q4", "0.9"), ("2026-Q1", "1"), ("2026-Q2", "1.1")]
    records = [{"subject": "a", "period": p, "att": v} for p, v in rows]
    result = evaluate(rs, records).result("a")
    assert result.kpi("s").value == 2
    assert result.kpi("s").score_exact == 100


def test_zero_section_gate_and_force_grade():
    """A zero_section gate zeroes that section's contribution; force_grade overrides the band."""
    rs = ruleset(
        """\
inputs: {x: {type: number}, y: {type: number}}
sections: {s1: {weight: 50%}, s2: {weight: 50%}}
kpis:
  - {id: kx, metric: x, section: s1, method: linear, floor: 0, target: 100, weight: 100%}
  - {id: ky, metric: y, section: s2, method: linear, floor: 0, target: 100, weight: 100%}
gates:
  - {id: z, when: y < 10, zero_section: s1}
  - {id: f, when: x < 10, force_grade: C}
grades: [{grade: A, min: 90}, {grade: B, min: 40}, {grade: C}]
"""
    )
    zeroed = evaluate(rs, [{"subject": "a", "period": "2026-03", "x": 100, "y": 5}]).result("a")
    assert zeroed.total_exact == Decimal("2.5")
    assert "section_zeroed" in zeroed.kpi("kx").flags
    forced = evaluate(rs, [{"subject": "a", "period": "2026-03", "x": 5, "y": 100}]).result("a")
    assert forced.total_exact == Decimal("52.5")
    assert forced.grade == "C"


def test_adjustment_overrides_a_score_with_its_reason():
    """The declining-market style rule replaces the KPI score and records why."""
    rs = ruleset(
        """\
inputs: {att: {type: ratio}, declining: {type: bool}}
kpis: [{id: a, metric: att, method: attainment, target: 100%, weight: 100%}]
adjustments:
  - {id: dm, kpi: a, when: declining and att >= 80%, score: 100, reason: declining market}
"""
    )
    result = evaluate(rs, [{"subject": "r", "period": "2026-03", "att": "85%", "declining": "true"}]).result("r")
    assert result.kpi("a").score_exact == 100
    assert result.kpi("a").explanation["adjustment"]["from"] == 85
    assert "adjusted" in result.kpi("a").flags


def test_same_run_serialises_to_the_same_bytes():
    """Two evaluations of the same inputs give byte-identical JSON."""
    records = [{"subject": s, "period": "2026-03", "x": v, "y": "1"} for s, v in (("b", "7"), ("a", "9"))]
    appraisal = evaluate(TWO, records)
    first = appraisal.to_json()
    assert first == evaluate(TWO, records).to_json()
    assert json.loads(first) == appraisal.to_dict()
    assert json.loads(appraisal.to_json(indent=2)) == appraisal.to_dict()
    assert '"total":"7.00"' in first


def test_trace_names_the_record_each_input_came_from():
    """The explanation of a KPI lists its inputs with their source row."""
    from kpi_engine.io.loading import read_csv_text

    appraisal = evaluate(TWO, read_csv_text("subject,period,x,y\na,2026-03,50,\n", "r.csv"))
    inputs = appraisal.result("a").kpi("kx").explanation["inputs"]
    assert inputs == {"x": {"value": Decimal(50), "source": "record r.csv:2"}}


def test_results_do_not_depend_on_the_callers_decimal_context():
    """A caller's low-precision decimal context changes no digit of the appraisal."""
    from decimal import localcontext

    records = [{"subject": "a", "period": "2026-03", "x": "33.333333333", "y": "1"}]
    expected = evaluate(TWO, records).to_json()
    with localcontext() as ctx:
        ctx.prec = 5
        assert evaluate(TWO, records).to_json() == expected


def test_ranking_by_a_metric_lowest_first():
    """ranking: {by: metric, order: lower_first} ranks on that metric, ties shared."""
    rs = ruleset(
        """\
inputs: {x: {type: number}, days: {type: number}}
kpis: [{id: k, metric: x, method: linear, floor: 0, target: 100, weight: 100%}]
ranking: {by: days, order: lower_first}
"""
    )
    records = [
        {"subject": s, "period": "2026-03", "x": x, "days": d}
        for s, x, d in (("a", 90, 30), ("b", 10, 20), ("c", 50, 20))
    ]
    ranks = {r.subject: r.rank for r in evaluate(rs, records).results}
    assert ranks == {"b": 1, "c": 1, "a": 3}


def test_traces_list_matched_events_and_member_outcomes():
    """An aggregate's trace lists the events it counted; a member share lists each member."""
    rs = ruleset(
        """\
subject: team
inputs: {won: {type: count}, leads: {type: count}}
metrics:
  conversion: {formula: won / leads, unit: ratio}
  on_target: {members: {where: conversion >= 50%}}
  calls: {aggregate: {fn: count, where: type == 'call'}}
kpis:
  - {id: share, metric: on_target, method: linear, floor: 0, target: 100%, weight: 50%}
  - {id: calls, metric: calls, method: linear, floor: 0, target: 10, weight: 50%}
"""
    )
    records = [
        {"subject": "a", "period": "2026-03", "won": 1, "leads": 1},
        {"subject": "b", "period": "2026-03", "won": 0, "leads": 1},
    ]
    events = [{"event_id": "x1", "type": "call", "at": "2026-03-02T10:00", "rep": "b"},
              {"event_id": "x2", "type": "visit", "at": "2026-03-02T11:00", "rep": "a"}]  # fmt: skip
    result = evaluate(rs, records, members=MEMBERS, events=events).result("T")
    assert result.kpi("calls").explanation["events"] == {"matched": 1, "ids": ["x1"]}
    assert result.kpi("share").explanation["members"] == {
        "a": {"counted": True, "meets": True},
        "b": {"counted": True, "meets": False},
    }


def test_a_record_outside_every_team_is_an_error_not_ignored():
    """In a team ruleset, a rep with a record but no membership row is reported, not dropped."""
    from kpi_engine import DataError

    records = [
        {"subject": "a", "period": "2026-03", "won": 1, "leads": 1},
        {"subject": "b", "period": "2026-03", "won": 1, "leads": 1},
        {"subject": "stray", "period": "2026-03", "won": 5, "leads": 5},
    ]
    with pytest.raises(DataError) as info:
        evaluate(TEAM, records, members=MEMBERS)
    assert [i.code for i in info.value.issues] == ["orphan_record"]
    assert "'stray'" in info.value.issues[0].message


def test_events_of_a_rep_without_a_record_are_an_error_not_ignored():
    """An event whose rep is not appraised in the period is reported with its row."""
    from kpi_engine import DataError

    rs = ruleset(
        """\
metrics: {calls: {aggregate: {fn: count}}}
kpis: [{id: c, metric: calls, method: linear, floor: 0, target: 2, weight: 100%}]
"""
    )
    events = [{"event_id": "1", "type": "call", "at": "2026-03-02T10:00", "rep": "ghost"}]
    with pytest.raises(DataError) as info:
        evaluate(rs, [{"subject": "a", "period": "2026-03"}], events=events)
    assert [(i.code, str(i.location)) for i in info.value.issues] == [("orphan_event", "events:1")]


def test_a_period_outside_the_effective_dates_is_refused():
    """A ruleset effective from 2026-04 does not appraise March; April is fine."""
    from kpi_engine import DataError

    rs = ruleset(
        """\
effective: {from: 2026-04-01}
inputs: {x: {type: number}}
kpis: [{id: k, metric: x, method: linear, floor: 0, target: 100, weight: 100%}]
"""
    )
    with pytest.raises(DataError, match="effective from 2026-04-01; period 2026-03 is outside"):
        evaluate(rs, [{"subject": "a", "period": "2026-03", "x": 1}])
    assert evaluate(rs, [{"subject": "a", "period": "2026-04", "x": 1}]).period == "2026-04"


def test_strict_run_reports_an_na_section_gate_once():
    """A zero_section gate whose condition is N/A is reported once in a strict run, not twice."""
    rs = ruleset(
        """\
inputs: {x: {type: number}, y: {type: number, required: false}}
sections: {s: {weight: 100%}}
kpis: [{id: k, metric: x, section: s, method: linear, floor: 0, target: 100, weight: 100%}]
gates: [{id: z, when: y < 10, zero_section: s}]
"""
    )
    with pytest.raises(EvaluationError) as info:
        evaluate(rs, [{"subject": "a", "period": "2026-03", "x": 50}], strict=True)
    assert len(info.value.issues) == 1


POWERS = ruleset(
    """\
inputs:
  x: {type: number}
metrics:
  big: {formula: x ** 30}
kpis:
  - {id: k, metric: big, method: linear, floor: 0, target: 100, weight: 100%}
"""
)


@pytest.mark.parametrize("x", ["1e99", "1e-99"])
def test_a_result_beyond_the_exact_range_is_a_located_evaluation_error(x):
    """(1e±99)**30 leaves the bounded exact range: an EvaluationError naming the subject, not decimal.Overflow."""
    with pytest.raises(EvaluationError, match="'a'") as info:
        evaluate(POWERS, [{"subject": "a", "period": "2026-03", "x": x}])
    assert info.value.issues[0].code == "out_of_range"
    assert str(info.value.issues[0].location) == "records:1"


SCORE_NA = ruleset(
    """\
inputs: {x: {type: number}, y: {type: number}}
kpis:
  - {id: k, metric: x, method: expression, score: "100 / (value - 5)", weight: 50%}
  - {id: other, metric: y, method: linear, floor: 0, target: 100, weight: 50%}
"""
)


def test_strict_run_refuses_a_score_expression_that_is_na():
    """A strict run does not silently exclude a KPI whose score expression is N/A (100 / 0)."""
    records = [{"subject": "a", "period": "2026-03", "x": 5, "y": 40}]
    assert evaluate(SCORE_NA, records).result("a").total_exact == 40  # lenient: excluded, renormalised
    with pytest.raises(EvaluationError) as info:
        evaluate(SCORE_NA, records, strict=True)
    assert [i.path for i in info.value.issues] == ["kpis.k"]
