"""One error tree from every engine: the same hostile cell through the row path and the columnar kernel.

Each hostile cell (huge and tiny exponents, 47 decimal places, 5,000 digits, NaN and infinities,
a lone surrogate, blanks, negative and fractional counts, percents where only ratios take them,
other digit scripts, bytes, nested values, thousands of extra columns …) goes into one record of
the S1 example, through ``evaluate`` with ``engine="row"`` and ``engine="columnar"`` (Python rows,
Polars and Arrow frames, typed columns) and through ``kpi evaluate --engine row|columnar`` (a CSV
file, read by the CLI straight into Polars columns). Both engines must give the same appraisal, or
a ``KpiError`` with the same issue codes; never a foreign exception or an internal error.
"""

import contextlib
import csv
import datetime as dt
import hashlib
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine import KpiError, evaluate, load_ruleset
from kpi_engine.audit.values import appraisal_values
from kpi_engine.cli import main

pl = pytest.importorskip("polars")

ROOT = Path(__file__).resolve().parents[2]
RULESET = load_ruleset(ROOT / "rulesets" / "sales_rep_monthly.yaml")
with (ROOT / "examples" / "sales_rep_monthly" / "records.csv").open(encoding="utf-8") as _fh:
    BASE = list(csv.DictReader(_fh))
ROW = 6  # li_na, 2026-03: the appraised period

CELLS = {
    "huge exponent": "1e400",
    "tiny exponent": "1e-400",
    "47 decimal places": "3." + "1" * 47,
    "20 decimal places": "0." + "0" * 19 + "1",
    "5,000 digits": "9" * 5000,
    "19 digits": "9" * 19,
    "18 digits and a half": "9" * 18 + ".5",
    "NaN": "NaN",
    "inf": "inf",
    "-Infinity": "-Infinity",
    "lone surrogate": "\ud800",
    "empty": "",
    "white space": "   ",
    "padded": " 12 ",
    "negative": "-5",
    "negative zero": "-0",
    "fraction": "2.5",
    "thousands separator": "1,000",
    "hex": "0x10",
    "full-width digits": "１２",
    "Arabic-Indic digits": "١٢",
    "percent": "12%",
    "plus sign": "+5",
    "trailing dot": "5.",
    "leading dot": ".5",
    "exponent": "1e3",
    "word": "true",
    "NUL inside": "1\x002",
    "two dots": "1.2.3",
    "minus alone": "-",
    "dot alone": ".",
}
COLUMNS = ["weekly_orders", "sales_actual", "conduct_score", "plans_done", "subject", "period", "name"]
VALUES = {  # Python values in API rows
    "int beyond int64": 10**30,
    "negative int": -7,
    "Decimal 1E+400": Decimal("1E+400"),
    "Decimal NaN": Decimal("NaN"),
    "Decimal sNaN": Decimal("sNaN"),
    "Decimal Infinity": Decimal("Infinity"),
    "Decimal 1E-400": Decimal("1E-400"),
    "Decimal of 61 digits": Decimal("1." + "1" * 60),
    "float": 0.5,
    "float NaN": float("nan"),
    "bool": True,
    "bytes": b"12",
    "list": [1],
    "dict": {"a": 1},
    "None": None,
}


def outcome(records, engine):
    """The appraisal's exact values (digested), or the KpiError's issue codes; any other exception fails."""
    try:
        appraisal = evaluate(RULESET, records, engine=engine)
    except KpiError as exc:
        return ("error", tuple(sorted({i.code for i in exc.issues})) or str(exc))
    return ("ok", hashlib.sha256(repr(appraisal_values(appraisal)).encode()).hexdigest())


def with_cell(column, value):
    rows = [dict(r) for r in BASE]
    rows[ROW][column] = value
    return rows


REFUSED = "the columnar engine cannot run this input ("


def agree(row, columnar):
    """The same outcome, or (only where the row path succeeds) the columnar engine's refusal naming its reason.

    ``engine="columnar"`` never runs slowly on the row path: valid data in a form the kernel does not
    hold is refused; data with an error gets the row path's located error.
    """
    if row == columnar:
        return True
    refused = columnar[0] == "error" and str(columnar[1]).startswith(REFUSED)
    # Valid-looking typed values the kernel does not hold are refused at once, before any check.
    return refused and (row[0] == "ok" or any(form in str(columnar[1]) for form in FORMS))


FORMS = ("17 digits", "int64 range")


def same_outcome(records):
    row, columnar = outcome(records, "row"), outcome(records, "columnar")
    assert agree(row, columnar), (row, columnar)


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("cell", list(CELLS.values()), ids=list(CELLS))
def test_python_rows_give_the_same_outcome_on_both_engines(column, cell):
    """A hostile text cell in Python rows: the same appraisal or the same KpiError codes from both engines."""
    same_outcome(with_cell(column, cell))


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
def test_python_values_give_the_same_outcome_on_both_engines(column, value):
    """A hostile Python value (huge int, special Decimal, float, bytes, nested) gives the same outcome."""
    same_outcome(with_cell(column, value))


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize(
    "cell", [c for c in CELLS.values() if c != "\ud800"], ids=[k for k in CELLS if k != "lone surrogate"]
)
def test_polars_and_arrow_text_frames_give_the_same_outcome(column, cell):
    """The same cells in a Polars frame and an Arrow table of text columns."""
    frame = pl.DataFrame(with_cell(column, cell))
    same_outcome(frame)
    same_outcome(frame.to_arrow())


TYPED = {
    "float NaN": (lambda n: [float("nan")] + [1.0] * (n - 1), pl.Float64),
    "float inf": (lambda n: [float("inf")] + [1.0] * (n - 1), pl.Float64),
    "float halves": (lambda n: [0.5] * n, pl.Float64),
    "negative ints": (lambda n: [-5] * n, pl.Int64),
    "2**62": (lambda n: [2**62] * n, pl.Int64),
    "int64 minimum": (lambda n: [-(2**63)] * n, pl.Int64),
    "uint64 maximum": (lambda n: [2**64 - 1] * n, pl.UInt64),
    "decimal of 30 places": (lambda n: [Decimal("1." + "1" * 30)] * n, pl.Decimal(38, 30)),
    "decimal of 37 digits": (lambda n: [Decimal("9" * 37)] * n, pl.Decimal(38, 0)),
    "booleans": (lambda n: [True] * n, pl.Boolean),
    "nulls": (lambda n: [None] * n, pl.Null),
    "dates": (lambda n: [dt.date(2026, 3, 1)] * n, pl.Date),
    "lists": (lambda n: [["1"]] * n, pl.List(pl.Utf8)),
    "bytes": (lambda n: [b"12"] * n, pl.Binary),
    "categorical": (lambda n: ["12"] * n, pl.Categorical),
}


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("typed", list(TYPED), ids=list(TYPED))
def test_typed_columns_give_the_same_outcome(column, typed):
    """A whole column of another type (floats, huge ints, wide decimals, bytes, lists …) as Polars, Arrow and pandas."""
    make, dtype = TYPED[typed]
    frame = pl.DataFrame(BASE).with_columns(pl.Series(column, make(len(BASE)), dtype=dtype))
    same_outcome(frame)
    same_outcome(frame.to_arrow())
    if dtype != pl.Categorical:
        pytest.importorskip("pandas")
        same_outcome(frame.to_pandas())


def test_thousands_of_columns_give_the_same_outcome():
    """2,000 columns the ruleset does not know: the same errors from both engines."""
    rows = [{**r, **{f"extra{i}": "1" for i in range(2000)}} for r in BASE]
    same_outcome(rows)
    same_outcome(pl.DataFrame(rows))


def cli(path, engine):
    """Exit code and the issue codes of `kpi evaluate --engine ENGINE` (and the output's digest on success)."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["evaluate", str(S1), "--records", str(path), "--format", "csv", "--engine", engine])
    assert code in {0, 1}, err.getvalue()  # never 70 (internal error)
    codes = tuple(sorted(set(re.findall(r"\[([a-z_]+)\]", err.getvalue()))))
    if REFUSED in err.getvalue():
        codes = ("refused (form)",) if any(form in err.getvalue() for form in FORMS) else ("refused",)
    return code, codes, hashlib.sha256(out.getvalue().encode()).hexdigest() if code == 0 else None


S1 = ROOT / "rulesets" / "sales_rep_monthly.yaml"


def write_csv(path, rows):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8", "surrogatepass"))  # a lone surrogate: bytes that are not UTF-8
    return path


@pytest.mark.parametrize("column", ["weekly_orders", "sales_actual", "conduct_score", "period"])
@pytest.mark.parametrize("cell", list(CELLS.values()), ids=list(CELLS))
def test_kpi_evaluate_gives_the_same_codes_on_both_engines(tmp_path, column, cell):
    """`kpi evaluate --engine row` and `--engine columnar` on a CSV with the hostile cell: same exit, codes, bytes."""
    path = write_csv(tmp_path / "records.csv", with_cell(column, cell))
    row, columnar = cli(path, "row"), cli(path, "columnar")
    refused = columnar[0] == 1 and columnar[1] in {("refused",), ("refused (form)",)}
    assert row == columnar or (refused and (row[0] == 0 or columnar[1] == ("refused (form)",))), (row, columnar)


def test_47_decimal_places_in_a_large_file_is_a_located_error_with_the_default_engine(tmp_path):
    """A count with 47 decimal places among 2,000 records (the kernel's size): bad_value at its cell, not exit 70."""
    rows = [
        {
            **BASE[ROW],
            "subject": f"r{i:05d}",
            "name": f"rep {i}",
            "weekly_orders": "3." + "1" * 47 if i == 1500 else "5",
        }
        for i in range(2000)
    ]
    path = write_csv(tmp_path / "records.csv", rows)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["evaluate", str(S1), "--records", str(path), "--format", "csv"])
    assert code == 1
    expected = f"{path}:1502:6: weekly_orders: 'weekly_orders': a count must be a whole number, not 3.{'1' * 47}"
    assert err.getvalue().strip().splitlines() == [f"{expected} [bad_value]"]


with (ROOT / "examples" / "sales_rep_monthly" / "members.csv").open(encoding="utf-8") as _fh:
    MEMBERS = list(csv.DictReader(_fh))


@pytest.mark.parametrize("column", ["member", "parent", "period"])
def test_hostile_membership_cells_give_the_same_outcome(column):
    """Each hostile cell and value in a membership row: the same appraisal or KpiError codes from both engines."""
    for cell in [*CELLS.values(), *VALUES.values()]:
        members = [dict(r) for r in MEMBERS]
        members[1][column] = cell
        row = outcome_with(BASE, members, "row")
        assert agree(row, outcome_with(BASE, members, "columnar")), cell


def outcome_with(records, members, engine):
    try:
        appraisal = evaluate(RULESET, records, members=members, engine=engine)
    except KpiError as exc:
        return ("error", tuple(sorted({i.code for i in exc.issues})) or str(exc))
    return ("ok", hashlib.sha256(repr(appraisal_values(appraisal)).encode()).hexdigest())
