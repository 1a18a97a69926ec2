"""The columnar kernel and the row evaluator give the same appraisal, or the same error."""

import pytest
from hypothesis import given, settings
from tests.strategies import edge_cases, rulesets_with_records

from kpi_engine import KpiError, evaluate
from kpi_engine.evaluation.columnar._run import run_columnar

pytest.importorskip("polars")
pytest.importorskip("numpy")


def _close(a, b):
    """Both engines are exact: values are equal as rationals (a Decimal equals the same Fraction)."""
    return a == b


def assert_same(row, col):
    assert (row.period, row.level, row.places, row.rounding) == (col.period, col.level, col.places, col.rounding)
    assert [r.subject for r in row.results] == [r.subject for r in col.results]
    by_subject = {r.subject: r for r in col.results}
    ranked = [(r.rank is None, r.rank or 0, r.subject) for r in col.results]
    assert ranked == sorted(ranked)  # results come in rank order, then by subject
    for a in row.results:
        b = by_subject[a.subject]
        assert (a.rank, a.rank_in_parent, a.grade, a.bonus_multiplier, a.flags, a.parent) == (
            b.rank, b.rank_in_parent, b.grade, b.bonus_multiplier, b.flags, b.parent
        ), a.subject  # fmt: skip
        assert a.gates == b.gates
        assert a.adjustments == b.adjustments
        assert _close(a.total, b.total), (a.total, b.total)
        assert _close(a.total_before_gates, b.total_before_gates)
        assert a.metrics.keys() == b.metrics.keys()
        assert all(_close(a.metrics[k], b.metrics[k]) for k in a.metrics)
        for s, t in zip(a.sections, b.sections, strict=True):
            assert (s.id, s.flags) == (t.id, t.flags)
            assert _close(s.score, t.score)
            assert _close(s.effective_weight, t.effective_weight)
        for k, m in zip(a.kpis, b.kpis, strict=True):
            assert (k.id, k.status, k.flags) == (m.id, m.status, m.flags), (a.subject, k.id)
            assert _close(k.value, m.value), (k.value, m.value)
            assert _close(k.score, m.score), (k.score, m.score)
            assert _close(k.effective_weight, m.effective_weight)
            assert _close(k.contribution, m.contribution)
            assert k.explanation.get("band") == m.explanation.get("band")


def run_both(ruleset, records, **kw):
    try:
        row = evaluate(ruleset, records, engine="row", **kw)
    except KpiError as exc:
        expected = exc
    else:
        # Valid data: the kernel itself must produce the appraisal (no hand-over to the row path).
        col = run_columnar(ruleset, records, None, None, kw.get("events"), strict=kw.get("strict", False))
        assert_same(row, col)
        assert_same(row, evaluate(ruleset, records, engine="columnar", **kw))
        return row, col
    with pytest.raises(type(expected)) as caught:
        evaluate(ruleset, records, engine="columnar", **kw)
    assert [i.code for i in caught.value.issues] == [i.code for i in expected.issues]
    assert str(caught.value) == str(expected)
    return None, None


@given(edge_cases())
@settings(max_examples=80)
def test_columnar_matches_row_path_on_edges(case):
    """On values at bounds, ties and N/A, the kernel reproduces every value, flag, grade and rank."""
    ruleset, records, events = case
    run_both(ruleset, records, events=events)


@given(rulesets_with_records())
def test_columnar_matches_row_path(pair):
    """On the public generated rulesets the kernel gives the row path's appraisal."""
    ruleset, records = pair
    run_both(ruleset, records)


@given(edge_cases(max_subjects=3))
@settings(max_examples=30)
def test_columnar_strict_runs_agree(case):
    """A strict run gives the same appraisal or the same N/A error on both paths."""
    ruleset, records, events = case
    run_both(ruleset, records, events=events, strict=True)
