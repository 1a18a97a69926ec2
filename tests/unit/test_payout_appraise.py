"""Appraisals for pay: credits mean one thing for the scorecard and for commission, whichever form they come in."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine import DataError, load_pay_plan, load_ruleset, parse_pay_plan, pay, read_table
from kpi_engine.attribution import attribute, format_attribution, load_policy, parse_events, read_events
from kpi_engine.evaluation.records import Table
from kpi_engine.payout.appraise import appraise_periods

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "rulesets/sales_rep_monthly.yaml"
POLICY = ROOT / "examples/attribution/policy.yaml"


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def sales(appraisals) -> dict[tuple[str, str], Decimal]:
    return {
        (r.subject, a.period): r.kpi("target_completion").explanation["inputs"]["sales_actual"]["value"]
        for a in appraisals
        for r in a.results
    }


def record(subject: str, period: str = "2026-03", **typed: str) -> dict[str, str]:
    """An S1 record that types everything but sales (and the follow-ups, which only a lead log gives)."""
    row = {
        "subject": subject, "period": period, "sales_target": "1000000", "weekly_orders": "8", "new_customers": "5",
        "visits_existing": "20", "phone_calls": "120", "lost_customers": "0", "conduct_score": "100",
        "plans_due": "8", "plans_done": "8", "resource_requests": "10", "resource_replies": "10",
    }  # fmt: skip
    row.update(typed)
    return row


def test_a_credits_table_and_the_attribution_fill_the_same_sales():
    """The shipped lead log's credits, as an Attribution or as the CSV kpi attribute writes, give each rep the same sales."""
    policy = load_policy(POLICY)
    credited = attribute(policy, read_events(ROOT / "examples/attribution/events.csv", policy))
    table = rows_of(format_attribution(credited, "csv"))
    assert any(r["credited_to"] == "house" for r in table)  # D106: the house account's, nobody's sales
    ruleset = load_ruleset(S1)
    records = read_table(ROOT / "examples/attribution/records.csv")
    from_log = appraise_periods(ruleset, records, credits=credited)
    from_rows = appraise_periods(ruleset, records, credits=table)
    expected = {
        ("zhang_wei", "2026-03"): Decimal(2010000),  # D100 by claim + D102
        ("li_na", "2026-03"): Decimal("1630000.5"),  # D101 + D105
        ("zhao_lei", "2026-03"): Decimal(1600000),  # D103 courtesy + D104
        ("wang_fang", "2026-03"): Decimal(0),  # named by the credits (she closed D100), credited nothing
    }
    assert sales(from_log) == sales(from_rows) == expected
    # A credits table carries no follow-ups: the lead log's R3 counts fill only from the log.
    assert from_log[0].result("li_na").kpi("follow_up").status == "scored"
    assert from_rows[0].result("li_na").kpi("follow_up").status == "excluded"


def test_pay_is_the_same_whichever_way_the_credits_come():
    """Appraisal and commission from an Attribution equal those from its CSV, line by line."""
    policy = load_policy(POLICY)
    log = Table.from_rows(
        [
            {"event_id": "e1", "type": "deal", "at": "2026-03-05T10:00:00", "rep": "r1", "customer": "c1",
             "deal_id": "D1", "amount": "900000.50"},
            {"event_id": "e2", "type": "deal", "at": "2026-03-09T10:00:00", "rep": "r2", "customer": "c2",
             "deal_id": "D2", "amount": "1200000"},
            {"event_id": "e3", "type": "deal", "at": "2026-03-12T10:00:00", "rep": "r2", "customer": "c3",
             "deal_id": "D3", "amount": "300000"},
            {"event_id": "e4", "type": "override", "at": "2026-03-13T10:00:00", "rep": "house", "deal_id": "D3"},
        ],
        "log.csv",
    )  # fmt: skip
    credited = attribute(policy, parse_events(policy, log))
    table = rows_of(format_attribution(credited, "csv"))
    ruleset = load_ruleset(S1)
    plan = load_pay_plan(ROOT / "pay_plans/sales_rep_monthly_pay.yaml")
    people = [
        {"person": "r1", "start": "2025-01-01", "team": "east", "target_incentive": "60000"},
        {"person": "r2", "start": "2025-01-01", "team": "east", "target_incentive": "60000"},
    ]
    records = [record("r1"), record("r2")]
    runs = []
    for given in (credited, table):
        appraisals = appraise_periods(ruleset, records, credits=given, plan=plan)
        assert sales(appraisals) == {("r1", "2026-03"): Decimal("900000.50"), ("r2", "2026-03"): Decimal(1200000)}
        runs.append(pay(plan, appraisals, people, credits=given, period="2026-03"))
    by_log, by_rows = ({p.person: {ln.id: ln.amount for ln in p.lines} for p in run.people} for run in runs)
    assert by_log == by_rows
    assert runs[0].warnings == runs[1].warnings == ()  # the house account's D3 is nobody's, without a warning
    # r2: 1,000,000 at 0.2 % + 200,000 at 0.3 % = 2,600.00; D3 went to the house account.
    assert by_log["r2"]["commission"] == Decimal("2600.00")


def test_a_split_deal_counts_the_part_commission_pays_on():
    """A deal split 60/40 adds 600,000.01 and 400,000.00 to the two reps' sales (the cent to the larger remainder)."""
    credited = [
        {"deal_id": "N2", "credited_to": "a", "amount": "1000000.01", "date": "2026-03-11", "share": "60%"},
        {"deal_id": "N2", "credited_to": "b", "amount": "1000000.01", "date": "2026-03-11", "share": "40%"},
    ]
    appraisals = appraise_periods(load_ruleset(S1), [record("a"), record("b")], credits=credited)
    assert sales(appraisals) == {("a", "2026-03"): Decimal("600000.01"), ("b", "2026-03"): Decimal("400000.00")}


def test_a_rep_the_credits_name_without_a_credit_in_a_month_they_cover_sold_nothing():
    """The closer of a deal credited to another rep has sales 0 that month; a month the credits do not cover keeps its typed sales."""
    credited = [
        {"deal_id": "D1", "closer": "b", "credited_to": "a", "amount": "500000", "date": "2026-03-11", "owner": "a"}
    ]
    records = [record("a"), record("b"), record("b", "2026-04", sales_actual="700000")]
    appraisals = appraise_periods(load_ruleset(S1), records, credits=credited)
    assert sales(appraisals) == {
        ("a", "2026-03"): Decimal(500000),
        ("b", "2026-03"): Decimal(0),
        ("b", "2026-04"): Decimal(700000),
    }


def test_typed_sales_and_credits_for_the_same_rep_and_month_conflict():
    """A record typing sales_actual where the credits give it is a located conflict, never overwritten."""
    credited = [{"deal_id": "D1", "credited_to": "a", "amount": "500000", "date": "2026-03-11"}]
    table = read_table_text("subject,period,sales_actual\na,2026-03,480000\n")
    with pytest.raises(DataError) as err:
        appraise_periods(load_ruleset(S1), table, credits=credited)
    assert (
        "records.csv:2:3: sales_actual: 'sales_actual' is given in the record and also computed from the credits"
        in (str(err.value))
    )


def test_a_scorecard_that_takes_no_credits_is_appraised_without_them():
    """Credits given for an override do not touch a scorecard whose sales come from events."""
    ruleset = load_ruleset(ROOT / "rulesets/sales_supervisor_quarterly.yaml")
    credited = [{"deal_id": "D1", "credited_to": "a", "amount": "500000", "date": "2026-04-11"}]
    records = [{"subject": "a", "period": "2026-Q2", "sales_target": "100"}, {"subject": "T", "period": "2026-Q2"}]
    members = [{"member": "a", "parent": "T", "period": "2026-Q2"}]
    (appraisal,) = appraise_periods(ruleset, records, members=members, credits=credited)
    assert appraisal.result("T").metrics["sales_actual"] == 0  # no deal event: nothing sold; the credits are unread


def test_a_plan_reading_another_ruleset_is_refused():
    """appraise_periods with a plan checks the ruleset is the one the plan reads."""
    plan = parse_pay_plan(
        'pay_plan: p\nversion: "1"\ntitle: t\nruleset: other\ncomponents:\n'
        "  - {id: g, kind: grade, share: 100%, multipliers: {A: 1}}\n"
    )
    with pytest.raises(DataError, match="reads the appraisal of 'other'"):
        appraise_periods(load_ruleset(S1), [record("a")], plan=plan)


def read_table_text(text: str):
    from kpi_engine.io.delimited import read_csv_lines

    return read_csv_lines(iter(text.splitlines(keepends=True)), "records.csv")
