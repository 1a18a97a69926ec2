"""kpi pay end to end on the shipped examples: totals worked by hand in docs/pay.md, every format, audits."""

import csv
import io
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine.cli import main

S1 = [
    "pay", "pay_plans/sales_rep_monthly_pay.yaml", "--ruleset", "rulesets/sales_rep_monthly.yaml",
    "--records", "examples/pay/records.csv", "--policy", "examples/attribution/policy.yaml",
    "--lead-events", "examples/pay/events.csv", "--deals", "examples/pay/deals.csv",
    "--people", "examples/pay/people.csv",
]  # fmt: skip
D = "examples/sales_supervisor_quarterly"
S2 = [
    "pay", "pay_plans/sales_supervisor_quarterly_pay.yaml", "--ruleset", "rulesets/sales_supervisor_quarterly.yaml",
    "--records", f"{D}/reps.csv", f"{D}/teams.csv", "--members", f"{D}/members.csv", "--plan", f"{D}/plan.yaml",
    "--events", f"{D}/events.csv", f"{D}/alerts.csv", "--credits", "examples/pay/s2_credits.csv", "--deals", "examples/pay/s2_deals.csv",
    "--people", "examples/pay/s2_people.csv",
]  # fmt: skip


@pytest.fixture(autouse=True)
def at_root(root):
    os.chdir(root)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def totals(capsys, argv, period):
    code, out, _ = run(capsys, *argv, "--period", period, "--format", "json")
    assert code == 0
    return {p["person"]: Decimal(p["total"]) for p in json.loads(out)["people"]}


class TestShippedExamples:
    def test_s1_march(self, capsys):
        """March: commission on the credited deals, zhao_lei's D103 held until paid (docs/pay.md)."""
        assert totals(capsys, S1, "2026-03") == {
            "zhang_wei": Decimal("9558.75"),
            "li_na": Decimal("6746.25"),
            "wang_fang": Decimal("0.00"),
            "zhao_lei": Decimal("3975.00"),
        }

    def test_s1_april(self, capsys):
        """April: the gate on zhang_wei, D105's clawback, D103 released, sun_yue hired mid-month with a draw."""
        assert totals(capsys, S1, "2026-04") == {
            "zhang_wei": Decimal("13615.00"),
            "li_na": Decimal("8170.00"),
            "wang_fang": Decimal("4120.00"),
            "zhao_lei": Decimal("12812.50"),
            "sun_yue": Decimal("857.14"),
        }

    def test_s2_quarters(self, capsys):
        """Q1 and Q2 of the supervisors on the S2 example's events: the override crosses a tier, d06 is clawed back."""
        assert totals(capsys, S2, "2026-Q1") == {"zhou_qiang": Decimal("13425.00"), "lin_tao": Decimal("4050.00")}
        assert totals(capsys, S2, "2026-Q2") == {"zhou_qiang": Decimal("38140.00"), "lin_tao": Decimal("15650.00")}

    def test_the_table_lists_components_and_the_total(self, capsys):
        """The default table has one column per component and the period's total cost."""
        code, out, _ = run(capsys, *S1, "--period", "2026-03")
        assert code == 0
        assert "grade_bonus" in out.splitlines()[1]
        assert "20,280.00" in out.splitlines()[-1]

    def test_explain_shows_each_line_with_its_trace(self, capsys):
        """kpi explain PLAN … --subject: the lines and their traces, the total, what is held and owed."""
        argv = ["explain", *S1[1:], "--period", "2026-04", "--subject", "li_na"]
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert "commission.clawback.D105" in out
        assert "total 8,170.00" in out


class TestFormats:
    def test_register_csv_adds_up_to_the_total(self, tmp_path):
        """The CSV register's amounts add up to the run's total; it starts with a BOM when written to a file."""
        target = tmp_path / "register.csv"
        assert main([*S1, "--period", "2026-04", "--format", "csv", "--out", str(target)]) == 0
        text = target.read_text(encoding="utf-8")
        assert text.startswith("\ufeff")
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        assert sum(Decimal(r["amount"]) for r in rows) == Decimal("39574.64")
        assert {r["kind"] for r in rows} >= {"component", "clawback", "held", "released", "draw"}

    def test_register_csv_guards_formulas(self):
        """A name that a spreadsheet would run as a formula is written as text."""
        from kpi_engine import parse_pay_plan, pay
        from kpi_engine.report.pay import render_register_csv

        plan = parse_pay_plan(
            'pay_plan: p\nversion: "1"\ntitle: t\ncomponents:\n'
            "  - {id: g, kind: grade, share: 100%, multipliers: {A: 1}}\n"
        )
        people = [{"person": "r", "name": "=HYPERLINK(1)", "target_incentive": "1200"}]
        run = pay(plan, [{"subject": "r", "period": "2026-03", "grade": "A"}], people, period="2026-03")
        assert ",'=HYPERLINK(1)," in render_register_csv(run)

    def test_register_xlsx_and_parquet(self, tmp_path):
        """xlsx and Parquet registers hold the same amounts, Parquet as decimal128."""
        pq = pytest.importorskip("pyarrow.parquet")
        assert main([*S1, "--period", "2026-04", "--format", "xlsx", "--out", str(tmp_path / "r.xlsx")]) == 0
        assert (tmp_path / "r.xlsx").read_bytes()[:2] == b"PK"
        assert main([*S1, "--period", "2026-04", "--format", "parquet", "--out", str(tmp_path / "r.parquet")]) == 0
        table = pq.read_table(tmp_path / "r.parquet")
        assert str(table.schema.field("amount").type) == "decimal128(38, 2)"
        assert sum(table.column("amount").to_pylist()) == Decimal("39574.64")

    def test_statements_are_one_page_per_person_in_chinese(self, capsys):
        """HTML statements: a page per person, labels in Chinese with --lang zh, names escaped."""
        code, out, _ = run(capsys, *S1, "--period", "2026-04", "--format", "html", "--lang", "zh")
        assert code == 0
        assert out.count('<section class="page"') == 5
        assert "计算过程" in out  # a label of the catalogue, not text from the plan
        assert "退单扣回" in out
        assert "<script" not in out

    def test_pay_statements_print_through_the_statement_renderer(self, capsys):
        """Pay statements are the statement model's pages: A4, a person never split across sheets."""
        from kpi_engine.report.statement import render_statements

        code, out, _ = run(capsys, *S1, "--period", "2026-04", "--format", "html")
        assert code == 0
        empty = render_statements([], title="x")
        style = empty[empty.index("<style>") : empty.index("</style>")]
        assert style in out  # the same page rules: size A4, break-inside: avoid, break-before: page
        assert "break-inside: avoid" in style
        assert [out.count(f'id="p{i}"') for i in range(6)] == [1, 1, 1, 1, 1, 0]

    def test_chinese_statements_have_no_english_or_internal_words_in_traces(self, capsys):
        """With --lang zh every trace and note is in Chinese: no engine English, no metric or gate ids."""
        import html
        import re

        code, out, _ = run(capsys, *S1, "--period", "2026-04", "--format", "html", "--lang", "zh")
        assert code == 0
        traces = [html.unescape(t) for t in re.findall(r'<tr class="trace"><td[^>]*>(.*?)</td>', out)]
        assert len(traces) == 19  # one per payout line
        text = " ".join(re.sub(r"<[^>]+>", "", t) for t in traces)
        # what is left once the data (deal ids, plan-given reasons) is taken out must have no Latin word
        data = re.sub(r"D1\d\d|\(replies below 95% cap the grade bonus at target\)", "", text)
        assert re.findall(r"[A-Za-z_]{2,}", data) == []
        assert "目标完成率 105 %（介于 100 % → 100 % 与 120 % → 150 % 之间）" in text  # the metric's title
        assert "需求资源客户回复率低于95%，等级奖金不超过目标" in text  # the gate's reason, not reply_rate < 95%

    def test_kpi_statement_of_a_pay_plan_prints_pay_statements(self, capsys):
        """kpi statement PLAN with the inputs of kpi pay: the pay statements, --subject picking people."""
        code, out, _ = run(capsys, "statement", *S1[1:], "--period", "2026-04", "--subject", "li_na", "--lang", "zh")
        assert code == 0
        assert out.count('<section class="page"') == 1
        assert "李娜 (li_na)" in out
        assert "D105 于 2026-04-10 取消" in out
        code, _, err = run(capsys, "statement", *S1[1:], "--period", "2026-04", "--subject", "nobody")
        assert code != 0
        assert "'nobody' is not paid in 2026-04" in err

    def test_kpi_explain_of_a_pay_plan_speaks_chinese_with_lang_zh(self, capsys):
        """kpi explain PLAN --lang zh: a person's lines with their traces in Chinese."""
        argv = ["explain", *S1[1:], "--period", "2026-04", "--subject", "zhang_wei", "--lang", "zh"]
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert "目标完成率 118 %（介于 100 % → 100 % 与 120 % → 150 % 之间）" in out
        assert "reply_rate" not in out

    def test_english_statements_show_the_engines_traces(self, capsys):
        """In English a statement's trace is the register's description, word for word."""
        code, out, _ = run(capsys, *S1, "--period", "2026-04", "--format", "html")
        assert code == 0
        assert (
            "year to date 1,630,000.5 → 3,310,000.5 (2 deals this period): 1,630,000.5 → 2,000,000 at 0.3 % = "
            "1,110.00; 2,000,000 → 3,310,000.5 at 0.4 % = 5,240.00; cap 20,000 not reached" in out
        )


class TestAudits:
    def test_a_pay_record_replays_to_the_cent(self, capsys, tmp_path):
        """kpi pay --record writes a record that kpi replay reproduces exactly."""
        record = tmp_path / "april.record.json"
        assert main([*S1, "--period", "2026-04", "--record", str(record), "--created", "test"]) == 0
        capsys.readouterr()
        code, out, _ = run(capsys, "replay", str(record))
        assert code == 0
        assert out.startswith("reproduced: 5 people")

    def test_an_edited_pay_record_is_named(self, capsys, tmp_path):
        """Changing a recorded amount makes replay fail and name the person and line."""
        record = tmp_path / "april.record.json"
        assert main([*S1, "--period", "2026-04", "--record", str(record)]) == 0
        capsys.readouterr()
        data = json.loads(record.read_text(encoding="utf-8"))
        data["results"]["values"]["people"]["li_na"]["lines"]["grade_bonus"] = "2500.00"
        record.write_text(json.dumps(data), encoding="utf-8")
        code, out, _ = run(capsys, "replay", str(record))
        assert code == 1
        assert "person li_na" in out
        assert "lines.grade_bonus: recorded 2500.00, computed now 2400.00" in out

    def test_impact_of_a_new_plan(self, capsys, tmp_path):
        """kpi impact OLD NEW: each person's change in pay and tier, and the total cost."""
        old = Path("pay_plans/sales_rep_monthly_pay.yaml").read_text(encoding="utf-8")
        new = old.replace('version: "1.0.0"', 'version: "1.1.0"').replace("{A: 150%, B: 100%", "{A: 200%, B: 100%")
        (tmp_path / "new.yaml").write_text(new, encoding="utf-8")
        argv = ["impact", "pay_plans/sales_rep_monthly_pay.yaml", str(tmp_path / "new.yaml"), *S1[2:]]
        code, out, _ = run(capsys, *argv, "--period", "2026-04", "--format", "json")
        assert code == 0
        data = json.loads(out)
        changed = {c["person"]: c for c in data["changes"]}
        assert set(changed) == {"li_na", "zhao_lei"}  # zhang_wei's A is capped at target by the gate either way
        assert changed["li_na"]["change"] == "800.00"  # 50 % × 1,600
        assert changed["zhao_lei"]["change"] == "900.00"  # 50 % × 1,800
        assert data["summary"]["cost"] == {"before": "39574.64", "after": "41274.64", "change": "1700.00"}

    def test_true_up_from_an_earlier_register(self, capsys, tmp_path):
        """Paying April with March's register, after a corrected March deal, adds a true-up line."""
        register = tmp_path / "march.csv"
        assert main([*S1, "--period", "2026-03", "--format", "csv", "--out", str(register)]) == 0
        rows = list(csv.DictReader(io.StringIO(register.read_text(encoding="utf-8").lstrip("\ufeff"))))
        for r in rows:
            if r["person"] == "li_na" and r["line"] == "commission":
                r["amount"] = "3000.00"  # what was paid before a correction
        with register.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        code, out, _ = run(capsys, *S1, "--period", "2026-04", "--paid", str(register), "--format", "json")
        assert code == 0
        li_na = next(p for p in json.loads(out)["people"] if p["person"] == "li_na")
        line = next(ln for ln in li_na["lines"] if ln["id"] == "true_up.2026-03.commission")
        assert line["amount"] == "890.00"
        assert line["trace"] == "2026-03 commission: recorded 3,000.00, now 3,890.00"


class TestValidate:
    def test_validate_prints_the_cost_per_person(self, capsys):
        """kpi validate on a pay plan: ok, then the cost at 0 %, 100 % and the caps."""
        code, out, _ = run(capsys, "validate", "pay_plans/sales_rep_monthly_pay.yaml")
        assert code == 0
        assert "ok" in out
        assert "105 % + 20,000 CNY" in out

    def test_validate_reports_a_broken_plan_located(self, capsys, tmp_path):
        """A plan with a tier gap fails with its file:line:col."""
        text = Path("pay_plans/sales_rep_monthly_pay.yaml").read_text(encoding="utf-8")
        bad = tmp_path / "bad.yaml"
        bad.write_text(text.replace("{id: top, from: 2000000", "{id: top, from: 2500000"), encoding="utf-8")
        code, _, err = run(capsys, "validate", str(bad))
        assert code == 1
        assert f"{bad}:45:25: components[2].tiers[2].from:" in err
        assert "[tier_gap]" in err

    def test_pay_needs_the_people_file(self, capsys):
        """Without --people, kpi pay says what is missing (exit 1, no traceback)."""
        code, _, err = run(capsys, "pay", "pay_plans/sales_rep_monthly_pay.yaml", "--appraisals", "x.csv")
        assert code == 1
        assert "Traceback" not in err


def test_the_library_example_of_docs_pay_runs():
    """docs/pay.md's Python example: the same credits for the appraisal and pay; April costs 39,574.64."""
    from kpi_engine import load_pay_plan, load_ruleset, pay, read_table
    from kpi_engine.attribution import attribute, load_policy, read_events
    from kpi_engine.payout.appraise import appraise_periods

    plan = load_pay_plan("pay_plans/sales_rep_monthly_pay.yaml")
    policy = load_policy("examples/attribution/policy.yaml")
    credits = attribute(policy, read_events("examples/pay/events.csv", policy))  # noqa: A001 - as in the docs
    appraisals = appraise_periods(
        load_ruleset("rulesets/sales_rep_monthly.yaml"), read_table("examples/pay/records.csv"), credits=credits,
        through="2026-04", plan=plan,
    )  # fmt: skip
    run = pay(
        plan, appraisals, read_table("examples/pay/people.csv"), credits=credits,
        deals=read_table("examples/pay/deals.csv"), period="2026-04",
    )  # fmt: skip
    assert run.total == Decimal("39574.64")
    assert run.person("li_na").line("commission.clawback.D105").amount == Decimal("-1930.00")


@pytest.mark.parametrize("given", ["lead log", "credits file"])
def test_the_columnar_register_has_the_row_registers_amounts(capsys, given):
    """kpi pay --engine columnar writes the same register lines and amounts as --engine row (without the words)."""
    pytest.importorskip("polars")
    argv = [*S1, "--period", "2026-04", "--format", "csv"]
    if given == "credits file":  # kpi attribute's CSV, with the house account's D106
        argv = [*S1[:6], "--credits", "examples/pay/credits.csv", *S1[10:], "--period", "2026-04", "--format", "csv"]

    def register(engine):
        code, out, err = run(capsys, *argv, "--engine", engine)
        assert code == 0
        assert "row executor computed" not in err
        assert "not in the people file" not in err  # the house account's deal is nobody's
        return {(r["person"], r["line"]): r["amount"] for r in csv.DictReader(io.StringIO(out))}

    assert register("columnar") == register("row")


class TestOneMeaningOfCredits:
    def test_the_credits_file_is_what_kpi_attribute_writes_of_the_lead_log(self, capsys):
        """examples/pay/credits.csv is kpi attribute's CSV of examples/pay/events.csv, byte for byte."""
        code, out, _ = run(
            capsys, "attribute", "examples/attribution/policy.yaml", "--events", "examples/pay/events.csv",
            "--format", "csv",
        )  # fmt: skip
        assert code == 0
        assert out == Path("examples/pay/credits.csv").read_text(encoding="utf-8")

    def test_the_pay_lead_log_is_the_attribution_examples_march_and_then_april(self):
        """March of examples/pay/events.csv is the shipped attribution example's log, line for line."""
        march = Path("examples/attribution/events.csv").read_text(encoding="utf-8").splitlines()
        both = Path("examples/pay/events.csv").read_text(encoding="utf-8").splitlines()
        assert both[: len(march)] == march
        assert all(",2026-04-" in line for line in both[len(march) :])

    def test_a_credits_file_and_the_lead_log_give_the_same_sales_and_commission(self, capsys):
        """--credits FILE and --policy with --lead-events: the same attainment and commission lines, month by month."""
        by_file = [*S1[:6], "--credits", "examples/pay/credits.csv", *S1[10:]]

        def lines(argv, period):
            code, out, _ = run(capsys, *argv, "--period", period, "--format", "json")
            assert code == 0
            return {
                (p["person"], ln["id"]): ln["amount"]
                for p in json.loads(out)["people"]
                for ln in p["lines"]
                if ln["id"].startswith(("attainment", "commission"))
            }

        for period in ("2026-03", "2026-04"):
            from_log = lines(S1, period)
            assert from_log == lines(by_file, period)
        assert from_log[("zhang_wei", "commission")] == "9440.00"  # D111 + D114, 2,360,000 at 0.4 %
        assert from_log[("zhao_lei", "commission.released")] == "2300.00"

    def test_the_s2_override_pays_on_the_sales_the_team_is_appraised_on(self, capsys):
        """S2: each quarter, the deals a supervisor's override counts add up to the led team's appraised sales."""
        for period in ("2026-Q1", "2026-Q2"):
            code, out, _ = run(capsys, *S2, "--period", period, "--format", "json")
            assert code == 0
            for person in json.loads(out)["people"]:
                override = next(ln for ln in person["lines"] if ln["id"] == "team_override")
                assert Decimal(override["details"]["after"]) == Decimal(person["appraisal"]["values"]["sales_actual"])

    def test_typed_sales_for_a_rep_with_credits_is_a_located_conflict(self, capsys, tmp_path):
        """A record typing sales_actual in a month the credits give it fails at the cell, with either input."""
        text = Path("examples/pay/records.csv").read_text(encoding="utf-8")
        records = tmp_path / "records.csv"
        records.write_text(text.replace("li_na,2026-03,李娜,1600000,,", "li_na,2026-03,李娜,1600000,76000,"), "utf-8")
        for given, by in (
            (S1, "by attribution"),
            ([*S1[:6], "--credits", "examples/pay/credits.csv", *S1[10:]], "from the credits"),
        ):
            code, _, err = run(capsys, *given[:4], "--records", str(records), *given[6:], "--period", "2026-03")
            assert code == 1
            assert f"records.csv:3:5: sales_actual: 'sales_actual' is given in the record and also computed {by}" in err


def test_a_folder_of_plan_versions_pays_with_the_one_in_effect(capsys, tmp_path):
    """Two versions with effective dates: April is paid by the one from April (grade A at 200 %)."""
    text = Path("pay_plans/sales_rep_monthly_pay.yaml").read_text(encoding="utf-8")
    first = text.replace("effective: {from: 2026-01-01}", "effective: {from: 2026-01-01, until: 2026-03-31}")
    second = text.replace("effective: {from: 2026-01-01}", "effective: {from: 2026-04-01}")
    second = second.replace('version: "1.0.0"', 'version: "1.1.0"').replace("{A: 150%", "{A: 200%")
    (tmp_path / "v1.yaml").write_text(first, encoding="utf-8")
    (tmp_path / "v2.yaml").write_text(second, encoding="utf-8")
    code, out, err = run(capsys, "pay", str(tmp_path), *S1[2:], "--period", "2026-04", "--format", "json")
    assert code == 0
    assert "version 1.1.0" in err
    li_na = next(p for p in json.loads(out)["people"] if p["person"] == "li_na")
    assert li_na["total"] == "8970.00"  # 200 % × 1,600 + 1,350 + 6,350 − 1,930


def test_validate_json_reports_a_pay_plan(capsys):
    """kpi validate --format json covers pay plans too."""
    code, out, _ = run(capsys, "validate", "--format", "json", "pay_plans/sales_supervisor_quarterly_pay.yaml")
    assert code == 0
    assert json.loads(out)["valid"] is True


def test_explaining_someone_not_paid_names_who_is(capsys):
    """kpi explain … --subject nobody: exit 1 and the people paid in the period."""
    code, _, err = run(capsys, "explain", *S1[1:], "--period", "2026-03", "--subject", "nobody")
    assert code == 1
    assert "li_na" in err
