"""Territory balance: exact shares against equal, and moves that improve the declared criterion."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_engine.errors import DataError, RulesetError
from kpi_engine.management.territories import Account, balance, parse_territories, propose, read_accounts


def acc(ident, territory, potential, workload=1, *, locked=False):
    return Account(ident, territory, Decimal(potential), Decimal(workload), locked=locked)


SMALL = [acc("A", "t1", 50, 5), acc("B", "t1", 30, 1), acc("C", "t2", 20, 4)]


def test_shares_against_equal_and_the_spread():
    """80 : 20 of potential is 80 % and 20 % against 50 %, a spread of 60 points; workload 6 : 4."""
    b = balance(SMALL, "potential")
    assert [(s.territory, s.share, s.deviation) for s in b.shares] == [
        ("t1", Fraction(4, 5), Fraction(3, 10)), ("t2", Fraction(1, 5), Fraction(-3, 10)),
    ]  # fmt: skip
    assert b.spread == Fraction(3, 5)
    assert b.other_spread == Fraction(1, 5)


def test_the_best_single_move_is_taken_first():
    """Moving B (30) evens 80 : 20 to 50 : 50; moving A (50) would only reach 30 : 70."""
    p = propose(SMALL, "potential")
    assert [(m.account, m.source, m.target) for m in p.moves] == [("B", "t1", "t2")]
    assert p.after.spread == 0
    assert p.local_optimum


def test_workload_balances_on_workload():
    """By workload (6 : 4), moving B (1) gives 5 : 5."""
    assert [(m.account, m.target) for m in propose(SMALL, "workload").moves] == [("B", "t2")]


def test_locked_accounts_stay():
    """With B locked, A (50) moves to t2 (30 : 70), then C (20) back to t1 (50 : 50); B never moves."""
    p = propose([SMALL[0], acc("B", "t1", 30, locked=True), SMALL[2]], "potential")
    assert [(m.account, m.target) for m in p.moves] == [("A", "t2"), ("C", "t1")]
    assert p.after.spread == 0


def test_a_swap_when_no_single_move_helps():
    """105 (60 + 45) against 95 (55 + 40): no single move helps, swapping 60 and 55 gives 100 : 100."""
    accounts = [acc("A", "x", 60), acc("B", "x", 45), acc("C", "y", 55), acc("D", "y", 40)]
    p = propose(accounts, "potential")
    assert p.before.spread == Fraction(1, 20)
    assert p.after.spread == 0
    assert {m.step for m in p.moves} == {1}
    assert len(p.moves) == 2


def test_empty_territories_count_against_equal():
    """A named territory without accounts has a 0 share and pulls accounts in."""
    b = balance(SMALL, "potential", ["t1", "t2", "t3"])
    assert [s.equal for s in b.shares] == [Fraction(1, 3)] * 3
    assert propose(SMALL, "potential", territories=["t1", "t2", "t3"]).moves


def test_bad_rows_are_reported_together():
    """A missing territory, a negative potential, a duplicate, an unknown column and territory at once."""
    spec = parse_territories("territories: t\ncriterion: potential\nnames: {east: E, west: W}\n")
    rows = [
        {"account": "A", "territory": "", "potential": "1", "workload": "1"},
        {"account": "B", "territory": "east", "potential": "-1", "workload": "1"},
        {"account": "B", "territory": "east", "potential": "1", "workload": "1", "extra": "x"},
        {"account": "C", "territory": "eest", "potential": "1", "workload": "1"},
    ]
    with pytest.raises(DataError) as exc:
        read_accounts(rows, spec)
    codes = sorted(i.code for i in exc.value.issues)
    assert codes == ["bad_value", "duplicate_row", "missing_field", "unknown_column", "unknown_territory"]


def test_a_design_file_with_a_typo_is_located():
    """An unknown criterion is refused at its line."""
    with pytest.raises(RulesetError) as exc:
        parse_territories("territories: t\ncriterion: potentail\n", "t.yaml")
    assert str(exc.value.issues[0].location).startswith("t.yaml:2:")


accounts = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 1000), st.booleans()), min_size=2, max_size=12
)


@given(accounts)
def test_moves_never_widen_the_spread_and_end_at_a_local_optimum(rows):
    """The spread after the moves is at most the spread before, and no single move improves the end state."""
    items = [acc(f"k{i}", t, v, locked=lock) for i, (t, v, lock) in enumerate(rows)]
    if sum(v for _, v, _ in rows) == 0:
        return
    p = propose(items, "potential", max_moves=100)
    assert p.after.spread <= p.before.spread
    assert sum(s.share for s in p.after.shares) == 1
    assert p.local_optimum
    moved = {m.account for m in p.moves}
    assert not moved & {a.id for a in items if a.locked}


small_accounts = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 500), st.booleans()), min_size=2, max_size=8
)


@given(small_accounts, st.integers(0, 4))
def test_the_solver_is_never_worse_than_the_local_search(rows, max_moves):
    """CP-SAT's proven spread is at most the local search's, within the same moves, locked accounts kept."""
    pytest.importorskip("ortools")
    from kpi_engine.management.territories import propose_optimal

    items = [acc(f"k{i}", t, v, locked=lock) for i, (t, v, lock) in enumerate(rows)]
    if sum(v for _, v, _ in rows) == 0:
        return
    local = propose(items, "potential", max_moves=max_moves)
    best = propose_optimal(items, "potential", max_moves=max_moves)
    assert best.method == "cp-sat optimal"
    assert best.after.spread <= local.after.spread
    assert len(best.moves) <= max_moves
    assert not {m.account for m in best.moves} & {a.id for a in items if a.locked}


def test_the_solver_answers_the_same_every_run():
    """Single-threaded under a work limit, two runs propose the same moves."""
    pytest.importorskip("ortools")
    from kpi_engine.management.territories import propose_optimal

    items = [acc("A", "x", 60), acc("B", "x", 45), acc("C", "y", 55), acc("D", "y", 40), acc("E", "z", 7)]
    first = propose_optimal(items, "potential", max_moves=3)
    second = propose_optimal(items, "potential", max_moves=3)
    assert first.moves == second.moves
    assert first.after.spread == second.after.spread


def test_a_swap_the_move_limit_forbids_is_not_called_a_local_optimum():
    """With one move allowed, no single move helps but a swap would: the proposal says it stopped short."""
    accounts = [acc("K0", "B", 10), acc("K1", "A", 14), acc("K2", "A", 6), acc("K3", "B", 4)]
    assert propose(accounts, "potential", max_moves=2).after.spread < propose(accounts, "potential").before.spread
    limited = propose(accounts, "potential", max_moves=1)
    assert limited.moves == ()
    assert limited.local_optimum is False


def test_the_callers_decimal_context_does_not_change_the_figures():
    """Under a 3-digit context the totals and the moves are those of the exact arithmetic."""
    import decimal

    accounts = [acc("A", "t1", "1234567.89"), acc("B", "t1", "0.01"), acc("C", "t2", "1000000")]
    expected = propose(accounts, "potential")
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        found = propose(accounts, "potential")
    assert found == expected
    assert found.before.shares[0].potential == Decimal("1234567.90")
