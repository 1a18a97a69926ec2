"""The row path's fast lane: a small batch of plain rows through code generated for the scorecard.

An app that appraises one team at a time calls ``evaluate`` on ten rows. For a scorecard of the
common shape (every KPI on an input, scored by a one-sided linear rule, higher-is-better
attainment or a threshold; gates that cap the total or force a grade on conditions over inputs;
grades; ranks) the whole run — reading each cell, checking it, the KPI scores, the weighted
total, gates, grade and ranks — is integer arithmetic once the constants are worked out. This
module works them out once per scorecard and **generates a Python function specialised to it**
(``FastCard.source``, compiled with ``compile``/``exec``; kept on the card's cache while the card
lives), then runs it on the rows.

**Exact.** A decimal cell with at most ``P`` decimals is ``N / 10**P`` for an integer ``N``; an
affine score ``k·v + c`` is then ``(alpha·N + beta) / gamma`` with integers fixed per KPI, clipped
by two integer comparisons; the total ``Σ share_i·S_i/gamma_i`` is one integer over a denominator
fixed per card (every KPI applies: the only pattern the fast lane takes); caps, grade bounds and
gate literals are integers over the same denominators. Ranks compare those integers, so ties are
exact ties. Nothing is rounded and no float is involved.

**What it takes, and the fall-back.** ``FastCard.of`` says whether a scorecard qualifies (and why
not, ``FastCard.reason``). ``appraise`` takes a ``list`` or ``tuple`` of plain ``dict`` rows, each
with exactly ``subject``, ``period`` and every input, the same period text in every row (a period
of the scorecard's kind), text cells of ASCII digits with at most one point (or ``Decimal`` / ``int``
cells) within the inputs' bounds, distinct subjects that are not totals labels and no row holding
the sum of the others in the first additive column (the screening's quick test). Anything else —
a blank, a float, a sign, a percent, an unknown column, a roster, events, a progress callback —
returns ``None`` *before anything is reported*, and ``evaluate`` runs the general path, which then
gives its result or its located error as it always did. The generated code therefore never has to
reproduce an error message: it only recognises the rows whose outcome is certain.

**Results.** The appraisal's ``results`` is a ``FastResults`` sequence in ranked order: ranks,
subjects and the order are known from the integers. What it hands out are *views*
(``_SubjectView``/``_KpiView``, subclasses of ``SubjectResult``/``KpiResult``): the subject, rank,
grade, reported total, KPI ids and reported KPI scores come from the integers (``round_ratio``
digits, no ``Fraction``); any other field is read from the complete result (``complete()``),
which equals the view, and which pickling, copying and ``attrs.evolve`` give. The complete
``SubjectResult`` (with its ``KpiResult`` objects) is built on the first such read, straight
from its row by the calls
``RowRun.appraise`` makes (the plan's scaled-integer kernels, weights, gates, grades), without a
``RowRun``; a value a kernel declines sends that subject to ``RowRun.appraise`` itself, and traces
are the row executor's, built on the first explanation read. Every number has the general path's
type and digits (the property tests compare them).
``FastResults.total_key`` gives a subject's exact total without building its result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal, Inexact
from fractions import Fraction
from math import lcm
from operator import attrgetter
from typing import Any, ClassVar, overload

import attrs

from kpi_engine._numbers import _WIDE, MAX_EXPONENT, ZERO, Number, exact, own_context, round_ratio
from kpi_engine._perf import paused_gc, per_card
from kpi_engine.evaluation import checks
from kpi_engine.evaluation.records import Inputs, Record, Table
from kpi_engine.evaluation.results import (
    Appraisal,
    KpiResult,
    Rounding,
    SectionResult,
    SubjectResult,
    new_kpi_results,
)
from kpi_engine.expr import Expression, Value, _ir
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Scorecard
from kpi_engine.plan import lower
from kpi_engine.plan.ops.inputs import InputOp
from kpi_engine.plan.ops.scoring import SCALE, affine
from kpi_engine.plan.ops.weights import section_flags
from kpi_engine.time.periods import Period, period_kind_of

__all__ = ["FastCard", "FastResults", "appraise"]

_Names = frozenset[str] | None  # the metrics a gate condition reads, when known

_FAST_TYPES = frozenset({"count", "money", "number"})  # ratio and score cells have screening rules of their own
_MAX_CELL = 30  # characters of a text cell the fast lane reads (the general path reads up to 60)
_MAX_ROWS = 2_000  # ``engine="auto"``: at and above ``AUTO_THRESHOLD`` the dispatcher decides
_CMP = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _places(x: Decimal) -> int:
    exponent = x.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


class _UnfitError(Exception):
    """A scorecard the fast lane does not take (the message says why)."""


class FastCard:
    """A scorecard's generated team function and the constants it was built from.

    Attributes:
        source: the generated Python source (inspect it: names appear only as ``repr`` string
            literals, numbers only as ``repr`` of integers).
        run: the compiled function ``run(rows) -> (entries, firsts) | None``; each entry is
            ``(subject, key, rank_key, grade_index, (s_0, …))``: ``s_i / gammas[i]`` is KPI i's exact score.
        den: the total's denominator (``key / den`` is the total after gates, exactly).
        reason: ``None``; a scorecard that does not qualify has no ``FastCard`` (see ``of``).
    """

    def __init__(self, card: Scorecard) -> None:
        self.card = card
        self.plan = lower(card)
        self._build()

    @classmethod
    def of(cls, card: Scorecard) -> FastCard | str:
        """The card's fast lane (built once per card), or the sentence saying why it has none."""
        return per_card(card, "fastrow", lambda: cls._make(card))

    @classmethod
    def _make(cls, card: Scorecard) -> FastCard | str:
        try:
            return cls(card)
        except _UnfitError as exc:
            return str(exc)

    # --- the constants and the source -------------------------------------------------------------

    def _build(self) -> None:
        card, plan = self.card, self.plan
        if card.subject != "rep":
            raise _UnfitError("a team scorecard (members roll up)")
        if card.reads_history or card.report or card.flags or card.adjustments or card.columns:
            raise _UnfitError("history, reported metrics, flags, adjustments or a columns mapping")
        if not card.kpis or any(spec.type not in _FAST_TYPES for spec in card.inputs.values()):
            raise _UnfitError("an input that is not a count, money or number")
        if any(spec.source is not None for spec in card.inputs.values()):
            raise _UnfitError("an input filled from events")
        if not plan.inputs_are_metrics or any(not isinstance(plan.metrics.get(k.metric), InputOp) for k in card.kpis):
            raise _UnfitError("a KPI on a metric that is not an input")
        if any(g.action == "zero_section" for g in card.gates):
            raise _UnfitError("a zero_section gate")
        pattern = plan.weights.pattern((True,) * len(card.kpis))
        if not pattern.wsums:
            raise _UnfitError("no KPI carries weight")
        names = list(card.inputs)
        index = {n: i for i, n in enumerate(names)}
        # Each input's scale P: enough decimals for every constant it meets (bounds, KPI constants, gate literals).
        places = dict.fromkeys(names, SCALE)
        for n, spec in card.inputs.items():
            for bound in (spec.min, spec.max):
                if bound is not None:
                    places[n] = max(places[n], _places(bound))
        for k in card.kpis:
            for x in (*k.target, *k.floor):
                places[k.metric] = max(places[k.metric], _places(x))
        literals: list[tuple[str, Decimal]] = []
        for g in card.gates:
            literals.extend(_literals(g.when.node, set(names)))
        for n, lit in literals:
            places[n] = max(places[n], _places(lit))
        if card.rank_by != "total" and card.rank_by not in index:
            raise _UnfitError("ranks by a metric that is not an input")

        shares = [Fraction(s) for s in pattern.share_list]
        terms: list[tuple[str, Fraction]] = []  # per KPI: the integer expression of S_i and 1 / gamma_i
        lines: list[str] = []
        gammas: list[int] = []
        for i, k in enumerate(card.kpis):
            p = places[k.metric]
            v = f"v{index[k.metric]}"
            kc = affine(k)
            if kc is not None:
                kk, cc = kc
                kd = kk / 10**p
                gamma = lcm(kd.denominator, cc.denominator, Fraction(k.cap).denominator)
                alpha = kd.numerator * (gamma // kd.denominator)
                beta = cc.numerator * (gamma // cc.denominator)
                high = int(Fraction(k.cap) * gamma)
                lines += [
                    f"        s{i} = {alpha!r} * {v} + {beta!r}",
                    f"        if s{i} < 0:",
                    f"            s{i} = 0",
                    f"        elif s{i} > {high!r}:",
                    f"            s{i} = {high!r}",
                ]
            elif k.method == "threshold" and k.direction in {"higher", "lower"}:
                passed, failed = Fraction(k.pass_score), Fraction(k.fail_score)
                gamma = lcm(passed.denominator, failed.denominator)
                bound = Fraction(k.target[0]) * 10**p
                op = (">" if k.strict else ">=") if k.direction == "higher" else ("<" if k.strict else "<=")
                lines.append(
                    f"        s{i} = {int(passed * gamma)!r} if {v} * {bound.denominator!r} {op} {bound.numerator!r} "
                    f"else {int(failed * gamma)!r}"
                )
            else:
                raise _UnfitError(f"KPI '{k.id}' is scored by {k.method} ({k.direction})")
            gammas.append(gamma)
            terms.append((f"s{i}", shares[i] / gamma))
        den = lcm(*(t.denominator for _, t in terms))
        top = " + ".join(f"{int(t * den)!r} * {s}" for s, t in terms if t) or "0"
        lines.append(f"        top = {top}")
        # Gates after the total: caps and forced grades, on conditions over inputs (integers at each input's scale).
        caps = [Fraction(g.value) for g in card.gates if g.action == "cap_total"]
        unit = lcm(*(c.denominator for c in caps), 1)  # key = total × den × unit: caps are integers too
        lines.append(f"        key = top * {unit!r}" if unit != 1 else "        key = top")
        forced_names: list[str] = []
        if any(g.action == "force_grade" for g in card.gates):
            lines.append("        forced = None")
        for g in card.gates:
            cond = _condition(g.when.node, index, places)
            if g.action == "cap_total":
                cap_key = Fraction(g.value) * den * unit
                assert cap_key.denominator == 1
                lines += [f"        if ({cond}) and key > {int(cap_key)!r}:", f"            key = {int(cap_key)!r}"]
            else:  # force_grade: the first that holds wins
                forced_names.append(str(g.value))
                code = len(card.grades) + len(forced_names)  # grade codes past the bands name a forced grade
                lines += [f"        if forced is None and ({cond}):", f"            forced = {code!r}"]
        # Grades: the first band whose min the total reaches (key ≥ ceil(min × den × unit)).
        grade_lines: list[str] = []
        for j, band in enumerate(card.grades):
            if band.min is None:
                grade_lines += ["        else:" if grade_lines else "        if True:", f"            grade = {j!r}"]
                break
            least = Fraction(band.min) * den * unit
            ceil = -(-least.numerator // least.denominator)
            grade_lines += [f"        {'elif' if grade_lines else 'if'} key >= {ceil!r}:", f"            grade = {j!r}"]
        else:
            grade_lines += ["        else:", "            grade = None"] if grade_lines else ["        grade = None"]
        if forced_names:
            grade_lines += ["        if forced is not None:", "            grade = forced"]
        rank_key = "key" if card.rank_by == "total" else f"v{index[card.rank_by]}"

        # Cell reading, one block per input: text of ASCII digits with at most one point, a Decimal, an int.
        reads: list[str] = []
        for n, spec in card.inputs.items():
            j, p = index[n], places[n]
            count = spec.type == "count"
            reads += [
                f"        c = row[{n!r}]",
                "        t = type(c)",
                "        if t is str:",
                f"            if len(c) > {_MAX_CELL!r}:",
                "                return None",
                "            a, _, b = c.partition('.')",
                "            ab = a + b",
                f"            if not ab.isdigit() or not ab.isascii() or len(b) > {0 if count else p!r}:",
                "                return None",
                f"            v{j} = int(ab) * POW[{p!r} - len(b)]",
                "        elif t is Decimal:",  # a typed exact cell: its integer ratio
                "            if not c.is_finite():",
                "                return None",
                "            n, d = c.as_integer_ratio()",
                f"            m = UNITS[{p!r}].get(d)",
                f"            if m is None or not {-(10 ** (_MAX_CELL + p))!r} < n < {10 ** (_MAX_CELL + p)!r}"
                + (" or d != 1 or n < 0:" if count else ":"),
                "                return None",
                f"            v{j} = n * m",
                "        elif t is int:",
                f"            v{j} = scaled(c, {p!r}, {count!r})",
                f"            if v{j} is None:",
                "                return None",
                "        else:",
                "            return None",
            ]
            low: Fraction | None = None if spec.min is None else Fraction(spec.min) * 10**p
            most: Fraction | None = None if spec.max is None else Fraction(spec.max) * 10**p
            if low is not None:
                assert low.denominator == 1
                reads += [f"        if v{j} < {int(low)!r}:", "            return None"]
            if most is not None:
                assert most.denominator == 1
                reads += [f"        if v{j} > {int(most)!r}:", "            return None"]
        additive = sorted(
            (n for n in names if card.inputs[n].type in {"count", "money"}), key=lambda n: not card.inputs[n].required
        )
        first = f"v{index[additive[0]]}" if len(additive) >= 2 else "0"  # noqa: PLR2004 - screening's two columns
        allowed = frozenset({*names, "subject", "period"})
        source = f'''def run(rows, period):
    """Generated for scorecard {card.id!r} version {card.version!r} (kpi_engine.evaluation.fastrow)."""
    entries = []
    firsts = []
    seen = set()
    for row in rows:
        if type(row) is not dict or len(row) != {len(allowed)!r} or not ALLOWED.issuperset(row):
            return None
        subject = row['subject']
        if type(subject) is not str or subject in seen or row['period'] != period or subject != subject.strip():
            return None
        if not subject:
            return None
        seen.add(subject)
{chr(10).join(reads)}
{chr(10).join(lines)}
{chr(10).join(grade_lines)}
        entries.append((subject, key, {rank_key}, grade, ({"".join(f"s{i}, " for i in range(len(card.kpis)))})))
        firsts.append({first})
    return entries, firsts
'''
        namespace: dict[str, Any] = {
            "ALLOWED": allowed,
            "POW": tuple(10**e for e in range(max(places.values()) + 1)),
            "Decimal": Decimal,
            "scaled": _scaled,
            "UNITS": {q: _units(q) for q in set(places.values())},
        }
        exec(compile(source, f"<kpi_engine.fastrow {card.id}>", "exec"), namespace)  # noqa: S102 - our own source
        self.source = source
        self.run = namespace["run"]
        self.den = den * unit
        self.forced = tuple(forced_names)
        self.gammas = tuple(gammas)  # KPI i's exact score is ``s_i / gammas[i]`` (the entries' last item)
        self.heads: tuple[tuple[str, str | None, str, str, Decimal], ...] = tuple(
            (k.id, k.title, k.section, k.metric, k.weight) for k in card.kpis
        )  # what a KPI view reports without its complete result
        self.checks_totals = len(additive) >= 2  # noqa: PLR2004


def _units(p: int) -> dict[int, int]:
    """``{d: 10**p // d}`` for each ``d`` dividing ``10**p`` (a reduced denominator of at most ``p`` places)."""
    return {2**i * 5**k: 10**p // (2**i * 5**k) for i in range(p + 1) for k in range(p + 1)}


def _scaled(cell: Decimal | int, p: int, count: bool) -> int | None:  # noqa: FBT001 - positional in generated code
    """An ``int`` (or ``Decimal``) cell as an integer at scale ``p``, or ``None`` when the general path must read it."""
    if not isinstance(cell, Decimal):  # an int (the generated code passes only ints and Decimals)
        if -(10**_MAX_CELL) < cell < 10**_MAX_CELL and not (count and cell < 0):
            whole: int = cell * 10**p
            return whole
        return None
    if not cell.is_finite() or not (-MAX_EXPONENT <= cell.adjusted() <= MAX_EXPONENT or not cell):
        return None
    n, d = cell.as_integer_ratio()
    if count and (d != 1 or n < 0):
        return None
    scaled: int = n * 10**p
    if scaled % d or not -(10 ** (_MAX_CELL + p)) < n < 10 ** (_MAX_CELL + p):
        return None
    return scaled // d


def _literals(node: _ir.Node, inputs: set[str]) -> list[tuple[str, Decimal]]:
    """(input, literal) pairs compared in a condition (to choose each input's scale)."""
    out: list[tuple[str, Decimal]] = []
    if isinstance(node, _ir.Compare) and len(node.operands) == 2:  # noqa: PLR2004
        a, b = node.operands
        if isinstance(a, _ir.Name) and isinstance(b, _ir.Const) and isinstance(b.value, Decimal):
            out.append((a.id, b.value))
        if isinstance(b, _ir.Name) and isinstance(a, _ir.Const) and isinstance(a.value, Decimal):
            out.append((b.id, a.value))
    elif isinstance(node, _ir.BoolOp):
        for v in node.values:
            out.extend(_literals(v, inputs))
    elif isinstance(node, _ir.Not):
        out.extend(_literals(node.operand, inputs))
    return [(n, lit) for n, lit in out if n in inputs]


def _condition(node: _ir.Node, index: dict[str, int], places: dict[str, int]) -> str:
    """A gate condition over inputs as Python source on the scaled integers (no N/A: every input has a value).

    Comparisons of an input with a number (``m03 < 2400``), ``and``, ``or``, ``not``, and
    ``true``/``false``; anything else (the total, arithmetic, text) leaves the card to the general path.
    """
    if isinstance(node, _ir.Const) and isinstance(node.value, bool):
        return repr(node.value)
    if isinstance(node, _ir.Not):
        return f"not ({_condition(node.operand, index, places)})"
    if isinstance(node, _ir.BoolOp):
        return f" {node.op} ".join(f"({_condition(v, index, places)})" for v in node.values)
    if isinstance(node, _ir.Compare) and len(node.operands) == 2:  # noqa: PLR2004
        a, b = node.operands
        op: str = node.ops[0]
        if isinstance(b, _ir.Name) and isinstance(a, _ir.Const):
            a, b, op = b, a, _FLIP[op]
        if (
            isinstance(a, _ir.Name)
            and a.id in index
            and isinstance(b, _ir.Const)
            and isinstance(b.value, Decimal)
            and not isinstance(b.value, bool)
        ):
            lit = Fraction(b.value) * 10 ** places[a.id]
            return f"v{index[a.id]} * {lit.denominator!r} {_CMP[op]} {lit.numerator!r}"
    raise _UnfitError("a gate condition that is not a comparison of an input with a number")


# --- the run ------------------------------------------------------------------------------------


def appraise(
    ruleset: Ruleset,
    records: Any,
    *,
    period: str | None,
    strict: bool,
    auto: bool,
) -> Appraisal | None:
    """The appraisal of ``records`` through the card's generated function, or ``None`` (the general path decides).

    The caller has already checked that there is no roster, no event, no progress callback, no
    extra-columns switch and valid ``totals``/``unlisted`` policies.
    """
    card = ruleset.scorecard
    if type(records) not in (list, tuple) or not records or (auto and len(records) >= _MAX_ROWS):
        return None
    fast = FastCard.of(card)
    if isinstance(fast, str):
        return None
    head = records[0]
    text = head.get("period") if type(head) is dict else None
    if type(text) is not str or (period is not None and period != text):
        return None
    chosen = _period(text, card)
    if chosen is None:
        return None
    found = fast.run(records, text)
    if found is None:
        return None
    entries, firsts = found
    if fast.checks_totals and len(entries) > 2:  # noqa: PLR2004 - screening's quick test: no row is the sum
        whole = sum(firsts)
        if any(v and v + v == whole for v in firsts):
            return None
    from kpi_engine.evaluation.screening import is_summary_label  # noqa: PLC0415 - screening imports the records module

    if any(is_summary_label(e[0]) for e in entries):
        return None
    checks.check_effective(ruleset, chosen)  # raises what the general path raises, at the same point
    # The rows as they are now (their cells are immutable): results built later must not see a caller's later edits.
    rows = [row.copy() for row in records]
    results = FastResults(card, rows, chosen, entries, fast, strict=strict)
    return Appraisal.of_run(ruleset, card, str(chosen), results, strict=strict)


_PERIODS: dict[tuple[str, str], Period | None] = {}
_CHUNK = 64  # results an iteration builds at a time


def _period(text: str, card: Scorecard) -> Period | None:
    """The period a text names when it is of the card's kind exactly (else ``None``: the general path)."""
    key = (text, card.period)
    if key not in _PERIODS:
        if len(_PERIODS) > 4096:  # noqa: PLR2004
            _PERIODS.clear()
        found: Period | None = None
        if text == text.strip() and period_kind_of(text) == card.period:
            try:
                found = Period.parse(text, card.period)
            except ValueError:
                found = None
        _PERIODS[key] = found
    return _PERIODS[key]


class FastResults(Sequence[SubjectResult]):
    """The subjects' results in ranked order; each ``SubjectResult`` is built when read (``_direct``)."""

    def __init__(
        self,
        card: Scorecard,
        rows: Sequence[dict[str, Any]],
        period: Period,
        entries: list[tuple[str, int, int, int | None, tuple[int, ...]]],
        fast: FastCard,
        *,
        strict: bool,
    ) -> None:
        self.card = card
        self.rows = rows
        self.period = period
        self.strict = strict
        self.den = fast.den  # plain values only: the results pickle (the generated function does not)
        self.forced = fast.forced
        self.gammas = fast.gammas
        lower_first = card.rank_lower_first
        ordered = sorted(entries, key=lambda e: (e[2], e[0]) if lower_first else (-e[2], e[0]))
        # Competition ranks (1, 1, 3) on the exact keys; no parent: no rank within one.
        self.ranks: list[int] = []
        rank, previous = 0, None
        for i, e in enumerate(ordered, start=1):
            if i == 1 or e[2] != previous:
                rank, previous = i, e[2]
            self.ranks.append(rank)
        self.entries = ordered
        self._built: list[SubjectResult | None] = [None] * len(ordered)  # the complete results
        self.rounding = Rounding.of(card)
        # ``round_ratio`` with the card's rounding
        self.report: Callable[[int, int], Decimal] = _reporter(self.rounding.places, self.rounding.mode)
        self.heads = fast.heads
        self._run: Any = None
        self._row_of: dict[str, dict[str, Any]] | None = None
        self._tracer: _LazyTracer | None = None  # the directly built results' explanations

    def __len__(self) -> int:
        return len(self.entries)

    @overload
    def __getitem__(self, i: int) -> SubjectResult: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[SubjectResult]: ...
    def __getitem__(self, i: int | slice) -> SubjectResult | Sequence[SubjectResult]:
        if isinstance(i, slice):
            return tuple(self._get(j) for j in range(len(self.entries))[i])
        j = range(len(self.entries))[i]  # negative indexes, IndexError
        return self._get(j)

    def __iter__(self) -> Iterator[SubjectResult]:
        view = self._view
        for j in range(len(self.entries)):
            yield view(j)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a list-like sequence

    def __repr__(self) -> str:
        return f"FastResults({len(self)} subjects)"

    def subject(self, j: int) -> str:
        """The subject in ranked position ``j``, without building its result."""
        return self.entries[j][0]

    def rank(self, j: int) -> int:
        """The rank of the subject in ranked position ``j``, without building its result."""
        return self.ranks[j]

    def total_key(self, j: int) -> Fraction:
        """The exact total after gates of position ``j`` (``Fraction``), without building its result."""
        return Fraction(self.entries[j][1], self.den)

    def total(self, j: int) -> Decimal | None:
        """The reported total of position ``j`` (``SubjectResult.total``), without building its result."""
        return self.report(self.entries[j][1], self.den)

    def grade(self, j: int) -> str | None:
        """The grade of position ``j``, without building its result."""
        code = self.entries[j][3]
        if code is None:
            return None
        grades = self.card.grades
        return grades[code].grade if code < len(grades) else self.forced[code - len(grades) - 1]

    def _evaluator(self) -> Any:
        """The row executor over the same rows (built on the first read)."""
        if self._run is None:
            from kpi_engine.evaluation.row import RowMetrics, RowRun  # noqa: PLC0415 - row imports this module's callers

            with exact(), paused_gc():
                data = _inputs(self.card, self.rows, self.period)
            self._run = RowRun(self.card, RowMetrics(self.card, data), self.period, strict=self.strict)
        return self._run

    def inputs(self) -> Inputs:
        """What ``prepare_inputs`` gives for these rows, without checking them again (the generated code did).

        Each value is the records check's: ``Decimal(cell)`` of a text cell, a ``Decimal`` cell as
        it is, ``Decimal(n)`` of an ``int`` (``tests/properties/test_fastrow_props.py`` compares).
        """
        return _inputs(self.card, self.rows, self.period)

    def _get(self, j: int) -> SubjectResult:
        return self._view(j)

    def _view(self, j: int) -> _SubjectView:
        """Position ``j``'s lazy view: made on each read (views refer to this sequence, never it to them: no cycle)."""
        view: _SubjectView = _new(_SubjectView)
        _SET_RES(view, self)
        _SET_J(view, j)
        _SET_FULL(view, None)
        _SET_KPIS(view, None)
        return view

    def complete(self, j: int) -> SubjectResult:
        """Position ``j``'s complete ``SubjectResult`` (built with the next few, in one exact context)."""
        built = self._built[j]
        if built is None:
            self._build(j, j + _CHUNK)
            built = self._built[j]
            assert built is not None
        return built

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["report"]  # a closure: made again from the rounding
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.report = _reporter(self.rounding.places, self.rounding.mode)

    def _build(self, start: int, stop: int) -> None:
        """Build the results of positions ``start`` to ``stop`` not built yet, in one exact context."""
        built = self._built
        with exact(), paused_gc():
            for j in range(start, min(stop, len(built))):
                if built[j] is not None:
                    continue
                result = self._direct(j)
                if result is None:  # the row executor's own appraisal (a kernel declined, or a strict N/A)
                    ev = self._evaluator()
                    subject = self.entries[j][0]
                    result = ev.appraise(subject)
                    object.__setattr__(result, "rank", self.ranks[j])
                    object.__setattr__(result, "rank_in_parent", None)
                    ev.m.memo.pop((subject, self.period), None)  # a trace recomputes its own subject's values
                built[j] = result

    def _direct(self, j: int) -> SubjectResult | None:
        """Position ``j``'s result from its row's cells by the plan's own kernels, or ``None`` (``RowRun.appraise``).

        ``RowRun.appraise`` without its run: no metric table, no memo, no ``RowRun``. The same
        calls in the same order on the same values (the scaled-integer kernels ``score_all``
        takes, ``Weights.row_scaled``/``row``, ``Gates.row``, ``Grades.row``, ``new_kpi_results``),
        so every number has the general path's form (``Decimal`` digits, ``Fraction`` in lowest
        terms); whatever would take another branch there (a kernel declining, a rounded operation,
        a strict N/A) returns ``None`` and the general path builds the result. Traces are built by
        the row executor when read (``_LazyTracer``).
        """
        kit = _Kit.of(self.card)
        ctx = own_context()
        if kit is None or ctx is None:
            return None
        if self._row_of is None:
            self._row_of = {row["subject"]: row for row in self.rows}
            self._tracer = _LazyTracer(self.card, self.rows, self.period, strict=self.strict)
        subject = self.entries[j][0]
        row = self._row_of[subject]
        values = {n: c if type(c) is Decimal else Decimal(c) for n in kit.names for c in (row[n],)}  # ``inputs``
        metrics = [values[m] for m in kit.metrics]
        ctx.flags[Inexact] = False
        try:
            found = [kernel(v) for kernel, v in zip(kit.kernels, metrics, strict=True)]
        except ArithmeticError:
            found = [None]
        if None in found or ctx.flags[Inexact]:
            ctx.flags[Inexact] = False
            return None
        ints: list[int | None] = [f[0] for f in found]  # type: ignore[index]  # no None: checked above
        scores: list[Number | None] = [f[1] for f in found]  # type: ignore[index]
        plan = kit.plan
        pattern = plan.weights.pattern(kit.live)  # a kernel's score is never N/A: every KPI applies
        if not _DECIMALS.issuperset(map(type, scores)):
            section_scores, contributions, total = plan.weights.row_scaled(scores, ints, pattern)
        else:
            section_scores, contributions, total = plan.weights.row(scores, pattern, set())
        refused = False

        def condition(_: str, expr: Expression, extra: Mapping[str, Value] | None, names: _Names) -> Value:
            nonlocal refused
            env: dict[str, Value] = {n: values[n] for n in (expr.names - set(extra or {}) if names is None else names)}
            if extra:
                env.update(extra)
            holds: Value = expr.evaluate(env)
            if holds is None and self.strict:
                refused = True  # the general path records the N/A
            return holds

        before = total
        total, forced, subject_flags, gates = plan.gates.row(total, {}, condition, subject, kit.gate_results)
        if refused:
            return None
        grade, bonus = plan.grades.row(total, forced)
        rounding = self.rounding
        scored = [(v, s, (), _UNTRACED) for v, s in zip(metrics, scores, strict=True)]
        tracer = self._tracer
        kpis = new_kpi_results(kit.heads, scored, pattern.share_list, contributions, subject, tracer, False, rounding)  # noqa: FBT003
        section_share = pattern.section_share
        sections = tuple(
            SectionResult(
                sid,
                title,
                weight,
                section_scores[sid],
                section_share.get(sid, ZERO),
                section_flags(zeroed=False, scored=section_scores[sid] is not None),
                rounding,
            )
            for sid, title, weight in kit.sections
        )
        return SubjectResult(
            subject,
            kit.level,
            None,
            total,
            grade,
            bonus,
            self.ranks[j],
            None,
            tuple(kpis),
            sections,
            tuple(gates),
            (),
            tuple(subject_flags),
            before,
            {},
            rounding,
        )


def _inputs(card: Scorecard, rows: Sequence[dict[str, Any]], period: Period) -> Inputs:
    """``FastResults.inputs``: the rows' values as the records check gives them."""
    table = Table("records", tuple(enumerate(rows, start=1)))
    names = tuple(card.inputs)
    records = {}
    for line, row in table.dict_rows:
        values: dict[str, Value] = {}
        for name in names:
            cell = row[name]
            values[name] = cell if type(cell) is Decimal else Decimal(cell)
        subject = row["subject"]
        records[subject, period] = Record(subject, period, values, line, table)
    return Inputs(records, {}, {}, {}, {})


class _Kit:
    """What ``FastResults._direct`` needs from a card's plan, gathered once per card."""

    def __init__(self, card: Scorecard) -> None:
        from kpi_engine.evaluation.row import shared_of  # noqa: PLC0415 - row imports this module's callers

        plan = lower(card)
        assert plan.scaled is not None
        shared = shared_of(plan)
        self.plan = plan
        self.kernels = plan.scaled
        self.names = tuple(card.inputs)
        self.metrics = plan.kpi_metrics
        self.live = (True,) * len(card.kpis)
        self.heads = shared.heads
        self.gate_results = shared.gate_results
        self.sections = tuple((s.id, s.title, s.weight) for s in card.sections)
        self.level = card.subject

    @classmethod
    def of(cls, card: Scorecard) -> _Kit | None:
        """The card's kit, or ``None`` when some KPI has no scaled-integer kernel (the general path builds)."""
        return per_card(card, "fastrow_kit", lambda: cls(card) if lower(card).scaled is not None else None)


_DECIMALS = frozenset({Decimal})
_Decimal = Decimal
_UNTRACED: dict[str, Any] = {}


class _LazyTracer:
    """A directly built result's explanations: the row executor's tracer over the same rows, built on the first read.

    It holds the rows, not the ``FastResults`` (no reference cycle: a dropped appraisal is freed
    without the cyclic collector).
    """

    def __init__(self, card: Scorecard, rows: Sequence[dict[str, Any]], period: Period, *, strict: bool) -> None:
        self.card, self.rows, self.period, self.strict = card, rows, period, strict
        self._run: Any = None

    def explanation(self, subject: str, kpi_id: str) -> dict[str, Any]:
        if self._run is None:
            from kpi_engine.evaluation.row import RowMetrics, RowRun  # noqa: PLC0415 - row imports this module's callers

            with exact(), paused_gc():
                data = _inputs(self.card, self.rows, self.period)
            self._run = RowRun(self.card, RowMetrics(self.card, data), self.period, strict=self.strict)
        found: dict[str, Any] = self._run.tracer.explanation(subject, kpi_id)
        return found


# --- lazy views -----------------------------------------------------------------------------------
#
# What ``FastResults`` hands out: a ``SubjectResult`` (and, in its ``kpis``, ``KpiResult``s) that
# holds the fast lane's exact integers and computes what is read when it is read. The subject,
# rank, grade, reported total, KPI ids and reported KPI scores come straight from the integers
# (``round_ratio``: the reported digits of the exact rational, no ``Fraction`` made); any other
# field is read from the complete result (``complete()``, built once by ``FastResults._direct``
# or the row executor, exactly as before). A view equals its complete result, hashes like it,
# pickles and copies as it, and ``attrs.evolve`` of a view gives a plain result.


def _plain(result: Any) -> Any:
    """Unpickling a view: its complete result (a plain ``SubjectResult`` / ``KpiResult``)."""
    return result


def _delegate(name: str) -> property:
    """A subject view's field (or property) read from its complete result."""
    get = attrgetter(name)

    def read(self: _SubjectView) -> Any:
        return get(self._full or self.complete())

    read.__name__ = name
    read.__doc__ = f"The complete result's ``{name}``."
    return property(read)


def _kpi_delegate(name: str) -> property:
    """A KPI view's field (or property) read from its complete result (the complete subject's KPI)."""
    get = attrgetter(name)

    def read(self: _KpiView) -> Any:
        res, j, i = self._d[:3]
        full = res._built[j] or res.complete(j)  # noqa: SLF001 - the view's own sequence
        return get(full.kpis[i])

    read.__name__ = name
    read.__doc__ = f"The complete result's ``{name}``."
    return property(read)


class _View:
    """What both views share: they compare, hash, print and pickle as their complete result.

    ``_PLAIN`` is the result class a view stands for (a view equals a plain result with the same
    fields, in either order of comparison).
    """

    __slots__ = ()
    _PLAIN: ClassVar[type[SubjectResult | KpiResult]]

    def complete(self) -> Any:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if isinstance(other, self._PLAIN):
            return bool(self.complete() == other.complete())
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, self._PLAIN):
            return bool(self.complete() != other.complete())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.complete())

    def __repr__(self) -> str:
        return repr(self.complete())

    def __reduce__(self) -> tuple[Any, ...]:
        return _plain, (self.complete(),)


class _SubjectView(_View, SubjectResult):
    """A ``SubjectResult`` of the fast lane, computed on access (see above); ``complete()`` builds it."""

    __slots__ = ("_full", "_j", "_kpis_view", "_res")
    _PLAIN = SubjectResult
    _full: SubjectResult | None
    _j: int
    _kpis_view: tuple[KpiResult, ...] | None
    _res: FastResults

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # ``attrs.evolve`` and friends: a plain result
        return SubjectResult(*args, **kwargs)

    def complete(self) -> SubjectResult:
        full: SubjectResult | None = self._full
        if full is None:
            full = self._res.complete(self._j)
            _SET_FULL(self, full)
        return full

    @property
    def total(self) -> Decimal | None:
        return self._res.total(self._j)


def _subject_subject(self: _SubjectView) -> str:
    return self._res.entries[self._j][0]


def _subject_rank(self: _SubjectView) -> int:
    return self._res.ranks[self._j]


def _subject_grade(self: _SubjectView) -> str | None:
    return self._res.grade(self._j)


def _subject_kpis(self: _SubjectView) -> tuple[KpiResult, ...]:
    kpis: tuple[KpiResult, ...] | None = self._kpis_view
    if kpis is None and self._full is not None:  # complete already (an exact number was read): its own objects
        kpis = self._full.kpis
        _SET_KPIS(self, kpis)
    elif kpis is None:
        res = self._res
        made: list[KpiResult] = []
        append = made.append
        j = self._j
        for i, (head, s, g) in enumerate(zip(res.heads, res.entries[j][4], res.gammas, strict=True)):
            view: _KpiView = _new(_KpiView)
            _SET_D(view, (res, j, i, head, s, g))  # one slot: the fewest stores; the sequence, not this view: no cycle
            append(view)
        kpis = tuple(made)
        _SET_KPIS(self, kpis)
    return kpis


_SUBJECT_FAST = {"subject": _subject_subject, "rank": _subject_rank, "grade": _subject_grade, "kpis": _subject_kpis}


class _KpiView(_View, KpiResult):
    """A ``KpiResult`` of the fast lane: id, title, section, metric, weight, subject and reported score at once."""

    __slots__ = ("_d",)
    _PLAIN = KpiResult
    _d: tuple[FastResults, int, int, tuple[str, str | None, str, str, Decimal], int, int]  # (results, j, i, head, s, g)

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # ``attrs.evolve`` and friends: a plain result
        return KpiResult(*args, **kwargs)

    def complete(self) -> KpiResult:
        res, j, i = self._d[:3]
        return (res._built[j] or res.complete(j)).kpis[i]  # noqa: SLF001 - the view's own sequence

    @property
    def score(self) -> Decimal | None:
        d = self._d
        return d[0].report(d[4], d[5])


_KPI_FAST = {
    "id": lambda self: self._d[3][0],
    "title": lambda self: self._d[3][1],
    "section": lambda self: self._d[3][2],
    "metric": lambda self: self._d[3][3],
    "weight": lambda self: self._d[3][4],
    "subject": lambda self: self._d[0].entries[self._d[1]][0],
    "rounding": lambda self: self._d[0].rounding,
}

for _field in attrs.fields(SubjectResult):
    _fast = _SUBJECT_FAST.get(_field.name)
    setattr(_SubjectView, _field.name, property(_fast) if _fast else _delegate(_field.name))
for _field in attrs.fields(KpiResult):
    _fast = _KPI_FAST.get(_field.name)
    setattr(_KpiView, _field.name, property(_fast) if _fast else _kpi_delegate(_field.name))
# The reported figures computed from several fields: the complete result's, in one read.
for _name in ("total_before_gates", "contributions_residue"):
    setattr(_SubjectView, _name, _delegate(_name))
for _name in ("effective_weight", "contribution", "explanation"):
    setattr(_KpiView, _name, _kpi_delegate(_name))
del _field, _fast, _name

_new = object.__new__
_SET_RES = _SubjectView.__dict__["_res"].__set__
_SET_J = _SubjectView.__dict__["_j"].__set__
_SET_FULL = _SubjectView.__dict__["_full"].__set__
_SET_KPIS = _SubjectView.__dict__["_kpis_view"].__set__
_SET_D = _KpiView.__dict__["_d"].__set__


def _reporter(places: int, mode: str) -> Callable[[int, int], Decimal]:
    """``report(n, d)``: ``round_ratio(n, d, places, mode)``, with half-up on a non-negative ``n`` in one step."""
    if mode != "half_up":
        return lambda n, d: round_ratio(n, d, places, mode)
    twice, exponent = 2 * 10**places, -places

    def report(n: int, d: int) -> Decimal:
        if n < 0:
            return round_ratio(n, d, places, mode)
        return _Decimal((n * twice + d) // (d + d)).scaleb(exponent, _WIDE)  # ⌊n/d·10^p + ½⌋: ties away from 0

    return report
