"""Results of a columnar run: the row path's ``SubjectResult`` objects, built only when read.

``ColumnarResults`` is a sequence in ranked order over the kernel's columns. Indexing or
iterating builds each ``SubjectResult`` (equal to the row path's) on demand, so a run that only
writes a table never holds 1.2 million Python objects; ``long_table`` gives the reported
(rounded) figures as a Polars frame straight from the columns, rounded exactly from the
rationals. Traces are lean (method, parameters, weights); ``kpi explain`` builds the full one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, overload

import numpy as np

from kpi_engine._columns import Arr, Bool, Column, Ctx, Num, round_parts
from kpi_engine._numbers import ZERO, Number, canonical, is_number
from kpi_engine.evaluation.columnar._kernel import Scored
from kpi_engine.evaluation.results import (
    AdjustmentResult,
    GateResult,
    KpiResult,
    Rounding,
    SectionResult,
    SubjectResult,
    Tracer,
)
from kpi_engine.expr import Value
from kpi_engine.language.model import Scorecard
from kpi_engine.plan.ops.gates import outcome
from kpi_engine.plan.ops.weights import section_flags


def _num_at(col: Num, j: int) -> Number | None:
    """The exact value of row ``j``: a Decimal when it has a finite decimal expansion, else a Fraction."""
    if col.na is not None and col.na[j]:
        return None
    num = col.num if isinstance(col.num, int) else int(col.num[j])
    den = col.den if isinstance(col.den, int) else int(col.den[j])
    if den == 1:
        return Decimal(num)
    places = _decimal_places(den)
    if places is not None:
        return Decimal(f"{num * (10**places // den)}E-{places}")  # exact: text never rounds
    return Fraction(num, den)


@functools.lru_cache(maxsize=4096)
def _decimal_places(den: int) -> int | None:
    """``k`` when ``1/den`` has ``k`` decimals (``den`` is 2**a * 5**b), else ``None``."""
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    return max(twos, fives) if den == 1 else None


def _at(col: Column, j: int) -> Value:
    if isinstance(col, Num):
        return _num_at(col, j)
    if col.na is not None and col.na[j]:
        return None
    value = col.val[j]
    return bool(value) if isinstance(col, Bool) else value


def _z(value: Number | None) -> Number:
    return ZERO if value is None else value


class ColumnarResults(Sequence[SubjectResult]):
    """The subjects' results in ranked order, each built from the columns when it is read."""

    def __init__(
        self,
        card: Scorecard,
        ctx: Ctx,
        subjects: list[str],
        parent: dict[str, str],
        env: dict[str, Column],
        scored: Scored,
        grade: Arr,
        bonus: Arr,
        rank: Arr,
        rank_in: Arr,
        tracer: Tracer | None = None,
        *,
        sorted_subjects: bool = False,
    ) -> None:
        self.card = card
        self.ctx = ctx
        self.subjects = subjects
        self.parent = parent
        self.env = env
        self.scored = scored
        self.grade = grade
        self.bonus = bonus
        self.rank = rank
        self.rank_in = rank_in
        self.tracer = tracer
        self.rounding = Rounding.of(card)
        unranked = rank == 0
        n = len(subjects)
        if sorted_subjects:
            # Rows in alphabetical order of subject, so ties go by row number: one unique integer key
            # (unranked last, then rank, then row) sorts much faster than names as Python objects.
            key = np.where(unranked, n + 1, rank)
            key *= n + 1
            key += np.arange(n)
            key.sort()  # distinct keys: sorting the values (SIMD) is faster than argsort; the row is the rest
            self.order = key % (n + 1)
        else:
            names = np.array(subjects, dtype=object)
            self.order = np.lexsort((names, rank, unranked)) if n else np.zeros(0, dtype=np.int64)
        self._params = {k.id: k.parameters() for k in card.kpis}
        self._built: list[SubjectResult | None] = [None] * len(subjects)  # each built once, when first read
        self.published: list[tuple[str, Arr]] = []  # the ruleset's flags: name, rows where the condition holds
        # The exact rank key column (the total, or the ``ranking: by`` metric), by row: for an executor
        # that ranks in a second pass over every partition (``plan.ops.ranks.rank_key``).
        self.rank_key: Column | None = None

    def __len__(self) -> int:
        return len(self.subjects)

    @overload
    def __getitem__(self, i: int) -> SubjectResult: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[SubjectResult]: ...
    def __getitem__(self, i: int | slice) -> SubjectResult | Sequence[SubjectResult]:
        if isinstance(i, slice):
            return tuple(self._get(int(j)) for j in self.order[i])
        return self._get(int(self.order[i]))

    def __iter__(self) -> Iterator[SubjectResult]:
        for j in self.order.tolist():
            yield self._get(j)

    def _get(self, j: int) -> SubjectResult:
        built = self._built[j]
        if built is None:
            built = self._built[j] = self.build(j)
        return built

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking sequence, like a list

    def __repr__(self) -> str:
        return f"ColumnarResults({len(self)} subjects)"

    def build(self, j: int) -> SubjectResult:
        """The result of the subject in row ``j`` (alphabetical position), as the row path makes it."""
        card, sc, rounding = self.card, self.scored, self.rounding
        kpis = []
        for kpi in card.kpis:
            col = sc.kpis[kpi.id]
            assert col.share is not None
            assert col.contribution is not None
            value = _at(col.value, j)
            score = _num_at(col.score, j)
            share = _z(_num_at(col.share, j))
            contribution = _z(_num_at(col.contribution, j))
            flags = tuple(name for name, rows in col.flags if rows[j])
            kpis.append(
                KpiResult(
                    kpi.id,
                    kpi.title,
                    kpi.section,
                    kpi.metric,
                    value,
                    "excluded" if score is None else "scored",
                    score,
                    kpi.weight,
                    share,
                    contribution,
                    flags,
                    None,
                    self.subjects[j],
                    self.tracer,
                    rounding,
                )
            )
        sections = []
        for s in card.sections:
            sscore, sshare, live, zeroed = sc.sections[s.id]
            flags = section_flags(zeroed=bool(zeroed[j]), scored=bool(live[j]))
            score, share = _num_at(sscore, j), _z(_num_at(sshare, j))
            sections.append(SectionResult(s.id, s.title, s.weight, score, share, flags, rounding))
        gates = []
        subject_flags = []
        for g in card.gates:
            holds = sc.gates[g.id]
            held = None if holds.na is not None and holds.na[j] else bool(holds.val[j])
            result = outcome(held)
            if result == "applied":
                subject_flags.append(f"gate:{g.id}")
            value = canonical(g.value) if isinstance(g.value, Decimal) else g.value
            gates.append(GateResult(g.id, g.when.text, result, g.action, value, g.reason))
        total = _num_at(sc.total, j)
        if total is None:
            subject_flags.append("no_kpi_applies")
        subject_flags.extend(name for name, rows in self.published if rows[j])
        adjustments = []
        for adj_id, present, holds in sc.adjustments:
            if not present[j]:
                continue
            adj = next(a for a in card.adjustments if a.id == adj_id)
            held = None if holds.na is not None and holds.na[j] else bool(holds.val[j])
            adjustments.append(AdjustmentResult(adj.id, adj.kpi, held))
        subject = self.subjects[j]
        return SubjectResult(
            subject=subject,
            level=card.subject,
            parent=self.parent.get(subject),
            total_exact=total,
            grade=self.grade[j],
            bonus_multiplier=self.bonus[j],
            rank=int(self.rank[j]) or None,
            rank_in_parent=int(self.rank_in[j]) or None,
            kpis=tuple(kpis),
            sections=tuple(sections),
            gates=tuple(gates),
            adjustments=tuple(adjustments),
            flags=tuple(subject_flags),
            total_before_gates_exact=_num_at(sc.before, j),
            metrics={name: _at(self.env[name], j) for name in card.report},
            rounding=rounding,
        )

    def long_table(self, period: str) -> Any:
        """The CSV layout of ``kpi evaluate`` (one row per subject and KPI) as a Polars frame of text.

        Reported figures are rounded exactly from the rationals with the ruleset's places and mode;
        all formatting runs in Polars expressions.
        """
        import polars as pl  # noqa: PLC0415

        card, sc, ctx = self.card, self.scored, self.ctx
        order = self.order
        n, k = len(order), len(card.kpis)
        places, mode = card.places, card.rounding
        total = round_parts(ctx, sc.total, places, mode)
        subjects = pl.DataFrame(
            {
                "subject": np.array(self.subjects, dtype=object)[order].tolist(),
                "parent": [self.parent.get(self.subjects[j]) or "" for j in order.tolist()],
                "t_q": total[0][order],
                "t_neg": total[1][order],
                "t_na": total[2][order],
                "grade": [g or "" for g in self.grade[order].tolist()],
                "rank": self.rank[order],
            }
        ).select(
            pl.lit(period).alias("period"),
            "subject",
            "parent",
            _fmt("t", places).alias("total"),
            "grade",
            pl.when(pl.col("rank") > 0).then(pl.col("rank").cast(pl.Utf8)).otherwise(pl.lit("")).alias("rank"),
        )
        frames = []
        for kpi in card.kpis:
            col = sc.kpis[kpi.id]
            assert col.contribution is not None
            sq, sneg, sna = round_parts(ctx, col.score, places, mode)
            cq, cneg, cna = round_parts(ctx, col.contribution, places, mode)
            data: dict[str, Any] = {
                "s_q": sq[order], "s_neg": sneg[order], "s_na": sna[order],
                "c_q": cq[order], "c_neg": cneg[order], "c_na": cna[order],
            }  # fmt: skip
            value = col.value
            if isinstance(value, Num) and isinstance(value.den, int) and value.den in _POWERS:
                num = np.broadcast_to(np.asarray(value.num, dtype=np.int64), (ctx.n,))
                data |= {"v_q": num[order], "v_neg": num[order] < 0, "v_na": _mask(value.na, ctx.n)[order]}
                text = _fmt("v", _POWERS[value.den], canonical=True)
            else:
                cells = (_at(value, j) for j in order.tolist())
                data["v"] = ["" if v is None else canonical(v) if is_number(v) else _plain(v) for v in cells]
                text = pl.col("v")
            frames.append(
                pl.DataFrame(data).select(
                    pl.lit(kpi.id).alias("kpi"),
                    text.alias("value"),
                    _fmt("s", places).alias("score"),
                    pl.lit(canonical(kpi.weight)).alias("weight"),
                    _fmt("c", places).alias("contribution"),
                    pl.when(pl.col("s_na")).then(pl.lit("excluded")).otherwise(pl.lit("scored")).alias("status"),
                )
            )
        # KPI-major frames interleaved into subject-major rows (row r: subject r // k, KPI r % k).
        rows = np.arange(n * k)
        kpi_rows = pl.concat(frames)[(rows % k) * n + rows // k]
        return pl.concat([subjects[np.repeat(np.arange(n), k)], kpi_rows], how="horizontal")


_POWERS = {10**k: k for k in range(19)}


def _plain(value: Value) -> str:
    """A text or bool value as the long table writes it (``true``/``false``, as the CSV does)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mask(m: Arr | None, n: int) -> Arr:
    return np.zeros(n, dtype=bool) if m is None else m


def _fmt(prefix: str, places: int, *, canonical: bool = False) -> Any:
    """Polars text of ``{prefix}_q`` read with ``places`` decimals (``-12345``, 2 → ``-123.45``).

    ``{prefix}_neg`` marks negative values (Decimal writes a negative value rounded to zero as
    ``-0.00``); ``{prefix}_na`` gives empty text. ``canonical`` drops trailing zeros (exact values).
    """
    import polars as pl  # noqa: PLC0415

    text = pl.col(f"{prefix}_q").abs().cast(pl.Utf8)
    if places:
        text = text.str.zfill(places + 1)
        text = text.str.slice(0, text.str.len_chars() - places) + pl.lit(".") + text.str.slice(-places)
        if canonical:
            text = text.str.replace(r"\.?0+$", "")
            text = pl.when(text == "").then(pl.lit("0")).otherwise(text)
    negative = pl.col(f"{prefix}_neg") & (pl.col(f"{prefix}_q") != 0)  # a reported zero has no sign
    text = pl.when(negative).then(pl.lit("-") + text).otherwise(text)
    return pl.when(pl.col(f"{prefix}_na")).then(pl.lit("")).otherwise(text)


# For the renderers that write text straight from the columns (``kpi_engine.report.columnar``).
at_row = _at
