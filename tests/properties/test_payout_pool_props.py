"""Pools and instalments against a plain Fraction oracle: parts add up to their whole, to the cent.

The oracle is written from docs/pay.md, independently of the engine: the pool is rounded once
with the plan's mode, then apportioned by largest remainder (floors, then one unit each to the
largest remainders, ties to the earlier member); a draw's balance is split into N instalments the
same way, and each period takes its instalment as far as the period's earnings allow, the rest
carried to the next instalment.
"""

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from kpi_engine import parse_pay_plan, pay

MODES = ["half_up", "half_even", "half_down", "up", "down", "ceiling", "floor"]
HEAD = 'pay_plan: p\nversion: "1"\ntitle: t\nincentive_per: period\n'
COMMISSION = "  - {id: c, kind: commission, share: 100%, curve: marginal, tiers: [{from: 0, rate: 100%}]}\n"


def rnd(x: Fraction, places: int, mode: str) -> Fraction:
    """Round to ``places`` decimals with ``mode``, by integer arithmetic."""
    scaled = x * 10**places
    q, r = divmod(scaled.numerator, scaled.denominator)
    d = scaled.denominator
    neg = scaled < 0
    up = False
    if r:
        if mode == "floor":
            up = False
        elif mode == "ceiling":
            up = True
        elif mode == "down":
            up = neg
        elif mode == "up":
            up = not neg
        elif 2 * r != d:
            up = 2 * r > d
        elif mode == "half_even":
            up = q % 2 == 1
        elif mode == "half_up":
            up = not neg
        else:
            up = neg
    return Fraction(q + up, 10**places)


def largest_remainder(units: int, weights: list[Fraction]) -> list[int]:
    """``units`` apportioned in proportion to ``weights`` (some positive): floors, then the largest remainders."""
    whole = sum(weights)
    exact = [units * w / whole for w in weights]
    floors = [x.numerator // x.denominator for x in exact]
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return floors


WEIGHT = st.one_of(
    st.just(Fraction(0)),
    st.integers(1, 10**6).map(lambda n: Fraction(n, 100)),
    st.integers(1, 7),
).map(Fraction)


@given(
    amount=st.integers(0, 10**9).map(lambda n: Fraction(n, 10**4)),
    split=st.sampled_from(["equal", "score", "weight"]),
    weights=st.lists(WEIGHT, min_size=1, max_size=7),
    mode=st.sampled_from(MODES),
)
def test_pool_parts_add_up_to_the_pool_each_within_a_cent_of_its_share(amount, split, weights, mode):
    plan = parse_pay_plan(
        HEAD + f"rounding: {{places: 2, mode: {mode}}}\ncomponents:\n" + COMMISSION
        + f"  - {{id: pool, kind: pool, amount: {Decimal(amount.numerator) / amount.denominator}, split: {split}}}\n",
        "p.yaml",
    )  # fmt: skip
    names = [f"m{i}" for i in range(len(weights))]
    people = [
        {"person": n, "start": "2025-01-01", "team": "t", "target_incentive": "0", "pool_weight": str(w)}
        for n, w in zip(names, weights, strict=True)
    ]
    scores = [
        {"subject": n, "period": "2026-01", "total": f"{w.numerator}/{w.denominator}"}
        for n, w in zip(names, weights, strict=True)
    ]
    run = pay(plan, scores, people, period="2026-01")
    got = {p.person: Fraction(p.line("pool").amount) for p in run.people}
    pool = rnd(amount, 2, mode)
    counted = [Fraction(1)] * len(weights) if split == "equal" else weights
    whole = sum(counted)
    if whole == 0:  # nobody's part can be worked out: nothing paid (docs/pay.md)
        assert set(got.values()) == {0}
        return
    expected = largest_remainder(int(pool * 100), counted)
    assert [got[n] for n in names] == [Fraction(u, 100) for u in expected]
    assert sum(got.values()) == pool  # to the cent, always
    for n, w in zip(names, counted, strict=True):
        share = pool * w / whole
        assert abs(got[n] - share) < Fraction(1, 100)
        if w == 0:
            assert got[n] == 0


CENTS = st.integers(0, 300_000).map(lambda n: Fraction(n, 100))


@given(
    draw=st.integers(1, 500_000).map(lambda n: Fraction(n, 100)),
    instalments=st.integers(1, 6),
    earnings=st.lists(CENTS, min_size=6, max_size=6),
)
def test_instalments_add_up_to_the_balance_recovered_never_more_than_earnings(draw, instalments, earnings):
    """January is the draw month; February to June take the instalments back."""
    d = Decimal(draw.numerator) / draw.denominator
    plan = parse_pay_plan(
        HEAD + f"draw: {{amount: {d}, recoverable: true, periods: 1, recover: {{instalments: {instalments}}}}}\n"
        "components:\n" + COMMISSION,
        "p.yaml",
    )
    credited = [
        {"deal_id": f"d{m}", "credited_to": "r", "amount": str(Decimal(e.numerator) / e.denominator),
         "date": f"2026-0{m}-05"}
        for m, e in enumerate(earnings, start=1)
        if e
    ]  # fmt: skip
    person = {"person": "r", "start": "2026-01-01", "team": "t", "target_incentive": "0"}
    run = pay(plan, None, [person], credits=credited, period="2026-06")
    months = {k: v[0] for k, v in run.history.items()}

    # the oracle
    balance = max(draw - earnings[0], Fraction(0))
    units = int(balance * 100)
    schedule = [Fraction(u, 100) for u in largest_remainder(units, [Fraction(1)] * instalments)] if units else []
    owed = balance
    for m, earned in enumerate(earnings[1:], start=2):
        got = months[f"2026-0{m}"]
        line = next((ln for ln in got.lines if ln.id == "recovery"), None)
        if owed == 0:
            assert line is None
            assert got.total == earned
            continue
        due = schedule.pop(0)
        take = min(due, earned)
        if due - take:
            if schedule:
                schedule[0] += due - take
            else:
                schedule.append(due - take)
        owed -= take
        assert line is not None
        assert Fraction(line.amount) == -take
        assert got.total == earned - take >= 0  # never more than the earnings allow
        assert Fraction(got.balance) == owed
        assert sum(schedule) == owed  # what is left to recover is what is owed
    recovered = -sum(
        (Fraction(ln.amount) for q in months.values() for ln in q.lines if ln.id == "recovery"), Fraction(0)
    )
    assert recovered + owed == balance
