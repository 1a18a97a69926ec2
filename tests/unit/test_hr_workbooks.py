"""Workbooks as HR systems export them, tried as an analyst would (issue 19, review).

Each workbook is built with openpyxl in the shape an HR system or an analyst's Excel saves: a hidden
first sheet, two header rows with merged cells, a formula whose value was never saved. Each case gives
the right appraisal or one located error with a hint.
"""

import csv
import os
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine import DataError, evaluate, load_ruleset, read_table
from kpi_engine.cli import main

openpyxl = pytest.importorskip("openpyxl")
pytest.importorskip("python_calamine")

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "rulesets/sales_rep_monthly.yaml"
RECORDS = ROOT / "examples/sales_rep_monthly/records.csv"
MEMBERS = ROOT / "examples/sales_rep_monthly/members.csv"


@pytest.fixture(scope="module")
def s1():
    return load_ruleset(S1)


@pytest.fixture(autouse=True)
def at_root():
    os.chdir(ROOT)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows():
    """The S1 example records: the header and each row with numbers as Excel holds them."""
    with RECORDS.open(encoding="utf-8", newline="") as fh:
        header, *body = list(csv.reader(fh))
    numbers = [[c if i < 3 else (None if c == "" else int(c)) for i, c in enumerate(r)] for r in body]
    return header, numbers


def totals(s1, **kw):
    """Subject → reported total of the S1 example read from its CSV."""
    return {r.subject: r.total for r in evaluate(s1, read_table(RECORDS, name="records"), **kw).results}


# --- the sheet read by default ----------------------------------------------------------------------


@pytest.fixture
def hidden_first(tmp_path):
    """A workbook whose first sheet is a hidden list of drop-down values, the data on the visible 三月."""
    book = openpyxl.Workbook()
    lists = book.active
    lists.title = "lists"
    lists.append(["grade"])
    lists.append(["A"])
    lists.sheet_state = "hidden"
    sheet = book.create_sheet("三月")
    header, body = rows()
    sheet.append(header)
    for r in body:
        sheet.append(r)
    path = tmp_path / "hidden.xlsx"
    book.save(path)
    return path


def test_the_first_visible_sheet_is_read_by_default(s1, hidden_first):
    """Without a sheet name the visible 三月 is read, not the hidden sheet before it."""
    table = read_table(hidden_first)
    assert table.name.endswith("[三月]")
    assert {r.subject: r.total for r in evaluate(s1, table).results} == totals(s1)


def test_a_hidden_sheet_is_read_when_named(hidden_first):
    """--sheet names any sheet, hidden ones too."""
    assert read_table(hidden_first, sheet="lists").name.endswith("[lists]")


def test_kpi_evaluate_reads_the_visible_sheet(capsys, hidden_first):
    """kpi evaluate on the workbook appraises the four reps (it said: no records to evaluate)."""
    code, out, err = run(capsys, "evaluate", S1, "--records", hidden_first, "--members", MEMBERS)
    assert code == 0, err
    assert "zhao_lei" in out
    assert "101.49" in out


# --- headers over two rows, merged cells ------------------------------------------------------------


@pytest.fixture
def two_row_header(tmp_path):
    """A title, a date line, then a header over two rows: 工号-style keys merged down both rows, group
    labels merged across their columns above the input names; the period merged down each month's rows."""
    header, body = rows()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "考核"
    sheet["A1"] = "2026年销售代表考核表"
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet["A2"] = "制表日期：2026-04-02"
    for col, name in enumerate(header[:3], start=1):
        sheet.cell(3, col, name)
        sheet.merge_cells(start_row=3, start_column=col, end_row=4, end_column=col)
    for label, first, last in (("销售业绩", 4, 6), ("客户", 7, 12), ("行为", 13, len(header))):
        sheet.cell(3, first, label)
        sheet.merge_cells(start_row=3, start_column=first, end_row=3, end_column=last)
    for col, name in enumerate(header[3:], start=4):
        sheet.cell(4, col, name)
    for i, r in enumerate(body):
        line = 5 + i
        for col, value in enumerate(r, start=1):
            if not (col == 2 and i % 4):  # the period only on each month's first row
                sheet.cell(line, col, value)
    for top in (5, 9):
        sheet.merge_cells(start_row=top, start_column=2, end_row=top + 3, end_column=2)
    path = tmp_path / "two_rows.xlsx"
    book.save(path)
    return path


def test_a_header_over_two_rows_with_merged_cells_is_read(s1, two_row_header):
    """The keys merged down both header rows name their columns; the appraisal is the CSV's."""
    table = read_table(two_row_header)
    assert [(n.code, n.location.line) for n in table.notes] == [("header_row", 4)]
    assert {r.subject: r.total for r in evaluate(s1, table).results} == totals(s1)


def test_kpi_evaluate_reads_the_two_row_header(capsys, two_row_header):
    """kpi evaluate appraises the workbook (it refused it: column 1 has no name, column 2 …)."""
    code, out, err = run(capsys, "evaluate", S1, "--records", two_row_header, "--members", MEMBERS)
    assert code == 0, err
    assert "bad_header" not in err
    assert "101.49" in out


def test_a_merge_across_columns_is_not_copied(tmp_path):
    """A note merged across number columns stays in its first cell: the other cells are empty, not the note."""
    header, body = rows()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for r in body:
        sheet.append(r)
    sheet.cell(2, 4, "见备注")
    sheet.merge_cells(start_row=2, start_column=4, end_row=2, end_column=6)
    path = tmp_path / "across.xlsx"
    book.save(path)
    table = read_table(path)
    assert [table.rows[0][1].get(c) for c in header[3:6]] == ["见备注", None, None]


# --- formulas whose value was never saved -----------------------------------------------------------


def test_a_formula_with_no_saved_value_is_located_with_what_to_do(tmp_path, capsys):
    """A workbook a program wrote keeps =D7*1.1 without its value: refused at that cell, formula and hint given."""
    header, body = rows()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for r in body:
        sheet.append(r)
    sheet["E7"] = "=D7*1.1"  # li_na's March sales, a formula openpyxl saves with no value
    path = tmp_path / "formula.xlsx"
    book.save(path)
    code, out, err = run(capsys, "evaluate", S1, "--records", path)
    assert code == 1
    assert out == ""
    assert f"{path}[Sheet]:7:5: sales_actual: the cell holds =D7*1.1 whose value was never saved" in err
    assert "open the workbook in Excel or LibreOffice and save it" in err
    assert "[formula_without_value]" in err
    assert "has no value for required input" not in err


def test_a_formula_with_a_saved_value_is_read(tmp_path, s1):
    """The same formula with the value Excel saved beside it is read as that value."""
    header, body = rows()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for r in body:
        sheet.append(r)
    book.save(tmp_path / "plain.xlsx")

    with zipfile.ZipFile(tmp_path / "plain.xlsx") as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet_xml = parts["xl/worksheets/sheet1.xml"].decode()
    value = '<c r="E7" t="n"><v>76000</v></c>'
    assert value in sheet_xml
    parts["xl/worksheets/sheet1.xml"] = sheet_xml.replace(value, '<c r="E7"><f>D7*0.95</f><v>76000</v></c>').encode()
    with zipfile.ZipFile(tmp_path / "saved.xlsx", "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    assert {r.subject: r.total for r in evaluate(s1, read_table(tmp_path / "saved.xlsx")).results} == totals(s1)


# --- the messages under --lang zh ------------------------------------------------------------------


def hr_book(path, *, title=True, extra=(), edits=None, formats=None):
    """The S1 rows in a sheet 三月 as HR saves it: a merged title and a blank row above the header, then
    ``extra`` rows; ``edits`` sets cells by reference, ``formats`` number formats by reference."""
    header, body = rows()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "三月"
    if title:
        sheet.append(["2026年3月销售代表考核表"])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
        sheet.append([])
    sheet.append(header)
    for r in [*body, *extra]:
        sheet.append(r)
    for ref, value in (edits or {}).items():
        sheet[ref] = value
    for ref, fmt in (formats or {}).items():
        sheet[ref].number_format = fmt
    book.save(path)
    return path


ENGLISH = re.compile(r"\b(is|are|not|the|row|rows|column|cell|value|leave|with|out|never|saved|number|lies)\b")


def english_words(line):
    """English words of a message line, once the location, the code, quoted data and options are set aside."""
    body = re.sub(r"^\S+: (\w+: )?", "", line)  # FILE:LINE:COL: and the path
    body = re.sub(r"\[\w+\]$|'[^']*'|“[^”]*”|--[\w-]+|\(API[^)]*\)|API：[^）]*", "", body)
    return ENGLISH.findall(body)


def test_data_errors_of_hr_workbooks_are_chinese_under_lang_zh(tmp_path, capsys):
    """Each workbook's errors read in Chinese under --lang zh: no English sentence is left (they all were)."""
    header, _ = rows()
    total = ["合计", "2026-03", "合计", *[1] * (len(header) - 3)]
    books = {
        "totals": hr_book(tmp_path / "totals.xlsx", extra=[total]),
        "separators": hr_book(tmp_path / "sep.xlsx", edits={"D8": "1,20", "E9": "1,2345"}),
        "percent count": hr_book(tmp_path / "pct.xlsx", edits={"F8": 0.5}, formats={"F8": "0%"}),
        "formula": hr_book(tmp_path / "formula.xlsx", edits={"E9": "=D9*1.1"}),
        "fractions": hr_book(tmp_path / "fractions.xlsx", edits={f"K{r}": 0.9 for r in range(4, 12)}),
    }
    chinese = {
        "totals": "“合计”不在人员名单（members）中（是合计行吗？）",
        "separators": "不是数字：逗号只用作千位分隔符",
        "percent count": "只有比率（ratio）和得分（score）输入可写百分数",
        "formula": "该单元格是公式 =D9*1.1，工作簿中没有保存它的计算结果",
        "fractions": "是 0–100 分的得分，但所有值都在 0 与 1 之间",
    }
    for what, path in books.items():
        code, _, err = run(capsys, "--lang", "zh", "evaluate", S1, "--records", path, "--members", MEMBERS)
        assert code == 1, what
        assert chinese[what] in err, (what, err)
        for line in err.splitlines():
            assert english_words(line) == [], (what, line)


def test_missing_keys_and_a_header_below_a_title_are_chinese_under_lang_zh(tmp_path, capsys):
    """A Chinese header's missing_column (with its columns: hint) and the header_row warning read in Chinese."""
    header, body = rows()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["工号", "月份", "姓名", *header[3:]])
    for r in body:
        sheet.append(r)
    book.save(tmp_path / "zh.xlsx")
    code, _, err = run(capsys, "--lang", "zh", "evaluate", S1, "--records", tmp_path / "zh.xlsx")
    assert code == 1
    assert "没有“subject”列（表头为：工号, 月份, 姓名" in err
    assert "请在规则集中映射表头：columns: {工号: subject, 月份: period, 姓名: name" in err
    code, _, err = run(capsys, "--lang", "zh", "evaluate", S1, "--records", hr_book(tmp_path / "t.xlsx"))
    assert code == 0
    assert "警告：以第 3 行为表头：其上方 2 行像是标题（“2026年3月销售代表考核表”）" in err
    assert [english_words(line) for line in err.splitlines()] == [[]]


def test_warnings_of_left_out_rows_are_chinese_and_terminal_safe(tmp_path, capsys):
    """Rows left out are warned in the chosen language, with a bidi override from data shown, never sent."""
    header, _ = rows()
    total = ["合计", "2026-03", "合计", *[1] * (len(header) - 3)]
    hostile = ["ev\u202eil", "2026-03", "x", *[1] * (len(header) - 3)]
    path = hr_book(tmp_path / "left_out.xlsx", title=False, extra=[total, hostile])
    code, _, err = run(
        capsys, "--lang", "zh", "evaluate", S1, "--records", path, "--members", MEMBERS, "--exclude-unlisted"
    )
    assert code == 0, err
    assert "警告：“合计”不在人员名单（members）中（是合计行吗？）；已略去 [unlisted_subject]" in err
    assert "\u202e" not in err
    assert "ev\\u202eil" in err


# --- Arrow batches are screened as frames are -------------------------------------------------------


def test_evaluate_batches_skips_a_totals_row_as_its_message_says(s1, tmp_path):
    """A 合计 row in Arrow batches is refused with the hint totals='skip', and totals='skip' is accepted."""
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    pytest.importorskip("polars")
    from kpi_engine.evaluation.columnar import evaluate_batches

    header, _ = rows()
    total = ["合计", "2026-03", "合计", *[1] * (len(header) - 3)]
    frame = pd.read_excel(hr_book(tmp_path / "t.xlsx", extra=[total]), header=2, engine="openpyxl")
    batches = pa.Table.from_pandas(frame, preserve_index=False).to_batches(max_chunksize=3)
    with pytest.raises(DataError) as info:
        evaluate_batches(s1, batches, period="2026-03")
    assert [(i.code, i.suggestion) for i in info.value.issues] == [
        ("totals_row", "leave such rows out with --skip-totals (API: totals='skip')")
    ]
    table = evaluate_batches(s1, batches, period="2026-03", totals="skip").read_all()
    got = {s: Decimal(t) for s, t in zip(table["subject"].to_pylist(), table["total"].to_pylist(), strict=True)}
    assert got == totals(s1)


# --- columns HR sheets carry -------------------------------------------------------------------------


def test_a_row_number_column_is_refused_with_the_option_that_ignores_it(tmp_path, capsys):
    """A 序号 column (every HR sheet numbers its rows) names --allow-extra-columns; with it the reps are appraised."""
    header, body = rows()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["序号", *header])
    for i, r in enumerate(body, start=1):
        sheet.append([i, *r])
    for line in range(sheet.max_row + 1, sheet.max_row + 50):  # formatted rows left empty below the table
        sheet.cell(line, 5).number_format = "#,##0.00"
    path = tmp_path / "numbered.xlsx"
    book.save(path)
    code, _, err = run(capsys, "evaluate", S1, "--records", path)
    assert code == 1
    assert f"{path}[Sheet]:2:1: 序号: column '序号' is not an input of this ruleset; ignore columns" in err
    assert "--allow-extra-columns" in err
    code, out, err = run(capsys, "--lang", "zh", "evaluate", S1, "--records", path)
    assert "可用 --allow-extra-columns 忽略规则集不使用的列" in err
    code, out, err = run(capsys, "evaluate", S1, "--records", path, "--allow-extra-columns", "--format", "csv")
    assert code == 0, err
    assert "zhao_lei" in out


# --- notes below the table ----------------------------------------------------------------------------


def noted_rows():
    """Two lines HR writes under a table: a note and the signatures (no period, no number)."""
    header, _ = rows()
    blank = [None] * (len(header) - 1)
    return [
        ["注：本表数据截至2026年3月31日，由人力资源部提供", *blank],
        ["制表人：王小明", None, "审核人：李主管", *blank[2:]],
    ]


def test_notes_below_the_table_are_left_out_with_a_warning(tmp_path, s1, capsys):
    """注：… and 制表人：… under the last record are left out with a warning each (they were 'period is required')."""
    header, body = rows()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for r in body:
        sheet.append(r)
    sheet.append([])
    for r in noted_rows():
        sheet.append(r)
    path = tmp_path / "notes.xlsx"
    book.save(path)
    appraisal = evaluate(s1, read_table(path))
    assert {r.subject: r.total for r in appraisal.results} == totals(s1)
    assert [(w.code, w.location.line) for w in appraisal.warnings] == [("note_row", 11), ("note_row", 12)]
    code, _, err = run(capsys, "evaluate", S1, "--records", path, "--members", MEMBERS)
    assert code == 0, err
    assert (
        f"{path}[Sheet]:11:1: subject: warning: row 11 holds no period and no input below the last record: "
        "a note ('注：本表数据截至2026年3月31日，由人力资源部提供'); left out [note_row]"
    ) in err
    _, _, err = run(capsys, "--lang", "zh", "evaluate", S1, "--records", path, "--members", MEMBERS)
    assert "警告：第 12 行在最后一条记录之下，没有期间也没有输入值：是备注（“制表人：王小明”）；已略去" in err


def test_notes_below_a_frame_are_left_out_as_in_the_file(s1):
    """The same notes in a pandas frame (as pandas.read_excel gives them) are left out the same way, on both engines."""
    pd = pytest.importorskip("pandas")
    header, body = rows()
    frame = pd.DataFrame([*body, *noted_rows()], columns=header)
    for engine in ("row", "columnar"):
        if engine == "columnar":
            pytest.importorskip("polars")
        appraisal = evaluate(s1, frame, engine=engine)
        assert {r.subject: r.total for r in appraisal.results} == totals(s1)
        assert [w.code for w in appraisal.warnings] == ["note_row", "note_row"]


def test_a_row_without_period_among_the_records_is_still_an_error(s1):
    """A row with no period and no number between two records is not a note: 'period' is required, as before."""
    header, body = rows()
    middle = [["zhao_lei", None, "赵磊", *[None] * (len(header) - 3)]]
    with pytest.raises(DataError) as info:
        evaluate(s1, [dict(zip(header, r, strict=True)) for r in [*body[:4], *middle, *body[4:]]])
    assert [i.code for i in info.value.issues] == ["missing_field"]
