"""The kernel on previous, streak and members metrics and on team rollups: the row path's appraisal."""

from fractions import Fraction
from pathlib import Path

import pytest
from tests.properties.test_columnar_props import assert_same

from kpi_engine import KpiError, Table, evaluate, load_ruleset, parse_ruleset
from kpi_engine.evaluation.columnar._run import run_columnar
from kpi_engine.io.loading import read_table
from kpi_engine.plan import lower

pytest.importorskip("polars")
pytest.importorskip("numpy")

ROOT = Path(__file__).resolve().parents[2]


def _both(ruleset, records, *, period=None, members=None, events=None, strict=False):
    """The row path's appraisal and the kernel's own (no hand-over), after checking they are equal."""
    row = evaluate(ruleset, records, period=period, members=members, events=events, strict=strict, engine="row")
    col = run_columnar(ruleset, records, period, members, events, strict=strict)
    assert_same(row, col)
    assert row.warnings == col.warnings
    return row, col


def _same_error(ruleset, records, **kw):
    with pytest.raises(KpiError) as row:
        evaluate(ruleset, records, engine="row", **kw)
    with pytest.raises(KpiError) as col:
        evaluate(ruleset, records, engine="columnar", **kw)
    assert str(col.value) == str(row.value)
    return row.value


@pytest.mark.parametrize("name", ["sales_rep_monthly", "sales_department"])
def test_shipped_rulesets_run_on_the_kernel(name):
    """S1 (a previous metric) and the department scorecard (two levels of rollup) run in the kernel."""
    ruleset = load_ruleset(ROOT / "rulesets" / f"{name}.yaml")
    assert lower(ruleset.scorecard).support("columnar") is None
    records = read_table(ROOT / "examples" / name / "records.csv")
    members = read_table(ROOT / "examples" / name / "members.csv")
    _, col = _both(ruleset, records, members=members)
    assert len(col.results) > 1


def test_s1_without_members_on_the_kernel():
    """S1's growth reads February for March; the kernel gives the row path's values."""
    ruleset = load_ruleset(ROOT / "rulesets" / "sales_rep_monthly.yaml")
    records = read_table(ROOT / "examples" / "sales_rep_monthly" / "records.csv")
    row, col = _both(ruleset, records)
    growth = [r.kpi("growth").value for r in col.results]
    assert any(g is not None for g in growth)
    assert growth == [r.kpi("growth").value for r in row.results]


@pytest.mark.parametrize("name", ["sales_rep_monthly", "sales_department"])
def test_embedded_cases_agree_on_the_kernel(name):
    """Every worked case of the shipped rulesets gives the same appraisal on both paths."""
    ruleset = load_ruleset(ROOT / "rulesets" / f"{name}.yaml")
    for case in ruleset.spec.cases:
        if case.events:  # inputs filled from events (from:) are handed to the row path: not the kernel's own
            continue
        label = f"{name}#{case.name}"
        records = Table.from_rows(case.records, f"{label}.records")
        members = Table.from_rows(case.members, f"{label}.members") if case.members else None
        _both(ruleset, records, period=case.period, members=members)


HISTORY = """
ruleset: history
version: "1"
title: history
subject: rep
period: quarter
inputs:
  target: {type: money, required: false}
  actual: {type: money, required: false}
metrics:
  attainment: {formula: actual / target}
  growth: {previous: {metric: actual, compare: growth}}
  cut: {previous: {metric: attainment, compare: reduction}}
  change: {previous: {metric: actual, compare: change}}
  before: {previous: {metric: growth, compare: value}}
  run: {streak: attainment >= 100%}
kpis:
  - {id: growth, metric: growth, method: linear, floor: 0, target: 20%, weight: 40%}
  - {id: run, metric: run, method: linear, floor: 0, target: 3, weight: 30%}
  - {id: cut, metric: cut, method: threshold, direction: lower, target: 0, weight: 10%}
  - {id: change, metric: change, method: expression, score: "min(abs(value), 100)", weight: 10%}
  - {id: before, metric: before, method: expression, score: "value * 100", weight: 10%}
flags:
  promotable: run >= 2
report: [run, growth]
grades: [{grade: A, min: 80}, {grade: B}]
"""


def _history_rows():
    rows = []
    for q, (target, actual) in enumerate([(100, 100), (100, 110), (100, 0), (100, 130)], start=1):
        rows.append({"subject": "a", "period": f"2026-Q{q}", "target": str(target), "actual": str(actual)})
    rows += [
        {"subject": "b", "period": "2026-Q3", "target": "100", "actual": "0"},  # a zero base: growth N/A
        {"subject": "b", "period": "2026-Q4", "target": "0", "actual": "50"},
        {"subject": "c", "period": "2026-Q2", "target": "10", "actual": "10"},  # a gap in Q3 ends the streak
        {"subject": "c", "period": "2026-Q4", "target": "10", "actual": "12"},
        {"subject": "d", "period": "2026-Q4", "target": "10", "actual": ""},  # no history at all
    ]
    return rows


def test_previous_and_streak_follow_the_row_path():
    """Growth, reduction, change and value of the period before, and streaks with gaps, match exactly."""
    ruleset = parse_ruleset(HISTORY)
    _row, col = _both(ruleset, _history_rows())
    a = col.result("a")
    assert a.metrics["run"] == 1
    assert col.result("b").kpi("growth").value is None  # a zero base
    assert col.result("c").metrics["run"] == 1  # Q3 has no record: the streak stops
    assert col.result("d").kpi("growth").value is None
    _both(ruleset, _history_rows(), period="2026-Q2")


def test_several_periods_without_history_are_refused_alike():
    """Without a previous or streak metric, several periods and no period chosen is the row path's error."""
    ruleset = parse_ruleset(
        HISTORY.split("metrics:", maxsplit=1)[0]
        + "kpis:\n  - {id: k, metric: actual, method: threshold, target: 1, weight: 100%}\n"
    )
    error = _same_error(ruleset, _history_rows())
    assert "reads no history" in str(error)


def test_a_stray_latest_period_is_refused_alike():
    """A latest period that drops a subject of the period before is the row path's stray_period error."""
    rows = [r for r in _history_rows() if r["period"] != "2026-Q4"]
    rows.append({"subject": "a", "period": "2026-Q4", "target": "1", "actual": "1"})
    error = _same_error(parse_ruleset(HISTORY), rows)
    assert next(i.code for i in error.issues) == "stray_period"


TEAMS = """
ruleset: teams
version: "1"
title: teams
subject: team
period: month
inputs:
  target: {type: money, min: 0, required: false}
  actual: {type: money, min: 0, required: false}
  nps: {type: score, rollup: mean, required: false}
  best: {type: number, rollup: max, required: false}
  own: {type: number, rollup: none, required: false}
metrics:
  attainment: {formula: actual / target}
  mean_attainment: {formula: actual / target, rollup: mean}
  on_target: {members: {where: attainment >= 100%, among: target > 0}}
  growth: {previous: {metric: actual, compare: growth}}
kpis:
  - {id: attainment, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 30%}
  - {id: mean_attainment, metric: mean_attainment, method: linear, floor: 50%, target: 100%, weight: 20%}
  - {id: on_target, metric: on_target, method: linear, floor: 0, target: 80%, weight: 20%}
  - {id: nps, metric: nps, method: linear, floor: 0, target: 10, weight: 10%}
  - {id: best, metric: best, method: threshold, target: 5, weight: 10%}
  - {id: growth, metric: growth, method: linear, floor: 0, target: 10%, weight: 10%}
gates:
  - {id: none_on_target, when: on_target == 0, cap_total: 50}
grades: [{grade: A, min: 80}, {grade: B, min: 50}, {grade: C}]
"""


def _team_data():
    records = [
        {"subject": "r1", "period": "2026-02", "target": "100", "actual": "90"},
        {"subject": "r2", "period": "2026-02", "target": "100", "actual": "100"},
        {"subject": "r1", "period": "2026-03", "target": "100", "actual": "120", "nps": "8", "best": "3"},
        {"subject": "r2", "period": "2026-03", "target": "50", "actual": "40", "nps": "9.5"},
        {"subject": "r3", "period": "2026-03", "target": "0", "actual": "5", "best": "7"},
        {"subject": "r4", "period": "2026-03", "target": "80", "actual": "80"},
        {"subject": "r5", "period": "2026-03", "target": "", "actual": ""},
        {"subject": "t2", "period": "2026-03", "actual": "1000", "own": "4"},  # the team's own figure wins
    ]
    members = [
        {"member": "r1", "parent": "t1", "period": "2026-02"},
        {"member": "r2", "parent": "t1", "period": "2026-02"},
        {"member": "r1", "parent": "t1", "period": "2026-03"},
        {"member": "r2", "parent": "t1", "period": "2026-03"},
        {"member": "r3", "parent": "t2", "period": "2026-03"},
        {"member": "r4", "parent": "t2", "period": "2026-03"},
        {"member": "r5", "parent": "t3", "period": "2026-03"},
        {"member": "t1", "parent": "d", "period": "2026-03"},
        {"member": "t2", "parent": "d", "period": "2026-03"},
    ]
    return records, members


def test_team_rollups_follow_the_row_path():
    """Ratio of sums, means, max, none, members shares and a team's growth roll up as on the row path."""
    records, members = _team_data()
    _row, col = _both(parse_ruleset(TEAMS), records, members=members)
    t1 = col.result("t1")
    assert t1.kpi("attainment").value == Fraction(160, 150)  # ratio of sums, not a mean of rates
    assert t1.rank_in_parent is not None
    assert col.result("t3").kpi("on_target").value is None  # no member counted
    assert {r.subject for r in col.results} == {"t1", "t2", "t3"}


def test_department_rollup_and_roster_warning():
    """A department over teams over reps, and a roster member without a record warns alike."""
    records, members = _team_data()
    members.append({"member": "r9", "parent": "t1", "period": "2026-03"})
    members.append({"member": "t3", "parent": "d", "period": "2026-03"})
    records.append({"subject": "r9", "period": "2026-01", "target": "1", "actual": "1"})
    text = TEAMS.replace("subject: team", "subject: department")
    _row, col = _both(parse_ruleset(text), records, members=members)
    assert [r.subject for r in col.results] == ["d"]
    assert [w.code for w in col.warnings] == ["no_record"]


def test_membership_errors_are_the_row_paths():
    """A cycle, an unknown member and an orphan record give the row path's errors on the kernel."""
    records, members = _team_data()
    ruleset = parse_ruleset(TEAMS)
    cycle = [*members, {"member": "d", "parent": "r1", "period": "2026-03"}]
    assert [i.code for i in _same_error(ruleset, records, members=cycle).issues] == ["member_cycle"]
    unknown = [*members, {"member": "zz", "parent": "t1", "period": "2026-03"}]
    assert "unknown_member" in [i.code for i in _same_error(ruleset, records, members=unknown).issues]
    orphan = [*records, {"subject": "r8", "period": "2026-03", "target": "1", "actual": "1"}]
    assert [i.code for i in _same_error(ruleset, orphan, members=members).issues] == ["orphan_record"]


POWER = """
ruleset: power
version: "1"
title: power
subject: rep
period: month
inputs:
  x: {type: number, required: false}
metrics:
  square: {formula: x ** 2}
  inverse: {formula: (x / 3) ** -3}
  one: {formula: x ** 0}
kpis:
  - {id: square, metric: square, method: expression, score: "min(value, 100)", weight: 40%}
  - {id: inverse, metric: inverse, method: expression, score: "min(value, 100)", weight: 30%}
  - {id: one, metric: one, method: expression, score: value * 10, weight: 30%}
grades: [{grade: A, min: 50}, {grade: B}]
"""


def test_power_is_exact_on_the_kernel():
    """``**`` with a whole exponent is exact; 0 ** -3 is N/A and 0 ** 0 is 1, as on the row path."""
    ruleset = parse_ruleset(POWER)
    rows = [{"subject": s, "period": "2026-03", "x": x} for s, x in [("a", "0"), ("b", "1.5"), ("c", "-2"), ("d", "")]]
    _, col = _both(ruleset, rows)
    assert col.result("a").kpi("inverse").value is None
    assert col.result("a").kpi("one").value == 1
    assert col.result("b").kpi("inverse").value == 8
    assert col.result("c").kpi("inverse").value == Fraction(-27, 8)


def test_power_beyond_the_exact_range_is_the_row_paths_error():
    """A power beyond 1e999 is the row path's out_of_range error on the kernel too; a large one is exact."""
    ruleset = parse_ruleset(POWER.replace("x ** 2", "(x ** 64) ** 2 / x ** 64 / x ** 63"))
    error = _same_error(ruleset, [{"subject": "a", "period": "2026-03", "x": "1e10"}])
    assert [i.code for i in error.issues] == ["out_of_range"]
    _, col = _both(ruleset, [{"subject": "a", "period": "2026-03", "x": "3"}])
    assert col.result("a").kpi("square").value == 3


FLAT = """
ruleset: flat
version: "1"
title: flat
subject: rep
period: month
inputs:
  x: {type: number}
kpis:
  - {id: k, metric: x, method: linear, floor: 0, target: 10, weight: 100%}
grades: [{grade: A, min: 50}, {grade: B}]
"""


def test_rep_run_with_membership_rows_on_the_kernel():
    """Membership rows on a rep scorecard: ranks within teams and roster warnings as on the row path."""
    ruleset = parse_ruleset(FLAT)
    records = [{"subject": s, "period": "2026-03", "x": x} for s, x in [("a", "5"), ("b", "5"), ("c", "9"), ("d", "1")]]
    pairs = [("a", "t1"), ("b", "t1"), ("c", "t2"), ("d", "t2")]
    members = [{"member": m, "parent": t, "period": "2026-03"} for m, t in pairs]
    members.append({"member": "gone", "parent": "t2", "period": "2026-03"})
    records.append({"subject": "gone", "period": "2026-02", "x": "1"})
    _, col = _both(ruleset, records, members=members, period="2026-03")
    assert [(r.subject, r.rank, r.rank_in_parent) for r in col.results] == [
        ("c", 1, 1), ("a", 2, 1), ("b", 2, 1), ("d", 4, 2)
    ]  # fmt: skip
    assert [w.code for w in col.warnings] == ["no_record"]
    error = _same_error(ruleset, records, members=members, period="2026-03", strict=True)
    assert [i.code for i in error.issues] == ["no_record"]
