"""Run records: evaluate → record → replay reproduces; bytes ignore row order; any edit is caught and named."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine import KpiError
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


FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "records" / "v0.1-s1.record.json"
RECORD = json.loads(FIXTURE.read_bytes())
META = {"format", "kind", "engine", "created", "summary"}


def _leaves(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(tree, dict):
        return [p for k, v in tree.items() for p in _leaves(v, (*path, k))]
    if isinstance(tree, list):
        return [p for i, v in enumerate(tree) for p in _leaves(v, (*path, i))]
    return [path]


LEAVES = _leaves(RECORD)


def _expected_part(path: tuple[Any, ...]) -> str:
    top = path[0]
    if top in META:
        return "meta"
    if top == "digests":
        return f"digests.{path[1]}"
    return str(top)


@settings(max_examples=60)
@given(st.sampled_from(LEAVES))
def test_any_edited_field_fails_replay_and_is_named(path):
    """Editing any single value of a record makes replay fail, naming the part that holds it."""
    data = copy.deepcopy(RECORD)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    old = parent[path[-1]]
    parent[path[-1]] = (
        "x" if old is None else (not old) if isinstance(old, bool) else old + 1 if isinstance(old, int) else old + "x"
    )
    if path[0] in {"format", "kind"}:  # a record of an unknown format or kind is refused outright
        with pytest.raises(KpiError):
            replay(json.dumps(data))
        return
    report = replay(json.dumps(data))
    assert not report.reproduced
    parts = [f.part for f in report.tampered]
    assert any(p == _expected_part(path) or p.startswith(_expected_part(path) + ".") for p in parts), (path, parts)
