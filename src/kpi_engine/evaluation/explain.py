"""Readable traces: why each number of a subject's appraisal is what it is.

Reported figures (totals, scores, weights, contributions) are shown as the ruleset rounds them;
metric values and inputs are shown to the ruleset's places + 2 decimals (``Rounding.value``),
marked ``≈`` when that rounding changed them. The exact values are in ``--format json --traces``.

The text is built from message templates passed through ``t`` (English by default); the CLI passes
the catalogue's translation for ``--lang``, so this core module needs no catalogue of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kpi_engine import _numbers as num
from kpi_engine._numbers import HUNDRED, Number, canonical, exactly, is_number, quantize
from kpi_engine.evaluation.results import Appraisal, SubjectResult

SHOWN_PAIRS = 20  # pairs of a window metric listed in the readable trace

Translate = Callable[..., str]


def english(msgid: str, /, **params: object) -> str:
    """The identity translation: the English template with its placeholders filled."""
    return msgid.format(**params) if params else msgid


@exactly
def explain_subject(appraisal: Appraisal, result: SubjectResult, t: Translate = english) -> str:
    """Render the trace of one subject as indented text.

    Args:
        appraisal: the appraisal the subject belongs to.
        result: the subject's result.
        t: translates a message template and fills its placeholders (``Messages.t``); English by default.
    """
    na = t("N/A")

    def v(value: object) -> str:
        if value is None:
            return na
        if not is_number(value):
            return str(value)
        shown = quantize(value, appraisal.places + 2, appraisal.rounding)
        return canonical(shown) if shown == value else "≈" + canonical(shown)

    def r(value: Number | None) -> str:
        return na if value is None else format(quantize(value, appraisal.places, appraisal.rounding), "f")

    def pct(value: Number) -> str:
        return r(num.mul(value, HUNDRED))

    out: list[str] = [
        t(
            "{subject} — {title} ({ruleset} {version}), period {period}",
            subject=result.subject,
            title=appraisal.title,
            ruleset=appraisal.ruleset_id,
            version=appraisal.version,
            period=appraisal.period,
        ),
        t("ruleset sha256 {sha256}", sha256=appraisal.sha256),
    ]
    rank = t("rank {rank}", rank=result.rank) if result.rank else t("unranked")
    if result.parent:
        rank += t("; in {parent}: rank {rank}", parent=result.parent, rank=result.rank_in_parent)
    bonus = (
        t(", bonus multiplier {bonus}", bonus=v(result.bonus_multiplier)) if result.bonus_multiplier is not None else ""
    )
    out.append(
        t("total {total} → grade {grade}{bonus}, {rank}", total=r(result.total_exact), grade=result.grade or "-",
          bonus=bonus, rank=rank)
    )  # fmt: skip
    if result.total_before_gates_exact != result.total_exact:
        out.append("  " + t("(total before gates {total})", total=r(result.total_before_gates_exact)))
    parts, residue = appraisal.reported_contributions(result)
    if residue:
        out.append(
            "  "
            + t(
                "(the KPI contributions below are each rounded: they add up to {sum}, "
                "a rounding residue of {residue} against the total before gates)",
                sum=num.total(list(parts.values())),
                residue=residue,
            )
        )
    for section in result.sections:
        title = f" ({section.title})" if section.title else ""
        out.append("")
        out.append(
            t("section {id}{title}: weight {weight}%, effective {effective}% → score {score}", id=section.id,
              title=title, weight=canonical(num.mul(section.weight, HUNDRED)),
              effective=pct(section.effective_weight_exact), score=r(section.score_exact))
            + (f" [{', '.join(section.flags)}]" if section.flags else "")
        )  # fmt: skip
        for k in result.kpis:
            if k.section != section.id:
                continue
            out.extend(_kpi_lines(k, k.explanation, r, v, t))
            out.append(
                "    "
                + t("weight {weight}% → effective {effective}% → contributes {contribution}",
                    weight=canonical(num.mul(k.weight, HUNDRED)), effective=pct(k.effective_weight_exact),
                    contribution=format(parts[k.id], "f"))
            )  # fmt: skip
    if result.gates:
        out.append("")
        out.append(t("gates:"))
        for g in result.gates:
            reason = f" — {g.reason}" if g.reason else ""
            out.append(
                "  "
                + t("{id}: when {condition} → {outcome} ({action} {value}){reason}", id=g.id, condition=g.condition,
                    outcome=g.outcome, action=g.action, value=g.value, reason=reason)
            )  # fmt: skip
    if result.adjustments and appraisal.scorecard is not None:
        rules = {a.id: a for a in appraisal.scorecard.adjustments}
        out.append(t("adjustments:"))
        out.extend(
            "  "
            + t("{id} on {kpi}: when {condition} → {holds} — {reason}", id=a.id, kpi=a.kpi,
                condition=rules[a.id].when.text, holds=v(a.holds), reason=rules[a.id].reason)
            for a in result.adjustments
        )  # fmt: skip
    return "\n".join(out) + "\n"


def _kpi_lines(
    k: Any, ex: dict[str, Any], r: Callable[[Number | None], str], v: Callable[[object], str], t: Translate
) -> list[str]:
    """The lines of one KPI: metric, inputs, matched events or pairs, method and adjustment."""
    title = f" {k.title}" if k.title else ""
    out = [f"  {k.id}{title} [{k.status}{'; ' + ', '.join(k.flags) if k.flags else ''}]"]
    out.append("    " + t("metric {metric} = {definition} = {value}", metric=ex["metric"], definition=ex["definition"],
                           value=v(k.value)))  # fmt: skip
    for name, item in ex["inputs"].items():
        if name != ex["metric"] or len(ex["inputs"]) > 1:
            out.append(f"      {name} = {v(item['value'])}  ({item['source']})")
    if "events" in ex:
        ids = ex["events"]["ids"]
        more = ex["events"]["matched"] - len(ids)
        listed = ", ".join(ids) + (t(" and {more} more", more=more) if more > 0 else "")
        out.append(
            "      " + t("{count} event(s) matched", count=ex["events"]["matched"]) + (f": {listed}" if ids else "")
        )
    if "window" in ex:  # event-window metric: its pairs (plan/ops/windows.py)
        w = ex["window"]
        counts = t("{in_time} in time, {late} late, {never} never", in_time=w["in_time"], late=w["late"],
                   never=w["never"])  # fmt: skip
        out.append("      " + t("{counted} counted: {counts}", counted=w["counted"], counts=counts))
        unit = str(w["duration_unit"]).replace("_", " ")
        for pair in w["pairs"][:SHOWN_PAIRS]:
            took = (
                t(" after {duration} {unit}", duration=v(pair["duration"]), unit=unit)
                if pair["duration"] is not None
                else ""
            )
            out.append(f"        {pair['event']} → {pair['partner'] or t('no answer')}: {pair['status']}{took}")
        if w["counted"] > SHOWN_PAIRS:
            out.append("        " + t("… and {more} more (all in the JSON trace)", more=w["counted"] - SHOWN_PAIRS))
    if "members" in ex:
        for kid, item in ex["members"].items():
            status = t("meets") if item["meets"] is True else t("does not meet")
            counted = "" if item["counted"] else t(" (not counted)")
            out.append("      " + t("member {member}: {status} the condition{counted}", member=kid, status=status,
                                    counted=counted))  # fmt: skip
    if "previous" in ex:
        prev = dict(ex["previous"])
        period = prev.pop("period")
        out.extend(
            "      " + t("previous period {period}: {name} = {value}", period=period, name=n, value=v(x))
            for n, x in prev.items()
        )
    outcome = r(k.score_exact) if k.status == "scored" else t("excluded")
    out.append("    " + t("method {method}: {rule} → {outcome}", method=ex["method"], rule=ex.get("rule", ""),
                           outcome=outcome))  # fmt: skip
    if "adjustment" in ex:
        adj = ex["adjustment"]
        out.append("    " + t("adjustment {id}: {before} → {after} ({reason})", id=adj["id"], before=r(adj["from"]),
                               after=r(adj["to"]), reason=adj["reason"]))  # fmt: skip
    return out
