"""Event aggregation on the columnar kernel: validation hands bad events to the row path, which locates them."""

import pytest

from kpi_engine import KpiError, evaluate, parse_ruleset
from kpi_engine.evaluation.columnar._run import FallbackError, run_columnar

pl = pytest.importorskip("polars")
pytest.importorskip("numpy")

RULESET = parse_ruleset("""
ruleset: ev
version: "1"
title: events
subject: rep
period: month
inputs: {x: {type: number, required: false}}
event_fields: {amount: money, flag: bool}
metrics:
  visits: {aggregate: {fn: count, where: type == 'visit'}}
  big: {aggregate: {fn: sum, field: amount, where: amount > 1.5 and flag}}
  avg: {aggregate: {fn: mean, field: amount, where: not (type == 'call')}}
  who: {aggregate: {fn: count_distinct, field: customer}}
kpis:
  - {id: k1, metric: visits, method: expression, score: value, weight: 25%}
  - {id: k2, metric: big, method: expression, score: value, weight: 25%}
  - {id: k3, metric: avg, method: expression, score: value, weight: 25%}
  - {id: k4, metric: who, method: expression, score: value, weight: 25%}
""")
RECORDS = [{"subject": f"r{i}", "period": "2026-03", "x": "1"} for i in range(3)]
GOOD = {
    "event_id": ["e1", "e2", "e3", "e4"],
    "type": ["visit", "call", "visit", "deal"],
    "at": ["2026-03-01", "2026-03-02T10:00:00", "2026-03-31T23:00:00+08:00", "2026-02-27"],
    "rep": ["r0", "r1", "r0", "r2"],
    "customer": ["c1", "c2", None, "c1"],
    "amount": ["1", "2.50", None, "7"],
    "flag": ["yes", "true", "", "no"],
}


def _events(**changes):
    data = {k: list(v) for k, v in GOOD.items()}
    for column, (row, value) in changes.items():
        data[column][row] = value
    return pl.DataFrame(data, schema=dict.fromkeys(data, pl.Utf8))


def _error(engine, events):
    with pytest.raises(KpiError) as caught:
        evaluate(RULESET, RECORDS, events=events, engine=engine)
    return caught.value


@pytest.mark.parametrize(
    ("changes", "located"),
    [
        ({"type": (1, "  ")}, "events:3:2: type: 'type' is required"),
        ({"event_id": (2, None)}, "events:4:1: event_id: 'event_id' is required"),
        ({"rep": (0, "\x1c")}, "events:2:4: rep: 'rep' is required"),  # Python strips \x1c; Polars' default does not
        ({"event_id": (1, "e1")}, "events:3:1: event_id: event_id 'e1' repeats"),
        ({"event_id": (3, " e2 ")}, "events:5:1: event_id: event_id 'e2' repeats"),
        ({"amount": (1, "2,5")}, "events:3:6: amount:"),
        ({"amount": (0, "5%")}, "events:2:6: amount:"),
        ({"flag": (1, "maybe")}, "events:3:7: flag:"),
        ({"at": (0, "yesterday")}, "events:2:3: at:"),
        ({"rep": (2, "r9")}, "r9"),
    ],
)
def test_bad_events_are_reported_at_their_cell_by_both_engines(changes, located):
    """A blank required field, a repeated id, a bad number, bool or timestamp, an unknown rep: same message."""
    events = _events(**changes)
    with pytest.raises(FallbackError):
        run_columnar(RULESET, RECORDS, None, None, events, strict=False)
    row, col = _error("row", events), _error("columnar", events)
    assert str(col) == str(row)
    assert [i.code for i in col.issues] == [i.code for i in row.issues]
    assert located in str(col)


def _metrics(appraisal):
    """Each rep's KPI values: the four aggregates (``score: value``)."""
    return {r.subject: {k.id: k.value for k in r.kpis} for r in appraisal.results}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"rep": (1, " r1 "), "event_id": (0, " e1")},  # padded keys: stripped as the row path strips them
        {"customer": (0, "  "), "amount": (1, " 2.5 ")},  # a blank customer is not counted; padded numbers read
        {"amount": (1, "+.5"), "flag": (1, "Y")},
    ],
)
def test_the_kernel_itself_aggregates_valid_events_as_the_row_path(changes):
    """Valid events, also with padded keys and blanks, are aggregated by the kernel with the row path's values."""
    events = _events(**changes)
    col = run_columnar(RULESET, RECORDS, None, None, events, strict=False)
    assert _metrics(col) == _metrics(evaluate(RULESET, RECORDS, events=events, engine="row"))


def test_typed_columns_and_missing_fields_are_read_without_python_rows():
    """Integer ids, a Boolean flag column and an absent amount column give the row path's metrics."""
    events = pl.DataFrame(
        {
            "event_id": [1, 2, 3],
            "type": ["visit", "visit", "call"],
            "at": ["2026-03-01", "2026-03-02", "2026-03-03"],
            "rep": ["r0", "r1", "r1"],
            "flag": [True, None, False],
        }
    )
    col = run_columnar(RULESET, RECORDS, None, None, events, strict=False)
    assert _metrics(col) == _metrics(evaluate(RULESET, RECORDS, events=events, engine="row"))
    assert col.result("r1").kpi("k1").value == 1
    repeated = events.with_columns(pl.Series("event_id", [1, 2, 1]))
    assert str(_error("columnar", repeated)) == str(_error("row", repeated))


@pytest.mark.parametrize("as_rows", [False, True])
def test_text_with_spaces_around_it_is_read_by_the_row_path(as_rows):
    """' visit' is 'visit' in a frame (cells are stripped) but not in Python rows: the row path decides both."""
    events = _events(type=(0, " visit"), customer=(1, "c2 "))
    data = events.to_dicts() if as_rows else events
    with pytest.raises(FallbackError):
        run_columnar(RULESET, RECORDS, None, None, data, strict=False)
    row = evaluate(RULESET, RECORDS, events=data, engine="row")
    auto = evaluate(RULESET, RECORDS, events=data, engine="auto")
    assert _metrics(auto) == _metrics(row)
    assert row.result("r0").kpi("k1").value == (1 if as_rows else 2)
    # engine="columnar" does not run slowly on the row path: it refuses, naming the reason.
    with pytest.raises(KpiError, match=r"cannot run this input \(text with spaces around it\); use engine='row'"):
        evaluate(RULESET, RECORDS, events=data, engine="columnar")
