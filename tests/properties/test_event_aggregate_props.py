"""Event aggregates with random filters: the columnar kernel and the row path agree, or raise the same error."""

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.properties.test_columnar_props import run_both
from tests.properties.test_filter_props import filters

from kpi_engine.language.build import parse_ruleset

pytest.importorskip("polars")
pytest.importorskip("numpy")

FIELDS = {
    "amount": "money",
    "score": "number",
    "flag": "bool",
    "gone_text": "text",
    "gone_number": "number",
    "gone_flag": "bool",
}
# Text with spaces around it is read by the row path (frames strip it, Python rows do not): not here.
TYPES = ["visit", "call", "Visit", "deal"]
CUSTOMERS = [None, "", "  ", "c1", "C1", "c2", "\x1c"]
AMOUNTS = [None, "", " ", "0", "12.5", " 3 ", "-0.001", "1.", ".5", "+2", "2.005", "99", "1.50", "12x"]
FLAGS = [None, "", "true", "false", "yes", "no"]
# Outside the translated subset: evaluated by the exact NumPy kernel.
EXACT = ["amount + 1 > 2", "amount * 2 == score", "round(amount) == 1 or type == 'call'"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[object, list[dict[str, str]], list[dict[str, object]]]:
    """A ruleset of filtered event aggregates, three reps' records and random events (a few invalid)."""
    where = st.one_of(filters(), st.sampled_from(EXACT))
    metrics = {
        "n": {"aggregate": {"fn": "count", "where": draw(where)}},
        "total": {"aggregate": {"fn": "sum", "field": "amount", "where": draw(where)}},
        "avg": {"aggregate": {"fn": draw(st.sampled_from(["mean", "min", "max"])), "field": "score"}},
        "low": {"aggregate": {"fn": draw(st.sampled_from(["mean", "min", "max"])), "field": "amount", "where": draw(where)}},
        "who": {"aggregate": {"fn": "count_distinct", "field": "customer", "where": draw(where)}},
    }  # fmt: skip
    doc = {
        "ruleset": "events",
        "version": "1",
        "title": "filtered events",
        "subject": "rep",
        "period": "month",
        "inputs": {"x": {"type": "number", "required": False}},
        "event_fields": FIELDS,
        "metrics": metrics,
        "kpis": [
            {"id": f"k_{name}", "metric": name, "method": "expression", "score": "value", "weight": "20%"}
            for name in metrics
        ],
    }
    ruleset = parse_ruleset(yaml.safe_dump(doc, sort_keys=False))
    records = [{"subject": f"rep{i}", "period": "2026-03", "x": "1"} for i in range(3)]
    valid = draw(st.booleans())  # half the cases hold only valid cells, so that the kernel's own result is compared
    amounts = [a for a in AMOUNTS if a != "12x"] if valid else AMOUNTS
    events = [
        {
            "event_id": f"e{i}" if valid or i % 5 else f" e{i - 1}",
            "type": draw(st.sampled_from(TYPES)),
            "at": draw(st.sampled_from(["2026-03-02T10:00:00", "2026-03-31T23:59:59", "2026-02-28", "2026-04-01"])),
            "rep": draw(st.sampled_from(["rep0", "rep1", " rep2"])),
            "customer": draw(st.sampled_from(CUSTOMERS)),
            "amount": draw(st.sampled_from(amounts)),
            "score": draw(st.sampled_from([None, "1", "4.5", "5", "3.25"])),
            "flag": draw(st.sampled_from(FLAGS)),
        }
        for i in range(draw(st.integers(1, 15)))
    ]
    return ruleset, records, events


@given(cases())
@settings(max_examples=60)
def test_filtered_aggregates_match_the_row_path(case):
    """Counts, sums, means, minima, maxima and distinct counts under random filters equal the row path's."""
    ruleset, records, events = case
    run_both(ruleset, records, events=events)
