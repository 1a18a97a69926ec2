"""The fast lane's lazy result views against the general row path's result objects.

``FastResults`` hands out views (subclasses of ``SubjectResult``/``KpiResult``) that compute the
subject, rank, grade, reported total and reported KPI scores from the lane's integers and read
every other field from the complete result. On random qualifying scorecards (every rounding
mode, 0–3 places, both contribution policies) and random teams, every attribute of every view —
read first, on a fresh appraisal, before anything is built — must be the general path's: equal,
of the same type and with the same digits; the views must compare equal both ways, pickle, copy
and ``attrs.evolve`` as plain results, and the JSON must be byte-identical.
"""

import copy
import pickle
from decimal import Decimal

import attrs
from hypothesis import assume, given
from hypothesis import strategies as st
from test_fastrow_props import _SETTINGS, _T12, _rows, cards, general, teams

from kpi_engine import evaluate
from kpi_engine.evaluation import fastrow
from kpi_engine.evaluation.results import KpiResult, SubjectResult
from kpi_engine.language.build import parse_ruleset

_MODES = ["half_up", "half_even", "half_down", "up", "down", "ceiling", "floor"]


def _form(x):
    """Type and digits (``==`` alone would take ``Decimal('1.0')`` for ``Decimal('1.00')``)."""
    return None if x is None else (type(x).__name__, str(x))


def _subject_read(r):
    """Everything a caller can read of a subject's result, as type and digits."""
    plain = {f.name: getattr(r, f.name) for f in attrs.fields(SubjectResult) if f.name not in {"kpis", "rounding"}}
    return (
        {k: (_form(v) if isinstance(v, Decimal | int) and not isinstance(v, bool) else v) for k, v in plain.items()},
        _form(r.total),
        _form(r.total_before_gates),
        _form(r.total_exact),
        _form(r.total_before_gates_exact),
        _form(r.contributions_residue),
        r.rounding,
        [_kpi_read(k) for k in r.kpis],
    )


def _kpi_read(k):
    fields = {f.name: getattr(k, f.name) for f in attrs.fields(KpiResult) if f.name != "tracer"}
    return (
        {n: (_form(v) if isinstance(v, Decimal | int) and not isinstance(v, bool) else v) for n, v in fields.items()},
        _form(k.score),
        _form(k.score_exact),
        _form(k.effective_weight),
        _form(k.contribution),
        _form(k.contribution_exact),
        _form(k.value),
        k.explanation,
    )


@st.composite
def rounded_cards(draw):
    text, specials = draw(cards())
    places = draw(st.integers(0, 3))
    mode = draw(st.sampled_from(_MODES))
    contributions = draw(st.sampled_from(["rounded", "largest_remainder"]))
    line = f"rounding: {{places: {places}, mode: {mode}, contributions: {contributions}}}\n"
    return text.replace("period: month\n", "period: month\n" + line, 1), specials


@_SETTINGS
@given(data=st.data())
def test_every_attribute_of_every_view_is_the_general_paths(data):
    text, specials = data.draw(rounded_cards())
    ruleset = parse_ruleset(text)
    assert not isinstance(fastrow.FastCard.of(ruleset.scorecard), str)
    rows = data.draw(teams(specials))
    got = evaluate(ruleset, rows, engine="row")
    assume(isinstance(got.results, fastrow.FastResults))  # a team whose first column holds a sum: screening
    ref = general(ruleset, rows)
    views = list(got.results)
    assert [type(v) for v in views] == [fastrow._SubjectView] * len(ref.results)
    # The integers' answers first, before any complete result exists.
    quick = [
        (v.subject, v.rank, v.grade, _form(v.total), [(k.id, k.subject, _form(k.score)) for k in v.kpis]) for v in views
    ]
    assert got.results._built == [None] * len(views)  # nothing built by those reads
    assert quick == [
        (r.subject, r.rank, r.grade, _form(r.total), [(k.id, k.subject, _form(k.score)) for k in r.kpis])
        for r in ref.results
    ]
    for v, r in zip(views, ref.results, strict=True):
        assert isinstance(v, SubjectResult)
        assert all(isinstance(k, KpiResult) for k in v.kpis)
        assert _subject_read(v) == _subject_read(r)
        assert v == r
        assert r == v
        assert not v != r  # noqa: SIM202 - ``__ne__`` both ways
        assert not r != v  # noqa: SIM202
        assert v.complete() == r
        assert type(v.complete()) is SubjectResult
        assert [k.complete() for k in v.kpis] == list(r.kpis)
        assert all(k == rk and rk == k and hash(k) == hash(rk) for k, rk in zip(v.kpis, r.kpis, strict=True))
        assert repr(v) == repr(r)
        for other in (pickle.loads(pickle.dumps(v)), copy.copy(v), copy.deepcopy(v)):  # noqa: S301 - own bytes
            assert type(other) is SubjectResult
            assert other == r
        evolved = attrs.evolve(v, rank=99)
        assert type(evolved) is SubjectResult
        assert evolved == attrs.evolve(r, rank=99)
    assert got.to_json(traces=True) == ref.to_json(traces=True)
    fresh = evaluate(ruleset, rows, engine="row")  # the JSON of views nobody has read yet
    assert fresh.to_json() == ref.to_json()
    assert "".join(fresh.iter_jsonl()) == "".join(ref.iter_jsonl())
    assert fresh == ref


def test_a_view_stands_for_its_result_wherever_it_goes():
    rows = _rows(("1000", "90"), ("650", "300"), ("850.50", "120"))
    got = evaluate(_T12, rows, engine="row")
    ref = general(_T12, rows)
    view = got.results[0]
    assert type(view) is fastrow._SubjectView
    assert isinstance(view, SubjectResult)
    assert view.kpis is view.kpis  # made once per view
    assert (view.kpi("b").id, view.kpi("b").score) == ("b", ref.results[0].kpi("b").score)
    assert got.results._built == [None] * 3  # nothing built by those reads
    assert view.kpi("b") == ref.results[0].kpi("b")  # equality compares complete results
    assert view.total_exact == ref.results[0].total_exact  # an exact number: the complete result, built now
    assert got.results._built[0] is view.complete()
    assert got.result("s2") == ref.result("s2")
    later = got.results[1]  # complete before its KPIs are read: the complete result's own KPI objects
    assert later.total_exact == ref.results[1].total_exact
    assert all(type(k) is KpiResult for k in later.kpis)
    assert later.kpis == ref.results[1].kpis
    assert pickle.loads(pickle.dumps(got)) == ref  # noqa: S301 - own bytes


def test_views_leave_no_reference_cycle():
    """A dropped appraisal whose views were read is freed by reference counting (no cyclic collector)."""
    import gc
    import weakref

    rows = _rows(("1000", "90"), ("650", "300"))
    was = gc.isenabled()
    gc.disable()
    try:
        got = evaluate(_T12, rows, engine="row")
        for r in got.results:
            _ = (r.total, [k.score for k in r.kpis], r.total_exact, r.kpis[0].explanation)
        alive = weakref.ref(got.results)
        del got, r
        assert alive() is None
    finally:
        if was:
            gc.enable()
