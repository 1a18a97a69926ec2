"""Every wide form carries the same columns in the same order, typed, with one N/A marker (issue 19)."""

import csv
import io
from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_engine import evaluate, load_ruleset, read_table
from kpi_engine.cli import main
from kpi_engine.evaluation.frames import MAX_DIGITS, WIDE_COLUMNS, value_scale, wide_columns, wide_value
from kpi_engine.report import render

S1 = "rulesets/sales_rep_monthly.yaml"
RECORDS = "examples/sales_rep_monthly/records.csv"
NAMES = {"zhao_lei": "赵磊", "zhang_wei": "张伟", "li_na": "李娜", "wang_fang": "王芳"}


@pytest.fixture
def s1(root):
    ruleset = load_ruleset(root / S1)
    return ruleset, evaluate(ruleset, read_table(root / RECORDS), period="2026-03")


def _kpis(ruleset):
    return [k.id for k in ruleset.scorecard.kpis]


class TestOneColumnList:
    """CSV, xlsx, Parquet, Arrow, Polars and pandas share ``wide_columns``."""

    def test_csv_arrow_polars_and_pandas_have_the_same_columns(self, s1):
        """The English CSV header, the Arrow schema and the frames' columns are one list, name and grade_title too."""
        pytest.importorskip("pandas")
        pytest.importorskip("polars")
        ruleset, appraisal = s1
        expected = list(wide_columns(_kpis(ruleset)))
        assert expected[:12] == list(WIDE_COLUMNS)
        assert {"name", "grade_title"} <= set(WIDE_COLUMNS)
        assert "level" not in WIDE_COLUMNS
        header = next(csv.reader(io.StringIO(render(appraisal, "csv", ruleset=ruleset, layout="wide"))))
        assert header == expected
        assert appraisal.to_arrow(layout="wide").column_names == expected
        assert appraisal.to_polars(layout="wide").columns == expected
        assert list(appraisal.to_pandas(layout="wide").columns) == expected

    def test_xlsx_heads_the_same_columns_in_the_same_order(self, s1):
        """The wide workbook's header row names the shared columns in order (in the language), then value, score."""
        pytest.importorskip("xlsxwriter")
        openpyxl = pytest.importorskip("openpyxl")
        ruleset, appraisal = s1
        book = openpyxl.load_workbook(
            io.BytesIO(render(appraisal, "xlsx", ruleset=ruleset, layout="wide", names=NAMES))
        )
        sheet = book.worksheets[0]
        header = [c.value for c in sheet[3]]
        assert header[:12] == [
            "period", "subject", "name", "parent", "total", "total before gates", "grade", "grade title", "bonus",
            "rank", "rank in parent", "flags",
        ]  # fmt: skip
        assert header[12:] == ["value", "score"] * len(_kpis(ruleset))
        zhao = [c.value for c in sheet[4]]
        assert zhao[:3] == ["2026-03", "zhao_lei", "赵磊"]
        assert zhao[7] == "优秀"
        assert zhao[11] == "follow_up:excluded_na"

    def test_frames_carry_names_and_grade_titles(self, s1):
        """names= fills the name column; grade_title comes from the scorecard."""
        pytest.importorskip("pandas")
        _, appraisal = s1
        frame = appraisal.to_pandas(layout="wide", names=NAMES)
        assert frame.loc[0, "name"] == "赵磊"
        assert list(frame["grade_title"]) == ["优秀", "优秀", "良好", "待改进"]
        assert appraisal.to_arrow(layout="wide", names=NAMES).column("name").to_pylist()[3] == "王芳"

    @pytest.mark.parametrize("engine", ["row", "columnar"])
    def test_wide_parquet_has_the_shared_columns_with_names(self, root, tmp_path, monkeypatch, engine):
        """kpi evaluate --format parquet --layout wide writes the shared columns, names from the records."""
        pq = pytest.importorskip("pyarrow.parquet")
        pa = pytest.importorskip("pyarrow")
        monkeypatch.chdir(root)
        out = tmp_path / "wide.parquet"
        argv = ["evaluate", S1, "--records", RECORDS, "--format", "parquet", "--layout", "wide", "--out", str(out),
                "--engine", engine]  # fmt: skip
        assert main(argv) == 0
        table = pq.read_table(out)
        ruleset = load_ruleset(root / S1)
        assert table.column_names == list(wide_columns(_kpis(ruleset)))
        assert table.column("name").to_pylist()[0] == "赵磊"
        assert table.column("grade_title").to_pylist()[0] == "优秀"
        assert table.schema.field("calls_value").type == pa.decimal128(38, 0)
        assert table.schema.field("total").type == pa.decimal128(38, 2)


class TestValueTyping:
    """A KPI's values are one decimal column when every value is a number that fits, else text."""

    def test_the_scale_is_the_smallest_that_holds_every_value(self):
        """1.5 and 2.25 need 2 places; integers 0; N/A is skipped."""
        assert value_scale([Decimal("1.5"), Decimal("2.25"), None]) == 2
        assert value_scale([Decimal(118), Decimal("1.1E+2")]) == 0
        assert value_scale([None, None]) == 0

    def test_a_rational_is_taken_to_the_digits_the_json_shows(self):
        """25/184 has no finite expansion: 34 significant digits, as canonical (the JSON) writes it."""
        assert value_scale([Fraction(25, 184)]) == 34
        assert wide_value(Fraction(25, 184), 34) == Decimal("0.1358695652173913043478260869565217")
        assert wide_value(Fraction(3, 8), 3) == Decimal("0.375")

    def test_text_booleans_and_oversized_values_make_a_text_column(self):
        """A text or boolean value, or digits beyond decimal128, keep the column as text (never rounded)."""
        assert value_scale([Decimal(1), "gold"]) is None
        assert value_scale([Decimal(1), True]) is None
        assert value_scale([Decimal("1" * 30), Decimal("0." + "1" * 9)]) is None  # 30 + 9 > 38 digits
        assert value_scale([Decimal("1" * MAX_DIGITS)]) == 0
        assert wide_value(value=True, scale=None) == "true"
        assert wide_value(Decimal("1.50"), None) == "1.5"

    def test_na_is_pd_na_in_every_column_kind(self, s1):
        """The N/A value, score, name and rank_in_parent cells are all pd.NA (no NaN, no None)."""
        pd = pytest.importorskip("pandas")
        _, appraisal = s1
        zhao = appraisal.to_pandas(layout="wide").iloc[0]
        for column in ("follow_up_value", "follow_up_score", "name", "parent", "rank_in_parent"):
            assert zhao[column] is pd.NA, column
        long = appraisal.to_pandas()
        assert long.loc[(long["subject"] == "zhao_lei") & (long["kpi"] == "follow_up"), "value"].item() is pd.NA

    def test_arrow_marks_na_as_null_in_value_and_score(self, s1):
        """In Arrow (and Polars) an N/A value and score are nulls of their decimal column."""
        pytest.importorskip("pyarrow")
        _, appraisal = s1
        table = appraisal.to_arrow(layout="wide")
        assert table.column("follow_up_value").to_pylist()[0] is None
        assert table.column("follow_up_score").to_pylist()[0] is None
        assert str(table.schema.field("follow_up_value").type).startswith("decimal128")

    def test_to_excel_writes_numbers(self, s1, tmp_path):
        """An analyst's frame.to_excel gives number cells for values and scores, empty cells for N/A."""
        pytest.importorskip("pandas")
        openpyxl = pytest.importorskip("openpyxl")
        _, appraisal = s1
        path = tmp_path / "wide.xlsx"
        appraisal.to_pandas(layout="wide").to_excel(path, index=False)
        sheet = openpyxl.load_workbook(path).active
        header = [c.value for c in sheet[1]]
        zhao = {h: c.value for h, c in zip(header, sheet[2], strict=True)}
        assert isinstance(zhao["target_completion_value"], int | float)
        assert isinstance(zhao["growth_value"], int | float)
        assert isinstance(zhao["calls_score"], int | float)
        assert zhao["follow_up_value"] is None
