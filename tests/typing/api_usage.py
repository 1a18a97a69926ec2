"""Real usage of the public API; mypy --strict checks this file (it is not run by pytest)."""

from datetime import date
from decimal import Decimal

from kpi_engine import Appraisal, KpiError, Ruleset, evaluate, load_ruleset, read_table
from kpi_engine.attribution import Attribution, attribute, load_policy, read_events


def appraise(path: str, records_path: str) -> list[tuple[str, Decimal | None, str | None]]:
    ruleset: Ruleset = load_ruleset(path)
    appraisal: Appraisal = evaluate(ruleset, read_table(records_path), period="2026-03", strict=False)
    return [(r.subject, r.total, r.grade) for r in appraisal.results]


def credits_by_deal(policy_path: str, log_path: str) -> dict[str, str]:
    policy = load_policy(policy_path)
    try:
        result: Attribution = attribute(policy, read_events(log_path, policy))
    except KpiError as exc:
        return {"error": exc.render()}
    return {c.deal_id: c.credited_to for c in result.credits}


def working_day_deadline(day: date, n: int) -> date:
    from kpi_engine.time import BusinessCalendar, business_calendar

    calendar: BusinessCalendar = business_calendar("CN")
    return calendar.add_working_days(day, n)


def sales_target(plan_text: str, subject: str, month: str) -> Decimal | None:
    from kpi_engine.time.periods import Period
    from kpi_engine.time.plan import PlanResult, decompose, parse_plan

    result: PlanResult = decompose(parse_plan(plan_text))
    return result.value("sales", subject, Period.parse(month, "month"))


def alert_timeliness(ruleset: Ruleset, records_path: str) -> Decimal | None:
    from kpi_engine.time.alerts import AlertReport, find_alerts

    report: AlertReport = find_alerts(ruleset, read_table(records_path))
    return report.timeliness
