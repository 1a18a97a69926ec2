"""W3: lead attribution of a realistic log (default 1,000,000 events), each contender in its own process.

Contenders, measured in the same run on the same file:

- ``reference``: kpi_engine's reference walk on pre-read events (``read_events`` is not timed);
- ``walk``: the vectorised walk on a pre-read column-wise log, building the ``Credit`` objects
  as the reference does (``read_event_frame`` is not timed);
- ``vectorised``: kpi_engine's vectorised engine from the CSV file (read, validate, walk; the
  credits stay column-wise, as DuckDB's stay in an Arrow table);
- ``cli``: ``kpi attribute POLICY --events FILE --format json --out FILE`` end to end;
- ``duckdb``: a hand-written DuckDB SQL version of every rule the engine applies (window functions
  and one recursive CTE for the chain of protections), from the CSV file to the credits and the
  R3 violations fetched as Arrow.

Prints seconds, the ratio to the DuckDB baseline and the peak memory (RSS) of each process.

    python bench/w3_attribution.py [--events 1000000] [--seed 7] [--only vectorised,duckdb]

For ``bench/run.py``: ``generate(n_events, seed, folder=None)`` writes the log and returns its path;
``measure(path, contenders)`` runs contenders each in its own process and returns their figures
(seconds, credits, peak_mb) or why one did not run; ``table(results)`` renders them in Markdown.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ["event_id", "type", "at", "rep", "customer", "deal_id", "amount", "related_customer", "courtesy", "note"]
POLICY = "policy: w3\ntimezone: Asia/Shanghai\n"
CONTENDERS = ("reference", "walk", "vectorised", "cli", "duckdb")


def generate(n_events: int, seed: int = 7, folder: str | Path | None = None) -> Path:
    """Write a realistic lead log of about ``n_events`` rows (CSV, not sorted) and return its path.

    About five events per customer: a registration, follow-ups (mostly by the owner, some late or
    missing), receptions (some courtesy), deals by the owner or another rep, claims by the owner
    (in time or late), re-registrations after protection lapsed, registrations by other reps while
    protected; and rarely: ``same_customer`` pairs, overrides, and two reps whose register is void.
    """
    rnd = random.Random(seed)
    base = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="w3_"))
    path = base / f"w3_{n_events}_{seed}.csv"
    reps = [f"rep{i:03d}" for i in range(max(10, min(400, n_events // 2500)))]
    start = dt.datetime(2026, 1, 1, 9, 0)
    written = deal_no = 0
    void_reps = rnd.sample(reps, 2)
    deals: list[tuple[str, dt.datetime]] = []

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)

        def row(kind: str, at: dt.datetime, rep: str = "", customer: str = "", **extra: str) -> None:
            nonlocal written
            w.writerow([f"e{written:08d}", kind, at.isoformat(), rep, customer, extra.get("deal_id", ""),
                        extra.get("amount", ""), extra.get("related_customer", ""), extra.get("courtesy", ""), ""])  # fmt: skip
            written += 1

        c = 0
        budget = n_events - 4
        while written < budget:
            cust = f"c{c:07d}"
            c += 1
            owner = rnd.choice(reps)
            t = start + dt.timedelta(minutes=rnd.randrange(0, 60 * 24 * 330))
            row("registration", t, owner, cust)
            for _ in range(rnd.randrange(2, 8)):
                if written >= budget:
                    break
                t += dt.timedelta(hours=rnd.choice((2, 5, 20, 30, 50, 80, 120, 170, 200, 260)) + rnd.randrange(0, 3))
                r = rnd.random()
                if r < 0.40:
                    row("follow_up", t, owner if rnd.random() < 0.9 else rnd.choice(reps), cust)
                elif r < 0.52:
                    courtesy = "true" if rnd.random() < 0.2 else ""
                    row("reception", t, owner if not courtesy and rnd.random() < 0.7 else rnd.choice(reps), cust,
                        courtesy=courtesy)  # fmt: skip
                elif r < 0.60:
                    row("registration", t, rnd.choice(reps) if rnd.random() < 0.6 else owner, cust)
                else:
                    deal_no += 1
                    deal = f"D{deal_no:07d}"
                    closer = owner if rnd.random() < 0.55 else rnd.choice(reps)
                    courtesy = "true" if closer != owner and rnd.random() < 0.1 else ""
                    amount = f"{rnd.randrange(10_000, 5_000_000)}.{rnd.randrange(100):02d}"
                    row("deal", t, closer, cust, deal_id=deal, amount=amount, courtesy=courtesy)
                    deals.append((deal, t))
                    if closer != owner and rnd.random() < 0.6:
                        row("claim", t + dt.timedelta(hours=rnd.randrange(1, 24 * 5)), owner, deal_id=deal)
                    if rnd.random() < 0.004:
                        who = rnd.choice((*reps[:3], "house"))
                        row("override", t + dt.timedelta(days=rnd.randrange(1, 10)), who, deal_id=deal)
                    break  # a deal ends the customer's story here
            if rnd.random() < 0.002 and c > 1:
                row("same_customer", t, "", cust, related_customer=f"c{rnd.randrange(c - 1):07d}")
        for rep in void_reps:
            row("void_register", start + dt.timedelta(days=rnd.randrange(100, 300)), rep)
    return path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_reference(path: str) -> dict[str, float]:
    from kpi_engine.attribution import attribute, parse_policy, read_events

    policy = parse_policy(POLICY)
    events = read_events(path, policy)
    t0 = time.perf_counter()
    result = attribute(policy, events, engine="reference")
    return {"seconds": time.perf_counter() - t0, "credits": len(result.credits), "peak_mb": _peak_mb()}


def run_vectorised(path: str) -> dict[str, float]:
    from kpi_engine.attribution import attribute, parse_policy, read_event_frame

    policy = parse_policy(POLICY)
    t0 = time.perf_counter()
    result = attribute(policy, read_event_frame(path, policy), engine="vectorised")
    return {"seconds": time.perf_counter() - t0, "credits": len(result.credits), "peak_mb": _peak_mb()}


def run_walk(path: str) -> dict[str, float]:
    from kpi_engine.attribution import attribute, parse_policy, read_event_frame

    policy = parse_policy(POLICY)
    frame = read_event_frame(path, policy)
    t0 = time.perf_counter()
    result = attribute(policy, frame, engine="vectorised")
    count = len(result.credits)  # builds the Credit objects, as the reference does
    return {"seconds": time.perf_counter() - t0, "credits": count, "peak_mb": _peak_mb()}


def run_cli(path: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        policy, out = Path(tmp) / "policy.yaml", Path(tmp) / "out.json"
        policy.write_text(POLICY, encoding="utf-8")
        kpi = [sys.executable, "-c", "import sys; from kpi_engine.cli import main; sys.exit(main())"]
        t0 = time.perf_counter()
        proc = subprocess.run([*kpi, "attribute", str(policy), "--events", path, "--format", "json", "--out", str(out)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        count = len(json.loads(out.read_text(encoding="utf-8"))["credits"])
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "credits": count, "peak_mb": child}


DUCKDB_SQL = """
-- Every rule the engine applies, for the default calendar-day policy P (protection), F (first
-- follow-up), C (claim) in the policy zone. R10 merges same_customer pairs (one level: the
-- generated pairs are disjoint), R7 void registers, R8, R11 courtesy, R15 overrides.
CREATE OR REPLACE TEMP TABLE ev AS
SELECT row_number() OVER (ORDER BY utc, event_id) AS pos, *
FROM (
  SELECT event_id, type, rep, customer, deal_id, CAST(amount AS DECIMAL(38, 10)) AS amount, related_customer,
         lower(coalesce(courtesy, '')) IN ('true', '1', 'yes', 'y') AS courtesy,
         timezone('UTC', timezone('{tz}', CAST("at" AS TIMESTAMP))) AS utc,
         CAST(CAST("at" AS TIMESTAMP) AS DATE) AS day
  FROM read_csv('{path}', header = true, all_varchar = true)
);
CREATE OR REPLACE TEMP TABLE merged AS
SELECT least(customer, related_customer) AS root, greatest(customer, related_customer) AS member
FROM ev WHERE type = 'same_customer';
CREATE OR REPLACE TEMP TABLE voids AS SELECT rep, max(pos) AS void_pos, arg_max(event_id, pos) AS void_id
FROM ev WHERE type = 'void_register' GROUP BY rep;
CREATE OR REPLACE TEMP TABLE s AS
SELECT e.*, coalesce(m.root, e.customer) AS cust, v.void_pos IS NOT NULL AND e.pos <= v.void_pos AND e.type = 'registration' AS void_reg,
       v.void_id,
       (e.type IN ('registration', 'follow_up', 'deal') OR (e.type = 'reception' AND NOT e.courtesy)) AS ext
FROM ev e LEFT JOIN merged m ON e.customer = m.member LEFT JOIN voids v ON e.rep = v.rep
WHERE e.type IN ('registration', 'reception', 'follow_up', 'deal');
-- Runs of one rep's extenders: a new run where an extender comes after the previous one's deadline.
CREATE OR REPLACE TEMP TABLE runs AS
SELECT pos, max(day) OVER (PARTITION BY cust, rep, run) + {P} AS run_until FROM (
  SELECT pos, cust, rep, day, sum(brk) OVER (PARTITION BY cust, rep ORDER BY pos) AS run FROM (
    SELECT pos, cust, rep, day,
           CASE WHEN day > lag(day) OVER (PARTITION BY cust, rep ORDER BY pos) + {P} THEN 1 ELSE 0 END AS brk
    FROM s WHERE ext AND NOT void_reg));
-- Registrations and the chain of protections (each starts at the first registration after the last end).
CREATE OR REPLACE TEMP TABLE regs AS
SELECT s.pos, s.cust, s.day, r.run_until, row_number() OVER (PARTITION BY s.cust ORDER BY s.pos) AS k
FROM s JOIN runs r USING (pos) WHERE s.type = 'registration';
CREATE OR REPLACE TEMP TABLE starts AS
WITH RECURSIVE chain(cust, pos, run_until) AS (
  SELECT cust, pos, run_until FROM regs WHERE k = 1
  UNION ALL
  SELECT n.cust, n.pos, n.run_until FROM chain c
  JOIN LATERAL (SELECT r.cust, r.pos, r.run_until FROM regs r
                WHERE r.cust = c.cust AND r.pos > c.pos AND r.day > c.run_until ORDER BY r.pos LIMIT 1) n ON true
) SELECT * FROM chain;
-- Each event's protection, whether it is inside it, and the owner's last extender before it.
CREATE OR REPLACE TEMP TABLE t AS
SELECT *, list(event_id) FILTER (WHERE kept) OVER (PARTITION BY start_pos ORDER BY pos
         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prefix FROM (
SELECT *, active AND rep = owner AND ext AND NOT void_reg AS kept FROM (
  SELECT s.*, st.start_pos, st.owner, st.until, st.start_id, s.day <= st.until AS active FROM s
  ASOF LEFT JOIN (SELECT st.pos AS start_pos, st.cust AS scust, st.run_until AS until, e.rep AS owner,
                         e.event_id AS start_id FROM starts st JOIN ev e USING (pos)) st
  ON s.cust = st.scust AND s.pos >= st.start_pos));
CREATE OR REPLACE TEMP TABLE claims AS
SELECT deal_id, rep, arg_min(event_id, pos) AS claim_id, arg_min(day, pos) AS claim_day
FROM ev WHERE type = 'claim' GROUP BY deal_id, rep;
CREATE OR REPLACE TEMP TABLE overrides AS
SELECT deal_id, arg_max(rep, pos) AS orep, arg_max(event_id, pos) AS oid FROM ev WHERE type = 'override' GROUP BY deal_id;
-- R7: the latest void registration made outside a protection, after the protection's start.
CREATE OR REPLACE TEMP TABLE void_regs AS
SELECT cust AS vcust, pos AS vpos, day AS vday, rep AS vrep, event_id AS vid, void_id FROM t
WHERE void_reg AND NOT coalesce(active, false);
CREATE OR REPLACE TEMP TABLE credits AS
SELECT d.deal_id, d.cust AS customer, d.rep AS closer, d.amount, d.day AS date,
  CASE WHEN o.oid IS NULL AND NOT coalesce(d.active, false) AND voided THEN d.vrep ELSE d.owner END AS owner,
  CASE WHEN o.oid IS NOT NULL THEN 'override'
       WHEN d.active THEN CASE WHEN d.owner = d.rep THEN 'owner' WHEN d.courtesy THEN 'courtesy'
                               WHEN c.claim_id IS NULL THEN 'no_claim' WHEN c.claim_day <= d.day + {C} THEN 'claim'
                               ELSE 'late_claim' END
       WHEN voided THEN 'void' WHEN d.owner IS NULL THEN 'unregistered'
       WHEN d.owner = d.rep THEN 'owner' ELSE 'expired' END AS reason,
  CASE WHEN o.oid IS NOT NULL THEN o.orep
       WHEN d.active AND d.owner <> d.rep AND (d.courtesy OR c.claim_day <= d.day + {C}) THEN d.owner ELSE d.rep END AS credited_to,
  CASE WHEN o.oid IS NOT NULL THEN [d.event_id, o.oid]
       WHEN NOT coalesce(d.active, false) AND voided THEN [d.vid, d.void_id2, d.event_id]
       WHEN d.owner IS NULL THEN [d.event_id]
       ELSE list_concat(coalesce(d.prefix, []), [d.event_id],
                        CASE WHEN d.active AND d.owner <> d.rep AND NOT d.courtesy AND c.claim_id IS NOT NULL
                             THEN [c.claim_id] ELSE [] END) END AS decided
FROM (SELECT t.*, v.vpos IS NOT NULL AND v.vpos > coalesce(t.start_pos, 0) AND t.day <= v.vday + {P} AS voided,
             v.vrep, v.vid, v.void_id AS void_id2
      FROM t ASOF LEFT JOIN void_regs v ON t.cust = v.vcust AND t.pos > v.vpos WHERE t.type = 'deal') d
LEFT JOIN claims c ON c.deal_id = d.deal_id AND c.rep = d.owner LEFT JOIN overrides o ON o.deal_id = d.deal_id;
CREATE OR REPLACE TEMP TABLE violations AS
SELECT st.start_id, st.owner, st.day, min(f.day) AS first_follow_up
FROM (SELECT DISTINCT start_pos, start_id, owner, until, cust FROM t WHERE start_pos IS NOT NULL) x
JOIN t st ON st.pos = x.start_pos
LEFT JOIN t f ON f.start_pos = x.start_pos AND f.type = 'follow_up' AND f.rep = x.owner
GROUP BY ALL HAVING min(f.day) IS NULL OR min(f.day) > st.day + {F};
"""


def run_duckdb(path: str) -> dict[str, float]:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(DUCKDB_SQL.format(path=path, tz="Asia/Shanghai", P=7, C=3, F=3))
    table = con.sql("SELECT * FROM credits ORDER BY deal_id").to_arrow_table()
    con.sql("SELECT * FROM violations").to_arrow_table()
    return {"seconds": time.perf_counter() - t0, "credits": table.num_rows, "peak_mb": _peak_mb()}


RUNNERS = {
    "reference": run_reference,
    "walk": run_walk,
    "vectorised": run_vectorised,
    "cli": run_cli,
    "duckdb": run_duckdb,
}


def measure(path: Path, contenders: tuple[str, ...] = CONTENDERS) -> dict[str, dict[str, float] | str]:
    """Run each contender in its own process on ``path``; return its figures or why it did not run."""
    results: dict[str, dict[str, float] | str] = {}
    for name in contenders:
        proc = subprocess.run([sys.executable, __file__, "--child", name, "--path", str(path)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            results[name] = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        else:
            results[name] = json.loads(proc.stdout)
    return results


def table(results: dict[str, dict[str, float] | str]) -> str:
    """The results as a Markdown table, with each contender's ratio to the DuckDB baseline."""
    base = results.get("duckdb")
    base_s = base["seconds"] if isinstance(base, dict) else None
    lines = ["| contender | seconds | × DuckDB | peak RSS MB | credits |", "|---|---|---|---|---|"]
    for name, r in results.items():
        if isinstance(r, str):
            lines.append(f"| {name} | not run: {r} | | | |")
            continue
        ratio = f"{r['seconds'] / base_s:.2f}" if base_s else "-"
        lines.append(f"| {name} | {r['seconds']:.2f} | {ratio} | {r['peak_mb']:.0f} | {int(r['credits']):,} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", help="comma-separated contenders (default: all)")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--path", help="an existing log instead of a generated one")
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(RUNNERS[args.child](args.path)) + "\n")
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = Path(args.path) if args.path else generate(args.events, args.seed, tmp)
        size = path.stat().st_size / 1e6
        sys.stdout.write(f"log: {path.name}, {size:.0f} MB, generated in {time.perf_counter() - t:.1f} s\n")
        contenders = tuple(args.only.split(",")) if args.only else CONTENDERS
        sys.stdout.write(table(measure(path, contenders)) + "\n")


if __name__ == "__main__":
    main()
