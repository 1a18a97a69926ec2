"""No silent wrong grade: each input that used to give a wrong grade with exit 0 now stops or warns (issue 7)."""

from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine import DataError, evaluate, load_ruleset, parse_ruleset, read_table
from kpi_engine.io.loading import read_csv_text

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "rulesets/sales_rep_monthly.yaml"
RECORDS = ROOT / "examples/sales_rep_monthly/records.csv"
MEMBERS = ROOT / "examples/sales_rep_monthly/members.csv"


@pytest.fixture(scope="module")
def s1():
    return load_ruleset(S1)


def s1_rows():
    return RECORDS.read_text(encoding="utf-8").splitlines()


def test_percent_sign_in_a_score_cell_reads_as_points(s1):
    """A 0–100 score written 95% is 95 points, as Excel's 0% format shows it (it was read as 0.95: A became D)."""
    lines = s1_rows()
    plain = evaluate(s1, read_csv_text("\n".join(lines) + "\n", "r.csv"))
    lines[5] = lines[5].replace(",0,95,8,8,", ",0,95%,8,8,")  # zhang_wei's March conduct_score
    assert "95%" in lines[5]
    shown = evaluate(s1, read_csv_text("\n".join(lines) + "\n", "r.csv"))
    assert shown.result("zhang_wei").kpi("conduct").value == Decimal(95)
    assert shown.to_json() == plain.to_json()


def test_percent_sign_in_a_count_cell_is_an_error_at_the_cell(s1):
    """A percent in a count column has no reading: refused at its cell with the plain number as the hint."""
    lines = s1_rows()
    lines[5] = lines[5].replace(",0,95,8,8,", ",0,95,8%,8,")  # zhang_wei's March plans_due
    with pytest.raises(DataError) as info:
        evaluate(s1, read_csv_text("\n".join(lines) + "\n", "r.csv"))
    (issue,) = info.value.issues
    assert (issue.code, str(issue.location)) == ("bad_value", "r.csv:6:12")
    assert "only ratio and score inputs take percents" in issue.message
    assert "written 8" in issue.message


RATIO = parse_ruleset("""\
ruleset: renewal
version: "1"
title: renewal
inputs:
  renewal_rate: {type: ratio}
kpis:
  - {id: renewal, metric: renewal_rate, method: threshold, target: 90%, weight: 100%}
""")


def test_ratio_cell_above_one_without_a_max_is_refused_with_a_percent_hint():
    """A ratio cell 92 (meaning 92 %) is refused with 'did you mean 92%?' (it was 9,200 % and passed ≥ 90 %)."""
    with pytest.raises(DataError) as info:
        evaluate(RATIO, read_csv_text("subject,period,renewal_rate\na,2026-03,92\n", "r.csv"))
    (issue,) = info.value.issues
    assert (issue.code, str(issue.location), issue.suggestion) == ("suspect_ratio", "r.csv:2:3", "did you mean 92%?")


def test_ratio_written_as_percent_or_as_a_fraction_is_read_exactly():
    """92% and 0.92 are both exactly 0.92; a declared max lets a plain ratio above 1 through."""
    table = read_csv_text("subject,period,renewal_rate\na,2026-03,92%\nb,2026-03,0.92\n", "r.csv")
    appraisal = evaluate(RATIO, table)
    assert {r.kpi("renewal").value for r in appraisal.results} == {Decimal("0.92")}
    with_max = parse_ruleset(
        "ruleset: r\nversion: '1'\ntitle: r\ninputs: {renewal_rate: {type: ratio, max: 2}}\n"
        "kpis: [{id: renewal, metric: renewal_rate, method: threshold, target: 90%, weight: 100%}]\n"
    )
    assert (
        evaluate(with_max, read_csv_text("subject,period,renewal_rate\na,2026-03,1.2\n", "r.csv")).results[0].total
        == 100
    )


def test_a_stray_row_dated_next_month_does_not_move_the_run(s1):
    """One row dated next month is an error listing the periods and the reps that would vanish."""
    lines = s1_rows()
    stray = lines[5].replace("2026-03", "2026-04")
    with pytest.raises(DataError) as info:
        evaluate(s1, read_csv_text("\n".join([*lines, stray]) + "\n", "r.csv"))
    message = str(info.value)
    assert [(i.code, str(i.location)) for i in info.value.issues] == [("stray_period", "r.csv:10:2")]
    assert "2026-02, 2026-03, 2026-04" in message
    assert "3 of the 4 rep(s) of 2026-03 have no data" in message
    assert "li_na" in message
    assert "--period" in message


def test_earlier_periods_remain_history_for_growth(s1):
    """Without --period, February rows are history: March is appraised and growth reads February."""
    appraisal = evaluate(s1, read_table(RECORDS))
    assert appraisal.period == "2026-03"
    assert appraisal.result("zhang_wei").kpi("growth").status == "scored"


def test_the_stray_row_is_fine_when_the_period_is_named(s1):
    """With period given, the run appraises that period whatever else the file holds."""
    lines = s1_rows()
    stray = lines[5].replace("2026-03", "2026-04")
    appraisal = evaluate(s1, read_csv_text("\n".join([*lines, stray]) + "\n", "r.csv"), period="2026-03")
    assert len(appraisal.results) == 4


def test_several_periods_without_history_need_a_period():
    """A ruleset that reads no history refuses to guess among several periods."""
    table = read_csv_text("subject,period,renewal_rate\na,2026-03,90%\na,2026-04,91%\n", "r.csv")
    with pytest.raises(DataError, match=r"2 periods \(2026-03, 2026-04\) and the ruleset reads no history"):
        evaluate(RATIO, table)
    assert evaluate(RATIO, table, period="2026-03").results[0].kpi("renewal").value == Decimal("0.9")


def test_roster_member_without_a_record_is_listed_as_a_warning(s1):
    """A rep on the March roster with no March record (but an earlier one) is listed in Appraisal.warnings."""
    members = MEMBERS.read_text(encoding="utf-8") + "sun_li,team_east,2026-03\n"
    rows = RECORDS.read_text(encoding="utf-8").splitlines()
    earlier = next(r for r in rows if r.startswith("li_na,2026-02")).replace("li_na", "sun_li", 1)
    records = read_csv_text("\n".join([*rows, earlier]) + "\n", "records.csv")
    appraisal = evaluate(s1, records, members=read_csv_text(members, "members.csv"), period="2026-03")
    (warning,) = appraisal.warnings
    assert warning.code == "no_record"
    assert warning.severity == "warning"
    assert "'sun_li' is a member of 'team_east' in 2026-03 but has no record" in warning.message
    assert "sun_li" not in [r.subject for r in appraisal.results]
    import json

    assert json.loads(appraisal.to_json())["warnings"][0]["code"] == "no_record"  # kept in the record of the run
    assert "warnings" not in json.loads(evaluate(s1, read_table(RECORDS)).to_json())


def test_roster_member_without_a_record_is_an_error_in_a_strict_run():
    """A strict run refuses a roster member without a record."""
    rs = parse_ruleset(
        "ruleset: r\nversion: '1'\ntitle: r\ninputs: {calls: {type: count}}\n"
        "kpis: [{id: c, metric: calls, method: linear, floor: 0, target: 10, weight: 100%}]\n"
    )
    members = read_csv_text("member,parent,period\na,t,2026-03\nb,t,2026-03\n", "m.csv")
    records = read_csv_text("subject,period,calls\na,2026-03,5\nb,2026-02,4\n", "r.csv")
    with pytest.raises(DataError, match="'b' is a member of 't'"):
        evaluate(rs, records, members=members, strict=True, period="2026-03")


def test_roster_member_with_no_record_in_any_period_is_an_error():
    """A member with no record in any period and no members is most likely a misspelt id: an error, not a warning."""
    rs = parse_ruleset(
        "ruleset: r\nversion: '1'\ntitle: r\ninputs: {calls: {type: count}}\n"
        "kpis: [{id: c, metric: calls, method: linear, floor: 0, target: 10, weight: 100%}]\n"
    )
    members = read_csv_text("member,parent,period\nalice,t,2026-03\nalcie,t,2026-03\n", "m.csv")
    with pytest.raises(DataError, match="no record in any period") as info:
        evaluate(rs, read_csv_text("subject,period,calls\nalice,2026-03,5\n", "r.csv"), members=members)
    assert info.value.issues[0].code == "unknown_member"
    assert "alice" in (info.value.issues[0].suggestion or "")
