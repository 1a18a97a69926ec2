from kpi_engine.cli import main
from kpi_engine.language.build import check_text, parse_ruleset

BASE = """\
ruleset: t
version: "1"
title: t
inputs:
  renewed: {type: count}
  due: {type: count}
metrics:
  rate: {formula: renewed / due, unit: ratio}
kpis:
"""


def codes(text):
    _, _, issues = check_text(text, "t.yaml")
    return [i.code for i in issues if i.severity == "error"]


def test_planted_mistakes_are_all_reported_with_locations(root, capsys):
    """kpi validate on the planted file reports every mistake, matching the golden output."""
    path = "tests/cases/invalid/planted.yaml"
    import os

    os.chdir(root)
    assert main(["validate", path]) == 1
    expected = (root / "tests/cases/invalid/planted.expected").read_text(encoding="utf-8")
    assert capsys.readouterr().err == expected


def test_valid_minimal_ruleset_has_no_errors():
    """A well-formed ruleset passes every check."""
    assert codes(BASE + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 100%}\n") == []


def test_percent_slip_is_flagged_with_the_fix():
    """A ratio threshold written as 90 instead of 90% is an error suggesting 90%."""
    _, _, issues = check_text(BASE + "  - {id: r, metric: rate, method: threshold, target: 90, weight: 100%}\n")
    slip = [i for i in issues if i.code == "percent_slip"]
    assert slip
    assert slip[0].suggestion == "did you mean 90%?"


def test_weights_written_as_points_get_a_hint():
    """Weights that add up to 100 (not 100%) are an error with a hint to use percents."""
    _, _, issues = check_text(
        BASE
        + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 60}\n"
        + "  - {id: s, metric: due, method: threshold, target: 1, weight: 40}\n"
    )
    weights = [i for i in issues if i.code == "weights_sum"]
    assert weights
    assert "10000%" in weights[0].message
    assert weights[0].suggestion is not None


def test_normalize_allows_any_weights():
    """normalize: true accepts weights that do not add up to 100%."""
    text = BASE.replace("kpis:\n", "normalize: true\nkpis:\n")
    assert codes(text + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 3}\n") == []


def test_linear_needs_a_floor_and_a_consistent_direction():
    """linear without floor, and a higher-is-better floor above target, are errors."""
    assert "missing_floor" in codes(BASE + "  - {id: r, metric: rate, method: linear, target: 90%, weight: 100%}\n")
    assert "contradiction" in codes(
        BASE + "  - {id: r, metric: rate, method: linear, target: 50%, floor: 90%, weight: 100%}\n"
    )


def test_unknown_gate_section_and_grade_are_reported():
    """Gates referring to an unknown section or grade are errors with suggestions."""
    text = (
        BASE
        + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 100%}\n"
        + "grades: [{grade: A, min: 90}, {grade: B}]\n"
        + "gates:\n  - {id: g, when: rate < 50%, force_grade: Z}\n  - {id: h, when: rate < 50%, zero_section: x}\n"
    )
    assert {"unknown_grade", "unknown_section"} <= set(codes(text))


def test_gate_needs_exactly_one_action():
    """A gate with two actions is a schema error."""
    text = BASE + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 100%}\n"
    text += "gates:\n  - {id: g, when: rate < 50%, cap_total: 60, force_grade: A}\n"
    assert "bad_value" in codes(text)


def test_chinese_titles_and_labels_load():
    """Titles and labels in Chinese are accepted as they are."""
    ruleset = parse_ruleset(
        BASE.replace("title: t", "title: 销售代表月度考核")
        + "  - {id: r, title: 战略客户续约率, metric: rate, method: threshold, target: 90%, weight: 100%}\n"
    )
    assert ruleset.spec.title == "销售代表月度考核"
    assert ruleset.scorecard.kpis[0].title == "战略客户续约率"


def test_unknown_timezone_is_reported():
    """An unknown IANA zone is an error at its location."""
    text = BASE.replace("title: t", "title: t\ntimezone: Mars/Olympus")
    assert "bad_timezone" in codes(text + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 100%}\n")


def test_zero_section_gate_cannot_read_the_total():
    """A zero_section gate whose condition reads total is an error (the total depends on it)."""
    text = BASE + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 100%}\n"
    text = text.replace("kpis:\n", "sections: {s: {weight: 100%}}\nkpis:\n").replace(
        "weight: 100%}\n", "weight: 100%, section: s}\n"
    )
    text += "gates:\n  - {id: g, when: total < 50, zero_section: s}\n"
    assert "bad_gate" in codes(text)


def test_a_ratio_target_above_100_percent_written_as_percent_is_meant():
    """target: 110% on a ratio is intended (no percent slip); target: 1.1 is flagged."""
    assert codes(BASE + "  - {id: r, metric: rate, method: attainment, target: 110%, cap: 120, weight: 100%}\n") == []
    assert "percent_slip" in codes(BASE + "  - {id: r, metric: rate, method: attainment, target: 1.1, weight: 100%}\n")


def test_a_share_of_two_counts_is_a_ratio_without_declaring_a_unit():
    """renewed / due (two counts) is recognised as a ratio: a target of 90 is a percent slip."""
    text = BASE.replace("rate: {formula: renewed / due, unit: ratio}", "rate: renewed / due")
    assert "percent_slip" in codes(text + "  - {id: r, metric: rate, method: threshold, target: 90, weight: 100%}\n")
    assert codes(text + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 100%}\n") == []


def test_an_unknown_key_does_not_hide_a_model_rule_error():
    """A gate with an unknown key and two actions reports both problems."""
    text = BASE + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 100%}\n"
    text += "gates:\n  - {id: g, when: rate < 50%, cap_total: 60, force_grade: A, colour: red}\n"
    found = codes(text)
    assert "unknown_key" in found
    assert "bad_value" in found


def test_gate_ids_must_be_unique():
    """Two gates with one id are an error at the second."""
    text = BASE + "  - {id: r, metric: rate, method: threshold, target: 90%, weight: 100%}\n"
    text += "gates:\n  - {id: g, when: rate < 50%, cap_total: 60}\n  - {id: g, when: rate < 20%, cap_total: 40}\n"
    assert "duplicate_id" in codes(text)


def test_weight_sums_do_not_depend_on_the_callers_decimal_context():
    """50.4% + 49.9% is refused under a 2-digit context too, and 31-digit weights parse under a trapped Inexact."""
    from decimal import Context, Inexact, localcontext

    kpi = "  - {id: kID, metric: rate, method: linear, floor: 0, target: 1, weight: W}\n"
    off = BASE + kpi.replace("ID", "1").replace("W", "50.4%") + kpi.replace("ID", "2").replace("W", "49.9%")
    with localcontext(Context(prec=2)):
        assert codes(off) == ["weights_sum"]
    long_ = "33.33333333333333333333333333333%", "66.66666666666666666666666666667%"
    fine = BASE + kpi.replace("ID", "1").replace("W", long_[0]) + kpi.replace("ID", "2").replace("W", long_[1])
    with localcontext(Context(prec=28, traps=[Inexact])):
        assert codes(fine) == []
