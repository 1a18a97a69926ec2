"""Lean, exact results: reported contributions and residue, traces on demand, streamed JSON."""

import json
from decimal import Decimal
from fractions import Fraction

from tests.shipped import s2_inputs

from kpi_engine import Table, evaluate, load_ruleset, parse_ruleset, read_table

S1 = "rulesets/sales_rep_monthly.yaml"
RECORDS = "examples/sales_rep_monthly/records.csv"

THIRDS = """\
ruleset: thirds
version: "1"
title: thirds
subject: rep
period: month
rounding: {places: 2, contributions: CONTRIBUTIONS}
inputs: {x: {type: number}, y: {type: number}, z: {type: number}}
kpis:
  - {id: a, metric: x, method: expression, score: value, weight: 1}
  - {id: b, metric: y, method: expression, score: value, weight: 1}
  - {id: c, metric: z, method: expression, score: value, weight: 1}
normalize: true
"""


def _thirds(mode):
    ruleset = parse_ruleset(THIRDS.replace("CONTRIBUTIONS", mode))
    return evaluate(ruleset, [{"subject": "r", "period": "2026-03", "x": "10", "y": "10", "z": "10.01"}])


def test_rounded_contributions_show_their_residue():
    """Each contribution is correctly rounded; the residue against the rounded total is reported."""
    appraisal = _thirds("rounded")
    r = appraisal.result("r")
    assert r.total_exact == Fraction("30.01") / 3
    parts, residue = appraisal.reported_contributions(r)
    assert parts == {"a": Decimal("3.33"), "b": Decimal("3.33"), "c": Decimal("3.34")}
    assert appraisal.round(r.total_exact) == Decimal("10.00")
    assert residue == Decimal("0.00")
    data = appraisal.to_dict()["results"][0]
    assert data["contributions_residue"] == "0.00"


def test_residue_is_shown_when_parts_do_not_add_up():
    """On the S1 example li_na's rounded contributions add up to 0.01 less than her total."""
    appraisal = evaluate(load_ruleset(S1), read_table(RECORDS))
    li_na = appraisal.result("li_na")
    parts, residue = appraisal.reported_contributions(li_na)
    assert appraisal.reported(li_na.total_exact) == "82.51"
    assert sum(parts.values()) + residue == Decimal("82.51")
    assert residue == Decimal("-0.01")


def test_largest_remainder_parts_add_up_to_the_shown_total():
    """With largest_remainder the reported parts add up exactly to the reported total."""
    ruleset = parse_ruleset(THIRDS.replace("CONTRIBUTIONS", "largest_remainder").replace("10.01", "10.02"))
    appraisal = evaluate(ruleset, [{"subject": "r", "period": "2026-03", "x": "10", "y": "10", "z": "10.02"}])
    r = appraisal.result("r")
    parts, residue = appraisal.reported_contributions(r)
    assert residue == 0
    assert sum(parts.values()) == appraisal.round(r.total_exact) == Decimal("10.01")
    for k in r.kpis:  # each part is within one unit of its exact value
        assert abs(Fraction(parts[k.id]) - Fraction(k.contribution_exact)) < Fraction(1, 100)


def test_traces_are_built_on_demand_and_agree_with_the_numbers():
    """A KPI's explanation is computed when read, by the same code, and states the same numbers."""
    appraisal = evaluate(load_ruleset(S1), read_table(RECORDS))
    for r in appraisal.results:
        for k in r.kpis:
            assert k.trace is None  # nothing was built during evaluation
            ex = k.explanation
            assert ex["weight"]["contribution"] == k.contribution_exact
            assert ex["weight"]["effective"] == k.effective_weight_exact
            if k.status == "scored" and "adjustment" not in ex:
                assert ex["raw_score"] == k.score_exact


def test_streamed_json_equals_the_whole_document():
    """iter_json yields exactly json.dumps(to_dict()), compact and indented, with and without traces."""
    appraisal = evaluate(load_ruleset(S1), read_table(RECORDS))
    for traces in (False, True):
        data = appraisal.to_dict(traces=traces)
        assert "".join(appraisal.iter_json(traces=traces)) == json.dumps(
            data, ensure_ascii=False, separators=(",", ":")
        )
        assert "".join(appraisal.iter_json(traces=traces, indent=2)) == json.dumps(data, ensure_ascii=False, indent=2)
    lines = list(appraisal.iter_jsonl())
    assert len(lines) == 1 + len(appraisal.results)
    assert json.loads(lines[1]) == appraisal.to_dict()["results"][0]


def test_empty_results_stream_as_valid_json():
    """An appraisal without results still streams a valid JSON document."""
    import attrs

    appraisal = attrs.evolve(evaluate(load_ruleset(S1), read_table(RECORDS)), results=())
    for indent in (None, 2):
        assert json.loads("".join(appraisal.iter_json(indent=indent)))["results"] == []


def test_the_callers_decimal_context_does_not_change_reported_numbers():
    """A caller's 2-digit ROUND_DOWN context changes no number of the appraisal."""
    from decimal import ROUND_DOWN, localcontext

    ruleset = load_ruleset(S1)
    expected = evaluate(ruleset, read_table(RECORDS)).to_json()
    with localcontext() as ctx:
        ctx.prec = 2
        ctx.rounding = ROUND_DOWN
        assert evaluate(ruleset, read_table(RECORDS)).to_json() == expected


def test_reports_show_the_residue_and_the_same_parts_as_json():
    """Table, CSV and HTML show li_na's −0.01 rounding residue and the parts the JSON reports."""
    from kpi_engine.report import render

    ruleset = load_ruleset(S1)
    appraisal = evaluate(ruleset, read_table(RECORDS))
    table = render(appraisal, "table", ruleset=ruleset)
    assert "differ from the total by -0.01" in table
    csv_text = render(appraisal, "csv", ruleset=ruleset)
    assert isinstance(csv_text, str)
    li_na = [line for line in csv_text.splitlines() if ",li_na," in line]
    assert li_na
    assert all(line.endswith(",82.51,-0.01") for line in li_na)
    html = render(appraisal, "html", ruleset=ruleset)
    assert isinstance(html, str)
    assert "differ from the total before gates by -0.01" in html
    parts = {k["id"]: k["contribution"] for k in appraisal.to_dict()["results"][2]["kpis"]}
    assert appraisal.to_dict()["results"][2]["subject"] == "li_na"
    import csv

    rows = [row for row in csv.DictReader(csv_text.splitlines()) if row["subject"] == "li_na"]
    assert {row["kpi"]: row["contribution"] for row in rows} == parts


def test_explain_shows_the_apportioned_contributions_the_json_reports():
    """With largest_remainder, `kpi explain` states each KPI's contribution as the JSON does (10.01 = 3.34 + 3.33 + 3.34)."""
    from kpi_engine.evaluation.explain import explain_subject

    ruleset = parse_ruleset(THIRDS.replace("CONTRIBUTIONS", "largest_remainder").replace("10.01", "10.02"))
    appraisal = evaluate(ruleset, [{"subject": "r", "period": "2026-03", "x": "10", "y": "10", "z": "10.02"}])
    r = appraisal.result("r")
    parts, _ = appraisal.reported_contributions(r)
    shown = [line.rsplit(" ", 1)[1] for line in explain_subject(appraisal, r).splitlines() if "contributes" in line]
    assert shown == [format(parts[k.id], "f") for k in r.kpis]
    assert sum(Decimal(s) for s in shown) == appraisal.round(r.total_exact)


def test_no_callers_context_changes_any_shipped_appraisal():
    """All three shipped rulesets give the same JSON bytes (traces included) under hostile decimal contexts."""
    from decimal import ROUND_CEILING, ROUND_DOWN, Context, Inexact, Rounded, localcontext

    ex = "examples/"
    runs = [
        ("rulesets/sales_rep_monthly.yaml", {"records": [RECORDS], "members": ex + "sales_rep_monthly/members.csv"}),
        (
            "rulesets/sales_supervisor_quarterly.yaml",
            s2_inputs(),
        ),
        (
            "rulesets/sales_department.yaml",
            {"records": [ex + "sales_department/records.csv"], "members": ex + "sales_department/members.csv"},
        ),
    ]
    hostile = [Context(prec=2, rounding=ROUND_DOWN), Context(prec=3, rounding=ROUND_CEILING, traps=[Inexact, Rounded])]
    for path, files in runs:
        ruleset = load_ruleset(path)
        records = [t if isinstance(t, Table) else read_table(t) for t in files["records"]]
        others = {k: read_table(v) if isinstance(v, str) else v for k, v in files.items() if k != "records"}
        expected = evaluate(ruleset, records, **others).to_json(traces=True, indent=2)
        for ctx in hostile:
            with localcontext(ctx):
                got = evaluate(ruleset, records, **others).to_json(traces=True, indent=2)
            assert got == expected, (path, ctx)


def test_an_appraisal_pickles_with_its_traces():
    """An appraisal crosses a process boundary (pickle): same numbers, same traced JSON afterwards."""
    import pickle

    appraisal = evaluate(load_ruleset(S1), read_table(RECORDS))
    copy = pickle.loads(pickle.dumps(appraisal))  # noqa: S301 - our own bytes, round-tripped
    assert copy == appraisal
    assert copy.to_json(traces=True) == appraisal.to_json(traces=True)


def test_streamed_json_equals_the_document_for_odd_text():
    """Titles, reasons and subjects with newlines, quotes and Chinese, and empty metrics stream as json.dumps writes them."""
    ruleset = parse_ruleset(
        'ruleset: t\nversion: "1"\ntitle: "标题\\nline \\"q\\""\n'
        "inputs: {x: {type: number, required: false}}\n"
        'sections: {s1: {weight: 100%, title: "第一\\n部分"}}\n'
        'kpis: [{id: k, title: "中文\\n", metric: x, method: linear, floor: 0, target: 100, weight: 100%, section: s1}]\n'
        'gates: [{id: g, when: "x < 5", cap_total: 50, reason: "原因\\n两行"}]\n'
    )
    records = [{"subject": "张三\n", "period": "2026-03", "x": "4"}, {"subject": "b", "period": "2026-03"}]
    appraisal = evaluate(ruleset, records)
    for traces in (False, True):
        data = appraisal.to_dict(traces=traces)
        assert data["results"][0]["metrics"] == {}
        for indent in (None, 2, 4):
            sep = (",", ":") if indent is None else None
            want = json.dumps(data, ensure_ascii=False, indent=indent, separators=sep)
            assert appraisal.to_json(traces=traces, indent=indent) == want


def test_explain_speaks_chinese_with_the_same_numbers(capsys):
    """`kpi explain --lang zh` translates the labels and shows the same numbers as the English trace."""
    from kpi_engine.cli import main

    args = ["explain", S1, "--records", RECORDS, "--subject", "li_na"]
    assert main(args) == 0
    english = capsys.readouterr().out
    assert main([*args, "--lang", "zh"]) == 0
    chinese = capsys.readouterr().out
    assert "total 82.51 → grade B" in english
    assert "总分 82.51 → 等级 B" in chinese
    assert "贡献 34.20" in chinese
    assert "contributes 34.20" in english


def test_html_shows_exact_fraction_values_for_reading():
    """A ratio whose exact value is a fraction reads as a rounded percent in the HTML, not 34 digits."""
    from kpi_engine.report import render

    ruleset = load_ruleset("rulesets/sales_supervisor_quarterly.yaml")
    appraisal = evaluate(ruleset, **s2_inputs())
    html = render(appraisal, "html", ruleset=ruleset)
    assert isinstance(html, str)
    assert "101.17%" in html  # team_north's attainment, 607,000 / 600,000
    assert "1.011666666666666666666666666666667<" not in html  # the exact text stays in the trace only


class TestReportedNumbers:
    """The API's figures read as the ruleset reports them; the exact rationals are one attribute away."""

    def test_total_is_the_reported_decimal_and_total_exact_the_rational(self):
        """zhao_lei's total is Decimal('101.49'); total_exact is the Fraction it was rounded from."""
        appraisal = evaluate(load_ruleset(S1), read_table(RECORDS), period="2026-03")
        best = appraisal.results[0]
        assert (best.subject, best.total, best.grade) == ("zhao_lei", Decimal("101.49"), "A")
        assert repr(best.total) == "Decimal('101.49')"
        assert best.total_exact == Fraction(172531, 1700)
        assert f"{best.subject} {best.total} {best.grade}" == "zhao_lei 101.49 A"

    def test_scores_print_with_the_ruleset_places(self):
        """A score of exactly 110 prints 110.00, never 1.1E+2; the exact score stays exact."""
        best = evaluate(load_ruleset(S1), read_table(RECORDS), period="2026-03").result("zhao_lei")
        k = best.kpi("target_completion")
        assert str(k.score) == "110.00"
        assert k.score_exact == 110
        assert str(best.kpi("calls").score) == "98.33"
        assert best.kpi("calls").score_exact == Fraction(295, 3)
        assert best.kpi("follow_up").score is None

    def test_reported_figures_equal_the_json(self):
        """Every reported figure of the objects is the string the canonical JSON writes."""
        appraisal = evaluate(load_ruleset(S1), read_table(RECORDS), period="2026-03")
        data = appraisal.to_dict()["results"]
        for r, d in zip(appraisal.results, data, strict=True):
            assert str(r.total) == d["total"]
            assert str(r.total_before_gates) == d["total_before_gates"]
            assert str(r.contributions_residue) == d["contributions_residue"]
            for k, dk in zip(r.kpis, d["kpis"], strict=True):
                assert (None if k.score is None else str(k.score)) == dk["score"]
                assert str(k.contribution) == dk["contribution"]
                assert str(k.effective_weight.scaleb(2)) == dk["effective_weight"]
            for s, ds in zip(r.sections, d["sections"], strict=True):
                assert (None if s.score is None else str(s.score)) == ds["score"]
                assert str(s.effective_weight.scaleb(2)) == ds["effective_weight"]

    def test_largest_remainder_contributions_are_the_apportioned_parts(self):
        """Under largest_remainder each KPI's contribution is its apportioned part, as the JSON reports it."""
        ruleset = parse_ruleset(THIRDS.replace("CONTRIBUTIONS", "largest_remainder").replace("10.01", "10.02"))
        appraisal = evaluate(ruleset, [{"subject": "r", "period": "2026-03", "x": "10", "y": "10", "z": "10.02"}])
        r = appraisal.result("r")
        parts, _ = appraisal.reported_contributions(r)
        assert {k.id: k.contribution for k in r.kpis} == parts
        assert sum(k.contribution for k in r.kpis) == r.total == Decimal("10.01")
        assert r.contributions_residue == 0

    def test_the_columnar_kernel_reports_the_same_figures(self):
        """Results built from the kernel's columns report the same Decimals and exact values as the row path."""
        ruleset = load_ruleset(S1)
        row = evaluate(ruleset, read_table(RECORDS), period="2026-03", engine="row")
        col = evaluate(ruleset, read_table(RECORDS), period="2026-03", engine="columnar")
        for a, b in zip(row.results, col.results, strict=True):
            assert (a.total, a.total_exact) == (b.total, b.total_exact)
            assert [(k.score, k.contribution, k.effective_weight) for k in a.kpis] == [
                (k.score, k.contribution, k.effective_weight) for k in b.kpis
            ]
