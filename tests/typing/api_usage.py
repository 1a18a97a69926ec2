"""Real usage of the public API; mypy --strict checks this file (it is not run by pytest)."""

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


def record_and_replay(ruleset_text: str, records_path: str) -> tuple[bytes, bool, list[str]]:
    from kpi_engine.audit import ReplayReport, RunRecord, record_appraisal, replay

    record: RunRecord
    appraisal, record = record_appraisal(ruleset_text, read_table(records_path), period="2026-03", inputs="inline")
    report: ReplayReport = replay(record.to_bytes())
    return record.to_bytes(), report.reproduced and len(appraisal.results) > 0, [f.part for f in report.tampered]
