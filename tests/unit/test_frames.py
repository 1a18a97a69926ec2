"""Records from every container HR and CRM data comes in, and appraisals back as frames (issue 7)."""

import collections
import dataclasses
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from kpi_engine import DataError, evaluate, load_ruleset, read_table

ROOT = Path(__file__).resolve().parents[2]
RULESET = ROOT / "rulesets/sales_rep_monthly.yaml"
CSV = ROOT / "examples/sales_rep_monthly/records.csv"

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def s1():
    return load_ruleset(RULESET)


@pytest.fixture(scope="module")
def expected(s1):
    """The appraisal bytes of the CSV path (the table named 'records', as in-memory inputs are)."""
    return evaluate(s1, read_table(CSV, name="records")).to_json()


def one_based(text):
    """Renumber CSV line origins (header = line 1) as item numbers of a Python list (first item = 1)."""
    return re.sub(r"record records:(\d+)", lambda m: f"record records:{int(m.group(1)) - 1}", text)


def test_pandas_frame_gives_the_csv_appraisal_bytes(s1, expected):
    """A pandas DataFrame read from the CSV (int64, float64 with NaN for empty cells) appraises identically."""
    df = pd.read_csv(CSV)
    assert df["lead_registrations"].dtype == "float64"  # the empty cell made it a float column
    assert evaluate(s1, df).to_json() == expected


def test_pandas_nullable_and_numpy_integer_dtypes(s1, expected):
    """Nullable Int64 (with <NA>) and numpy int32 columns appraise identically."""
    df = pd.read_csv(CSV).convert_dtypes()
    assert str(df["lead_registrations"].dtype) == "Int64"
    df["weekly_orders"] = df["weekly_orders"].astype("int32")
    assert evaluate(s1, df).to_json() == expected


def test_pandas_named_index_is_a_column(s1, expected):
    """A frame indexed by subject keeps the subject column."""
    df = pd.read_csv(CSV).set_index("subject")
    assert evaluate(s1, df).to_json() == expected


def test_polars_frame_and_lazy_frame(s1, expected):
    """Polars DataFrames and LazyFrames appraise identically."""
    df = pl.read_csv(CSV)
    assert evaluate(s1, df).to_json() == expected
    assert evaluate(s1, df.lazy()).to_json() == expected


def test_arrow_table_and_record_batch(s1, expected):
    """An Arrow table and a record batch appraise identically."""
    table = pa.Table.from_pandas(pd.read_csv(CSV), preserve_index=False)
    assert evaluate(s1, table).to_json() == expected
    assert evaluate(s1, table.combine_chunks().to_batches()[0]).to_json() == expected


def test_arrow_decimal_columns_keep_their_digits(s1, expected):
    """Decimal128 columns are read exactly."""
    df = pl.read_csv(CSV).with_columns(pl.col("sales_actual").cast(pl.Decimal(18, 2)))
    assert evaluate(s1, df.to_arrow()).to_json() == expected


def test_parquet_file(s1, expected, tmp_path):
    """A Parquet file read with read_table appraises identically, batch by batch."""
    import pyarrow.parquet as pq

    path = tmp_path / "records.parquet"
    pq.write_table(pa.Table.from_pandas(pd.read_csv(CSV), preserve_index=False), path, row_group_size=3)
    assert evaluate(s1, read_table(path, name="records")).to_json() == expected


def test_duckdb_relation_and_query_on_a_file(s1, expected, tmp_path):
    """A DuckDB relation and a SQL query on a DuckDB file appraise identically."""
    duckdb = pytest.importorskip("duckdb")
    db = tmp_path / "crm.db"
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE TABLE monthly AS SELECT * FROM read_csv_auto('{CSV.as_posix()}')")  # noqa: S608
        assert evaluate(s1, con.sql("SELECT * FROM monthly")).to_json() == expected
    table = read_table(f"duckdb:{db}::SELECT * FROM monthly ORDER BY period, subject", name="records")  # noqa: S608
    got = evaluate(s1, table)
    assert [(r.subject, r.total) for r in got.results] == [
        (r.subject, r.total) for r in evaluate(s1, read_table(CSV)).results
    ]


def test_duckdb_query_errors_are_kpi_errors(tmp_path):
    """A failing query or a missing database file is a KpiError, not a traceback."""
    duckdb = pytest.importorskip("duckdb")
    from kpi_engine import KpiError

    db = tmp_path / "x.db"
    duckdb.connect(str(db)).close()
    with pytest.raises(KpiError, match="query failed"):
        read_table(f"duckdb:{db}::SELECT * FROM nowhere")  # noqa: S608
    with pytest.raises(KpiError, match="no such DuckDB file"):
        read_table(f"duckdb:{tmp_path / 'none.db'}::SELECT 1")
    with pytest.raises(KpiError, match="duckdb:PATH::SQL"):
        read_table(f"duckdb:{db}")


def test_json_lines_file(s1, expected, tmp_path):
    """JSON Lines of the same rows appraise identically (line numbers are CSV lines minus the header)."""
    rows = pd.read_csv(CSV, dtype=str, keep_default_na=False).to_dict("records")
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert evaluate(s1, read_table(path, name="records")).to_json() == one_based(expected)


def dict_rows():
    return pd.read_csv(CSV, dtype=str, keep_default_na=False).to_dict("records")


def test_iterables_of_mappings_dataclasses_attrs_and_named_tuples(s1, expected):
    """Dicts, slots dataclasses, attrs classes and named tuples appraise identically to the CSV."""
    rows = dict_rows()
    fields = list(rows[0])
    named = collections.namedtuple("Named", fields)  # noqa: PYI024
    slots = dataclasses.make_dataclass("Slots", fields, slots=True)
    with_attrs = attrs.make_class("Attrs", fields)
    want = one_based(expected)
    assert evaluate(s1, iter(rows)).to_json() == want
    for kind in (named, slots, with_attrs):
        objects = [kind(**r) for r in rows]
        assert evaluate(s1, objects).to_json() == want, kind


def test_short_decimal_floats_are_read_by_their_shortest_repr(s1, expected):
    """Float columns holding short decimals (92000.0, 0.1) are read as those decimals."""
    df = pd.read_csv(CSV)
    df["sales_actual"] = df["sales_actual"].astype("float64")
    assert evaluate(s1, df).to_json() == expected


def test_float_that_is_not_a_short_decimal_is_refused_at_its_cell(s1):
    """0.1 + 0.2 in a float column is refused with its row and column; never used as a binary float."""
    df = pl.read_csv(CSV).with_columns(pl.col("sales_target").cast(pl.Float64))
    li_na = pl.col("subject") == "li_na"
    bad = df.with_columns(pl.when(li_na).then(0.1 + 0.2).otherwise(pl.col("sales_target")).alias("sales_target"))
    with pytest.raises(DataError) as info:
        evaluate(s1, bad)
    locations = {str(i.location) for i in info.value.issues}
    assert locations == {"records:3:4", "records:7:4"}  # li_na's two rows; sales_target is column 4
    assert "0.30000000000000004" in info.value.issues[0].message


def test_nan_in_a_polars_float_column_is_refused(s1):
    """NaN is not a number: Polars distinguishes it from null, so it is refused, located."""
    df = pl.read_csv(CSV).with_columns(pl.col("sales_actual").cast(pl.Float64))
    zhao = pl.col("subject") == "zhao_lei"
    df = df.with_columns(pl.when(zhao).then(float("nan")).otherwise(pl.col("sales_actual")).alias("sales_actual"))
    with pytest.raises(DataError, match="not a finite number"):
        evaluate(s1, df)


def test_attribute_accepts_a_data_frame():
    """attribute() credits the same deals from a pandas frame as from the CSV log."""
    from kpi_engine.attribution import attribute, load_policy, read_events

    policy = load_policy(ROOT / "examples/attribution/policy.yaml")
    log = ROOT / "examples/attribution/events.csv"
    want = attribute(policy, read_events(log, policy)).to_dict()
    frame = pd.read_csv(log, dtype=str)
    assert attribute(policy, frame).to_dict() == want
    assert attribute(policy, pl.read_csv(log, infer_schema=False)).to_dict() == want


def test_heavy_libraries_are_imported_only_when_a_frame_arrives():
    """Evaluating CSV records imports none of pandas, polars, pyarrow or duckdb."""
    code = (
        "import sys; from kpi_engine import evaluate, load_ruleset, read_table; "
        f"evaluate(load_ruleset({str(RULESET)!r}), read_table({str(CSV)!r})); "
        "print(sorted(m for m in ('pandas', 'polars', 'pyarrow', 'duckdb', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.strip() == "[]"


def test_to_arrow_rows_and_decimal_columns(s1):
    """to_arrow gives one row per subject × KPI with decimal128 scores at the ruleset's places."""
    appraisal = evaluate(s1, read_table(CSV))
    table = appraisal.to_arrow()
    assert table.num_rows == len(appraisal.results) * len(appraisal.results[0].kpis)
    assert table.schema.field("score").type == pa.decimal128(38, 2)
    first = appraisal.results[0]
    row = table.slice(0, 1).to_pylist()[0]
    assert (row["subject"], row["kpi"]) == (first.subject, first.kpis[0].id)
    assert format(row["score"], "f") == appraisal.reported(first.kpis[0].score)
    subjects = appraisal.to_arrow(level="subject")
    assert subjects.column("subject").to_pylist() == [r.subject for r in appraisal.results]
    assert format(subjects.column("total").to_pylist()[0], "f") == appraisal.reported(first.total)


def test_to_polars_and_to_pandas_carry_decimals(s1):
    """to_polars has Decimal dtype columns; to_pandas holds decimal.Decimal values and nullable ranks."""
    appraisal = evaluate(s1, read_table(CSV))
    frame = appraisal.to_polars(level="subject")
    assert frame.schema["total"] == pl.Decimal(38, 2)
    assert frame["grade"].to_list() == [r.grade for r in appraisal.results]
    pdf = appraisal.to_pandas()
    assert isinstance(pdf["contribution"].iloc[0], Decimal)
    assert str(pdf["rank"].dtype) == "Int64"
