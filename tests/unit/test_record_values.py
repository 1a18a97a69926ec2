"""Run records of format 3: exact values in columns, written from the kernel's columns, traces built on demand."""

import json
import random
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

pytest.importorskip("polars")

from tests.unit.test_report_columnar import CASES

from kpi_engine import evaluate, load_ruleset, read_table
from kpi_engine.audit.canonical import canonical_bytes
from kpi_engine.audit.record import FORMAT, FORMAT_1, record_appraisal
from kpi_engine.audit.replay import replay, replayed_appraisal
from kpi_engine.audit.values import appraisal_values, from_columns, record_text, to_columns, values_bytes
from kpi_engine.cli import main
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.columnar._results import ColumnarResults
from kpi_engine.language.build import parse_ruleset

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "rulesets" / "sales_rep_monthly.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "records"


def s1_records(path: Path, reps: int, seed: int) -> None:
    """Two months per rep for S1 as shipped (growth reads the month before), N/A and odd values among them."""
    rnd = random.Random(seed)  # noqa: S311 - reproducible test data
    header = ["subject", "period", "sales_target", "sales_actual", "weekly_orders", "new_customers",
              "visits_existing", "phone_calls", "lost_customers", "conduct_score", "plans_due", "plans_done",
              "resource_requests", "resource_replies", "lead_registrations", "timely_follow_ups"]  # fmt: skip
    lines = [",".join(header)]
    for i in range(reps):
        for month in ("2026-02", "2026-03"):
            regs = rnd.randrange(0, 4)
            cells = [f"rep{i:04d}", month, "100000", rnd.choice(["30000", "99999.99", "133333", "0", "76000"]),
                     str(rnd.randrange(0, 10)), str(rnd.randrange(0, 7)), str(rnd.randrange(0, 25)),
                     str(rnd.randrange(0, 150)), str(rnd.randrange(0, 6)), rnd.choice(["50", "77.5", "99.995"]),
                     "8", str(rnd.randrange(4, 9)), rnd.choice(["0", "10", "3"]), "0",
                     "" if rnd.random() < 0.2 else str(regs), str(rnd.randrange(0, regs + 1))]  # fmt: skip
            lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(("name", "ruleset", "records", "suffix", "n"), CASES, ids=[c[0] for c in CASES])
def test_values_from_the_columns_are_the_objects_bytes(tmp_path, name, ruleset, records, suffix, n):
    """The kernel's columns give, byte for byte, the values read through the result objects."""
    path = tmp_path / f"{name}{suffix}"
    records(path, n, 7)
    card = parse_ruleset(ruleset(), "r.yaml")
    appraisal = evaluate(card, read_table(path), period="2026-03", engine="columnar")
    assert isinstance(appraisal.results, ColumnarResults)
    assert values_bytes(appraisal) == canonical_bytes(to_columns(appraisal_values(appraisal, record_text)))


def test_values_from_the_columns_cover_the_shipped_scorecard(tmp_path):
    """S1 as shipped (growth over the previous month, gates, bonus grades) gives the objects' bytes from columns."""
    path = tmp_path / "records.csv"
    s1_records(path, 80, 3)
    appraisal = evaluate(load_ruleset(S1), read_table(path), engine="columnar")
    assert isinstance(appraisal.results, ColumnarResults)
    values = values_bytes(appraisal)
    assert values == canonical_bytes(to_columns(appraisal_values(appraisal, record_text)))
    assert from_columns(json.loads(values)) == appraisal_values(appraisal, record_text)  # nothing lost
    assert values == values_bytes(evaluate(load_ruleset(S1), read_table(path), engine="row"))  # either engine


def test_record_text_keeps_every_digit_of_a_finite_decimal():
    """A finite value is written with all its decimals; any other as a reduced fraction."""
    assert record_text(Fraction(1, 2**40)) == format(Decimal(1) / Decimal(2**40), "f").rstrip("0")
    assert len(record_text(Fraction(1, 2**40))) == 42  # 0. and 40 decimals, more than a 28-digit context keeps
    assert record_text(Fraction(-6, 4)) == "-1.5"
    assert record_text(Fraction(46, 6)) == "23/3"
    assert record_text(Decimal("1.50")) == "1.5"
    assert record_text(None) is None


def test_a_format_3_record_holds_values_only_and_replays(tmp_path):
    """A new record keeps the exact values and no trace, and replays on either engine."""
    path = tmp_path / "records.csv"
    s1_records(path, 60, 5)
    appraisal, record = record_appraisal(S1.read_text(encoding="utf-8"), read_table(path), ruleset_name="s1.yaml")
    data = json.loads(record.to_bytes())
    assert data["format"] == FORMAT
    assert list(data["results"]) == ["values"]
    assert "explanation" not in record.to_bytes().decode()
    for engine in ("row", "columnar", "auto"):
        report = replay(record.to_bytes(), engine=engine)
        assert report.reproduced, report.render()
    assert replayed_appraisal(record.to_bytes()).to_dict() == appraisal.to_dict()


def test_a_value_changed_in_a_format_3_record_is_named_by_subject_and_kpi(tmp_path):
    """Editing one recorded score (and resealing) is a mismatch at that subject and KPI, found by either engine."""
    from kpi_engine.audit.record import _seal

    path = tmp_path / "records.csv"
    s1_records(path, 60, 5)
    _, record = record_appraisal(S1.read_text(encoding="utf-8"), read_table(path))
    data = json.loads(record.to_bytes())
    values = data["results"]["values"]
    values["columns"]["kpis"]["plans"]["score"][values["subjects"].index("rep0001")] = "12.5"
    del data["digests"], data["sha256"]
    resealed = _seal(data).to_bytes()
    for engine in ("row", "columnar"):
        report = replay(resealed, engine=engine)
        assert not report.tampered  # resealed: only the recomputation can tell
        assert [(d.path, d.recorded) for d in report.mismatches] == [("subjects.rep0001.kpis.plans.score", "12.5")]


def test_a_part_added_to_the_results_of_a_format_3_record_is_named(tmp_path):
    """Format 3 results hold the values only: traces added (and resealed) are not taken on trust."""
    from kpi_engine.audit.record import _seal

    path = tmp_path / "records.csv"
    s1_records(path, 20, 5)
    _, record = record_appraisal(S1.read_text(encoding="utf-8"), read_table(path))
    data = json.loads(record.to_bytes())
    data["results"]["appraisal"] = {"results": []}
    del data["digests"], data["sha256"]
    report = replay(_seal(data).to_bytes())
    assert [d.path for d in report.mismatches] == ["results.appraisal"]


def test_kpi_evaluate_record_on_the_kernel_replays_and_explains(tmp_path, capsys):
    """kpi evaluate --record on a large CSV (read as columns) writes the run's output unchanged and a record that replays."""
    path = tmp_path / "records.csv"
    s1_records(path, 1200, 11)
    plain, recorded, record = tmp_path / "plain.json", tmp_path / "recorded.json", tmp_path / "run.record.json"
    base = ["evaluate", str(S1), "--records", str(path), "--format", "json", "--period", "2026-03"]
    assert main([*base, "--out", str(plain)]) == 0
    assert main([*base, "--out", str(recorded), "--record", str(record)]) == 0
    assert recorded.read_bytes() == plain.read_bytes()
    assert json.loads(record.read_bytes())["format"] == FORMAT
    capsys.readouterr()
    assert main(["replay", str(record)]) == 0
    assert capsys.readouterr().out.startswith("reproduced:")
    assert main(["replay", str(record), "--engine", "row"]) == 0
    capsys.readouterr()
    assert main(["explain", str(record), "--subject", "rep0007"]) == 0
    from_record = capsys.readouterr().out
    assert main(["explain", str(S1), "--records", str(path), "--period", "2026-03", "--subject", "rep0007"]) == 0
    from_files = capsys.readouterr().out
    assert from_record.splitlines()[:2] == from_files.splitlines()[:2]  # subject, total, grade and rank
    assert "method linear" in from_record


def test_replay_traces_writes_every_trace_of_the_record(tmp_path, capsys):
    """kpi replay --traces FILE writes the recomputed results with each KPI's explanation."""
    record, traces = tmp_path / "run.json", tmp_path / "traces.json"
    args = ["evaluate", str(S1), "--records", str(ROOT / "examples/sales_rep_monthly/records.csv"),
            "--members", str(ROOT / "examples/sales_rep_monthly/members.csv"), "--record", str(record)]  # fmt: skip
    assert main(args) == 0
    assert main(["replay", str(record), "--traces", str(traces)]) == 0
    tree = json.loads(traces.read_text(encoding="utf-8"))
    li_na = next(r for r in tree["results"] if r["subject"] == "li_na")
    growth = next(k for k in li_na["kpis"] if k["id"] == "growth")
    assert growth["explanation"]["inputs"]["sales_actual"]["value"] == "76000"
    assert "reproduced" in capsys.readouterr().out


def test_a_tampered_record_is_not_explained(tmp_path):
    """kpi explain on a record whose digests do not match refuses, naming the part."""
    record = tmp_path / "run.json"
    args = ["evaluate", str(S1), "--records", str(ROOT / "examples/sales_rep_monthly/records.csv"),
            "--record", str(record)]  # fmt: skip
    assert main(args) == 0
    data = json.loads(record.read_bytes())
    data["inputs"]["records"][0]["rows"][0]["sales_actual"] = "1"
    with pytest.raises(KpiError, match=r"inputs\.records\[0\]"):
        replayed_appraisal(json.dumps(data).encode())


def test_a_format_1_record_still_replays_and_explains():
    """The committed format 1 record (every trace kept) replays, and its appraisal is recomputed with traces."""
    raw = (FIXTURES / "v0.2-s1.record.json").read_bytes()
    assert json.loads(raw)["format"] == FORMAT_1
    assert replay(raw).reproduced
    appraisal = replayed_appraisal(raw)
    recorded = json.loads(raw)["results"]["appraisal"]
    assert json.loads(appraisal.to_json(traces=True)) == recorded


@pytest.mark.parametrize(
    "text",
    [
        'subject,period,note,x\n"a,""b",2026-03,"line\nbreak",é😀\\\n c ,2026-03,,\x01tab\t\x7f\n',
        "subject,period,x\nb,2026-03\na,2026-03,1\n",  # a short row: its mapping lacks a key
    ],
    ids=["hostile", "short_row"],
)
def test_rows_encoded_from_csv_cells_are_the_canonical_bytes_of_their_mappings(tmp_path, text):
    """Rows of a CSV table encoded column by column give exactly the canonical JSON of each row's mapping."""
    from kpi_engine.audit import record

    path = tmp_path / "records.csv"
    path.write_text(text, encoding="utf-8")
    table = read_table(path)
    texts, order = record._row_texts(table)
    rows = [raw for _, raw in table.rows]
    assert [canonical_bytes(rows[i]).decode() for i in order] == texts
    assert texts == sorted(texts)


def test_a_format_2_record_still_replays():
    """The committed format 2 record (exact values, one object per subject) replays on either engine."""
    raw = (FIXTURES / "v0.2-s1-format2.record.json").read_bytes()
    data = json.loads(raw)
    assert data["format"] == "kpi_engine.run-record/2"
    assert "li_na" in data["results"]["values"]["subjects"]
    for engine in ("row", "columnar", "auto"):
        report = replay(raw, engine=engine)
        assert report.reproduced, report.render()
        assert report.headline() == "reproduced: 4 subjects, 44 KPIs"
    assert replayed_appraisal(raw).period == "2026-03"


def test_a_value_forged_in_a_format_2_record_is_still_refused():
    """Format 2 values are compared as before: one score edited (and resealed) is a mismatch at its subject and KPI."""
    from kpi_engine.audit.record import _seal

    data = json.loads((FIXTURES / "v0.2-s1-format2.record.json").read_bytes())
    data["results"]["values"]["subjects"]["li_na"]["kpis"]["growth"]["score"] = "50"
    data["summary"]["kpis"] = 45
    del data["digests"], data["sha256"]
    report = replay(_seal(data).to_bytes())
    assert not report.tampered
    assert not report.reproduced
    paths = [(d.path, d.recorded) for d in report.mismatches]
    assert ("subjects.li_na.kpis.growth.score", "50") in paths
    assert ("summary.kpis", 45) in paths


@pytest.mark.parametrize(
    "edit",
    [
        lambda v: v["columns"]["total"].pop(),  # a column one short of the subjects
        lambda v: v["subjects"].__setitem__(1, v["subjects"][0]),  # a subject twice
        lambda v: v["columns"]["kpis"].pop("plans"),  # a KPI left out
        lambda v: v["subjects"].reverse(),  # the values moved to other subjects
    ],
    ids=["short_column", "duplicate_subject", "missing_kpi", "reordered"],
)
def test_malformed_columns_in_a_format_3_record_are_refused(tmp_path, edit):
    """Columns that do not fit their subjects (resealed) are never reproduced."""
    from kpi_engine.audit.record import _seal

    path = tmp_path / "records.csv"
    s1_records(path, 5, 5)
    _, record = record_appraisal(S1.read_text(encoding="utf-8"), read_table(path))
    data = json.loads(record.to_bytes())
    edit(data["results"]["values"])
    del data["digests"], data["sha256"]
    report = replay(_seal(data).to_bytes())
    assert not report.tampered
    assert not report.reproduced
    assert report.mismatches


def test_the_record_is_written_in_pieces_that_join_to_its_bytes(tmp_path):
    """``pieces`` (what kpi evaluate --record streams to the file) are the record's bytes, never joined there."""
    path = tmp_path / "records.csv"
    s1_records(path, 30, 2)
    _, record = record_appraisal(S1.read_text(encoding="utf-8"), read_table(path))
    pieces = list(record.pieces())
    assert len(pieces) > 10
    assert b"".join(pieces) == record.to_bytes() == canonical_bytes(json.loads(record.to_bytes())) + b"\n"


FRAME_CASES = {
    "plain": ("subject,period,x,y\nb,2026-03,1,2\na,2026-03,3,4\n", True),
    "padded_blank_short_bom_crlf": (
        (
            "\ufeffsubject,period,x,y,name\r\n a ,2026-03, 007 ,+5,  \r\nb,2026-03\r\n,,,,\r\n\r\n"
            'c,2026-03,,,\u00e9\U0001f600\u2028 \u3000\r\nd, 2026-03 ,-0,10,"x,y"\r\n'
        ),
        True,
    ),
    "quoted_newline_and_empty": ('subject,period,x,note\na,2026-03,1,"two\nlines"\nb,2026-03,"",\t\n', True),
    "int_columns": ("subject,period,x,y\n" + "".join(f"r{i},2026-03,{i:03d},{-i}\n" for i in range(50)), True),
    "quote_in_a_cell": ('subject,period,x\na,2026-03,"say ""hi"""\n', False),
    "carriage_return": ('subject,period,x\na,2026-03,"a\rb"\n', False),
    "separator_character": ("subject,period,x\na,2026-03,\x1cz\x1c\n", False),
}


@pytest.mark.parametrize("case", list(FRAME_CASES), ids=list(FRAME_CASES))
def test_rows_encoded_from_polars_columns_are_the_row_readers_bytes(tmp_path, case):
    """frame_rows gives the bytes the row reader's table gives, or declines (and the row reader reads the file)."""
    from kpi_engine.audit import record
    from kpi_engine.io.column_files import read_frame, read_text_columns

    text, fast = FRAME_CASES[case]
    path = tmp_path / "records.csv"
    path.write_bytes(text.encode())
    texts, _ = record._row_texts(read_table(path))
    for columns in ({"subject", "period", "note", "name"}, None):  # whole numbers as Int64, or every column text
        frame = read_frame(path, text=columns)
        assert not isinstance(frame, type(read_table(path)))
        encoded = record.frame_rows(frame.data, "records.csv", lambda names: read_text_columns(path, names))
        if not fast:
            assert encoded is None
            continue
        assert encoded is not None
        assert encoded.rows_json == ("[" + ",".join(texts) + "]").encode()
        assert encoded.count == len(texts)


@pytest.mark.parametrize("mode", ["inline", "digest"])
def test_kpi_evaluate_record_from_columns_is_the_record_from_rows(tmp_path, monkeypatch, mode):
    """The record of a run on the kernel (rows encoded from its columns) is byte for byte the row engine's record."""
    import kpi_engine.cli.audit as cli_audit

    reads = []
    monkeypatch.setattr(cli_audit, "read", lambda *a, **_: reads.append(a) or pytest.fail("read again as rows"))
    path = tmp_path / "records.csv"
    s1_records(path, 300, 13)
    text = path.read_text(encoding="utf-8").replace("rep0007,", " rep0007 ,").replace(",8,", ",008,")
    path.write_text(text + "\n,,,,,,,,,,,,,,,\n", encoding="utf-8")
    base = ["evaluate", str(S1), "--records", str(path), "--format", "json", "--out", str(tmp_path / "out.json"),
            "--record-inputs", mode]  # fmt: skip
    records = {}
    for engine in ("columnar", "row"):
        records[engine] = tmp_path / f"{engine}.record.json"
        assert main([*base, "--engine", engine, "--record", str(records[engine])]) == 0
        monkeypatch.undo()  # the row engine's run reads its rows (not through this module)
    assert not reads
    assert records["columnar"].read_bytes() == records["row"].read_bytes()
    assert json.loads(records["columnar"].read_bytes())["format"] == FORMAT
    assert main(["replay", str(records["columnar"])]) == 0


def test_denominators_are_taken_apart_in_numpy_as_one_by_one():
    """_splits (NumPy, every distinct denominator of a column at once) agrees with _split on each."""
    import numpy as np

    from kpi_engine.audit.values import _split, _splits

    rnd = random.Random(1)  # noqa: S311 - reproducible test data
    dens = [1, 2, 5, 10, 3, 7 * 2**40, 5**26, 2**62, 5**18 * 3, 2**18 * 5**3, 2**19, 10**18, 2**63 - 1]
    dens += [rnd.randrange(1, 2**62) for _ in range(500)]
    dens += [2 ** rnd.randrange(0, 40) * 5 ** rnd.randrange(0, 17) * rnd.choice([1, 3, 7]) for _ in range(500)]
    dens = [d for d in dens if d < 2**63]
    rest, places, mult = _splits(np.array(dens, dtype=np.int64))
    assert [(int(a), int(b), int(c)) for a, b, c in zip(rest, places, mult, strict=True)] == list(map(_split, dens))
