import csv
import io
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.shipped import S2_ARGS, s2_inputs

from kpi_engine import Issue, Location, Table, evaluate, parse_ruleset
from kpi_engine._numbers import quantize
from kpi_engine.report import (
    language_from_env,
    messages,
    names_from_tables,
    render,
    render_issue,
    reported,
    spreadsheet_safe,
    terminal_safe,
)
from kpi_engine.report._view import display_width

RULESET = parse_ruleset(
    """\
ruleset: demo
version: "1.0"
title: 续约考核 (renewal demo)
subject: rep
period: month
inputs:
  renewed: {type: count}
  due: {type: count}
  sales: {type: money, min: 0}
  target: {type: money, min: 0}
  declining: {type: bool, required: false}
metrics:
  renewal_rate: renewed / due
  attainment: {formula: sales / target, unit: ratio}
kpis:
  - {id: renewal, title: 续约率, metric: renewal_rate, method: threshold, target: 90%, weight: 40%}
  - {id: sales, title: 销售达成率, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 60%}
adjustments:
  - {id: market, kpi: sales, when: declining and attainment >= 80%, score: 100, reason: 市场下行}
gates:
  - {id: low_renewal, when: renewal_rate < 50%, cap_total: 60, reason: 续约过低}
grades:
  - {grade: A, min: 90, title: 优秀, bonus_multiplier: 1.2}
  - {grade: B, min: 75, title: 良好, bonus_multiplier: 1.0}
  - {grade: C, title: 待改进, bonus_multiplier: 0.8}
rounding: {places: 2, mode: half_up}
"""
)
RECORDS = [
    {
        "subject": "zhang_wei",
        "period": "2026-03",
        "name": "张伟",
        "renewed": "9",
        "due": "10",
        "sales": "104500",
        "target": "100000",
    },
    {
        "subject": "ouyang",
        "period": "2026-03",
        "name": "欧阳娜娜",
        "renewed": "4",
        "due": "10",
        "sales": "90000",
        "target": "100000",
    },
    {
        "subject": "li",
        "period": "2026-03",
        "name": "李",
        "renewed": "0",
        "due": "0",
        "sales": "85000",
        "target": "100000",
        "declining": "true",
    },
    {
        "subject": "bob",
        "period": "2026-03",
        "name": "Bob",
        "renewed": "7",
        "due": "10",
        "sales": "100000",
        "target": "100000",
    },
]
HOSTILE = [
    {
        "subject": "x1",
        "period": "2026-03",
        "name": '\x1b[31m=HYPERLINK("http://evil")\x1b[0m',
        "renewed": "9",
        "due": "10",
        "sales": "1",
        "target": "1",
    },
    {
        "subject": "x2",
        "period": "2026-03",
        "name": "<script>alert(1)</script>",
        "renewed": "9",
        "due": "10",
        "sales": "1",
        "target": "1",
    },
    {
        "subject": "x3",
        "period": "2026-03",
        "name": "@SUM(A1)\u202e",
        "renewed": "9",
        "due": "10",
        "sales": "1",
        "target": "1",
    },
]


def appraise(rows=RECORDS):
    appraisal = evaluate(RULESET, rows)
    return appraisal, names_from_tables([Table.from_rows(rows)], appraisal.period)


TABLE_ZH = """\
续约考核 (renewal demo) — demo 1.0 — 期间 2026-03
排名  考核对象   姓名        总分  等级      奖金系数  标记  续约率  销售达成率
----  ---------  --------  ------  --------  --------  ----  ------  ----------
   1  zhang_wei  张伟      102.70  A 优秀         1.2        100.00      104.50
   2  li         李        100.00  A 优秀         1.2  AN       N/A      100.00
   3  bob        Bob        60.00  C 待改进       0.8          0.00      100.00
   4  ouyang     欧阳娜娜   54.00  C 待改进       0.8          0.00       90.00

A 李 (li)：调整规则 market 改写了「销售达成率」的得分 — 市场下行
N 李 (li)：不适用 (N/A)，已排除：续约率
"""


def test_table_golden_in_chinese_lines_up_by_display_width():
    """The Chinese table matches the golden text: titles, names, grade titles, bonus, markers, N/A."""
    appraisal, names = appraise()
    text = render(appraisal, "table", ruleset=RULESET, names=names, lang="zh")
    assert text == TABLE_ZH


def _cells(line):
    """The line as terminal cells: a wide character fills its cell and leaves a "" in the next."""
    out = []
    for char in line:
        out += [char] + [""] * (display_width(char) - 1)
    return out


def test_table_columns_line_up_in_display_cells_on_every_row():
    """Every cell of every row lies inside its column's span of the dashed rule, counted in terminal cells."""
    appraisal, names = appraise()
    lines = render(appraisal, "table", ruleset=RULESET, names=names, lang="zh").splitlines()
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[2])]
    assert len(spans) == 9
    for line in [lines[1], *lines[3:7]]:
        cells = _cells(line)
        assert len(cells) <= spans[-1][1]
        for n, (start, end) in enumerate(spans):
            assert all(c == " " for c in cells[max(start - 2, 0) : start]), line
            if n != 6:  # the markers column may be empty
                assert any(c.strip() for c in cells[start:end]), line
            if end < len(cells):
                assert cells[end] == " ", line


def test_table_with_ids_shows_kpi_ids_and_english_headers():
    """--ids puts KPI ids in the header; English is the default language."""
    appraisal, names = appraise()
    text = render(appraisal, "table", ruleset=RULESET, names=names, ids=True)
    header = text.splitlines()[1].split()
    assert header[:3] == ["rank", "subject", "name"]
    assert header[-2:] == ["renewal", "sales"]
    assert "N/A" in text


def test_terminal_output_escapes_control_and_bidi_characters_from_data():
    """ANSI escapes and bidi overrides in names are shown as visible escapes, never sent raw."""
    appraisal, names = appraise(HOSTILE)
    text = render(appraisal, "table", ruleset=RULESET, names=names)
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\\x1b[31m" in text
    assert "\\u202e" in text


def test_csv_has_titles_names_bom_and_reported_values():
    """CSV starts with a BOM when asked, carries titles and names, and the reported (rounded) numbers."""
    appraisal, names = appraise()
    text = render(appraisal, "csv", ruleset=RULESET, names=names, lang="zh", bom=True)
    assert isinstance(text, str)
    assert text.startswith("\ufeff期间,考核对象,姓名")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert len(rows) == 4 * 2
    first = rows[0]
    assert first["姓名"] == "张伟"
    assert first["指标名称"] == "续约率"
    assert first["等级名称"] == "优秀"
    assert first["总分"] == "102.70"
    by_subject = {(r["考核对象"], r["指标ID"]): r for r in rows}
    assert by_subject[("li", "renewal")]["数值"] == ""
    assert by_subject[("li", "renewal")]["状态"] == "excluded"
    assert "gate:low_renewal" in by_subject[("ouyang", "sales")]["标记"]


def test_csv_english_header_keeps_the_stable_column_keys():
    """The English CSV header is the stable keys, starting period,subject (no BOM by default)."""
    appraisal, names = appraise()
    text = render(appraisal, "csv", ruleset=RULESET, names=names)
    assert isinstance(text, str)
    assert text.startswith("period,subject,name,parent,total,grade,grade_title,bonus_multiplier,rank,kpi,kpi_title,")


def test_csv_guards_cells_against_formula_injection():
    """Names starting with = + - @ tab or CR are prefixed with a quote; numbers are left alone."""
    appraisal, names = appraise(HOSTILE)
    text = render(appraisal, "csv", ruleset=RULESET, names=names)
    assert isinstance(text, str)
    rows = list(csv.reader(io.StringIO(text)))
    cells = [cell for row in rows[1:] for cell in row]
    assert all(not cell.startswith(("=", "+", "@", "\t", "\r")) for cell in cells)
    assert any(cell.startswith("'@SUM") for cell in cells)


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-3.5", "-3.5"),
        ("+4", "+4"),
        ("-12%", "-12%"),
        ("张伟", "张伟"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_spreadsheet_safe(text, safe):
    """Only formula-like text is prefixed; plain numbers and other text pass unchanged."""
    assert spreadsheet_safe(text) == safe


def test_terminal_safe_keeps_chinese_and_escapes_controls():
    """Chinese text passes; C0/C1 controls, DEL and bidi characters become escapes."""
    assert terminal_safe("张伟 Bob") == "张伟 Bob"
    assert terminal_safe("a\x1b[2Jb\x7f\x9b\u200f") == "a\\x1b[2Jb\\x7f\\x9b\\u200f"


@given(
    st.fractions(min_value=-(10**12), max_value=10**12, max_denominator=10**6),
    st.sampled_from(["half_up", "half_even", "half_down", "up", "down", "ceiling", "floor"]),
    st.integers(0, 4),
)
def test_reported_rounds_fractions_like_exact_decimals(value, mode, places):
    """Rounding a Fraction gives what rounding its exact decimal expansion (to 60 digits) gives."""
    from decimal import Context

    wide = Context(prec=80).divide(Decimal(value.numerator), Decimal(value.denominator))
    # a terminating or long expansion: the tie cases are exact, others are far from a tie
    assert reported(value, places, mode) == quantize(wide, places, mode)


def test_reported_keeps_decimals_and_none():
    """A Decimal is quantized with the ruleset mode; None (N/A) stays None."""
    assert reported(Decimal("2.675"), 2, "half_up") == Decimal("2.68")
    assert reported(Decimal("2.675"), 2, "half_even") == Decimal("2.68")
    assert reported(Fraction(1, 8), 2, "half_even") == Decimal("0.12")
    assert reported(None, 2, "half_up") is None


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_TW.UTF-8"}, "zh"),
        ({"LANGUAGE": "zh_CN:en", "LANG": "en_GB.UTF-8"}, "zh"),
        ({"LANGUAGE": "zh_CN:en", "LANG": "C.UTF-8"}, "en"),
        ({"LANGUAGE": "zh_CN:en"}, "en"),
        ({"LC_ALL": "", "LANG": "C"}, "en"),
    ],
)
def test_language_from_env(env, lang):
    """The locale variables choose Chinese only when the first one set is Chinese."""
    assert language_from_env(env) == lang


def test_catalogue_translates_with_placeholders():
    """The zh catalogue translates and fills placeholders; English returns the msgid."""
    assert messages("zh").t("{path}: ok", path="a.yaml") == "a.yaml：通过"
    assert messages("en").t("{path}: ok", path="a.yaml") == "a.yaml: ok"
    with pytest.raises(ValueError, match="unknown language"):
        messages("fr")  # type: ignore[arg-type]


def test_every_message_in_code_has_a_chinese_translation(root):
    """Each msgid the code uses (and each issue template) is translated in the zh catalogue."""
    import sys

    sys.path.insert(0, str(root / "tools"))
    try:
        import catalogue
    finally:
        sys.path.remove(str(root / "tools"))
    zh = messages("zh")
    used = catalogue.used_msgids()
    assert len(used) > 150
    missing = [(c, m) for c, m in used if (zh.pt(c, m) if c else zh.t(m)) == m and m not in {"N/A", "KPI"}]
    assert not missing


def test_compiled_catalogue_translates_exactly_what_the_po_says(root):
    """The shipped kpi.mo holds every translation of kpi.po and nothing else (tools/catalogue.py compile)."""
    import gettext
    import sys

    sys.path.insert(0, str(root / "tools"))
    try:
        import catalogue
    finally:
        sys.path.remove(str(root / "tools"))
    pos = sorted(catalogue.LOCALE.glob("*/LC_MESSAGES/kpi.po"))
    assert pos
    for po in pos:
        expected = {}
        for message in catalogue.read_po(po):
            if message.id and message.string and not message.fuzzy:
                key = f"{message.context}\x04{message.id}" if message.context else message.id
                expected[key] = message.string
        with po.with_suffix(".mo").open("rb") as fh:
            shipped = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
        assert {k: v for k, v in shipped.items() if k != ""} == expected, po
        assert len(expected) > 150


def test_issues_render_in_chinese_with_their_values_and_suggestion():
    """An issue's English message is matched to its template and rendered in Chinese with the same values."""
    issue = Issue(
        "unknown_metric",
        "'renwal_rate' is not a defined metric",
        "kpis[3].metric",
        Location("q3.yaml", 14, 9),
        suggestion="did you mean 'renewal_rate'?",
    )
    zh = render_issue(issue, messages("zh"))
    assert (
        zh == "q3.yaml:14:9: kpis[3].metric: 'renwal_rate' 不是已定义的度量; 是否想写 'renewal_rate'？ [unknown_metric]"
    )
    assert render_issue(issue, messages("en")) == issue.render()


def test_unknown_issue_shapes_stay_english_and_warnings_are_prefixed():
    """A message with no template is kept as written; a warning gets the translated prefix."""
    odd = Issue("bad_value", "something new", "x", None)
    assert render_issue(odd, messages("zh")) == "x: something new [bad_value]"
    warn = Issue(
        "grade_gap", "totals below 60 get no grade; end with a band without min", "grades[2]", severity="warning"
    )
    assert (
        render_issue(warn, messages("zh"))
        == "grades[2]: 警告：低于 60 的总分没有等级；请以一个不设 min 的等级结尾 [grade_gap]"
    )


def test_every_planted_issue_is_translated(root):
    """Every issue of the planted ruleset renders in Chinese (no English template left over)."""
    from kpi_engine.language.build import check_text

    path = root / "tests/cases/invalid/planted.yaml"
    issues = check_text(path.read_text(encoding="utf-8"), str(path))[2]
    zh = messages("zh")
    assert len(issues) == 14
    for issue in issues:
        translated = render_issue(issue, zh)
        assert translated != issue.render(), issue
        assert translated.endswith(f"[{issue.code}]")


def test_names_prefer_the_appraised_period():
    """A subject's name comes from its row of the appraised period when names differ by period."""
    rows = [
        {"subject": "a", "period": "2026-02", "name": "旧名"},
        {"subject": "a", "period": "2026-03", "name": "新名"},
        {"subject": "b", "period": "2026-02", "name": "  "},
        {"subject": "c", "period": "2026-02", "name": "丙"},
    ]
    assert names_from_tables([Table.from_rows(rows)], "2026-03") == {"a": "新名", "c": "丙"}
    rows.reverse()
    assert names_from_tables([Table.from_rows(rows)], "2026-03") == {"a": "新名", "c": "丙"}


def test_unknown_format_is_refused():
    """render() names the formats it knows."""
    appraisal, _ = appraise()
    with pytest.raises(ValueError, match="table, csv, html, xlsx"):
        render(appraisal, "pdf")


S2 = S2_ARGS


def s2_appraisal(root):
    from kpi_engine import load_ruleset

    ruleset = load_ruleset(root / S2[0])
    given = s2_inputs()
    appraisal = evaluate(ruleset, period="2026-Q2", **given)
    return ruleset, given["records"], appraisal


def test_xlsx_reads_back_equal_to_the_json_reported_values(root):
    """Every reported number in the workbook equals the JSON appraisal's, digit for digit, stored as a number."""
    openpyxl = pytest.importorskip("openpyxl")
    ruleset, _, appraisal = s2_appraisal(root)
    data = render(appraisal, "xlsx", ruleset=ruleset, lang="zh")
    assert isinstance(data, bytes)
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["考核结果", "指标明细", "说明"]
    results, detail = book["考核结果"], book["指标明细"]
    assert results.freeze_panes == "C3"
    assert detail.freeze_panes == "D2"
    data = appraisal.to_dict()
    expected = data["results"]
    weights = {k["id"]: k["weight"] for k in data["scorecard"]["kpis"]}  # written once, in the header
    header = [c.value for c in results[2]]
    assert header[:6] == ["排名", "考核对象", "姓名", "所属", "总分", "等级"]
    assert "团队销售达成率" in header
    checked = 0
    for row, want in zip(results.iter_rows(min_row=3), expected, strict=True):
        assert row[1].value == want["subject"]
        total = row[4]
        assert isinstance(total.value, int | float)
        assert total.number_format == "0.00"
        assert f"{Decimal(repr(total.value)):.2f}" == want["total"]
        for cell, kpi in zip(row[11:], want["kpis"], strict=True):
            if kpi["status"] == "scored":
                assert f"{Decimal(repr(cell.value)):.2f}" == kpi["score"]
                checked += 1
    detail_rows = list(detail.iter_rows(min_row=2, values_only=True))
    flat = [(r["subject"], k) for r in expected for k in r["kpis"]]
    assert len(detail_rows) == len(flat)
    for values, (subject, kpi) in zip(detail_rows, flat, strict=True):
        assert values[0] == subject
        assert values[2] == kpi["id"]
        assert Decimal(repr(values[7])) == Decimal(weights[kpi["id"]])  # a share, shown as a percent
        assert f"{Decimal(repr(values[8])).scaleb(2):.2f}" == kpi["effective_weight"]
        assert f"{Decimal(repr(values[9])):.2f}" == kpi["contribution"]
        checked += 2
    assert checked > 60


def test_xlsx_numbers_are_written_with_their_own_digits(root):
    """The sheet XML holds each reported number's exact digits (99.10, not 99.09999999999999)."""
    import zipfile

    pytest.importorskip("xlsxwriter")
    ruleset, _, appraisal = s2_appraisal(root)
    data = render(appraisal, "xlsx", ruleset=ruleset)
    assert isinstance(data, bytes)
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet2.xml").decode()
    numbers = re.findall(r"<v>([-0-9.E+]+)</v>", xml)
    assert numbers
    assert all(len(n.replace("-", "").replace(".", "").lstrip("0")) <= 15 for n in numbers)
    assert "9999999" not in xml


def test_xlsx_keeps_long_values_as_exact_text_and_guards_formulas():
    """Values beyond Excel's 15 digits become exact text; hostile names are quoted text, never formulas."""
    openpyxl = pytest.importorskip("openpyxl")
    from kpi_engine.report.xlsx import _fits

    assert _fits(Decimal("99.10"))
    assert _fits(Decimal(123456789012345))
    assert not _fits(Decimal(1234567890123456))
    assert not _fits(Decimal("0.3309604096415636318221556138378918"))
    appraisal, names = appraise(HOSTILE)
    data = render(appraisal, "xlsx", ruleset=RULESET, names=names)
    assert isinstance(data, bytes)
    book = openpyxl.load_workbook(io.BytesIO(data))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in cells)
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert "'@SUM(A1)\u202e" in texts
    assert all(not t.startswith(("=", "+", "@")) for t in texts)


def test_html_is_self_contained_and_escapes_hostile_names():
    """The HTML has no external resource, a CSP forbidding any, and every hostile name escaped."""
    appraisal, names = appraise(HOSTILE)
    text = render(appraisal, "html", ruleset=RULESET, names=names)
    assert isinstance(text, str)
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "default-src 'none'" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "@import" not in text
    assert "url(" not in text
    assert text.count("<script>") == 1


def test_html_shows_charts_traces_gates_adjustments_and_na():
    """Each subject has a contribution chart, each KPI a trace, and gates, adjustments and N/A are listed."""
    appraisal, names = appraise()
    earlier = evaluate(RULESET, [{**r, "period": "2026-02"} for r in RECORDS])
    text = render(appraisal, "html", ruleset=RULESET, names=names, lang="zh", history=[earlier])
    assert isinstance(text, str)
    assert text.count('<svg class="chart"') == 3 + 1 + len(appraisal.results)  # ranking, grades, teams/sections, trend
    assert text.count('<details class="audit">') == 2 * len(appraisal.results)
    assert "门槛条件成立，但未改变结果（总分封顶 60）" in text  # ouyang's 54.00 is under the cap of 60
    assert "low_renewal" not in text.split('<p class="audit">')[0]  # no gate id in the text people read
    assert "调整规则将「销售达成率」的得分改为" in text
    assert "「续约率」不适用" in text
    assert "2026-02" in text
    assert "总分趋势" in text
    assert "@page { size: A4 landscape" in text
    assert '"Microsoft YaHei", "PingFang SC"' in text
    assert "Noto Sans CJK SC" in text
