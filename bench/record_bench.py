"""Benchmark run records: recording and replaying the S1 scorecard over N reps, against a plain evaluation.

Prints seconds and ratios (record ÷ evaluate, replay ÷ evaluate) and the record's size. Ratios, not verdicts.

    python bench/record_bench.py [--reps 2000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from kpi_engine import evaluate, load_ruleset
from kpi_engine.audit import record_appraisal, replay

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_bench import ROOT, records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=2000)
    args = parser.parse_args()
    path = ROOT / "rulesets/sales_rep_monthly.yaml"
    text, ruleset = path.read_text(encoding="utf-8"), load_ruleset(path)
    rows = records(args.reps)
    t0 = time.perf_counter()
    evaluate(ruleset, rows)
    t1 = time.perf_counter()
    _, record = record_appraisal(text, rows)
    data = record.to_bytes()
    t2 = time.perf_counter()
    report = replay(data)
    t3 = time.perf_counter()
    base = t1 - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"S1 scorecard, {args.reps:,} reps (2 months of records, inline inputs, full traces):")
    print(f"  evaluate {base:.2f} s; record {t2 - t1:.2f} s ({(t2 - t1) / base:.1f}x), {len(data) / 1e6:.1f} MB; "
          f"replay {t3 - t2:.2f} s ({(t3 - t2) / base:.1f}x), reproduced={report.reproduced}; peak RSS {rss:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
