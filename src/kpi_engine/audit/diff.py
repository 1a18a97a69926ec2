"""Compare two appraisals of the same records: what a ruleset change would change."""

from __future__ import annotations

from typing import Any

from kpi_engine.evaluation.results import Appraisal


def compare(before: Appraisal, after: Appraisal) -> dict[str, Any]:
    """Subjects whose total, grade, rank or KPI scores differ, at reported precision.

    Returns:
        ``{"before": {...}, "after": {...}, "changes": [...], "unchanged": n}``; each change
        names the subject and lists ``field: [before, after]`` pairs, KPIs included as
        ``kpis.<id>`` (``None`` where a KPI or subject exists on one side only).
    """
    old = {r["subject"]: r for r in before.to_dict()["results"]}
    new = {r["subject"]: r for r in after.to_dict()["results"]}
    changes: list[dict[str, Any]] = []
    unchanged = 0
    for subject in sorted(old.keys() | new.keys()):
        a, b = old.get(subject, {}), new.get(subject, {})
        fields: dict[str, list[Any]] = {}
        for key in ("total", "grade", "rank"):
            if a.get(key) != b.get(key):
                fields[key] = [a.get(key), b.get(key)]
        ka = {k["id"]: k for k in a.get("kpis", [])}
        kb = {k["id"]: k for k in b.get("kpis", [])}
        for kpi in sorted(ka.keys() | kb.keys()):
            sa = ka.get(kpi, {}).get("score") if kpi in ka else None
            sb = kb.get(kpi, {}).get("score") if kpi in kb else None
            if sa != sb or (kpi in ka) != (kpi in kb):
                fields[f"kpis.{kpi}"] = [sa if kpi in ka else "absent", sb if kpi in kb else "absent"]
        if fields:
            changes.append({"subject": subject, **fields})
        else:
            unchanged += 1
    return {"before": _side(before), "after": _side(after), "changes": changes, "unchanged": unchanged}


def _side(appraisal: Appraisal) -> dict[str, str]:
    return {
        "ruleset": appraisal.ruleset_id,
        "version": appraisal.version,
        "sha256": appraisal.sha256,
        "period": appraisal.period,
    }
