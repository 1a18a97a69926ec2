"""Workbooks as HR systems export them, tried as an analyst would (issue 19, review).

Each workbook is built with openpyxl in the shape an HR system or an analyst's Excel saves: a hidden
first sheet, two header rows with merged cells, a formula whose value was never saved. Each case gives
the right appraisal or one located error with a hint.
"""

import csv
import os
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
