"""'did you mean' stays cheap: a small pool is searched whole, a large roster only near each name."""

import pytest

from kpi_engine import DataError, errors, evaluate, parse_ruleset
from kpi_engine.errors import NEIGHBOURS, SMALL_POOL, Suggestions, did_you_mean

RULES = """
ruleset: roster
version: "1"
title: roster
subject: rep
period: month
inputs:
  x: {type: number}
kpis:
  - {id: k1, metric: x, method: linear, floor: 0, target: 10, weight: 100%}
"""


def test_a_small_pool_is_searched_whole():
    """Up to SMALL_POOL candidates every one is compared, as before: a typo anywhere is found."""
    names = ["zhang_wei", "li_na", "wang_fang"]
    found = Suggestions(names)
    assert found.strategy == "all"
    assert found("zhnag_wei") == "did you mean 'zhang_wei'?"
    assert found("wnag_fang") == "did you mean 'wang_fang'?"
    assert found.comparisons == 6
    assert did_you_mean("li_nna", names) == "did you mean 'li_na'?"
    assert did_you_mean("nobody at all", names) is None


def test_a_large_pool_compares_only_neighbours():
    """100,000 ids: a typo near the end or the start is still found, with at most 4 × NEIGHBOURS comparisons."""
    roster = [f"rep_{i:06d}" for i in range(100_000)]
    found = Suggestions(roster)
    assert found.strategy == "neighbours"
    assert found("rep_0012345") == "did you mean 'rep_012345'?"  # an extra digit
    assert found("rpe_001234") == "did you mean 'rep_001234'?"  # letters swapped at the start
    assert found.comparisons <= 2 * 4 * NEIGHBOURS


def test_a_100000_id_roster_with_1000_unknown_ids_errors_with_bounded_suggestions(monkeypatch):
    """1,000 records off a 100,000-member roster: unlisted_subject errors, suggestions made near each id only."""
    made: list[Suggestions] = []

    class Counted(Suggestions):
        def __init__(self, candidates):
            super().__init__(candidates)
            made.append(self)

    monkeypatch.setattr(errors, "Suggestions", Counted)
    errors._last.clear()
    members = [{"member": f"rep_{i:06d}", "parent": "team", "period": "2026-03"} for i in range(100_000)]
    records = [{"subject": f"rep_{i:06d}x", "period": "2026-03", "x": "1"} for i in range(1_000)]
    with pytest.raises(DataError) as err:
        evaluate(parse_ruleset(RULES), records, members=members, engine="row")
    unlisted = [i for i in err.value.issues if i.code == "unlisted_subject"]
    assert len(unlisted) == 1_000
    assert unlisted[0].suggestion.startswith("did you mean 'rep_000000'? or leave subjects")
    large = [s for s in made if len(s.pool) > SMALL_POOL]
    assert len(large) == 1  # the roster is sorted once for all 1,000 ids
    assert large[0].strategy == "neighbours"
    assert large[0].comparisons <= 1_000 * 4 * NEIGHBOURS  # not 1,000 × 100,000
