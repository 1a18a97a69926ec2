"""`kpi evaluate` on the columnar kernel end to end: columns in, text out, the row path's bytes."""

import random
import re
from pathlib import Path

import pytest

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

import polars as pl
import pyarrow as pa

import kpi_engine.report.columnar as rc
from kpi_engine import evaluate, load_ruleset
from kpi_engine.cli import main
from kpi_engine.errors import DataError, KpiError
from kpi_engine.evaluation.columnar import LONG_COLUMNS, evaluate_batches, long_table

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ['=HYPERLINK("http://x","y")', 'Li, "Lei"', "+86 138", "-5", "@sum(A1)", "王 伟", "a\nb", "-3.5", ""]


def s1_without_growth() -> str:
    """S1 (sales_rep_monthly) without its `previous` metric, which the kernel does not evaluate yet."""
    text = (ROOT / "rulesets/sales_rep_monthly.yaml").read_text(encoding="utf-8")
    text = re.sub(r"\n  sales_growth: .*", "", text)
    text = re.sub(r"\n  - \{id: growth,.*\n.*\n", "\n", text)
    text = text.replace("cap: 120, weight: 60%}", "cap: 120, weight: 70%}")
    text = text.replace("floor: 0, target: 8, weight: 20%}", "floor: 0, target: 8, weight: 30%}")
    return text.split("\ncases:")[0] + "\n"


def w1_style(places: int, mode: str) -> str:
    """A W1-style scorecard with sections, an adjustment, a gate, bonus grades, report metrics and a text input."""
    return f"""ruleset: w1x
version: "1"
title: W1 style, places {places}
subject: rep
period: month
inputs:
  m1: {{type: ratio, min: 0, max: 2}}
  m2: {{type: ratio, min: 0, max: 2, required: false}}
  m3: {{type: number, required: false}}
  region: {{type: text, required: false}}
  flag: {{type: bool, required: false}}
metrics:
  mix: {{formula: m1 / 3 + m2, title: mix}}
sections:
  a: {{title: "A, first", weight: 70%}}
  b: {{title: B, weight: 30%}}
kpis:
  - {{id: k1, title: "K1 =sum", metric: m1, section: a, method: linear, floor: 0, target: 1, cap: 120, weight: 60%}}
  - {{id: k2, metric: m2, section: a, method: linear, direction: lower, floor: 1, target: 0, weight: 40%}}
  - {{id: k3, title: 第三, metric: mix, section: b, method: threshold, target: 0.7, weight: 50%}}
  - {{id: k4, metric: m3, section: b, method: expression, score: "value * 7 / 3", weight: 50%}}
adjustments:
  - {{id: lift, kpi: k3, when: flag, score: 100, reason: promoted}}
gates:
  - {{id: g1, when: m1 < 40%, cap_total: 60}}
grades:
  - {{grade: A, min: 90, title: "优秀, top", bonus_multiplier: 1.5}}
  - {{grade: B, min: 75, bonus_multiplier: 1.2}}
  - {{grade: C, min: 60}}
  - {{grade: D, title: "=low"}}
report: [mix, region]
rounding: {{places: {places}, mode: {mode}}}
"""


def _cell(rnd: random.Random, blank: float, values: list[str]) -> str:
    return "" if rnd.random() < blank else rnd.choice(values)


def w1_records(path: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)  # noqa: S311 - reproducible test data
    ratios = ["0", "0.25", "0.3333", "0.5", "0.95", "1", "1.005", "1.2", "0.39", "0.4", "2"]
    rows = [
        {
            "subject": f"r{i % (n - 3):03d}" if i < n - 3 else rnd.choice(["=cmd|x", "-r1", "@r"]) + str(i),
            "period": "2026-03",
            "name": rnd.choice(HOSTILE),
            "m1": rnd.choice(ratios),
            "m2": _cell(rnd, 0.2, ratios),
            "m3": _cell(rnd, 0.2, ["-1", "0", "12.5", "33.333", "42", "-0.001", "0.0004"]),
            "region": _cell(rnd, 0.3, ["north", "=1+2", "南区", 'say "hi"']),
            "flag": _cell(rnd, 0.3, ["true", "false"]),
        }
        for i in range(n)
    ]
    frame = pl.DataFrame(rows).unique(subset=["subject"], keep="first", maintain_order=True)
    _write(frame, path)


def s1_records(path: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)  # noqa: S311 - reproducible test data
    rows = []
    for i in range(n):
        regs = rnd.randrange(0, 4)
        rows.append(
            {
                "subject": f"rep{i:04d}",
                "period": rnd.choice(["2026-02", "2026-03", "2026-03"]),
                "name": rnd.choice(HOSTILE),
                "sales_target": "100000",
                "sales_actual": str(rnd.choice([30000, 45000, 50000, 99999, 100000, 120000, 133333])),
                "weekly_orders": str(rnd.randrange(0, 10)),
                "new_customers": str(rnd.randrange(0, 7)),
                "visits_existing": str(rnd.randrange(0, 25)),
                "phone_calls": str(rnd.randrange(0, 150)),
                "lost_customers": str(rnd.randrange(0, 6)),
                "conduct_score": rnd.choice(["50", "77.5", "100", "99.995"]),
                "plans_due": "8",
                "plans_done": str(rnd.randrange(4, 9)),
                "resource_requests": str(rnd.choice([0, 10])),
                "resource_replies": "0",
                "lead_registrations": "" if rnd.random() < 0.2 else str(regs),
                "timely_follow_ups": "" if rnd.random() < 0.2 else str(rnd.randrange(0, regs + 1)),
            }
        )
    _write(pl.DataFrame(rows), path)


def dashboard_records(path: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)  # noqa: S311 - reproducible test data
    rows = []
    for i in range(n):
        for month in ("2026-02", "2026-03"):
            leads = rnd.randrange(0, 50)
            rows.append(
                {
                    "subject": f"d{i:03d}",
                    "period": month,
                    "sales": str(rnd.randrange(0, 200000)),
                    "leads": str(leads),
                    "converted": str(rnd.randrange(0, leads + 1)),
                }
            )
    _write(pl.DataFrame(rows), path)


def _write(frame: pl.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)


def _run(tmp_path: Path, ruleset: Path, records: Path, engine: str, fmt: str, *extra: str) -> bytes:
    out = tmp_path / f"out_{engine}.{fmt}"
    code = main(["evaluate", str(ruleset), "--records", str(records), "--engine", engine, "--format", fmt,
                 "--out", str(out), "--period", "2026-03", *extra])  # fmt: skip
    assert code == 0
    return out.read_bytes()


@pytest.fixture
def spied(monkeypatch):
    """Small chunks (several pieces per run) and a record of whether the columns wrote the text."""
    used: list[bool] = []
    original = rc.columnar_text

    def spy(*args, **kwargs):
        pieces = original(*args, **kwargs)
        used.append(pieces is not None)
        return pieces

    monkeypatch.setattr(rc, "CHUNK", 7)
    monkeypatch.setattr(rc, "columnar_text", spy)
    return used


def w1_flags() -> str:
    """W1 style with published flags (subject flags the JSON and the wide CSV list)."""
    return w1_style(2, "half_up").replace("report: [mix, region]", "report: [mix, region]\nflags:\n  high: m1 > 90%")


CASES = [
    ("w1_half_up_2", lambda: w1_style(2, "half_up"), w1_records, ".csv", 40),
    ("w1_flags", w1_flags, w1_records, ".csv", 30),
    ("w1_half_even_1", lambda: w1_style(1, "half_even"), w1_records, ".parquet", 30),
    ("w1_floor_0", lambda: w1_style(0, "floor"), w1_records, ".csv", 25),
    ("s1_without_growth", s1_without_growth, s1_records, ".csv", 60),
    ("s1_parquet", s1_without_growth, s1_records, ".parquet", 30),
    ("dashboard", lambda: (ROOT / "rulesets/sales_dashboard_monthly.yaml").read_text(encoding="utf-8"),
     dashboard_records, ".csv", 20),
]  # fmt: skip


@pytest.mark.parametrize(("name", "ruleset", "records", "suffix", "n"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(
    "fmt",
    [
        ("csv",),
        ("csv", "--no-bom"),
        ("csv", "--lang=zh"),
        ("csv", "--layout=wide"),
        ("csv", "--layout=wide", "--lang=zh"),
        ("jsonl",),
        ("json",),
        ("json", "--compact"),
    ],
    ids=" ".join,
)
def test_columnar_text_is_the_row_paths_bytes(tmp_path, spied, name, ruleset, records, suffix, n, fmt):
    """The kernel's columns written as csv/jsonl/json give byte for byte what the row path writes."""
    path = tmp_path / "rules.yaml"
    path.write_text(ruleset(), encoding="utf-8")
    data = tmp_path / f"records{suffix}"
    records(data, n, seed=len(name))
    row = _run(tmp_path, path, data, "row", *fmt)
    col = _run(tmp_path, path, data, "columnar", *fmt)
    assert spied == [True], "the columnar run did not write from the kernel's columns"
    assert col == row
    assert len(row) > 200


def test_office_windows_output_matches_the_row_path(tmp_path, spied):
    """Event windows run on the kernel: --engine columnar writes the row path's bytes from its own columns."""
    records = tmp_path / "records.csv"
    pl.DataFrame(
        {"subject": ["a", "b", "c"], "period": ["2026-03"] * 3, "conduct_score": ["100", "80", "90"]}
    ).write_csv(records)
    events = tmp_path / "events.csv"
    pl.DataFrame(
        {
            "event_id": ["s1", "p1", "g1", "f1", "k1", "k2"],
            "type": ["subscription", "down_payment", "registration", "follow_up", "complaint", "complaint_answered"],
            "at": [f"2026-03-{d:02d}T10:00:00+08:00" for d in (1, 8, 2, 6, 10, 11)],
            "rep": ["a", "a", "b", "b", "a", "a"],
            "customer": ["c1", "c1", "c2", "c2", "c3", "c3"],
        }
    ).write_csv(events)
    ruleset = ROOT / "rulesets/sales_office_windows.yaml"
    for fmt in ("csv", "jsonl"):
        row = _run(tmp_path, ruleset, records, "row", fmt, "--events", str(events))
        assert _run(tmp_path, ruleset, records, "columnar", fmt, "--events", str(events)) == row
    assert spied == [True, True], "the columnar runs did not write from the kernel's columns"


def test_names_from_columns_follow_the_row_rules():
    """A named row of the appraised period wins; otherwise the subject's last named row does."""
    frame = pl.DataFrame(
        {
            "subject": ["a", "a", "a", "b", "b", "c"],
            "period": ["2026-02", "2026-03", "2026-03", "2026-02", "2026-02", "2026-03"],
            "name": ["old", "first", "second", "b1", "b2", None],
        }
    )
    assert rc.frame_names(frame, "2026-03") == {"a": "first", "b": "b2"}


def test_largest_remainder_goes_through_the_result_objects(tmp_path, spied):
    """Contributions apportioned by largest remainder are rendered by the result objects (and agree)."""
    path = tmp_path / "rules.yaml"
    path.write_text(w1_style(2, "half_up").replace("rounding: {", "rounding: {contributions: largest_remainder, "))
    data = tmp_path / "records.csv"
    w1_records(data, 20, seed=3)
    assert _run(tmp_path, path, data, "columnar", "csv") == _run(tmp_path, path, data, "row", "csv")
    assert spied == [False]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize(
    ("column", "cell"), [("m1", "abc"), ("m1", "3"), ("subject", " "), ("period", "2026-13")], ids=str
)
def test_bad_cells_are_located_as_on_the_row_path(tmp_path, capsys, suffix, column, cell):
    """A bad cell read as columns is reported with the row path's file, row and column."""
    path = tmp_path / "rules.yaml"
    path.write_text(w1_style(2, "half_up"), encoding="utf-8")
    data = tmp_path / f"records{suffix}"
    w1_records(data, 20, seed=5)
    frame = pl.read_parquet(data) if suffix == ".parquet" else pl.read_csv(data, infer_schema=False)
    frame[6, column] = cell
    _write(frame, data)
    messages = []
    for engine in ("row", "columnar"):
        code = main(["evaluate", str(path), "--records", str(data), "--engine", engine, "--format", "csv"])
        assert code == 1
        messages.append(capsys.readouterr().err)
    assert messages[0] == messages[1]
    assert f"records{suffix}:8:" in messages[0]


@pytest.mark.parametrize(("threshold", "expected"), [(10, [True]), (10_000, [])])
def test_auto_reads_columns_for_large_inputs(tmp_path, spied, monkeypatch, threshold, expected):
    """`--engine auto` reads and writes columns at or above the kernel's threshold, rows below it."""
    from kpi_engine.evaluation import engine

    monkeypatch.setattr(engine, "AUTO_THRESHOLD", threshold)
    path = tmp_path / "rules.yaml"
    path.write_text(w1_style(2, "half_up"), encoding="utf-8")
    data = tmp_path / "records.csv"
    w1_records(data, 30, seed=9)
    auto = _run(tmp_path, path, data, "auto", "jsonl")
    assert spied == expected
    assert auto == _run(tmp_path, path, data, "row", "jsonl")


# --- evaluate_batches: Arrow record batches in, the long result table out (issue 6 §3) ---


@pytest.fixture
def w1_ruleset():
    return load_ruleset(w1_style(2, "half_up"))


@pytest.fixture
def w1_frame(tmp_path):
    path = tmp_path / "records.csv"
    w1_records(path, 40, seed=11)
    return pl.read_csv(path, infer_schema=False).drop("name")


def test_batches_give_the_row_paths_figures(w1_ruleset, w1_frame):
    """Three record batches give, row for row, the long table of the row path's appraisal."""
    batches = w1_frame.to_arrow().to_batches(max_chunksize=15)
    assert len(batches) == 3
    reader = evaluate_batches(w1_ruleset, batches, period="2026-03", batch_rows=15)
    assert isinstance(reader, pa.RecordBatchReader)
    got = reader.read_all()
    assert tuple(got.column_names) == LONG_COLUMNS
    expected = long_table(evaluate(w1_ruleset, w1_frame.to_dicts(), period="2026-03", engine="row"))
    assert pl.from_arrow(got).equals(expected)
    assert got.num_rows == w1_frame.height * 4


def test_rows_left_to_the_row_path_give_the_same_table(w1_ruleset, w1_frame):
    """A float column (left to the row path) gives the same table as decimal text does."""
    floats = w1_frame.with_columns(pl.col("m1").cast(pl.Float64))
    got = evaluate_batches(w1_ruleset, floats.to_arrow().to_batches(), period="2026-03").read_all()
    assert pl.from_arrow(got).equals(
        pl.from_arrow(evaluate_batches(w1_ruleset, w1_frame.to_arrow().to_batches(), period="2026-03").read_all())
    )


def test_ranks_are_per_call(w1_ruleset, w1_frame):
    """Each call ranks the subjects it was given: two halves each have a rank 1."""
    top = w1_frame.head(20).to_arrow().to_batches()
    rest = w1_frame.tail(20).to_arrow().to_batches()
    for part in (top, rest):
        ranks = pl.from_arrow(evaluate_batches(w1_ruleset, part, period="2026-03").read_all())["rank"]
        assert ranks[0] == "1"


def test_bad_cell_raises_the_row_paths_error(w1_ruleset, w1_frame):
    """A cell that is not a number raises a DataError naming its row and column."""
    bad = w1_frame.with_columns(pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("x")).otherwise("m1").alias("m1"))
    with pytest.raises(DataError, match=r":6:.*m1"):
        evaluate_batches(w1_ruleset, bad.to_arrow().to_batches(), period="2026-03")


def test_no_batch_is_refused(w1_ruleset):
    """An empty iterable of batches is a clear error."""
    with pytest.raises(KpiError, match="no record batch"):
        evaluate_batches(w1_ruleset, [])


def test_whole_number_columns_are_read_typed_and_a_late_bad_cell_is_located(tmp_path, capsys, spied):
    """Integer CSV columns are read as Int64 (same bytes); a bad cell after the inferred rows keeps its location."""
    path = tmp_path / "rules.yaml"
    path.write_text(s1_without_growth(), encoding="utf-8")
    data = tmp_path / "records.csv"
    s1_records(data, 1_200, seed=4)
    assert _run(tmp_path, path, data, "columnar", "csv") == _run(tmp_path, path, data, "row", "csv")
    assert spied == [True]
    frame = pl.read_csv(data, infer_schema=False)
    frame[1_100, "phone_calls"] = "2.5"
    frame.write_csv(data)
    messages = []
    for engine in ("row", "columnar"):
        code = main(["evaluate", str(path), "--records", str(data), "--engine", engine, "--period", "2026-03"])
        assert code == 1
        messages.append(capsys.readouterr().err)
    assert messages[0] == messages[1]
    assert ":9: phone_calls:" in messages[0]  # file:line:column (names with line breaks move the line)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_traces_of_a_file_read_as_columns_cite_the_row_readers_lines(tmp_path, suffix):
    """JSON with traces (built by the row path per subject) cites the same file lines on both engines."""
    path = tmp_path / "rules.yaml"
    path.write_text(w1_style(2, "half_up"), encoding="utf-8")
    data = tmp_path / f"records{suffix}"
    w1_records(data, 25, seed=8)  # names with line breaks: file lines are not row numbers + 1
    row = _run(tmp_path, path, data, "row", "json", "--traces")
    assert _run(tmp_path, path, data, "columnar", "json", "--traces") == row
    assert f"records{suffix}:" in row.decode()


@pytest.mark.parametrize("layout", ["long", "wide"])
@pytest.mark.parametrize(("name", "ruleset", "records", "suffix", "n"), CASES[:4], ids=[c[0] for c in CASES[:4]])
def test_parquet_from_the_columns_is_the_objects_table(
    tmp_path, monkeypatch, name, ruleset, records, suffix, n, layout
):
    """--format parquet on the kernel streams batches from the columns (long or wide): the row path's table."""
    import pyarrow.parquet as pq

    monkeypatch.setattr(rc, "CHUNK", 7)
    used: list[bool] = []
    chosen = f"columnar_{layout}_batches"
    original = getattr(rc, chosen)

    def spy(appraisal, *names):
        streamed = original(appraisal, *names)
        used.append(streamed is not None)
        return streamed

    monkeypatch.setattr(rc, chosen, spy)
    path = tmp_path / "rules.yaml"
    path.write_text(ruleset(), encoding="utf-8")
    data = tmp_path / f"records{suffix}"
    records(data, n, seed=len(name))
    tables = {}
    for engine in ("row", "columnar"):
        out = tmp_path / f"{engine}.parquet"
        argv = ["evaluate", str(path), "--records", str(data), "--engine", engine, "--period", "2026-03",
                "--format", "parquet", "--layout", layout, "--out", str(out)]  # fmt: skip
        assert main(argv) == 0
        tables[engine] = pq.read_table(out)
    assert used == [False, True]
    assert tables["columnar"].equals(tables["row"])
    assert tables["row"].num_rows > 10


def test_each_format_has_one_writer_module():
    """The columns' CSV writers live in report.csv and their JSON writer in report.json; report.columnar reuses them."""
    from kpi_engine.report import csv as report_csv
    from kpi_engine.report import json as report_json

    assert rc._csv is report_csv.columnar_csv
    assert rc._csv_wide is report_csv.columnar_csv_wide
    assert rc._json is report_json.columnar_json
    assert report_csv.columnar_csv.__module__ == "kpi_engine.report.csv"
    assert report_json.columnar_json.__module__ == "kpi_engine.report.json"
