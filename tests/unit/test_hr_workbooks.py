"""Workbooks as HR systems export them, tried as an analyst would (issue 19, review).

Each workbook is built with openpyxl in the shape an HR system or an analyst's Excel saves: a hidden
first sheet, two header rows with merged cells, a formula whose value was never saved. Each case gives
the right appraisal or one located error with a hint.
"""

import csv
import os
import zipfile
from pathlib import Path

import pytest

from kpi_engine import evaluate, load_ruleset, read_table
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
