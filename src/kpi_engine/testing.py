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
