"""The columnar executor of pay: the row executor's lines to the unit, in blocks, lazily, with its hand-overs."""

import os
from decimal import Decimal

import pytest

from kpi_engine import load_pay_plan, load_ruleset, parse_pay_plan, pay, read_table
from kpi_engine.attribution import attribute, load_policy, read_events
from kpi_engine.audit.record import scores_table
from kpi_engine.payout.appraise import appraise_periods
from kpi_engine.payout.columnar import column_support, line_amounts, pay_table, table_of
from kpi_engine.payout.inputs import scores_from_appraisal

pl = pytest.importorskip("polars")


@pytest.fixture(autouse=True)
def at_root(root):
    os.chdir(root)


def rows_of(path):
    return [dict(r) for _, r in read_table(path).rows]


def rows_of_frame(frame):
    return frame.to_dicts()


def s1_appraisal_rows():
    plan = load_pay_plan("pay_plans/sales_rep_monthly_pay.yaml")
    policy = load_policy("examples/attribution/policy.yaml")
    credited = attribute(policy, read_events("examples/pay/events.csv", policy))
    found = appraise_periods(load_ruleset("rulesets/sales_rep_monthly.yaml"), read_table("examples/pay/records.csv"),
                             credits=credited, through="2026-04", plan=plan)  # fmt: skip
    table = scores_table([s for a in found for s in scores_from_appraisal(a)])
    return plan, [dict(r) for _, r in table.rows]


def test_the_shipped_s1_example_gives_the_row_executors_lines():
    """S1, March and April (gate, holds, release, clawback, draw, mid-month hire): the same lines to the cent."""
    plan, rows = s1_appraisal_rows()
    people, every, deals = (rows_of(f"examples/pay/{n}.csv") for n in ("people", "credits", "deals"))
    for period in ("2026-03", "2026-04"):
        # the columns take the credits of the plan year up to the pay period (March's run without April's deals)
        credited = [c for c in every if c["date"][:7] <= period]
        run = pay(plan, rows, people, credits=credited, deals=deals, period=period)
        frames = [pl.DataFrame(x, infer_schema_length=None) for x in (rows, people, credited, deals)]
        table = pay_table(plan, frames[0], frames[1], credits=frames[2], deals=frames[3], period=period)
        assert table.executor == "columnar", table.reason
        assert line_amounts(table) == line_amounts(table_of(run))
        assert table.totals() == {p.person: p.total for p in run.people}


def test_a_value_with_no_decimal_form_goes_to_the_row_executor():
    """An attainment of 7/12 cannot be held in decimal columns: the row executor computes, and says why."""
    plan, rows = s1_appraisal_rows()
    march = next(r for r in rows if (r["subject"], r["period"]) == ("li_na", "2026-03"))
    march["attainment"] = "7/12"  # how a run record writes a value with no decimal form
    people = rows_of("examples/pay/people.csv")
    table = pay_table(plan, pl.DataFrame(rows, infer_schema_length=None), pl.DataFrame(people), period="2026-03")
    assert table.executor == "row"
    assert "attainment" in table.reason
    assert line_amounts(table) == line_amounts(table_of(pay(plan, rows, people, period="2026-03")))


PLAN = """pay_plan: p
version: "1"
title: t
incentive_per: period
components:
  - {id: g, kind: grade, share: 50%, multipliers: {A: 150%, B: 100%}}
  - id: c
    kind: commission
    share: 50%
    curve: marginal
    basis: year_to_date
    tiers: [{from: 0, to: 1000, rate: 1%}, {from: 1000, rate: 2%}]
"""


def test_blocks_transfers_and_strangers():
    """Seven people in blocks of two, one of them transferred mid-month, a deal credited to a stranger."""
    plan = parse_pay_plan(PLAN)
    people = [{"person": f"r{i}", "target_incentive": "1000", "start": "2025-01-01", "end": None} for i in range(7)]
    people[3]["end"] = "2026-03-15"
    people.append({"person": "r3", "target_incentive": "2000", "start": "2026-03-16", "end": None})
    appraisals = [{"subject": f"r{i}", "period": f"2026-0{m}", "grade": "AB"[i % 2]} for i in range(7) for m in (2, 3)]
    credited = [
        {"deal_id": f"d{i}{m}", "credited_to": f"r{i}", "amount": str(300 * i + m), "date": f"2026-0{m}-10"}
        for i in range(7)
        for m in (2, 3)
    ] + [{"deal_id": "x", "credited_to": "nobody", "amount": "5", "date": "2026-03-01"}]
    run = pay(plan, appraisals, people, credits=credited, period="2026-03")
    table = pay_table(plan, pl.DataFrame(appraisals), pl.DataFrame(people), credits=pl.DataFrame(credited),
                      period="2026-03", block=2)  # fmt: skip
    assert table.executor == "columnar"
    assert line_amounts(table) == line_amounts(table_of(run))
    assert table.warnings == ("1 credited deal line(s) name people who are not in the people file: not paid",)


def test_lazy_inputs_are_read_a_block_at_a_time(tmp_path):
    """Lazy scans of Parquet files give the same lines as frames."""
    plan = parse_pay_plan(PLAN)
    people = pl.DataFrame([{"person": f"r{i}", "target_incentive": "1000"} for i in range(5)])
    appraisals = pl.DataFrame([{"subject": f"r{i}", "period": "2026-03", "grade": "A"} for i in range(5)])
    credited = pl.DataFrame([{"deal_id": f"d{i}", "credited_to": f"r{i}", "amount": "1500", "date": "2026-03-02"}
                            for i in range(5)])  # fmt: skip
    appraisals.write_parquet(tmp_path / "a.parquet")
    credited.write_parquet(tmp_path / "c.parquet")
    eager = pay_table(plan, appraisals, people, credits=credited, period="2026-03")
    lazy = pay_table(plan, pl.scan_parquet(tmp_path / "a.parquet"), people,
                     credits=pl.scan_parquet(tmp_path / "c.parquet"), period="2026-03", block=2)  # fmt: skip
    assert line_amounts(lazy) == line_amounts(eager)
    assert lazy.totals()["r0"] == Decimal("770.00")  # A: 150 % × 500 + 1,000 × 1 % + 500 × 2 %


def test_amounts_beyond_int64_products_are_exact():
    """A deal of 9 × 10^15 at 2 %: products pass 2**62, the columns widen to Python integers, still exact."""
    plan = parse_pay_plan(PLAN)
    people = [{"person": "r", "target_incentive": "1000"}]
    credited = [{"deal_id": "big", "credited_to": "r", "amount": "9000000000000000.01", "date": "2026-03-02"}]
    run = pay(plan, None, people, credits=credited, period="2026-03")
    table = pay_table(plan, None, pl.DataFrame(people), credits=pl.DataFrame(credited), period="2026-03")
    assert table.executor == "columnar"
    assert line_amounts(table) == line_amounts(table_of(run))


def test_a_measure_with_many_decimals_widens_every_month_exactly():
    """Attainments of 10 decimals for two people and two months: products widen to Python integers, still exact."""
    plan = parse_pay_plan(
        'pay_plan: p\nversion: "1"\ntitle: t\nincentive_per: period\ncomponents:\n'
        "  - {id: k, kind: curve, share: 100%, measure: attainment, curve: interpolate,"
        " levels: [{at: 80%, pay: 50%}, {at: 100%, pay: 100%}, {at: 120%, pay: 150%}]}\n"
    )
    people = [{"person": p, "target_incentive": "900000000.00"} for p in ("r", "s")]
    appraisals = [
        {"subject": p, "period": m, "attainment": a}
        for p, a in (("r", "1.0187503125"), ("s", "0.8312500001"))
        for m in ("2026-03", "2026-04")
    ]
    run = pay(plan, appraisals, people, period="2026-04")
    table = pay_table(plan, pl.DataFrame(appraisals), pl.DataFrame(people), period="2026-04")
    assert table.executor == "columnar", table.reason
    assert line_amounts(table) == line_amounts(table_of(run))
    assert table.totals()["r"] == Decimal("942188203.13")  # 104.687578125 % × 900,000,000 = 942,188,203.125


def test_a_partial_refund_while_held_forfeits_only_its_share():
    """A held deal partly refunded before it is paid: the columns keep the rest held, as the row executor does."""
    plan = parse_pay_plan(
        'pay_plan: p\nversion: "1"\ntitle: t\nincentive_per: period\ncomponents:\n'
        "  - {id: c, kind: commission, share: 100%, curve: marginal, release: on_payment,"
        " clawback: {within_days: 90}, tiers: [{from: 0, rate: 1%}]}\n"
    )
    people = pl.DataFrame([{"person": "r", "start": "2025-01-01", "target_incentive": "1000"}])
    credited = pl.DataFrame([{"deal_id": "a", "credited_to": "r", "amount": "1000", "date": "2026-03-01"}])
    deals = pl.DataFrame([{"deal_id": "a", "paid": "2026-05-04", "cancelled": "2026-04-20", "refund": "250"}])
    for period, total, held in (("2026-04", "0.00", "7.50"), ("2026-05", "7.50", "0.00")):
        table = pay_table(plan, None, people, credits=credited, deals=deals, period=period)
        run = pay(plan, None, rows_of_frame(people), credits=rows_of_frame(credited), deals=rows_of_frame(deals),
                  period=period)  # fmt: skip
        assert table.executor == "columnar", table.reason
        assert line_amounts(table) == line_amounts(table_of(run))
        assert table.totals() == {"r": Decimal(total)}
        assert run.person("r").held == Decimal(held)


def test_what_the_columns_do_not_take_is_named():
    """An override plan runs on the row executor, with the reason."""
    plan = load_pay_plan("pay_plans/sales_supervisor_quarterly_pay.yaml")
    assert column_support(plan) == "the plan reads the appraisal of the team a person leads"


def test_the_register_gives_amounts_as_exact_decimals():
    """PayTable.register() turns units into money exactly (1012.50, not 1012 or 1013)."""
    plan = parse_pay_plan(PLAN)
    people = pl.DataFrame([{"person": "r", "target_incentive": "2025"}])
    appraisals = pl.DataFrame([{"subject": "r", "period": "2026-03", "grade": "B"}])
    table = pay_table(plan, appraisals, people, period="2026-03")
    register = table.register()
    assert register.filter(pl.col("line") == "g").get_column("amount").to_list() == [Decimal("1012.50")]
