"""Wide against long results: ``kpi evaluate --format csv|xlsx|parquet --layout long|wide`` on N reps.

The S1 rep scorecard over N reps (two months of records each, as ``bench/memory.py`` generates
them: 2·N records, N reps appraised), each run a fresh ``kpi`` process writing to a file. Long and
wide runs alternate (long, wide, long, wide …) so that both see the same load on a shared
machine; the figures are the best of the rounds, in wall time, CPU time (user + system) and peak
RSS of the child, with wide ÷ long as the ratio. Ratios, not verdicts.

    python bench/layout_bench.py [--reps 100000] [--rounds 3] [--formats csv parquet xlsx]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from memory import generate_records  # noqa: E402 - the bench folder's own module

RULESET = ROOT / "rulesets" / "sales_rep_monthly.yaml"


def run(records: Path, fmt: str, layout: str, out: Path) -> tuple[float, float, float, int]:
    """One ``kpi evaluate`` child: wall seconds, CPU seconds, peak RSS in MB, bytes written."""
    command = [
        sys.executable, "-c", "import sys; from kpi_engine.cli import main; sys.exit(main())", "evaluate", str(RULESET), "--records", str(records),
        "--period", "2026-03", "--format", fmt, "--layout", layout, "--out", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    error = child.stderr.read().decode() if child.stderr else ""
    if status != 0:
        msg = f"{' '.join(command)} failed: {error}"
        raise SystemExit(msg)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=("csv", "parquet", "xlsx"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        records = folder / "records.csv"
        generate_records(records, 2 * args.reps)
        print(f"{args.reps:,} reps ({2 * args.reps:,} records), best of {args.rounds} alternating rounds")
        print(f"{'format':8} {'layout':6} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'output MB':>10}")
        for fmt in args.formats:
            best: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for layout in ("long", "wide"):
                    wall, cpu, peak, size = run(records, fmt, layout, folder / f"out_{layout}.{fmt}")
                    old = best.get(layout)
                    best[layout] = (
                        [min(old[0], wall), min(old[1], cpu), min(old[2], peak), size]
                        if old
                        else [wall, cpu, peak, size]
                    )
            for layout in ("long", "wide"):
                wall, cpu, peak, size = best[layout]
                print(f"{fmt:8} {layout:6} {wall:8.2f} {cpu:8.2f} {peak:8.0f} {size / 1e6:10.1f}")
            (lw, lc, lp, ls), (ww, wc, wp, ws) = best["long"], best["wide"]
            print(f"{fmt:8} wide÷long: wall {ww / lw:.2f}, cpu {wc / lc:.2f}, peak {wp / lp:.2f}, output {ws / ls:.2f}")


if __name__ == "__main__":
    main()
