"""Plan splits: parts add up to the whole, stay within one unit of their share, ignore input order."""

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from kpi_engine._numbers import split_units
from kpi_engine.time.targets import decompose, parse_plan


@st.composite
def weights(draw, min_size=1, max_size=6):
    """Integer basis points adding up to 10000, as exact fractions."""
    n = draw(st.integers(min_size, max_size))
    cuts = sorted(draw(st.lists(st.integers(0, 10000), min_size=n - 1, max_size=n - 1)))
    points = [b - a for a, b in zip([0, *cuts], [*cuts, 10000], strict=True)]
    return [Fraction(p, 10000) for p in points]


@given(st.integers(0, 10**12), weights())
def test_parts_sum_to_the_whole_and_stay_within_one_unit(total, ws):
    """Every largest-remainder split adds up exactly and each part is within one unit of its exact share."""
    parts = list(enumerate(ws))
    out = split_units(total, parts)
    assert sum(out.values()) == total
    for k, w in parts:
        assert abs(out[k] - total * w) < 1


@given(st.integers(0, 10**9), weights(), st.randoms())
def test_split_does_not_depend_on_input_order(total, ws, rnd):
    """Shuffling the parts gives each key the same amount."""
    parts = [(f"s{i}", w) for i, w in enumerate(ws)]
    shuffled = parts[:]
    rnd.shuffle(shuffled)
    assert split_units(total, parts) == split_units(total, shuffled)


def _pct(w: Fraction) -> str:
    return f"{Decimal(w.numerator) / Decimal(w.denominator) * 100}%"


@settings(max_examples=25)  # each example decomposes a whole year day by day: keep CI quick
@given(st.integers(0, 10**8), weights(1, 4), weights(4, 4), st.booleans())
def test_plan_sums_hold_at_every_level_whatever_the_order(cents, shares, quarters, reverse):
    """A generated plan adds up at every level and gives the same numbers when its subjects are listed reversed."""
    names = [f"r{i}" for i in range(len(shares))]
    entries = [f"{n}: {_pct(w)}" for n, w in zip(names, shares, strict=True)]
    if reverse:
        entries.reverse()
    text = (
        f"plan: p\nyear: 2026\nshares: {{{', '.join(entries)}}}\n"
        f"seasonality: {{quarters: [{', '.join(_pct(q) for q in quarters)}]}}\n"
        f"targets:\n  sales: {{total: {Decimal(cents).scaleb(-2)}}}\n"
    )
    result = decompose(parse_plan(text))
    rows = result.allocations
    year = {a.subject: a.value for a in rows if a.period.kind == "year"}
    assert year["company"] == Decimal(cents).scaleb(-2)
    assert sum(year[n] for n in names) == year["company"]
    for subject, total in year.items():
        for kind in ("quarter", "month", "week", "day"):
            assert sum(a.value for a in rows if a.subject == subject and a.period.kind == kind) == total
    if not reverse:
        again = text.replace(", ".join(entries), ", ".join(reversed(entries)))
        assert decompose(parse_plan(again)).allocations == result.allocations
