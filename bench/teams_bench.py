"""Small batches: kpi's row executor against zen-engine, teams of 10, a realistic scorecard (not a test).

    python bench/teams_bench.py                       # 2,000 reps, 3 alternating rounds
    python bench/teams_bench.py --reps 5000 --rounds 5
    python bench/teams_bench.py --rounds 5 --baseline /tmp/main   # also kpi on main's sources (git archive main)

An app that appraises one team at a time calls the engine on ten reps. The scorecard (``T12``) is
the shape of a real rep scorecard: 12 linear KPIs with targets in the hundreds to tens of
thousands, floors at 60-80 % of the target (lower-is-better KPIs: the floor, the worst acceptable
value, 1.25-1.5x the target), weights 20/12/8/10/10/5/5/8/7/5/5/5 %, three lower-is-better, scores
clipped to [0, 120], a gate capping the total at 60 when sales are below their floor, grades
A/B/C/D, ranks. Values are what an app holds: money with two decimals, counts as whole numbers.
Most scores are then rationals without a finite decimal expansion (``100 / (target − floor)``
has a factor 3 or 7), which is what an exact engine must handle quickly.

Contenders, each in its own fresh process, alternating round by round:

- ``kpi_text``: ``evaluate(ruleset, team, engine="row")`` on each team's rows as dicts of text
  cells (``{"m01": "41235.50", ...}``: what a CSV reader or a JSON body gives);
- ``kpi_decimal``: the same with ``Decimal`` cells (what a typed frame or a database driver gives;
  converted before the clock starts);
- ``kpi_text_read``: ``kpi_text`` and then reading what zen's call returns (each rep's total,
  grade, rank and the twelve KPI scores): kpi builds its result objects when they are read
  (``evaluation.fastrow``), so the call alone does not pay for them;
- ``kpi_text_board``: ``kpi_text`` and a leaderboard (subject, reported total, grade, rank) read
  through ``FastResults``' accessors, which need no result object (the objects on the baseline);
- ``kpi_text_every``: ``kpi_text`` and every field an app might show of every result object
  (subject: reported totals, grade, bonus, rank, flags; each KPI: value, status, reported score,
  share and contribution, flags): the views compute the integers' answers and build the complete
  result for the rest;
- ``kpi_text_exact``: ``kpi_text`` and the exact numbers (``total_exact``, each KPI's
  ``score_exact`` and ``contribution_exact``): what a view reads from its complete result;
- ``kpi_text_json``: ``kpi_text`` and ``Appraisal.to_json()`` of each team;
- ``zen_decision``: zen-engine's ``ZenDecision.evaluate(context)`` per rep on a decision from
  ``ZenEngine().create_decision(content)``;
- ``zen_engine``: ``ZenEngine.evaluate(key, context)`` per rep, the engine's loader returning a
  pre-parsed ``ZenDecisionContent`` (the "loaded decision" zen's documentation recommends);
- ``zen_batch``: ``ZenEngine.evaluate_batch([{key, context} × 10])`` per team, the same loader.

zen gets its numbers as Python floats, parsed before the clock starts (it computes in its own
decimal type from them); kpi parses text itself (``kpi_text``) or reads exact ``Decimal``s. Each
child reports CPU time (``time.process_time``, which a loaded machine distorts less) and wall time
per rep over the whole list of teams, after one warm-up team; the parent prints the best round of
each contender and ratios against zen's fastest call in the same run. Ratios, not verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

WEIGHTS = [20, 12, 8, 10, 10, 5, 5, 8, 7, 5, 5, 5]
LOWER = {4, 8, 11}  # lower-is-better KPIs (1-based)
# Per KPI: target, floor (the worst acceptable value), and whether values are money (two decimals).
KPIS: list[tuple[int, int, bool]] = [
    (50_000, 35_000, True),  # sales: floor 70 %
    (12_000, 8_400, True),  # gross margin: 70 %
    (2_400, 1_800, True),  # collections: 75 % (the gate's metric)
    (3_000, 4_000, True),  # expenses, lower is better: worst 4,000
    (1_200, 900, False),  # calls: 75 %
    (6_000, 4_200, True),  # renewals: 70 %
    (1_800, 1_080, False),  # visits: 60 %
    (900, 1_350, False),  # overdue days summed, lower is better: worst 1,350
    (4_500, 3_600, True),  # new-business sales: 80 %
    (2_000, 1_300, False),  # proposals: 65 %
    (750, 1_050, False),  # complaints handled late (minutes), lower is better: worst 1,050
    (7_000, 4_900, True),  # cross-sell: 70 %
]
TEAM = 10


def ruleset_text() -> str:
    """The T12 ruleset: twelve linear KPIs, a gate, grades."""
    inputs = "\n".join(
        f"  m{i:02d}: {{type: {'money' if money else 'count'}, min: 0}}" for i, (_, _, money) in enumerate(KPIS, 1)
    )
    kpis = "\n".join(
        f"  - {{id: k{i:02d}, metric: m{i:02d}, method: linear, direction: {'lower' if i in LOWER else 'higher'}, "
        f"floor: {floor}, target: {target}, cap: 120, weight: {WEIGHTS[i - 1]}%}}"
        for i, (target, floor, _) in enumerate(KPIS, 1)
    )
    return f"""ruleset: t12
version: "1"
title: T12 twelve linear KPIs with realistic floors and targets
subject: rep
period: month
inputs:
{inputs}
kpis:
{kpis}
gates:
  - {{id: collections, when: m03 < {KPIS[2][1]}, cap_total: 60}}
grades:
  - {{grade: A, min: 90}}
  - {{grade: B, min: 75}}
  - {{grade: C, min: 60}}
  - {{grade: D}}
"""


def rows(reps: int, seed: int = 7) -> list[dict[str, str]]:
    """``reps`` rows of text cells: values spread from half the target to past the cap."""
    import random

    rnd = random.Random(seed)
    out: list[dict[str, str]] = []
    for r in range(reps):
        row = {"subject": f"r{r:06d}", "period": "2026-03"}
        for i, (target, floor, money) in enumerate(KPIS, 1):
            lo, hi = (target // 2, target * 13 // 10) if i not in LOWER else (target * 6 // 10, floor * 3 // 2)
            if money:
                cents = rnd.randrange(lo * 100, hi * 100)
                row[f"m{i:02d}"] = f"{cents // 100}.{cents % 100:02d}"
            else:
                row[f"m{i:02d}"] = str(rnd.randrange(lo, hi))
        out.append(row)
    return out


def zen_graph() -> str:
    """The same scorecard as a zen decision graph (floats: a speed reference, not exact)."""
    scores = []
    for i, (target, floor, _) in enumerate(KPIS, 1):
        raw = f"(m{i:02d} - {floor}) * 100 / ({target - floor})"
        scores.append({"id": f"s{i}", "key": f"s{i:02d}", "value": f"{raw} < 0 ? 0 : ({raw} > 120 ? 120 : {raw})"})
    total = " + ".join(f"s{i:02d} * {WEIGHTS[i - 1] / 100}" for i in range(1, 13))
    second = [
        {"id": "raw", "key": "raw", "value": total},
        {"id": "total", "key": "total", "value": f"m03 < {KPIS[2][1]} and $.raw > 60 ? 60 : $.raw"},
        {"id": "grade", "key": "grade",
         "value": "$.total >= 90 ? 'A' : ($.total >= 75 ? 'B' : ($.total >= 60 ? 'C' : 'D'))"},
    ]  # fmt: skip
    pos = {"x": 0, "y": 0}
    graph = {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "in", "position": pos},
            {"id": "e1", "type": "expressionNode", "name": "scores", "position": pos,
             "content": {"expressions": scores, "passThrough": True}},
            {"id": "e2", "type": "expressionNode", "name": "total", "position": pos, "content": {"expressions": second}},
            {"id": "out", "type": "outputNode", "name": "out", "position": pos},
        ],
        "edges": [
            {"id": "a", "sourceId": "in", "targetId": "e1", "type": "edge"},
            {"id": "b", "sourceId": "e1", "targetId": "e2", "type": "edge"},
            {"id": "c", "sourceId": "e2", "targetId": "out", "type": "edge"},
        ],
    }  # fmt: skip
    return json.dumps(graph)


# ------------------------------------------------------------------------------------ contenders


def _teams(data: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    return [data[i : i + TEAM] for i in range(0, len(data), TEAM)]


def _timed(call: Any, items: list[Any]) -> dict[str, float]:
    call(items[0])  # warm-up: imports, the compiled plan, zen's decision
    t0, c0 = time.perf_counter(), time.process_time()
    for item in items:
        call(item)
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def kpi_text(folder: Path) -> dict[str, float]:
    from kpi_engine import evaluate, load_ruleset

    ruleset = load_ruleset(folder / "t12.yaml")
    teams = _teams(json.loads((folder / "rows.json").read_text(encoding="utf-8")))
    return _timed(lambda team: evaluate(ruleset, team, engine="row"), teams)


def _read_all(appraisal: Any) -> None:
    """What zen's call returns, read from kpi's results: each rep's total, grade, rank and KPI scores."""
    for r in appraisal.results:
        _ = (r.subject, r.total, r.grade, r.rank, [k.score for k in r.kpis])


def kpi_text_read(folder: Path) -> dict[str, float]:
    from kpi_engine import evaluate, load_ruleset

    ruleset = load_ruleset(folder / "t12.yaml")
    teams = _teams(json.loads((folder / "rows.json").read_text(encoding="utf-8")))
    return _timed(lambda team: _read_all(evaluate(ruleset, team, engine="row")), teams)


def _read_every(appraisal: Any) -> None:
    """Every result object read: each field an app might show (reported figures, flags, ranks) of the subject and its KPIs."""
    for r in appraisal.results:
        _ = (r.subject, r.total, r.total_before_gates, r.grade, r.bonus_multiplier, r.rank, r.flags, r.level, r.parent)
        for k in r.kpis:
            _ = (k.id, k.value, k.status, k.score, k.effective_weight, k.contribution, k.flags)


def kpi_text_every(folder: Path) -> dict[str, float]:
    from kpi_engine import evaluate, load_ruleset

    ruleset = load_ruleset(folder / "t12.yaml")
    teams = _teams(json.loads((folder / "rows.json").read_text(encoding="utf-8")))
    return _timed(lambda team: _read_every(evaluate(ruleset, team, engine="row")), teams)


def _read_exact(appraisal: Any) -> None:
    """The exact numbers: each rep's exact total and each KPI's exact score and contribution."""
    for r in appraisal.results:
        _ = (r.total_exact, [(k.score_exact, k.contribution_exact) for k in r.kpis])


def kpi_text_exact(folder: Path) -> dict[str, float]:
    from kpi_engine import evaluate, load_ruleset

    ruleset = load_ruleset(folder / "t12.yaml")
    teams = _teams(json.loads((folder / "rows.json").read_text(encoding="utf-8")))
    return _timed(lambda team: _read_exact(evaluate(ruleset, team, engine="row")), teams)


def kpi_text_json(folder: Path) -> dict[str, float]:
    from kpi_engine import evaluate, load_ruleset

    ruleset = load_ruleset(folder / "t12.yaml")
    teams = _teams(json.loads((folder / "rows.json").read_text(encoding="utf-8")))
    return _timed(lambda team: evaluate(ruleset, team, engine="row").to_json(), teams)


def _read_board(appraisal: Any) -> None:
    """A leaderboard: each rep's subject, reported total, grade and rank, read without building result objects."""
    results = appraisal.results
    board = getattr(results, "total", None)
    for j in range(len(results)):
        if board is None:  # the general path's results (or the baseline's sources): the objects
            r = results[j]
            _ = (r.subject, r.total, r.grade, r.rank)
        else:
            _ = (results.subject(j), results.total(j), results.grade(j), results.rank(j))


def kpi_text_board(folder: Path) -> dict[str, float]:
    from kpi_engine import evaluate, load_ruleset

    ruleset = load_ruleset(folder / "t12.yaml")
    teams = _teams(json.loads((folder / "rows.json").read_text(encoding="utf-8")))
    return _timed(lambda team: _read_board(evaluate(ruleset, team, engine="row")), teams)


def kpi_decimal(folder: Path) -> dict[str, float]:
    from kpi_engine import evaluate, load_ruleset

    ruleset = load_ruleset(folder / "t12.yaml")
    data = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
    typed = [{k: Decimal(v) if k.startswith("m") else v for k, v in row.items()} for row in data]
    return _timed(lambda team: evaluate(ruleset, team, engine="row"), _teams(typed))


def _zen_contexts(folder: Path) -> list[dict[str, object]]:
    data = json.loads((folder / "rows.json").read_text(encoding="utf-8"))
    return [{k: float(v) if k.startswith("m") else v for k, v in row.items()} for row in data]


def _zen_engine() -> Any:
    import zen

    content = zen.ZenDecisionContent(zen_graph())  # parsed once; the loader hands out the same object
    return zen.ZenEngine({"loader": lambda _key: content})


def zen_decision(folder: Path) -> dict[str, float]:
    import zen

    decision = zen.ZenEngine().create_decision(zen_graph())
    return _timed(decision.evaluate, _zen_contexts(folder))


def zen_engine(folder: Path) -> dict[str, float]:
    engine = _zen_engine()
    return _timed(lambda ctx: engine.evaluate("t12", ctx), _zen_contexts(folder))


def zen_batch(folder: Path) -> dict[str, float]:
    engine = _zen_engine()
    requests = [[{"key": "t12", "context": ctx} for ctx in team] for team in _teams(_zen_contexts(folder))]  # type: ignore[arg-type]
    return _timed(engine.evaluate_batch, requests)


CONTENDERS = {
    "kpi_text": ("kpi row executor, text cells", kpi_text),
    "kpi_decimal": ("kpi row executor, Decimal cells", kpi_decimal),
    "kpi_text_read": ("kpi text cells, every result read", kpi_text_read),
    "kpi_text_board": ("kpi text cells, leaderboard read", kpi_text_board),
    "kpi_text_every": ("kpi text cells, every field of every result", kpi_text_every),
    "kpi_text_exact": ("kpi text cells, exact numbers read", kpi_text_exact),
    "kpi_text_json": ("kpi text cells, to_json", kpi_text_json),
    "zen_decision": ("zen ZenDecision.evaluate, per rep", zen_decision),
    "zen_engine": ("zen ZenEngine.evaluate (loaded), per rep", zen_engine),
    "zen_batch": ("zen ZenEngine.evaluate_batch, per team", zen_batch),
}


def check(folder: Path) -> str:
    """The top rep of the first team by both engines (kpi's reported total against zen's float)."""
    import zen

    from kpi_engine import evaluate, load_ruleset

    team = json.loads((folder / "rows.json").read_text(encoding="utf-8"))[:TEAM]
    top = evaluate(load_ruleset(folder / "t12.yaml"), team, engine="row").results[0]
    ctx = next(
        {k: float(v) if k.startswith("m") else v for k, v in r.items()} for r in team if r["subject"] == top.subject
    )
    z = zen.ZenEngine().create_decision(zen_graph()).evaluate(ctx)["result"]
    return f"top of team 1: {top.subject} kpi {top.total} {top.grade}, zen {float(z['total']):.4f} {z['grade']}"


def generate(folder: Path, reps: int) -> None:
    (folder / "t12.yaml").write_text(ruleset_text(), encoding="utf-8")
    (folder / "rows.json").write_text(json.dumps(rows(reps)), encoding="utf-8")


def run_child(name: str, folder: Path, baseline: str | None = None) -> dict[str, float] | None:
    """One contender in a fresh process; ``base:<name>`` runs it on the kpi_engine sources under ``baseline``."""
    env = None
    if name.startswith("base:"):
        assert baseline is not None
        env = {**os.environ, "PYTHONPATH": str(Path(baseline) / "src")}  # ahead of the installed package
        name = name.removeprefix("base:")
    cmd = [sys.executable, __file__, "--child", name, "--dir", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        print(f"  {name}: failed ({(proc.stderr.strip().splitlines() or [proc.returncode])[-1]})")
        return None
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def report(best: dict[str, dict[str, float]], reps: int) -> None:
    """Per-rep µs of each contender's best round, and each against zen's fastest call."""
    per = {name: {k: v / reps * 1e6 for k, v in r.items()} for name, r in best.items()}
    zen = [n for n in per if n.startswith("zen")]
    fastest = min(zen, key=lambda n: per[n]["cpu"]) if zen else None
    print(f"  {'contender':<42} {'CPU µs/rep':>11} {'wall µs/rep':>12}  {'CPU ÷ zen fastest':>18}")
    for name in [*CONTENDERS, *(f"base:{n}" for n in CONTENDERS)]:
        if name not in per:
            continue
        label = CONTENDERS[name.removeprefix("base:")][0]
        label = f"baseline: {label}" if name.startswith("base:") else label
        cpu, wall = per[name]["cpu"], per[name]["wall"]
        ratio = f"{cpu / per[fastest]['cpu']:.2f}×" if fastest else ""
        print(f"  {label:<42} {cpu:>11.1f} {wall:>12.1f}  {ratio:>18}")
    if fastest:
        z = per[fastest]
        for name in [n for n in CONTENDERS if n.startswith("kpi")]:
            if name in per:
                k = per[name]
                print(f"  {CONTENDERS[name][0]}: {z['cpu'] / k['cpu']:.2f}× the speed of zen's fastest call "
                      f"({CONTENDERS[fastest][0]}) in CPU time, {z['wall'] / k['wall']:.2f}× in wall time")  # fmt: skip
            if f"base:{name}" in per:
                b = per[f"base:{name}"]
                print(f"    against the baseline sources: {b['cpu'] / k['cpu']:.2f}× faster in CPU time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2_000, help="reps per contender and round (teams of 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is reported")
    parser.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders")
    parser.add_argument("--baseline", help="a checkout of kpi_engine (its src/) to run the kpi contenders on as well")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CONTENDERS[args.child][1](Path(args.dir))))
        return
    names = [n for n in args.only.split(",") if n]
    if args.baseline:  # the kpi contenders again, on another checkout's sources (e.g. ``git archive main``)
        names += [f"base:{n}" for n in names if n.startswith("kpi")]
    with tempfile.TemporaryDirectory(prefix="kpi-teams-") as tmp:
        folder = Path(tmp)
        generate(folder, args.reps)
        print(f"T12, {args.reps:,} reps in teams of {TEAM}, {args.rounds} alternating rounds, each contender "
              "in its own process (best round shown)")  # fmt: skip
        best: dict[str, dict[str, float]] = {}
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else reversed(names):
                got = run_child(name, folder, args.baseline)
                if got is not None and (name not in best or got["cpu"] < best[name]["cpu"]):
                    best[name] = got
        report(best, args.reps)
        if {"kpi_text", "zen_decision"} <= set(names):
            print("  " + check(folder))


if __name__ == "__main__":
    main()
