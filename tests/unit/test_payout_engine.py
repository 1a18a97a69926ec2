"""Pay runs: each component, each over-time rule, the inputs at the door, exactly and with traces."""

from decimal import Decimal

import pytest

from kpi_engine import DataError, RulesetError, parse_pay_plan, pay

HEAD = """pay_plan: p
version: "1"
title: t
incentive_per: period
"""
REP = {"person": "r", "start": "2025-01-01", "team": "east", "target_incentive": "1000"}


def plan_of(components: str, extra: str = ""):
    return parse_pay_plan(HEAD + extra + "components:\n" + components, "p.yaml")


def commission(tiers: str, more: str = "", share: str = "100%") -> str:
    return f"  - {{id: c, kind: commission, share: {share}, curve: marginal{more}, tiers: [{tiers}]}}\n"


def credit(deal: str, amount: str, date: str, who: str = "r", share: str | None = None) -> dict:
    row = {"deal_id": deal, "credited_to": who, "amount": amount, "date": date}
    if share is not None:
        row["share"] = share
    return row


def money(text: str) -> Decimal:
    return Decimal(text)


class TestCurves:
    def test_marginal_pays_each_slice_at_its_rate(self):
        """150,000 credited: 100,000 at 4 % + 50,000 at 6 % = 7,000.00, and the trace says so."""
        plan = plan_of(commission("{from: 0, to: 100000, rate: 4%}, {from: 100000, rate: 6%}"))
        run = pay(plan, None, [REP], credits=[credit("d", "150000", "2026-03-02")], period="2026-03")
        line = run.person("r").line("c")
        assert line.amount == money("7000.00")
        assert "0 → 100,000 at 4 % = 4,000.00; 100,000 → 150,000 at 6 % = 3,000.00" in line.trace

    def test_step_pays_the_whole_at_the_rate_reached(self):
        """150,000 credited on step tiers: all of it at 6 % = 9,000.00."""
        plan = plan_of(
            commission("{from: 0, to: 100000, rate: 4%}, {from: 100000, rate: 6%}").replace("marginal", "step")
        )
        run = pay(plan, None, [REP], credits=[credit("d", "150000", "2026-03-02")], period="2026-03")
        assert run.person("r").component("c") == money("9000.00")

    def test_on_a_boundary_the_tier_that_claims_it_wins(self):
        """Exactly 100,000: 'from: 100000' puts it in the upper tier; 'up_to: 100000' in the lower."""
        upper = plan_of(
            commission("{from: 0, to: 100000, rate: 4%}, {from: 100000, rate: 6%}").replace("marginal", "step")
        )
        lower = plan_of(
            commission("{from: 0, up_to: 100000, rate: 4%}, {above: 100000, rate: 6%}").replace("marginal", "step")
        )
        given = {"credits": [credit("d", "100000", "2026-03-02")], "period": "2026-03"}
        assert pay(upper, None, [REP], **given).person("r").component("c") == money("6000.00")
        assert pay(lower, None, [REP], **given).person("r").component("c") == money("4000.00")

    def test_interpolation_between_levels_with_nothing_below_the_first(self):
        """Attainment 90 % between 80 % → 50 % and 100 % → 100 % pays 75 % of the target; 79 % pays nothing."""
        plan = plan_of(
            "  - {id: k, kind: curve, share: 100%, measure: attainment, curve: interpolate,"
            " levels: [{at: 80%, pay: 50%}, {at: 100%, pay: 100%}]}\n"
        )
        rows = [
            {"subject": "r", "period": "2026-03", "grade": "A", "attainment": "0.9"},
            {"subject": "r", "period": "2026-04", "grade": "A", "attainment": "0.79"},
        ]
        assert pay(plan, rows, [REP], period="2026-03").person("r").total == money("750.00")
        april = pay(plan, rows, [REP], period="2026-04").person("r")
        assert april.total == money("0.00")
        assert "below the threshold 80 %" in april.line("k").trace

    def test_accelerator_and_measure_cap(self):
        """Marginal rates on attainment: 100 % up to target, 200 % above, counted up to 120 %: 140 % at 150 %."""
        plan = plan_of(
            "  - {id: k, kind: curve, share: 100%, measure: attainment, curve: marginal, measure_cap: 120%,"
            " tiers: [{from: 0, to: 100%, rate: 100%}, {from: 100%, rate: 200%}]}\n"
        )
        rows = [{"subject": "r", "period": "2026-03", "attainment": "1.5"}]
        assert pay(plan, rows, [REP], period="2026-03").person("r").total == money("1400.00")


class TestYearToDate:
    def test_this_periods_slice_starts_where_the_year_ended(self):
        """145,000 in Feb, 20,000 in Mar: March pays 145,000 → 150,000 at 4 % and 150,000 → 165,000 at 6 %."""
        plan = plan_of(
            commission(
                "{from: 0, to: 150000, rate: 4%}, {from: 150000, rate: 6%}",
                ", basis: year_to_date, cap: {amount: 10000}",
            )
        )
        deals_credited = [credit("a", "145000", "2026-02-10"), credit("b", "20000", "2026-03-10")]
        run = pay(plan, None, [REP], credits=deals_credited, period="2026-03")
        line = run.person("r").line("c")
        assert line.amount == money("1100.00")
        assert line.trace == (
            "year to date 145,000 → 165,000 (1 deal this period): 145,000 → 150,000 at 4 % = 200.00; "
            "150,000 → 165,000 at 6 % = 900.00; cap 10,000 not reached"
        )

    def test_the_year_restarts_on_year_starts(self):
        """A plan year starting in April resets the tiers: April's deal is priced from 0 again."""
        plan = plan_of(
            commission("{from: 0, to: 100, rate: 1%}, {from: 100, rate: 2%}", ", basis: year_to_date"),
            "year_starts: 4\n",
        )
        deals_credited = [credit("a", "100", "2026-03-10"), credit("b", "100", "2026-04-10")]
        assert pay(plan, None, [REP], credits=deals_credited, period="2026-04").person("r").component("c") == money(
            "1.00"
        )

    def test_a_year_to_date_cap_stops_the_year_at_the_cap(self):
        """A cap of 10 over the year: 8 in March, then only 2 of April's 8."""
        plan = plan_of(commission("{from: 0, rate: 1%}", ", basis: year_to_date, cap: {amount: 10}"))
        deals_credited = [credit("a", "800", "2026-03-10"), credit("b", "800", "2026-04-10")]
        run = pay(plan, None, [REP], credits=deals_credited, period="2026-04")
        line = run.person("r").line("c")
        assert line.amount == money("2.00")
        assert "cap 10 reached: 8.00 → 2.00" in line.trace

    def test_year_to_date_lines_add_up_to_the_rounded_year(self):
        """Three periods of 1/3-cent slices: the lines add up to the rounded year, to the cent."""
        plan = plan_of(commission("{from: 0, rate: 1%}", ", basis: year_to_date"))
        deals_credited = [credit(f"d{m}", "0.333", f"2026-0{m}-10") for m in (1, 2, 3)]
        run = pay(plan, None, [REP], credits=deals_credited, period="2026-03")
        months = [p.component("c") for ps in run.history.values() for p in ps]
        assert sum(months) == money("0.01")  # 0.999 × 1 % = 0.00999 → 0.01 for the year


class TestProration:
    def test_a_mid_month_hire_gets_the_working_days_share(self):
        """Hired on 15 April 2026 (CN calendar): 12 of 21 working days of a 1,000 target."""
        plan = plan_of("  - {id: g, kind: grade, share: 100%, multipliers: {A: 100%}}\n")
        person = {**REP, "start": "2026-04-15"}
        rows = [{"subject": "r", "period": "2026-04", "grade": "A"}]
        p = pay(plan, rows, [person], period="2026-04").person("r")
        assert p.total == money("571.43")  # 1,000 × 12/21
        assert (p.segments[0].working_days, p.segments[0].period_working_days) == (12, 21)

    def test_a_transfer_splits_the_target_by_assignment(self):
        """Two assignments in one month with different targets: each counts for its working days."""
        plan = plan_of("  - {id: g, kind: grade, share: 100%, multipliers: {A: 100%}}\n")
        people = [
            {"person": "r", "start": "2025-01-01", "end": "2026-03-15", "team": "east", "target_incentive": "2200"},
            {"person": "r", "start": "2026-03-16", "team": "west", "target_incentive": "4400"},
        ]
        rows = [{"subject": "r", "period": "2026-03", "grade": "A"}]
        p = pay(plan, rows, people, period="2026-03").person("r")
        # March 2026: 22 working days, 10 up to the 15th: 2,200 × 10/22 + 4,400 × 12/22 = 1,000 + 2,400
        assert p.total == money("3400.00")
        assert [s.team for s in p.segments] == ["east", "west"]

    def test_a_leaver_is_paid_up_to_the_last_day(self):
        """Leaving on 10 March: 7 of 22 working days."""
        plan = plan_of("  - {id: g, kind: grade, share: 100%, multipliers: {A: 100%}}\n")
        person = {**REP, "end": "2026-03-10", "target_incentive": "2200"}
        rows = [{"subject": "r", "period": "2026-03", "grade": "A"}]
        assert pay(plan, rows, [person], period="2026-03").person("r").total == money("700.00")


class TestDeals:
    def test_split_credit_apportions_the_cents(self):
        """A deal of 100.01 split 50/50: the parts are 50.01 and 50.00 (largest remainder), adding up."""
        plan = plan_of(commission("{from: 0, rate: 100%}"))
        people = [REP, {**REP, "person": "s"}]
        deals_credited = [
            credit("d", "100.01", "2026-03-02", "r", "50%"),
            credit("d", "100.01", "2026-03-02", "s", "50%"),
        ]
        run = pay(plan, None, people, credits=deals_credited, period="2026-03")
        assert sorted([run.person("r").total, run.person("s").total]) == [money("50.00"), money("50.01")]

    def test_held_until_paid_then_released(self):
        """A deal paid in April: its commission is earned in March, held, and released in April."""
        plan = plan_of(commission("{from: 0, rate: 1%}", ", release: on_payment"))
        deals_credited = [credit("d", "1000", "2026-03-02")]
        deals = [{"deal_id": "d", "paid": "2026-04-03"}]
        march = pay(plan, None, [REP], credits=deals_credited, deals=deals, period="2026-03").person("r")
        april = pay(plan, None, [REP], credits=deals_credited, deals=deals, period="2026-04").person("r")
        assert (march.total, march.held, march.line("c.held").amount) == (
            money("0.00"),
            money("10.00"),
            money("-10.00"),
        )
        assert (april.total, april.held, april.line("c.released").amount) == (
            money("10.00"),
            money("0"),
            money("10.00"),
        )

    def test_clawback_at_what_was_paid_within_the_window(self):
        """A deal cancelled 30 days later takes back exactly what was paid on it, as its own line."""
        plan = plan_of(
            commission("{from: 0, to: 1000, rate: 1%}, {from: 1000, rate: 2%}", ", clawback: {within_days: 90}")
        )
        deals_credited = [credit("a", "800", "2026-03-01"), credit("b", "400", "2026-03-02")]
        deals = [{"deal_id": "b", "cancelled": "2026-04-01"}]
        april = pay(plan, None, [REP], credits=deals_credited, deals=deals, period="2026-04").person("r")
        # b was paid 200 at 1 % + 200 at 2 % = 6.00
        assert april.line("c.clawback.b").amount == money("-6.00")

    def test_a_partial_refund_claws_back_its_share(self):
        """Refunding a quarter of the deal takes back a quarter of what was paid."""
        plan = plan_of(commission("{from: 0, rate: 1%}", ", clawback: {within_days: 90}"))
        deals_credited = [credit("a", "1000", "2026-03-01")]
        deals = [{"deal_id": "a", "cancelled": "2026-03-20", "refund": "250"}]
        march = pay(plan, None, [REP], credits=deals_credited, deals=deals, period="2026-03").person("r")
        assert march.line("c.clawback.a").amount == money("-2.50")

    def test_a_partial_refund_of_a_split_deal_claws_back_each_part_by_the_deals_share(self):
        """Half of a 60/40 split deal refunded takes back half of what each rep was paid on it."""
        plan = plan_of(commission("{from: 0, rate: 10%}", ", clawback: {within_days: 90}"))
        people = [REP, {**REP, "person": "s"}]
        split = [credit("d", "300000", "2026-03-02", "r", "60%"), credit("d", "300000", "2026-03-02", "s", "40%")]
        deals = [{"deal_id": "d", "paid": "2026-03-03", "cancelled": "2026-04-02", "refund": "150000"}]
        run = pay(plan, None, people, credits=split, deals=deals, period="2026-04")
        assert run.person("r").line("c.clawback.d").amount == money("-9000.00")  # paid 18,000.00
        assert run.person("s").line("c.clawback.d").amount == money("-6000.00")  # paid 12,000.00

    def test_an_override_on_a_split_deal_is_held_released_and_clawed_back_in_full(self):
        """A lead's override on both parts of a split deal is held, released and taken back whole."""
        people = [
            {"person": "lead", "leads": "t", "target_incentive": "1000"},
            {"person": "a", "team": "t", "plan": "reps"},
            {"person": "b", "team": "t", "plan": "reps"},
        ]
        split = [credit("d", "300000", "2026-03-02", "a", "60%"), credit("d", "300000", "2026-03-02", "b", "40%")]
        override = "  - {id: o, kind: override, share: 100%, curve: marginal, tiers: [{from: 0, rate: 10%}]"
        held = plan_of(override + ", release: on_payment}\n")
        facts = [{"deal_id": "d", "paid": "2026-04-03"}]
        march = pay(held, None, people, credits=split, deals=facts, period="2026-03").person("lead")
        april = pay(held, None, people, credits=split, deals=facts, period="2026-04").person("lead")
        assert (march.line("o.held").amount, march.held) == (money("-30000.00"), money("30000.00"))
        assert (april.line("o.released").amount, april.held) == (money("30000.00"), 0)
        clawed = plan_of(override + ", clawback: {within_days: 90}}\n")
        facts = [{"deal_id": "d", "paid": "2026-03-03", "cancelled": "2026-04-02"}]
        april = pay(clawed, None, people, credits=split, deals=facts, period="2026-04").person("lead")
        assert [(ln.id, ln.amount) for ln in april.lines if ln.kind == "clawback"] == [
            ("o.clawback.d", money("-30000.00"))
        ]

    def test_a_partial_refund_while_held_forfeits_only_its_share(self):
        """A quarter of a held deal refunded: a quarter is never paid, the rest is released when paid."""
        plan = plan_of(commission("{from: 0, rate: 1%}", ", release: on_payment, clawback: {within_days: 90}"))
        credited = [credit("a", "1000", "2026-03-01")]
        deals = [{"deal_id": "a", "paid": "2026-05-04", "cancelled": "2026-04-20", "refund": "250"}]
        april = pay(plan, None, [REP], credits=credited, deals=deals, period="2026-04").person("r")
        may = pay(plan, None, [REP], credits=credited, deals=deals, period="2026-05").person("r")
        assert (april.total, april.held) == (money("0.00"), money("7.50"))
        assert "2.50 not paid, 7.50 still held" in april.notes[0]
        assert (may.line("c.released").amount, may.held) == (money("7.50"), 0)

    def test_no_clawback_outside_the_window(self):
        """Cancelled 91 days after a 90-day window: nothing is taken back, and a note says why."""
        plan = plan_of(commission("{from: 0, rate: 1%}", ", clawback: {within_days: 90}"))
        deals_credited = [credit("a", "1000", "2026-01-01")]
        deals = [{"deal_id": "a", "cancelled": "2026-04-02"}]
        april = pay(plan, None, [REP], credits=deals_credited, deals=deals, period="2026-04").person("r")
        assert [ln.kind for ln in april.lines] == ["component"]
        assert "91 days after the deal (window 90 days): no clawback" in april.notes[0]

    def test_override_follows_the_team_on_the_deal_date(self):
        """A lead earns on the deals of members in their team on the deal's date (a transfer moves them)."""
        plan = plan_of("  - {id: o, kind: override, share: 100%, curve: marginal, tiers: [{from: 0, rate: 10%}]}\n")
        people = [
            {"person": "lead", "leads": "north", "target_incentive": "1"},
            {"person": "m", "team": "south", "end": "2026-03-15", "target_incentive": "0"},
            {"person": "m", "team": "north", "start": "2026-03-16", "target_incentive": "0"},
        ]
        deals_credited = [credit("a", "100", "2026-03-10", "m"), credit("b", "50", "2026-03-20", "m")]
        run = pay(plan, None, people, credits=deals_credited, period="2026-03")
        assert run.person("lead").component("o") == money("5.00")

    def test_deals_are_filtered_by_product(self):
        """A commission on apartments does not count the villa."""
        plan = plan_of(commission("{from: 0, rate: 1%}", ", deals: {product: [apartment]}"))
        deals_credited = [credit("a", "1000", "2026-03-01"), credit("v", "5000", "2026-03-01")]
        deals = [{"deal_id": "a", "product": "apartment"}, {"deal_id": "v", "product": "villa"}]
        run = pay(plan, None, [REP], credits=deals_credited, deals=deals, period="2026-03")
        assert run.person("r").total == money("10.00")


class TestLimits:
    def test_a_gate_caps_a_component(self):
        """reply_rate below 95 % caps the grade bonus at its target."""
        plan = plan_of(
            "  - {id: g, kind: grade, share: 100%, multipliers: {A: 150%}}\n",
            "gates:\n  - {id: slow, when: reply_rate < 95%, components: [g], cap: {target: 100%}}\n",
        )
        rows = [{"subject": "r", "period": "2026-03", "grade": "A", "reply_rate": "0.9"}]
        line = pay(plan, rows, [REP], period="2026-03").person("r").line("g")
        assert line.amount == money("1000.00")
        assert "gate 'slow'" in line.trace

    def test_a_scorecard_gate_zeroes_a_component(self):
        """When the scorecard's gate applied, the plan's gate pays nothing for the component."""
        plan = plan_of(
            "  - {id: g, kind: grade, share: 100%, multipliers: {A: 150%}}\n",
            "gates:\n  - {id: z, scorecard_gate: low, components: [g], zero: true}\n",
        )
        rows = [{"subject": "r", "period": "2026-03", "grade": "A", "gates": "low"}]
        assert pay(plan, rows, [REP], period="2026-03").person("r").total == money("0.00")

    def test_the_person_cap_is_a_line_of_its_own(self):
        """Earning 1,500 against a person cap of 120 % of a 1,000 target: a cap line of −300."""
        plan = plan_of(
            "  - {id: g, kind: grade, share: 100%, multipliers: {A: 150%}}\n", "person_cap: {target: 120%}\n"
        )
        rows = [{"subject": "r", "period": "2026-03", "grade": "A"}]
        p = pay(plan, rows, [REP], period="2026-03").person("r")
        assert (p.line("cap.person").amount, p.total) == (money("-300.00"), money("1200.00"))


class TestDrawsAndBalances:
    def test_a_recoverable_draw_is_recovered_from_later_earnings(self):
        """Draw 500: March earns 100 (topped up 400, owed), April earns 1,000 (400 recovered above the draw)."""
        plan = plan_of(commission("{from: 0, rate: 100%}"), "draw: {amount: 500, recoverable: true}\n")
        deals_credited = [credit("a", "100", "2026-03-02"), credit("b", "1000", "2026-04-02")]
        hired = {**REP, "start": "2026-03-01"}
        march = pay(plan, None, [hired], credits=deals_credited, period="2026-03").person("r")
        april = pay(plan, None, [hired], credits=deals_credited, period="2026-04").person("r")
        assert (march.total, march.balance) == (money("500.00"), money("400.00"))
        assert (april.line("recovery").amount, april.total, april.balance) == (money("-400.00"), money("600.00"), 0)

    def test_a_non_recoverable_draw_is_never_recovered(self):
        """A guarantee: topped up in March, nothing owed in April."""
        plan = plan_of(commission("{from: 0, rate: 100%}"), "draw: {amount: 500, recoverable: false}\n")
        deals_credited = [credit("a", "100", "2026-03-02"), credit("b", "1000", "2026-04-02")]
        april = pay(plan, None, [{**REP, "start": "2026-03-01"}], credits=deals_credited, period="2026-04").person("r")
        assert (april.total, april.balance) == (money("1000.00"), 0)

    def test_a_draw_only_in_the_first_periods_after_hire(self):
        """periods: 2 — a rep hired in February has the draw in February and March, not in April."""
        plan = plan_of(commission("{from: 0, rate: 100%}"), "draw: {amount: 500, recoverable: false, periods: 2}\n")
        person = {**REP, "start": "2026-02-01"}
        deals_credited = [credit("a", "1", "2026-04-02")]
        run = pay(plan, None, [person], credits=deals_credited, period="2026-04")
        totals = {k: v[0].total for k, v in run.history.items()}
        assert totals == {"2026-02": money("500.00"), "2026-03": money("500.00"), "2026-04": money("1.00")}

    def test_a_net_below_zero_is_carried_forward_never_paid_negative(self):
        """A clawback larger than the month's pay: the month pays 0 and the rest is owed."""
        plan = plan_of(commission("{from: 0, rate: 1%}", ", clawback: {within_days: 90}"))
        deals_credited = [credit("a", "10000", "2026-03-01"), credit("b", "300", "2026-04-02")]
        deals = [{"deal_id": "a", "cancelled": "2026-04-05"}]
        april = pay(plan, None, [REP], credits=deals_credited, deals=deals, period="2026-04").person("r")
        assert (april.total, april.balance, april.line("carried").amount) == (0, money("97.00"), money("97.00"))


class TestTrueUps:
    def test_a_corrected_past_period_gives_a_true_up_line(self):
        """February recorded 1,100.00 commission; with a corrected deal it is now 1,300.00: +200.00 in March."""
        plan = plan_of(commission("{from: 0, rate: 1%}"))
        deals_credited = [credit("a", "130000", "2026-02-10")]
        paid = [{"person": "r", "period": "2026-02", "line": "c", "amount": "1100.00"}]
        march = pay(plan, None, [REP], credits=deals_credited, paid=paid, period="2026-03").person("r")
        line = march.line("true_up.2026-02.c")
        assert line.amount == money("200.00")
        assert line.trace == "2026-02 c: recorded 1,100.00, now 1,300.00"

    def test_the_year_to_date_counts_a_true_up_once(self):
        """February recorded 1,100.00, now 1,300.00: the year so far paid is 1,100 + (0 + 200) = 1,300.00."""
        plan = plan_of(commission("{from: 0, rate: 1%}"))
        deals_credited = [credit("a", "130000", "2026-02-10")]
        paid = [{"person": "r", "period": "2026-02", "line": "c", "amount": "1100.00"}]
        march = pay(plan, None, [REP], credits=deals_credited, paid=paid, period="2026-03").person("r")
        assert (march.total, march.year_to_date) == (money("200.00"), money("1300.00"))

    def test_a_true_up_already_paid_is_not_paid_again(self):
        """Recorded lines plus the true-ups recorded for them equal what is due now: no new line."""
        plan = plan_of(commission("{from: 0, rate: 1%}"))
        deals_credited = [credit("a", "130000", "2026-02-10")]
        paid = [
            {"person": "r", "period": "2026-02", "line": "c", "amount": "1100.00"},
            {"person": "r", "period": "2026-03", "line": "true_up.2026-02.c", "amount": "200.00"},
            {"person": "r", "period": "2026-03", "line": "c", "amount": "0.00"},
        ]
        april = pay(plan, None, [REP], credits=deals_credited, paid=paid, period="2026-04").person("r")
        assert [ln.kind for ln in april.lines] == ["component"]


class TestInputs:
    def test_overlapping_assignments_are_located(self):
        """Two rows of one person at once are an error at the second row."""
        plan = plan_of("  - {id: g, kind: grade, share: 100%}\n")
        people = [{**REP, "end": "2026-03-31"}, {**REP, "start": "2026-03-15"}]
        with pytest.raises(DataError) as caught:
            pay(plan, None, people, period="2026-03")
        assert caught.value.issues[0].code == "overlapping_assignments"
        assert caught.value.issues[0].location.line == 2

    def test_every_bad_row_is_reported_at_once(self):
        """A bad date, a bad amount and another currency: three located issues in one error."""
        plan = plan_of("  - {id: g, kind: grade, share: 100%}\n")
        people = [
            {**REP, "start": "2026-13-01"},
            {**REP, "person": "s", "target_incentive": "lots"},
            {**REP, "person": "u", "currency": "USD"},
        ]
        with pytest.raises(DataError) as caught:
            pay(plan, None, people, period="2026-03")
        assert sorted(i.code for i in caught.value.issues) == ["bad_currency", "bad_value", "bad_value"]

    def test_split_shares_must_add_up(self):
        """A deal split 60/30 is an error naming the deal."""
        plan = plan_of(commission("{from: 0, rate: 1%}"))
        deals_credited = [credit("d", "100", "2026-03-02", "r", "60%"), credit("d", "100", "2026-03-02", "s", "30%")]
        with pytest.raises(DataError) as caught:
            pay(plan, None, [REP], credits=deals_credited, period="2026-03")
        assert caught.value.issues[0].code == "split_sum"

    def test_a_value_the_appraisal_lacks_is_located_in_the_plan(self):
        """A measure misspelt as 'attainmnet' is an error at the plan's measure, suggesting 'attainment'."""
        plan = plan_of(
            "  - {id: k, kind: curve, share: 100%, measure: attainmnet, curve: interpolate,"
            " levels: [{at: 0, pay: 0}, {at: 1, pay: 1}]}\n"
        )
        rows = [{"subject": "r", "period": "2026-03", "attainment": "1"}]
        with pytest.raises(RulesetError) as caught:
            pay(plan, rows, [REP], period="2026-03")
        issue = caught.value.issues[0]
        assert (issue.code, issue.path, issue.suggestion) == (
            "unknown_value",
            "components[0].measure",
            "did you mean 'attainment'?",
        )
        assert issue.location.line == 6

    def test_a_grade_without_a_multiplier_is_an_error(self):
        """Grade E, which the plan's multipliers do not list, is reported, not paid as 0."""
        plan = plan_of("  - {id: g, kind: grade, share: 100%, multipliers: {A: 1}}\n")
        rows = [{"subject": "r", "period": "2026-03", "grade": "E"}]
        with pytest.raises(DataError) as caught:
            pay(plan, rows, [REP], period="2026-03")
        assert caught.value.issues[0].code == "no_multiplier"

    def test_credits_to_someone_not_in_the_people_file_warn(self):
        """A deal credited to a stranger is a warning, not silently dropped."""
        plan = plan_of(commission("{from: 0, rate: 1%}"))
        run = pay(plan, None, [REP], credits=[credit("d", "100", "2026-03-02", "x")], period="2026-03")
        assert [w.code for w in run.warnings] == ["not_in_people"]

    def test_people_of_another_plan_are_not_paid_but_count_for_teams(self):
        """Rows naming another plan are members of teams only."""
        plan = plan_of("  - {id: g, kind: grade, share: 100%, multipliers: {A: 1}}\n")
        people = [REP, {"person": "x", "team": "east", "plan": "other"}]
        rows = [
            {"subject": "r", "period": "2026-03", "grade": "A"},
            {"subject": "x", "period": "2026-03", "grade": "A"},
        ]
        run = pay(plan, rows, people, period="2026-03")
        assert [p.person for p in run.people] == ["r"]


class TestResults:
    def test_the_register_adds_up_to_the_total(self):
        """The register's lines add up to each person's total and to the run's total."""
        plan = plan_of(commission("{from: 0, rate: 1%}", ", release: on_payment"))
        deals_credited = [credit("a", "1234.56", "2026-03-02"), credit("b", "99.99", "2026-03-05")]
        run = pay(
            plan, None, [REP], credits=deals_credited, deals=[{"deal_id": "a", "paid": "2026-03-09"}], period="2026-03"
        )
        rows = list(run.register())
        assert sum(Decimal(r["amount"]) for r in rows) == run.total == run.person("r").total

    def test_input_order_does_not_change_the_pay(self):
        """The same rows in reverse order give the same JSON."""
        plan = plan_of(commission("{from: 0, to: 500, rate: 1%}, {from: 500, rate: 2%}", ", basis: year_to_date"))
        deals_credited = [
            credit("a", "400", "2026-03-02"),
            credit("b", "300", "2026-03-02"),
            credit("c", "50", "2026-02-27"),
        ]
        forward = pay(plan, None, [REP], credits=deals_credited, period="2026-03").to_json()
        backward = pay(plan, None, [REP], credits=deals_credited[::-1], period="2026-03").to_json()
        assert forward == backward


def test_payout_apportions_through_one_row_kernel(root):
    """Only ops/money.py calls the largest-remainder routine of _numbers; the executors call its kernels."""
    import ast

    callers = set()
    for path in sorted((root / "src" / "kpi_engine" / "payout").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in {"apportion", "split_units"}:
                callers.add(path.relative_to(root / "src" / "kpi_engine" / "payout").as_posix())
    assert callers == {"ops/money.py"}
