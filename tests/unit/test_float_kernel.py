"""Float and wide decimal columns on the columnar kernel, and what a fall-back to the row engine says.

A Float64/Float32 cell means the decimal of its shortest repr (``_numbers.float_text``, the row
path's rule); a decimal128 of any precision and scale means its exact value. The kernel reads both
itself: ``run_columnar`` must not raise ``FallbackError`` for them, and must agree with the row
engine. Whenever a run does go to the row engine, ``Appraisal.fallback`` (auto) or a refusal
(``engine="columnar"``) names the reason, and ``kpi evaluate`` prints it on stderr.
"""

import contextlib
import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi_engine import KpiError, evaluate, parse_ruleset
from kpi_engine._columns import UnusualError
from kpi_engine._numbers import NumberFormatError, float_text
from kpi_engine.audit.values import appraisal_values
from kpi_engine.cli import main
from kpi_engine.evaluation import engine

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")

from kpi_engine.evaluation.columnar._decimals import float_numerators, narrowed  # noqa: E402
from kpi_engine.evaluation.columnar._run import FallbackError, run_columnar  # noqa: E402

RULES = """
ruleset: floats
version: "1"
title: floats
subject: rep
period: month
inputs:
  x: {type: number}
  y: {type: number}
kpis:
  - {id: k1, metric: x, method: linear, floor: "-50.5", target: "100.25", cap: 120, weight: 50%}
  - {id: k2, metric: y, method: linear, direction: lower, floor: 10, target: "0.001", cap: 120, weight: 30%}
  - {id: k3, metric: x, method: threshold, target: "0.1", weight: 20%}
grades: [{grade: A, min: 90}, {grade: B, min: 60}, {grade: C}]
"""
RULESET = parse_ruleset(RULES)
SPECIAL = [0.1, 1e-7, -2.5, 123456.789, 0.0, -0.0, 99.99, 1e-5, 3.0, -0.1]


def frame(xs, ys, dtype):
    n = len(xs)
    return pl.DataFrame(
        {
            "subject": [f"r{i:03d}" for i in range(n)],
            "period": ["2026-03"] * n,
            "x": pl.Series(xs, dtype=dtype),
            "y": pl.Series(ys, dtype=dtype),
        }
    )


def digest(appraisal):
    return appraisal_values(appraisal)


def kernel_agrees(df):
    """The kernel's appraisal of ``df`` (it must not fall back) equals the row engine's on the same frame."""
    row = evaluate(RULESET, df, engine="row")
    col = run_columnar(RULESET, df, None, None, None, strict=False)
    assert col.fallback is None
    assert digest(col) == digest(row)


@st.composite
def short_floats(draw):
    """Floats standing for decimals of up to 12 digits and 5 places (0.1, 1e-5, -123456.78901 …)."""
    if draw(st.booleans()):
        return draw(st.sampled_from(SPECIAL))
    digits = draw(st.integers(-(10**12) + 1, 10**12 - 1))
    places = draw(st.integers(0, 5))
    value = Decimal(digits).scaleb(-places)
    if abs(value) >= 10**7:
        value = value.scaleb(-5)  # at most 7 integer digits: 12 digits in all with 5 places
    return float(value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(short_floats(), short_floats()), min_size=1, max_size=12))
def test_float64_columns_run_on_the_kernel_with_the_row_engines_values(pairs):
    """Float64 and Float32 columns: no fall-back, and the same appraisal as the row engine."""
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    kernel_agrees(frame(xs, ys, pl.Float64))
    kernel_agrees(frame(xs, ys, pl.Float64).to_arrow())
    halves = [float(round(v * 2) / 2) for v in xs]  # Float32 holds halves exactly (0.1 is not a short decimal)
    kernel_agrees(frame(halves, halves, pl.Float32))


WIDE = [1e16, -1e16, 123456789012345.0, 1.23456789012345, -9.87654321098765e-3, 1e-7, 0.1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.one_of(st.sampled_from(WIDE), short_floats()), short_floats()), min_size=1, max_size=8))
def test_many_digit_floats_agree_or_are_refused_as_beyond_the_kernel(pairs):
    """1e16, 15 significant digits: the kernel agrees with the row engine, or leaves a column beyond its 17 digits."""
    df = frame([p[0] for p in pairs], [p[1] for p in pairs], pl.Float64)
    row = evaluate(RULESET, df, engine="row")
    left: FallbackError | None = None
    try:
        col = run_columnar(RULESET, df, None, None, None, strict=False)
    except FallbackError as exc:
        left = exc
    if left is None:
        assert digest(col) == digest(row)
        return
    assert left.form, left.reason
    assert "17 digits" in left.reason
    with pytest.raises(KpiError, match="cannot run this input"):
        evaluate(RULESET, df, engine="columnar")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.decimals(min_value=-(10**6), max_value=10**6, places=4, allow_nan=False), min_size=1, max_size=12))
def test_wide_decimal_columns_run_on_the_kernel(values):
    """decimal128(38,18) and (38,4) columns: their exact values on the kernel, as on the row engine."""
    for precision, scale in [(38, 18), (38, 4), (30, 10)]:
        kind = pa.decimal128(precision, scale)
        table = pa.table(
            {
                "subject": [f"r{i:03d}" for i in range(len(values))],
                "period": ["2026-03"] * len(values),
                "x": pa.array(values, kind),
                "y": pa.array(list(reversed(values)), kind),
            }
        )
        kernel_agrees(table)
        kernel_agrees(pl.from_arrow(table))


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_numerators_read_the_shortest_repr(value):
    """Each float is read as ``float_text`` reads it, or left to the row path (which refuses or reads it)."""
    try:
        expected = Decimal(float_text(value))
    except NumberFormatError:
        expected = None
    left: UnusualError | None = None
    try:
        nums, scale, na = float_numerators(pl.Series([value, None], dtype=pl.Float64))
    except UnusualError as exc:
        left = exc
    if left is not None:
        # Only a value the row path refuses, or one beyond the kernel's 17 digits, is left to it.
        assert expected is None or left.form, (value, left)
        return
    assert expected is not None
    assert Decimal(int(nums[0])).scaleb(-scale) == expected
    assert list(na) == [False, True]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(short_floats(), st.floats(-1e9, 1e9)), min_size=1, max_size=40))
def test_a_float_column_reads_every_cell_as_its_shortest_repr(values):
    """Whole columns (one common scale, or mixed magnitudes): each cell is ``float_text``'s decimal."""
    expected = []
    for value in values:
        try:
            expected.append(Decimal(float_text(value)))
        except NumberFormatError:
            expected.append(None)
    left: UnusualError | None = None
    try:
        nums, scale, _ = float_numerators(pl.Series(values, dtype=pl.Float64))
    except UnusualError as exc:
        left = exc
    if left is not None:
        assert None in expected or left.form, (values, left)
        return
    assert [Decimal(int(n)).scaleb(-scale) for n in nums] == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.1, 1e-7, -2.5], ["0.1", "1E-7", "-2.5"]),
        ([1e16, 3.0], ["10000000000000000", "3"]),
        ([123456789012345.0, -0.0], ["123456789012345", "0"]),
        ([9.99999999999999e-5], ["0.0000999999999999999"]),
    ],
)
def test_float_numerators_examples(values, expected):
    nums, scale, _ = float_numerators(pl.Series(values))
    assert [Decimal(int(n)).scaleb(-scale) for n in nums] == [Decimal(e) for e in expected]


def test_a_float_that_is_not_a_short_decimal_is_the_row_paths_located_error():
    """0.1 + 0.2 is refused by the row path at its cell; the kernel hands it over, both engines give that error."""
    df = frame([0.5, 0.1 + 0.2], [1.0, 2.0], pl.Float64)
    with pytest.raises(FallbackError, match="not a short decimal"):
        run_columnar(RULESET, df, None, None, None, strict=False)
    with pytest.raises(KpiError) as row:
        evaluate(RULESET, df, engine="row")
    with pytest.raises(KpiError) as col:
        evaluate(RULESET, df, engine="columnar")
    assert str(col.value) == str(row.value)


def test_wide_decimal_beyond_int64_is_narrowed_exactly():
    """105.77 at scale 18 is 105770000000000000000 (beyond int64): read at scale 2, and 1e-18 keeps scale 18."""
    s = pl.from_arrow(pa.array([Decimal("105.77"), None, Decimal("-3.5")], pa.decimal128(38, 18)))
    ints, scale = narrowed(s)
    assert (ints.to_list(), scale) == ([10577, None, -350], 2)
    tiny = pl.from_arrow(pa.array([Decimal("1E-18"), Decimal(100)], pa.decimal128(38, 18)))
    with pytest.raises(UnusualError, match="int64") as exc:
        narrowed(tiny)  # 100 at scale 18 does not fit: the row path takes it, exactly
    assert exc.value.form


BEYOND = frame([1e17, 2.0], [1.0, 2.0], pl.Float64)  # valid, but beyond the kernel's 17 digits


def test_engine_columnar_refuses_instead_of_running_slowly():
    """A valid column the kernel cannot hold: engine='columnar' refuses at once, naming the reason and the column."""
    with pytest.raises(KpiError, match=r"cannot run this input \(a float beyond the kernel's 17 digits in column 'x'"):
        evaluate(RULESET, BEYOND, engine="columnar")
    assert evaluate(RULESET, BEYOND, engine="row").result("r000").kpi("k1").value == Decimal("1E+17")


def test_auto_notes_the_fall_back(monkeypatch):
    """engine='auto' on a large input runs the row engine for it and says why; the values are the row engine's."""
    monkeypatch.setattr(engine, "AUTO_THRESHOLD", 0)
    auto = evaluate(RULESET, BEYOND, engine="auto")
    assert auto.fallback == "a float beyond the kernel's 17 digits in column 'x' of the records"
    assert digest(auto) == digest(evaluate(RULESET, BEYOND, engine="row"))
    assert evaluate(RULESET, frame([1.5], [2.5], pl.Float64), engine="auto").fallback is None


def _cli(tmp_path, *extra):
    rules = tmp_path / "floats.yaml"
    rules.write_text(RULES, encoding="utf-8")
    data = tmp_path / "records.parquet"
    BEYOND.write_parquet(data)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["evaluate", str(rules), "--records", str(data), "--format", "csv", *extra])
    return code, err.getvalue()


def test_kpi_evaluate_says_when_the_row_engine_runs(tmp_path, monkeypatch):
    """One line on stderr with the reason, translated under --lang zh; --engine columnar refuses."""
    monkeypatch.setattr(engine, "AUTO_THRESHOLD", 0)
    code, err = _cli(tmp_path)
    assert code == 0
    assert err.strip().splitlines() == [
        (
            "note: the row engine ran this evaluation, not the columnar engine (a float beyond the kernel's 17 digits "
            "in column 'x' of the records); it is slower"
        )
    ]
    code, err = _cli(tmp_path, "--lang", "zh")
    assert code == 0
    assert err.strip().splitlines() == [
        "提示：本次评估由逐行引擎运行，而非列式引擎（浮点数超出内核的 17 位数字（记录的列 'x'））；速度较慢"
    ]
    code, err = _cli(tmp_path, "--engine", "columnar")
    assert code == 1
    assert "the columnar engine cannot run this input (a float beyond the kernel's 17 digits in column 'x'" in err
    code, err = _cli(tmp_path, "--engine", "columnar", "--lang", "zh")
    assert code == 1
    assert "列式引擎无法运行此输入（浮点数超出内核的 17 位数字（记录的列 'x'））" in err


def test_kpi_evaluate_is_silent_when_the_kernel_runs_floats(tmp_path, monkeypatch):
    """A Float64 Parquet file the kernel reads: no note at all."""
    monkeypatch.setattr(engine, "AUTO_THRESHOLD", 0)
    rules = tmp_path / "floats.yaml"
    rules.write_text(RULES, encoding="utf-8")
    data = tmp_path / "records.parquet"
    frame([0.1, 1e-7, 99.5], [2.5, 0.001, 7.0], pl.Float64).write_parquet(data)
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["evaluate", str(rules), "--records", str(data), "--format", "csv", "--engine", "columnar"])
    assert (code, err.getvalue()) == (0, "")
    assert "r000" in out.getvalue()
