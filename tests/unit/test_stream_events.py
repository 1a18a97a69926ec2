"""Event logs on the streaming executor: indexed once by rep, one run's figures and errors, through the CLI."""

import random

import pytest

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

import polars as pl

from kpi_engine import evaluate, load_ruleset
from kpi_engine.errors import DataError
from kpi_engine.evaluation import engine as engine_module
from kpi_engine.evaluation import streaming
from kpi_engine.evaluation.columnar import long_table

AGGREGATES = """ruleset: sev
version: "1"
title: streaming events by rep
subject: rep
period: month
event_fields: {amount: money}
inputs:
  m1: {type: ratio, min: 0, max: 2}
metrics:
  visits: {aggregate: {fn: count, where: "type == 'visit'"}}
  sold: {aggregate: {fn: sum, field: amount, where: "type == 'deal'"}}
kpis:
  - {id: k1, metric: m1, method: linear, floor: 0, target: 1, weight: 40%}
  - {id: k2, metric: visits, method: linear, floor: 0, target: 3, weight: 30%}
  - {id: k3, metric: sold, method: linear, floor: 0, target: 500, weight: 30%}
grades:
  - {grade: A, min: 80}
  - {grade: B}
rounding: {places: 1, mode: half_even}
"""
WINDOW = AGGREGATES.replace(
    "kpis:",
    "  answered: {window: {trigger: type == 'complaint', answer: type == 'answer', match: [customer], "
    "within: {hours: 24}}}\nkpis:",
).replace("weight: 30%}\n  - {id: k3", "weight: 20%}\n  - {id: k4, metric: answered, method: linear, floor: 0, "
          "target: 100%, weight: 10%}\n  - {id: k3")  # fmt: skip
TIMES = ["2026-02-27T09:00:00+08:00", "2026-03-01T10:00:00+08:00", "2026-03-02T09:30:00+08:00",
         "2026-03-31T20:00:00+08:00"]  # fmt: skip


def data(n: int, events: int, seed: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    rnd = random.Random(seed)  # noqa: S311 - reproducible test data
    records = pl.DataFrame(
        [{"subject": f"r{i:03d}", "period": "2026-03", "m1": rnd.choice(["0", "0.5", "1", "2"])} for i in range(n)]
    )
    log = pl.DataFrame(
        [
            {
                "event_id": f"e{j}",
                "type": rnd.choice(["visit", "deal", "complaint", "answer"]),
                "at": rnd.choice(TIMES),
                "rep": f" r{rnd.randrange(n):03d}" if j % 7 == 0 else f"r{rnd.randrange(n):03d}",  # stripped as one run
                "customer": f"c{rnd.randrange(6)}",
                "amount": str(rnd.randrange(300)),
            }
            for j in range(events)
        ]
    )
    return records, log


@pytest.fixture
def spy(monkeypatch):
    """The engines each batch's run asked for, and the events it was given."""
    calls: list[tuple[str, int]] = []
    real = engine_module.evaluate

    def evaluate_spy(*args, **kwargs):
        events = kwargs.get("events")
        size = -1 if events is None else getattr(getattr(events, "data", events), "height", -1)
        calls.append((kwargs.get("engine"), size))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_module, "evaluate", evaluate_spy)
    return calls


@pytest.mark.parametrize("card", [AGGREGATES, WINDOW], ids=["aggregates", "window"])
@pytest.mark.parametrize("batch_rows", [1, 3, 7, 50])
def test_many_batches_give_the_columnar_and_row_appraisal(card, batch_rows, spy):
    ruleset = load_ruleset(card)
    records, log = data(40, 160)
    row = engine_module.evaluate(ruleset, records.to_dicts(), events=log.to_dicts(), engine="row")
    columnar = long_table(engine_module.evaluate(ruleset, records, events=log, engine="columnar"))
    spy.clear()
    got = streaming.appraise(ruleset, records, events=log, batch_rows=batch_rows)
    assert list(got.results) == list(row.results)
    assert long_table(got).equals(columnar)
    assert {e for e, _ in spy} == {"columnar"}  # no batch fell back to the row executor
    sizes = [size for _, size in spy]
    if card == WINDOW:  # a window pairs a rep's trigger with anyone's answer: the whole log each time
        assert set(sizes) == {log.height}
    else:  # the first batch reads the whole log (its errors, once); the others their subjects' events:
        # each event is read again at most twice (its batch in pass 1, its output range in pass 4)
        assert sizes[0] == log.height
        assert len(sizes) > 1
        assert sum(sizes[1:]) <= 2 * log.height


def test_the_index_off_gives_the_same_appraisal(monkeypatch):
    ruleset = load_ruleset(AGGREGATES)
    records, log = data(30, 90, seed=8)
    indexed = streaming.appraise(ruleset, records, events=log, batch_rows=4)
    monkeypatch.setattr(streaming, "INDEX_EVENTS", False)
    assert streaming.EventIndex.build(ruleset, log) is None
    whole = streaming.appraise(ruleset, records, events=log, batch_rows=4)
    assert list(indexed.results) == list(whole.results)


def test_the_index_keeps_log_order_and_strips_reps():
    ruleset = load_ruleset(AGGREGATES)
    records, log = data(10, 60, seed=3)
    index = streaming.EventIndex.build(ruleset, log)
    assert index is not None
    batch = records.filter(pl.col("subject").is_in(["r001", "r004"]))
    got = index.of(batch, ruleset.scorecard)
    expected = log.filter(pl.col("rep").str.strip_chars().is_in(["r001", "r004"]))
    assert got.equals(expected)
    assert index.of(records.head(0), ruleset.scorecard).height == 0


@pytest.mark.parametrize("batch_rows", [2, 5])
def test_an_unknown_rep_is_one_error_as_one_run_reports_it(batch_rows):
    ruleset = load_ruleset(AGGREGATES)
    records, log = data(20, 40)
    log = pl.concat(
        [
            log,
            log.head(1).with_columns(
                pl.lit("ghost").alias("rep"), pl.lit("x1").alias("event_id"), pl.lit(TIMES[2]).alias("at")
            ),
        ]
    )
    with pytest.raises(DataError) as one:
        evaluate(ruleset, records, events=log, engine="columnar")
    with pytest.raises(DataError) as got:
        streaming.appraise(ruleset, records, events=log, batch_rows=batch_rows)
    assert [i.code for i in got.value.issues] == [i.code for i in one.value.issues] == ["orphan_event"]
    assert str(got.value) == str(one.value)


def test_a_bad_event_of_a_late_batch_is_the_one_run_error():
    """The first batch reads the whole log: a bad timestamp of any rep is reported there, as one run does."""
    ruleset = load_ruleset(AGGREGATES)
    records, log = data(20, 40)
    log = log.with_columns(pl.when(pl.col("event_id") == "e39").then(pl.lit("not-a-time")).otherwise("at").alias("at"))
    with pytest.raises(DataError) as one:
        evaluate(ruleset, records, events=log, engine="columnar")
    with pytest.raises(DataError) as got:
        streaming.appraise(ruleset, records, events=log, batch_rows=3)
    assert [i.code for i in got.value.issues] == [i.code for i in one.value.issues]
    assert [i.message for i in got.value.issues] == [i.message for i in one.value.issues]


def _cli(tmp_path, argv, name):
    from kpi_engine.cli import main

    out = tmp_path / name
    assert main([*argv, "--out", str(out)]) == 0
    return out.read_bytes()


@pytest.mark.parametrize("card", [AGGREGATES, WINDOW], ids=["aggregates", "window"])
def test_kpi_evaluate_streams_with_an_event_log(tmp_path, monkeypatch, card):
    """``kpi evaluate --engine streaming --events``: several batches, the columnar engine's bytes."""
    from kpi_engine.io import batches

    monkeypatch.setattr(streaming, "DEFAULT_BATCH_ROWS", 8)
    monkeypatch.setattr(batches, "CSV_BLOCK_BYTES", 200)
    records, log = data(50, 200, seed=11)
    (tmp_path / "records.csv").write_text(records.write_csv(), encoding="utf-8")
    (tmp_path / "events.csv").write_text(log.write_csv(), encoding="utf-8")
    (tmp_path / "card.yaml").write_text(card, encoding="utf-8")
    argv = ["evaluate", str(tmp_path / "card.yaml"), "--records", str(tmp_path / "records.csv"),
            "--events", str(tmp_path / "events.csv"), "--format", "csv"]  # fmt: skip
    expected = _cli(tmp_path, [*argv, "--engine", "columnar"], "columnar.csv")
    assert _cli(tmp_path, [*argv, "--engine", "streaming"], "streaming.csv") == expected
    assert _cli(tmp_path, [*argv, "--engine", "row"], "row.csv") == expected


def test_kpi_evaluate_streams_one_event_log(tmp_path, capsys):
    from kpi_engine.cli import main

    records, log = data(5, 10)
    (tmp_path / "records.csv").write_text(records.write_csv(), encoding="utf-8")
    (tmp_path / "events.csv").write_text(log.write_csv(), encoding="utf-8")
    (tmp_path / "card.yaml").write_text(AGGREGATES, encoding="utf-8")
    argv = ["evaluate", str(tmp_path / "card.yaml"), "--records", str(tmp_path / "records.csv"), "--events",
            str(tmp_path / "events.csv"), str(tmp_path / "events.csv"), "--format", "csv", "--engine", "streaming"]  # fmt: skip
    assert main(argv) != 0
    assert "--engine streaming: it reads one --events file" in capsys.readouterr().err
