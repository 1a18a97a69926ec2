"""Benchmark pay: 100,000 people × 12 months with 10,000,000 credited deal lines.

Contenders, each in its own process (time and peak RSS of that process alone):

- ``kpi``: ``kpi_engine.payout.columnar.pay_table`` — the columnar executor of the S1-style pay
  plan below (grade bonus, attainment curve, year-to-date marginal commission with a cap, a gate,
  a person cap, a draw for new hires, pay held until the customer pays, clawbacks), exact;
- ``polars``: the same plan hand-written in Polars over float64 (what one would write without
  kpi_engine: fast, not exact — every amount rounded with ``round(2)``).

Then a check (not timed): the row executor on a sample of people must give exactly the columnar
lines; and how many person-months the float version pays differently from the exact one.

Prints ratios, not verdicts. The machine is shared: the contenders alternate (``--rounds``).

    python bench/pay_bench.py [--people 100000] [--deals 10000000] [--rounds 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAN = """pay_plan: bench_pay
version: "1"
title: bench
period: month
currency: CNY
calendar: CN
incentive_per: year
components:
  - {id: grade_bonus, kind: grade, share: 40%, multipliers: {A: 150%, B: 100%, C: 50%, D: 0}}
  - id: attainment
    kind: curve
    share: 30%
    measure: attainment
    curve: interpolate
    levels: [{at: 80%, pay: 50%}, {at: 100%, pay: 100%}, {at: 120%, pay: 150%}]
  - id: commission
    kind: commission
    share: 30%
    curve: marginal
    basis: year_to_date
    tiers:
      - {from: 0, to: 1000000, rate: 0.2%}
      - {from: 1000000, to: 2000000, rate: 0.3%}
      - {from: 2000000, rate: 0.4%}
    cap: {amount: 20000}
    release: on_payment
    clawback: {within_days: 90}
gates:
  - {id: slow_replies, when: reply_rate < 95%, components: [grade_bonus], cap: {target: 100%}}
person_cap: {target: 300%}
draw: {target: 50%, recoverable: false, periods: 3}
"""


def peak_mb() -> float:
    """This process's peak RSS (VmHWM)."""
    try:
        for text in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if text.startswith("VmHWM:"):
                return int(text.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- data ---------------------------------------------------------------------------------------


def generate(folder: Path, people: int, deals: int, seed: int = 17) -> None:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    ids = np.char.add("p", np.char.zfill(np.arange(people).astype(str), 6))
    start = np.where(
        rng.random(people) < 0.05,
        rng.integers(0, 330, people) + 20454,  # hired during 2026 (days since 1970: 2026-01-01 is 20454)
        rng.integers(16000, 20400, people),
    ).astype("datetime64[D]")
    ti = rng.integers(30, 121, people) * 1000
    pl.DataFrame({"person": ids, "start": start, "target_incentive": ti}).write_parquet(folder / "people.parquet")
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    subject = np.repeat(ids, 12)
    period = np.tile(np.array(months), people)
    n = people * 12
    appraisals = pl.DataFrame(
        {
            "subject": subject,
            "period": period,
            "grade": np.array(["A", "B", "C", "D"])[rng.choice(4, n, p=[0.2, 0.4, 0.3, 0.1])],
            "attainment": pl.Series(rng.integers(5000, 15001, n)).cast(pl.Decimal(38, 0)) / 10_000,
            "reply_rate": pl.Series(rng.integers(8000, 10001, n)).cast(pl.Decimal(38, 0)) / 10_000,
        }
    ).with_columns(pl.col("attainment").cast(pl.Decimal(38, 4)), pl.col("reply_rate").cast(pl.Decimal(38, 4)))
    appraisals.write_parquet(folder / "appraisals.parquet")
    who = np.sort(rng.integers(0, people, deals))
    day = rng.integers(0, 365, deals) + 20454
    day = np.maximum(day, start[who].astype(np.int64))  # credited while employed
    amount = rng.integers(100_000, 50_000_000, deals)  # cents: 1,000.00 to 500,000.00
    paid = day + rng.integers(0, 45, deals)
    never = rng.random(deals) < 0.01
    cancelled = np.where(rng.random(deals) < 0.01, day + rng.integers(1, 120, deals), -1)
    credited = pl.DataFrame(
        {
            "deal_id": np.char.add("d", np.char.zfill(np.arange(deals).astype(str), 8)),
            "credited_to": ids[who],
            "amount": pl.Series(amount).cast(pl.Decimal(38, 0)) / 100,
            "date": day.astype("datetime64[D]"),
            # the deal's facts ride on its credit row: paid (empty: not yet), cancelled
            "paid": pl.Series(np.where(never, -1, paid)).replace(-1, None).cast(pl.Date),
            "cancelled": pl.Series(cancelled).replace(-1, None).cast(pl.Date),
        }
    ).with_columns(pl.col("amount").cast(pl.Decimal(38, 2)))
    credited.write_parquet(folder / "credits.parquet", row_group_size=250_000)


# --- contenders ---------------------------------------------------------------------------------


def run_kpi(folder: Path) -> dict[str, object]:
    import polars as pl

    from kpi_engine.payout.build import parse_pay_plan
    from kpi_engine.payout.columnar import pay_table

    t0 = time.perf_counter()
    people = pl.read_parquet(folder / "people.parquet")
    appraisals = pl.scan_parquet(folder / "appraisals.parquet")  # read a block of people at a time
    credited = pl.scan_parquet(folder / "credits.parquet")
    plan = parse_pay_plan(PLAN)
    table = pay_table(plan, appraisals, people, credits=credited, period="2026-12")
    t2 = time.perf_counter()
    table.lines.write_parquet(folder / "kpi_lines.parquet")
    return {"total": t2 - t0, "executor": table.executor, "reason": table.reason, "lines": table.lines.height}


def run_polars(folder: Path) -> dict[str, object]:
    import numpy as np
    import polars as pl

    t0 = time.perf_counter()
    people = pl.read_parquet(folder / "people.parquet")
    appraisals = pl.read_parquet(folder / "appraisals.parquet")
    credited = pl.read_parquet(folder / "credits.parquet")
    from kpi_engine.time.calendar import business_calendar

    cal = business_calendar("CN")
    import datetime as dt

    days = pl.DataFrame({"day": pl.date_range(dt.date(2026, 1, 1), dt.date(2026, 12, 31), eager=True)})
    days = days.with_columns(
        work=pl.col("day").map_elements(cal.is_working_day, return_dtype=pl.Boolean).cast(pl.Int64),
        month=pl.col("day").dt.month(),
    )
    month_days = days.group_by("month").agg(pl.col("work").sum().alias("wd_month"))
    people = people.with_columns(pl.col("person").cast(pl.String))
    # working days employed per person-month (one assignment each)
    pm = people.join(pl.DataFrame({"month": list(range(1, 13))}), how="cross")
    work = days.with_columns(cum=pl.col("work").cum_sum())
    first = pl.date(2026, pl.col("month"), 1)
    pm = pm.with_columns(first=first, last=first.dt.month_end()).with_columns(
        lo=pl.max_horizontal("first", "start"), employed=pl.col("start") <= pl.col("last")
    )
    cum = work.select(pl.col("day"), pl.col("cum"), pl.col("work"))
    pm = pm.join(cum.rename({"day": "lo", "cum": "c_lo", "work": "w_lo"}), on="lo", how="left").join(
        cum.rename({"day": "last", "cum": "c_hi"}).drop("work"), on="last", how="left"
    )
    pm = pm.join(month_days, on="month").with_columns(
        wd=pl.when(pl.col("employed")).then(pl.col("c_hi") - pl.col("c_lo") + pl.col("w_lo")).otherwise(0)
    )
    pm = pm.with_columns(weight=pl.col("wd") / pl.col("wd_month"), target=pl.col("target_incentive") / 12.0)
    a = appraisals.with_columns(
        month=pl.col("period").str.slice(5, 2).cast(pl.Int64),
        att=pl.col("attainment").cast(pl.Float64),
        rr=pl.col("reply_rate").cast(pl.Float64),
    ).select(pl.col("subject").alias("person"), "month", "grade", "att", "rr")
    pm = pm.join(a, on=["person", "month"], how="left")
    mult = pl.col("grade").replace_strict({"A": 1.5, "B": 1.0, "C": 0.5, "D": 0.0}, default=0.0)
    mult = pl.when(pl.col("rr") < 0.95).then(pl.min_horizontal(mult, pl.lit(1.0))).otherwise(mult)
    att = pl.col("att")
    curve = (
        pl.when(att < 0.8).then(0.0)
        .when(att < 1.0).then(0.5 + (att - 0.8) * 2.5)
        .when(att < 1.2).then(1.0 + (att - 1.0) * 2.5)
        .otherwise(1.5)
    )  # fmt: skip
    pm = pm.with_columns(
        grade_bonus=(pl.col("target") * 0.4 * pl.col("weight") * mult).round(2).fill_null(0.0),
        attainment=(pl.col("target") * 0.3 * pl.col("weight") * curve).round(2).fill_null(0.0),
    )

    def tiers(x: pl.Expr) -> pl.Expr:
        f = x.clip(0, 1_000_000) * 0.002 + (x.clip(1_000_000, 2_000_000) - 1_000_000) * 0.003
        f = f + (x.clip(2_000_000, None) - 2_000_000) * 0.004
        return pl.min_horizontal(f, pl.lit(20000.0))

    d = credited.with_columns(
        person=pl.col("credited_to"),
        amount=pl.col("amount").cast(pl.Float64),
        month=pl.col("date").dt.month(),
    ).sort(["person", "date", "deal_id"])
    d = d.with_columns(cum=pl.col("amount").cum_sum().over("person"))
    d = d.with_columns(part=tiers(pl.col("cum")) - tiers(pl.col("cum") - pl.col("amount")))
    month_sums = d.group_by(["person", "month"]).agg(pl.col("amount").sum())
    pm = pm.join(month_sums, on=["person", "month"], how="left").with_columns(pl.col("amount").fill_null(0.0))
    pm = pm.sort(["person", "month"]).with_columns(ytd=pl.col("amount").cum_sum().over("person"))
    pm = pm.with_columns(
        commission=((tiers(pl.col("ytd")) * 100).round() - (tiers(pl.col("ytd") - pl.col("amount")) * 100).round())
        / 100
    )
    month_end = pl.date(2026, pl.col("month"), 1).dt.month_end()
    d = d.with_columns(
        held=pl.col("paid").is_null() | (pl.col("paid") > month_end),
        paid_month=pl.when(pl.col("paid").dt.year() == 2026).then(pl.col("paid").dt.month()),
        cancel_month=pl.when(pl.col("cancelled").dt.year() == 2026).then(pl.col("cancelled").dt.month()),
    ).with_columns(
        forfeited=pl.col("held") & pl.col("cancel_month").is_not_null()
        & (pl.col("paid_month").is_null() | (pl.col("paid_month") > pl.col("cancel_month")))
    )  # fmt: skip
    held = d.filter(pl.col("held")).group_by(["person", "month"]).agg(held=-pl.col("part").sum())
    released = (
        d.filter(pl.col("held") & ~pl.col("forfeited") & pl.col("paid_month").is_not_null())
        .group_by(["person", pl.col("paid_month").alias("month")])
        .agg(released=pl.col("part").sum())
    )
    claw = (
        d.filter(
            pl.col("cancel_month").is_not_null()
            & ~pl.col("forfeited")
            & ((pl.col("cancelled") - pl.col("date")).dt.total_days() <= 90)
        )
        .group_by(["person", pl.col("cancel_month").alias("month")])
        .agg(clawback=-pl.col("part").round(2).sum())
    )
    pm = pm.join(held, on=["person", "month"], how="left").join(released, on=["person", "month"], how="left")
    pm = pm.join(claw, on=["person", "month"], how="left").fill_null(0.0)
    earned = pl.col("grade_bonus") + pl.col("attainment") + pl.col("commission")
    limit = (pl.col("target") * 3 * pl.col("weight")).round(2)
    pm = pm.with_columns(cap=pl.when(earned > limit).then(limit - earned).otherwise(0.0))
    pm = pm.with_columns(total=earned + pl.col("cap") + pl.col("held") + pl.col("released") + pl.col("clawback"))
    # a non-recoverable draw of half the target in the first 3 months after hire; then balances month by month
    hire = pl.col("start").dt.year() * 12 + pl.col("start").dt.month()
    window = (2026 * 12 + pl.col("month") - hire < 3) & pl.col("employed")
    guaranteed = (pl.col("target") * 0.5 * pl.col("weight")).round(2)
    pm = pm.with_columns(draw=pl.when(window & (pl.col("total") < guaranteed)).then(guaranteed - pl.col("total"))
                         .otherwise(0.0))  # fmt: skip
    pm = pm.with_columns(total=pl.col("total") + pl.col("draw"))
    totals = pm.select("person", "month", "total").sort(["person", "month"])
    matrix = totals.get_column("total").to_numpy().reshape(-1, 12).copy()
    balance = np.zeros(matrix.shape[0])
    for j in range(12):  # a month whose net is below zero is carried forward as owed
        net = matrix[:, j] - np.minimum(balance, np.maximum(matrix[:, j], 0))
        balance = balance - (matrix[:, j] - net) + np.maximum(-net, 0)
        matrix[:, j] = np.maximum(net, 0)
    t2 = time.perf_counter()
    if __debug__ and "PAY_BENCH_DEBUG" in __import__("os").environ:
        pm.write_parquet(folder / "float_components.parquet")
    pl.DataFrame({"person": totals.get_column("person"), "month": totals.get_column("month"),
                  "total": matrix.ravel()}).write_parquet(folder / "float_totals.parquet")  # fmt: skip
    return {"total": t2 - t0, "lines": totals.height}


def run_check(folder: Path, sample: int) -> dict[str, object]:
    """The row executor on a sample of people gives exactly the columnar lines; float vs exact totals."""
    from decimal import Decimal

    import numpy as np
    import polars as pl

    from kpi_engine.payout.build import parse_pay_plan
    from kpi_engine.payout.columnar import _rows, line_amounts, table_of
    from kpi_engine.payout.engine import pay

    plan = parse_pay_plan(PLAN)
    lines = pl.read_parquet(folder / "kpi_lines.parquet").with_columns(
        pl.col(["period", "person", "line"]).cast(pl.String)
    )
    people = pl.read_parquet(folder / "people.parquet")
    rng = np.random.default_rng(3)
    chosen = sorted(rng.choice(people.get_column("person").to_list(), sample, replace=False).tolist())
    sub = lambda f, c: pl.read_parquet(folder / f).filter(pl.col(c).is_in(chosen))  # noqa: E731
    credited = sub("credits.parquet", "credited_to")
    run = pay(plan, _rows(sub("appraisals.parquet", "subject")), _rows(sub("people.parquet", "person")),
              credits=_rows(credited), period="2026-12")  # fmt: skip
    want = line_amounts(table_of(run))
    got = dict(line_amounts(type("T", (), {"lines": lines.filter(pl.col("person").is_in(chosen))})()))
    exact = got == want
    # float against exact: person-months paid differently
    exact_totals = (
        lines.group_by(["person", "period"])
        .agg(pl.col("amount").sum())
        .with_columns(month=pl.col("period").str.slice(5, 2).cast(pl.Int32))
    )
    floats = pl.read_parquet(folder / "float_totals.parquet").with_columns(pl.col("month").cast(pl.Int32))
    both = exact_totals.join(floats, on=["person", "month"], how="full", coalesce=True).fill_null(0)
    diff = both.with_columns(d=(pl.col("amount") - (pl.col("total") * 100).round()).abs())
    off = diff.filter(pl.col("d") > 0)
    return {
        "sample": sample,
        "row_equals_columnar": exact,
        "sample_lines": len(want),
        "float_person_months_off": off.height,
        "float_max_off_cents": int(off.get_column("d").max() or 0),
        "person_months": both.height,
        "exact_total": str(Decimal(int(lines.get_column("amount").sum())) / 100),
    }


# --- parent -------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    folder = Path(args.dir)
    if args.child == "kpi":
        result = run_kpi(folder)
    elif args.child == "polars":
        result = run_polars(folder)
    else:
        result = run_check(folder, args.sample)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))


def run_child(name: str, folder: Path, sample: int = 0) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", name, "--dir", str(folder), "--sample", str(sample)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - t0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample", type=int, default=300, help="people the row executor checks")
    parser.add_argument("--dir", help="keep the data here (default: a temporary folder)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "credits.parquet").exists():
            t0 = time.perf_counter()
            generate(folder, args.people, args.deals)
            print(f"data: {args.people:,} people × 12 months, {args.deals:,} credited deal lines "
                  f"({time.perf_counter() - t0:.1f} s to generate)")  # fmt: skip
        runs: dict[str, list[dict[str, object]]] = {"kpi": [], "polars": []}
        for _ in range(args.rounds):  # alternate, so both see the same load
            for name in ("polars", "kpi"):
                runs[name].append(run_child(name, folder))
        best = {name: min(r, key=lambda x: float(x["total"])) for name, r in runs.items()}  # type: ignore[arg-type]
        base = float(best["polars"]["total"])  # type: ignore[arg-type]
        print("read + compute, best of the rounds; peak RSS of that run; every round's time")
        for name, label in (("polars", "Polars, float64 (hand-written)"), ("kpi", "kpi_engine columnar, exact")):
            b = best[name]
            times = ", ".join(f"{float(r['total']):.2f}" for r in runs[name])  # type: ignore[arg-type]
            print(f"  {label:<34} {float(b['total']):>8.2f} s {float(b['total']) / base:>6.2f}× "  # type: ignore[arg-type]
                  f"{float(b['peak_mb']):>7.0f} MB   {times}")  # type: ignore[arg-type]  # fmt: skip
        print(f"kpi executor: {best['kpi']['executor']} {best['kpi'].get('reason') or ''}".rstrip())
        check = run_child("check", folder, args.sample)
        print(f"check: the row executor on {check['sample']} people gives the columnar lines exactly: "
              f"{check['row_equals_columnar']} ({check['sample_lines']} lines)")  # fmt: skip
        print(f"check: the float version pays {check['float_person_months_off']:,} of {check['person_months']:,} "
              f"person-months differently (by up to {check['float_max_off_cents']} cents); exact total "
              f"{check['exact_total']}")  # fmt: skip


if __name__ == "__main__":
    main()
