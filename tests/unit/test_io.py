"""Readers: streamed CSV and JSON Lines, encodings, Excel, Chinese headers, extra columns (issue 7)."""

from pathlib import Path

import pytest

from kpi_engine import DataError, KpiError, RulesetError, evaluate, load_ruleset, parse_ruleset, read_table
from kpi_engine.io.delimited import read_csv_lines

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "rulesets/sales_rep_monthly.yaml"
RECORDS = ROOT / "examples/sales_rep_monthly/records.csv"

CN = """\
ruleset: cn
version: "1"
title: 中文表头
columns: {工号: subject, 月份: period, 姓名: name, 销售额: sales, 目标: target}
inputs:
  sales: {type: money, min: 0}
  target: {type: money, min: 0}
metrics:
  attainment: {formula: sales / target, unit: ratio}
kpis:
  - {id: attainment, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 100%}
"""
CN_CSV = "工号,月份,姓名,销售额,目标\nr1,2026-03,张伟,95000,100000\nr2,2026-03,李娜,120000,100000\n"


def test_a_line_separator_inside_a_name_does_not_split_the_row(tmp_path):
    """U+2028 (a WeChat paste) inside a CSV cell or a JSON Lines string stays in the cell."""
    rs = parse_ruleset(CN)
    csv_path = tmp_path / "r.csv"
    csv_path.write_text(CN_CSV.replace("张伟", "张\u2028伟"), encoding="utf-8")
    appraisal = evaluate(rs, read_table(csv_path))
    assert [r.subject for r in appraisal.results] == ["r2", "r1"]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(
        '{"subject": "r1", "period": "2026-03", "name": "张\u2028伟", "sales": 1, "target": 2}\n', encoding="utf-8"
    )
    table = read_table(jsonl)
    assert table.rows[0][1]["name"] == "张\u2028伟"


def test_chinese_headers_map_to_inputs_through_columns():
    """`columns: {销售额: sales}` reads Chinese headers; errors still point at the original column."""
    from kpi_engine.io.loading import read_csv_text

    rs = parse_ruleset(CN)
    appraisal = evaluate(rs, read_csv_text(CN_CSV, "r.csv"))
    assert appraisal.result("r1").kpi("attainment").score == 95
    with pytest.raises(DataError) as info:
        evaluate(rs, read_csv_text(CN_CSV.replace("95000", "-1"), "r.csv"))
    assert [(i.code, str(i.location)) for i in info.value.issues] == [("out_of_bounds", "r.csv:2:4")]


def test_a_column_mapping_to_an_unknown_name_is_a_ruleset_error():
    """A mapping target that is not an input or a record key is reported with a did-you-mean."""
    with pytest.raises(RulesetError) as info:
        parse_ruleset(CN.replace("销售额: sales", "销售额: saless"))
    issue = next(i for i in info.value.issues if i.code == "unknown_column")
    assert issue.suggestion == "did you mean 'sales'?"
    assert issue.location is not None
    assert issue.location.line == 4


def test_gb18030_file_is_refused_with_a_hint_and_read_with_encoding(tmp_path):
    """A GB18030 CSV (zh-CN Excel) gets a hint naming --encoding, and reads correctly with it."""
    path = tmp_path / "gbk.csv"
    path.write_bytes(CN_CSV.encode("gb18030"))
    with pytest.raises(KpiError, match=r"looks like GB18030.*--encoding gb18030"):
        read_table(path)
    rs = parse_ruleset(CN)
    table = read_table(path, encoding="gb18030")
    assert table.header[:3] == ("工号", "月份", "姓名")
    assert table.rows[0][1]["姓名"] == "张伟"
    assert evaluate(rs, table).result("r2").kpi("attainment").score == 120


def test_unknown_encoding_is_a_kpi_error(tmp_path):
    """An encoding name Python does not know is refused clearly."""
    path = tmp_path / "r.csv"
    path.write_text("subject,period\n", encoding="utf-8")
    with pytest.raises(KpiError, match="unknown encoding 'gb9999'"):
        read_table(path, encoding="gb9999")


def test_xlsx_written_by_openpyxl_reads_like_the_csv(tmp_path):
    """An .xlsx with the S1 records (numbers as Excel numbers, a named sheet) appraises like the CSV."""
    openpyxl = pytest.importorskip("openpyxl")
    pytest.importorskip("python_calamine")
    book = openpyxl.Workbook()
    book.active.title = "说明"
    sheet = book.create_sheet("三月")
    for i, line in enumerate(RECORDS.read_text(encoding="utf-8").splitlines()):
        cells = line.split(",")
        sheet.append(cells if i == 0 else [c if not c.isdigit() else int(c) for c in cells] if cells else [])
    path = tmp_path / "records.xlsx"
    book.save(path)
    s1 = load_ruleset(S1)
    expected = evaluate(s1, read_table(RECORDS, name="records")).to_json()
    assert evaluate(s1, read_table(path, sheet="三月", name="records")).to_json() == expected
    with pytest.raises(KpiError, match=r"no sheet named 'March' \(sheets: 说明, 三月\)"):
        read_table(path, sheet="March")


def test_xlsx_errors_name_the_sheet_row_and_column(tmp_path):
    """A bad cell in a workbook is located as book.xlsx[Sheet]:row:col."""
    openpyxl = pytest.importorskip("openpyxl")
    pytest.importorskip("python_calamine")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Data"
    sheet.append(["工号", "月份", "姓名", "销售额", "目标"])
    sheet.append([])
    sheet.append(["r1", "2026-03", "张伟", "12万", 100])
    path = tmp_path / "book.xlsx"
    book.save(path)
    with pytest.raises(DataError) as info:
        evaluate(parse_ruleset(CN), read_table(path))
    assert [(i.code, str(i.location)) for i in info.value.issues] == [("bad_value", f"{path}[Data]:3:4")]


def test_extra_columns_are_errors_unless_allowed():
    """An unused column is an error by default, ignored with allow_extra_columns (argument or ruleset key)."""
    from kpi_engine.io.loading import read_csv_text

    text = CN_CSV.replace("目标\n", "目标,部门\n").replace("100000\n", "100000,华东\n")
    rs = parse_ruleset(CN)
    with pytest.raises(DataError, match="column '部门' is not an input"):
        evaluate(rs, read_csv_text(text, "r.csv"))
    assert len(evaluate(rs, read_csv_text(text, "r.csv"), allow_extra_columns=True).results) == 2
    relaxed = parse_ruleset(CN + "allow_extra_columns: true\n")
    assert len(evaluate(relaxed, read_csv_text(text, "r.csv")).results) == 2


def test_csv_reader_consumes_lines_lazily():
    """The CSV reader pulls lines one at a time from an iterator; it never needs the whole text."""
    pulled = []

    def lines():
        for line in ["subject,period,x\n", "a,2026-03,1\n", "b,2026-03,2\n"]:
            pulled.append(line)
            yield line

    source = lines()
    table = read_csv_lines(source, "r.csv")
    assert len(table.cells) == 2
    assert len(pulled) == 3


def test_read_table_streams_the_file_instead_of_reading_all_text(tmp_path, monkeypatch):
    """read_table on a CSV never slurps the file (Path.read_text and file.read are not called)."""
    path = tmp_path / "r.csv"
    path.write_text("subject,period,x\na,2026-03,1\n", encoding="utf-8")

    def refuse(*_args, **_kwargs):
        raise AssertionError("the whole file was read at once")

    monkeypatch.setattr(Path, "read_text", refuse)
    real_open = Path.open

    def open_without_read(self, *args, **kwargs):
        handle = real_open(self, *args, **kwargs)

        class Lines:
            def __iter__(self):
                return iter(handle)

            def read(self, *_a):
                refuse()

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                handle.close()

        return Lines()

    monkeypatch.setattr(Path, "open", open_without_read)
    assert read_table(path).cells[0][1][:3] == ("a", "2026-03", "1")


def test_percent_formatted_excel_cells_read_as_the_user_sees_them(tmp_path):
    """A cell formatted 0% holding 0.95 reads as 95%: exactly 0.95 in a ratio column, 95 points in a score column."""
    openpyxl = pytest.importorskip("openpyxl")
    pytest.importorskip("python_calamine")
    rs = parse_ruleset(
        "ruleset: x\nversion: '1'\ntitle: x\ninputs: {conduct: {type: score, min: 0, max: 100}, renewal: {type: ratio}}\n"
        "kpis:\n  - {id: c, metric: conduct, method: expression, score: value, weight: 50%}\n"
        "  - {id: r, metric: renewal, method: threshold, target: 90%, weight: 50%}\n"
    )

    def book(score_format):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["subject", "period", "conduct", "renewal"])
        ws.append(["a", "2026-03", 0.95 if score_format else 95, 0.925])
        ws["D2"].number_format = "0.0%"
        if score_format:
            ws["C2"].number_format = "0%"
        path = tmp_path / f"b{int(score_format)}.xlsx"
        wb.save(path)
        return path

    good = evaluate(rs, read_table(book(score_format=False)))
    assert str(good.results[0].kpi("r").value) == "0.925"
    assert good.results[0].kpi("c").value == 95
    shown = evaluate(rs, read_table(book(score_format=True)))
    assert shown.results[0].kpi("c").value == 95
    assert shown.results[0].total == good.results[0].total


def test_a_mapped_column_that_clashes_with_an_existing_one_is_an_error():
    """Data holding both 销售额 and sales, with 销售额 mapped to sales, is refused rather than one silently winning."""
    from kpi_engine.io.loading import read_csv_text

    text = CN_CSV.replace("目标\n", "目标,sales\n").replace("100000\n", "100000,1\n")
    with pytest.raises(DataError) as info:
        evaluate(parse_ruleset(CN), read_csv_text(text, "r.csv"))
    assert [(i.code, str(i.location)) for i in info.value.issues] == [("duplicate_column", "r.csv:1:4")]
