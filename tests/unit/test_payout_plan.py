"""Pay plans: the language, its located checks, the shipped plans, the schema and the cost table."""

import json
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest

from kpi_engine import RulesetError, load_pay_plan, parse_pay_plan
from kpi_engine.language._yaml import load_yaml
from kpi_engine.payout.build import pay_plan_schema
from kpi_engine.payout.cases import run_pay_cases
from kpi_engine.payout.cost import plan_cost

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "pay_plans").glob("*.yaml"))

HEAD = """pay_plan: p
version: "1"
title: t
"""


def plan_text(components: str, extra: str = "") -> str:
    return HEAD + "components:\n" + components + extra


def issues_of(text: str) -> list:
    with pytest.raises(RulesetError) as caught:
        parse_pay_plan(text, "p.yaml")
    return list(caught.value.issues)


def codes(text: str) -> list[str]:
    return [i.code for i in issues_of(text)]


GRADE = "  - {id: g, kind: grade, share: 100%, multipliers: {A: 150%, B: 100%}}\n"


def commission(tiers: str, share: str = "100%", more: str = "") -> str:
    return f"  - {{id: c, kind: commission, share: {share}, curve: marginal{more}, tiers: [{tiers}]}}\n"


class TestShippedPlans:
    def test_both_seed_plans_are_shipped(self):
        """The S1 rep plan and the S2 supervisor plan are in pay_plans/."""
        assert {p.name for p in SHIPPED} >= {"sales_rep_monthly_pay.yaml", "sales_supervisor_quarterly_pay.yaml"}

    @pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
    def test_shipped_plan_cases_pass(self, path):
        """Every shipped pay plan loads and its hand-worked cases pass."""
        results = run_pay_cases(load_pay_plan(path))
        assert results
        assert all(r.passed for r in results), [r for r in results if not r.passed]

    @pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
    def test_shipped_plan_matches_the_json_schema(self, path):
        """The JSON Schema an editor uses accepts every shipped pay plan."""
        data, _, issues = load_yaml(path.read_text(encoding="utf-8"))
        assert issues == []
        jsonschema.validate(json.loads(json.dumps(data, default=str)), pay_plan_schema())

    def test_committed_schema_is_fresh(self):
        """schema/pay_plan.schema.json equals what `kpi schema --pay` generates now."""
        committed = json.loads((ROOT / "schema/pay_plan.schema.json").read_text(encoding="utf-8"))
        assert committed == json.loads(json.dumps(pay_plan_schema()))

    def test_schema_rejects_an_unknown_key(self):
        """The schema is strict: a misspelt key fails in the editor too."""
        data, _, _ = load_yaml(SHIPPED[0].read_text(encoding="utf-8"))
        data["componets"] = []
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(json.loads(json.dumps(data, default=str)), pay_plan_schema())


class TestChecks:
    def test_a_valid_plan_compiles_exact_values(self):
        """Percents are exact rationals in the compiled plan."""
        plan = parse_pay_plan(plan_text(commission("{from: 0, to: 100, rate: 4%}, {from: 100, rate: 6%}")))
        tiers = plan.component("c").curve.tiers
        assert [t.rate for t in tiers] == [Fraction(1, 25), Fraction(3, 50)]

    def test_shares_that_do_not_add_up_are_located(self):
        """Component shares adding up to 90 % are an error at the last share, listing each."""
        text = plan_text(GRADE.replace("100%", "60%") + commission("{from: 0, rate: 1%}", "30%"))
        (issue,) = issues_of(text)
        assert issue.code == "shares_sum"
        assert "90 %" in issue.message
        assert "g 60 %" in issue.message
        assert issue.path == "components[1].share"
        assert (issue.location.line, issue.location.col) == (6, 38)

    def test_gap_between_tiers(self):
        """Values between two tiers that belong to neither are a gap, and the fix is suggested."""
        (issue,) = issues_of(plan_text(commission("{from: 0, to: 100, rate: 1%}, {from: 120, rate: 2%}")))
        assert issue.code == "tier_gap"
        assert issue.suggestion == "write 'from: 100' in 'tier 2' or 'to: 120' in 'tier 1'"

    def test_overlapping_tiers(self):
        """Tiers that overlap are an error, and the fix is suggested."""
        (issue,) = issues_of(plan_text(commission("{from: 0, up_to: 100, rate: 1%}, {from: 90, rate: 2%}")))
        assert issue.code == "tier_overlap"
        assert issue.suggestion == "write 'above: 100' in 'tier 2' or 'to: 90' in 'tier 1'"

    def test_bounds_of_a_ratio_measure_are_shown_as_percents(self):
        """A gap on an attainment curve names its bounds as written (90%, not 0.9) and the fix."""
        text = plan_text(commission("{from: 0, to: 100, rate: 1%}, {from: 120, rate: 2%}"))
        text = text.replace("kind: commission", "kind: curve, measure: attainment").replace(
            "{from: 0, to: 100, rate: 1%}, {from: 120, rate: 2%}",
            "{from: 0, to: 90%, rate: 1%}, {above: 95%, rate: 2%}",
        )
        (issue,) = issues_of(text)
        assert "between 90% and 95%" in issue.message
        assert issue.suggestion == "write 'from: 90%' in 'tier 2' or 'up_to: 95%' in 'tier 1'"

    def test_a_boundary_claimed_by_no_tier_suggests_the_fix(self):
        """to 100 then above 100: the fix claims 100 for one of the two tiers."""
        (issue,) = issues_of(plan_text(commission("{from: 0, to: 100, rate: 1%}, {above: 100, rate: 2%}")))
        assert issue.suggestion == "write 'up_to: 100' in 'tier 1' or 'from: 100' in 'tier 2'"

    def test_a_boundary_claimed_by_two_tiers(self):
        """up_to 100 then from 100: 100 is claimed twice, and the fix is suggested."""
        (issue,) = issues_of(plan_text(commission("{from: 0, up_to: 100, rate: 1%}, {from: 100, rate: 2%}")))
        assert issue.code == "boundary_twice"
        assert "to: 100" in issue.suggestion

    def test_a_boundary_claimed_by_no_tier(self):
        """to 100 then above 100: 100 itself belongs to no tier."""
        assert codes(plan_text(commission("{from: 0, to: 100, rate: 1%}, {above: 100, rate: 2%}"))) == ["tier_gap"]

    def test_inclusive_and_exclusive_bounds_that_meet_are_fine(self):
        """up_to 100 then above 100 is a valid pair of tiers."""
        parse_pay_plan(plan_text(commission("{from: 0, up_to: 100, rate: 1%}, {above: 100, rate: 2%}")))

    def test_a_step_curve_that_goes_down(self):
        """A step to a lower rate pays less for more: the curve goes down."""
        text = (
            HEAD
            + "components:\n"
            + (
                "  - {id: c, kind: commission, share: 100%, curve: step, tiers: "
                "[{from: 0, to: 100, rate: 6%}, {from: 100, rate: 4%}]}\n"
            )
        )
        assert codes(text) == ["decreasing_curve"]

    def test_a_marginal_curve_with_a_lower_rate_later_still_rises(self):
        """Marginal tiers with a falling rate (a decelerator) never pay less for more: valid."""
        parse_pay_plan(plan_text(commission("{from: 0, to: 100, rate: 6%}, {from: 100, rate: 4%}")))

    def test_interpolated_levels_that_go_down(self):
        """Levels whose pay falls are a decreasing curve; two levels at one point are a boundary twice."""
        curve = "  - {{id: k, kind: curve, share: 100%, measure: attainment, curve: interpolate, levels: [{}]}}\n"
        assert codes(plan_text(curve.format("{at: 80%, pay: 50%}, {at: 100%, pay: 40%}"))) == ["decreasing_curve"]
        assert codes(plan_text(curve.format("{at: 80%, pay: 50%}, {at: 80%, pay: 60%}"))) == ["boundary_twice"]

    def test_a_cap_below_the_threshold(self):
        """A cap below what the threshold alone pays, and a measure cap not above the threshold, are errors."""
        money = commission("{from: 0, rate: 10%}", more=", threshold: 1000, cap: {amount: 50}")
        assert codes(plan_text(money)) == ["cap_below_threshold"]
        measure = (
            "  - {id: k, kind: curve, share: 100%, measure: attainment, curve: marginal, threshold: 80%,"
            " measure_cap: 70%, tiers: [{from: 0, rate: 100%}]}\n"
        )
        assert codes(plan_text(measure)) == ["cap_below_threshold"]

    def test_keys_that_do_not_belong_to_the_kind(self):
        """A grade component with tiers, and a prorated commission, are located errors."""
        assert "not_for_kind" in codes(plan_text(GRADE.replace("}}", "}, tiers: []}")))
        assert "not_for_kind" in codes(plan_text(commission("{from: 0, rate: 1%}", more=", prorate: true")))

    def test_a_gate_naming_an_unknown_component_suggests_one(self):
        """A gate on 'grad' suggests the component 'grade'."""
        text = (
            HEAD
            + "components:\n  - {id: grade, kind: grade, share: 100%}\n"
            + ("gates:\n  - {id: x, when: total < 60, components: [grad], zero: true}\n")
        )
        (issue,) = issues_of(text)
        assert issue.code == "unknown_component"
        assert issue.suggestion == "did you mean 'grade'?"

    def test_a_gate_condition_that_does_not_parse(self):
        """A condition with a syntax error is located at the gate's when."""
        text = plan_text(GRADE, "gates:\n  - {id: x, when: 'total <', components: [g], zero: true}\n")
        (issue,) = issues_of(text)
        assert issue.code == "bad_expression"
        assert issue.path == "gates[0].when"

    def test_every_mistake_is_reported_at_once(self):
        """Shares, a gap and an unknown key are all reported by one error, in file order."""
        text = plan_text(
            "  - {id: g, kind: grade, share: 50%, multiplers: {A: 1}}\n"
            + commission("{from: 0, to: 10, rate: 1%}, {from: 20, rate: 1%}", "30%")
        )
        found = codes(text)
        assert {"unknown_key", "tier_gap", "shares_sum"} <= set(found)

    def test_unknown_key_suggests_the_right_one(self):
        """'multiplers' suggests 'multipliers'."""
        issue = next(i for i in issues_of(plan_text("  - {id: g, kind: grade, share: 100%, multiplers: {}}\n")))
        assert issue.suggestion == "did you mean 'multipliers'?"

    def test_a_quarterly_plan_year_starts_on_a_quarter(self):
        """A quarterly plan whose year starts in February is an error."""
        assert "bad_year_start" in codes(plan_text(GRADE, "period: quarter\nyear_starts: 2\n"))


class TestCost:
    def test_cost_at_zero_target_and_caps(self):
        """The S1 plan costs 0 % at 0, 100 % on target, and 105 % plus the commission's money cap at the top."""
        rows = {r.id: r for r in plan_cost(load_pay_plan(ROOT / "pay_plans/sales_rep_monthly_pay.yaml"))}
        total = rows["total"]
        assert (total.at_zero.share, total.on_target.share) == (0, 1)
        assert total.at_cap.share == Fraction(21, 20)
        assert total.at_cap.money == 20000
        assert rows["person cap"].at_cap.share == 3
        assert rows["draw"].at_zero.share == Fraction(1, 2)

    def test_an_uncapped_commission_is_unbounded(self):
        """Without a cap a marginal commission has no ceiling."""
        rows = plan_cost(parse_pay_plan(plan_text(commission("{from: 0, rate: 1%}"))))
        assert rows[0].at_cap.unbounded
        assert rows[-1].at_cap.unbounded
