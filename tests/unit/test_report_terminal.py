"""The terminal table fits the terminal: wrapped titles, folded panels, chosen KPI columns, gates that changed something."""

import re

import pytest
from tests.shipped import s2_inputs

from kpi_engine import evaluate, load_ruleset, parse_ruleset, read_table
from kpi_engine.errors import KpiError
from kpi_engine.report import names_from_tables, view_of
from kpi_engine.report._view import changed_gates, display_width
from kpi_engine.report.table import render_table, wrap

S1 = "rulesets/sales_rep_monthly.yaml"
RECORDS = "examples/sales_rep_monthly/records.csv"
S2 = "rulesets/sales_supervisor_quarterly.yaml"
S2_DATA = "examples/sales_supervisor_quarterly/"


@pytest.fixture
def s1_view(root):
    ruleset = load_ruleset(root / S1)
    table = read_table(root / RECORDS)
    appraisal = evaluate(ruleset, table, period="2026-03")
    return view_of(appraisal, ruleset=ruleset, names=names_from_tables([table]), lang="zh")


@pytest.fixture
def s2_view(root):
    ruleset = load_ruleset(root / S2)
    appraisal = evaluate(ruleset, **s2_inputs())
    return view_of(appraisal, ruleset=ruleset, lang="zh")


def _scores(text):
    return re.findall(r"\b\d+\.\d\d\b|N/A", text)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_every_line_fits_and_no_score_is_lost(s1_view, s2_view, width):
    """At 60, 80 and 120 cells no line is wider than the terminal and every score of the full table is printed."""
    for view in (s1_view, s2_view):
        full = render_table(view)
        fitted = render_table(view, width=width)
        assert max(display_width(line) for line in fitted.splitlines()) <= width
        assert sorted(_scores(fitted)) == sorted(_scores(full))
    assert max(display_width(line) for line in render_table(s2_view).splitlines()) > 300  # it needed fitting


def test_wide_terminal_keeps_one_panel(s1_view):
    """A terminal wide enough for the wrapped titles shows one panel (one header rule)."""
    fitted = render_table(s1_view, width=200)
    assert sum(1 for line in fitted.splitlines() if set(line) <= {"-", " "} and "-" in line) == 1


def test_panels_repeat_the_subject_columns(s2_view):
    """Each folded panel starts with the rank and subject columns, so every row can be read on its own."""
    fitted = render_table(s2_view, width=80)
    rules = [i for i, line in enumerate(fitted.splitlines()) if line.startswith("----")]
    assert len(rules) >= 3
    lines = fitted.splitlines()
    for i in rules:
        assert lines[i - 1].startswith("排名  考核对象")
        assert lines[i + 1].split()[1] == "team_north"


def test_kpis_choose_and_order_the_columns(s1_view):
    """--kpis calls,conduct shows those two KPI columns in that order and no other."""
    text = render_table(s1_view, kpis=["conduct", "calls"])
    header = text.splitlines()[1]
    assert header.index("行为纪律") < header.index("电话销售拜访数量")
    assert "增长率" not in header
    assert "98.33" in text  # zhao_lei's calls


def test_an_unknown_kpi_is_named_with_the_known_ones(s1_view):
    """An id that is not a KPI is an error listing the scorecard's ids."""
    with pytest.raises(KpiError, match=r"未知指标 callz；可选指标：target_completion, growth"):
        render_table(s1_view, kpis=["callz"])


def test_wrap_breaks_at_spaces_and_between_wide_characters():
    """Words stay whole when they fit; CJK text breaks between characters; no line exceeds the width."""
    assert wrap("on time collection", 8) == ["on time", "collecti", "on"]
    assert wrap("销售目标完成率", 8) == ["销售目标", "完成率"]
    assert all(display_width(line) <= 6 for line in wrap("客户跟进及时率 (R3)", 6))


CAPS = """\
ruleset: caps
version: "1"
title: caps
subject: rep
period: month
inputs: {x: {type: number}, y: {type: number}}
kpis:
  - {id: a, metric: x, method: expression, score: value, weight: 100%}
gates:
  - {id: cap, when: y < 1, cap_total: 60}
  - {id: force, when: x < 60, force_grade: B}
grades:
  - {grade: A, min: 90}
  - {grade: B, min: 50}
  - {grade: C}
"""


def test_a_gate_that_changed_nothing_is_not_marked():
    """A cap above the total, or a forced grade equal to the earned one, held but changed nothing: no G."""
    ruleset = parse_ruleset(CAPS)
    rows = [
        {"subject": "high", "period": "2026-03", "x": "95", "y": "0"},  # capped 95 → 60
        {"subject": "low", "period": "2026-03", "x": "55", "y": "0"},  # 55 under the cap; B earned anyway
        {"subject": "poor", "period": "2026-03", "x": "40", "y": "2"},  # C earned, B forced
        {"subject": "free", "period": "2026-03", "x": "95", "y": "2"},
    ]
    appraisal = evaluate(ruleset, rows)
    card = appraisal.scorecard
    changed = {r.subject: [g.id for g in changed_gates(r, card)] for r in appraisal.results}
    assert changed == {"high": ["cap"], "low": [], "poor": ["force"], "free": []}
    text = render_table(view_of(appraisal, ruleset=ruleset))
    assert "G high: gate cap applied" in text
    assert "low: gate" not in text
    marks = {line.split()[1]: line for line in text.splitlines()[3:7]}
    assert marks["high"].split()[4] == "G"  # rank, subject, total, grade, marks
    assert marks["low"].split()[4] != "G"


def test_the_command_fits_the_width_and_chooses_kpis(root, capsys, monkeypatch):
    """kpi evaluate --width 70 prints no line wider than 70; --kpis picks columns; with csv they are refused."""
    from kpi_engine.cli import main

    monkeypatch.chdir(root)
    base = ["evaluate", S1, "--records", RECORDS, "--lang", "en"]
    assert main([*base, "--width", "70"]) == 0
    out = capsys.readouterr().out
    assert max(display_width(line) for line in out.splitlines()) <= 70
    assert main([*base, "--kpis", "calls,visits"]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert header.endswith("电话销售拜访数量  现有客户拜访数量")
    assert main([*base, "--format", "csv", "--kpis", "calls"]) == 1
    assert "--kpis and --width apply to --format table" in capsys.readouterr().err
