"""Territory balance (DOMAIN S5, seed 003): equal sales potential or equal workload, and moves that improve it.

Accounts carry a territory, a sales potential and a workload. For the declared criterion
(``potential`` or ``workload``) each territory's **share** is its total ÷ the grand total, against
the **equal share** 1/k of k territories; the **spread** is the largest share − the smallest.
Shares are exact fractions; reports round them.

``propose`` improves the balance by moving accounts, one change at a time: at each step the
change (moving one account, or swapping two accounts between territories) that lowers the
objective most is taken, the objective being the spread first and then the sum of squared
deviations from the equal share (so a step that cannot narrow the spread may still even out the
middle). Ties go to a single move before a swap, then to the account and territory ids in
code-point order, so the proposal is the same on every run.

**Guarantee.** Every step strictly lowers the objective, so the search ends; where it ends
(unless ``max_moves`` stops it first) no single move, and no swap involving the largest or the
smallest territory, lowers it further. That is a local optimum, not always the global one:
splitting accounts into exactly equal parts is the partition problem (NP-hard). Locked accounts
never move. All arithmetic is on integers (values scaled by a power of ten), so it is exact.

``propose_optimal`` (``kpi territories --solver cp-sat``, extra ``solver``: Google OR-Tools) asks
a constraint solver instead for the assignment with the smallest spread that moves at most
``max_moves`` accounts (then the fewest moves), on the same integers. Run single-threaded with a
deterministic work limit, it gives the same answer on every run and says whether it proved it
optimal or stopped at the limit with the best one found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

import attrs
from pydantic import BaseModel, ConfigDict, Field

from kpi_engine._numbers import NumberFormatError, canonical, exactly, quantize, to_decimal
from kpi_engine.errors import DataError, Issue, KpiError, RulesetError, did_you_mean
from kpi_engine.evaluation.records import Table, as_tables
from kpi_engine.language._validation import validate_model
from kpi_engine.language._yaml import load_yaml

Criterion = Literal["potential", "workload"]
_Candidate = tuple[tuple[int, int], int, tuple[str, ...], tuple[str, ...]]  # objective, size, accounts, targets
_COLUMNS = ("account", "territory", "potential", "workload")
_META = frozenset({"name", "note"})


class TerritoriesSpec(BaseModel):
    """How territories are balanced: the criterion, the territories' names, locked accounts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(alias="territories", description="stable id of the territory design")
    title: str | None = None
    criterion: Criterion = Field(description="balance equal sales potential or equal workload (seed 003)")
    names: dict[str, str] = Field(
        default_factory=dict, description="territory id → title; lists every territory (an empty one too)"
    )
    locked: list[str] = Field(default_factory=list, description="accounts that stay where they are")
    max_moves: int = Field(10, ge=0, le=10_000, description="at most this many accounts moved (a swap moves two)")


@attrs.frozen
class Account:
    """One account with its territory and exact figures."""

    id: str
    territory: str
    potential: Decimal
    workload: Decimal
    name: str = ""
    locked: bool = False

    def value(self, criterion: Criterion) -> Decimal:
        """The account's potential or workload."""
        return self.potential if criterion == "potential" else self.workload


@attrs.frozen
class Share:
    """One territory's totals and its share of the criterion against equal."""

    territory: str
    accounts: int
    potential: Decimal
    workload: Decimal
    share: Fraction  # of the criterion
    other_share: Fraction  # of the other measure
    equal: Fraction

    @property
    def deviation(self) -> Fraction:
        """Share − equal share."""
        return self.share - self.equal


@attrs.frozen
class Balance:
    """Every territory's share of the criterion, and the spread."""

    criterion: Criterion
    shares: tuple[Share, ...]

    @property
    def spread(self) -> Fraction:
        """Largest share − smallest share of the criterion."""
        values = [s.share for s in self.shares]
        return max(values) - min(values) if values else Fraction(0)

    @property
    def other_spread(self) -> Fraction:
        """The same spread for the other measure (workload when balancing potential)."""
        values = [s.other_share for s in self.shares]
        return max(values) - min(values) if values else Fraction(0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: totals exact, shares as percents rounded half-up to 0.1."""
        return {
            "criterion": self.criterion,
            "spread": _pct(self.spread),
            "other_spread": _pct(self.other_spread),
            "territories": [
                {
                    "territory": s.territory,
                    "accounts": s.accounts,
                    "potential": canonical(s.potential),
                    "workload": canonical(s.workload),
                    "share": _pct(s.share),
                    "equal": _pct(s.equal),
                    "deviation": _pct(s.deviation),
                }
                for s in self.shares
            ],
        }


@attrs.frozen
class Move:
    """One account moved (a swap is two moves with the same step)."""

    step: int
    account: str
    source: str
    target: str
    value: Decimal


@attrs.frozen
class Proposal:
    """The moves proposed, in order, and the balance before and after them."""

    before: Balance
    after: Balance
    moves: tuple[Move, ...]
    local_optimum: bool  # no improving change was left (False: max_moves stopped the search)
    method: Literal["local_search", "cp-sat optimal", "cp-sat feasible"] = "local_search"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "moves": [
                {"step": m.step, "account": m.account, "from": m.source, "to": m.target, "value": canonical(m.value)}
                for m in self.moves
            ],
            "local_optimum": self.local_optimum,
            "method": self.method,
        }


def _pct(value: Fraction) -> str:
    return format(quantize(value * 100, 1, "half_up"), "f") + "%"


def parse_territories(text: str, file: str = "<string>") -> TerritoriesSpec:
    """Parse a territory design file (YAML).

    Raises:
        RulesetError: listing every problem, each located as ``file:line:col``.
    """
    data, smap, issues = load_yaml(text, file)
    spec = None
    if data is not None:
        keys = {*TerritoriesSpec.model_fields, "territories"}
        spec, more = validate_model(TerritoriesSpec, data, smap, frozenset(keys))
        issues += more
    elif not issues:
        issues = [Issue("empty", "the file is empty", "", smap.locate(()))]
    if spec is None or any(i.severity == "error" for i in issues):
        raise RulesetError.from_issues(issues, file)
    return spec


def territories_schema() -> dict[str, object]:
    """The JSON Schema of a territory design file."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **TerritoriesSpec.model_json_schema()}


def read_accounts(data: Any, spec: TerritoriesSpec | None = None) -> list[Account]:
    """Validate account rows: ``account, territory, potential, workload`` (``name``, ``note`` free text).

    Raises:
        DataError: listing every bad row: a missing or duplicate account, an unknown column or
            territory (when the design names its territories), a negative or bad number, an
            unknown locked account.
    """
    issues: list[Issue] = []
    accounts: list[Account] = []
    seen: dict[str, str] = {}
    known = set(spec.names) if spec and spec.names else None
    locked = set(spec.locked) if spec else set()
    tables: Sequence[Table] = as_tables(data, "accounts")
    for table in tables:
        for line, raw in table.rows:
            issues.extend(
                Issue(
                    "unknown_column", f"column '{col}' is not an account field", str(col),
                    table.where(line, str(col)), suggestion=did_you_mean(str(col), [*_COLUMNS, *_META]),
                )
                for col in raw
                if col not in _COLUMNS and col not in _META
            )  # fmt: skip
            cells = {c: str(raw.get(c) or "").strip() for c in _COLUMNS}
            bad = False
            for col, cell in cells.items():
                if not cell:
                    issues.append(Issue("missing_field", f"'{col}' is required", col, table.where(line, col)))
                    bad = True
            numbers: dict[str, Decimal] = {}
            for col in ("potential", "workload"):
                if not cells[col]:
                    continue
                try:
                    value = to_decimal(raw.get(col), allow_percent=False)
                except NumberFormatError as exc:
                    issues.append(Issue("bad_value", f"'{col}': {exc}", col, table.where(line, col)))
                    bad = True
                    continue
                if value < 0:
                    issues.append(
                        Issue("bad_value", f"'{col}' cannot be negative ({value})", col, table.where(line, col))
                    )
                    bad = True
                numbers[col] = value
            account, territory = cells["account"], cells["territory"]
            if account and account in seen:
                issues.append(
                    Issue("duplicate_row", f"account '{account}' repeats (first at {seen[account]})", "account",
                          table.where(line, "account"))
                )  # fmt: skip
                bad = True
            if account:
                seen.setdefault(account, str(table.where(line)))
            if known is not None and territory and territory not in known:
                issues.append(
                    Issue("unknown_territory", f"'{territory}' is not one of the design's territories", "territory",
                          table.where(line, "territory"), suggestion=did_you_mean(territory, sorted(known)))
                )  # fmt: skip
                bad = True
            if not bad:
                accounts.append(
                    Account(account, territory, numbers["potential"], numbers["workload"],
                            str(raw.get("name") or "").strip(), account in locked)
                )  # fmt: skip
    issues.extend(
        Issue("unknown_account", f"locked account '{account}' is not in the accounts", "locked")
        for account in sorted(locked - set(seen))
    )
    if issues:
        raise DataError.from_issues(issues, "accounts")
    return accounts


@exactly
def balance(accounts: Iterable[Account], criterion: Criterion, territories: Iterable[str] = ()) -> Balance:
    """Each territory's share of the criterion against equal (territories without accounts count as empty).

    Raises:
        DataError: when there are no territories, or the criterion's total is 0.
    """
    accounts = list(accounts)
    names = sorted({*territories, *(a.territory for a in accounts)})
    if not names:
        raise DataError("no territories to balance")
    other: Criterion = "workload" if criterion == "potential" else "potential"
    grand = sum((a.value(criterion) for a in accounts), Decimal(0))
    grand_other = sum((a.value(other) for a in accounts), Decimal(0))
    if grand == 0:
        msg = f"the accounts' total {criterion} is 0: there is nothing to balance"
        raise DataError(msg)
    equal = Fraction(1, len(names))
    shares = []
    for t in names:
        mine = [a for a in accounts if a.territory == t]
        pot = sum((a.potential for a in mine), Decimal(0))
        work = sum((a.workload for a in mine), Decimal(0))
        value, value_other = (pot, work) if criterion == "potential" else (work, pot)
        other_share = Fraction(value_other) / Fraction(grand_other) if grand_other else Fraction(0)
        shares.append(Share(t, len(mine), pot, work, Fraction(value) / Fraction(grand), other_share, equal))
    return Balance(criterion, tuple(shares))


def _scale(values: Iterable[Decimal]) -> int:
    return max((max(0, -int(v.as_tuple().exponent)) for v in values), default=0)


def _units(value: Decimal, places: int) -> int:
    """``value`` × 10**places as an integer, exactly (no decimal context rounds it)."""
    scaled = Fraction(value) * 10**places
    assert scaled.denominator == 1
    return int(scaled.numerator)


class _Search:
    """The totals of a proposal in progress and the changes that would lower its objective."""

    def __init__(
        self, units: Mapping[str, int], where: dict[str, str], movable: Sequence[str], names: Sequence[str]
    ) -> None:
        self.units, self.where, self.movable, self.names = units, where, movable, names
        self.totals = dict.fromkeys(names, 0)
        for acc, t in where.items():
            self.totals[t] += units[acc]
        self.grand, self.k = sum(self.totals.values()), len(names)

    def objective(self, t: Mapping[str, int]) -> tuple[int, int]:
        values = list(t.values())
        return max(values) - min(values), sum((self.k * v - self.grand) ** 2 for v in values)

    def best(self, *, singles: bool, swaps: bool) -> _Candidate | None:
        """The change that lowers the objective most (ties: a single move, then ids), or None."""
        current = self.objective(self.totals)
        units, where, names, totals = self.units, self.where, self.names, self.totals
        best: _Candidate | None = None
        for acc in self.movable if singles else ():
            src = where[acc]
            for dst in names:
                if dst == src:
                    continue
                trial = dict(totals)
                trial[src] -= units[acc]
                trial[dst] += units[acc]
                cand: _Candidate = (self.objective(trial), 1, (acc,), (dst,))
                if cand[0] < current and (best is None or cand < best):
                    best = cand
        if swaps:
            ends = {max(names, key=lambda t: (totals[t], t)), min(names, key=lambda t: (totals[t], t))}
            for x in self.movable:
                if where[x] not in ends:
                    continue
                for y in self.movable:
                    if where[y] == where[x] or (where[y] in ends and y < x):
                        continue
                    trial = dict(totals)
                    delta = units[x] - units[y]
                    trial[where[x]] -= delta
                    trial[where[y]] += delta
                    first, second = (x, y) if x < y else (y, x)
                    cand = (self.objective(trial), 2, (first, second), (where[second], where[first]))
                    if cand[0] < current and (best is None or cand < best):
                        best = cand
        return best

    def apply(self, change: _Candidate) -> list[tuple[str, str, str]]:
        """Make the change; the (account, from, to) moves it makes."""
        _, kind, accs, dsts = change
        made = []
        for acc, dst in zip(accs[:kind], dsts[:kind], strict=True):
            src = self.where[acc]
            self.totals[src] -= self.units[acc]
            self.totals[dst] += self.units[acc]
            self.where[acc] = dst
            made.append((acc, src, dst))
        return made


@exactly
def propose(
    accounts: Sequence[Account], criterion: Criterion, *, territories: Iterable[str] = (), max_moves: int = 10
) -> Proposal:
    """Moves that improve the balance of ``criterion``, best change first (see the module's guarantee).

    ``local_optimum`` is False when a single move or a swap would still improve the balance but
    ``max_moves`` left no room for it.
    """
    names = sorted({*territories, *(a.territory for a in accounts)})
    before = balance(accounts, criterion, names)
    places = _scale(a.value(criterion) for a in accounts)
    search = _Search(
        {a.id: _units(a.value(criterion), places) for a in accounts},
        {a.id: a.territory for a in accounts},
        sorted(a.id for a in accounts if not a.locked),
        names,
    )
    value_of = {a.id: a.value(criterion) for a in accounts}
    moves: list[Move] = []
    step = 0
    while len(moves) < max_moves:
        change = search.best(singles=True, swaps=len(moves) + 2 <= max_moves)
        if change is None:
            break
        step += 1
        moves.extend(Move(step, acc, src, dst, value_of[acc]) for acc, src, dst in search.apply(change))
    after_accounts = [attrs.evolve(a, territory=search.where[a.id]) for a in accounts]
    stopped = search.best(singles=True, swaps=True) is not None  # an improvement the move limit left out
    return Proposal(before, balance(after_accounts, criterion, names), tuple(moves), local_optimum=not stopped)


SOLVER_WORK_LIMIT = 60.0  # CP-SAT deterministic time units (about seconds of one worker): a bound, not a clock


@exactly
def propose_optimal(
    accounts: Sequence[Account],
    criterion: Criterion,
    *,
    territories: Iterable[str] = (),
    max_moves: int = 10,
    work_limit: float = SOLVER_WORK_LIMIT,
) -> Proposal:
    """The assignment with the smallest spread reachable in at most ``max_moves`` moves, then the fewest moves.

    Needs the ``solver`` extra (``ortools``). Single-threaded under a deterministic work limit, so
    the answer is the same on every run; ``method`` says ``cp-sat optimal`` when the solver proved
    it, ``cp-sat feasible`` when the limit stopped it first (the best assignment found is returned).

    Raises:
        KpiError: when OR-Tools is not installed, or the figures are too large for its integers.
    """
    try:
        from ortools.sat.python import cp_model  # noqa: PLC0415 - the optional solver
    except ImportError:
        raise KpiError("the cp-sat solver needs the solver extra: pip install 'kpi_engine[solver]'") from None
    names = sorted({*territories, *(a.territory for a in accounts)})
    before = balance(accounts, criterion, names)
    places = _scale(a.value(criterion) for a in accounts)
    units = [_units(a.value(criterion), places) for a in accounts]
    grand = sum(units)
    if grand * (len(accounts) + 1) >= 2**62:
        raise KpiError("the figures are too large for the solver's 64-bit integers; use the local search")
    model = cp_model.CpModel()
    index = {t: i for i, t in enumerate(names)}
    x = [[model.new_bool_var(f"x{a}_{t}") for t in range(len(names))] for a in range(len(accounts))]
    for a, acc in enumerate(accounts):
        model.add_exactly_one(x[a])
        if acc.locked:
            model.add(x[a][index[acc.territory]] == 1)
    totals = [model.new_int_var(0, grand, f"total{t}") for t in range(len(names))]
    for t in range(len(names)):
        model.add(totals[t] == sum(units[a] * x[a][t] for a in range(len(accounts))))
    high, low = model.new_int_var(0, grand, "high"), model.new_int_var(0, grand, "low")
    model.add_max_equality(high, totals)
    model.add_min_equality(low, totals)
    moved = sum(1 - x[a][index[acc.territory]] for a, acc in enumerate(accounts))
    model.add(moved <= max_moves)
    model.minimize((high - low) * (len(accounts) + 1) + moved)
    for a, acc in enumerate(accounts):  # start from where the accounts are: a feasible answer from the first step
        for t in range(len(names)):
            model.add_hint(x[a][t], index[acc.territory] == t)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = work_limit
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):  # pragma: no cover - the hint is always feasible
        raise KpiError("the solver found no assignment within its work limit; use the local search")
    where = {
        acc.id: names[next(t for t in range(len(names)) if solver.value(x[a][t]))] for a, acc in enumerate(accounts)
    }
    moves = tuple(
        Move(1, acc.id, acc.territory, where[acc.id], acc.value(criterion))
        for acc in sorted(accounts, key=lambda acc: acc.id)
        if where[acc.id] != acc.territory
    )
    after = balance([attrs.evolve(acc, territory=where[acc.id]) for acc in accounts], criterion, names)
    method: Literal["cp-sat optimal", "cp-sat feasible"] = (
        "cp-sat optimal" if status == cp_model.OPTIMAL else "cp-sat feasible"
    )
    return Proposal(before, after, moves, local_optimum=status == cp_model.OPTIMAL, method=method)
