"""Reports for people: no internal word in the Chinese report, one meaning per colour, statements per person."""

import html
import re

import pytest
from tests.shipped import s2_inputs

from kpi_engine import evaluate, load_ruleset, read_table
from kpi_engine.report import names_from_tables, render, view_of
from kpi_engine.report.statement import Line, Page, Section, appraisal_pages, print_zoom, render_statements

S1 = "rulesets/sales_rep_monthly.yaml"
S1_DATA = "examples/sales_rep_monthly/"
S2 = "rulesets/sales_supervisor_quarterly.yaml"
S2_DATA = "examples/sales_supervisor_quarterly/"


def s1(root):
    ruleset = load_ruleset(root / S1)
    records = read_table(root / S1_DATA / "records.csv")
    members = read_table(root / S1_DATA / "members.csv")
    appraisal = evaluate(ruleset, records, members=members, period="2026-03")
    earlier = evaluate(ruleset, records, members=members, period="2026-02")
    return ruleset, appraisal, [earlier], names_from_tables([records], appraisal.period)


def s2(root):
    ruleset = load_ruleset(root / S2)
    appraisal = evaluate(ruleset, **s2_inputs())
    earlier = evaluate(ruleset, period="2026-Q1", **s2_inputs())
    return ruleset, appraisal, [earlier], {}


def author_words(ruleset) -> set[str]:
    """Words the ruleset's author wrote for people: titles, descriptions and reasons (any language)."""
    spec = ruleset.spec
    texts = [spec.title, spec.description or ""]
    texts += [i.title or "" for i in spec.inputs.values()] + [m.title or "" for m in spec.metrics.values()]
    texts += [s.title or "" for s in spec.sections.values()] if isinstance(spec.sections, dict) else []
    card = ruleset.scorecard
    texts += [k.title or "" for k in card.kpis] + [s.title or "" for s in card.sections]
    texts += [g.title or "" for g in card.grades] + [g.reason or "" for g in card.gates]
    texts += [a.reason or "" for a in card.adjustments]
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(texts)))


def visible_words(text: str) -> set[str]:
    """ASCII words a reader sees in an HTML report, leaving out the parts marked for auditors."""
    body = text.split("<body>", 1)[1]
    body = re.sub(r"<script>.*?</script>", "", body, flags=re.DOTALL)
    body = re.sub(r'<details class="audit">.*?</details>', "", body, flags=re.DOTALL)
    body = re.sub(r'<p class="audit">.*?</p>', "", body, flags=re.DOTALL)
    body = re.sub(r"<footer>.*?</footer>", "", body, flags=re.DOTALL)
    tips = " ".join(re.findall(r'(?:title|aria-label)="([^"]*)"', body))
    plain = html.unescape(re.sub(r"<[^>]+>", " ", body) + " " + tips)
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", plain))


@pytest.mark.parametrize("case", [s1, s2], ids=["S1", "S2"])
def test_a_director_reading_chinese_finds_no_internal_word(root, case):
    """Outside the auditors' parts, the Chinese report and statements hold no YAML key, id, mode or engine word.

    Allowed: the ruleset author's own titles and reasons, the data's ids and names, grade letters,
    the G/A/N markers, N/A and period labels.
    """
    ruleset, appraisal, history, names = case(root)
    allowed = author_words(ruleset) | {"N", "A", "G", "N_A", "R3", "Q1", "Q2"}
    allowed |= {g.grade for g in ruleset.scorecard.grades}
    for r in appraisal.results:
        allowed |= set(re.findall(r"\w+", r.subject)) | {r.subject, r.parent or ""}
    allowed |= {w for name in names.values() for w in re.findall(r"[A-Za-z_]\w*", name)}
    data = root / (S1_DATA if case is s1 else S2_DATA)  # the data's own words: member ids, file names
    allowed |= {w for f in data.iterdir() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", f.name)}
    allowed |= {w for f in data.glob("members.csv") for w in re.findall(r"[a-z_]+", f.read_text(encoding="utf-8"))}
    report = render(appraisal, "html", ruleset=ruleset, names=names, lang="zh", history=history)
    statements = render_statements(
        appraisal_pages(view_of(appraisal, ruleset=ruleset, names=names, lang="zh"), history=history), lang="zh"
    )
    for text in (report, statements):
        assert isinstance(text, str)
        assert visible_words(text) - allowed == set()
    for word in ("rep", "team", "half_up", "cap_total", "low_attainment", "renewal_gate", "declining_market"):
        assert word not in visible_words(report) - author_words(ruleset)


def test_the_check_finds_internal_words_when_they_are_there(root):
    """The word check is not vacuous: the English words of an English report are found."""
    ruleset, appraisal, history, names = s1(root)
    report = render(appraisal, "html", ruleset=ruleset, names=names, lang="en", history=history)
    assert {"Ranking", "total", "rep"} <= visible_words(report)


def test_the_team_chart_says_what_its_bar_and_line_are(root):
    """Under the team comparison a legend names the bar (mean total) and the line (lowest to highest total)."""
    ruleset, appraisal, _, names = s1(root)
    text = render(appraisal, "html", ruleset=ruleset, names=names, lang="zh")
    team = text.split("团队对比", 2)[2]
    legend = team.split('<div class="legend">', 1)[1].split("</div>", 1)[0]
    assert "平均总分" in legend
    assert "最低至最高总分" in legend
    assert 'class="line"' in legend


def test_heat_map_headers_are_wrapped_not_cut(root):
    """S2's section titles are written whole in the heat map's header (on several lines), never cut with '…'."""
    ruleset, appraisal, _, _ = s2(root)
    text = render(appraisal, "html", ruleset=ruleset, lang="zh")
    chart = text.split('aria-label="各维度得分"', 1)[1].split("</svg>", 1)[0]
    heads = re.findall(r"<text text-anchor=\"middle\"><title>([^<]*)</title>(.*?)</text>", chart)
    assert len(heads) == len(ruleset.scorecard.sections)
    for full, spans in heads:
        assert "".join(re.findall(r">([^<]*)</tspan>", spans)) == html.unescape(full).replace(" ", "")  # whole
        assert "…" not in spans


def test_statement_pages_hold_each_persons_figures_and_traces(root):
    """A statement page per person: total, grade, rank, a line per KPI with its contribution and trace, a trend."""
    ruleset, appraisal, history, names = s1(root)
    view = view_of(appraisal, ruleset=ruleset, names=names, lang="zh")
    pages = appraisal_pages(view, history=history)
    assert [p.person for p in pages] == ["赵磊 (zhao_lei)", "张伟 (zhang_wei)", "李娜 (li_na)", "王芳 (wang_fang)"]
    zhao = pages[0]
    assert dict(zhao.facts)["总分"] == "101.49"
    assert dict(zhao.facts)["排名"] == "1 / 4"
    lines = {line.label: line for s in zhao.sections for line in s.lines}
    assert len(lines) == 11
    calls = lines["电话销售拜访数量"]
    assert calls.cells[:2] == ("118", "98.33")
    assert calls.amount == "4.34"
    assert ("线性计分", "0 得 0 分，120 得 100 分，其间按比例计分；最高 100 分") in calls.trace
    growth = next(line for s in pages[1].sections for line in s.lines if line.label == "增长率")
    assert growth.cells[0] == "≈13.59%"  # zhang_wei: 25/184
    assert any("精确值 " in text for _, text in growth.trace)  # the exact value is in the trace
    assert lines["客户跟进及时率 (R3)"].muted
    subtotals = [s.total[1] for s in zhao.sections if s.total and s.title]
    assert sum(map(float, subtotals)) == pytest.approx(101.49)  # the parts a reader adds up make the total
    assert "2026-02" in zhao.chart  # the trend over the history
    wang = pages[3]
    assert any("门槛条件成立，但未改变结果" in n for n in wang.notes)  # 33.53 under a cap of 60


def test_one_person_and_english(root):
    """--subject picks people in the order given; English statements read in English."""
    ruleset, appraisal, _, names = s1(root)
    view = view_of(appraisal, ruleset=ruleset, names=names, lang="en")
    pages = appraisal_pages(view, subjects=["wang_fang", "li_na"])
    assert [p.person for p in pages] == ["王芳 (wang_fang)", "李娜 (li_na)"]
    text = render_statements(pages, lang="en", title="March")
    assert "<title>March</title>" in text
    assert "total before gates" in text
    assert text.count('<section class="page"') == 2
    with pytest.raises(KeyError):
        appraisal_pages(view, subjects=["nobody"])


def test_the_page_model_carries_a_pay_statement():
    """The same pages print a pay statement: lines with amounts and traces, a total, escaped text, no appraisal."""
    page = Page(
        heading="工资条 — 2026-03",
        person="赵磊 (zhao_lei)",
        facts=(("应发", "12,300.00"), ("实发", "10,950.00")),
        sections=(
            Section(
                title="应发项目",
                columns=("基数", "系数"),
                amount_title="金额",
                lines=(
                    Line("基本工资", ("8000.00", "1"), "8000.00"),
                    Line("绩效奖金", ("4300.00", "1.0"), "4300.00", trace=(("依据", "等级 A，系数 1.0"),)),
                ),
                total=("合计", "12,300.00"),
            ),
        ),
        notes=("<b>not markup</b>",),
    )
    text = render_statements([page], lang="zh", title="工资条")
    assert "绩效奖金" in text
    assert "等级 A，系数 1.0" in text
    assert "12,300.00" in text
    assert "&lt;b&gt;not markup&lt;/b&gt;" in text
    assert "break-inside: avoid" in text
    assert "size: A4 portrait" in text
    assert print_zoom(page) == 1.0


def test_a_long_page_is_scaled_to_one_sheet_on_paper_only():
    """A page with many lines gets a print-only zoom below 1; a short one none."""
    lines = tuple(Line(f"item {i}", ("1",), "1", trace=(("how", "x" * 300),)) for i in range(40))
    long_page = Page("h", "p", sections=(Section("s", ("n",), "a", lines),))
    zoom = print_zoom(long_page)
    assert 0 < zoom < 1
    text = render_statements([Page("h", "short"), long_page])
    assert f"@media print {{ #p1 {{ zoom: {zoom:.3f}; }} }}" in text
    assert "#p0" not in text.split("@media print", 2)[2]


def test_the_statement_command(root, tmp_path, capsys, monkeypatch):
    """kpi statement writes one page per person (or per --subject), and names an unknown subject."""
    from kpi_engine.cli import main

    monkeypatch.chdir(root)
    base = ["statement", S1, "--records", f"{S1_DATA}records.csv", "--members", f"{S1_DATA}members.csv"]
    out = tmp_path / "statements.html"
    assert main([*base, "--history", "2026-02", "--lang", "zh", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.count('<section class="page"') == 4
    assert "赵磊 (zhao_lei)" in text
    assert main([*base, "--subject", "li_na", "--lang", "en"]) == 0
    shown = capsys.readouterr().out
    assert shown.count('<section class="page"') == 1
    assert "李娜 (li_na)" in shown
    assert main([*base, "--subject", "nobody"]) == 1
    assert "subject 'nobody' was not appraised in 2026-03" in capsys.readouterr().err
