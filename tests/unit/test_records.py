import pytest

from kpi_engine import DataError, evaluate, parse_ruleset
from kpi_engine.io.loading import read_csv_text

RULESET = parse_ruleset("""\
ruleset: t
version: "1"
title: t
inputs:
  calls: {type: count}
  sales: {type: money, min: 0}
  rate: {type: ratio, max: 1, required: false}
kpis:
  - {id: c, metric: calls, method: linear, floor: 0, target: 10, weight: 100%}
""")


def errors(csv_text):
    with pytest.raises(DataError) as info:
        evaluate(RULESET, read_csv_text(csv_text, "r.csv"))
    return [(i.code, str(i.location)) for i in info.value.issues]


def test_negative_count_names_file_row_and_column():
    """A negative count is an error at r.csv:row:col."""
    assert errors("subject,period,calls,sales\na,2026-03,-1,5\n") == [("bad_value", "r.csv:2:3")]


def test_nan_and_float_words_are_rejected():
    """NaN, inf and non-numbers in numeric columns are errors, not silently dropped."""
    found = errors("subject,period,calls,sales\na,2026-03,NaN,5\nb,2026-03,1,inf\n")
    assert found == [("bad_value", "r.csv:2:3"), ("bad_value", "r.csv:3:4")]


def test_fractional_count_and_out_of_bounds_values_are_rejected():
    """A count of 1.5 and a ratio above its max are errors."""
    found = errors("subject,period,calls,sales,rate\na,2026-03,1.5,5,\nb,2026-03,1,5,120%\n")
    assert [c for c, _ in found] == ["bad_value", "out_of_bounds"]


def test_duplicate_subject_period_is_an_error():
    """A second row for the same subject and period is reported with the first one's location."""
    with pytest.raises(DataError) as info:
        evaluate(RULESET, read_csv_text("subject,period,calls,sales\na,2026-03,1,5\na,2026-03,2,6\n", "r.csv"))
    issue = info.value.issues[0]
    assert issue.code == "duplicate_row"
    assert "r.csv:2" in issue.message


def test_unknown_column_suggests_the_input():
    """An unknown column is an error with a did-you-mean."""
    with pytest.raises(DataError) as info:
        evaluate(RULESET, read_csv_text("subject,period,calls,sale\na,2026-03,1,5\n", "r.csv"))
    unknown = [i for i in info.value.issues if i.code == "unknown_column"]
    assert unknown[0].suggestion == "did you mean 'sales'?"


def test_missing_required_input_is_reported_for_the_subject():
    """A required input that is empty for an appraised subject is an error naming it."""
    found = errors("subject,period,calls,sales\na,2026-03,1,\n")
    assert found == [("missing_field", "r.csv:2:4")]


def test_bad_period_is_an_error():
    """A period that is not of the ruleset's kind is an error at its cell."""
    assert errors("subject,period,calls,sales\na,2026-Q1,1,5\n") == [("bad_period", "r.csv:2:2")]


def test_every_bad_row_is_reported_at_once():
    """Several bad rows give one error listing all of them."""
    found = errors("subject,period,calls,sales\na,2026-03,-1,5\nb,2026-03,x,5\nc,2026-13,1,5\n")
    assert len(found) == 3


def test_python_dicts_and_objects_are_accepted():
    """Records may be dicts or plain objects; numbers as int, Decimal or text."""
    from decimal import Decimal

    class Row:
        def __init__(self):
            self.subject, self.period, self.calls, self.sales = "b", "2026-03", 10, Decimal(1)

    appraisal = evaluate(RULESET, [{"subject": "a", "period": "2026-03", "calls": "5", "sales": 3}, Row()])
    assert [r.subject for r in appraisal.results] == ["b", "a"]


def test_binary_floats_that_are_not_short_decimals_are_refused():
    """A float whose shortest repr needs 16+ digits (0.1 + 0.2) is refused, located at its row."""
    with pytest.raises(DataError, match="binary float") as info:
        evaluate(RULESET, [{"subject": "a", "period": "2026-03", "calls": 1, "sales": 0.1 + 0.2}])
    assert str(info.value.issues[0].location) == "records:1"


def test_short_decimal_floats_are_read_by_their_shortest_repr():
    """A float 0.1 is read as exactly 0.1 (its shortest repr), never as its binary value."""
    from decimal import Decimal

    appraisal = evaluate(RULESET, [{"subject": "a", "period": "2026-03", "calls": 10.0, "sales": 0.1}])
    assert appraisal.results[0].kpi("c").value == Decimal(10)
    assert appraisal.results[0].kpi("c").explanation["inputs"]["calls"]["value"] == 10


def test_json_nan_is_rejected(tmp_path):
    """JSON records with NaN are refused at the door."""
    from kpi_engine import read_table

    path = tmp_path / "r.json"
    path.write_text('[{"subject": "a", "period": "2026-03", "calls": NaN, "sales": 1}]', encoding="utf-8")
    with pytest.raises(DataError, match="not a number"):
        read_table(path)


def test_a_file_name_given_as_records_is_refused_clearly(tmp_path):
    """A path passed where rows are expected names read_table instead of failing per character."""
    with pytest.raises(DataError, match=r"is a file name, not rows; read it with read_table\(path\)"):
        evaluate(RULESET, "records.parquet")
    with pytest.raises(DataError, match="is a file name"):
        evaluate(RULESET, tmp_path / "records.csv")


def test_decimal_cells_are_validated_as_their_text_is():
    """Typed Decimal cells give the text cells' appraisal, and the text cells' issues when bad."""
    from decimal import Decimal

    good = [("4", "12.50", "0.75"), ("0", "0E-5", "1"), ("10", "-0", "0.0001")]
    for calls, sales, rate in good:
        text = evaluate(RULESET, [{"subject": "a", "period": "2026-03", "calls": calls, "sales": sales, "rate": rate}])
        typed = evaluate(
            RULESET,
            [
                {
                    "subject": "a",
                    "period": "2026-03",
                    "calls": Decimal(calls),
                    "sales": Decimal(sales),
                    "rate": Decimal(rate),
                }
            ],
        )
        assert typed.to_json(traces=True) == text.to_json(traces=True)
    bad = [("1.5", "5", "1"), ("-1", "5", "1"), ("1", "NaN", "1"), ("1", "-Infinity", "1"), ("1", "1E+200", "1"),
           ("1", "-2", "1"), ("1", "5", "1.5"), ("1", "sNaN", "1")]  # fmt: skip
    for calls, sales, rate in bad:
        found = []
        for cell in (str, Decimal):
            row = {"subject": "a", "period": "2026-03", "calls": cell(calls), "sales": cell(sales), "rate": cell(rate)}
            with pytest.raises(DataError) as info:
                evaluate(RULESET, [row])
            found.append([(i.code, i.path) for i in info.value.issues])
        assert found[0] == found[1], (calls, sales, rate)
        assert found[1]
