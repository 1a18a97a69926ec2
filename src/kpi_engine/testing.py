"""Helpers for testing with kpi_engine: hypothesis strategies and a ruleset-case runner.

Use them in your own test suites::

    from hypothesis import given
    from kpi_engine import evaluate
    from kpi_engine.testing import rulesets_with_records

    @given(rulesets_with_records())
    def test_totals_are_bounded(pair):
        ruleset, records = pair
        for r in evaluate(ruleset, records).results:
            assert r.total is None or r.total >= 0

Requires ``hypothesis`` (installed with the ``test`` extra).
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from kpi_engine.evaluation.cases import CaseResult, run_cases
from kpi_engine.io.loading import load_ruleset
from kpi_engine.language.build import Ruleset, parse_ruleset

__all__ = [
    "assert_cases_pass",
    "exact_decimals",
    "layered_cases",
    "ruleset_texts",
    "rulesets",
    "rulesets_with_records",
]


def exact_decimals(min_value: str = "0", max_value: str = "1000", places: int = 2) -> st.SearchStrategy[Decimal]:
    """Finite decimals with at most ``places`` decimal places, between the bounds."""
    return st.decimals(
        min_value=Decimal(min_value), max_value=Decimal(max_value), places=places, allow_nan=False, allow_infinity=False
    )


def _split_100(draw: st.DrawFn, n: int) -> list[int]:
    if n == 1:
        return [100]
    cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=n - 1, max_size=n - 1, unique=True)))
    bounds = [0, *cuts, 100]
    return [b - a for a, b in itertools.pairwise(bounds)]


@st.composite
def _kpi(draw: st.DrawFn, index: int, metric: str) -> dict[str, Any]:
    method = draw(st.sampled_from(["threshold", "linear", "attainment", "bands", "expression"]))
    kpi: dict[str, Any] = {"id": f"k{index}", "metric": metric, "method": method}
    if method == "threshold":
        kpi["direction"] = draw(st.sampled_from(["higher", "lower"]))
        kpi["target"] = str(draw(exact_decimals("0", "100", 1)))
    elif method == "linear":
        direction = draw(st.sampled_from(["higher", "lower"]))
        lo = draw(exact_decimals("0", "50", 1))
        hi = lo + draw(exact_decimals("1", "50", 1))
        kpi["direction"] = direction
        kpi["target"], kpi["floor"] = (str(hi), str(lo)) if direction == "higher" else (str(lo), str(hi))
        kpi["cap"] = draw(st.sampled_from(["100", "120"]))
    elif method == "attainment":
        kpi["target"] = str(draw(exact_decimals("1", "100", 1)))
        kpi["cap"] = draw(st.sampled_from(["100", "120"]))
    elif method == "bands":
        cut1 = draw(exact_decimals("0", "40", 1))
        cut2 = cut1 + draw(exact_decimals("1", "40", 1))
        kpi["bands"] = [
            {"id": "low", "max": str(cut1), "score": "0"},
            {"id": "mid", "min": str(cut1), "max": str(cut2), "score": str(draw(st.integers(1, 99)))},
            {"id": "high", "min": str(cut2), "score": "100"},
        ]
    else:
        kpi["score"] = draw(st.sampled_from(["value", "min(value, 100)", "100 - value if value < 100 else 0"]))
    return kpi


@st.composite
def ruleset_texts(draw: st.DrawFn, max_kpis: int = 5) -> str:
    """YAML text of a valid rep-level ruleset with 1–``max_kpis`` KPIs over number inputs.

    It may group the KPIs in two weighted sections, add a ``cap_total`` gate, and pick the reported
    places and rounding mode, so that renormalisation, gates and rounding ties all get exercised.
    """
    n = draw(st.integers(1, max_kpis))
    weights = _split_100(draw, n)
    inputs = {f"m{i}": {"type": "number", "required": False} for i in range(n)}
    two_sections = n > 1 and draw(st.booleans())
    section_of = [draw(st.sampled_from(["s1", "s2"])) if two_sections else "main" for _ in range(n)]
    if two_sections:
        section_of[0], section_of[-1] = "s1", "s2"  # both sections have a KPI
    kpis = []
    for i in range(n):
        kpi = draw(_kpi(i, f"m{i}"))
        if two_sections:
            members = [j for j in range(n) if section_of[j] == section_of[i]]
            kpi["section"] = section_of[i]
            kpi["weight"] = f"{_split_100_at(weights, members, i)}%"
        else:
            kpi["weight"] = f"{weights[i]}%"
        kpi["on_missing"] = draw(st.sampled_from(["exclude", "zero"]))
        kpis.append(kpi)
    doc: dict[str, Any] = {
        "ruleset": "generated",
        "version": "1",
        "title": "generated ruleset",
        "subject": "rep",
        "period": "month",
        "inputs": inputs,
        "kpis": kpis,
        "grades": [{"grade": "A", "min": "90"}, {"grade": "B", "min": "60"}, {"grade": "C"}],
    }
    if two_sections:
        first = draw(st.integers(1, 99))
        doc["sections"] = {"s1": {"weight": f"{first}%"}, "s2": {"weight": f"{100 - first}%"}}
    if draw(st.booleans()):
        doc["gates"] = [
            {
                "id": "floor",
                "when": f"m0 < {draw(exact_decimals('0', '100', 1))}",
                "cap_total": str(draw(st.integers(0, 100))),
            }
        ]
    doc["rounding"] = {
        "places": draw(st.integers(0, 3)),
        "mode": draw(st.sampled_from(["half_up", "half_even", "half_down", "down", "up", "floor", "ceiling"])),
    }
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _split_100_at(weights: list[int], members: list[int], index: int) -> str:
    """KPI ``index``'s share of its section's weights, as a percent that adds up to 100 in the section."""
    total = sum(weights[j] for j in members)
    scaled = [weights[j] * 100 // total for j in members]
    scaled[-1] += 100 - sum(scaled)  # the last KPI of the section takes the remainder
    return str(scaled[members.index(index)])


def rulesets(max_kpis: int = 5) -> st.SearchStrategy[Ruleset]:
    """Valid, loaded rulesets."""
    return ruleset_texts(max_kpis).map(parse_ruleset)


def _edges(ruleset: Ruleset, name: str) -> list[Decimal]:
    """Values a KPI on input ``name`` decides on: targets, floors and band edges."""
    out: list[Decimal] = []
    for kpi in ruleset.scorecard.kpis:
        if kpi.metric == name:
            out.extend(kpi.target)
            out.extend(kpi.floor)
            out.extend(b for band in kpi.bands for b in (band.min, band.max) if b is not None)
    return out


@st.composite
def rulesets_with_records(
    draw: st.DrawFn, max_kpis: int = 5, max_subjects: int = 6
) -> tuple[Ruleset, list[dict[str, Any]]]:
    """A valid ruleset and matching records for one month (values may be missing, i.e. N/A).

    Values are drawn to land often exactly on a threshold, floor or band edge, or on a rounding tie
    (three decimals ending in 5), besides arbitrary two-decimal values.
    """
    ruleset = draw(rulesets(max_kpis))
    count = draw(st.integers(1, max_subjects))
    records = []
    for s in range(count):
        row: dict[str, Any] = {"subject": f"rep{s:02d}", "period": "2026-03"}
        for name in ruleset.scorecard.inputs:
            edges = _edges(ruleset, name)
            choices = [
                st.none(),
                exact_decimals("0", "150", 2),
                exact_decimals("0", "150", 2).map(lambda d: d + Decimal("0.005")),
            ]
            if edges:
                choices.append(st.sampled_from(edges))
            value = draw(st.one_of(*choices))
            row[name] = None if value is None else str(value)
        records.append(row)
    return ruleset, records


_LAYER_VALUES = ["0", "10", "50", "100", "1.005", "99.995", "150"]
_MONTHS = ("2026-01", "2026-02", "2026-03")


def _layer_value(draw: st.DrawFn) -> str | None:
    value = draw(st.none() | st.sampled_from(_LAYER_VALUES) | exact_decimals("0", "150", 2).map(str))
    return None if value is None else str(value)


@st.composite
def layered_cases(
    draw: st.DrawFn, max_reps: int = 6
) -> tuple[Ruleset, list[dict[str, Any]], list[dict[str, Any]] | None, list[dict[str, Any]], str | None]:
    """A ruleset whose metrics read history, members or rollups, with three months of data.

    Returns ``(ruleset, records, members, events, period)``. The level is rep, team or department;
    metrics include ``previous`` (every ``compare``, of an input, a formula or an aggregate),
    ``streak``, ``members`` shares (teams and above), inputs with each ``rollup`` and a formula
    with ``rollup: mean``. Records leave gaps (a month without a record ends a streak and makes
    ``previous`` N/A); reps may change team between months; teams may carry figures of their own.
    ``period`` is ``None`` (the latest) or a month.
    """
    level = draw(st.sampled_from(["rep", "rep", "team", "department"]))
    rollup = draw(st.sampled_from(["sum", "mean", "min", "max", "none"]))
    compare = draw(st.sampled_from(["value", "change", "growth", "reduction"]))
    inputs = {
        "x": {"type": "number", "required": False, "rollup": rollup},
        "y": {"type": "number", "required": False},
        "z": {"type": "count", "required": False},
    }
    of = draw(st.sampled_from(["x", "rate", "visits", "amount"]))
    metrics: dict[str, Any] = {
        "rate": {"formula": "x / y"},
        "mrate": {
            "formula": draw(st.sampled_from(["(x + z) / y", "x ** 2 / (y + 1) ** 3", "(x / 7) ** -1"])),
            "rollup": draw(st.sampled_from(["pooled", "mean"])),
        },
        "visits": {"aggregate": {"fn": "count", "where": "type == 'visit'"}},
        "amount": {"aggregate": {"fn": draw(st.sampled_from(["sum", "mean", "max"])), "field": "amount"}},
        "prev": {"previous": {"metric": of, "compare": compare}},
        "prev2": {"previous": {"metric": "prev", "compare": "value"}},
        "run": {"streak": draw(st.sampled_from(["rate >= 1", "x > 10", "x >= y or z > 2", "prev > 0"]))},
    }
    names = ["x", "rate", "mrate", "visits", "amount", "prev", "prev2", "run"]
    if level != "rep":
        metrics["share"] = {"members": {"where": draw(st.sampled_from(["x >= 50", "rate >= 1", "run >= 1"])),
                                        "among": draw(st.sampled_from(["y > 0", "z >= 0", "true"]))}}  # fmt: skip
        names.append("share")
    count = draw(st.integers(1, 4))
    chosen = draw(st.lists(st.sampled_from(names), min_size=count, max_size=count))
    weights = _split_100(draw, count)
    kpis = []
    ratios = {"share", "prev", "prev2"}  # shares and growths are ratios: percent targets
    for i, metric in enumerate(chosen):
        if metric in ratios:
            kpi = {"id": f"k{i}", "metric": metric, "method": draw(st.sampled_from(["threshold", "linear"]))}
            kpi["direction"] = draw(st.sampled_from(["higher", "lower"]))
            if kpi["method"] == "threshold":
                kpi["target"] = draw(st.sampled_from(["0", "5%", "50%", "100%"]))
            else:
                lo, hi = draw(st.sampled_from([("0", "80%"), ("-50%", "50%")]))
                kpi["floor"], kpi["target"] = (lo, hi) if kpi["direction"] == "higher" else (hi, lo)
        else:
            kpi = draw(_kpi(i, metric))
        kpi["weight"] = f"{weights[i]}%"
        kpi["on_missing"] = draw(st.sampled_from(["exclude", "zero"]))
        kpis.append(kpi)
    doc: dict[str, Any] = {
        "ruleset": "layered",
        "version": "1",
        "title": "generated ruleset with history and members",
        "subject": level,
        "period": "month",
        "inputs": inputs,
        "event_fields": {"amount": "money"},
        "metrics": metrics,
        "kpis": kpis,
        "grades": [{"grade": "A", "min": "90"}, {"grade": "B", "min": "60"}, {"grade": "C"}],
        "report": ["run", "prev"],
    }
    if draw(st.booleans()):
        doc["flags"] = {"steady": draw(st.sampled_from(["run >= 2", "prev2 > 0", "visits >= 1"]))}
    if draw(st.booleans()):
        doc["gates"] = [{"id": "g", "when": draw(st.sampled_from(["prev < 0", "run == 0"])), "cap_total": "60"}]
    ruleset = parse_ruleset(yaml.safe_dump(doc, sort_keys=False))
    reps = [f"r{i}" for i in range(draw(st.integers(1, max_reps)))]
    teams = ["t0", "t1"] if level != "rep" else []
    records: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    for month in _MONTHS:
        for rep in reps:
            if draw(st.integers(0, 4)) == 0:
                continue  # a gap
            records.append({"subject": rep, "period": month, "x": _layer_value(draw), "y": _layer_value(draw),
                            "z": draw(st.none() | st.integers(0, 5).map(str))})  # fmt: skip
            if teams:
                members.append({"member": rep, "parent": draw(st.sampled_from(teams)), "period": month})
        for team in teams:
            if draw(st.integers(0, 3)) == 0:
                records.append({"subject": team, "period": month, "x": _layer_value(draw)})
            if level == "department" and any(m["parent"] == team and m["period"] == month for m in members):
                members.append({"member": team, "parent": "d", "period": month})
    events = [
        {"event_id": f"e{i}", "type": draw(st.sampled_from(["visit", "call"])),
         "at": f"{draw(st.sampled_from(_MONTHS))}-{draw(st.sampled_from(['01', '15', '28']))}T10:00:00+08:00",
         "rep": draw(st.sampled_from(reps)), "amount": draw(st.none() | st.sampled_from(["0", "2.5", "100"]))}
        for i in range(draw(st.integers(0, 6)))
    ]  # fmt: skip
    period = draw(st.none() | st.sampled_from(_MONTHS))
    return ruleset, records, members if teams else None, events, period


def assert_cases_pass(path: str | Path) -> list[CaseResult]:
    """Load a ruleset and assert that all its embedded cases pass; return the results.

    Raises:
        AssertionError: listing each failing case with expected against actual.
    """
    results = run_cases(load_ruleset(path))
    failures = [r for r in results if not r.passed]
    if failures:
        lines = []
        for f in failures:
            lines.append(f"case {f.name!r}: " + (f.error or ""))
            lines.extend(f"  {m.subject} {m.what}: expected {m.expected}, got {m.actual}" for m in f.mismatches)
        raise AssertionError("\n".join(lines))
    return results
