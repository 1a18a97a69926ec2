"""result_schema and result_table: the long CSV's columns with real types, checked against what the engine returns."""

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

import kpi_engine
from kpi_engine.evaluation.columnar import LONG_COLUMNS, evaluate_batches
from kpi_engine.report.csv import COLUMNS
from kpi_engine.report.results_table import RESULT_COLUMNS, result_schema, result_table, subject_rank_keys

ROOT = Path(__file__).resolve().parents[2]
RULESET = ROOT / "rulesets" / "sales_rep_monthly.yaml"
RECORDS = ROOT / "examples" / "sales_rep_monthly" / "records.csv"


@pytest.fixture(scope="module")
def ruleset():
    return kpi_engine.load_ruleset(RULESET)


@pytest.fixture(scope="module")
def records():
    import pyarrow.csv as pcsv

    names = RECORDS.read_text(encoding="utf-8").splitlines()[0].split(",")
    convert = pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    return pcsv.read_csv(RECORDS, convert_options=convert)


def test_the_columns_are_the_long_csvs_with_rank_in_parent(ruleset):
    schema = result_schema(ruleset)
    assert [c for c in schema.columns if c != "rank_in_parent"] == list(COLUMNS)
    assert schema.columns == RESULT_COLUMNS == tuple(schema.arrow.names)
    assert set(LONG_COLUMNS) <= set(schema.columns)


def test_types_reported_figures_as_decimals_with_the_rulesets_places_and_value_as_text(ruleset):
    arrow = result_schema(ruleset).arrow
    places = ruleset.scorecard.places
    for name in ("total", "score", "contribution", "total_before_gates", "contributions_residue"):
        assert arrow.field(name).type == pa.decimal128(38, places)
    assert arrow.field("value").type == pa.string()
    assert arrow.field("rank").type == pa.int64()
    assert arrow.field("flags").type == pa.list_(pa.string())
    assert arrow.field("weight").type.scale >= places
    ddl = result_schema(ruleset).ddl
    assert f"total DECIMAL(38,{places})" in ddl
    assert "value STRING" in ddl
    assert "flags ARRAY<STRING>" in ddl


def test_the_table_agrees_with_evaluate_batches_cell_for_cell(ruleset, records):
    """Every column evaluate_batches returns (as text) is the same figure in the typed table."""
    text = evaluate_batches(ruleset, records.to_batches(), period="2026-03").read_all().to_pylist()
    typed = result_table(kpi_engine.evaluate(ruleset, records, period="2026-03")).to_pylist()
    assert result_table(kpi_engine.evaluate(ruleset, records, period="2026-03")).schema == result_schema(ruleset).arrow
    assert len(text) == len(typed)
    for t, r in zip(text, typed, strict=True):
        for name in LONG_COLUMNS:
            cell = r[name]
            if isinstance(cell, Decimal) and name != "weight":
                assert t[name] == format(cell, "f"), name
            elif name == "weight":
                assert Decimal(t[name]) == cell
            else:
                assert t[name] == ("" if cell is None else str(cell)), name


def test_the_table_agrees_with_the_csv(ruleset, records):
    """The CSV's cells (flags space-separated, figures rounded) are the typed table's, written as text."""
    import csv
    import io

    from kpi_engine.report._i18n import messages
    from kpi_engine.report._view import View
    from kpi_engine.report.csv import render_csv

    appraisal = kpi_engine.evaluate(ruleset, records, period="2026-03")
    rows = list(
        csv.DictReader(io.StringIO(render_csv(View(appraisal, messages("en"), ruleset.scorecard, {"li_na": "李娜"}))))
    )
    typed = result_table(appraisal, {"li_na": "李娜"}).to_pylist()
    for c, r in zip(rows, typed, strict=True):
        assert c["flags"] == " ".join(r["flags"])
        for name in (
            "total",
            "score",
            "contribution",
            "total_before_gates",
            "contributions_residue",
            "bonus_multiplier",
        ):
            assert c[name] == ("" if r[name] is None else format(r[name], "f")), name
        for name in ("subject", "name", "kpi", "kpi_title", "grade", "grade_title", "status"):
            assert c[name] == (r[name] or ""), name
        assert c["rank"] == str(r["rank"] or "")


def test_rank_keys_come_with_the_table(ruleset, records):
    for engine in ("row", "columnar"):
        appraisal = kpi_engine.evaluate(ruleset, records, period="2026-03", engine=engine)
        keys = subject_rank_keys(appraisal)
        table = result_table(appraisal, keys=keys)
        assert table.column_names[-1] == "rank_key"
        by_rank = sorted(zip(keys, (s.rank for s in appraisal.results), strict=True), reverse=True)
        assert [rank for _, rank in by_rank] == sorted(rank for _, rank in by_rank)


def test_the_columnar_fast_path_gives_the_result_objects_table(ruleset, records):
    """result_table from the kernel's columns equals the table built through the row executor's results."""
    from kpi_engine.evaluation.columnar._results import ColumnarResults

    names = {"li_na": "李娜"}
    fast = kpi_engine.evaluate(ruleset, records, period="2026-03", engine="columnar")
    slow = kpi_engine.evaluate(ruleset, records, period="2026-03", engine="row")
    assert isinstance(fast.results, ColumnarResults)
    keys = subject_rank_keys(fast)
    assert keys == subject_rank_keys(slow)
    assert result_table(fast, names, keys=keys).to_pylist() == result_table(slow, names, keys=keys).to_pylist()


def _cases():
    import random

    from kpi_engine.conformance import load_cases

    cases = [c for c in load_cases(ROOT / "tests" / "conformance") if c.expect is not None and c.inputs.records]
    return random.Random(5).sample(cases, 40)  # noqa: S311 - a reproducible sample


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.full_id)
def test_the_fast_path_agrees_on_conformance_cases(case):
    from kpi_engine.conformance import _load
    from kpi_engine.errors import KpiError

    ruleset = _load(case)
    if isinstance(ruleset, KpiError):
        pytest.skip("the ruleset does not load")
    i = case.inputs
    args = {
        "members": None if i.members is None else list(i.members),
        "events": None if i.events is None else list(i.events),
        "period": i.period, "strict": i.strict, "allow_extra_columns": i.allow_extra_columns,
        "totals": i.totals, "unlisted": i.unlisted,
    }  # fmt: skip
    try:
        fast = kpi_engine.evaluate(ruleset, list(i.records), engine="columnar", **args)
    except KpiError:
        pytest.skip("the columnar executor does not take this case")
    slow = kpi_engine.evaluate(ruleset, list(i.records), engine="row", **args)
    keys = subject_rank_keys(slow)
    assert subject_rank_keys(fast) == keys
    assert result_table(fast, keys=keys).to_pylist() == result_table(slow, keys=keys).to_pylist()
