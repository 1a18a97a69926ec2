"""The conformance runner itself: it reads case files strictly and fails a case on any difference."""

import textwrap

import pytest

from kpi_engine import evaluate
from kpi_engine.conformance import (
    EXECUTORS,
    CaseError,
    Execution,
    Unsupported,
    load_case_file,
    register_executor,
    run_case,
)

RULESET = """\
rulesets:
  lin: |
    ruleset: lin
    version: "1"
    title: linear 0 → 3
    inputs: {x: {type: number, required: false}}
    kpis:
      - {id: k, metric: x, method: linear, floor: 0, target: 3, weight: 100%}
  ratio: |
    ruleset: ratio
    version: "1"
    title: a ratio reported
    inputs: {x: {type: number}, y: {type: number}}
    metrics: {r: x / y}
    kpis:
      - {id: k, metric: x, method: linear, floor: 0, target: 3, weight: 100%}
    report: [r]
"""


def case(tmp_path, body, name="cases.yaml"):
    path = tmp_path / name
    path.write_text(RULESET + "cases:\n" + textwrap.indent(textwrap.dedent(body), "  "), encoding="utf-8")
    return load_case_file(path, tmp_path)


def test_a_correct_expectation_passes():
    """A case whose expectation matches the appraisal passes on both built-in executors."""
    (c,) = case_in_memory("expect: {r1: {total: '33.33', kpis: {k: {value: 1, score: '33.33'}}}}")
    for executor in ("row", "columnar"):
        assert run_case(c, executor).status == "passed"


def case_in_memory(expect_line, records="[{subject: r1, period: 2026-03, x: 1}]", extra="", ruleset="lin"):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        body = f"- id: c\n  ruleset: {ruleset}\n  records: {records}\n  {expect_line}\n{extra}"
        return case(Path(tmp), body)


def test_reported_figures_compare_as_text():
    """A total written without the reported places ("33.3") fails: places are part of the expectation."""
    (c,) = case_in_memory("expect: {r1: {total: '33.3'}}")
    outcome = run_case(c, "row")
    assert outcome.status == "failed"
    assert outcome.mismatches == ("r1.total: expected 33.3, got 33.33",)


def test_values_compare_exactly_and_fractions_match_their_34_digit_text():
    """A KPI value compares as a number (1.0 is 1); a ratio 1/3 matches 1/3 and its written text, not 0.3333."""
    for written, status in (("'1.0'", "passed"), ("1/1", "passed"), ("'1.01'", "failed")):
        (c,) = case_in_memory(f"expect: {{r1: {{kpis: {{k: {{value: {written}}}}}}}}}")
        assert run_case(c, "row").status == status, written
    records = "[{subject: r1, period: 2026-03, x: 1, y: 3}]"
    for written, status in (
        ("1/3", "passed"),
        ("'0.3333333333333333333333333333333333'", "passed"),
        ("'0.3333'", "failed"),
    ):
        (c,) = case_in_memory(f"expect: {{r1: {{metrics: {{r: {written}}}}}}}", records=records, ruleset="ratio")
        assert run_case(c, "row").status == status, written


def test_the_set_of_subjects_must_match():
    """A subject appraised but not expected (or expected but missing) fails the case."""
    (c,) = case_in_memory(
        "expect: {r1: {total: '33.33'}}",
        records="[{subject: r1, period: 2026-03, x: 1}, {subject: r2, period: 2026-03, x: 2}]",
    )
    outcome = run_case(c, "row")
    assert outcome.status == "failed"
    assert outcome.mismatches[0].startswith("subjects: expected ['r1'], got ['r1', 'r2']")


def test_unexpected_warnings_fail_the_case():
    """Warnings are part of the appraisal: a case that expects none fails when there is one."""
    (c,) = case_in_memory(
        "expect: {t1: {total: '33.33'}}",
        records="[{subject: r1, period: 2026-03, x: 1}, {subject: r2, period: 2026-02, x: 1}]",
        extra="  period: 2026-03\n  members: [{member: r1, parent: t1, period: 2026-03}, {member: r2, parent: t1, period: 2026-03}]\n",
    )
    # a rep scorecard: t1 is not appraised, r1 is, and r2 (February only) is on March's roster
    outcome = run_case(c, "row")
    assert outcome.status == "failed"
    assert "warnings: expected [], got ['no_record']" in outcome.mismatches


def test_an_expected_error_that_does_not_happen_fails():
    """expect_error fails when the executor returns an appraisal."""
    (c,) = case_in_memory("expect_error: {type: DataError, codes: [duplicate_row]}")
    assert run_case(c, "row").status == "failed"


def test_an_error_with_other_codes_fails():
    """The set of issue codes must be exactly the expected one."""
    (c,) = case_in_memory(
        "expect_error: {type: DataError, codes: [bad_value]}",
        records="[{subject: r1, period: 2026-03, x: 1}, {subject: r1, period: 2026-03, x: 2}]",
    )
    outcome = run_case(c, "row")
    assert outcome.status == "failed"
    assert outcome.mismatches == ("codes: expected ['bad_value'], got ['duplicate_row']",)


def test_an_unknown_key_in_a_case_file_is_refused(tmp_path):
    """A misspelt key (here `expected`) is an error, never a silently unchecked expectation."""
    with pytest.raises(CaseError, match="unknown key"):
        case(tmp_path, "- id: c\n  ruleset: lin\n  records: []\n  expected: {r1: {total: '1.00'}}\n")
    with pytest.raises(CaseError, match="unknown key"):
        case(tmp_path, "- id: c\n  ruleset: lin\n  records: []\n  expect: {r1: {totl: '1.00'}}\n")


def test_a_case_needs_exactly_one_ruleset_and_one_expectation(tmp_path):
    """Neither or both of ruleset and ruleset_text, or of expect and expect_error, are refused."""
    with pytest.raises(CaseError, match="exactly one of ruleset"):
        case(tmp_path, "- id: c\n  records: []\n  expect: {}\n")
    with pytest.raises(CaseError, match="exactly one of expect"):
        case(tmp_path, "- id: c\n  ruleset: lin\n  records: []\n")
    with pytest.raises(CaseError, match="unique id"):
        case(tmp_path, "- id: c\n  ruleset: lin\n  expect: {}\n- id: c\n  ruleset: lin\n  expect: {}\n")


def test_numbers_in_case_files_are_text():
    """0.1 in a case file reaches the engine as the text '0.1', never a float."""
    (c,) = case_in_memory("expect: {r1: {}}", records="[{subject: r1, period: 2026-03, x: 0.1}]")
    assert c.inputs.records[0] == {"subject": "r1", "period": "2026-03", "x": "0.1"}


def test_an_unsupported_case_is_neither_passed_nor_failed():
    """An executor that raises Unsupported yields the status unsupported with its reason."""

    def refuses(_ruleset, _inputs):
        raise Unsupported("no kernels here")

    (c,) = case_in_memory("expect: {r1: {total: '33.33'}}")
    outcome = run_case(c, refuses)
    assert outcome.status == "unsupported"
    assert outcome.note == "no kernels here"


def test_a_registered_executor_runs_and_may_add_a_note():
    """register_executor adds an executor by name; its Execution's note is reported with the outcome."""

    def mine(ruleset, inputs):
        return Execution(evaluate(ruleset, list(inputs.records), engine="row"), "via the row evaluator")

    register_executor("test_mine", mine)
    try:
        (c,) = case_in_memory("expect: {r1: {total: '33.33'}}")
        outcome = run_case(c, "test_mine")
        assert (outcome.status, outcome.note) == ("passed", "via the row evaluator")
    finally:
        del EXECUTORS["test_mine"]


def test_a_crash_is_a_failure():
    """An executor raising something other than KpiError fails the case with the exception's type."""

    def crashes(_ruleset, _inputs):
        raise ZeroDivisionError("boom")

    (c,) = case_in_memory("expect: {r1: {total: '33.33'}}")
    outcome = run_case(c, crashes)
    assert outcome.status == "failed"
    assert outcome.mismatches == ("crash: ZeroDivisionError: boom",)
