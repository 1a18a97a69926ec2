"""Pay against a plain Fraction oracle: random plans and inputs, values on tier boundaries, to the cent.

The oracle below is written from the definitions in docs/pay.md, independently of the engine:
tiers as sums over slices, rounding by integer division, largest remainder by sorting, working
days by counting weekdays. Random plans mix step and marginal tiers, thresholds, caps, period and
year-to-date bases, clawbacks with partial refunds, recoverable and non-recoverable draws, and
mid-month hires (proration); the engine and the oracle must agree on every line of every month.
"""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kpi_engine import parse_pay_plan, pay

MONTHS = [dt.date(2026, m, 1) for m in (1, 2, 3, 4)]
MODES = ["half_up", "half_even", "half_down", "up", "down", "ceiling", "floor"]


# --- the oracle ---------------------------------------------------------------------------------


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


def curve_value(spec: dict, x: Fraction) -> Fraction:
    """A commission curve at x: the threshold, then marginal slices or the step tier's rate."""
    if spec["threshold"] is not None and x < spec["threshold"]:
        return Fraction(0)
    bounds, rates = spec["bounds"], spec["rates"]
    if spec["kind"] == "marginal":
        total = Fraction(0)
        for i, rate in enumerate(rates):
            lo = bounds[i]
            hi = bounds[i + 1] if i + 1 < len(bounds) else None
            top = x if hi is None else min(x, hi)
            if top > lo:
                total += (top - lo) * rate
        return total
    for i in reversed(range(len(rates))):
        if x >= bounds[i]:
            return x * rates[i]
    return Fraction(0)


def largest_remainder(total: Fraction, weights: list[Fraction], places: int) -> list[Fraction]:
    """Split ``total`` (a multiple of the unit) in proportion to ``weights``, by largest remainder."""
    unit = Fraction(1, 10**places)
    units = int(total / unit)
    whole = sum(weights)
    if not weights:
        return []
    shares = (
        [Fraction(units) * (w / whole) for w in weights] if whole else [Fraction(units, len(weights))] * len(weights)
    )
    floors = [s.numerator // s.denominator for s in shares]
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [f * unit for f in floors]


def weekdays(first: dt.date, last: dt.date) -> int:
    return sum(1 for n in range((last - first).days + 1) if (first + dt.timedelta(n)).weekday() < 5)


def month_end(start: dt.date) -> dt.date:
    nxt = dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def oracle(case: dict) -> dict[str, dict[str, Fraction]]:
    """Every line of every month for the one person, as the definitions say."""
    p, mode, curve = case["places"], case["mode"], case["curve"]
    ti, share, hired = case["target"], case["grade_share"], case["hired"]
    out: dict[str, dict[str, Fraction]] = {}
    paid: dict[str, tuple[Fraction, Fraction]] = {}  # deal → (paid on it, deal amount)
    held: dict[str, Fraction] = {}  # deal → its part, held until the customer pays
    balance = Fraction(0)
    deals = sorted(case["deals"], key=lambda d: (d["date"], d["id"]))
    employed = [d for d in deals if hired is None or d["date"] >= hired]

    def capped(x: Fraction) -> Fraction:
        v = curve_value(curve, x)
        return min(v, curve["cap"]) if curve["cap"] is not None else v

    for month in MONTHS:
        end = month_end(month)
        if hired is not None and hired > end:
            continue
        lines: dict[str, Fraction] = {}
        first = max(month, hired) if hired else month
        weight = Fraction(weekdays(first, end), weekdays(month, end))
        lines["g"] = rnd(ti * share * case["multiplier"] * weight, p, mode)
        now = [d for d in employed if month <= d["date"] <= end]
        before = sum((d["amount"] for d in employed if d["date"] < month), Fraction(0)) if curve["ytd"] else Fraction(0)
        after = before + sum((d["amount"] for d in now), Fraction(0))
        if curve["ytd"]:
            line = rnd(capped(after), p, mode) - rnd(capped(before), p, mode)
        else:
            line = rnd(capped(after), p, mode)
        lines["c"] = line
        weights, cum = [], before
        for d in now:
            weights.append(capped(cum + d["amount"]) - capped(cum))
            cum += d["amount"]
        for d, part in zip(now, largest_remainder(line, weights, p), strict=True):
            paid[d["id"]] = (part, d["amount"])
            if case["on_payment"] and part and (d.get("paid") is None or d["paid"] > end):
                held[d["id"]] = part
                lines["c.held"] = lines.get("c.held", Fraction(0)) - part
        for d in deals:  # released when the customer pays (before any clawback of the same month)
            if d["id"] in held and d["date"] < month and d.get("paid") is not None and d["paid"] <= end:
                lines["c.released"] = lines.get("c.released", Fraction(0)) + held.pop(d["id"])
        for d in deals:
            cancel = d.get("cancelled")
            if cancel is None or not month <= cancel <= end or d["id"] not in paid:
                continue
            part, amount = paid[d["id"]]
            if d["id"] in held:  # refunded while held: its share is never paid (nothing to take back)
                if d["refund"] == amount:
                    del held[d["id"]]
                else:  # the rest stays held until the customer pays
                    held[d["id"]] -= rnd(held[d["id"]] * d["refund"] / amount, p, mode)
                continue
            if case["window"] is None or (cancel - d["date"]).days > case["window"] or not part:
                continue
            lines[f"c.clawback.{d['id']}"] = rnd(-part * d["refund"] / amount, p, mode)
        earned = sum(lines.values(), Fraction(0))
        draw = case["draw"]
        room = earned
        topped = False
        if draw is not None:
            guaranteed = rnd(draw["amount"] * weight, p, mode)
            if earned < guaranteed:
                lines["draw"] = guaranteed - earned
                if draw["recoverable"]:
                    balance += guaranteed - earned
                topped = True
            else:
                room = earned - guaranteed
        if not topped:
            if balance > 0 and room > 0:
                take = min(balance, room)
                balance -= take
                lines["recovery"] = -take
                earned -= take
            if earned < 0:
                balance += -earned
                lines["carried"] = -earned
        out[f"{month.year}-{month.month:02d}"] = lines
    return out


# --- random plans and inputs --------------------------------------------------------------------


def money(places: int) -> st.SearchStrategy[Fraction]:
    return st.integers(1, 3_000_000 * 10**places).map(lambda n: Fraction(n, 10**places))


@st.composite
def cases(draw: st.DrawFn) -> dict:
    places = draw(st.integers(0, 2))
    kind = draw(st.sampled_from(["step", "marginal"]))
    n = draw(st.integers(1, 4))
    cuts = sorted(draw(st.lists(st.integers(1, 2_000), min_size=n - 1, max_size=n - 1, unique=True)))
    bounds = [Fraction(0)] + [Fraction(c * 1000) for c in cuts]
    rates = [Fraction(draw(st.integers(0, 1000)), 10_000) for _ in range(n)]
    if kind == "step":
        rates.sort()  # a step curve that never goes down
    threshold = draw(st.none() | st.sampled_from(bounds[1:] or [Fraction(500)]) | money(places))
    cap = draw(st.none() | st.integers(1, 50_000).map(Fraction))
    if cap is not None and threshold is not None:
        assume(cap >= curve_value({"kind": kind, "bounds": bounds, "rates": rates, "threshold": None}, threshold))
    curve = {"kind": kind, "bounds": bounds, "rates": rates, "threshold": threshold, "cap": cap,
             "ytd": draw(st.booleans())}  # fmt: skip
    # deals: amounts on boundaries, on differences of boundaries, and random; dates in Jan–Apr
    amount = st.sampled_from([*bounds[1:], Fraction(1000), Fraction(2500)]) | money(places)  # repeats make ties
    count = draw(st.integers(0, 6))
    deals = []
    for i in range(count):
        day = MONTHS[0] + dt.timedelta(days=draw(st.integers(0, 118)))
        deal = {"id": f"d{i}", "amount": draw(amount), "date": day}
        if draw(st.booleans()):
            deal["paid"] = day + dt.timedelta(days=draw(st.integers(0, 60)))
        if draw(st.booleans()):
            deal["cancelled"] = day + dt.timedelta(days=draw(st.integers(0, 60)))
            whole = deal["amount"]
            deal["refund"] = draw(st.sampled_from([whole, whole / 2, whole / 4]))
            assume((deal["refund"] * 10**places).denominator == 1)
        deals.append(deal)
    hired = draw(st.none() | st.integers(0, 100).map(lambda n: MONTHS[0] + dt.timedelta(days=n)))
    draw_spec = draw(st.none() | st.fixed_dictionaries({"amount": st.integers(0, 3000).map(Fraction),
                                                         "recoverable": st.booleans()}))  # fmt: skip
    return {
        "places": places,
        "mode": draw(st.sampled_from(MODES)),
        "curve": curve,
        "target": Fraction(draw(st.integers(0, 5_000))),
        "grade_share": Fraction(draw(st.integers(0, 100)), 100),
        "multiplier": Fraction(draw(st.integers(0, 200)), 100),
        "deals": deals,
        "window": draw(st.none() | st.integers(0, 45) | st.integers(0, 45)),
        "on_payment": draw(st.booleans()),
        "hired": hired,
        "draw": draw_spec,
    }


def text(x: Fraction) -> str:
    return str(Decimal(x.numerator) / Decimal(x.denominator)) if x.denominator != 1 else str(x.numerator)


def plan_yaml(case: dict) -> str:
    c = case["curve"]
    tiers = []
    for i, rate in enumerate(c["rates"]):
        tier = f"{{from: {text(c['bounds'][i])}"
        if i + 1 < len(c["bounds"]):
            tier += f", to: {text(c['bounds'][i + 1])}"
        tiers.append(tier + f", rate: {text(rate)}}}")
    extra = ", basis: year_to_date" if c["ytd"] else ""
    if c["threshold"] is not None:
        extra += f", threshold: {text(c['threshold'])}"
    if c["cap"] is not None:
        extra += f", cap: {{amount: {text(c['cap'])}}}"
    if case["window"] is not None:
        extra += f", clawback: {{within_days: {case['window']}}}"
    if case["on_payment"]:
        extra += ", release: on_payment"
    lines = [
        "pay_plan: p", 'version: "1"', "title: t", "incentive_per: period", "calendar: weekdays",
        f"rounding: {{places: {case['places']}, mode: {case['mode']}}}", "components:",
        f"  - {{id: g, kind: grade, share: {text(case['grade_share'])}, multipliers: {{A: {text(case['multiplier'])}}}}}",
        (
            f"  - {{id: c, kind: commission, share: {text(1 - case['grade_share'])}, curve: {c['kind']}{extra}, "
            f"tiers: [{', '.join(tiers)}]}}"
        ),
    ]  # fmt: skip
    if case["draw"] is not None:
        d = case["draw"]
        lines.append(f"draw: {{amount: {text(d['amount'])}, recoverable: {str(d['recoverable']).lower()}}}")
    return "\n".join(lines) + "\n"


def run_engine(case: dict):
    plan = parse_pay_plan(plan_yaml(case))
    person = {"person": "r", "target_incentive": text(case["target"])}
    if case["hired"] is not None:
        person["start"] = case["hired"].isoformat()
    appraisals = [{"subject": "r", "period": f"2026-{m.month:02d}", "grade": "A"} for m in MONTHS]
    credits_rows = [{"deal_id": d["id"], "credited_to": "r", "amount": text(d["amount"]), "date": d["date"].isoformat()}
                    for d in case["deals"]]  # fmt: skip
    facts = [
        {
            "deal_id": d["id"],
            "paid": d["paid"].isoformat() if "paid" in d else None,
            "cancelled": d["cancelled"].isoformat() if "cancelled" in d else None,
            "refund": text(d["refund"]) if "refund" in d else None,
        }
        for d in case["deals"]
    ]
    return pay(plan, appraisals, [person], credits=credits_rows or None, deals=facts or None, period="2026-04")


# --- the properties -----------------------------------------------------------------------------


@given(cases())
def test_every_line_of_every_month_matches_the_oracle(case):
    """Random plans and deals: the engine's lines equal the oracle's, month by month, to the last unit."""
    expected = oracle(case)
    run = run_engine(case)
    got = {month: {ln.id: Fraction(ln.amount) for ln in people[0].lines} for month, people in run.history.items()}
    for month, lines in expected.items():
        assert {k: v for k, v in got.get(month, {}).items() if v or k in lines} == lines, month


@given(cases())
def test_parts_add_up_to_the_whole(case):
    """Each person's total is the sum of the lines, each deal's part adds up to its component's line."""
    run = run_engine(case)
    for people in run.history.values():
        for p in people:
            assert p.total == sum((ln.amount for ln in p.lines), Decimal(0))
            line = p.line("c")
            parts = [Decimal(d["pay"]) for d in line.details["deals"]]
            if parts:
                assert sum(parts) == line.amount
            assert p.total >= 0


@given(
    st.integers(0, 10_000).map(lambda n: Fraction(n, 10_000)),
    st.lists(st.integers(1, 10**8).map(lambda n: Fraction(n, 100)), max_size=5),
    st.sampled_from(MODES),
)
def test_step_and_marginal_agree_with_one_tier(rate, amounts, mode):
    """With a single tier from 0, the whole at the rate and each slice at the rate are the same pay."""
    results = []
    for kind in ("step", "marginal"):
        plan = parse_pay_plan(
            f'pay_plan: p\nversion: "1"\ntitle: t\nrounding: {{mode: {mode}}}\ncomponents:\n'
            f"  - {{id: c, kind: commission, share: 100%, curve: {kind}, tiers: [{{from: 0, rate: {text(rate)}}}]}}\n"
        )
        rows = [{"deal_id": f"d{i}", "credited_to": "r", "amount": text(a), "date": "2026-03-02"}
                for i, a in enumerate(amounts)]  # fmt: skip
        run = pay(plan, None, [{"person": "r", "target_incentive": "1"}], credits=rows or None, period="2026-03")
        results.append(run.person("r").component("c"))
    assert results[0] == results[1] == rnd(sum(amounts, Fraction(0)) * rate, 2, mode)


def _case(**overrides) -> dict:
    base = {
        "places": 2,
        "mode": "half_up",
        "curve": {
            "kind": "marginal",
            "bounds": [Fraction(0)],
            "rates": [Fraction(1)],
            "threshold": None,
            "cap": None,
            "ytd": False,
        },
        "target": Fraction(0),
        "grade_share": Fraction(0),
        "multiplier": Fraction(0),
        "deals": [],
        "window": 120,
        "on_payment": False,
        "hired": None,
        "draw": None,
    }
    return {**base, **overrides}


@given(
    st.lists(st.tuples(st.integers(0, 118), st.integers(0, 4000), st.none() | st.integers(0, 40)), max_size=8),
    st.integers(0, 3000),
    st.booleans(),
    st.none() | st.integers(0, 100),
)
def test_draws_recoveries_and_balances_match_the_oracle(deals, guarantee, recoverable, hired):
    """Commission paid at 100 %, a draw, clawbacks: top-ups, recoveries and carried balances month by month."""
    rows = []
    for i, (day, amount, cancel) in enumerate(deals):
        date = MONTHS[0] + dt.timedelta(days=day)
        deal = {"id": f"d{i}", "amount": Fraction(amount), "date": date}
        if cancel is not None:
            deal["cancelled"], deal["refund"] = date + dt.timedelta(days=cancel), Fraction(amount)
        rows.append(deal)
    case = _case(
        deals=rows,
        draw={"amount": Fraction(guarantee), "recoverable": recoverable},
        hired=None if hired is None else MONTHS[0] + dt.timedelta(days=hired),
    )
    expected = oracle(case)
    got = {m: {ln.id: Fraction(ln.amount) for ln in ps[0].lines} for m, ps in run_engine(case).history.items()}
    for month, lines in expected.items():
        assert {k: v for k, v in got.get(month, {}).items() if v or k in lines} == lines, month


@given(
    st.integers(2, 6),
    st.integers(1, 50),
    st.sampled_from(
        [Fraction(137, 10_000), Fraction(333, 1_000_000), Fraction(333, 1_000)]
    ),  # decimal rates, odd cents
    st.integers(0, 2),
    st.sampled_from(MODES),
)
def test_equal_deals_split_the_cents_and_claw_back_their_own_part(count, amount, rate, places, mode):
    """Equal deals in one month tie for the leftover cents; each clawback takes back exactly its own part."""
    march = MONTHS[2]
    deals = [
        {"id": f"d{i}", "amount": Fraction(amount), "date": march, "cancelled": MONTHS[3], "refund": Fraction(amount)}
        for i in range(count)
    ]
    curve = {"kind": "marginal", "bounds": [Fraction(0)], "rates": [rate], "threshold": None, "cap": None,
             "ytd": False}  # fmt: skip
    case = _case(deals=deals, curve=curve, places=places, mode=mode)
    expected = oracle(case)
    got = {m: {ln.id: Fraction(ln.amount) for ln in ps[0].lines} for m, ps in run_engine(case).history.items()}
    for month, lines in expected.items():
        assert {k: v for k, v in got.get(month, {}).items() if v or k in lines} == lines, month


@given(cases())
def test_the_columnar_executor_gives_the_row_executors_lines(case):
    """The column kernels give every line of every month that the row executor gives, to the unit."""
    pl = pytest.importorskip("polars")
    from kpi_engine.payout.columnar import line_amounts, pay_table, table_of

    run = run_engine(case)
    plan = parse_pay_plan(plan_yaml(case))
    person = {"person": "r", "target_incentive": text(case["target"]), "start": None}
    if case["hired"] is not None:
        person["start"] = case["hired"].isoformat()
    appraisals = pl.DataFrame([{"subject": "r", "period": f"2026-{m.month:02d}", "grade": "A"} for m in MONTHS])
    credited = pl.DataFrame(
        [{"deal_id": d["id"], "credited_to": "r", "amount": text(d["amount"]), "date": d["date"].isoformat()}
         for d in case["deals"]],
        schema={"deal_id": pl.String, "credited_to": pl.String, "amount": pl.String, "date": pl.String},
    )  # fmt: skip
    facts = pl.DataFrame(
        [{"deal_id": d["id"], "paid": d["paid"].isoformat() if "paid" in d else None,
          "cancelled": d["cancelled"].isoformat() if "cancelled" in d else None,
          "refund": text(d["refund"]) if "refund" in d else None} for d in case["deals"]],
        schema={"deal_id": pl.String, "paid": pl.String, "cancelled": pl.String, "refund": pl.String},
    )  # fmt: skip
    table = pay_table(plan, appraisals, pl.DataFrame([person], schema={"person": pl.String,
                      "target_incentive": pl.String, "start": pl.String}), credits=credited, deals=facts,
                      period="2026-04")  # fmt: skip
    assert table.executor == "columnar", table.reason
    assert line_amounts(table) == line_amounts(table_of(run))


DEAL_DATES = st.tuples(
    st.integers(0, 118), st.integers(1, 900), st.integers(-1, 3), st.integers(-1, 3), st.integers(0, 2)
)


@given(st.lists(DEAL_DATES, max_size=8), st.none() | st.integers(0, 40))
def test_held_released_forfeited_and_clawed_back_on_month_ends(deals, window):
    """Deals paid and cancelled on month ends, the month after, or never: held, released, forfeited, clawed back."""
    pl = pytest.importorskip("polars")
    from kpi_engine.payout.columnar import line_amounts, pay_table, table_of

    rows = []
    for i, (day, amount, paid_at, cancel_at, refund) in enumerate(deals):
        date = MONTHS[0] + dt.timedelta(days=day)
        deal = {"id": f"d{i}", "amount": Fraction(amount * 4), "date": date}
        # -1: never; k >= 0: the last day of the k-th month after the deal's month (0: its own month's end)
        for key, at in (("paid", paid_at), ("cancelled", cancel_at)):
            if at >= 0:
                month = min(date.month + at, 4)
                deal[key] = max(month_end(dt.date(2026, month, 1)) - dt.timedelta(days=refund % 2), date)
        if "cancelled" in deal:
            deal["refund"] = deal["amount"] / (1, 2, 4)[refund]
        rows.append(deal)
    curve = {"kind": "marginal", "bounds": [Fraction(0)], "rates": [Fraction(1, 100)], "threshold": None,
             "cap": None, "ytd": False}  # fmt: skip
    case = _case(deals=rows, curve=curve, window=window, on_payment=True)
    expected = oracle(case)
    run = run_engine(case)
    got = {m: {ln.id: Fraction(ln.amount) for ln in ps[0].lines} for m, ps in run.history.items()}
    for month, lines in expected.items():
        assert {k: v for k, v in got.get(month, {}).items() if v or k in lines} == lines, month
    plan = parse_pay_plan(plan_yaml(case))
    str_schema = {"deal_id": pl.String, "paid": pl.String, "cancelled": pl.String, "refund": pl.String}
    facts = pl.DataFrame(
        [{"deal_id": d["id"], "paid": d["paid"].isoformat() if "paid" in d else None,
          "cancelled": d["cancelled"].isoformat() if "cancelled" in d else None,
          "refund": text(d["refund"]) if "refund" in d else None} for d in rows],
        schema=str_schema,
    )  # fmt: skip
    credited = pl.DataFrame(
        [{"deal_id": d["id"], "credited_to": "r", "amount": text(d["amount"]), "date": d["date"].isoformat()}
         for d in rows],
        schema={"deal_id": pl.String, "credited_to": pl.String, "amount": pl.String, "date": pl.String},
    )  # fmt: skip
    people = pl.DataFrame([{"person": "r", "target_incentive": "0"}])
    appraisals = pl.DataFrame([{"subject": "r", "period": "2026-01", "grade": "A"}])
    table = pay_table(plan, appraisals, people, credits=credited, deals=facts, period="2026-04")
    assert table.executor == "columnar", table.reason
    assert line_amounts(table) == line_amounts(table_of(run))
