"""The columnar kernel: exactness, inputs without Python rows, engines and fallbacks."""

from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_engine import DataError, KpiError, Table, evaluate, parse_ruleset
from kpi_engine.evaluation.frames import Frame
from kpi_engine.plan import lower

pl = pytest.importorskip("polars")
pytest.importorskip("numpy")

CASE_0375 = """
ruleset: exact
version: "1"
title: the 0.375 case of issue 6
subject: rep
period: month
inputs:
  x: {type: number}
  a: {type: number}
  b: {type: number}
metrics:
  ratio: {formula: a / b}
sections:
  s1: {weight: 25%}
  s2: {weight: 75%}
kpis:
  - {id: k1, metric: x, section: s1, method: expression, score: value, weight: 25%}
  - {id: k2, metric: x, section: s1, method: expression, score: value, weight: 25%}
  - {id: k3, metric: x, section: s1, method: expression, score: value, weight: 25%}
  - {id: k4, metric: ratio, section: s1, method: threshold, target: "0.5", weight: 25%}
  - {id: k5, metric: x, section: s2, method: expression, score: value, weight: 100%}
grades: [{grade: A, min: "90"}, {grade: B}]
"""

W1ISH = """
ruleset: small
version: "1"
title: small
subject: rep
period: month
inputs:
  m1: {type: ratio, min: 0}
  m2: {type: ratio, min: 0}
kpis:
  - {id: k1, metric: m1, method: linear, floor: 0, target: 1, cap: 120, weight: 60%}
  - {id: k2, metric: m2, method: linear, direction: lower, floor: 1, target: 0, cap: 120, weight: 40%}
gates:
  - {id: renewal, when: m1 < 90%, cap_total: 60}
grades: [{grade: A, min: 90}, {grade: B, min: 75}, {grade: C, min: 60}, {grade: D}]
"""

ROWS = [
    {"subject": "a", "period": "2026-03", "m1": "0.95", "m2": "0.1"},
    {"subject": "b", "period": "2026-03", "m1": "0.85", "m2": "0.2"},
    {"subject": "c", "period": "2026-03", "m1": "0.95", "m2": "0.1"},
]


def _summary(appraisal):
    return [
        (
            r.subject,
            r.total_exact,
            r.grade,
            r.rank,
            [(k.id, k.score_exact, k.contribution_exact, k.flags) for k in r.kpis],
        )
        for r in appraisal.results
    ]


def test_renormalised_contribution_is_exact():
    """A contribution of exactly 3/8 (shares of 1/3 after an N/A) is 0.375 and reports 0.38 half-up."""
    ruleset = parse_ruleset(CASE_0375)
    appraisal = evaluate(
        ruleset, [{"subject": "r", "period": "2026-03", "x": "4.5", "a": "0", "b": "0"}], engine="columnar"
    )
    result = appraisal.results[0]
    assert result.kpi("k1").contribution_exact == Decimal("0.375")
    assert appraisal.to_dict()["results"][0]["kpis"][0]["contribution"] == "0.38"
    assert result.kpi("k4").flags == ("excluded_na",)
    assert result.total_exact == Decimal("4.5")


def test_frames_give_the_row_paths_appraisal():
    """Polars, Arrow, pandas and DuckDB inputs give the same appraisal as Python rows on the row path."""
    ruleset = parse_ruleset(W1ISH)
    expected = _summary(evaluate(ruleset, ROWS, engine="row"))
    frame = pl.DataFrame(ROWS)
    inputs = [frame, frame.lazy(), frame.to_arrow(), frame.to_arrow().to_batches()[0], Table.from_rows(ROWS)]
    pandas = pytest.importorskip("pandas")
    inputs.append(pandas.DataFrame(ROWS))
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.register("rows", frame.to_arrow())
    inputs.append(con.sql("select * from rows"))
    for data in inputs:
        assert _summary(evaluate(ruleset, data, engine="columnar")) == expected, type(data)
    assert expected[0][0] == "a"
    assert expected[0][3] == expected[1][3] == 1  # ties share a rank
    assert expected[2][1:3] == (Decimal(60), "C")  # the gate capped b at 60


def test_typed_decimal_columns_are_exact():
    """A decimal128 column is read from its integers, with the same results as text."""
    ruleset = parse_ruleset(W1ISH)
    frame = pl.DataFrame(ROWS).with_columns(pl.col("m1", "m2").cast(pl.Decimal(10, 4)))
    assert _summary(evaluate(ruleset, frame, engine="columnar")) == _summary(evaluate(ruleset, ROWS, engine="row"))


def test_bad_cell_reports_the_row_paths_error():
    """An out-of-bounds value raises the row path's located error, not a columnar one."""
    ruleset = parse_ruleset(W1ISH)
    rows = [*ROWS, {"subject": "d", "period": "2026-03", "m1": "-1", "m2": "0.1"}]
    with pytest.raises(DataError) as row_error:
        evaluate(ruleset, pl.DataFrame(rows), engine="row")  # the same container: the same row and column
    with pytest.raises(DataError) as col_error:
        evaluate(ruleset, pl.DataFrame(rows), engine="columnar")
    assert str(col_error.value) == str(row_error.value)
    assert [i.code for i in col_error.value.issues] == ["out_of_bounds"]


def test_float_column_is_left_to_the_row_path():
    """A Float64 column is not guessed at: the row path's rules for binary floats decide."""
    ruleset = parse_ruleset(W1ISH)
    frame = pl.DataFrame(ROWS).with_columns(pl.col("m1").cast(pl.Float64))
    try:
        expected: object = _summary(evaluate(ruleset, frame, engine="row"))
    except DataError as exc:
        expected = str(exc)
    try:
        got: object = _summary(evaluate(ruleset, frame, engine="columnar"))
    except DataError as exc:
        got = str(exc)
    assert got == expected


def test_unsupported_feature_is_named(monkeypatch):
    """An op without a column kernel is named by the plan; engine='columnar' refuses it, auto runs the row path.

    Every op has a column kernel today (windows were the last): the refusal is shown with a window
    op made to lack its kernel.
    """
    from kpi_engine.plan.ops.windows import WindowOp

    window = "{window: {trigger: type == 'complaint', answer: type == 'answer', within: {hours: 24}}}"
    text = W1ISH.replace("kpis:", f"metrics:\n  run: {window}\nkpis:")
    assert lower(parse_ruleset(text).scorecard).support("columnar") is None
    built = WindowOp.__init__

    def without_kernel(self, metric):
        built(self, metric)
        self.without_column = f"metric '{metric.name}' of kind 'window'"

    monkeypatch.setattr(WindowOp, "__init__", without_kernel)
    ruleset = parse_ruleset(text)
    plan = lower(ruleset.scorecard)
    assert plan.support("columnar") == "the columnar engine cannot evaluate metric 'run' of kind 'window'"
    assert plan.support("row") is None
    with pytest.raises(KpiError, match=r"cannot evaluate metric 'run' of kind 'window'; use engine='row'"):
        evaluate(ruleset, ROWS, engine="columnar")
    assert _summary(evaluate(ruleset, pl.DataFrame(ROWS), engine="auto")) == _summary(evaluate(ruleset, ROWS))


def test_unknown_engine_is_refused():
    """An engine name other than auto, row or columnar is an error."""
    with pytest.raises(KpiError, match="unknown engine"):
        evaluate(parse_ruleset(W1ISH), ROWS, engine="fast")  # type: ignore[arg-type]


def test_frame_falls_back_to_its_file_reader():
    """A Frame whose data needs the row path is read again by its own reader (errors name file lines)."""
    ruleset = parse_ruleset(W1ISH)
    bad = [*ROWS, {"subject": "d", "period": "2026-13", "m1": "0.5", "m2": "0.1"}]
    frame = Frame(pl.DataFrame(bad), "r.csv", lambda: Table.from_rows(bad, "r.csv"))
    with pytest.raises(DataError, match=r"r\.csv:4"):
        evaluate(ruleset, frame, engine="columnar")


def test_columnar_results_build_lazily():
    """Columnar results are a sequence equal to the row path's tuple, built when read."""
    ruleset = parse_ruleset(W1ISH)
    col = evaluate(ruleset, ROWS, engine="columnar")
    row = evaluate(ruleset, ROWS, engine="row")
    assert len(col.results) == 3
    assert [r.subject for r in col.results[1:]] == [r.subject for r in row.results[1:]]
    assert col.result("b").total_exact == Decimal(60)
    assert col.results[0].kpis[0].score_exact == row.results[0].kpis[0].score_exact


def test_csv_table_matches_the_row_path_text(tmp_path):
    """kpi evaluate --format csv writes the same bytes on both engines."""
    from kpi_engine.cli import main

    (tmp_path / "r.yaml").write_text(W1ISH, encoding="utf-8")
    pl.DataFrame(ROWS).write_csv(tmp_path / "r.csv")
    pl.DataFrame(ROWS).write_parquet(tmp_path / "r.parquet")
    outputs = []
    for engine, records in (("row", "r.csv"), ("columnar", "r.csv"), ("columnar", "r.parquet")):
        out = tmp_path / f"{engine}-{records}.out"
        code = main(["evaluate", str(tmp_path / "r.yaml"), "--records", str(tmp_path / records),
                     "--engine", engine, "--format", "csv", "--out", str(out)])  # fmt: skip
        assert code == 0
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1] == outputs[2]
    assert "k1,0.95,95.00,0.6,57.00,scored" in outputs[0]


def test_values_beyond_int64_use_python_integers():
    """A product beyond the int64 range is recomputed exactly (object arrays), not sent to the row path."""
    from kpi_engine.evaluation.columnar._run import run_columnar

    text = """
ruleset: big
version: "1"
title: big
subject: rep
period: month
inputs:
  x: {type: number}
metrics:
  cube: {formula: x * x * x / 1000000000000000000000}
kpis:
  - {id: k, metric: cube, method: expression, score: value, cap: 1000000, weight: 100%}
report: [cube]
grades: [{grade: A}]
"""
    ruleset = parse_ruleset(text)
    rows = [
        {"subject": "a", "period": "2026-03", "x": "123456789.123"},
        {"subject": "b", "period": "2026-03", "x": "2"},
    ]
    col = run_columnar(ruleset, rows, None, None, None, strict=False)
    row = evaluate(ruleset, rows, engine="row")
    exact = Fraction("123456789.123") ** 3 / 10**21
    assert col.result("a").metrics["cube"] == exact
    assert row.result("a").metrics["cube"] == exact
    assert col.to_dict()["results"][0]["total"] == row.to_dict()["results"][0]["total"] == "1881.68"


def test_a_date_that_does_not_exist_is_refused_like_the_row_path():
    """2026-02-30 has the shape of a date but is none: the kernel gives the row path's located error."""
    ruleset = parse_ruleset(
        'ruleset: d\nversion: "1"\ntitle: d\n'
        "inputs: {x: {type: number}, signed: {type: date, required: false}}\n"
        "kpis: [{id: k, metric: x, method: linear, floor: 0, target: 10, weight: 100%}]\n"
    )
    rows = [{"subject": f"r{i}", "period": "2026-03", "x": "5", "signed": "2026-03-01"} for i in range(5)]
    rows[2]["signed"] = "2026-02-30"
    with pytest.raises(DataError) as row_error:
        evaluate(ruleset, pl.DataFrame(rows), engine="row")
    with pytest.raises(DataError) as col_error:
        evaluate(ruleset, pl.DataFrame(rows), engine="columnar")
    assert str(col_error.value) == str(row_error.value)
    assert [i.code for i in col_error.value.issues] == ["bad_value"]


GRADED = """\
ruleset: graded
version: "1"
title: graded
inputs: {m4: {type: number, required: false}, m5: {type: number, required: false}}
event_fields: {amount: money}
metrics:
  visits: {aggregate: {fn: count, where: "type == 'visit'"}}
  amount: {aggregate: {fn: sum, field: amount}}
sections: {s0: {weight: 10%}, s1: {weight: 75%}}
normalize: true
kpis:
  - {id: k0, metric: amount, section: s0, method: expression, score: "100 * (1 + value / 10) ** -2", weight: 10%}
  - {id: k1, metric: amount, section: s0, method: threshold, target: 0, weight: 10%}
  - {id: k2, metric: m5, section: s0, method: attainment, target: 1.00, weight: 0.333, on_missing: zero}
  - {id: k3, metric: m4, section: s1, method: expression, score: value, weight: 10%}
  - {id: k4, metric: amount, section: s0, direction: lower, method: threshold, target: 0, weight: 10%}
  - {id: k5, metric: visits, section: s1, method: attainment, target: 23.79, weight: 10%}
grades: [{grade: A, min: "90"}, {grade: B, min: "75"}, {grade: C, min: "60"}, {grade: D}]
rounding: {places: 0, mode: half_up}
"""


def test_a_total_over_a_large_denominator_is_graded_exactly():
    """A total of about 33.9 over a denominator near 1e17 is a D on the kernel too (bound × denominator left int64)."""
    from kpi_engine.evaluation.columnar._run import run_columnar

    ruleset = parse_ruleset(GRADED)
    records = [{"subject": "r0", "period": "2026-03", "m4": "59.995", "m5": None}]
    records += [{"subject": f"r{i}", "period": "2026-03", "m4": None, "m5": None} for i in range(1, 4)]
    events = [
        {"event_id": f"e{i}", "type": "visit", "at": "2026-03-01T00:30:00+08:00", "rep": "r0", "amount": a}
        for i, a in enumerate(["1.005", "1.005", "100"])
    ]
    row = evaluate(ruleset, records, events=events, engine="row")
    kernel = run_columnar(ruleset, records, None, None, events, strict=False)
    assert [(r.subject, r.total, r.grade) for r in kernel.results] == [
        (r.subject, r.total, r.grade) for r in row.results
    ]
    assert kernel.result("r0").grade == "D"
