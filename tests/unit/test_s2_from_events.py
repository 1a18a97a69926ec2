"""S2 from what the systems record: the shipped example worked by hand, and each bound moved by one unit."""

from decimal import Decimal
from fractions import Fraction

import pytest
from tests.shipped import ROOT, s2_inputs

from kpi_engine import evaluate, load_ruleset

RULESET = ROOT / "rulesets" / "sales_supervisor_quarterly.yaml"


@pytest.fixture(scope="module")
def ruleset():
    return load_ruleset(RULESET)


@pytest.fixture(scope="module")
def example(ruleset):
    return evaluate(ruleset, period="2026-Q2", **s2_inputs())


def test_at_most_five_inputs_are_typed(ruleset):
    """Three inputs remain: the plan's target and the two judgments of the declining-market rule."""
    assert sorted(ruleset.scorecard.inputs) == ["competitor_attainment", "market_declining", "sales_target"]


def test_team_north_worked_by_hand(example):
    """North: 607,000 of 600,000; 2 of 3 members with a target on it; 44.4 days after 60; total 95.21, A."""
    north = example.result("team_north")
    values = {k.id: k.value for k in north.kpis}
    assert values["team_attainment"] == Fraction(607000, 600000)
    assert values["members_attainment"] == Fraction(2, 3)  # he_jun has no target: not counted
    assert values["on_time_collection"] == Fraction(9000, 350000)
    assert values["cycle_reduction"] == Decimal("0.26")  # (60 − 44.4) / 60
    assert values["experts"] == Decimal("0.25")  # chen_jie made lead in Nov 2025, 4 members
    assert values["training"] == Decimal("0.8")
    assert values["joint_projects"] == 2  # 12 % and exactly 10 % land, 8.3 % does not
    assert values["strategy_effect"] == 1  # pilot 2 of 3 against 1 of 3: +100 %
    assert values["toolkits"] == 2  # Oct 2025 and May 2026 (the rolling year)
    assert example.round(north.total) == Decimal("95.21")
    assert north.grade == "A"
    assert "eligible_for_promotion" in north.flags


def test_team_south_worked_by_hand(example):
    """South: 82.5 % lifted to 100 by the declining market; renewal 2 of 3 caps 81.66 at 80, grade B."""
    south = example.result("team_south")
    values = {k.id: k.value for k in south.kpis}
    assert values["team_attainment"] == Decimal("0.825")
    assert south.kpi("team_attainment").score == 100
    assert values["strategic_renewal"] == Fraction(2, 3)
    assert values["cycle_reduction"] == Decimal("0.25")  # 70 → 52.5 days: exactly on the bound
    assert values["complaints"] == 3  # exactly on the bound: passes
    assert values["anomaly_response"] == Decimal("0.6")  # 3 of 5 alerts from the alert log
    assert south.kpi("strategy_effect").status == "excluded"  # no A/B test in the south
    assert example.round(south.total_before_gates) == Decimal("81.66")
    assert south.total == 80
    assert south.grade == "B"


def _case(ruleset, change):
    """The first embedded case (every threshold met) with ``change(events)`` applied, appraised."""
    case = ruleset.spec.cases[0]
    events = [dict(e) for e in case.events]
    change(events)
    appraisal = evaluate(ruleset, list(case.records), members=list(case.members), events=events, period="2026-Q2")
    return appraisal.result("T")


def _move(event_id, **fields):
    def change(events):
        for e in events:
            if e["event_id"] == event_id:
                e.update(fields)

    return change


@pytest.mark.parametrize(
    ("change", "kpi", "score"),
    [
        (lambda _events: None, "strategic_renewal", 100),
        (_move("e2", at="2026-03-31T10:00:00+08:00"), "strategic_renewal", 0),  # 91 days before the end
        (_move("h2", at="2026-07-02T09:00:00+08:00"), "new_hire_confirmation", 0),  # 3 months and a day
        (_move("c1a", at="2026-04-11T10:01:00+08:00"), "complaint_response", Fraction(100, 3)),  # 24 h 1 min
        (_move("m2", converted="4"), "joint_projects", Fraction(200, 3)),  # 8 % < 10 %: 2 campaigns landed
        (_move("k1", at="2025-06-30T23:59:00+08:00"), "toolkits", 0),  # before the rolling year: 1 toolkit
        (_move("d4", tier="key"), "conversion", 0),  # 2 of 10 prospects converted
        (_move("d2", returning="false"), "old_customer_share", 0),  # no old customer's contract
        (_move("d2", line="standard"), "core_share", 0),  # core 20 of 200: 10 %, the floor
        (_move("s1", score="4.2"), "satisfaction", 0),  # mean 4.4666… < 4.5
        (_move("an1", at="2026-04-06T09:00:00+08:00"), "anomaly_response", 0),  # after Fri 3 Apr (Mon 6)
        (_move("f2", pilot="false"), "strategy_effect", None),  # no pilot lead: N/A, excluded
    ],
)
def test_each_bound_moved_by_one_unit_changes_the_score(ruleset, change, kpi, score):
    """Moving one event past its bound drops the KPI it decides (the case meets every bound exactly)."""
    result = _case(ruleset, change).kpi(kpi)
    if score is None:
        assert result.status == "excluded"
    else:
        assert result.score_exact == score
