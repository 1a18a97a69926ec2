"""kpi_engine.spark's grouping of membership trees, without Spark: whole trees, every period, cycles located."""

import pytest

from kpi_engine.errors import DataError
from kpi_engine.spark import _roots


def _m(member, parent, period="2026-Q1"):
    return {"member": member, "parent": parent, "period": period}


def test_a_tree_is_one_group_across_periods():
    rows = [_m("r1", "t1"), _m("r2", "t1"), _m("t1", "d1"), _m("r3", "t2"), _m("t2", "d2"),
            _m("r3", "t1", "2026-Q2")]  # fmt: skip
    roots = _roots(rows)
    # r3 moved from t2 (d2) to t1 (d1) in Q2: both departments' trees must be evaluated together.
    assert len(set(roots.values())) == 1
    assert set(roots) == {"r1", "r2", "r3", "t1", "t2", "d1", "d2"}


def test_separate_trees_are_separate_groups():
    roots = _roots([_m("r1", "t1"), _m("r2", "t2")])
    assert roots["r1"] == roots["t1"] != roots["r2"] == roots["t2"]
    assert _roots(None) == {} == _roots([])


def test_a_cycle_is_a_located_data_error():
    with pytest.raises(DataError, match="cycle") as info:
        _roots([_m("a", "b"), _m("b", "c"), _m("c", "a")])
    issue = info.value.issues[0]
    assert issue.code == "member_cycle"
    assert issue.location is not None
    assert issue.location.line >= 2
