import csv
import io
import os

import pytest
from tests.shipped import S2_ARGS

from kpi_engine.cli import main

S2 = S2_ARGS
NAMED = ["rulesets/sales_rep_monthly.yaml", "--records", "examples/sales_rep_monthly/records.csv"]


@pytest.fixture(autouse=True)
def at_root(root, monkeypatch):
    os.chdir(root)
    for key in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(key, raising=False)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_shows_titles_names_and_grade_titles(capsys):
    """The default table shows KPI titles, names from the records and grade titles."""
    code, out, _ = run(capsys, "evaluate", *NAMED)
    assert code == 0
    assert "销售目标完成率" in out
    assert "张伟" in out
    assert "A 优秀" in out
    assert "target_completion" not in out
    code, out, _ = run(capsys, "evaluate", *NAMED, "--ids")
    assert "target_completion" in out


def test_lang_follows_the_locale_and_the_option_wins(capsys, monkeypatch):
    """LANG=zh_CN gives Chinese headers; --lang en overrides it; no locale gives English."""
    code, out, _ = run(capsys, "evaluate", *NAMED)
    assert code == 0
    assert out.splitlines()[1].startswith("rank")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    code, out, _ = run(capsys, "evaluate", *NAMED)
    assert code == 0
    assert out.splitlines()[1].startswith("排名")
    code, out, _ = run(capsys, "evaluate", *NAMED, "--lang", "en")
    assert code == 0
    assert out.splitlines()[1].startswith("rank")


def test_validate_speaks_chinese_and_golden_english_is_unchanged(capsys, root):
    """kpi validate --lang zh translates every planted issue; without it the golden English output holds."""
    code, _, err = run(capsys, "validate", "tests/cases/invalid/planted.yaml", "--lang", "zh")
    assert code == 1
    assert "未知键 'mn'; 是否想写 'min'？ [unknown_key]" in err
    assert err.rstrip().endswith("tests/cases/invalid/planted.yaml：14 个错误")
    code, _, err = run(capsys, "validate", "tests/cases/invalid/planted.yaml")
    assert err == (root / "tests/cases/invalid/planted.expected").read_text(encoding="utf-8")


def test_help_is_translated(capsys):
    """--lang zh --help prints the Chinese help of a subcommand."""
    with pytest.raises(SystemExit):
        main(["evaluate", "--lang", "zh", "--help"])
    out = capsys.readouterr().out
    assert "显示指标 ID 而非名称" in out


def test_csv_to_a_file_has_a_bom_by_default_and_stdout_has_none(capsys, tmp_path):
    """--format csv --out writes a UTF-8 BOM (Excel reads Chinese); stdout and --no-bom do not."""
    target = tmp_path / "r.csv"
    code, out, _ = run(capsys, "evaluate", *NAMED, "--format", "csv", "--out", str(target))
    assert code == 0
    assert out == ""
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert {r["name"] for r in rows} >= {"张伟", "李娜"}
    code, out, _ = run(capsys, "evaluate", *NAMED, "--format", "csv")
    assert not out.startswith("\ufeff")
    code, out, _ = run(capsys, "evaluate", *NAMED, "--format", "csv", "--no-bom", "--out", str(target))
    assert not target.read_bytes().startswith(b"\xef\xbb\xbf")
    code, out, _ = run(capsys, "evaluate", *NAMED, "--format", "csv", "--bom")
    assert out.startswith("\ufeff")


def test_html_and_xlsx_are_written_to_files(capsys, tmp_path):
    """--format html and --format xlsx write a report file each; the HTML has the trend when --history is given."""
    html = tmp_path / "report.html"
    code, out, _ = run(capsys, "evaluate", *S2, "--format", "html", "--history", "2026-Q1", "--out", str(html))
    assert code == 0
    assert out == ""
    text = html.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "Trend of totals" in text
    assert "2026-Q1" in text
    xlsx = tmp_path / "r.xlsx"
    code, _, _ = run(capsys, "evaluate", *S2, "--format", "xlsx", "--out", str(xlsx))
    assert code == 0
    assert xlsx.read_bytes().startswith(b"PK")


def test_unknown_history_period_is_a_located_error(capsys):
    """--history with a period that has no records exits 1 with a message, not a traceback."""
    code, out, err = run(capsys, "evaluate", *S2, "--format", "html", "--history", "2025-Q1")
    assert code == 1
    assert out == ""
    assert err.strip()


def test_data_errors_and_case_summaries_speak_chinese(capsys, tmp_path):
    """A record error keeps its location and code with a Chinese message; kpi test sums up in Chinese."""
    bad = tmp_path / "bad.csv"
    head = "subject,period,sales_target,sales_actual,weekly_orders,new_customers,visits_existing,phone_calls"
    head += ",lost_customers,conduct_score,plans_due,plans_done,resource_requests,resource_replies,colr\n"
    bad.write_text(head + "a,2026-03,100,90,3,1,1,1,1,90,1,1,1,1,x\n", encoding="utf-8")
    code, out, err = run(capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", str(bad), "--lang", "zh")
    assert code == 1
    assert out == ""
    assert f"{bad}:2:15: colr: 列 'colr' 不是本规则集的输入; 可用 --allow-extra-columns 忽略规则集不使用的列" in err
    assert err.rstrip().endswith("[unknown_column]")
    code, out, _ = run(capsys, "test", "rulesets/sales_rep_monthly.yaml", "--lang", "zh")
    assert code == 0
    assert out.splitlines()[-1].endswith("个通过，0 个失败")


def test_explain_escapes_control_characters_from_the_records(capsys, tmp_path, root):
    """kpi explain shows an escape sequence hidden in a subject id as text, never raw."""
    source = (tmp_path / "r.csv").as_posix()
    lines = (root / "examples/sales_rep_monthly/records.csv").read_text(encoding="utf-8").splitlines()
    hostile = [lines[0]] + [line.replace("li_na", "li_na\x1b[2J") for line in lines[1:]]
    (tmp_path / "r.csv").write_text("\n".join(hostile) + "\n", encoding="utf-8")
    code, out, _ = run(
        capsys, "explain", "rulesets/sales_rep_monthly.yaml", "--records", source, "--subject", "li_na\x1b[2J"
    )
    assert code == 0
    assert "\x1b" not in out
    assert "li_na\\x1b[2J" in out
