"""Files shaped like HR's own exports (issue 19): totals rows, title rows, percent cells, serial dates, separators.

Every workbook is built here with openpyxl as an HR analyst's Excel would save it; each case gives the
right appraisal or one located error, through the CLI, ``read_table`` and data frames, on both engines.
"""

import csv
import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine import DataError, KpiError, evaluate, load_ruleset, parse_ruleset, read_table
from kpi_engine.cli import main
from kpi_engine.evaluation.screening import is_summary_label
from kpi_engine.io.loading import read_csv_text

openpyxl = pytest.importorskip("openpyxl")
pytest.importorskip("python_calamine")

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "rulesets/sales_rep_monthly.yaml"
RECORDS = ROOT / "examples/sales_rep_monthly/records.csv"
MEMBERS = ROOT / "examples/sales_rep_monthly/members.csv"
AVERAGED = {"conduct_score"}  # the 合计 row of the issue averages conduct and sums the rest


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
    """The S1 example records: header and rows of text."""
    with RECORDS.open(encoding="utf-8", newline="") as fh:
        header, *body = list(csv.reader(fh))
    return header, body


def cell(column, text):
    """A cell as Excel holds it: numbers as numbers, the rest as text."""
    if column in {"subject", "period", "name"} or text == "":
        return text or None
    if text.isdigit():
        return int(text)
    try:
        return Decimal(text)
    except ArithmeticError:
        return text


def totals_row(header, body, period, label="合计"):
    """The row an HR sheet ends a period with: sums of every number, the mean conduct score."""
    month = [r for r in body if r[1] == period]
    out = [label, period, label]
    for i, column in enumerate(header[3:], start=3):
        values = [Decimal(r[i]) for r in month if r[i]]
        total = sum(values, Decimal(0))
        out.append(total / len(values) if column in AVERAGED else total)
    return out


def workbook(path, header, body, *, title=None, formats=None, extra=()):
    """Save rows as an .xlsx: an optional merged title and blank row above, number formats per column."""
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
        sheet.append([])
    sheet.append(header)
    first = sheet.max_row + 1
    for row in [*body, *extra]:
        sheet.append([cell(c, v) if isinstance(v, str) else v for c, v in zip(header, row, strict=True)])
    for column, fmt in (formats or {}).items():
        col = header.index(column) + 1
        for r in range(first, sheet.max_row + 1):
            sheet.cell(r, col).number_format = fmt
    book.save(path)
    return path


def excel_numbers(row):
    """Decimals as floats, as openpyxl writes a number cell."""
    return [float(v) if isinstance(v, Decimal) else v for v in row]


def expected(s1, **kw):
    return evaluate(s1, read_table(RECORDS, name="records"), **kw)


# --- totals rows -------------------------------------------------------------------------------------


@pytest.fixture
def totals_book(tmp_path):
    """The issue's workbook: the S1 rows, each month closed by a 合计 row (sums, mean conduct)."""
    header, body = rows()
    extra = [excel_numbers(totals_row(header, body, p)) for p in ("2026-02", "2026-03")]
    return workbook(tmp_path / "totals.xlsx", header, body, extra=extra)


def test_the_issues_totals_row_is_a_located_error_with_the_roster(capsys, totals_book):
    """合计 is not on the roster: exit 1 naming its sheet row, nothing printed on stdout (it was graded 4th)."""
    code, out, err = run(
        capsys, "evaluate", S1, "--records", totals_book, "--allow-extra-columns", "--members", MEMBERS
    )
    assert code == 1
    assert out == ""
    assert f"{totals_book}[Sheet]:11:1: subject: '合计' is not on the roster (members) (a totals row?)" in err
    assert "[unlisted_subject]" in err
    assert "--exclude-unlisted" in err


def test_excluding_unlisted_subjects_appraises_the_reps_with_a_warning(capsys, totals_book):
    """--exclude-unlisted leaves 合计 out with a warning; wang_fang is 4th again, as from the clean CSV."""
    code, out, err = run(
        capsys, "evaluate", S1, "--records", totals_book, "--allow-extra-columns", "--members", MEMBERS,
        "--exclude-unlisted", "--format", "json",
    )  # fmt: skip
    assert code == 0
    assert "warning: '合计' is not on the roster (members) (a totals row?); left out [unlisted_subject]" in err
    got = {r["subject"]: (r["rank"], r["total"]) for r in json.loads(out)["results"]}
    _, clean, _ = run(capsys, "evaluate", S1, "--records", RECORDS, "--members", MEMBERS, "--format", "json")
    assert got == {r["subject"]: (r["rank"], r["total"]) for r in json.loads(clean)["results"]}
    assert got["wang_fang"][0] == 4


def test_without_a_roster_a_totals_label_is_refused_and_can_be_skipped(capsys, s1, totals_book):
    """No roster: 合计 is refused at its row; --skip-totals leaves both 合计 rows out with warnings."""
    code, _, err = run(capsys, "evaluate", S1, "--records", totals_book, "--allow-extra-columns")
    assert code == 1
    assert f"{totals_book}[Sheet]:10:1: subject: '合计' is a totals row, not a subject" in err
    assert "--skip-totals" in err
    code, out, err = run(
        capsys, "evaluate", S1, "--records", totals_book, "--allow-extra-columns", "--skip-totals", "--format", "json"
    )
    assert code == 0
    assert err.count("[totals_row]") == 2
    assert [r["subject"] for r in json.loads(out)["results"]] == [r.subject for r in expected(s1).results]


def test_a_row_of_column_sums_is_refused_whatever_it_is_called(s1, tmp_path):
    """A row named like a department whose numbers are the sums of the month's reps is refused, located."""
    header, body = rows()
    extra = [excel_numbers(totals_row(header, body, "2026-03", label="east_dept"))]
    table = read_table(workbook(tmp_path / "sums.xlsx", header, body, extra=extra))
    with pytest.raises(DataError) as info:
        evaluate(s1, table)
    (issue,) = info.value.issues
    assert (issue.code, str(issue.location)) == ("totals_row", f"{tmp_path / 'sums.xlsx'}[Sheet]:10:1")
    assert "'east_dept' looks like a totals row: its sales_target, sales_actual" in issue.message
    assert "sums of the other 4 rows of 2026-03" in issue.message
    assert "--members" in issue.suggestion
    skipped = evaluate(s1, table, totals="skip")
    assert [(r.subject, r.total, r.rank) for r in skipped.results] == [
        (r.subject, r.total, r.rank) for r in expected(s1).results
    ]
    assert [w.code for w in skipped.warnings] == ["totals_row"]


def test_a_rep_whose_numbers_happen_to_be_larger_is_not_a_total(s1):
    """A row that is not the exact sum of the others in every column it fills is a rep, not a total."""
    header, body = rows()
    total = totals_row(header, body, "2026-03", label="big_rep")
    total[header.index("phone_calls")] += 1  # one number that is neither the sum nor the mean
    lines = [",".join(header), *(",".join(r) for r in body), ",".join(str(v) for v in total)]
    appraisal = evaluate(s1, read_csv_text("\n".join(lines) + "\n", "r.csv"))
    assert "big_rep" in [r.subject for r in appraisal.results]


@pytest.mark.parametrize(
    "label",
    ["合计", "合 计", "合　计", "小计", "东区小计", "总计", "共计", "总和", "汇总", "Total", "TOTAL:", "Sub-total",
     "Subtotal", "Grand total", "Sum", "ＴＯＴＡＬ", "平均", "Average"],
)  # fmt: skip
def test_totals_labels_are_recognised_in_any_case_width_and_spacing(label):
    """Totals, subtotal and average labels as Chinese and English sheets write them."""
    assert is_summary_label(label)


@pytest.mark.parametrize("name", ["zhang_wei", "张伟", "小明", "Sum Ka Wai", "total_east", "李全", "team_east", ""])
def test_names_of_people_are_not_totals_labels(name):
    """Ids and names, including ones holding 小, 全 or the surname Sum, are people."""
    assert not is_summary_label(name)


FRAMES = ["pandas", "polars", "arrow"]


def frame_of(kind, header, body):
    """The records as a data frame of the given library, numbers as numbers."""
    data = {c: [cell(c, r[i]) for r in body] for i, c in enumerate(header)}
    for c in header[3:]:  # whole numbers as int64 (the kernel's own form), others as floats
        data[c] = [None if v is None else int(v) if v == int(v) else float(v) for v in data[c]]
    if kind == "pandas":
        pd = pytest.importorskip("pandas")
        return pd.DataFrame(data)
    if kind == "polars":
        pl = pytest.importorskip("polars")
        return pl.DataFrame(data)
    pa = pytest.importorskip("pyarrow")
    return pa.table(data)


@pytest.mark.parametrize("kind", FRAMES)
@pytest.mark.parametrize("engine", ["row", "columnar"])
def test_frames_with_a_totals_row_are_refused_and_skipped_on_both_engines(s1, kind, engine):
    """A frame ending in 合计: the same located refusal on both engines; skipped, the clean appraisal."""
    pytest.importorskip("polars")
    header, body = rows()
    total = [str(v) for v in totals_row(header, body, "2026-03")]
    with pytest.raises(DataError) as info:
        evaluate(s1, frame_of(kind, header, [*body, total]), engine=engine)
    (issue,) = info.value.issues
    assert (issue.code, str(issue.location)) == ("totals_row", "records:10:1")
    skipped = evaluate(s1, frame_of(kind, header, [*body, total]), engine=engine, totals="skip")
    clean = evaluate(s1, frame_of(kind, header, body), engine="row")
    assert [(r.subject, r.total, r.rank) for r in skipped.results] == [
        (r.subject, r.total, r.rank) for r in clean.results
    ]
    assert [str(w.location) for w in skipped.warnings] == ["records:10:1"]


@pytest.mark.parametrize("engine", ["row", "columnar"])
def test_a_frame_subject_off_the_roster_is_refused_on_both_engines(s1, engine):
    """With membership rows, a record of the appraised month naming nobody on the roster is an error."""
    pytest.importorskip("polars")
    header, body = rows()
    stray = ["sun_li", *body[-1][1:]]
    with pytest.raises(DataError) as info:
        evaluate(s1, frame_of("polars", header, [*body, stray]), members=read_table(MEMBERS), engine=engine)
    assert [(i.code, str(i.location)) for i in info.value.issues] == [("unlisted_subject", "records:10:1")]
    kept = evaluate(
        s1, frame_of("polars", header, [*body, stray]), members=read_table(MEMBERS), engine=engine, unlisted="exclude"
    )
    assert "sun_li" not in [r.subject for r in kept.results]
    assert [w.code for w in kept.warnings] == ["unlisted_subject"]


def big_csv(path, reps, *, totals):
    """``reps`` S1 reps for March (and a 合计 row at the end): enough rows for the kernel's CLI path."""
    header, body = rows()
    template = next(r for r in body if r[0] == "li_na" and r[1] == "2026-03")
    made = [[f"r{i:05d}", "2026-03", f"rep {i}", *template[3:]] for i in range(reps)]
    for i, r in enumerate(made):
        r[header.index("sales_actual")] = str(50000 + i)
    if totals:
        made.append(totals_row(header, made, "2026-03"))
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *made])
    return path


def test_the_kernels_cli_path_refuses_and_skips_totals_like_the_row_path(capsys, tmp_path):
    """kpi evaluate reading a 2,001-row CSV into the kernel: the same file:line refusal, and --skip-totals output."""
    pytest.importorskip("polars")
    with_totals = big_csv(tmp_path / "t.csv", 2000, totals=True)
    clean = big_csv(tmp_path / "c.csv", 2000, totals=False)
    for engine in ("columnar", "row"):
        code, _, err = run(capsys, "evaluate", S1, "--records", with_totals, "--engine", engine, "--format", "csv")
        assert code == 1
        assert f"{with_totals}:2002:1: subject: '合计' is a totals row, not a subject" in err
    code, skipped, err = run(
        capsys, "evaluate", S1, "--records", with_totals, "--engine", "columnar", "--format", "csv", "--skip-totals"
    )
    assert code == 0
    assert f"{with_totals}:2002:1: subject: warning: '合计' is a totals row" in err
    _, plain, _ = run(capsys, "evaluate", S1, "--records", clean, "--engine", "columnar", "--format", "csv")
    assert skipped == plain


def test_skipped_totals_are_recorded_and_replayed(capsys, tmp_path, totals_book):
    """A run record of a --skip-totals run replays exactly: the option is recorded with the rows."""
    record = tmp_path / "run.json"
    code, _, _ = run(
        capsys, "evaluate", S1, "--records", totals_book, "--skip-totals", "--format", "json", "--record", record
    )
    assert code == 0
    assert json.loads(record.read_text(encoding="utf-8"))["options"]["totals"] == "skip"
    code, out, _ = run(capsys, "replay", record)
    assert (code, out.split(":")[0]) == (0, "reproduced")


# --- percent formats ----------------------------------------------------------------------------------


@pytest.fixture
def pct_book(tmp_path):
    """The issue's pct_score.xlsx: conduct scores stored as 0.92 and formatted 0%, the rest as the CSV."""
    header, body = rows()
    at = header.index("conduct_score")
    shown = [[*r[:at], Decimal(r[at]) / 100, *r[at + 1 :]] for r in body]
    return workbook(
        tmp_path / "pct_score.xlsx", header, [excel_numbers(r) for r in shown], formats={"conduct_score": "0%"}
    )


def test_percent_formatted_scores_read_as_points_through_the_cli(capsys, pct_book):
    """kpi evaluate reads the cell format: 93% is 93 points, zhao_lei 101.49 as from the CSV."""
    code, out, _ = run(capsys, "evaluate", S1, "--records", pct_book, "--format", "json")
    assert code == 0
    totals = {r["subject"]: r["total"] for r in json.loads(out)["results"]}
    assert totals["zhao_lei"] == "101.49"


def test_percent_formatted_scores_read_by_pandas_are_a_located_refusal(s1, pct_book):
    """pd.read_excel loses the format (0.93): refused at the first cell with a hint, not graded 95.96."""
    pd = pytest.importorskip("pandas")
    with pytest.raises(DataError) as info:
        evaluate(s1, pd.read_excel(pct_book, engine="openpyxl"))
    (issue,) = info.value.issues
    assert (issue.code, str(issue.location)) == ("suspect_score", "records:2:11")
    assert "every value lies between 0 and 1" in issue.message
    assert "write the score in points (92)" in issue.suggestion
    pl = pytest.importorskip("polars")
    with pytest.raises(DataError) as kernel:
        evaluate(s1, pl.from_pandas(pd.read_excel(pct_book, engine="openpyxl")), engine="columnar")
    assert [i.code for i in kernel.value.issues] == ["suspect_score"]


def test_a_single_fraction_among_points_is_refused(s1):
    """One conduct score of 0.93 among scores in points is refused at its cell."""
    header, body = rows()
    body[-1][header.index("conduct_score")] = "0.93"
    lines = [",".join(header), *(",".join(r) for r in body)]
    with pytest.raises(DataError) as info:
        evaluate(s1, read_csv_text("\n".join(lines) + "\n", "r.csv"))
    (issue,) = info.value.issues
    assert (issue.code, str(issue.location)) == ("suspect_score", "r.csv:9:11")
    assert "other values go above 1" in issue.message


# --- title rows -----------------------------------------------------------------------------------------


def test_a_title_row_above_the_header_is_found_and_named(s1, tmp_path):
    """A merged title and a blank row above the header: row 3 is taken, said in a warning; cells keep sheet rows."""
    header, body = rows()
    path = workbook(tmp_path / "titled.xlsx", header, body, title="2026年3月销售代表考核表")
    table = read_table(path, name="records")
    assert [(n.code, str(n.location)) for n in table.notes] == [("header_row", "records:3")]
    assert "took row 3 as the header" in table.notes[0].message
    assert "2026年3月销售代表考核表" in table.notes[0].message
    appraisal = evaluate(s1, table)
    assert [w.code for w in appraisal.warnings] == ["header_row"]
    assert [r.total for r in appraisal.results] == [r.total for r in expected(s1).results]
    assert read_table(path, header_row=3).notes == ()
    with pytest.raises(KpiError, match="--header-row 40: the table has 11 row"):
        read_table(path, header_row=40)


def test_a_bad_cell_below_a_title_is_located_at_its_sheet_row(s1, tmp_path):
    """Row numbers stay the sheet's own below title rows."""
    header, body = rows()
    body[0][header.index("phone_calls")] = "many"
    path = workbook(tmp_path / "titled.xlsx", header, body, title="三月考核")
    with pytest.raises(DataError) as info:
        evaluate(s1, read_table(path))
    assert [str(i.location) for i in info.value.issues] == [f"{path}[Sheet]:4:9"]


def test_a_csv_title_line_is_found_and_header_row_chooses(capsys, tmp_path):
    """A CSV saved from such a sheet has the title on line 1: found, and --header-row says so explicitly."""
    text = RECORDS.read_text(encoding="utf-8")
    path = tmp_path / "titled.csv"
    path.write_text("2026年3月销售代表考核表,,,\n,,,\n" + text, encoding="utf-8")
    code, out, err = run(capsys, "evaluate", S1, "--records", path, "--format", "json")
    assert code == 0
    assert "took row 3 as the header" in err
    code, out2, err = run(capsys, "evaluate", S1, "--records", path, "--header-row", "3", "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out)["results"] == json.loads(out2)["results"]


def test_header_row_is_refused_for_files_without_rows_above_the_header(tmp_path):
    """JSON and Parquet have no title rows: --header-row is an error there, not ignored."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"subject": "a"}\n', encoding="utf-8")
    with pytest.raises(KpiError, match="CSV files and sheets only"):
        read_table(path, header_row=2)


# --- numbers and dates as Excel writes them -------------------------------------------------------------


def test_thousands_separators_read_where_unambiguous(s1):
    """104,500 and 1,234,567.89 read as numbers: the same appraisal as plain digits."""
    header, body = rows()
    at = header.index("sales_actual")
    grouped = [[*r[:at], f'"{int(r[at]):,}"', *r[at + 1 :]] for r in body]
    lines = [",".join(header), *(",".join(r) for r in grouped)]
    assert '"104,500"' in lines[5]
    got = evaluate(s1, read_csv_text("\n".join(lines) + "\n", "r.csv"))
    assert got.to_json() == evaluate(s1, read_table(RECORDS, name="r.csv")).to_json()


@pytest.mark.parametrize(
    ("text", "hint"), [("1,20", "decimal point (1.20)"), ("1.234,56", "decimal point (1234.56)"), ("1,2345", "three")]
)
def test_ambiguous_separators_are_refused_with_a_hint(s1, text, hint):
    """A comma that is not a thousands separator is refused at its cell, saying how to write the number."""
    header, body = rows()
    body[4][header.index("sales_actual")] = f'"{text}"'
    lines = [",".join(header), *(",".join(r) for r in body)]
    with pytest.raises(DataError) as info:
        evaluate(s1, read_csv_text("\n".join(lines) + "\n", "r.csv"))
    (issue,) = info.value.issues
    assert (issue.code, str(issue.location)) == ("bad_value", "r.csv:6:5")
    assert hint in issue.message


QUARTERLY = """\
ruleset: q
version: "1"
title: q
period: quarter
inputs: {sales: {type: money}, target: {type: money}}
metrics: {attainment: sales / target}
kpis: [{id: a, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 100%}]
"""


def test_period_cells_as_excel_dates_and_serials_name_their_month_or_quarter(s1, tmp_path):
    """A date cell, a datetime cell and the serial 46082 (1 March 2026) give 2026-03, or 2026-Q1 on a quarterly card."""
    header, body = rows()
    march = [r for r in body if r[1] == "2026-03"]
    as_dates = [[r[0], dt.date(2026, 3, 1), *r[2:]] for r in march[:2]]
    midnight = dt.datetime(2026, 3, 31, 0, 0)  # noqa: DTZ001 - a spreadsheet's cell has no zone
    as_datetimes = [[r[0], midnight, *r[2:]] for r in march[2:3]]
    as_serial = [[r[0], 46082, *r[2:]] for r in march[3:]]
    path = workbook(tmp_path / "dates.xlsx", header, [*as_dates, *as_datetimes, *as_serial])
    got = evaluate(s1, read_table(path))
    assert got.period == "2026-03"
    lines = [",".join(header), *(",".join(r) for r in march)]
    plain = evaluate(s1, read_csv_text("\n".join(lines) + "\n", "r.csv"))
    assert [(r.subject, r.rank) for r in got.results] == [(r.subject, r.rank) for r in plain.results]
    rows_q = [{"subject": "a", "period": dt.date(2026, 2, 14), "sales": 90, "target": 100},
              {"subject": "b", "period": "46082", "sales": 100, "target": 100}]  # fmt: skip
    assert evaluate(parse_ruleset(QUARTERLY), rows_q).period == "2026-Q1"


def test_a_polars_date_column_names_the_period_on_the_kernel(s1):
    """A Polars Date column of periods evaluates on the kernel as the text periods do."""
    pl = pytest.importorskip("polars")
    header, body = rows()
    march = [r for r in body if r[1] == "2026-03"]
    frame = frame_of("polars", header, march).with_columns(pl.lit(dt.date(2026, 3, 15)).alias("period"))
    got = evaluate(s1, frame, engine="columnar")
    assert got.period == "2026-03"
    assert [r.total for r in got.results] == [r.total for r in evaluate(s1, frame, engine="row").results]


# --- Chinese headers --------------------------------------------------------------------------------------

CN_HEADER = {
    "subject": "工号", "name": "姓名", "period": "月份", "sales_target": "原本计划的销售指标",
    "sales_actual": "实际完成销量", "conduct_score": "行为纪律",
}  # fmt: skip


def chinese_csv():
    header, body = rows()
    return ",".join(CN_HEADER.get(c, c) for c in header) + "\n" + "\n".join(",".join(r) for r in body) + "\n"


def test_chinese_headers_name_the_columns_entry_that_maps_them(s1):
    """Headers 工号, 月份, 实际完成销量 …: one error per missing key at the header, suggesting the columns: entry."""
    with pytest.raises(DataError) as info:
        evaluate(s1, read_csv_text(chinese_csv(), "cn.csv"), allow_extra_columns=True)
    issues = info.value.issues
    assert [(i.code, i.path, str(i.location)) for i in issues] == [
        ("missing_column", "subject", "cn.csv:1"), ("missing_column", "period", "cn.csv:1")
    ]  # fmt: skip
    hint = issues[0].suggestion
    for name, label in CN_HEADER.items():
        assert f"{label}: {name}" in hint
    assert hint.startswith("map the headers in the ruleset: columns: {")


def test_an_unknown_chinese_header_suggests_its_input():
    """With the keys mapped, a header matching an input's title gets the columns: entry as its suggestion."""
    mapped = load_ruleset(S1.read_text(encoding="utf-8") + "columns: {工号: subject, 姓名: name, 月份: period}\n")
    with pytest.raises(DataError) as info:
        evaluate(mapped, read_csv_text(chinese_csv(), "cn.csv"))
    suggestions = {i.path: i.suggestion for i in info.value.issues}
    assert suggestions["实际完成销量"] == "map the headers in the ruleset: columns: {实际完成销量: sales_actual}"
    assert suggestions["行为纪律"] == "map the headers in the ruleset: columns: {行为纪律: conduct_score}"


def test_chinese_headers_mapped_by_columns_appraise_as_the_csv(s1):
    """With every header mapped in columns:, the Chinese sheet gives the example's appraisal."""
    body = ", ".join(f"{label}: {name}" for name, label in CN_HEADER.items())
    mapped = load_ruleset(S1.read_text(encoding="utf-8") + f"columns: {{{body}}}\n")
    got = evaluate(mapped, read_csv_text(chinese_csv(), "cn.csv"))
    assert [(r.subject, r.total) for r in got.results] == [(r.subject, r.total) for r in expected(s1).results]


def test_the_polars_narrowing_keeps_every_label_the_rule_finds(s1):
    """On a Polars frame, the vectorised search looks at every row whose subject or name the exact rule calls a label."""
    pl = pytest.importorskip("polars")
    from kpi_engine.evaluation.screening import _FrameSource

    texts = [
        "合计", "合 计", "合　计", "小計", "東區小計", "汇总", "Total", "TOTAL:", "sub_total", "s u m", "(Avg.)",
        "ＴＯＴＡＬ", "Ｓｕｍ", "平均值", "所有人", "zhang_wei", "张伟", "小明", "Sum Ka Wai", "Mean Lee", "total_east",
    ]  # fmt: skip
    frame = pl.DataFrame({"subject": texts, "period": ["2026-03"] * len(texts), "name": list(reversed(texts))})
    source = _FrameSource(frame, "records", s1.scorecard)
    exact = {i for i in range(len(texts)) if is_summary_label(texts[i]) or is_summary_label(texts[-1 - i])}
    assert exact <= set(source.maybe_labels(["subject", "name"]))
    assert source.labelled(["subject", "name"]) == exact


def totals_csv(path):
    """The S1 records with each month closed by a 合计 row, as CSV text."""
    header, body = rows()
    extra = [[str(v) for v in totals_row(header, body, p)] for p in ("2026-02", "2026-03")]
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *body, *extra])
    return path


@pytest.mark.parametrize(("suffix", "row"), [(".csv", 10), (".jsonl", 9), (".parquet", 10), ("duckdb", 10)])
def test_every_reader_refuses_the_totals_rows(s1, tmp_path, suffix, row):
    """CSV, JSON Lines, Parquet and a DuckDB query: the same totals_row refusal at each 合计 row."""
    source = totals_csv(tmp_path / "t.csv")
    if suffix == ".csv":
        path = str(source)
    elif suffix == ".jsonl":
        path = str(tmp_path / "t.jsonl")
        with source.open(encoding="utf-8", newline="") as fh:
            lines = [json.dumps({k: v for k, v in r.items() if v}, ensure_ascii=False) for r in csv.DictReader(fh)]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif suffix == ".parquet":
        pl = pytest.importorskip("polars")
        pytest.importorskip("pyarrow")
        path = str(tmp_path / "t.parquet")
        pl.read_csv(source, infer_schema=False).write_parquet(path)
    else:
        duckdb = pytest.importorskip("duckdb")
        database = tmp_path / "crm.db"
        with duckdb.connect(str(database)) as con:
            con.execute(f"CREATE TABLE monthly AS SELECT * FROM read_csv('{source}', all_varchar = true)")  # noqa: S608
        path = f"duckdb:{database}::SELECT * FROM monthly"  # noqa: S608 - a test's own file
    table = read_table(path, name="records")
    with pytest.raises(DataError) as info:
        evaluate(s1, table)
    assert [(i.code, str(i.location).split(":")[1]) for i in info.value.issues] == [
        ("totals_row", str(row)), ("totals_row", str(row + 1))
    ]  # fmt: skip
    skipped = evaluate(s1, table, totals="skip")
    assert [(r.subject, r.total) for r in skipped.results] == [(r.subject, r.total) for r in expected(s1).results]


MONEY = """\
ruleset: m
version: "1"
title: m
inputs: {sales: {type: money}, target: {type: money}}
metrics: {attainment: sales / target}
kpis: [{id: a, metric: attainment, method: attainment, target: 100%, cap: 150, weight: 100%}]
"""


def test_several_dated_records_of_a_subject_in_a_month_are_days_rolled_up():
    """Two dates of one rep in March are records of days (summed into March); one date is March's record."""
    rows = [
        {"subject": "a", "period": "2026-03-05", "sales": 40, "target": 100},
        {"subject": "a", "period": "2026-03-20", "sales": 50, "target": 0},
        {"subject": "b", "period": "2026-03-31", "sales": 120, "target": 100},
    ]
    appraisal = evaluate(parse_ruleset(MONEY), rows)
    assert appraisal.period == "2026-03"
    assert {r.subject: r.kpi("a").value for r in appraisal.results} == {"a": Decimal("0.9"), "b": Decimal("1.2")}
