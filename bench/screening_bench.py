"""What screening (``evaluation/screening.py``: roster, totals rows, score scale) adds to an evaluation.

Each workload is timed in one fresh process: the screening alone, then the whole ``evaluate`` (which
screens, then runs the engine), in CPU seconds, best of a few rounds. Printed as the ratio of the
screening to the rest of the evaluation, measured in the same run, and the peak memory of the
screening on the kernel's input above the frame it reads.

    python bench/screening_bench.py                 # S1 example, 20,000 reps (row path), 200,000 records (kernel)
    python bench/screening_bench.py --scale full    # … 100,000 reps, 1,000,000 records
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from memory import generate_records  # noqa: E402 - the generator of the memory bench, one definition

S1 = ROOT / "rulesets/sales_rep_monthly.yaml"


def _best(fn: object, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        fn()  # type: ignore[operator]
        best = min(best, time.process_time() - t0)
    return best


def child(kind: str, path: str) -> dict[str, float]:
    """One workload in this process: CPU seconds of screening and of the evaluation, peak RSS."""
    from kpi_engine import evaluate, load_ruleset, read_table
    from kpi_engine.evaluation.screening import screen

    ruleset = load_ruleset(S1)
    card = ruleset.scorecard
    if kind == "example":
        records = read_table(ROOT / "examples/sales_rep_monthly/records.csv")
        members = read_table(ROOT / "examples/sales_rep_monthly/members.csv")
        repeat = 300
        screened = _best(lambda: [screen(card, records, members) for _ in range(repeat)], 5) / repeat
        whole = _best(lambda: [evaluate(ruleset, records, members=members) for _ in range(repeat)], 5) / repeat
        return {"screen_s": screened, "evaluate_s": whole}
    if kind == "rows":
        records = read_table(path)
        screened = _best(lambda: screen(card, records), 3)
        whole = _best(lambda: evaluate(ruleset, records, period="2026-03", engine="row"), 1)
        return {"screen_s": screened, "evaluate_s": whole}
    from kpi_engine.io.column_files import read_frame

    frame = read_frame(path, text={"subject", "period", "name", "note"})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    screened = _best(lambda: screen(card, frame), 3)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    whole = _best(lambda: evaluate(ruleset, frame, period="2026-03", engine="columnar"), 1)
    return {"screen_s": screened, "evaluate_s": whole, "frame_rss_mb": before, "screen_rss_mb": after}


def measure(kind: str, path: Path) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", kind, "--path", str(path)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", choices=("small", "full"), default="small")
    parser.add_argument("--child")
    parser.add_argument("--path", default="")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path)))
        return
    reps, kernel = (20_000, 200_000) if args.scale == "small" else (100_000, 1_000_000)
    with tempfile.TemporaryDirectory() as folder:
        rows_csv, kernel_csv = Path(folder) / "rows.csv", Path(folder) / "kernel.csv"
        generate_records(rows_csv, reps * 2)  # reps × 2 months: the latest appraised, the other history
        generate_records(kernel_csv, kernel)
        runs = [
            ("S1 example (8 records, roster), row path, per call", "example", rows_csv),
            (f"{reps * 2:,} records ({reps:,} reps × 2 months), row path", "rows", rows_csv),
            (f"{kernel:,} records, columnar kernel (Polars frame from CSV)", "kernel", kernel_csv),
        ]
        for title, kind, path in runs:
            got = measure(kind, path)
            rest = got["evaluate_s"] - got["screen_s"]
            line = (
                f"{title}: screening {got['screen_s'] * 1e3:,.2f} ms CPU, evaluation without it "
                f"{rest * 1e3:,.1f} ms: screening adds {got['screen_s'] / rest:.1%}"
            )
            if "screen_rss_mb" in got:
                line += f"; peak RSS {got['frame_rss_mb']:.0f} MB after reading, {got['screen_rss_mb']:.0f} MB after screening"
            print(line)


if __name__ == "__main__":
    main()
