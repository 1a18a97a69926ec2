"""Real usage of the public API; mypy --strict checks this file (it is not run by pytest)."""

from datetime import date
from decimal import Decimal
from fractions import Fraction

from kpi_engine import Appraisal, KpiError, Ruleset, evaluate, load_ruleset, read_table
from kpi_engine.attribution import Attribution, attribute, load_policy, read_events


def appraise(path: str, records_path: str) -> list[tuple[str, Decimal | None, str | None]]:
    ruleset: Ruleset = load_ruleset(path)
    appraisal: Appraisal = evaluate(ruleset, read_table(records_path), period="2026-03", strict=False)
    return [(r.subject, r.total, r.grade) for r in appraisal.results]


def exact_totals(appraisal: Appraisal) -> list[Decimal | Fraction | None]:
    scores: list[Decimal | None] = [k.score for r in appraisal.results for k in r.kpis]
    assert all(s is None or s.as_tuple().exponent == -appraisal.places for s in scores)
    return [r.total_exact for r in appraisal.results]


def credits_by_deal(policy_path: str, log_path: str) -> dict[str, str]:
    policy = load_policy(policy_path)
    try:
        result: Attribution = attribute(policy, read_events(log_path, policy))
    except KpiError as exc:
        return {"error": exc.render()}
    return {c.deal_id: c.credited_to for c in result.credits}


def from_other_containers(path: str, workbook: str) -> list[str]:
    ruleset = load_ruleset(path)
    excel = evaluate(ruleset, read_table(workbook, sheet="三月", encoding=None), allow_extra_columns=True)
    rows = [{"subject": "r1", "period": "2026-03", "sales": 1.5}]
    python_rows = evaluate(ruleset, rows)
    exported = evaluate(ruleset, read_table(workbook, header_row=3), totals="skip", unlisted="exclude")
    issues = [w.render() for w in excel.warnings + python_rows.warnings + exported.warnings]
    excel.to_arrow(level="subject")
    excel.to_pandas()
    excel.to_polars(level="kpi")
    return issues


def report_html(path: str, records_path: str) -> str:
    from kpi_engine.report import language_from_env, names_from_tables, render

    ruleset = load_ruleset(path)
    table = read_table(records_path)
    appraisal = evaluate(ruleset, table)
    out = render(
        appraisal,
        "html",
        ruleset=ruleset,
        names=names_from_tables([table], appraisal.period),
        lang=language_from_env({"LANG": "zh_CN.UTF-8"}),
    )
    return out if isinstance(out, str) else out.decode("utf-8")


def record_and_replay(ruleset_text: str, records_path: str) -> tuple[bytes, bool, list[str]]:
    from kpi_engine.audit import ReplayReport, RunRecord, record_appraisal, replay

    record: RunRecord
    appraisal, record = record_appraisal(ruleset_text, read_table(records_path), period="2026-03", inputs="inline")
    report: ReplayReport = replay(record.to_bytes())
    return record.to_bytes(), report.reproduced and len(appraisal.results) > 0, [f.part for f in report.tampered]


def working_day_deadline(day: date, n: int) -> date:
    from kpi_engine.time import BusinessCalendar, business_calendar

    calendar: BusinessCalendar = business_calendar("CN")
    return calendar.add_working_days(day, n)


def sales_target(plan_text: str, subject: str, month: str) -> Decimal | None:
    from kpi_engine.time.periods import Period
    from kpi_engine.time.targets import TargetPlanResult, decompose, parse_plan

    result: TargetPlanResult = decompose(parse_plan(plan_text))
    return result.value("sales", subject, Period.parse(month, "month"))


def alert_timeliness(ruleset: Ruleset, records_path: str) -> Decimal | Fraction | None:
    from kpi_engine.time.alerts import AlertReport, find_alerts

    report: AlertReport = find_alerts(ruleset, read_table(records_path))
    return report.timeliness


def conformance_of_my_engine(suite: str) -> list[str]:
    from kpi_engine.conformance import Case, CaseInputs, Execution, Outcome, load_cases, register_executor, run_case

    def mine(ruleset: Ruleset, inputs: CaseInputs) -> Execution:
        return Execution(evaluate(ruleset, list(inputs.records), period=inputs.period, engine="row"), "mine")

    register_executor("mine", mine)
    cases: list[Case] = load_cases(suite)
    outcomes: list[Outcome] = [run_case(c, "mine") for c in cases]
    return [o.describe() for o in outcomes if o.status == "failed"]


def receptions_out_of_turn(policy_path: str, floor_path: str, at: str) -> tuple[list[str], str | None]:
    from kpi_engine.attribution import QueueState, Reception, read_floor_events, rotate
    from kpi_engine.time.zones import parse_instant

    policy = load_policy(policy_path)
    result = rotate(policy, read_floor_events(floor_path, policy))
    late: list[Reception] = list(result.out_of_turn)
    queue: QueueState = result.queue_at(parse_instant(at, policy.tz))
    return [r.explain(policy.tz) for r in late], queue.next_rep


def next_years_days(notice_path: str) -> tuple[int, int, list[str]]:
    from kpi_engine.io.calendars import calendar_yaml, read_notice
    from kpi_engine.time.calendar import BusinessCalendar, CalendarSpec, watch_horizon

    notice = read_notice(notice_path)
    spec: CalendarSpec = notice.calendar_spec()
    text: str = calendar_yaml(spec, notice)
    calendar = BusinessCalendar("CN").extended(BusinessCalendar.from_spec(spec))
    with watch_horizon() as warnings:
        calendar.is_working_day(date(notice.year, 12, 31))
    return len(notice.days_off), len(text), [w.message for w in warnings]


def pay_april(plan_path: str, ruleset_path: str, records_path: str, people_path: str) -> tuple[Decimal, list[str]]:
    from kpi_engine import PayPlan, PayRun, load_pay_plan, pay
    from kpi_engine.payout.appraise import appraise_periods

    plan: PayPlan = load_pay_plan(plan_path)
    appraisals = appraise_periods(load_ruleset(ruleset_path), read_table(records_path), through="2026-04", plan=plan)
    run: PayRun = pay(plan, appraisals, read_table(people_path), period="2026-04")
    return run.total, [line.trace for p in run.people for line in p.lines]
