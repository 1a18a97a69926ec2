"""The streaming executor finds a totals row by the column sums of the whole input, not of one batch."""

import pytest

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

import polars as pl

from kpi_engine import evaluate, load_ruleset
from kpi_engine.errors import DataError
from kpi_engine.evaluation import streaming
from kpi_engine.evaluation._stream_totals import ColumnSums, checks_totals
from kpi_engine.evaluation.columnar import long_table

SALES = """ruleset: hr_sales
version: "1"
title: sales and conduct
subject: rep
period: month
inputs:
  sales: {type: money}
  target: {type: money}
  conduct: {type: score, min: 0, max: 100, required: false}
metrics: {attainment: {formula: sales / target, unit: ratio}}
kpis:
  - {id: a, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 50%}
  - {id: c, metric: conduct, method: expression, score: value, weight: 50%}
"""


@pytest.fixture
def sales():
    return load_ruleset(SALES)


def reps(n: int, start: int = 0) -> pl.DataFrame:
    """``n`` reps with varied whole sales and targets (no row is the sum of others by chance)."""
    rows = [
        {
            "subject": f"r{i:03d}",
            "period": "2026-03",
            "sales": str(90 + (i * 37) % 41),
            "target": str(100 + (i * 13) % 7),
            "conduct": str(60 + (i * 7) % 31),
        }
        for i in range(start, start + n)
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys(["subject", "period", "sales", "target", "conduct"], pl.Utf8))


def totals_row(frame: pl.DataFrame, subject: str = "east", period: str = "") -> pl.DataFrame:
    """The sums of ``frame``'s sales and targets (conduct blank) under a subject that is no totals label."""
    return pl.DataFrame(
        [
            {
                "subject": subject,
                "period": period,
                "sales": str(sum(int(x) for x in frame["sales"])),
                "target": str(sum(int(x) for x in frame["target"])),
                "conduct": None,
            }
        ],
        schema=frame.schema,
    )


def streamed(ruleset, batches, **options) -> pl.DataFrame:
    run = streaming.stream(ruleset, batches, **options)
    return pl.concat([long_table(a) for a, _ in run.parts()])


def test_the_scorecard_has_column_sums_to_judge(sales):
    assert checks_totals(sales.scorecard)
    assert not checks_totals(load_ruleset(SALES.replace("target: {type: money}", "target: {type: ratio}")).scorecard)


def test_a_totals_row_in_the_last_batch_is_refused(sales):
    """The 合计 row's addends are all in earlier batches (three reps each): refused as by one run."""
    people = reps(9)
    batches = [people.slice(0, 3), people.slice(3, 3), people.slice(6, 3), totals_row(people)]
    whole = pl.concat(batches)
    with pytest.raises(DataError) as one:
        evaluate(sales, whole, engine="columnar")
    assert {i.code for i in one.value.issues} == {"totals_row"}
    with pytest.raises(DataError) as got:
        streaming.stream(sales, batches, batch_rows=3)
    assert [i.code for i in got.value.issues] == ["totals_row"]
    assert got.value.issues[0].message == one.value.issues[0].message  # "... the sums of the other 9 rows of 2026-03"
    assert "other 9 rows" in got.value.issues[0].message


def test_a_totals_row_in_the_last_batch_is_skipped_with_the_one_run_warning(sales):
    people = reps(9)
    batches = [people.slice(0, 3), people.slice(3, 3), people.slice(6, 3), totals_row(people, period="2026-03")]
    whole = pl.concat(batches)
    one = evaluate(sales, whole, engine="columnar", totals="skip")
    run = streaming.stream(sales, batches, batch_rows=3, totals="skip")
    assert [(w.code, w.message) for w in run.warnings] == [(w.code, w.message) for w in one.warnings]
    assert [w.code for w in run.warnings] == ["totals_row"]
    got = pl.concat([long_table(a) for a, _ in run.parts()])
    assert got.equals(long_table(one))
    assert "east" not in got["subject"].to_list()


def test_a_row_of_its_batch_sums_only_is_a_subject(sales):
    """``big`` holds the sums of the two other rows of its batch, not of the input: appraised, as by one run."""
    head = reps(2)
    big = totals_row(head, subject="big", period="2026-03")
    batches = [pl.concat([head, big]), reps(4, start=10)]
    whole = pl.concat(batches)
    expected = long_table(evaluate(sales, whole, engine="columnar"))
    assert "big" in expected["subject"].to_list()
    got = streamed(sales, batches, batch_rows=3)
    assert got.equals(expected)
    # Judged within its batch (the executor before the whole-input sums), the row is refused.
    streaming.WHOLE_INPUT_TOTALS = False
    try:
        with pytest.raises(DataError) as local:
            streamed(sales, batches, batch_rows=3)
    finally:
        streaming.WHOLE_INPUT_TOTALS = True
    assert [i.code for i in local.value.issues] == ["totals_row"]


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 5, 8, 100])
def test_every_batch_size_skips_the_same_totals_row(sales, batch_rows):
    """``evaluate(engine="streaming")`` partitions by subject: the totals row lands anywhere, found alike."""
    people = reps(12)
    whole = pl.concat([people.slice(0, 5), totals_row(people), people.slice(5)])
    one = evaluate(sales, whole, engine="columnar", totals="skip")
    got = streaming.appraise(sales, whole, totals="skip", batch_rows=batch_rows)
    assert list(got.results) == list(one.results)
    assert [(w.code, w.message) for w in got.warnings] == [(w.code, w.message) for w in one.warnings]
    with pytest.raises(DataError) as refused:
        streaming.appraise(sales, whole, batch_rows=batch_rows)
    assert [i.code for i in refused.value.issues] == ["totals_row"]


def test_the_sums_hold_a_few_numbers_per_period_and_column(sales):
    """Memory is bounded by periods x columns: 3000 rows in 30 batches leave one period's three sums."""
    sums = ColumnSums(sales.scorecard)
    people = reps(3000)
    for k in range(30):
        sums.add(people.slice(k * 100, 100))
    sums.finish()
    assert list(sums.sizes) == list(sums.groups)
    assert len(sums.groups) == 1
    (group,) = sums.groups.values()
    assert sorted(group) == ["conduct", "sales", "target"]
    assert group["sales"].total == sum(int(x) for x in people["sales"])
    assert group["conduct"].count == 3000
