"""The columnar executor of pay: every person at once, a plan year month by month, in exact integers.

It walks the same compiled plan as the row executor (``payout.engine``) and calls the column
kernels of the same operations (``ops.tiers``, ``ops.money``, ``ops.proration``): money in the
currency's smallest units (int64), curves as integer affine pieces derived from their row
kernels, products checked against overflow (Python integers where int64 could overflow), every
rounding done once on exact numerators. The result is a ``PayTable``: one row per payout line,
the amounts of the row executor to the unit (the tests compare them line by line). The words of
a line (its trace) are the row executor's: ``kpi explain`` gives them for any person.

What the columns take, the plan decides (``column_support``); anything else — an override
component, a team appraisal, a grade without multipliers, a gate condition beyond comparisons
of one value, a year-to-date cap on the target, split credits, lines already paid, credits
outside the plan year, values the exact columns cannot hold — runs on the row executor, whole,
with the reason. People with several assignments (transfers) run on the row executor too, and
their lines join the table.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import attrs

from kpi_engine.expr._ir import BoolOp, Compare, Const, Name
from kpi_engine.payout.engine import MONTHS_PER, pay, year_start
from kpi_engine.payout.inputs import HOUSE
from kpi_engine.payout.model import Component, Gate, PayPlan
from kpi_engine.payout.ops import LazyModule, money, tiers
from kpi_engine.payout.ops.proration import WorkingDays
from kpi_engine.payout.results import PayRun
from kpi_engine.time.periods import Period

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
else:
    np = LazyModule("numpy")
    pl = LazyModule("polars")

Arr = Any
EPOCH = dt.date(1970, 1, 1).toordinal()
BLOCK = 10_000  # people per block: the memory of a block's deals is what the executor holds
FACTS = ("product", "type", "paid", "cancelled", "refund")  # deal facts, from a deals file or on the credit rows
KIND_ORDER = {"component": 0, "cap": 1, "released": 2, "held": 3, "clawback": 4, "true_up": 5, "draw": 6,
              "recovery": 7, "carried": 8}  # fmt: skip


class _RowPathError(Exception):
    """The columns cannot take this run (the reason is the message): the row executor computes it."""


@attrs.frozen
class PayTable:
    """The payout lines of a run, column-wise (Polars): ``period, person, line, component, kind, amount``.

    ``amount`` is in the currency's smallest units (int64); ``register()`` gives it as money.
    ``executor`` says which executor computed it and ``reason`` why not the columns, if so.
    """

    plan_id: str
    version: str
    currency: str
    places: int
    period: str
    lines: Any  # a Polars DataFrame
    executor: str = "columnar"
    reason: str | None = None
    warnings: tuple[str, ...] = ()

    def register(self, *, period: str | None = None) -> Any:
        """The payout register of ``period`` (default the run's) as a Polars frame, amounts as decimals."""
        wanted = period or self.period
        frame = self.lines.filter(pl.col("period") == wanted)
        unit = pl.lit(Decimal(1).scaleb(-self.places))  # a product of decimals is exact; a division is not
        amount = (pl.col("amount").cast(pl.Decimal(38, 0)) * unit).cast(pl.Decimal(38, self.places))
        return frame.with_columns(amount=amount, currency=pl.lit(self.currency))

    def totals(self, *, period: str | None = None) -> dict[str, Decimal]:
        """Each person's pay in ``period`` (default the run's), exactly."""
        wanted = period or self.period
        sums = self.lines.filter(pl.col("period") == wanted).group_by("person").agg(pl.col("amount").sum())
        unit = Decimal(1).scaleb(-self.places)
        return {str(p): Decimal(a) * unit for p, a in sums.iter_rows()}


# --- what the columns take ----------------------------------------------------------------------


def _simple_condition(node: Any) -> bool:
    if isinstance(node, BoolOp):
        return all(_simple_condition(v) for v in node.values)
    if isinstance(node, Compare) and len(node.ops) == 1:
        left, right = node.operands
        return (isinstance(left, Name) and isinstance(right, Const)) or (
            isinstance(left, Const) and isinstance(right, Name)
        )
    return False


def column_support(plan: PayPlan) -> str | None:
    """``None`` when the columnar executor can run the plan, else why not (a sentence)."""
    if plan.spec.appraised != "person":
        return "the plan reads the appraisal of the team a person leads"
    for c in plan.components:
        if c.kind == "override":
            return f"component '{c.id}' is an override on a team's deals"
        if c.kind == "pool":
            return f"component '{c.id}' is a team's pool, split among its members"
        if c.kind == "grade" and c.multipliers is None:
            return f"component '{c.id}' reads the scorecard's bonus multipliers"
        if c.kind == "commission" and c.cap is not None and c.cap.target is not None:
            return f"component '{c.id}' caps deals at a share of the target"
        if c.kind == "curve" and c.measure is not None and c.measure.endswith(".score"):
            return f"component '{c.id}' reads a KPI score"
    if plan.draw is not None and plan.draw.instalments is not None:
        return "the draw is recovered in instalments"
    for g in plan.gates:
        if g.when is not None and not _simple_condition(g.when.node):
            return f"gate '{g.id}' has a condition beyond comparisons of one value with a constant"
    return None


# --- reading columns exactly --------------------------------------------------------------------


def _frame(data: Any, name: str) -> Any:
    if data is None:
        return None
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    try:
        return pl.DataFrame(data)
    except Exception as exc:  # noqa: BLE001 - anything Polars cannot read goes to the row reader
        raise _RowPathError(f"{name} are not a frame Polars reads ({type(exc).__name__})") from None


def _units(frame: Any, column: str, scale: int) -> Arr:
    """A money or number column as integers in ``1 / 10**scale`` units, exactly, else the row path."""
    col = frame.get_column(column)
    dtype = col.dtype
    if dtype.is_integer():
        values = col.cast(pl.Int64).to_numpy()
        return values * 10**scale
    if dtype == pl.String:
        if col.str.contains(r"[%/eE]").any():
            raise _RowPathError(f"'{column}' has percents, fractions or exponents")
        col = col.cast(pl.Decimal(38, 12), strict=False)
        dtype = col.dtype
    if not isinstance(dtype, pl.Decimal):
        raise _RowPathError(f"'{column}' is {dtype}, not exact decimals")
    if col.null_count():
        raise _RowPathError(f"'{column}' has empty or unreadable cells")
    scaled = col * 10**scale
    ints = scaled.cast(pl.Int64, strict=False)
    if ints.null_count() or not (ints.cast(scaled.dtype) == scaled).all():
        raise _RowPathError(f"'{column}' has more decimals than {scale}, or values beyond int64")
    return ints.to_numpy()


def _scale_of(frame: Any, column: str) -> int:
    """The decimal places a measure column needs (its Decimal scale, or the longest fraction in its text)."""
    col = frame.get_column(column)
    if isinstance(col.dtype, pl.Decimal):
        return int(col.dtype.scale or 0)
    if col.dtype.is_integer():
        return 0
    if col.dtype == pl.String:
        frac = col.str.extract(r"\.(\d+)$", 1).str.len_chars().max()
        return int(frac or 0)
    raise _RowPathError(f"'{column}' is {col.dtype}, not exact decimals")


def _days(frame: Any, column: str) -> Arr:
    """A date column as ordinal day numbers (nulls: -1); a bad date sends the run to the row path."""
    if column not in frame.columns:
        return np.full(frame.height, -1, dtype=np.int64)
    col = frame.get_column(column)
    if col.dtype == pl.String:
        parsed = col.str.strip_chars().replace("", None).str.to_date("%Y-%m-%d", strict=False)
        if parsed.null_count() != col.replace("", None).null_count():
            raise _RowPathError(f"'{column}' has cells that are not ISO dates")
        col = parsed
    elif col.dtype != pl.Date:
        col = col.cast(pl.Date, strict=False)
    days = col.cast(pl.Int64).fill_null(-1 - EPOCH).to_numpy()
    return days + EPOCH


# --- the executor -------------------------------------------------------------------------------


class _Year:
    """The pay periods of a plan year up to the pay period, and its working days."""

    def __init__(self, plan: PayPlan, period: Period) -> None:
        first = Period.containing(year_start(plan, period), plan.period)
        self.periods: list[Period] = []
        p = first
        while p <= period:
            self.periods.append(p)
            p = Period(p.kind, p.next_start())
        self.starts = np.array([q.start.toordinal() for q in self.periods], dtype=np.int64)
        self.ends = np.array([q.next_start().toordinal() - 1 for q in self.periods], dtype=np.int64)
        last = self.periods[-1].next_start() - dt.timedelta(days=1)
        self.calendar = WorkingDays(plan.calendar, self.periods[0].start, last)
        self.month_days = self.calendar.count(self.starts, self.ends)
        if not self.month_days.all():
            raise _RowPathError("a pay period without working days")


class _Lines:
    """Payout lines of every block, as integer codes until the table is built."""

    def __init__(self, plan: PayPlan, names: list[str], year: _Year) -> None:
        self.plan = plan
        self.names = names
        self.labels = [str(q) for q in year.periods]
        self.line_names: list[str] = []
        self.kinds: list[str] = []
        self.components: list[str | None] = []
        self.index: dict[str, int] = {}
        self.chunks: list[tuple[Arr, Arr, Arr, Arr]] = []

    def code(self, line: str, component: str | None, kind: str) -> int:
        found = self.index.get(line)
        if found is None:
            found = self.index[line] = len(self.line_names)
            self.line_names.append(line)
            self.kinds.append(kind)
            self.components.append(component)
        return found

    def add(self, values: Arr, mask: Arr, offset: int, line: str, component: str | None, kind: str) -> None:
        rows, cols = np.nonzero(mask)
        if rows.size:
            code = self.code(line, component, kind)
            self.chunks.append((
                cols.astype(np.int16), (rows + offset).astype(np.int32), np.full(rows.size, code, dtype=np.int32),
                np.asarray(values[rows, cols], dtype=np.int64),
            ))  # fmt: skip

    def add_rows(self, months: Arr, people: Arr, lines: list[str], component: str, kind: str, amounts: Arr) -> None:
        codes = np.array([self.code(name, component, kind) for name in lines], dtype=np.int32)
        self.chunks.append((months.astype(np.int16), people.astype(np.int32), codes, amounts.astype(np.int64)))

    def table(self) -> Any:
        """The lines as a Polars frame: period, person, line, component, kind (Enums), amount (units)."""
        if not self.chunks:
            return _empty()
        period, person, line, amount = (np.concatenate([c[i] for c in self.chunks]) for i in range(4))
        self.chunks = []  # the concatenated arrays replace them
        order_of = {c.id: i for i, c in enumerate(self.plan.components)}
        rank = sorted(range(len(self.line_names)), key=lambda i: (
            KIND_ORDER[self.kinds[i]], order_of.get(self.components[i] or "", 99), self.line_names[i]))  # fmt: skip
        line_rank = np.empty(len(rank), dtype=np.int64)
        line_rank[np.asarray(rank, dtype=np.int64)] = np.arange(len(rank))
        order = np.lexsort((line_rank[line], person, period))
        period, person, line, amount = period[order], person[order], line[order], amount[order]

        def enum(values: list[str], codes: Arr) -> Any:
            return pl.Series(values, dtype=pl.Enum(values)).gather(codes)

        kinds = sorted(set(self.kinds))
        comps = sorted({c for c in self.components if c is not None})
        kind_code = np.asarray([kinds.index(k) for k in self.kinds], dtype=np.int64)
        comp_code = np.asarray([comps.index(c) if c is not None else -1 for c in self.components], dtype=np.int64)
        component = pl.Series(comps, dtype=pl.Enum(comps)).gather(np.maximum(comp_code[line], 0))
        component = pl.select(pl.when(pl.Series(comp_code[line] >= 0)).then(component)).to_series()
        return pl.DataFrame({
            "period": enum(self.labels, period),
            "person": enum(self.names, person),
            "line": enum(self.line_names, line),
            "component": component,
            "kind": enum(kinds, kind_code[line]),
            "amount": pl.Series(np.asarray(amount, dtype=np.int64)),
        })  # fmt: skip


class _Columns:
    """One block of people over the plan year, month by month."""

    def __init__(self, plan: PayPlan, year: _Year, lines: _Lines, offset: int) -> None:
        self.plan = plan
        self.unit = 10**plan.places
        self.mode = plan.mode
        self.periods = year.periods
        self.starts, self.ends = year.starts, year.ends
        self.calendar = year.calendar
        self.month_days = year.month_days
        self.months_per = MONTHS_PER[plan.period]
        self.lines = lines
        self.offset = offset

    # --- people ---------------------------------------------------------------------------------

    def people(self, frame: Any) -> None:
        """The block's people (sorted by person, one assignment each)."""
        self.names = frame.get_column("person").cast(pl.String).to_list()
        self.n = len(self.names)
        self.code = {name: i for i, name in enumerate(self.names)}
        self.start = _days(frame, "start")
        self.start = np.where(self.start < 0, np.iinfo(np.int64).min // 4, self.start)
        self.end = _days(frame, "end")
        self.end = np.where(self.end < 0, np.iinfo(np.int64).max // 4, self.end)
        self.ti = _units(frame, "target_incentive", self.plan.places)
        if (self.ti < 0).any() or (self.end < self.start).any():
            raise _RowPathError("a negative target or an end before a start")
        self.person_names = (
            frame.get_column("name").cast(pl.String).to_list() if "name" in frame.columns else [None] * self.n
        )
        lo = np.maximum(self.start[:, None], self.starts[None, :])
        hi = np.minimum(self.end[:, None], self.ends[None, :])
        self.employed = hi >= lo
        self.wd = np.where(self.employed, self.calendar.count(lo, hi), 0)  # N × M working days employed
        # the period target: ti × months / 12 (yearly targets) or ti; as a fraction tnum / tden of units
        per_year = self.plan.spec.incentive_per == "year"
        self.tnum, self.tden = (self.ti * self.months_per, 12) if per_year else (self.ti, 1)

    # --- appraisals -----------------------------------------------------------------------------

    def appraisals(self, frame: Any | None, names: set[str]) -> None:
        m = len(self.periods)
        self.has_grade = np.zeros((self.n, m), dtype=bool)
        self.grade = np.full((self.n, m), -1, dtype=np.int64)
        self.grades: dict[str, int] = {}
        self.values: dict[str, tuple[Arr, Arr, int]] = {}  # name → (X, present, scale)
        self.scorecard_gates: dict[str, Arr] = {}
        self.appraised = np.zeros((self.n, m), dtype=bool)
        if frame is None or frame.height == 0:
            return
        labels = {str(q): i for i, q in enumerate(self.periods)}
        frame = frame.with_columns(
            _p=pl.col("subject").cast(pl.String).replace_strict(self.code, default=-1, return_dtype=pl.Int64),
            _m=pl.col("period").cast(pl.String).replace_strict(labels, default=-1, return_dtype=pl.Int64),
        ).filter((pl.col("_p") >= 0) & (pl.col("_m") >= 0))
        if frame.select(pl.struct("_p", "_m").is_duplicated().any()).item():
            raise _RowPathError("a subject appraised twice in a period")
        pi, mi = frame.get_column("_p").to_numpy(), frame.get_column("_m").to_numpy()
        self.appraised[pi, mi] = True
        if "grade" in frame.columns:
            grades = frame.get_column("grade").cast(pl.String)
            codes = sorted(set(grades.drop_nulls().to_list()))
            self.grades = {g: i for i, g in enumerate(codes)}
            g = grades.replace_strict(self.grades, default=-1, return_dtype=pl.Int64).to_numpy()
            self.grade[pi, mi] = g
            self.has_grade[pi, mi] = g >= 0
        for name in sorted(names - {"grade"}):
            column = name if name in frame.columns else None
            if column is None:
                continue  # the row path reports an unknown value, located in the plan
            col = frame.get_column(column)
            present = ~col.is_null().to_numpy()
            scale = _scale_of(frame, column)
            filled = frame.with_columns(pl.col(column).fill_null(0) if col.dtype != pl.String else pl.col(column))
            if col.dtype == pl.String:
                filled = frame.with_columns(pl.col(column).replace("", None).fill_null("0"))
            x = _units(filled, column, scale)
            full = np.zeros((self.n, m), dtype=np.int64)
            full_present = np.zeros((self.n, m), dtype=bool)
            full[pi, mi] = x
            full_present[pi, mi] = present
            self.values[name] = (full, full_present, scale)
        if "gates" in frame.columns:
            texts = frame.get_column("gates").cast(pl.String).fill_null("").str.replace_all(",", " ")
            for gate in self.plan.gates:
                if gate.scorecard_gate is None:
                    continue
                applied = texts.str.contains(rf"(^|\s){gate.scorecard_gate}(\s|$)").to_numpy()
                full = np.zeros((self.n, m), dtype=bool)
                full[pi, mi] = applied
                self.scorecard_gates[gate.scorecard_gate] = full

    def _condition(self, node: Any) -> tuple[Arr, Arr]:
        """A simple condition per person and month: (holds, known); N/A is not known."""
        if isinstance(node, BoolOp):
            parts = [self._condition(v) for v in node.values]
            holds = parts[0][0]
            known = parts[0][1]
            for h, k in parts[1:]:
                if node.op == "and":
                    holds, known = holds & h, (known & k) | (known & ~holds) | (k & ~h)
                else:
                    holds, known = holds | h, (known & k) | (known & holds) | (k & h)
            return holds & known, known
        left, right = node.operands
        op = node.ops[0]
        if isinstance(left, Const):
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        name, const = left.id, right.value
        if name == "grade":
            g = self.grades.get(str(const), -2)
            eq = self.grade == g
            return (eq if op == "==" else ~eq), self.has_grade
        if name not in self.values:
            raise _RowPathError(f"the gate reads '{name}', which the appraisal columns do not have")
        x, present, scale = self.values[name]
        bound = Fraction(const) * 10**scale
        lo, hi = math.floor(bound), math.ceil(bound)
        exact = lo == hi
        result = {
            "<": x < hi if not exact else x < lo,
            "<=": x <= lo,
            ">": x > lo if exact else x >= hi,
            ">=": x >= hi,
            "==": (x == lo) if exact else np.zeros(x.shape, dtype=bool),
            "!=": (x != lo) if exact else np.ones(x.shape, dtype=bool),
        }[op]
        return result & present, present

    def gates_on(self, comp: Component) -> list[tuple[Gate, Arr]]:
        out = []
        for gate in self.plan.gates:
            if comp.id not in gate.components:
                continue
            if gate.scorecard_gate is not None:
                holds = self.scorecard_gates.get(gate.scorecard_gate, np.zeros_like(self.appraised))
            else:
                assert gate.when is not None
                holds, _ = self._condition(gate.when.node)
            out.append((gate, holds & self.appraised & self.employed))
        return out

    # --- targeted components --------------------------------------------------------------------

    def targeted(self, comp: Component) -> Arr:
        """The component's line per person and month, in units (employed months; else 0)."""
        m = len(self.periods)
        share = comp.share
        if comp.kind == "grade":
            assert comp.multipliers is not None
            fden = math.lcm(*(v.denominator for v in comp.multipliers.values()), 1)
            table = np.zeros(len(self.grades) + 1, dtype=np.int64)
            for grade, code in self.grades.items():
                if grade not in comp.multipliers:
                    raise _RowPathError(f"grade '{grade}' has no multiplier in '{comp.id}'")
                table[code] = int(comp.multipliers[grade] * fden)
            fnum = np.where(self.has_grade, table[self.grade], 0)
        else:
            assert comp.curve is not None
            assert comp.measure is not None
            if comp.measure == "total":
                raise _RowPathError("a curve on the total")
            if comp.measure not in self.values:
                raise _RowPathError(f"the appraisal columns have no '{comp.measure}'")
            x, present, scale = self.values[comp.measure]
            pw = tiers.piecewise(comp.curve, 10**scale, 1)
            if pw is None:
                raise _RowPathError(f"component '{comp.id}' has a curve the columns cannot hold")
            fden = pw.den
            fnum = np.where(present & self.appraised, tiers.column_value(pw, x), 0)
        # caps on the share of the target and gate caps as shares reduce the factor; money caps the amount
        limits: list[tuple[Arr | None, Fraction]] = []
        if comp.cap is not None and comp.cap.target is not None:
            limits.append((None, comp.cap.target))
        gates = self.gates_on(comp)
        capden = math.lcm(fden, *(lim.denominator for _, lim in limits), *(
            g.cap.target.denominator for g, _ in gates if g.cap is not None and g.cap.target is not None
        ))  # fmt: skip
        f = money.mul(fnum, capden // fden)
        weight = self.wd if comp.prorate else self.month_days[None, :] * self.employed
        # amount = tnum × share × weight × f / (tden × month_days × capden): over one denominator per month
        snum, sden = share.numerator, share.denominator
        base = money.mul(money.mul(self.tnum[:, None] * np.ones((1, m), dtype=np.int64), snum), weight)
        den = self.tden * sden * self.month_days[None, :] * capden
        for _, lim in limits:
            f = np.minimum(f, int(lim * capden)) if f.dtype != object else _minimum(f, int(lim * capden))
        amount_caps = [comp.cap.amount] if comp.cap is not None and comp.cap.amount is not None else []
        num = money.mul(base, f)
        for limit in amount_caps:
            num = _cap_amount(num, den, limit * self.unit)
        for gate, holds in gates:
            if gate.zero:
                num = np.where(holds, 0, num)
            elif gate.cap is not None and gate.cap.target is not None:
                capped = money.mul(base, int(gate.cap.target * capden))
                num = np.where(holds & (capped < num), capped, num)
            elif gate.cap is not None and gate.cap.amount is not None:
                num = np.where(holds, _cap_amount(num, den, gate.cap.amount * self.unit), num)
        line = money.round_div(num, den, self.mode)
        return np.where(self.employed, line, 0).astype(np.int64)

    # --- deals ----------------------------------------------------------------------------------

    def credits(self, frame: Any | None, deals: Any | None) -> None:
        """Credited lines of the plan year, with their facts, sorted by person, date and deal id."""
        self.deal_rows = 0
        self.strangers = 0
        empty = np.zeros(0, dtype=np.int64)
        self.d_person = self.d_date = self.d_amount = self.d_month = empty
        self.d_paid = self.d_cancelled = self.d_refund = empty
        self.d_products = self.d_types = None
        self.d_frame = pl.DataFrame({"deal_id": []}, schema={"deal_id": pl.String})
        if frame is None or frame.height == 0:
            return
        if "share" in frame.columns and frame.get_column("share").drop_nulls().len():
            raise _RowPathError("split credits (a share column)")
        keep = ["deal_id", "credited_to", "amount", "date", *(c for c in FACTS if c in frame.columns)]
        frame = frame.select(keep).with_columns(
            pl.col("deal_id").cast(pl.String), pl.col("credited_to").cast(pl.String)
        )
        if deals is not None and deals.height:
            if any(c in frame.columns for c in FACTS):
                raise _RowPathError("deal facts both on the credits and in a deals file")
            facts = deals.select([c for c in ("deal_id", *FACTS) if c in deals.columns]).with_columns(
                pl.col("deal_id").cast(pl.String)
            )
            if facts.get_column("deal_id").is_duplicated().any():
                raise _RowPathError("a deal listed twice in the deals")
            frame = frame.join(facts, on="deal_id", how="left")
        if frame.get_column("deal_id").is_duplicated().any():
            raise _RowPathError("a deal credited on several rows")
        code = frame.get_column("credited_to").replace_strict(self.code, default=-1, return_dtype=pl.Int64)
        self.strangers = int((code < 0).sum())
        frame = frame.with_columns(_p=code).filter(pl.col("_p") >= 0)
        date = _days(frame, "date")
        if (date < self.starts[0]).any() or (date > self.ends[-1]).any():
            raise _RowPathError("credits dated outside the plan year up to the pay period")
        # order by person, date and deal id with one integer key (the deal id's rank breaks ties)
        rank = np.empty(frame.height, dtype=np.int64)
        rank[frame.get_column("deal_id").arg_sort().to_numpy()] = np.arange(frame.height)
        person = frame.get_column("_p").to_numpy()
        if frame.height < 1 << 24 and self.n < 1 << 20:
            key = ((person << 10) | (date - self.starts[0])) << 24 | rank
            order = np.argsort(key, kind="stable")
        else:
            order = np.lexsort((rank, date, person))
        frame = frame[order].with_columns(_d=pl.Series(date[order]))
        person = frame.get_column("_p").to_numpy()
        date = frame.get_column("_d").to_numpy()
        on_duty = (self.start[person] <= date) & (date <= self.end[person])
        frame = frame.filter(pl.Series(on_duty))
        self.d_frame = frame
        self.d_person = frame.get_column("_p").to_numpy()
        self.d_date = frame.get_column("_d").to_numpy()
        self.d_amount = _units(frame, "amount", self.plan.places)
        if (self.d_amount < 0).any():
            raise _RowPathError("a negative credited amount")
        self.d_month = np.searchsorted(self.ends, self.d_date, side="left")
        self.d_paid = _days(frame, "paid")
        self.d_cancelled = _days(frame, "cancelled")
        refund = frame.get_column("refund") if "refund" in frame.columns else None
        if refund is not None and refund.null_count() < refund.len():
            filled = frame.with_columns(pl.col("refund").fill_null(pl.col("amount")))
            self.d_refund = _units(filled, "refund", self.plan.places)
        else:
            self.d_refund = self.d_amount
        cancelled = self.d_cancelled >= 0
        if ((self.d_refund > self.d_amount) | (self.d_refund < 0)).any() or (
            cancelled & (self.d_cancelled < self.d_date)
        ).any():
            raise _RowPathError("a refund beyond its deal, or a cancellation before the deal")
        self.d_products = frame.get_column("product").cast(pl.String) if "product" in frame.columns else None
        self.d_types = frame.get_column("type").cast(pl.String) if "type" in frame.columns else None
        self.deal_rows = frame.height

    def dealt(self, comp: Component) -> dict[str, Any]:
        """A commission: its line per person and month, each deal's part, and the deals it counts."""
        m = len(self.periods)
        curve = comp.curve
        assert curve is not None
        counted = np.ones(self.deal_rows, dtype=bool)
        if comp.products is not None:
            counted &= (
                self.d_products.is_in(sorted(comp.products)).fill_null(False).to_numpy()  # noqa: FBT003
                if self.d_products is not None
                else False
            )
        if comp.types is not None:
            counted &= (
                self.d_types.is_in(sorted(comp.types)).fill_null(False).to_numpy()  # noqa: FBT003
                if self.d_types is not None
                else False
            )
        idx = np.flatnonzero(counted)
        person, month, amount = self.d_person[idx], self.d_month[idx], self.d_amount[idx]
        pw = tiers.piecewise(curve, self.unit, self.unit)
        if pw is None:
            raise _RowPathError(f"component '{comp.id}' has a curve the columns cannot hold")
        cell = person * m + month  # rows are sorted by person then date, so cells are ascending
        month_sums = _cells(cell, amount, self.n, m)
        ytd = comp.basis == "year_to_date"
        after = np.cumsum(month_sums, axis=1) if ytd else month_sums
        before = after - month_sums
        cap = comp.cap.amount * self.unit if comp.cap is not None and comp.cap.amount is not None else None

        def value(x: Arr) -> Arr:
            v = tiers.column_value(pw, x.ravel())
            if cap is not None:
                v = _cap_amount(v, pw.den, cap)
            return v

        rnd_after = money.round_div(value(after), pw.den, self.mode).reshape(self.n, m)
        rnd_before = money.round_div(value(before), pw.den, self.mode).reshape(self.n, m)
        line = (rnd_after - rnd_before) if ytd else rnd_after
        line = np.asarray(line, dtype=np.int64)
        # gates on the rounded line: the limit is exact (money, or a share of the unprorated target)
        for gate, holds in self.gates_on(comp):
            if gate.zero:
                line = np.where(holds, 0, line)
                continue
            assert gate.cap is not None
            if gate.cap.amount is not None:
                limit = gate.cap.amount * self.unit
                lnum = np.full((self.n, m), limit.numerator, dtype=object)
                lden: Arr | int = limit.denominator
            else:
                t = gate.cap.target * comp.share if gate.cap.target is not None else Fraction(0)
                lnum = np.broadcast_to(money.mul(self.tnum, t.numerator)[:, None], (self.n, m))
                lden = self.tden * t.denominator
            over = money.mul(line, lden) > lnum
            capped = money.round_div(np.asarray(lnum), lden, self.mode)
            line = np.where(holds & over, capped, line).astype(np.int64)
        # each deal's part of its month's line: what it added to the (capped) curve, by largest remainder
        cum_after = _group_cumsum(amount, person if ytd else cell)
        cum_before = cum_after - amount
        weight = _sub(value(cum_after), value(cum_before))
        parts = money.split_groups(line.ravel(), weight, cell, self.n * m)
        counts = np.bincount(cell, minlength=self.n * m).reshape(self.n, m)
        present = self.employed | (counts > 0)
        return {"line": line, "present": present, "idx": idx, "parts": np.asarray(parts, dtype=np.int64)}

    # --- the run --------------------------------------------------------------------------------

    def run(self) -> None:
        plan = self.plan
        m = len(self.periods)
        comp_lines: dict[str, Arr] = {}
        present: dict[str, Arr] = {}
        deal_parts: dict[str, dict[str, Any]] = {}
        for comp in plan.components:
            if comp.targeted:
                comp_lines[comp.id] = self.targeted(comp)
                present[comp.id] = self.employed
            else:
                info = self.dealt(comp)
                comp_lines[comp.id] = info["line"]
                present[comp.id] = info["present"]
                deal_parts[comp.id] = info
        earned = sum((np.where(present[c], comp_lines[c], 0) for c in comp_lines), np.zeros((self.n, m), np.int64))
        for cid, line in comp_lines.items():
            self.lines.add(line, present[cid], self.offset, cid, cid, "component")
        # the person's cap, on the period's target prorated
        if plan.person_cap is not None:
            cap = plan.person_cap
            if cap.amount is not None:
                limit = np.full((self.n, m), int(money.round_units(cap.amount, plan.places, self.mode)))
            else:
                assert cap.target is not None
                t = cap.target
                num = money.mul(money.mul(self.tnum[:, None] * np.ones((1, m), np.int64), t.numerator), self.wd)
                den = self.tden * t.denominator * self.month_days[None, :]
                limit = money.round_div(num, den, self.mode)
            over = earned > limit
            cut = np.where(over, limit - earned, 0)
            self.lines.add(cut, over, self.offset, "cap.person", None, "cap")
            earned = earned + cut
        total = earned.copy()
        self.held_after = np.zeros((self.n, m), dtype=np.int64)
        # held until paid, released, clawed back
        for comp in plan.components:
            if comp.id not in deal_parts:
                continue
            info = deal_parts[comp.id]
            idx, parts = info["idx"], info["parts"]
            person, month = self.d_person[idx], self.d_month[idx]
            paid, cancel = self.d_paid[idx], self.d_cancelled[idx]
            paid_month = np.where(paid >= 0, np.searchsorted(self.ends, np.maximum(paid, 0), side="left"), m + 1)
            cancel_month = np.where(cancel >= 0, np.searchsorted(self.ends, np.maximum(cancel, 0), side="left"), m + 1)
            on_payment = comp.release == "on_payment"
            held = on_payment & (parts != 0) & ((paid < 0) | (paid > self.ends[month]))
            forfeited = held & (cancel_month <= m - 1) & (paid_month > cancel_month)  # cancelled while held
            # a partial refund while held forfeits its share of the part; the rest stays held until paid
            partial = forfeited & (self.d_refund[idx] != self.d_amount[idx])
            forfeit = np.zeros(parts.shape, dtype=np.int64)
            if partial.any():
                share = money.mul(parts[partial], self.d_refund[idx][partial])
                forfeit[partial] = money.round_div(share, self.d_amount[idx][partial], self.mode)
            forfeited &= ~partial
            kept = parts - forfeit
            released = held & ~forfeited & (paid_month <= m - 1)
            held_cell = _cells(person[held] * m + month[held], parts[held], self.n, m)
            rel_cell = _cells(person[released] * m + paid_month[released], kept[released], self.n, m)
            has_rel = _cells(person[released] * m + paid_month[released], np.ones(int(released.sum()), np.int64),
                             self.n, m) > 0  # fmt: skip
            self.lines.add(rel_cell, has_rel, self.offset, f"{comp.id}.released", comp.id, "released")
            self.lines.add(-held_cell, held_cell != 0, self.offset, f"{comp.id}.held", comp.id, "held")
            total += rel_cell - held_cell
            # what is still held after each month: from the deal's month until it is released or forfeited
            gone = np.minimum(np.where(partial, paid_month, np.minimum(paid_month, cancel_month)), m)
            steps = _cells(person[held] * (m + 1) + month[held], parts[held], self.n, m + 1)
            steps -= _cells(person[held] * (m + 1) + gone[held], kept[held], self.n, m + 1)
            steps -= _cells(person[partial] * (m + 1) + cancel_month[partial], forfeit[partial], self.n, m + 1)
            self.held_after += np.cumsum(steps, axis=1)[:, :m]
            if comp.clawback_days is None:
                continue
            days = cancel - self.d_date[idx]
            kept_back = ~forfeited & ~partial  # nothing to take back of what was never paid
            claw = (cancel >= 0) & (cancel_month <= m - 1) & kept_back & (days <= comp.clawback_days) & (parts != 0)
            if not claw.any():
                continue
            amount = self.d_amount[idx][claw]
            refund = self.d_refund[idx][claw]
            back = np.asarray(money.round_div(-money.mul(parts[claw], refund), amount, self.mode), dtype=np.int64)
            deal_ids = self.d_frame.get_column("deal_id").to_numpy()[idx][claw].tolist()
            names = [f"{comp.id}.clawback.{d}" for d in deal_ids]
            self.lines.add_rows(cancel_month[claw], person[claw] + self.offset, names, comp.id, "clawback", back)
            total += _cells(person[claw] * m + cancel_month[claw], back, self.n, m)
        self._draws(total)

    def _draws(self, total: Arr) -> None:
        """Draw top-ups, recoveries and carried balances, month by month over every person."""
        plan = self.plan
        m = len(self.periods)
        draw = plan.draw
        balance = np.zeros(self.n, dtype=np.int64)
        out_draw = np.zeros((self.n, m), dtype=np.int64)
        out_rec = np.zeros((self.n, m), dtype=np.int64)
        out_car = np.zeros((self.n, m), dtype=np.int64)
        self.balance_after = np.zeros((self.n, m), dtype=np.int64)
        if draw is not None:
            mp = self.months_per
            first = self.periods[0].start.year * 12 + self.periods[0].start.month - 1  # months since year 0
            known = self.start > -(1 << 60)
            start = np.where(known, self.start - EPOCH, 0).astype("datetime64[D]")
            hired = start.astype("datetime64[M]").astype(np.int64) + 1970 * 12  # months since year 0
            hired -= hired % mp  # the first month of the hire's pay period
        for j in range(m):
            earned = total[:, j].copy()
            room = earned.copy()
            topped = np.zeros(self.n, dtype=bool)
            if draw is not None:
                index = (first + j * mp - hired) // mp
                window = np.ones(self.n, dtype=bool) if draw.periods is None else known & (index < draw.periods)
                window &= self.employed[:, j]
                if draw.amount is not None:
                    gnum = money.mul(np.full(self.n, draw.amount.numerator), self.wd[:, j])
                    gden = draw.amount.denominator * int(self.month_days[j])
                    gnum = money.mul(gnum, self.unit)
                else:
                    assert draw.target is not None
                    gnum = money.mul(money.mul(self.tnum, draw.target.numerator), self.wd[:, j])
                    gden = self.tden * draw.target.denominator * int(self.month_days[j])
                guaranteed = np.asarray(money.round_div(gnum, gden, self.mode), dtype=np.int64)
                topped = window & (earned < guaranteed)
                top = np.where(topped, guaranteed - earned, 0)
                out_draw[:, j] = top
                if draw.recoverable:
                    balance += top
                room = np.where(window & ~topped, earned - guaranteed, earned)
            recover = ~topped & (balance > 0) & (room > 0)
            take = np.where(recover, np.minimum(balance, room), 0)
            balance -= take
            earned = np.where(~topped, earned - take, earned)
            out_rec[:, j] = -take
            carry = ~topped & (earned < 0)
            out_car[:, j] = np.where(carry, -earned, 0)
            balance += out_car[:, j]
            self.balance_after[:, j] = balance
        self.lines.add(out_draw, out_draw != 0, self.offset, "draw", None, "draw")
        self.lines.add(out_rec, out_rec != 0, self.offset, "recovery", None, "recovery")
        self.lines.add(out_car, out_car != 0, self.offset, "carried", None, "carried")


SCHEMA = ("period", "person", "line", "component", "kind", "amount")


def _schema() -> dict[str, Any]:
    """The columns of a ``PayTable`` (Polars imported when a table is built)."""
    return {name: pl.Int64 if name == "amount" else pl.String for name in SCHEMA}


def _empty() -> Any:
    return pl.DataFrame(schema=_schema())


def _cells(index: Arr, values: Arr, n: int, m: int) -> Arr:
    """Sums of ``values`` per flat cell ``index``, as an ``n × m`` matrix, exactly."""
    if not index.size:
        return np.zeros((n, m), dtype=np.int64)
    if float(np.abs(values).sum()) < 2**52:  # every partial sum is an integer a float64 holds exactly
        return np.rint(np.bincount(index, weights=values, minlength=n * m)).astype(np.int64).reshape(n, m)
    out = np.zeros(n * m, dtype=np.int64)
    np.add.at(out, index, values)
    return out.reshape(n, m)


def _minimum(a: Arr, b: int) -> Arr:
    return np.array([min(v, b) for v in a.tolist()], dtype=object).reshape(a.shape)


def _sub(a: Arr, b: Arr) -> Arr:
    if a.dtype == object or b.dtype == object:  # noqa: PLR1714 - NumPy dtypes do not hash like object
        return money.widen(a) - money.widen(b)
    return a - b


def _cap_amount(num: Arr, den: Arr | int, limit: Fraction) -> Arr:
    """``min(num / den, limit)`` as a numerator over ``den`` (``limit`` in units: a whole number of them)."""
    if limit.denominator != 1:
        raise _RowPathError("a cap that is not a whole number of the currency's smallest units")
    lim = money.mul(np.broadcast_to(np.asarray(den), np.shape(num)).astype(np.int64), limit.numerator)
    return np.where(num > lim, lim, num)


def _group_cumsum(values: Arr, group: Arr) -> Arr:
    """The running sum of ``values`` within each group (rows sorted by group)."""
    if values.size == 0:
        return values.copy()
    running = np.cumsum(values)
    first = np.concatenate(([True], group[1:] != group[:-1]))
    before = (running - values)[first]  # the running sum before each group's first row
    return running - before[np.cumsum(first) - 1]


def pay_table(
    plan: PayPlan,
    appraisals: Any,
    people: Any,
    *,
    credits: Any = None,  # noqa: A002 - the input's name
    deals: Any = None,
    paid: Any = None,
    period: str,
    block: int = BLOCK,
) -> PayTable:
    """Every person's payout lines of a plan year up to ``period``, on the columnar executor when it can.

    Args:
        plan: the pay plan.
        appraisals: appraisal rows as a Polars (or Arrow, pandas) frame: ``subject, period, grade``, values.
        people: the people frame.
        credits: credited deals (``deal_id, credited_to, amount, date``).
        deals: deal facts (``deal_id, product, type, paid, cancelled, refund``).
        paid: lines already paid (true-ups run on the row executor).
        period: the pay period.
        block: people computed together; each block's rows of a lazy input are read on their own.

    Returns:
        A ``PayTable``; ``executor`` is ``row`` (with ``reason``) when the columns could not take the run.

    Raises:
        DataError, RulesetError: as ``pay`` (bad inputs are reported by the row executor, located).
    """
    target = Period.parse(period, plan.period)
    reason = column_support(plan) or ("lines already paid (true-ups)" if paid is not None else None)
    if reason is None:
        try:
            return _columnar(plan, appraisals, people, credits, deals, target, block)
        except _RowPathError as exc:
            reason = str(exc)
    run = pay(plan, _rows(appraisals), _rows(people), credits=_rows(credits), deals=_rows(deals), paid=_rows(paid),
              period=period)  # fmt: skip
    return attrs.evolve(table_of(run), executor="row", reason=reason)


def _rows(data: Any) -> Any:
    """A frame as Python rows for the row executor (values as text where they are numbers)."""
    frame = _frame(data, "input") if data is not None and not isinstance(data, list | tuple) else data
    if frame is None or isinstance(frame, list | tuple):
        return frame
    return [
        {k: (str(v) if isinstance(v, Decimal | int) and not isinstance(v, bool) else v) for k, v in row.items()}
        for row in frame.iter_rows(named=True)
    ]


def _lazy(data: Any, name: str) -> Any:
    if data is None or isinstance(data, pl.LazyFrame):
        return data
    return _frame(data, name).lazy()


def _within(column: str, lo: str | None, hi: str | None) -> Any:
    """Rows whose ``column`` is from ``lo`` (inclusive) to ``hi`` (exclusive): a block of sorted people."""
    value = pl.col(column).cast(pl.String)
    condition = pl.lit(value=True)
    if lo is not None:
        condition &= value >= lo
    if hi is not None:
        condition &= value < hi
    return condition


def _columnar(
    plan: PayPlan, appraisals: Any, people: Any, credited: Any, deals: Any, target: Period, block: int = BLOCK
) -> PayTable:
    """Every person in blocks of ``block`` people, each block's inputs read (or filtered) on its own."""
    people_frame = _frame(people, "people").with_columns(pl.col("person").cast(pl.String))
    if "plan" in people_frame.columns:
        people_frame = people_frame.filter(pl.col("plan").is_null() | (pl.col("plan") == plan.id))
    if "currency" in people_frame.columns and (people_frame.get_column("currency").drop_nulls() != plan.currency).any():
        raise _RowPathError("a person is paid in another currency")
    counts = people_frame.group_by("person").len()
    movers = counts.filter(pl.col("len") > 1).get_column("person").to_list()
    singles = people_frame.filter(~pl.col("person").is_in(movers)).sort("person")
    names = singles.get_column("person").to_list()
    year = _Year(plan, target)
    lines = _Lines(plan, names, year)
    apps, creds, facts = _lazy(appraisals, "appraisals"), _lazy(credited, "credits"), _lazy(deals, "deals")
    if creds is not None:  # the house account's deals are the company's: nobody's pay (as the row executor)
        creds = creds.filter(pl.col("credited_to").cast(pl.String) != HOUSE)
    reads = set(plan.reads()) | {"grade"}
    mover_set = set(movers)
    strangers = 0
    for i in range(0, len(names), block):
        lo = names[i] if i else None
        hi = names[i + block] if i + block < len(names) else None
        cols = _Columns(plan, year, lines, i)
        cols.people(singles.slice(i, block))
        cols.appraisals(apps.filter(_within("subject", lo, hi)).collect() if apps is not None else None, reads)
        credit_block = creds.filter(_within("credited_to", lo, hi)).collect() if creds is not None else None
        fact_block = None
        if facts is not None and credit_block is not None:
            wanted = credit_block.select(pl.col("deal_id").cast(pl.String)).lazy()
            fact_block = facts.with_columns(pl.col("deal_id").cast(pl.String)).join(wanted, on="deal_id", how="semi")
            fact_block = fact_block.collect()
        cols.credits(credit_block, fact_block)
        if credit_block is not None and cols.strangers:
            unknown = credit_block.filter(
                ~pl.col("credited_to").cast(pl.String).is_in([*names[i : i + block], *movers])
            )
            strangers += unknown.height
        cols.run()
    table = lines.table()
    warnings: list[str] = []
    if strangers:
        warnings.append(f"{strangers} credited deal line(s) name people who are not in the people file: not paid")
    if movers:  # people with several assignments: the row executor, then their lines join
        sub = sorted(mover_set)
        sub_people = people_frame.filter(pl.col("person").is_in(sub))
        sub_credits = (
            creds.filter(pl.col("credited_to").cast(pl.String).is_in(sub)).collect() if creds is not None else None
        )
        sub_apps = apps.filter(pl.col("subject").cast(pl.String).is_in(sub)).collect() if apps is not None else None
        sub_facts = None
        if facts is not None and sub_credits is not None:
            ids = sub_credits.get_column("deal_id").cast(pl.String)
            sub_facts = facts.filter(pl.col("deal_id").cast(pl.String).is_in(ids)).collect()
        run = pay(plan, _rows(sub_apps), _rows(sub_people), credits=_rows(sub_credits) or None,
                  deals=_rows(sub_facts), period=str(target))  # fmt: skip
        extra = table_of(run).lines
        as_text = [pl.col(c).cast(pl.String) for c in SCHEMA if c != "amount"]
        table = pl.concat([table.with_columns(as_text), extra.with_columns(as_text)], how="vertical")
    return PayTable(plan.id, plan.version, plan.currency, plan.places, str(target), table, warnings=tuple(warnings))


def table_of(run: PayRun) -> PayTable:
    """A row executor's run (with its history) as a ``PayTable``."""
    rows: dict[str, list[Any]] = {k: [] for k in SCHEMA}
    unit = 10**run.places
    for period, people in sorted(run.history.items()):
        for p in people:
            for line in p.lines:
                rows["period"].append(period)
                rows["person"].append(p.person)
                rows["line"].append(line.id)
                rows["component"].append(line.component)
                rows["kind"].append(line.kind)
                rows["amount"].append(int(line.amount * unit))
    return PayTable(
        run.plan_id, run.version, run.currency, run.places, run.period, pl.DataFrame(rows, schema=_schema())
    )


def line_amounts(table: PayTable) -> Mapping[tuple[str, str, str], int]:
    """Every line of a table by (period, person, line), in units (for comparisons)."""
    return {
        (p, who, line): a for p, who, line, a in table.lines.select("period", "person", "line", "amount").iter_rows()
    }


__all__ = ["PayTable", "column_support", "line_amounts", "pay_table", "table_of"]
