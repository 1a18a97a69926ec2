"""The streaming executor: the same appraisal batch by batch, global ranks, and its requirements refused clearly."""

import random
from pathlib import Path

import pytest

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

import polars as pl
import pyarrow as pa

from kpi_engine import evaluate, load_ruleset
from kpi_engine.errors import DataError, KpiError
from kpi_engine.evaluation import streaming
from kpi_engine.evaluation.columnar import evaluate_batches, long_table
from kpi_engine.io.spill import DirectorySpill
from kpi_engine.plan import EXECUTORS, lower

ROOT = Path(__file__).resolve().parents[2]
W1 = """ruleset: w1s
version: "1"
title: W1 streaming
subject: rep
period: month
inputs:
  m1: {type: ratio, min: 0, max: 2}
  m2: {type: ratio, min: 0, max: 2, required: false}
kpis:
  - {id: k1, metric: m1, method: linear, floor: 0, target: 1, cap: 120, weight: 60%}
  - {id: k2, metric: m2, method: linear, floor: 0, target: 1, weight: 40%}
grades:
  - {grade: A, min: 90}
  - {grade: B}
rounding: {places: 2, mode: half_up}
"""


def w1_frame(n: int, seed: int = 3) -> pl.DataFrame:
    """``n`` reps with few distinct values: many ties in the totals, some N/A."""
    rnd = random.Random(seed)  # noqa: S311 - reproducible test data
    values = ["0", "0.5", "1", "1.2", "0.3333"]
    return pl.DataFrame(
        {
            "subject": [f"r{i:04d}" for i in range(n)],
            "period": ["2026-03"] * n,
            "m1": [rnd.choice(values) for _ in range(n)],
            "m2": [None if rnd.random() < 0.2 else rnd.choice(values) for _ in range(n)],
        }
    )


@pytest.fixture
def w1():
    return load_ruleset(W1)


def streamed_table(ruleset, batches, **options):
    run = streaming.stream(ruleset, batches, **options)
    return pl.concat([long_table(a) for a, _ in run.parts()])


EVENTS = W1.replace(
    "kpis:", "event_fields: {amount: money}\nmetrics:\n  visits: {aggregate: {fn: count}}\nkpis:"
).replace("metric: m2,", "metric: visits,")


def test_streaming_is_an_executor_of_the_plan(w1):
    """``streaming`` is in ``EXECUTORS``; rep and team plans and event metrics run on it."""
    assert "streaming" in EXECUTORS
    assert lower(w1.scorecard).support("streaming") is None
    team = load_ruleset(ROOT / "rulesets" / "sales_department.yaml")
    assert lower(team.scorecard).support("streaming") is None
    assert lower(load_ruleset(EVENTS).scorecard).support("streaming") is None


@pytest.mark.parametrize("batch_rows", [1, 4, 33, 10_000])
def test_every_batch_size_gives_the_columnar_table(w1, batch_rows):
    """Shuffled rows in batches of any size: the long table of one columnar run, ranks included."""
    frame = w1_frame(90)
    expected = long_table(evaluate(w1, frame, period="2026-03", engine="columnar"))
    assert expected["rank"].n_unique() < 90  # ties in the totals
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=batch_rows)
    got = streamed_table(w1, shuffled.to_arrow().to_batches(max_chunksize=7), batch_rows=batch_rows)
    assert got.equals(expected)


def test_evaluate_with_the_streaming_engine_equals_columnar_and_row(w1):
    frame = w1_frame(50)
    row = evaluate(w1, frame.to_dicts(), period="2026-03", engine="row")
    got = evaluate(w1, frame, period="2026-03", engine="streaming")
    assert list(got.results) == list(row.results)
    assert evaluate(w1, frame.to_dicts(), engine="streaming").results == row.results


def test_evaluate_batches_streams_record_batches(w1):
    """The reader yields several record batches (one part per rank range) that make the whole table."""
    frame = w1_frame(60)
    reader = evaluate_batches(w1, iter(frame.to_arrow().to_batches(max_chunksize=10)), batch_rows=20)
    pieces = list(reader)
    assert len(pieces) >= 3
    table = pa.Table.from_batches(pieces, schema=reader.schema)
    expected = long_table(evaluate(w1, frame, engine="columnar"))
    assert pl.from_arrow(table).equals(expected)


def test_the_spill_directory_is_removed(w1, tmp_path):
    frame = w1_frame(30)
    run = streaming.stream(w1, [frame], batch_rows=8, spill=DirectorySpill(tmp_path))
    spilled = next(tmp_path.iterdir())
    assert any(spilled.iterdir())  # the ranges wait on disk
    parts = run.parts()
    next(parts)
    parts.close()  # the consumer stops early
    assert not any(tmp_path.iterdir())
    with pytest.raises(KpiError, match="one record batch"):
        streaming.stream(w1, [frame, frame.head(3)], spill=DirectorySpill(tmp_path), batch_rows=10)
    assert not any(tmp_path.iterdir())  # an error removes it too


def test_an_appraised_subject_in_two_batches_is_refused(w1):
    frame = w1_frame(20)
    with pytest.raises(KpiError, match=r"each appraised subject in one record batch: 'r0003' in batches 1, 2"):
        streamed_table(w1, [frame.head(10), frame.slice(3, 1)], batch_rows=10)


def s1_frame(reps: int) -> pl.DataFrame:
    """S1 records of two months, as bench/memory.py makes them (the ruleset reads the earlier month)."""
    rnd = random.Random(5)  # noqa: S311
    rows = [
        {
            "subject": f"r{i // 2:04d}", "period": "2026-02" if i % 2 == 0 else "2026-03",
            "sales_target": "100000", "sales_actual": str(rnd.randrange(30000, 130000)),
            "weekly_orders": str(rnd.randrange(0, 10)), "new_customers": str(rnd.randrange(0, 7)),
            "visits_existing": str(rnd.randrange(0, 25)), "phone_calls": str(rnd.randrange(0, 150)),
            "lost_customers": str(rnd.randrange(0, 6)), "conduct_score": str(rnd.randrange(50, 100)),
            "plans_due": "8", "plans_done": str(rnd.randrange(4, 9)), "resource_requests": "10",
            "resource_replies": str(rnd.randrange(5, 11)), "lead_registrations": "5",
            "timely_follow_ups": str(rnd.randrange(0, 6)),
        }
        for i in range(reps * 2)
    ]  # fmt: skip
    return pl.DataFrame(rows)


def test_history_needs_a_subjects_rows_together():
    """S1 reads last month: grouped by subject it streams exactly; a subject split across batches is refused."""
    s1 = load_ruleset(ROOT / "rulesets" / "sales_rep_monthly.yaml")
    assert s1.scorecard.reads_history
    frame = s1_frame(40)
    expected = long_table(evaluate(s1, frame, engine="columnar"))
    got = streamed_table(s1, frame.to_arrow().to_batches(max_chunksize=10), batch_rows=10)
    assert got.equals(expected)
    by_period = frame.sort("period")  # February first: every subject's months in two batches
    with pytest.raises(KpiError, match="every record of a subject in one record batch"):
        streamed_table(s1, by_period.to_arrow().to_batches(max_chunksize=40), batch_rows=40, period="2026-03")
    assert evaluate(s1, by_period, engine="streaming").results == evaluate(s1, frame, engine="row").results


def test_batches_that_choose_different_periods_are_refused(w1):
    frame = w1_frame(10)
    later = w1_frame(10, seed=4).with_columns(pl.col("subject") + "x", pl.lit("2026-04").alias("period"))
    with pytest.raises(DataError, match=r"different periods \(2026-03 \(batch 1\), 2026-04 \(batch 2\)\)"):
        streamed_table(w1, [frame, later], batch_rows=10)
    # with the period given, the April rows are other periods' records, as in one run
    got = streamed_table(w1, [frame, later], batch_rows=10, period="2026-03")
    assert got.equals(long_table(evaluate(w1, frame, period="2026-03", engine="columnar")))


def test_a_bad_cell_names_its_batch(w1):
    frame = w1_frame(20).with_columns(
        pl.when(pl.int_range(pl.len()) == 14).then(pl.lit("x")).otherwise("m1").alias("m1")
    )
    with pytest.raises(DataError, match=r"m1.*in record batch 2: records 11–20") as info:
        streamed_table(w1, frame.to_arrow().to_batches(max_chunksize=10), batch_rows=10)
    assert ":6:" in str(info.value)  # row 5 of its batch, after the header


def _visits(reps):
    return [
        {"event_id": f"e{i}", "type": "visit", "at": "2026-03-02T10:00:00+08:00", "rep": r} for i, r in enumerate(reps)
    ]


def test_events_stream_with_their_batches_subjects():
    """The log is given to every batch: each rep counts its own visits, none is an orphan elsewhere."""
    card = load_ruleset(EVENTS)
    frame = w1_frame(30)
    reps = frame["subject"].unique().sort().to_list()
    events = _visits([*reps[:10], *reps[:3], reps[-1]])
    expected = long_table(evaluate(card, frame, events=events, period="2026-03", engine="columnar"))
    assert streamed_table(card, frame.to_arrow().to_batches(max_chunksize=4), batch_rows=4, events=events).equals(
        expected
    )
    got = evaluate(card, frame, events=events, engine="streaming")
    assert list(got.results) == list(evaluate(card, frame.to_dicts(), events=events, engine="row").results)


def test_an_event_of_a_rep_in_no_batch_is_one_orphan_error():
    """The owners are checked against every batch's subjects once: the one run's orphan_event error."""
    card = load_ruleset(EVENTS)
    frame = w1_frame(12)
    events = _visits([frame["subject"][0], "nobody"])
    with pytest.raises(DataError) as one:
        evaluate(card, frame, events=events, period="2026-03", engine="columnar")
    with pytest.raises(DataError) as streamed:
        streamed_table(card, frame.to_arrow().to_batches(max_chunksize=3), batch_rows=3, events=events)
    assert [i.code for i in streamed.value.issues] == [i.code for i in one.value.issues] == ["orphan_event"]
    assert str(streamed.value) == str(one.value)


def test_a_department_card_streams_by_membership_tree():
    """S4 as shipped: reps' records in any batches, the department appraisal of one run."""
    from kpi_engine.conformance import load_cases

    case = next(c for c in load_cases(ROOT / "tests" / "conformance") if c.full_id.startswith("shipped/s4_department"))
    s4 = load_ruleset(ROOT / "rulesets" / "sales_department.yaml")
    records = pl.DataFrame(list(case.inputs.records), infer_schema_length=None)
    members = list(case.inputs.members)
    whole = evaluate(s4, records.to_dicts(), members=members, period=case.inputs.period, engine="columnar")
    batches = records.reverse().to_arrow().to_batches(max_chunksize=2)
    got = evaluate_batches(s4, batches, members=members, period=case.inputs.period, batch_rows=2)
    assert pl.from_arrow(got.read_all()).equals(long_table(whole))


# --- kpi evaluate --engine streaming -----------------------------------------------------------------


def _cli(tmp_path, argv, name):
    from kpi_engine.cli import main

    out = tmp_path / name
    assert main([*argv, "--out", str(out)]) == 0
    return out.read_bytes()


@pytest.mark.parametrize(("fmt", "layout"), [("csv", "long"), ("csv", "wide"), ("jsonl", "long")])
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_kpi_evaluate_streams_the_same_bytes(tmp_path, monkeypatch, fmt, layout, suffix):
    """Several batches and rank ranges: the same file as the columnar engine writes."""
    from kpi_engine.io import batches

    monkeypatch.setattr(streaming, "DEFAULT_BATCH_ROWS", 16)
    monkeypatch.setattr(batches, "CSV_BLOCK_BYTES", 400)
    frame = w1_frame(70).with_columns(pl.format("Name {}", pl.col("subject")).alias("name"))
    data = tmp_path / f"records.{suffix}"
    if suffix == "csv":
        frame.write_csv(data)
    else:
        frame.write_parquet(data, row_group_size=9)
    rules = tmp_path / "w1.yaml"
    rules.write_text(W1, encoding="utf-8")
    argv = ["evaluate", str(rules), "--records", str(data), "--format", fmt, "--layout", layout]
    expected = _cli(tmp_path, [*argv, "--engine", "columnar"], "columnar.out")
    got = _cli(tmp_path, [*argv, "--engine", "streaming"], "streaming.out")
    assert got == expected


def test_kpi_evaluate_refuses_to_stream_what_it_cannot(tmp_path, capsys):
    from kpi_engine.cli import main

    data = tmp_path / "records.csv"
    w1_frame(5).write_csv(data)
    rules = tmp_path / "w1.yaml"
    rules.write_text(W1, encoding="utf-8")
    assert main(["evaluate", str(rules), "--records", str(data), "--format", "json", "--engine", "streaming"]) != 0
    assert "--engine streaming: it writes --format csv or jsonl" in capsys.readouterr().err


def test_unranked_subjects_come_last_by_subject_across_ranges():
    """Subjects with no KPI applying have no total and no rank: last, by subject, even over several ranges."""
    card = load_ruleset(
        W1.replace("m1: {type: ratio, min: 0, max: 2}", "m1: {type: ratio, min: 0, max: 2, required: false}")
    )
    frame = w1_frame(40, seed=8).with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise(pl.col(c)).alias(c) for c in ("m1", "m2")
    )
    expected = long_table(evaluate(card, frame, engine="columnar"))
    assert (expected["rank"] == "").sum() == 2 * 14  # 14 unranked subjects (every third), 2 KPIs each
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=2)
    assert streamed_table(card, [shuffled], batch_rows=6).equals(expected)


def test_kpi_evaluate_auto_streams_a_large_file(tmp_path, monkeypatch):
    """``--engine auto`` streams a file from ``STREAM_BYTES``: the same bytes."""
    from kpi_engine.cli import appraise

    data = tmp_path / "records.csv"
    w1_frame(30).write_csv(data)
    rules = tmp_path / "w1.yaml"
    rules.write_text(W1, encoding="utf-8")
    argv = ["evaluate", str(rules), "--records", str(data), "--format", "csv"]
    expected = _cli(tmp_path, [*argv, "--engine", "columnar"], "columnar.csv")
    streamed = []
    real = appraise._stream_evaluate
    monkeypatch.setattr(appraise, "STREAM_BYTES", 10)
    monkeypatch.setattr(appraise, "_stream_evaluate", lambda *a: streamed.append(1) or real(*a))
    assert _cli(tmp_path, argv, "auto.csv") == expected
    assert streamed == [1]


def test_team_events_stream_by_membership_tree():
    """evaluate_batches with membership rows and events: each team counts its reps' visits, as one run."""
    from kpi_engine.evaluation.columnar import evaluate_batches

    card = load_ruleset(
        'ruleset: tev\nversion: "1"\ntitle: team visits\nsubject: team\nmetrics:\n'
        "  visits: {aggregate: {fn: count, where: \"type == 'visit'\"}}\n"
        "kpis:\n  - {id: k, metric: visits, method: linear, floor: 0, target: 4, weight: 100%}\n"
    )
    reps = [f"r{i}" for i in range(12)]
    members = [{"member": r, "parent": f"t{i % 4}", "period": "2026-03"} for i, r in enumerate(reps)]
    records = pl.DataFrame({"subject": reps, "period": ["2026-03"] * 12})
    events = _visits([r for i, r in enumerate(reps) for _ in range(i % 3)])
    expected = long_table(evaluate(card, records, members=members, events=events, engine="columnar"))
    assert expected.height == 4
    reader = evaluate_batches(card, records.to_arrow().to_batches(max_chunksize=2), members=members, events=events,
                              batch_rows=2)  # fmt: skip
    assert pl.from_arrow(reader.read_all()).equals(expected.select(reader.schema.names))
