"""Results as HR handles them: the wide layout (CSV, xlsx, frames), values that read as numbers, xlsx at scale."""

import csv
import io
from decimal import Decimal

import pytest

from kpi_engine import evaluate, load_ruleset, read_table
from kpi_engine.report import View, messages, render

S1 = "rulesets/sales_rep_monthly.yaml"
RECORDS = "examples/sales_rep_monthly/records.csv"


@pytest.fixture
def s1(root):
    ruleset = load_ruleset(root / S1)
    return ruleset, evaluate(ruleset, read_table(root / RECORDS), period="2026-03")


def _rows(text):
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


class TestWideCsv:
    """One row per subject, a value and a score column per KPI."""

    def test_one_row_per_subject_with_value_and_score_per_kpi(self, s1):
        """The wide CSV has the fixed columns, then <kpi>_value and <kpi>_score in the scorecard's order."""
        ruleset, appraisal = s1
        rows = _rows(render(appraisal, "csv", ruleset=ruleset, layout="wide"))
        header = rows[0]
        assert header[:12] == [
            "period", "subject", "name", "parent", "total", "total_before_gates", "grade", "grade_title",
            "bonus_multiplier", "rank", "rank_in_parent", "flags",
        ]  # fmt: skip
        kpis = [k.id for k in ruleset.scorecard.kpis]
        assert header[12:] == [f"{k}_{c}" for k in kpis for c in ("value", "score")]
        assert len(rows) == 1 + len(appraisal.results)
        zhao = dict(zip(header, rows[1], strict=True))
        assert (zhao["subject"], zhao["total"], zhao["grade"], zhao["rank"]) == ("zhao_lei", "101.49", "A", "1")
        assert zhao["target_completion_value"] == "1.1"
        assert zhao["target_completion_score"] == "110.00"
        assert zhao["calls_score"] == "98.33"
        assert (zhao["follow_up_value"], zhao["follow_up_score"]) == ("", "")  # N/A
        assert zhao["flags"] == "follow_up:excluded_na"
        wang = dict(zip(header, rows[4], strict=True))
        assert wang["flags"] == "gate:low_attainment"

    def test_chinese_header_names_each_kpi_by_its_title(self, s1):
        """Under --lang zh the KPI columns read '<title> 数值' and '<title> 得分' (ids with ids=True)."""
        ruleset, appraisal = s1
        header = _rows(render(appraisal, "csv", ruleset=ruleset, layout="wide", lang="zh"))[0]
        assert header[:2] == ["期间", "考核对象"]
        assert header[12:14] == ["销售目标完成率 数值", "销售目标完成率 得分"]
        with_ids = _rows(render(appraisal, "csv", ruleset=ruleset, layout="wide", lang="zh", ids=True))[0]
        assert with_ids[12:14] == ["target_completion 数值", "target_completion 得分"]

    def test_values_are_rounded_to_places_plus_two_in_both_layouts(self, s1):
        """A value without a short expansion is shown to the ruleset's places + 2 (the JSON keeps every digit)."""
        ruleset, appraisal = s1
        wide = _rows(render(appraisal, "csv", ruleset=ruleset, layout="wide"))
        zhang = dict(zip(wide[0], wide[2], strict=True))
        assert zhang["growth_value"] == "0.1359"  # 25/184 = 0.13586956…
        long = _rows(render(appraisal, "csv", ruleset=ruleset))
        row = next(r for r in long if r[1] == "zhang_wei" and r[9] == "growth")
        assert row[11] == "0.1359"
        exact = next(k for k in appraisal.to_dict()["results"][1]["kpis"] if k["id"] == "growth")["value"]
        assert exact == "0.1358695652173913043478260869565217"


class TestWideFrames:
    """to_pandas / to_polars / to_arrow with layout="wide"."""

    def test_pandas_wide_has_decimal_scores_and_values(self, s1):
        """One row per subject; scores are Decimals with the ruleset's places, values Decimals as the JSON gives them."""
        pytest.importorskip("pandas")
        _, appraisal = s1
        frame = appraisal.to_pandas(layout="wide")
        assert len(frame) == len(appraisal.results)
        first = frame.iloc[0]
        assert first["subject"] == "zhao_lei"
        assert first["total"] == Decimal("101.49")
        assert str(first["target_completion_score"]) == "110.00"
        assert str(first["target_completion_value"]) == "1.1"
        assert str(first["growth_value"]) == "0.1"
        assert str(frame.loc[1, "growth_value"]) == "0.1358695652173913043478260869565217"  # 25/184, as in the JSON
        assert first["calls_value"] == Decimal(118)

    def test_arrow_and_polars_wide_types(self, s1):
        """Scores and totals are decimal128 at the ruleset's places, values at their smallest scale, ranks int64."""
        pa = pytest.importorskip("pyarrow")
        pytest.importorskip("polars")
        _, appraisal = s1
        table = appraisal.to_arrow(layout="wide")
        assert table.num_rows == 4
        assert table.schema.field("calls_score").type == pa.decimal128(38, 2)
        assert table.schema.field("rank").type == pa.int64()
        assert table.schema.field("calls_value").type == pa.decimal128(38, 0)
        assert table.schema.field("target_completion_value").type == pa.decimal128(38, 3)  # 1.045
        assert table.schema.field("growth_value").type == pa.decimal128(38, 34)
        assert table.schema.field("name").type == pa.string()
        polars = appraisal.to_polars(layout="wide")
        assert polars["calls_score"].to_list()[0] == Decimal("98.33")
        assert polars["target_completion_value"].to_list()[:2] == [Decimal("1.1"), Decimal("1.045")]


class TestXlsx:
    """Workbooks whose cells are numbers with number formats, constant memory, and no row dropped."""

    def _book(self, data):
        openpyxl = pytest.importorskip("openpyxl")
        return openpyxl.load_workbook(io.BytesIO(data))

    def test_values_are_numbers_with_percent_formats_for_ratios(self, s1):
        """The detail sheet's value column holds numbers (a ratio as a percent), never text fractions."""
        pytest.importorskip("xlsxwriter")
        ruleset, appraisal = s1
        book = self._book(render(appraisal, "xlsx", ruleset=ruleset))
        detail = book["KPI detail"]
        rows = {(r[0].value, r[2].value): r for r in detail.iter_rows(min_row=2)}
        calls = rows[("zhao_lei", "calls")][5]
        assert (calls.value, calls.number_format) == (118, "General")
        growth = rows[("zhang_wei", "growth")][5]  # 25/184: a ratio, rounded to 4 places, shown as a percent
        assert (Decimal(repr(growth.value)), growth.number_format) == (Decimal("0.1359"), "0.00%")
        weight = rows[("zhao_lei", "target_completion")][7]
        assert (Decimal(repr(weight.value)), weight.number_format) == (Decimal("0.6"), "0.00%")
        values = [r[5].value for r in detail.iter_rows(min_row=2)]
        assert {v for v in values if isinstance(v, str)} == {"N/A"}  # no '8007/7900' text fractions

    def test_wide_workbook_has_value_and_score_under_each_title(self, s1):
        """layout=wide: Results has each KPI's title over a value and a score column; no detail sheet."""
        pytest.importorskip("xlsxwriter")
        ruleset, appraisal = s1
        book = self._book(render(appraisal, "xlsx", ruleset=ruleset, layout="wide", lang="zh"))
        assert book.sheetnames == ["考核结果", "说明"]
        sheet = book["考核结果"]
        titles = [c.value for c in sheet[2]]
        header = [c.value for c in sheet[3]]
        first = header.index("数值")
        assert titles[first] == "销售目标完成率"
        assert header[first : first + 2] == ["数值", "得分"]
        zhao = [c.value for c in sheet[4]]
        assert zhao[1] == "zhao_lei"
        assert zhao[first : first + 2] == [1.1, 110]
        assert sheet.freeze_panes == "C4"
        assert sheet.max_row == 3 + len(appraisal.results)

    def test_rows_beyond_a_sheet_continue_on_the_next_sheet(self, s1, tmp_path):
        """Past the row limit the detail continues on 'KPI detail (2)' with its header: every row is kept."""
        pytest.importorskip("xlsxwriter")
        from kpi_engine.report.xlsx import write_xlsx

        ruleset, appraisal = s1
        view = View(appraisal, messages("en"), ruleset.scorecard, {})
        seen = []
        out = tmp_path / "big.xlsx"
        write_xlsx(view, out, max_rows=20, progress=lambda done, total: seen.append((done, total)))
        book = self._book(out.read_bytes())
        assert book.sheetnames == ["Results", "KPI detail", "KPI detail (2)", "KPI detail (3)", "About"]
        detail = [r for name in book.sheetnames[1:4] for r in book[name].iter_rows(min_row=2, values_only=True)]
        assert len(detail) == 4 * 11
        assert [(r[0], r[2]) for r in detail][:2] == [("zhao_lei", "target_completion"), ("zhao_lei", "growth")]
        assert book["KPI detail (2)"]["A1"].value == "subject"
        about = {r[0]: r[1] for r in book["About"].iter_rows(values_only=True)}
        assert "KPI detail (3)" in about["sheets"]
        assert seen[-1] == (4 + 44, 4 + 44)

    def test_a_file_is_written_in_constant_memory_mode(self, s1, tmp_path, monkeypatch):
        """Writing to a path asks XlsxWriter for constant_memory; to a stream, in_memory."""
        xlsxwriter = pytest.importorskip("xlsxwriter")
        from kpi_engine.report import xlsx

        options = []
        real = xlsxwriter.Workbook

        def spy(target, opts):
            options.append(opts)
            return real(target, opts)

        monkeypatch.setattr(xlsxwriter, "Workbook", spy)
        ruleset, appraisal = s1
        view = View(appraisal, messages("en"), ruleset.scorecard, {})
        xlsx.write_xlsx(view, tmp_path / "a.xlsx")
        xlsx.write_xlsx(view, io.BytesIO())
        assert options[0].get("constant_memory") is True
        assert options[1].get("in_memory") is True


class TestCommand:
    """`kpi evaluate --layout wide` for csv, xlsx and parquet; refused for the other formats."""

    @pytest.fixture(autouse=True)
    def at_root(self, root, monkeypatch):
        monkeypatch.chdir(root)

    def test_wide_csv_xlsx_and_parquet_files(self, tmp_path, capsys):
        """Each format writes one row per subject; the xlsx has no detail sheet; the parquet a column per score."""
        from kpi_engine.cli import main

        base = ["evaluate", S1, "--records", RECORDS, "--layout", "wide"]
        for fmt in ("csv", "xlsx", "parquet"):
            if fmt == "xlsx":
                pytest.importorskip("xlsxwriter")
            if fmt == "parquet":
                pytest.importorskip("pyarrow")
            assert main([*base, "--format", fmt, "--out", str(tmp_path / f"out.{fmt}")]) == 0
        rows = _rows((tmp_path / "out.csv").read_text(encoding="utf-8"))
        assert len(rows) == 5
        assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM with --out
        openpyxl = pytest.importorskip("openpyxl")
        assert openpyxl.load_workbook(tmp_path / "out.xlsx").sheetnames == ["Results", "About"]
        import pyarrow.parquet as pq

        table = pq.read_table(tmp_path / "out.parquet")
        assert table.num_rows == 4
        assert "calls_score" in table.column_names
        assert capsys.readouterr().out == ""

    def test_an_xlsx_file_replaces_the_old_one_whole(self, tmp_path):
        """The workbook is written next to the target and renamed over it: no temporary file is left."""
        pytest.importorskip("xlsxwriter")
        from kpi_engine.cli import main

        out = tmp_path / "report.xlsx"
        out.write_bytes(b"old")
        assert main(["evaluate", S1, "--records", RECORDS, "--format", "xlsx", "--out", str(out)]) == 0
        assert out.read_bytes().startswith(b"PK")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xlsx"]

    @pytest.mark.parametrize("fmt", ["table", "json", "html"])
    def test_wide_is_refused_where_it_means_nothing(self, capsys, fmt):
        """--layout wide with a format that has one layout is an error naming the formats that take it."""
        from kpi_engine.cli import main

        assert main(["evaluate", S1, "--records", RECORDS, "--format", fmt, "--layout", "wide"]) == 1
        assert "--layout wide applies to --format csv, xlsx and parquet" in capsys.readouterr().err


def test_explain_shows_values_rounded_and_marked(root, capsys, monkeypatch):
    """kpi explain shows a long value to the ruleset's places + 2, marked ≈ (the JSON trace keeps every digit)."""
    from kpi_engine.cli import main

    monkeypatch.chdir(root)
    assert main(["explain", S1, "--records", RECORDS, "--subject", "zhang_wei", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "growth of sales_actual versus the previous period = ≈0.1359" in out
    assert "0.13586956" not in out
    assert "sales_actual / sales_target = 1.045\n" in out  # exact and short: shown as it is
