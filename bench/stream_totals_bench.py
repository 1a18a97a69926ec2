"""The cost of finding a totals row over the whole streamed input (not a test).

    python bench/stream_totals_bench.py                    # 400,000 reps, batches of 50,000
    python bench/stream_totals_bench.py --reps 100000 --batch 10000 --repeat 3

A scorecard with two money inputs (sales, target) and a score (conduct) can have a totals row by
column sums, so the streaming executor first reads and spills every batch and adds up its
per-period column sums (``_stream_totals``), then reads the batches back and judges each row
against the whole input's sums. The contenders, in one process, alternating, best of ``--repeat``:

- ``within each batch`` (the baseline): ``streaming.WHOLE_INPUT_TOTALS = False``, the executor before
  the change (one read, each batch's screening judges its rows against its own sums);
- ``whole input``: the default (the extra pass: the sums, the spill read back, the decision).

Both run ``stream(...)`` over the same Arrow record batches and consume every part; the figure is
the ratio whole / within. The machine is shared (2 cores, other jobs): read ratios, not seconds.
"""

from __future__ import annotations

import argparse
import gc
import time

SALES = """ruleset: hr_sales
version: "1"
title: sales and conduct
subject: rep
period: month
inputs:
  sales: {type: money}
  target: {type: money}
  conduct: {type: score, min: 0, max: 100, required: false}
metrics: {attainment: {formula: sales / target, unit: ratio}}
kpis:
  - {id: a, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 50%}
  - {id: c, metric: conduct, method: expression, score: value, weight: 50%}
"""


def records(reps: int, *, text: bool) -> object:
    """``reps`` rows of one month: whole sales and targets (as integers, or as CSV text), conduct 60-100."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    df = pl.DataFrame(
        {
            "subject": pl.int_range(0, reps, eager=True).cast(pl.Utf8).str.zfill(7).str.replace("^", "r"),
            "period": ["2026-03"] * reps,
            "sales": rng.integers(50, 150, reps),
            "target": rng.integers(90, 110, reps),
            "conduct": rng.integers(60, 101, reps),
        }
    )
    return df.cast({"sales": pl.Utf8, "target": pl.Utf8, "conduct": pl.Utf8}) if text else df


def run(ruleset: object, batches: list[object], batch: int, *, whole: bool) -> tuple[float, int]:
    from kpi_engine.evaluation import streaming

    streaming.WHOLE_INPUT_TOTALS = whole
    try:
        gc.collect()
        start = time.perf_counter()
        streamed = streaming.stream(ruleset, batches, batch_rows=batch)  # type: ignore[arg-type]
        subjects = sum(len(a.results) for a, _ in streamed.parts())
        return time.perf_counter() - start, subjects
    finally:
        streaming.WHOLE_INPUT_TOTALS = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=400_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from kpi_engine import load_ruleset

    ruleset = load_ruleset(SALES)
    for text in (False, True):
        df = records(args.reps, text=text)
        batches = df.to_arrow().to_batches(max_chunksize=args.batch)  # type: ignore[attr-defined]
        best = {True: float("inf"), False: float("inf")}
        for _ in range(args.repeat):
            for whole in (False, True):
                seconds, subjects = run(ruleset, batches, args.batch, whole=whole)
                assert subjects == args.reps, subjects
                best[whole] = min(best[whole], seconds)
        kind = "text cells (CSV)" if text else "integer columns"
        print(
            f"{args.reps:,} reps, batches of {args.batch:,}, {kind}: within each batch {best[False]:.2f} s, "
            f"whole input {best[True]:.2f} s, ratio {best[True] / best[False]:.2f}x (best of {args.repeat})"
        )


if __name__ == "__main__":
    main()
