"""The conformance suite: every case of tests/conformance on every executor, and the results table kept fresh.

A case an executor does not evaluate (``Unsupported``) is skipped with the executor's reason, never
counted as a pass. A case that shows an engine bug keeps its hand-derived expectation and is listed
in ``KNOWN_FAILURES`` (strict xfail: it must fail until the engine is fixed).
"""

import functools
import importlib.util
import sys
from pathlib import Path

import pytest

from kpi_engine.conformance import EXECUTORS, load_cases, run_case

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "tests" / "conformance"
CASES = load_cases(SUITE)

# (case id, executor) → why it fails today. "*" stands for every executor. Keep this list short and
# exact: each entry is an engine disagreement reported on issue 16, removed when the engine is fixed.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def known_failure(case_id: str, executor: str) -> str | None:
    """The reason a case is known to fail on an executor, or ``None``."""
    return KNOWN_FAILURES.get((case_id, executor)) or KNOWN_FAILURES.get((case_id, "*"))


@functools.cache
def outcome(case_id: str, executor: str):
    case = next(c for c in CASES if c.full_id == case_id)
    return run_case(case, executor)


def _params():
    for case in CASES:
        for executor in EXECUTORS:
            marks = []
            reason = known_failure(case.full_id, executor)
            if reason is not None:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            yield pytest.param(case.full_id, executor, id=f"{case.full_id}[{executor}]", marks=marks)


@pytest.mark.parametrize(("case_id", "executor"), list(_params()))
def test_case_conforms(case_id, executor):
    """The executor's appraisal (or error) equals the case's hand-derived expectation."""
    result = outcome(case_id, executor)
    if result.status == "unsupported":
        pytest.skip(f"not supported by {executor}: {result.note}")
    assert result.status == "passed", result.describe()


def test_the_suite_has_at_least_300_cases_with_unique_ids():
    """The suite holds 300 or more cases and every full id is unique."""
    ids = [c.full_id for c in CASES]
    assert len(ids) >= 300
    assert len(set(ids)) == len(ids)


def test_every_known_failure_names_a_real_case_and_executor():
    """Entries of KNOWN_FAILURES point at existing cases and executors (no stale entries)."""
    ids = {c.full_id for c in CASES}
    for case_id, executor in KNOWN_FAILURES:
        assert case_id in ids, case_id
        assert executor == "*" or executor in EXECUTORS, executor


def _tool():
    spec = importlib.util.spec_from_file_location("conformance_tool", ROOT / "tools" / "conformance.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("conformance_tool", module)
    spec.loader.exec_module(module)
    return module


def test_every_language_key_is_covered_or_listed():
    """Every key and enumerated value of the ruleset language appears in some case's ruleset, or is listed with a reason."""
    tool = _tool()
    missing = tool.uncovered(CASES)
    assert missing == [], missing


def test_results_table_is_fresh():
    """docs/conformance.md shows the results of this run (regenerate with `python tools/conformance.py`)."""
    tool = _tool()
    outcomes = [outcome(c.full_id, e) for c in CASES for e in EXECUTORS]
    page = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    assert tool.generated_part(page) == tool.render_table(CASES, outcomes, KNOWN_FAILURES)
