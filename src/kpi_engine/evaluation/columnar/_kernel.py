"""The scorecard over whole columns: scoring methods, adjustments, sections, gates, grades, ranks.

Mirrors ``engine._Evaluator.appraise`` step by step, in exact rational columns
(``_columns.Num``). The result is a ``Scored`` bundle of columns; ``_materialise`` turns it into
the row evaluator's result objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from math import lcm

import attrs
import numpy as np

from kpi_engine._columns import (
    LIMIT,
    Arr,
    Bool,
    Column,
    Ctx,
    IntLike,
    Num,
    mul,
    n_add,
    n_affine,
    n_clip,
    n_cmp,
    n_div,
    n_mul,
    n_weighted_sum,
    n_where,
    na_or,
)
from kpi_engine.expr import evaluate_columns as evaluate
from kpi_engine.language.model import Kpi, Scorecard

HUNDRED = Num.const(Fraction(100))
ZERO = Num.const(Fraction(0))
_FEW_DENOMINATORS = 64


@attrs.define
class KpiColumns:
    value: Column
    score: Num  # N/A where excluded
    flags: list[tuple[str, Arr]]  # flag name and the rows it applies to, in the row path's order
    band: list[str | None] | None = None
    share: Num | None = None
    contribution: Num | None = None


@attrs.define
class Scored:
    """Every column the result objects are made of."""

    n: int
    kpis: dict[str, KpiColumns]
    sections: dict[str, tuple[Num, Num, Arr, Arr]]  # score (N/A when excluded), share, live, zeroed
    gates: dict[str, Bool]
    adjustments: list[tuple[str, Arr, Bool]]  # id, rows where recorded, holds
    total: Num
    before: Num
    forced: Arr  # object array of forced grades (None where none)
    strict_na: bool  # a strict run met an N/A: the row path reports it
    na_error: bool  # on_missing: error met an N/A


def _mask(n: int, m: Arr | None) -> Arr:
    return np.zeros(n, dtype=bool) if m is None else m


def _const(value: Decimal | str) -> Num:
    return Num.const(Fraction(value))


def _ratio(ctx: Ctx, num: Num, den: Num) -> Num:
    return n_mul(ctx, HUNDRED, n_div(ctx, num, den))


def _score(
    ctx: Ctx, kpi: Kpi, v: Num, env: Mapping[str, Column]
) -> tuple[Num, list[tuple[str, Arr]], list[str | None] | None]:
    t = [_const(x) for x in kpi.target]
    f = [_const(x) for x in kpi.floor]
    cap = Fraction(kpi.cap)
    flags: list[tuple[str, Arr]] = []
    if kpi.method == "threshold":
        if kpi.direction == "range":
            lo, _ = n_cmp(ctx, t[0], v, "<" if kpi.strict else "<=")
            hi, _ = n_cmp(ctx, v, t[1], "<" if kpi.strict else "<=")
            ok = lo & hi
        elif kpi.direction == "higher":
            ok = n_cmp(ctx, v, t[0], ">" if kpi.strict else ">=")[0]
        else:
            ok = n_cmp(ctx, v, t[0], "<" if kpi.strict else "<=")[0]
        out = n_where(ctx, ok, _const(kpi.pass_score), _const(kpi.fail_score))
        return Num(out.num, out.den, v.na), flags, None
    if kpi.method == "linear":
        if kpi.direction in {"higher", "lower"} and kpi.target[0] != kpi.floor[0]:
            # 100·(v − floor)/(target − floor) is the affine map k·v + c with constants k and c
            # (lower-is-better is the same formula: both differences change sign).
            k = 100 / (Fraction(kpi.target[0]) - Fraction(kpi.floor[0]))
            out = n_affine(ctx, v, k, -k * Fraction(kpi.floor[0]), (Fraction(0), cap))
            return Num(out.num, out.den, v.na, out.hi), flags, None
        if kpi.direction == "higher":
            raw = _ratio(ctx, n_add(ctx, v, f[0], -1), n_add(ctx, t[0], f[0], -1))
        elif kpi.direction == "lower":
            raw = _ratio(ctx, n_add(ctx, f[0], v, -1), n_add(ctx, f[0], t[0], -1))
        else:
            below = _ratio(ctx, n_add(ctx, v, f[0], -1), n_add(ctx, t[0], f[0], -1))
            above = _ratio(ctx, n_add(ctx, f[1], v, -1), n_add(ctx, f[1], t[1], -1))
            is_below, _ = n_cmp(ctx, v, t[0], "<")
            is_above, _ = n_cmp(ctx, v, t[1], ">")
            raw = n_where(ctx, is_above, above, HUNDRED)
            raw = n_where(ctx, is_below, below, raw)
        out = n_clip(ctx, raw, Fraction(0), cap)
        return Num(out.num, out.den, v.na, out.hi), flags, None
    if kpi.method == "attainment":
        if kpi.direction == "lower":
            nonpos, _ = n_cmp(ctx, v, ZERO, "<=")
            safe = n_where(ctx, nonpos, Num.const(Fraction(1)), v)
            out = n_where(ctx, nonpos, Num.const(cap), n_clip(ctx, _ratio(ctx, t[0], safe), Fraction(0), cap))
        elif kpi.target[0] != 0:
            out = n_affine(ctx, v, 100 / Fraction(kpi.target[0]), Fraction(0), (Fraction(0), cap))
        else:
            out = n_clip(ctx, _ratio(ctx, v, t[0]), Fraction(0), cap)
        return Num(out.num, out.den, v.na, out.hi), flags, None
    if kpi.method == "bands":
        out = _const(kpi.fail_score)
        matched = np.zeros(ctx.n, dtype=bool)
        band_ids = np.full(ctx.n, None, dtype=object)
        for band in reversed(kpi.bands):
            hit = np.ones(ctx.n, dtype=bool)
            if band.min is not None:
                hit &= n_cmp(ctx, v, _const(band.min), ">=")[0]
            if band.max is not None:
                hit &= n_cmp(ctx, v, _const(band.max), "<")[0]
            out = n_where(ctx, hit, _const(band.score), out)
            band_ids = np.where(hit, band.id, band_ids)
            matched |= hit
        known = ~_mask(ctx.n, v.na)
        flags.append(("no_band_matched", ~matched & known))
        return Num(out.num, out.den, v.na), flags, list(band_ids)
    assert kpi.score_expr is not None
    result = evaluate(ctx, kpi.score_expr.node, {**env, "value": v})
    assert isinstance(result, Num)
    clipped = n_clip(ctx, result, Fraction(0), cap)
    na = na_or(v.na, result.na)
    expr_na = _mask(ctx.n, result.na) & ~_mask(ctx.n, v.na)
    flags.append(("excluded_na", expr_na))
    return Num(clipped.num, clipped.den, na), flags, None


def run(card: Scorecard, ctx: Ctx, env: dict[str, Column], *, strict: bool) -> Scored:
    """Evaluate the scorecard over all rows of ``env`` (metric name → column)."""
    n = ctx.n
    strict_na = False
    na_error = False
    kpis: dict[str, KpiColumns] = {}
    nothing = np.zeros(n, dtype=bool)  # one shared (never written) mask for the columns without N/A
    for kpi in card.kpis:
        value = env[kpi.metric]
        missing = nothing if value.na is None else value.na
        if missing.any() and (strict or kpi.on_missing == "error"):
            strict_na = strict_na or strict
            na_error = na_error or kpi.on_missing == "error"
        flags: list[tuple[str, Arr]] = []
        if kpi.on_missing == "zero":
            flags.append(("missing_scored_zero", missing))
        else:
            flags.append(("excluded_na", missing))
        if isinstance(value, Num):
            score, more, bands = _score(ctx, kpi, value, env)
        else:  # a KPI on a bool or text metric is refused by the checks; N/A everywhere keeps it honest
            score, more, bands = Num(0, 1, np.ones(n, dtype=bool)), [], None
        flags.extend(more)
        if kpi.on_missing == "zero" and missing.any():
            score = n_where(ctx, missing, ZERO, score)
            na = _mask(n, score.na) & ~missing
            score.na = na if na.any() else None
        kpis[kpi.id] = KpiColumns(value, score, flags, bands)
    adjustments: list[tuple[str, Arr, Bool]] = []
    adjusted = {k.id: np.zeros(n, dtype=bool) for k in card.kpis}
    for adj in card.adjustments:
        col = kpis[adj.kpi]
        present = ~_mask(n, col.score.na)
        holds = evaluate(ctx, adj.when.node, env)
        assert isinstance(holds, Bool)
        if strict and (_mask(n, holds.na) & present).any():
            strict_na = True
        adjustments.append((adj.id, present, holds))
        apply = present & holds.val & ~_mask(n, holds.na) & ~adjusted[adj.kpi]
        if apply.any():
            new = n_where(ctx, apply, _const(adj.score), col.score)
            col.score = Num(new.num, new.den, col.score.na)
            first = apply & ~adjusted[adj.kpi]
            col.flags.append(("adjusted", first))
            adjusted[adj.kpi] |= apply
    gates: dict[str, Bool] = {}
    zeroed_by: dict[str, Arr] = {s.id: np.zeros(n, dtype=bool) for s in card.sections}
    for g in card.gates:
        if g.action == "zero_section":
            holds = evaluate(ctx, g.when.node, env)
            assert isinstance(holds, Bool)
            gates[g.id] = holds
            zeroed_by[str(g.value)] |= holds.val & ~_mask(n, holds.na)
    # Integer weights over one common denominator: shares are exact ratios of small integers.
    wden = lcm(*(Fraction(k.weight).denominator for k in card.kpis), 1)
    sden = lcm(*(Fraction(s.weight).denominator for s in card.sections), 1)
    sections: dict[str, tuple[Num, Num, Arr, Arr]] = {}
    section_sum: dict[str, Num] = {}
    # Weight sums stay Python integers while every KPI applies to every row (the common case):
    # then shares are constants and every division below is by a constant.
    wsums: dict[str, IntLike] = {}
    swsum: IntLike = 0
    for s in card.sections:
        members = [k for k in card.kpis if k.section == s.id]
        wsum: IntLike = 0
        total_w: Num = ZERO
        terms = [(int(Fraction(k.weight) * wden), kpis[k.id].score) for k in members]
        summed = n_weighted_sum(ctx, terms) if all(sc.na is None for _, sc in terms) else None
        if summed is not None:  # every KPI applies to every row: Σ w·score in place, in one accumulator
            wsum, total_w, members = sum(w for w, _ in terms), summed, []
        for k in members:
            w = int(Fraction(k.weight) * wden)
            sc = kpis[k.id].score
            if sc.na is None:
                wsum = wsum + w
                part = n_mul(ctx, Num(w, 1, None), Num(sc.num, sc.den, None, sc.hi))
            else:
                present = ~sc.na
                wsum = wsum + np.where(present, w, 0)
                part = n_mul(ctx, Num(w, 1, None), Num(np.where(present, sc.num, 0), sc.den, None, sc.hi))
            total_w = n_add(ctx, total_w, part)
        live = np.full(n, wsum > 0) if isinstance(wsum, int) else wsum > 0
        wsums[s.id] = wsum
        section_sum[s.id] = total_w
        sw = int(Fraction(s.weight) * sden)
        swsum = swsum + ((sw if wsum > 0 else 0) if isinstance(wsum, int) else np.where(live, sw, 0))
        safe = (wsum or 1) if isinstance(wsum, int) else np.where(live, wsum, 1)
        raw = n_div(ctx, total_w, Num(safe, 1, None))
        zeroed = zeroed_by[s.id]
        score = n_where(ctx, zeroed, ZERO, raw) if zeroed.any() else raw
        sections[s.id] = (Num(score.num, score.den, None if live.all() else ~live, score.hi), ZERO, live, zeroed)
    any_live = np.full(n, swsum > 0) if isinstance(swsum, int) else swsum > 0
    safe_sw = (swsum or 1) if isinstance(swsum, int) else np.where(any_live, swsum, 1)
    total: Num = ZERO
    for s in card.sections:
        score, _, live, zeroed = sections[s.id]
        sw = int(Fraction(s.weight) * sden)
        all_live = isinstance(wsums[s.id], int)  # every row of this section has a KPI that applies (or none has)
        share_num: IntLike = (sw if live[0] else 0) if all_live else np.where(live, sw, 0)
        share = Num(share_num, safe_sw, None).reduced()
        sections[s.id] = (score, share, live, zeroed)
        wsum_s: IntLike = (wsums[s.id] or 1) if all_live else np.where(live, wsums[s.id], 1)
        # contribution of the section = sw/swsum × Σ w·score / wsum
        any_zeroed = bool(zeroed.any())
        counted_sw: IntLike = share_num if not any_zeroed else np.where(live & ~zeroed, sw, 0)
        scale = mul(ctx, wsum_s, safe_sw)
        part = n_div(ctx, n_mul(ctx, Num(counted_sw, 1, None), section_sum[s.id]), Num(scale, 1, None))
        total = n_add(ctx, total, part)
        for k in card.kpis:
            if k.section != s.id:
                continue
            col = kpis[k.id]
            w = int(Fraction(k.weight) * wden)
            if col.score.na is None and all_live and isinstance(scale, int):
                kshare = Num.const(Fraction(w * sw if live[0] else 0, scale))  # lowest terms: often 1/k
            else:
                present = ~_mask(n, col.score.na)
                kshare = n_div(ctx, Num(np.where(present & live, w * sw, 0), 1, None), Num(scale, 1, None))
            col.share = kshare
            if col.score.na is None and not any_zeroed:
                counted = Num(col.score.num, col.score.den, None, col.score.hi)
            else:
                keep = ~_mask(n, col.score.na) & ~zeroed
                counted = Num(np.where(keep, col.score.num, 0), col.score.den, None, col.score.hi)
            col.contribution = n_mul(ctx, kshare, counted)
            if any_zeroed:
                col.flags.append(("section_zeroed", zeroed))
    total = Num(total.num, total.den, None if any_live.all() else ~any_live, total.hi)
    before = total
    # No grade forced yet: a read-only view of one None (a gate that forces grades makes a real array).
    forced = np.broadcast_to(np.array(None, dtype=object), (n,))
    env_total = {**env, "total": before}
    for g in card.gates:
        if g.id in gates:
            holds = gates[g.id]
        else:
            holds = evaluate(ctx, g.when.node, env_total)
            assert isinstance(holds, Bool)
            gates[g.id] = holds
        yes = holds.val & ~_mask(n, holds.na)
        if g.action == "cap_total":
            over, _ = n_cmp(ctx, total, _const(g.value), ">")
            capped = n_where(ctx, yes & over & any_live, _const(g.value), total)
            total = Num(capped.num, capped.den, total.na)
        elif g.action == "force_grade":
            forced = np.where(yes & _is_none(forced), str(g.value), forced)
    if strict:
        for holds in gates.values():
            if holds.na is not None and holds.na.any():
                strict_na = True
    return Scored(n, kpis, sections, gates, adjustments, total, before, forced, strict_na, na_error)


def _is_none(values: Arr) -> Arr:
    return np.array([v is None for v in values.tolist()], dtype=bool)


def grades(card: Scorecard, ctx: Ctx, total: Num, forced: Arr) -> tuple[Arr, Arr]:
    """Grade and bonus multiplier per row (object arrays), decided on the exact total."""
    n = ctx.n
    bands = card.grades
    # The first band (in the ruleset's order) whose bound the total reaches; len(bands): none.
    # Compared in a context of its own: a bound × a large denominator may leave int64, and then
    # every comparison is made again over Python integers (the run's rerun is already behind us).
    trial = ctx if ctx.exact else Ctx(n)
    code = np.full(n, len(bands), dtype=np.intp)
    for i in reversed(range(len(bands))):
        g = bands[i]
        if g.min is None:
            code[:] = i
        else:
            code[n_cmp(trial, total, _const(g.min), ">=")[0]] = i
    if trial.bad.any():
        return grades(card, Ctx(n, exact=True), total, forced)
    if total.na is not None:
        code[total.na] = len(bands)
    names = np.empty(len(bands) + 1, dtype=object)
    multipliers = np.empty(len(bands) + 1, dtype=object)
    for i, g in enumerate(bands):
        names[i] = g.grade
        multipliers[i] = g.bonus_multiplier
    grade = names[code]
    bonus = multipliers[code]
    if any(g.action == "force_grade" for g in card.gates):
        has_forced = ~_is_none(forced)
        if has_forced.any():
            bonus_of = {g.grade: g.bonus_multiplier for g in bands}
            grade = np.where(has_forced, forced, grade)
            for row in np.flatnonzero(has_forced).tolist():
                bonus[row] = bonus_of.get(forced[row])
    return grade, bonus


def _common_den(ctx: Ctx, key: Num) -> Num:
    """The same values over one denominator when their few denominators have a small lcm."""
    if isinstance(key.den, int) or key.den.dtype == object:
        return key
    dens = np.unique(key.den if key.na is None else key.den[~key.na])
    common = lcm(*dens.tolist()) if len(dens) <= _FEW_DENOMINATORS else LIMIT
    if common >= LIMIT:
        return key
    trial = Ctx(ctx.n)
    scaled = mul(trial, key.num, common // key.den)
    if trial.bad.any():
        return key
    return Num(scaled, common, key.na)


def _packed_order(num: Arr, *, lower_first: bool) -> Arr | None:
    """Row order by ``num`` (ties by row) from one value sort, or ``None`` when the keys do not pack.

    Each key is the value's distance from the best value, shifted left, with the row number in
    the low bits: the keys are distinct and in the wanted order, and sorting values is several
    times faster than ``argsort`` (NumPy sorts them with SIMD). Exact: integers only.
    """
    n = len(num)
    if n == 0:
        return None
    low, high = int(num.min()), int(num.max())
    bits = n.bit_length()
    if (high - low) >> (62 - bits):
        return None  # the values' span and the row numbers do not fit together in 63 bits
    key = np.subtract(num, low) if lower_first else np.subtract(high, num)
    key <<= bits
    key |= np.arange(n)
    key.sort()
    key &= (1 << bits) - 1
    return key


def competition_ranks(ctx: Ctx, key: Num, groups: Arr | None, *, lower_first: bool) -> Arr:
    """Competition ranks (1, 1, 3) by exact key (0: unranked, the key is N/A), optionally within groups.

    Rows are ordered by a float64 approximation first; every run of neighbours whose
    approximations are close is then ordered and compared exactly, so float error never decides.
    """
    n = ctx.n
    key = _common_den(ctx, key)
    num, den = key.array(ctx)
    if groups is None and key.na is None and isinstance(key.den, int) and num.dtype != object:
        # One denominator, one group, every key known: the numerators order the rows exactly.
        # Ties share a rank whatever their order, so an unstable sort will do; highest first is
        # the ascending order read backwards (no negated copy).
        order = _packed_order(num, lower_first=lower_first)
        if order is None:
            order = np.argsort(num)
            if not lower_first:
                order = order[::-1]
        sk = num[order]
        first_of_run: Arr = np.arange(1, n + 1, dtype=np.int64)
        first_of_run[1:][sk[1:] == sk[:-1]] = 0  # a tie takes the rank of the first of its run
        np.maximum.accumulate(first_of_run, out=first_of_run)
        out = np.empty(n, dtype=np.int64)
        out[order] = first_of_run
        return out
    approx = np.asarray(num / den, dtype=np.float64)
    if not lower_first:
        approx = -approx
    known = ~_mask(n, key.na)
    if groups is not None:
        known &= ~_is_none(groups)
        codes = np.unique(groups[known].astype(str), return_inverse=True)[1]
        gcode = np.full(n, -1, dtype=np.int64)
        gcode[known] = codes
    else:
        gcode = np.zeros(n, dtype=np.int64)
    idx = np.flatnonzero(known)
    out = np.zeros(n, dtype=np.int64)
    if not len(idx):
        return out
    if isinstance(key.den, int) and num.dtype != object:  # one denominator: the numerators order the rows exactly
        signed = num if lower_first else -num
        order = idx[np.lexsort((signed[idx], gcode[idx]))]
        sk, sg = signed[order], gcode[order]
        at = np.arange(len(order))
        new_group = np.r_[True, sg[1:] != sg[:-1]]
        new_value = new_group | np.r_[True, sk[1:] != sk[:-1]]
        group_start = np.maximum.accumulate(np.where(new_group, at, 0))
        run_start = np.maximum.accumulate(np.where(new_value, at, 0))
        out[order] = run_start - group_start + 1
        return out
    order = idx[np.lexsort((approx[idx], gcode[idx]))]
    a = approx[order]
    g = gcode[order]
    close = (np.abs(np.diff(a)) <= 1e-9 * np.maximum(1.0, np.abs(a[1:]))) & (g[1:] == g[:-1])
    # Exact keys only where neighbours are close: a few rows, Python ints or Fractions.
    exact = dict.fromkeys(order[1:][close].tolist()) | dict.fromkeys(order[:-1][close].tolist())
    ordered = order.tolist()
    if exact:
        nums, dens = num.tolist(), den.tolist()
        sign = 1 if lower_first else -1
        pos = 0
        while pos < len(ordered):
            end = pos + 1
            while end < len(ordered) and end - 1 < len(close) and close[end - 1]:
                end += 1
            if end - pos > 1:
                run = ordered[pos:end]
                ordered[pos:end] = sorted(run, key=lambda i: sign * Fraction(nums[i], dens[i]))
            pos = end
    group = g.tolist()
    rank = 0
    start_of_group = 0
    prev: Fraction | None = None
    nums_l = num.tolist()
    dens_l = den.tolist()
    for pos, i in enumerate(ordered):
        if pos == 0 or group[pos] != group[pos - 1]:
            start_of_group = pos
            prev = None
        value = Fraction(nums_l[i], dens_l[i]) if exact and i in exact else None
        same = False
        if prev is not None and value is not None and pos > 0 and ordered[pos - 1] in exact:
            same = value == prev
        if not same:
            rank = pos - start_of_group + 1
        out[i] = rank
        prev = value
    return out
