"""The kernel on history, members and rollups: the row path's appraisal, warnings and errors."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.properties.test_columnar_props import assert_same

from kpi_engine import KpiError, evaluate
from kpi_engine.evaluation.columnar._run import FallbackError, run_columnar
from kpi_engine.testing import layered_cases

pytest.importorskip("polars")
pytest.importorskip("numpy")


@given(layered_cases(), st.booleans())
@settings(max_examples=50)
def test_layered_metrics_match_the_row_path(case, strict):
    """Previous, streak, members and rollups give the row path's appraisal, or its error, on the kernel."""
    ruleset, records, members, events, period = case
    kw = {"period": period, "members": members, "events": events, "strict": strict}
    try:
        row = evaluate(ruleset, records, engine="row", **kw)
    except KpiError as exc:
        expected = exc
    else:
        expected = None
    if expected is not None:
        with pytest.raises(KpiError) as caught:
            evaluate(ruleset, records, engine="columnar", **kw)
        assert [i.code for i in caught.value.issues] == [i.code for i in expected.issues]
        assert str(caught.value) == str(expected)
        return
    try:
        col = run_columnar(ruleset, records, period, members, events, strict=strict)
    except FallbackError:  # valid data the kernel leaves to the row path: only beyond the exact int64 range
        pytest.fail("the kernel handed valid data to the row path")
    assert_same(row, col)
    assert row.warnings == col.warnings
