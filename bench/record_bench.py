"""Benchmark the audit trail: recording and replaying runs, and picking a version from a folder.

Three measurements, each a ratio against a baseline measured in the same run:

1. Library: ``record_appraisal`` and ``replay`` of the S1 scorecard over N reps, against a plain
   ``evaluate`` of the same rows.
2. Command line, each run in its own process (CPU seconds of the child, wall seconds, peak RSS):
   ``kpi evaluate --format json --record R`` against the same command without ``--record``,
   alternated ``--rounds`` times (the ratio of the medians, and of each pair), then
   ``kpi evaluate --engine row --traces --format json`` (what every trace costs) and ``kpi replay``.
   ``--baseline PYTHON`` also runs both commands with another installation (e.g. the previous
   version's virtualenv) in the same alternation, for a before/after ratio measured in one run.
3. ``kpi evaluate FOLDER --period P`` machinery on a folder of V versions: the header scan
   (``cli._common.load_version``) against parsing every version in full, as before (measured on a
   sample of the folder and scaled to V; the full parse is linear in the number of files).

Ratios, not verdicts.

    python bench/record_bench.py [--reps 2000] [--cli-reps 10000] [--versions 10000] [--rounds 3]
        [--baseline OTHER_VENV/bin/python] [--only library|cli|versions]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from kpi_engine import evaluate, load_ruleset
from kpi_engine.audit import record_appraisal, replay

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_bench import ROOT, records

# Peak RSS from VmHWM: ru_maxrss of a child started by fork and exec keeps the parent's peak.
CHILD = """
import json, re, resource, sys, time
t0 = time.perf_counter()
from kpi_engine.cli import main
code = main(sys.argv[1:])
usage = resource.getrusage(resource.RUSAGE_SELF)
hwm = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
print(json.dumps({"code": code, "wall": time.perf_counter() - t0, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_mb": hwm / 1024}), file=sys.stderr)
"""


def library(reps: int) -> None:
    path = ROOT / "rulesets/sales_rep_monthly.yaml"
    text, ruleset = path.read_text(encoding="utf-8"), load_ruleset(path)
    rows = records(reps)
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
    print(f"1. library, S1 scorecard, {reps:,} reps (2 months of records, inline inputs, exact values):")
    print(f"   evaluate {base:.2f} s; record {t2 - t1:.2f} s ({(t2 - t1) / base:.1f}x), {len(data) / 1e6:.1f} MB; "
          f"replay {t3 - t2:.2f} s ({(t3 - t2) / base:.1f}x), reproduced={report.reproduced}; peak RSS {rss:.0f} MB")  # fmt: skip


def child(argv: list[str], python: str = sys.executable, cwd: Path = ROOT) -> dict[str, float]:
    done = subprocess.run([python, "-c", CHILD, *argv], capture_output=True, text=True, check=False, cwd=cwd)
    figures: dict[str, float] = json.loads(done.stderr.strip().splitlines()[-1])
    if figures["code"] != 0:
        raise SystemExit(done.stderr)
    return figures


def command_line(reps: int, rounds: int = 3, baseline: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "records.csv"
        rows = records(reps)
        with data.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        base = ["evaluate", "rulesets/sales_rep_monthly.yaml", "--records", str(data), "--format", "json"]
        out = ["--out", str(Path(folder) / "out.json")]
        record = str(Path(folder) / "run.json")
        runs: dict[str, list[dict[str, float]]] = {"plain": [], "record": [], "plain (baseline)": [],
                                                   "record (baseline)": []}  # fmt: skip
        for _ in range(rounds):  # alternated, so that load on the shared machine falls on both alike
            runs["plain"].append(child([*base, *out]))
            runs["record"].append(child([*base, *out, "--record", record]))
            if baseline:
                runs["plain (baseline)"].append(child([*base, *out], baseline, Path(baseline).parents[2]))
                runs["record (baseline)"].append(child([*base, *out, "--record", record], baseline,
                                                       Path(baseline).parents[2]))  # fmt: skip
        child([*base, *out, "--record", record])
        size = (Path(record)).stat().st_size / 1e6
        replayed = child(["replay", record])
        traced = child([*base, *out, "--engine", "row", "--traces"])
    print(f"2. kpi evaluate --format json, S1, {reps:,} reps ({2 * reps:,} rows), each in its own process, "
          f"{rounds} alternated rounds (medians):")  # fmt: skip
    plain_cpu = median(f["cpu"] for f in runs["plain"])
    for label, figures in runs.items():
        if not figures:
            continue
        cpu, wall, rss = (median(f[k] for f in figures) for k in ("cpu", "wall", "rss_mb"))
        print(f"   {label:22s} CPU {cpu:6.2f} s  wall {wall:6.2f} s  peak RSS {rss:6.0f} MB  CPU ratio "
              f"{cpu / plain_cpu:5.2f}x")  # fmt: skip
    pairs = [r["cpu"] / p["cpu"] for p, r in zip(runs["plain"], runs["record"], strict=True)]
    print(f"   --record / without, CPU, each round: {', '.join(f'{x:.2f}x' for x in pairs)}")
    rss = median(r["rss_mb"] for r in runs["record"]) / median(p["rss_mb"] for p in runs["plain"])
    print(f"   --record / without, peak RSS: {rss:.2f}x")
    if baseline:
        before = [r["cpu"] / p["cpu"] for p, r in zip(runs["plain (baseline)"], runs["record (baseline)"],
                                                         strict=True)]  # fmt: skip
        print(f"   baseline --record / without, CPU, each round: {', '.join(f'{x:.2f}x' for x in before)}")
    for label, f in (("kpi replay", replayed), ("--engine row --traces", traced)):
        print(f"   {label:22s} CPU {f['cpu']:6.2f} s  wall {f['wall']:6.2f} s  peak RSS {f['rss_mb']:6.0f} MB  "
              f"CPU ratio {f['cpu'] / plain_cpu:5.2f}x")  # fmt: skip
    print(f"   record {size:.1f} MB")


def write_versions(folder: Path, count: int) -> str:
    """``count`` monthly versions of S1 1.1.0 from 1200-01 on, the last open-ended; returns a period in the last."""
    source = (ROOT / "examples/versions/sales_rep_monthly/v1.1.0.yaml").read_text(encoding="utf-8")
    start = dt.date(1200, 1, 1)
    for i in range(count):
        nxt = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
        until = "" if i == count - 1 else f", until: {nxt - dt.timedelta(days=1)}"
        text = source.replace('version: "1.1.0"', f'version: "1.{i}.0"')
        text = text.replace("effective: {from: 2026-03-01}", f"effective: {{from: {start}{until}}}")
        (folder / f"v{i:05d}.yaml").write_text(text, encoding="utf-8")
        start = nxt
    return f"{start.year + 1:04d}-01"


def versions(count: int, sample: int) -> None:
    from kpi_engine.cli._common import load_version
    from kpi_engine.language.build import parse_ruleset

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        period = write_versions(folder, count)
        files = sorted(folder.glob("*.yaml"))
        t0, c0 = time.perf_counter(), time.process_time()
        for path in files[:sample]:  # what choosing did before: every version parsed in full
            parse_ruleset(path.read_text(encoding="utf-8"), str(path))
        full_wall = (time.perf_counter() - t0) * count / sample
        full_cpu = (time.process_time() - c0) * count / sample
        t0, c0 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stderr(io.StringIO()):
            ruleset, _ = load_version(str(folder), period)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"3. picking the version for {period} from {count:,} versions (chose {ruleset.version}):")
    print(
        f"   every version parsed in full (before; {sample} measured, scaled): CPU {full_cpu:6.2f} s  wall {full_wall:6.2f} s"
    )
    print(f"   headers, the chosen one parsed (now):                  CPU {cpu:6.2f} s  wall {wall:6.2f} s  "
          f"({full_cpu / cpu:.0f}x less CPU)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=2000, help="reps for the library measurement")
    parser.add_argument("--cli-reps", type=int, default=10_000, help="reps for the command-line measurement")
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=300, help="versions parsed in full for the baseline")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternated runs of kpi evaluate with and without --record"
    )
    parser.add_argument("--baseline", metavar="PYTHON", help="another installation's python to run in the alternation")
    parser.add_argument("--only", choices=("library", "cli", "versions"), help="run one measurement")
    args = parser.parse_args()
    if args.only in {None, "library"}:
        library(args.reps)
    if args.only in {None, "cli"}:
        command_line(args.cli_reps, args.rounds, args.baseline)
    if args.only in {None, "versions"}:
        versions(args.versions, args.sample)


if __name__ == "__main__":
    main()
