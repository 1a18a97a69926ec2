"""Concurrency and the caller's decimal context: the library computes in its own context, per thread."""

import decimal
import threading
from decimal import ROUND_DOWN, Decimal, Inexact, getcontext
from fractions import Fraction

import pytest
from tests.shipped import s2_inputs

from kpi_engine import evaluate, load_ruleset
from kpi_engine._numbers import CONTEXT
from kpi_engine.attribution import attribute, load_policy, read_events
from kpi_engine.evaluation.cases import run_cases
from kpi_engine.evaluation.explain import explain_subject
from kpi_engine.expr import parse_expression

SUP = "examples/sales_supervisor_quarterly"
S2_INPUTS = s2_inputs()  # read once, in the default context: the threads below read the same tables


@pytest.fixture(autouse=True)
def at_root(root, monkeypatch):
    monkeypatch.chdir(root)


def _run():
    """Load, evaluate, explain, run cases and attribute; return everything comparable."""
    ruleset = load_ruleset("rulesets/sales_supervisor_quarterly.yaml")
    appraisal = evaluate(ruleset, **S2_INPUTS)
    policy = load_policy("examples/attribution/policy.yaml")
    credit = attribute(policy, read_events("examples/attribution/events.csv", policy))
    return (
        appraisal.to_json(),
        [(r.subject, r.total, [k.effective_weight for k in r.kpis]) for r in appraisal.results],
        explain_subject(appraisal, appraisal.results[0]),
        [c.passed for c in run_cases(ruleset)],
        credit.to_dict(),
        credit.to_rows("month"),
    )


def _hostile():
    """Make the current thread's decimal context as unfriendly as an app could."""
    ctx = getcontext()
    ctx.prec = 2
    ctx.rounding = ROUND_DOWN
    ctx.traps[Inexact] = True
    ctx.clear_flags()
    return ctx


def test_hostile_caller_context_changes_nothing_and_is_left_alone():
    """prec=2, ROUND_DOWN and a trapped Inexact neither change results nor get changed."""
    expected = _run()
    saved = getcontext().copy()
    try:
        ctx = _hostile()
        got = _run()
        assert got == expected
        assert (ctx.prec, ctx.rounding, ctx.traps[Inexact]) == (2, ROUND_DOWN, True)
        assert not any(ctx.flags.values())
    finally:
        decimal.setcontext(saved)


def test_shared_context_template_records_no_flags():
    """CONTEXT is a template: computing never sets flags on the shared object."""
    CONTEXT.clear_flags()
    _run()
    assert not any(CONTEXT.flags.values())


def test_expression_evaluate_alone_uses_the_library_context():
    """Expression.evaluate called directly by an app ignores the app's precision."""
    expr = parse_expression("a / b", {"a": "number", "b": "number"})
    saved = getcontext().copy()
    try:
        _hostile()
        assert expr.evaluate({"a": Decimal(2), "b": Decimal(3)}) == Fraction(2, 3)  # exact, not 2 digits
    finally:
        decimal.setcontext(saved)


def test_eight_threads_with_hostile_contexts_give_the_serial_results():
    """8 threads evaluating and attributing at once, each with a hostile context, match the serial run."""
    expected = _run()
    results: dict[int, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(i: int) -> None:
        try:
            _hostile()
            start.wait()
            results[i] = [_run() for _ in range(2)]
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 8
    assert all(runs == [expected, expected] for runs in results.values())


def test_a_plan_reads_and_splits_the_same_under_a_hostile_context():
    """A plan file parsed and decomposed under prec=2, ROUND_DOWN and a trapped Inexact gives the default's result."""
    from pathlib import Path

    from kpi_engine.time.targets import decompose, parse_plan

    text = Path("examples/year/plan_2026.yaml").read_text(encoding="utf-8")
    expected = decompose(parse_plan(text, "plan.yaml"))
    saved = getcontext().copy()
    try:
        _hostile()
        got = decompose(parse_plan(text, "plan.yaml"))
    finally:
        decimal.setcontext(saved)
    assert got == expected
    assert len(got.allocations) > 100
