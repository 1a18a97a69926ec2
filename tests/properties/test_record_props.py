"""Run records: evaluate → record → replay reproduces; bytes depend on the inputs, not on row order."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine.audit.record import record_appraisal
from kpi_engine.audit.replay import replay
from kpi_engine.language.build import parse_ruleset
from kpi_engine.testing import exact_decimals, ruleset_texts


@st.composite
def texts_with_records(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """Ruleset YAML text (as ``rulesets_with_records`` draws it) and records for one month."""
    text = draw(ruleset_texts(max_kpis=4))
    inputs = parse_ruleset(text).scorecard.inputs
    rows = []
    for s in range(draw(st.integers(1, 5))):
        row: dict[str, Any] = {"subject": f"rep{s:02d}", "period": "2026-03"}
        for name in inputs:
            value = draw(st.none() | exact_decimals("0", "150", 2))
            row[name] = None if value is None else str(value)
        rows.append(row)
    return text, rows


@settings(max_examples=40)
@given(texts_with_records())
def test_a_record_replays_exactly(pair):
    """Every recorded appraisal of a random ruleset and records replays as reproduced."""
    text, rows = pair
    appraisal, record = record_appraisal(text, rows)
    report = replay(record.to_bytes())
    assert report.reproduced, report.render()
    assert report.subjects == len(appraisal.results)


@settings(max_examples=40)
@given(texts_with_records(), st.randoms(use_true_random=False))
def test_record_bytes_do_not_depend_on_row_order_or_run(pair, rnd):
    """Two runs, and a shuffle of the input rows, give byte-identical records."""
    text, rows = pair
    first = record_appraisal(text, rows)[1].to_bytes()
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert record_appraisal(text, rows)[1].to_bytes() == first
    assert record_appraisal(text, shuffled)[1].to_bytes() == first
