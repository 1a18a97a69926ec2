"""The README's commands for HR's outputs run as written from a checkout (issue 19 review)."""

import re
import shlex
from pathlib import Path

import pytest

from kpi_engine.cli import main

ROOT = Path(__file__).resolve().parents[2]


def readme_commands(pattern):
    """The ``.venv/bin/kpi`` commands of the README matching ``pattern``, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.split("  #", 1)[0].strip() for line in text.splitlines() if line.startswith(".venv/bin/kpi ")]
    return [shlex.split(line)[1:] for line in lines if re.search(pattern, line)]


def run_as_written(argv, tmp_path, monkeypatch, capsys):
    """Run from the checkout's root with the file named by --out written under tmp_path; the exit code and file."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / argv[argv.index("--out") + 1]
    argv = [*argv[: argv.index("--out") + 1], str(out), *argv[argv.index("--out") + 2 :]]
    code = main(argv)
    capsys.readouterr()
    return code, out


def test_the_readme_shows_and_runs_the_wide_layout(tmp_path, monkeypatch, capsys):
    """The README's --layout wide command runs on the shipped example: a Results row per rep (it named a missing march.csv)."""
    openpyxl = pytest.importorskip("openpyxl")
    pytest.importorskip("xlsxwriter")
    commands = readme_commands(r"--layout wide")
    assert commands
    for argv in commands:
        code, out = run_as_written(argv, tmp_path, monkeypatch, capsys)
        assert code == 0
        sheet = openpyxl.load_workbook(out)["Results"]
        assert [r[1] for r in sheet.iter_rows(min_row=4, values_only=True)] == [
            "zhao_lei",
            "zhang_wei",
            "li_na",
            "wang_fang",
        ]


def test_the_readme_shows_and_runs_a_statement(tmp_path, monkeypatch, capsys):
    """The README's kpi statement command runs on the shipped example: one page per rep (it named a missing march.csv)."""
    commands = readme_commands(r"^\.venv/bin/kpi statement ")
    assert commands
    for argv in commands:
        code, out = run_as_written(argv, tmp_path, monkeypatch, capsys)
        assert code == 0
        html = out.read_text(encoding="utf-8")
        assert html.count('<section class="page') == 4  # the four reps of the example
