"""Readable traces: why each number of a subject's appraisal is what it is."""

from __future__ import annotations

from typing import Any

from kpi_engine import _numbers as num
from kpi_engine._numbers import HUNDRED, Number, canonical, exactly, is_number, quantize
from kpi_engine.evaluation.results import Appraisal, SubjectResult

SHOWN_PAIRS = 20  # pairs of a window metric listed in the readable trace


def _v(value: object) -> str:
    if value is None:
        return "N/A"
    if is_number(value):
        return canonical(value)
    return str(value)


@exactly
def explain_subject(appraisal: Appraisal, result: SubjectResult) -> str:
    """Render the trace of one subject as indented text."""

    def r(value: Number | None) -> str:
        return "N/A" if value is None else format(quantize(value, appraisal.places, appraisal.rounding), "f")

    out: list[str] = [
        f"{result.subject} — {appraisal.title} ({appraisal.ruleset_id} {appraisal.version}), period {appraisal.period}",
        f"ruleset sha256 {appraisal.sha256}",
    ]
    rank = f"rank {result.rank}" if result.rank else "unranked"
    if result.parent:
        rank += f"; in {result.parent}: rank {result.rank_in_parent}"
    bonus = f", bonus multiplier {_v(result.bonus_multiplier)}" if result.bonus_multiplier is not None else ""
    out.append(f"total {r(result.total)} → grade {result.grade or '-'}{bonus}, {rank}")
    if result.total_before_gates != result.total:
        out.append(f"  (total before gates {r(result.total_before_gates)})")
    parts, residue = appraisal.reported_contributions(result)
    if residue:
        out.append(
            f"  (the KPI contributions below are each rounded: they add up to {num.total(list(parts.values()))}, "
            f"a rounding residue of {residue} against the total before gates)"
        )
    for section in result.sections:
        title = f" ({section.title})" if section.title else ""
        out.append("")
        out.append(
            f"section {section.id}{title}: weight {canonical(num.mul(section.weight, HUNDRED))}%, "
            f"effective {r(num.mul(section.effective_weight, HUNDRED))}% → score {r(section.score)}"
            + (f" [{', '.join(section.flags)}]" if section.flags else "")
        )
        for k in result.kpis:
            if k.section != section.id:
                continue
            ex: dict[str, Any] = k.explanation
            title = f" {k.title}" if k.title else ""
            out.append(f"  {k.id}{title} [{k.status}{'; ' + ', '.join(k.flags) if k.flags else ''}]")
            out.append(f"    metric {ex['metric']} = {ex['definition']} = {_v(k.value)}")
            for name, item in ex["inputs"].items():
                if name != ex["metric"] or len(ex["inputs"]) > 1:
                    out.append(f"      {name} = {_v(item['value'])}  ({item['source']})")
            if "events" in ex:
                ids = ex["events"]["ids"]
                more = ex["events"]["matched"] - len(ids)
                listed = ", ".join(ids) + (f" and {more} more" if more > 0 else "")
                out.append(f"      {ex['events']['matched']} event(s) matched" + (f": {listed}" if ids else ""))
            if "window" in ex:  # event-window metric: its pairs (evaluation/windows.py)
                w = ex["window"]
                counts = f"{w['in_time']} in time, {w['late']} late, {w['never']} never"
                out.append(f"      {w['counted']} counted: {counts}")
                unit = str(w["duration_unit"]).replace("_", " ")
                for pair in w["pairs"][:SHOWN_PAIRS]:
                    took = f" after {_v(pair['duration'])} {unit}" if pair["duration"] is not None else ""
                    out.append(f"        {pair['event']} → {pair['partner'] or 'no answer'}: {pair['status']}{took}")
                if w["counted"] > SHOWN_PAIRS:
                    out.append(f"        … and {w['counted'] - SHOWN_PAIRS} more (all in the JSON trace)")
            if "members" in ex:
                for kid, item in ex["members"].items():
                    status = "meets" if item["meets"] is True else "does not meet"
                    counted = "" if item["counted"] else " (not counted)"
                    out.append(f"      member {kid}: {status} the condition{counted}")
            if "previous" in ex:
                prev = dict(ex["previous"])
                period = prev.pop("period")
                out.extend(f"      previous period {period}: {n} = {_v(v)}" for n, v in prev.items())
            outcome = r(k.score) if k.status == "scored" else "excluded"
            out.append(f"    method {ex['method']}: {ex.get('rule', '')} → {outcome}")
            if "adjustment" in ex:
                adj = ex["adjustment"]
                out.append(f"    adjustment {adj['id']}: {r(adj['from'])} → {r(adj['to'])} ({adj['reason']})")
            out.append(
                f"    weight {canonical(num.mul(k.weight, HUNDRED))}% "
                f"→ effective {r(num.mul(k.effective_weight, HUNDRED))}% "
                f"→ contributes {format(parts[k.id], 'f')}"
            )
    if result.gates:
        out.append("")
        out.append("gates:")
        for g in result.gates:
            reason = f" — {g.reason}" if g.reason else ""
            out.append(f"  {g.id}: when {g.condition} → {g.outcome} ({g.action} {g.value}){reason}")
    if result.adjustments and appraisal.scorecard is not None:
        rules = {a.id: a for a in appraisal.scorecard.adjustments}
        out.append("adjustments:")
        out.extend(
            f"  {a.id} on {a.kpi}: when {rules[a.id].when.text} → {_v(a.holds)} — {rules[a.id].reason}"
            for a in result.adjustments
        )
    return "\n".join(out) + "\n"
