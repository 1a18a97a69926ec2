"""Warnings gathered before an error stopped a run are printed before the error (issue 19)."""

import pytest

from kpi_engine.cli import main

S1 = "rulesets/sales_rep_monthly.yaml"
RECORDS = "examples/sales_rep_monthly/records.csv"


@pytest.fixture(autouse=True)
def at_root(root, monkeypatch):
    monkeypatch.chdir(root)


def _records(root, path, *, title=False, bad=False, tail=()):
    lines = (root / RECORDS).read_text(encoding="utf-8").splitlines()
    if bad:
        cells = lines[-1].split(",")
        cells[4] = "abc"
        lines[-1] = ",".join(cells)
    head = ["2026年3月销售代表考核表", ""] if title else []
    path.write_text("\n".join([*head, *lines, *tail]) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("engine", ["row", "columnar"])
def test_the_header_row_warning_comes_before_a_later_error(root, tmp_path, capsys, engine):
    """A title row above the header is noted on stderr, then the bad cell's error; exit 1."""
    path = _records(root, tmp_path / "titled.csv", title=True, bad=True)
    assert main(["evaluate", S1, "--records", path, "--engine", engine]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "took row 3 as the header" in err[0]
    assert "[header_row]" in err[0]
    assert any("'abc' is not a number" in line for line in err[1:])


def test_the_warning_is_in_the_chosen_language(root, tmp_path, capsys):
    """Under --lang zh the warning before the error is Chinese."""
    path = _records(root, tmp_path / "titled.csv", title=True, bad=True)
    assert main(["evaluate", S1, "--records", path, "--lang", "zh"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "警告" in err[0]
    assert "以第 3 行为表头" in err[0]


def test_a_title_with_escape_sequences_is_shown_terminal_safe(root, tmp_path, capsys):
    """A title holding an escape sequence is quoted visibly in the warning, never sent to the terminal."""
    path = tmp_path / "titled.csv"
    _records(root, path, bad=True)
    path.write_text("Title \x1b[31mred\n\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["evaluate", S1, "--records", str(path)]) == 1
    err = capsys.readouterr().err
    assert "took row 3 as the header" in err
    assert "\x1b" not in err


def test_a_row_left_out_by_screening_is_noted_before_its_error(root, tmp_path, capsys):
    """A note row left out (a warning) is printed before the refused totals row's error."""
    path = _records(
        root, tmp_path / "note.csv", tail=["合计,2026-03,,1,1,1,1,1,1,1,1,1,1,1,1,1,1", "注：本表数据截至3月31日"]
    )
    assert main(["evaluate", S1, "--records", path]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "[note_row]" in err[0]
    assert "[totals_row]" in err[-1]


def test_a_successful_run_prints_each_warning_once(root, tmp_path, capsys):
    """Without an error the header warning is printed once, as before."""
    path = _records(root, tmp_path / "titled.csv", title=True)
    assert main(["evaluate", S1, "--records", path]) == 0
    assert capsys.readouterr().err.count("took row 3 as the header") == 1
