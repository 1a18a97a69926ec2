"""Shared hypothesis strategies: the public ones from kpi_engine.testing, plus test-only ones."""

from decimal import Decimal
from typing import Any

import yaml
from hypothesis import strategies as st

from kpi_engine.language.build import Ruleset, parse_ruleset
from kpi_engine.testing import exact_decimals, ruleset_texts, rulesets, rulesets_with_records

__all__ = ["edge_cases", "exact_decimals", "ruleset_texts", "rulesets", "rulesets_with_records"]

# Values that sit on decisions and ties: bounds, x.xx5 halves, thirds that renormalise.
EDGES = ["0", "4.5", "0.375", "0.625", "1.005", "2.675", "50", "59.995", "60", "75", "89.995", "90", "100", "120"]


@st.composite
def _kpi(draw: st.DrawFn, i: int, metric: str, sections: list[str], edges: list[str]) -> dict[str, Any]:
    method = draw(st.sampled_from(["threshold", "linear", "attainment", "bands", "expression"]))
    kpi: dict[str, Any] = {
        "id": f"k{i}",
        "metric": metric,
        "method": method,
        "section": draw(st.sampled_from(sections)),
    }
    pick = st.sampled_from(EDGES) | exact_decimals("1", "100", 3).map(str)
    if method == "threshold":
        kpi["direction"] = draw(st.sampled_from(["higher", "lower"]))
        kpi["target"] = draw(pick)
        kpi["strict"] = draw(st.booleans())
        edges.append(kpi["target"])
    elif method == "linear":
        direction = draw(st.sampled_from(["higher", "lower"]))
        lo = draw(exact_decimals("0", "50", 2))
        hi = lo + draw(exact_decimals("0.5", "60", 2))
        kpi["direction"] = direction
        kpi["target"], kpi["floor"] = (str(hi), str(lo)) if direction == "higher" else (str(lo), str(hi))
        kpi["cap"] = draw(st.sampled_from(["100", "120"]))
        edges.extend([str(lo), str(hi)])
    elif method == "attainment":
        kpi["direction"] = draw(st.sampled_from(["higher", "lower"]))
        kpi["target"] = str(draw(exact_decimals("1", "100", 2)))
        kpi["cap"] = draw(st.sampled_from(["100", "120"]))
    elif method == "bands":
        cut1 = draw(exact_decimals("0", "40", 2))
        cut2 = cut1 + draw(exact_decimals("1", "40", 2))
        edges.extend([str(cut1), str(cut2)])
        kpi["bands"] = [
            {"id": "low", "max": str(cut1), "score": "0"},
            {"id": "mid", "min": str(cut1), "max": str(cut2), "score": str(draw(exact_decimals("1", "99", 1)))},
            {"id": "high", "min": str(cut2), "score": "100"},
        ]
    else:
        kpi["score"] = draw(
            st.sampled_from(
                [
                    "value",
                    "min(value, 100)",
                    "100 - value if value < 100 else 0",
                    "round(value * 3 / 7, 2)",
                    "value ** 2 / 100",
                    "100 * (value / 150) ** 3",
                    "100 * (1 + value / 10) ** -2",
                ]
            )
        )
    kpi["on_missing"] = draw(st.sampled_from(["exclude", "exclude", "zero"]))
    return kpi


@st.composite
def edge_cases(draw: st.DrawFn, max_subjects: int = 8) -> tuple[Ruleset, list[dict[str, Any]], list[dict[str, Any]]]:
    """A rep ruleset with sections, ratio formulas, aggregates, gates, adjustments and grades; records and events.

    Values are drawn mostly from decision points (thresholds, band edges, grade bounds, x.xx5 ties)
    and include N/A (missing values, 0/0 ratios) so that weights renormalise.
    """
    n_sections = draw(st.integers(1, 3))
    sections = [f"s{i}" for i in range(n_sections)]
    weights = draw(
        st.lists(
            st.sampled_from(["10%", "25%", "33%", "50%", "75%", "33.3%"]), min_size=n_sections, max_size=n_sections
        )
    )
    n = draw(st.integers(1, 6))
    inputs = {f"m{i}": {"type": "number", "required": False} for i in range(n)}
    inputs["den"] = {"type": "count", "required": False}
    metrics: dict[str, Any] = {"share": {"formula": "m0 / den"}, "visits": {"aggregate": {"fn": "count", "where": "type == 'visit'"}},
                               "amount": {"aggregate": {"fn": draw(st.sampled_from(["sum", "mean", "min", "max"])), "field": "amount"}},
                               "customers": {"aggregate": {"fn": "count_distinct", "field": "customer"}}}  # fmt: skip
    metric_names = [*inputs.keys() - {"den"}, "share", "visits", "amount", "customers"]
    edges: list[str] = list(EDGES)
    kpis = []
    for i in range(n):
        kpi = draw(_kpi(i, draw(st.sampled_from(sorted(metric_names))), sections, edges))
        kpi["weight"] = draw(st.sampled_from(["10%", "20%", "25%", "33.3%", "0.125"]))
        kpis.append(kpi)
    for s in sections:  # every section has a KPI
        if not any(k["section"] == s for k in kpis):
            kpis[0 if len(kpis) == 1 else -1]["section"] = s
    doc: dict[str, Any] = {
        "ruleset": "generated",
        "version": "1",
        "title": "generated",
        "subject": "rep",
        "period": "month",
        "inputs": inputs,
        "event_fields": {"amount": "money"},
        "metrics": metrics,
        "sections": {s: {"weight": w} for s, w in zip(sections, weights, strict=True)},
        "normalize": True,
        "kpis": kpis,
        "grades": [
            {"grade": "A", "min": "90"},
            {"grade": "B", "min": "75"},
            {"grade": "C", "min": "60"},
            {"grade": "D"},
        ],
        "rounding": {
            "places": draw(st.sampled_from([0, 1, 2, 3])),
            "mode": draw(st.sampled_from(["half_up", "half_even", "down"])),
        },
    }
    gate = draw(st.sampled_from(["none", "cap", "zero", "force", "total"]))
    if gate == "cap":
        doc["gates"] = [{"id": "g", "when": "m0 < 50", "cap_total": "60"}]
    elif gate == "zero":
        doc["gates"] = [{"id": "g", "when": "share >= 0.5", "zero_section": sections[-1]}]
    elif gate == "force":
        doc["gates"] = [{"id": "g", "when": "visits > 1 or m0 == 4.5", "force_grade": "D"}]
    elif gate == "total":
        doc["gates"] = [{"id": "g", "when": "total > 75 and not (m0 > 100)", "cap_total": "75"}]
    if draw(st.booleans()):
        doc["adjustments"] = [
            {"id": "adj", "kpi": "k0", "when": "m0 >= 50 and (den > 2 or den == 0)", "score": "100", "reason": "r"}
        ]
    if draw(st.booleans()):
        doc["ranking"] = {"by": "m0", "order": draw(st.sampled_from(["higher_first", "lower_first"]))}
    ruleset = parse_ruleset(yaml.safe_dump(doc, sort_keys=False))
    value = st.none() | st.sampled_from(edges) | exact_decimals("0", "150", 3).map(str)
    count = draw(st.integers(1, max_subjects))
    records = []
    for s in range(count):
        row: dict[str, Any] = {"subject": f"rep{s:02d}", "period": "2026-03"}
        for name in inputs:
            if name == "den":
                row[name] = draw(st.none() | st.integers(0, 5).map(str))
            else:
                row[name] = draw(value)
        records.append(row)
    events = [
        {
            "event_id": f"e{e}", "type": draw(st.sampled_from(["visit", "call"])),
            "at": draw(st.sampled_from(["2026-03-01T00:30:00+08:00", "2026-03-31T16:30:00Z", "2026-03-15", "2026-02-28T23:00:00"])),
            "rep": f"rep{draw(st.integers(0, count - 1)):02d}", "customer": draw(st.sampled_from(["c1", "c2", "c3", None])),
            "amount": draw(st.none() | st.sampled_from(["0", "1.005", "2.5", "100"]) | exact_decimals("0", "500", 2).map(str)),
        }
        for e in range(draw(st.integers(0, 12)))
    ]  # fmt: skip
    return ruleset, records, events


_ = Decimal
