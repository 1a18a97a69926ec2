"""Target and budget decomposition (DOMAIN S4, S6, §7): a yearly target plan cut into exact parts.

Users call it a *plan* (``kpi plan``, plan files); inside the library it is a ``TargetPlan``, so
that the word ``plan`` alone names one thing: the compiled evaluation plan (``kpi_engine.plan``).

A plan names a year, a business calendar, seasonality weights (per quarter or per month) and a
tree of share weights (regions → teams → reps). Each yearly target (money or a count) and each
expense budget category splits:

1. down the share tree: the whole → each node's share → … → each rep (the leaves);
2. for every subject, over the year: → months by the seasonality weights (quarter weights cut
   each quarter into its months by working days, or equally with ``month_split: equal``);
3. each month → its working days, equally; ISO weeks and quarters are sums of their days and months.

Every split is a largest-remainder split on the smallest unit (0.01 for money by default, 1 for
counts): each part gets the floor of its exact share, and the units left over go one each to the
parts with the largest fractional remainders; ties go to the part whose key sorts first (the
subject id in code-point order, or the earlier date). So parts add up exactly to their whole at
every level, each part is within one unit of its exact share of its parent, and the result does
not depend on the order the plan lists things in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Literal, Union

import attrs
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from kpi_engine._numbers import NumberFormatError, exact, split_units, to_decimal
from kpi_engine.errors import DataError, Issue, RulesetError
from kpi_engine.language._validation import validate_model
from kpi_engine.language._yaml import PathKey, SourceMap, format_path, load_yaml
from kpi_engine.time.calendar import BusinessCalendar, CalendarRef, CalendarSpec
from kpi_engine.time.periods import Period, period_kind_of

Level = Literal["year", "half", "quarter", "month", "week", "day"]
LEVELS: tuple[Level, ...] = ("year", "half", "quarter", "month", "week", "day")
_NUMBER_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*%?\s*$"}],
    "description": "an exact number such as 12000000 or a percent such as 25% (exactly 0.25)",
}


def _number(value: object) -> Decimal:
    try:
        return to_decimal(value)
    except NumberFormatError as exc:
        raise ValueError(str(exc)) from None


Number = Annotated[Decimal, BeforeValidator(_number), WithJsonSchema(_NUMBER_SCHEMA)]
_FRACTION = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_WEIGHT_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number"},
        {"type": "string", "pattern": r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*%?\s*$"},
        {"type": "string", "pattern": r"^\s*\d+\s*/\s*\d+\s*$"},
        {"const": "equal"},
    ],
    "description": "a percent (25%), a decimal (0.25), an exact fraction (1/3), or equal (every sibling the same)",
}


def _weight(value: object) -> Fraction | str:
    """A share or seasonality weight: exact (a percent, a decimal, ``1/3``) or ``equal``."""
    if isinstance(value, str):
        if value.strip() == "equal":
            return "equal"
        m = _FRACTION.fullmatch(value)
        if m:
            if int(m.group(2)) == 0:
                msg = f"{value!r} divides by zero"
                raise ValueError(msg)
            return Fraction(int(m.group(1)), int(m.group(2)))
    try:
        return Fraction(to_decimal(value))
    except NumberFormatError as exc:
        raise ValueError(f"{exc}; or write a fraction such as 1/3, or equal") from None


Weight = Annotated[Union[Fraction, str], BeforeValidator(_weight), WithJsonSchema(_WEIGHT_SCHEMA)]  # noqa: UP007


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShareSpec(_Spec):
    """A node of the share tree: its weight (or relative parts) among its siblings and, optionally, its members."""

    weight: Weight | None = Field(
        None, description="exact share of the parent (25%, 1/3) or equal; siblings' exact shares add up to 100%"
    )
    parts: Number | None = Field(None, description="relative share: parts 3, 2, 1 split 3:2:1 (instead of weight)")
    title: str | None = None
    members: dict[str, Annotated[Union[ShareSpec, Weight], BeforeValidator(lambda v: v)]] = Field(  # noqa: UP007
        default_factory=dict,
        description="member id → weight (25%, 1/3, equal), or → {weight or parts, members}; "
        "siblings use one form: exact shares adding up to 100%, all equal, or all parts",
    )


class SeasonalitySpec(_Spec):
    """How the year is weighted over time: four quarter weights or twelve month weights (adding up to 100%)."""

    quarters: list[Weight] | Literal["equal"] | None = Field(None, description="weights of Q1…Q4 (25%, 1/4), or equal")
    months: list[Weight] | Literal["equal"] | None = Field(
        None, description="weights of January…December (8%, 1/12), or equal (exactly 1/12 each)"
    )
    month_split: Literal["working_days", "equal"] = Field(
        "working_days", description="with quarter weights: months of a quarter by their working days, or equally"
    )


class ItemSpec(_Spec):
    """One yearly target or budget category."""

    total: Number = Field(description="the yearly whole, in currency units or a count")
    unit: Literal["money", "count"] | None = Field(None, description="default: money (budgets are always money)")
    title: str | None = None
    field: str | None = Field(
        None, description="the ruleset input this fills (kpi evaluate --plan); default <name>_target or <name>_budget"
    )
    actual: str | None = Field(
        None,
        description="the column of actuals (kpi track): default <name>_actual for a target, <name>_spend for a budget",
    )
    seasonality: SeasonalitySpec | None = Field(None, description="overrides the plan's seasonality")
    shares: dict[str, Annotated[Union[ShareSpec, Weight], BeforeValidator(lambda v: v)]] | None = Field(  # noqa: UP007
        None, description="overrides the plan's share tree; {} keeps the whole on the company"
    )


class TrackingSpec(_Spec):
    """How the year is watched against the plan (``kpi track``): when a forecast is at risk, a budget over."""

    forecast: Literal["run_rate", "plan_pace"] = Field(
        "plan_pace",
        description="plan_pace (default): actual ÷ plan to date × the period's plan, the plan's own working-day "
        "pace (keeps the seasonality); run_rate: actual ÷ working days elapsed × working days in the period",
    )
    at_risk: Number = Field(
        Decimal("0.9"), description="a forecast below this share of the plan is at risk (default 90%)"
    )
    alert_on: Literal["at_risk", "behind"] = Field(
        "at_risk", description="open an alert for forecasts at risk (default), or for every forecast below the plan"
    )
    alert_levels: tuple[Level, ...] = Field(
        ("year",),
        description="the period levels whose current period opens alerts (default the year: one per subject and item)",
    )
    over_budget: Number = Field(
        Decimal(1), description="spend to date above this share of the budget to date opens an alert (default 100%)"
    )
    due_working_days: int = Field(2, ge=0, le=60, description="an alert is due this many working days after it opens")


class PlanSpec(_Spec):
    """A yearly sales plan: targets and expense budgets decomposed over time and subjects."""

    plan: str = Field(description="stable id of the plan")
    version: str = "1"
    title: str | None = None
    year: int = Field(ge=1900, le=2999)
    company: str = Field("company", description="id of the root subject (the whole)")
    calendar: CalendarRef = Field(default_factory=CalendarSpec, description="working days for weeks and days")
    money_places: int = Field(2, ge=0, le=6, description="decimal places of the smallest currency unit (2: 0.01)")
    seasonality: SeasonalitySpec = Field(default_factory=SeasonalitySpec, description="default: by working days")
    shares: dict[str, Annotated[Union[ShareSpec, Weight], BeforeValidator(lambda v: v)]] = Field(  # noqa: UP007
        default_factory=dict, description="top-level subject id → weight or {weight or parts, members}"
    )
    targets: dict[str, ItemSpec] = Field(default_factory=dict, description="yearly targets (money or count)")
    budgets: dict[str, ItemSpec] = Field(default_factory=dict, description="yearly expense budgets by category")
    tracking: TrackingSpec = Field(default_factory=TrackingSpec, description="forecasts, at-risk and budget alerts")


ShareSpec.model_rebuild()


@attrs.frozen
class Node:
    """A subject of the share tree with its exact weight inside its parent."""

    id: str
    parent: str | None
    weight: Fraction
    children: tuple[Node, ...] = ()


@attrs.frozen
class Item:
    name: str
    kind: Literal["target", "budget"]
    unit: Literal["money", "count"]
    field: str
    total: Decimal
    title: str | None
    tree: Node
    months: tuple[Fraction, ...] | None  # twelve month weights, or None (by quarters / working days)
    quarters: tuple[Fraction, ...] | None
    month_split: Literal["working_days", "equal"]
    actual: str = ""  # the column of actuals or spend (kpi track)


@attrs.frozen
class TargetPlan:
    """A validated plan, ready to decompose."""

    spec: PlanSpec
    items: tuple[Item, ...]
    calendar: BusinessCalendar
    file: str
    sha256: str


@attrs.frozen
class Allocation:
    """One planned amount: an item for a subject in a period."""

    item: str
    kind: Literal["target", "budget"]
    field: str
    subject: str
    parent: str | None
    depth: int
    period: Period
    value: Decimal

    def to_dict(self) -> dict[str, object]:
        """A flat, JSON-ready row (the value as exact decimal text)."""
        return {
            "item": self.item,
            "kind": self.kind,
            "field": self.field,
            "subject": self.subject,
            "parent": self.parent,
            "level": self.period.kind,
            "period": str(self.period),
            "value": format(self.value, "f"),
        }


@attrs.frozen
class TargetPlanResult:
    """Every allocation of a plan, with a lookup by item, subject and period."""

    plan: TargetPlan
    allocations: tuple[Allocation, ...]
    _index: dict[tuple[str, str, Period], Decimal] = attrs.field(eq=False, repr=False)

    def value(self, item: str, subject: str, period: Period) -> Decimal | None:
        """The planned amount of ``item`` for ``subject`` in ``period`` (any kind), or None if not planned."""
        return self._index.get((item, subject, period))

    def rows(self, levels: Iterable[str] = LEVELS) -> list[dict[str, object]]:
        """Allocations at the given levels as flat rows, in a stable order."""
        wanted = set(levels)
        return [a.to_dict() for a in self.allocations if a.period.kind in wanted]


def _unit(item: Item, places: int) -> Decimal:
    return Decimal(1) if item.unit == "count" else Decimal(1).scaleb(-places)


def _month_weights(item: Item, cal: BusinessCalendar, year: int) -> list[tuple[Period, Fraction]]:
    months = [Period("month", dt.date(year, m, 1)) for m in range(1, 13)]
    if item.months is not None:
        return list(zip(months, item.months, strict=True))
    days = {m: Fraction(len(cal.working_days_in(m))) for m in months}
    if item.quarters is None:
        total = sum(days.values(), Fraction(0))
        return [(m, days[m] / total) for m in months]
    out: list[tuple[Period, Fraction]] = []
    for q, weight in enumerate(item.quarters):
        group = months[q * 3 : q * 3 + 3]
        if item.month_split == "equal":
            out.extend((m, weight / 3) for m in group)
            continue
        quarter_days = sum((days[m] for m in group), Fraction(0))
        out.extend((m, weight * days[m] / quarter_days) for m in group)
    return out


def _months_within_quarters(
    item: Item, month_days: Mapping[Period, Sequence[dt.date]]
) -> dict[Period, list[tuple[Period, Fraction]]]:
    """Each quarter's months with their weight inside the quarter (by working days, or equal)."""
    out: dict[Period, list[tuple[Period, Fraction]]] = {}
    for month in sorted(month_days):
        out.setdefault(_quarter_key(month), []).append((month, Fraction(len(month_days[month]))))
    for quarter, group in out.items():
        days = sum((d for _, d in group), Fraction(0))
        if item.month_split == "equal" or days == 0:
            out[quarter] = [(m, Fraction(1, len(group))) for m, _ in group]
        else:
            out[quarter] = [(m, d / days) for m, d in group]
    return out


def _leaves_and_nodes(node: Node) -> Iterable[Node]:
    yield node
    for child in node.children:
        yield from _leaves_and_nodes(child)


def _by_tree(node: Node, units: int, out: dict[str, int]) -> None:
    out[node.id] = units
    if node.children:
        split = split_units(units, [(c.id, c.weight) for c in node.children])
        for child in node.children:
            _by_tree(child, split[child.id], out)


def _add(
    sums: dict[tuple[str, Period], int], parents: Mapping[str, str | None], subject: str, period: Period, units: int
) -> None:
    """Add a leaf's units for a period to the leaf and every node above it."""
    node: str | None = subject
    while node is not None:
        sums[(node, period)] = sums.get((node, period), 0) + units
        node = parents[node]


def _quarter_key(period: Period) -> Period:
    return Period.containing(period.start, "quarter")


def decompose(plan: TargetPlan) -> TargetPlanResult:
    """Cut every target and budget of ``plan`` into subjects and periods, exactly.

    Runs in the library's decimal context, whatever the caller's.

    Raises:
        CalendarError: if the plan's calendar does not cover the plan year.
        DataError: if a month of the year has no working day to carry its part.
    """
    with exact():
        return _decompose(plan)


def _decompose(plan: TargetPlan) -> TargetPlanResult:
    year = plan.spec.year
    cal = plan.calendar
    allocations: list[Allocation] = []
    index: dict[tuple[str, str, Period], Decimal] = {}
    month_days = {m: cal.working_days_in(m) for m in (Period("month", dt.date(year, i, 1)) for i in range(1, 13))}
    for item in plan.items:
        places = 0 if item.unit == "count" else plan.spec.money_places
        unit = _unit(item, plan.spec.money_places)
        total_units = int(item.total.scaleb(places))
        per_subject: dict[str, int] = {}
        _by_tree(item.tree, total_units, per_subject)
        nodes = list(_leaves_and_nodes(item.tree))
        parents = {n.id: n.parent for n in nodes}
        depth: dict[str, int] = {}
        for n in nodes:
            depth[n.id] = 0 if n.parent is None else depth[n.parent] + 1
        weights = _month_weights(item, cal, year)
        within = _months_within_quarters(item, month_days)
        # Leaves are split over time; every inner node's period value is the sum of its leaves'.
        sums: dict[tuple[str, Period], int] = {}

        for leaf in (n for n in nodes if not n.children):
            units = per_subject[leaf.id]
            if item.quarters is not None and item.months is None:
                # Quarters first (their parts are the seasonality the plan states), then months in each.
                q_units = split_units(
                    units,
                    [(Period("quarter", dt.date(year, q * 3 + 1, 1)), w) for q, w in enumerate(item.quarters)],
                    sort_key=lambda p: p.start,
                )
                months_units: dict[Period, int] = {}
                for q, qu in q_units.items():
                    months_units.update(split_units(qu, within[q], sort_key=lambda p: p.start))
            else:
                months_units = split_units(units, weights, sort_key=lambda p: p.start)
            _add(sums, parents, leaf.id, Period("year", dt.date(year, 1, 1)), units)
            for month, mu in months_units.items():
                _add(sums, parents, leaf.id, month, mu)
                _add(sums, parents, leaf.id, _quarter_key(month), mu)
                _add(sums, parents, leaf.id, Period.containing(month.start, "half"), mu)
                days = month_days[month]
                if not days:
                    if mu:
                        msg = f"{month} has no working day on calendar {cal.name} to carry {item.name}'s part"
                        raise DataError(msg)
                    continue
                per_day = split_units(mu, [(d, Fraction(1, len(days))) for d in days])
                for d, du in per_day.items():
                    _add(sums, parents, leaf.id, Period("day", d), du)
                    _add(sums, parents, leaf.id, Period.containing(d, "week"), du)
        order = {n.id: i for i, n in enumerate(nodes)}
        for (subject, period), units in sorted(
            sums.items(), key=lambda kv: (order[kv[0][0]], LEVELS.index(kv[0][1].kind), kv[0][1].start)
        ):
            value = Decimal(units).scaleb(-places).quantize(unit)
            index[(item.name, subject, period)] = value
            allocations.append(
                Allocation(item.name, item.kind, item.field, subject, parents[subject], depth[subject], period, value)
            )
    return TargetPlanResult(plan, tuple(allocations), index)


# --- loading and checks ---------------------------------------------------------------------------


class _Checker:
    def __init__(self, spec: PlanSpec, smap: SourceMap) -> None:
        self.spec = spec
        self.smap = smap
        self.issues: list[Issue] = []

    def add(self, code: str, message: str, path: PathKey, *, key: bool = False) -> None:
        self.issues.append(Issue(code, message, format_path(path), self.smap.locate(path, key=key)))

    def weights(self, values: Sequence[Fraction | str], path: PathKey, what: str) -> tuple[Fraction, ...] | None:
        """Exact seasonality weights adding up to 1 (``equal`` entries are refused: write ``equal`` for the list)."""
        ok = True
        exact: list[Fraction] = []
        for i, v in enumerate(values):
            if isinstance(v, str):
                self.add("bad_weight", f"write {what}s: equal for equal {what}s, not equal in the list", (*path, i))
                ok = False
            elif v < 0:
                self.add("bad_weight", f"{what} weight {_pct(v)} is negative", (*path, i))
                ok = False
            else:
                exact.append(v)
        total = sum(exact, Fraction(0))
        if ok and total != 1:
            self.add("weights_sum", f"{what} weights add up to {_pct(total)}, not 100%", path)
            ok = False
        return tuple(exact) if ok else None

    def seasonality(self, s: SeasonalitySpec, path: PathKey) -> tuple[tuple[Fraction, ...] | None, ...]:
        if s.quarters is not None and s.months is not None:
            self.add("bad_seasonality", "give quarters or months, not both", path)
            return None, None
        quarters: tuple[Fraction, ...] | None = None
        months: tuple[Fraction, ...] | None = None
        if s.quarters == "equal":
            quarters = (Fraction(1, 4),) * 4
        elif s.quarters is not None:
            if len(s.quarters) != 4:  # noqa: PLR2004 - four quarters
                self.add("bad_seasonality", f"quarters needs 4 weights, not {len(s.quarters)}", (*path, "quarters"))
            else:
                quarters = self.weights(s.quarters, (*path, "quarters"), "quarter")
        if s.months == "equal":
            months = (Fraction(1, 12),) * 12
        elif s.months is not None:
            if len(s.months) != 12:  # noqa: PLR2004 - twelve months
                self.add("bad_seasonality", f"months needs 12 weights, not {len(s.months)}", (*path, "months"))
            else:
                months = self.weights(s.months, (*path, "months"), "month")
        return quarters, months

    def tree(self, root: str, shares: Mapping[str, ShareSpec | Fraction | str], path: PathKey, seen: set[str]) -> Node:
        seen.add(root)
        return Node(root, None, Fraction(1), self.children(root, shares, path, seen))

    def children(
        self, parent: str, shares: Mapping[str, ShareSpec | Fraction | str], path: PathKey, seen: set[str]
    ) -> tuple[Node, ...]:
        """The members of ``parent`` with exact weights: exact shares, all ``equal``, or all ``parts``."""
        if not shares:
            return ()
        found: list[tuple[str, PathKey, str, Fraction, tuple[Node, ...]]] = []  # id, path, form, value, kids
        for sid, share in sorted(shares.items()):
            here = (*path, sid)
            if sid in seen:
                self.add("duplicate_subject", f"subject '{sid}' appears twice in the share tree", here, key=True)
                continue
            seen.add(sid)
            form, value = self.share(share, here)
            kids = self.children(sid, share.members, (*here, "members"), seen) if isinstance(share, ShareSpec) else ()
            found.append((sid, here, form, value, kids))
        forms = {form for _, _, form, _, _ in found if form != "bad"}
        last = (*path, list(shares)[-1])  # the last weight as written
        if len(forms) > 1:
            shown = " and ".join(sorted(forms))
            self.add("mixed_shares", f"the shares under '{parent}' mix {shown}; use one form for siblings", last)
            forms = set()
        weights: dict[str, Fraction] = {}
        form = forms.pop() if forms else "bad"
        values = [v for _, _, f, v, _ in found if f == form]
        if form == "equal":
            weights = {sid: Fraction(1, len(found)) for sid, _, _, _, _ in found}
        elif form == "parts":
            total = sum(values, Fraction(0))
            if total == 0:
                self.add("weights_sum", f"the parts under '{parent}' add up to 0", last)
            else:
                weights = {sid: v / total for sid, _, _, v, _ in found}
        elif form == "exact":
            total = sum(values, Fraction(0))
            if total != 1:
                self.add("weights_sum", f"share weights under '{parent}' add up to {_pct(total)}, not 100%", last)
            weights = {sid: v for sid, _, _, v, _ in found}
        return tuple(Node(sid, parent, weights.get(sid, Fraction(0)), kids) for sid, _, _, _, kids in found)

    def share(self, share: ShareSpec | Fraction | str, here: PathKey) -> tuple[str, Fraction]:
        """One node's form (``exact``, ``equal``, ``parts``; ``bad`` when refused) and value."""
        weight = share.weight if isinstance(share, ShareSpec) else share
        parts = share.parts if isinstance(share, ShareSpec) else None
        if parts is not None:
            if weight is not None:
                self.add("bad_weight", "give weight or parts, not both", here)
                return "bad", Fraction(0)
            if parts < 0:
                self.add("bad_weight", f"parts {parts} is negative", (*here, "parts"))
                return "bad", Fraction(0)
            return "parts", Fraction(parts)
        if weight is None:
            self.add("bad_weight", "a share needs a weight (25%, 1/3, equal) or parts", here)
            return "bad", Fraction(0)
        if isinstance(weight, str):
            if weight != "equal":
                self.add("bad_weight", f"{weight!r} is not a weight (25%, 1/3, equal)", here)
                return "bad", Fraction(0)
            return "equal", Fraction(0)
        if weight < 0:
            self.add("bad_weight", f"share weight {_pct(weight)} is negative", here)
            return "bad", Fraction(0)
        return "exact", weight

    def tracking(self, raw: object) -> None:
        """``at_risk`` lies in 0–100 % and ``over_budget`` is not negative; a plain number above 1 is a slip."""
        t = self.spec.tracking
        written = raw.get("tracking") if isinstance(raw, Mapping) else None
        for key, value, top in (("at_risk", t.at_risk, Decimal(1)), ("over_budget", t.over_budget, None)):
            path: PathKey = ("tracking", key)
            text = written.get(key) if isinstance(written, Mapping) else None
            if text is not None and "%" not in str(text) and value > 1:  # 90 meant 90 %, 1.1 perhaps 110 %
                shown = format(value.normalize(), "f")
                meant = f"{shown}%" if value >= 10 else _pct(value)  # noqa: PLR2004 - a whole percent
                self.issues.append(
                    Issue(
                        "percent_slip",
                        f"{key} {shown} without % is {_pct(value)} of the plan; write a share above 1 as a percent",
                        format_path(path),
                        self.smap.locate(path),
                        suggestion=f"did you mean {meant}?",
                    )
                )
            elif value < 0 or (top is not None and value > top):
                limit = "between 0% and 100%" if top is not None else "0% or more"
                self.add("bad_value", f"{key} must be {limit}, not {_pct(value)}", path)

    def items(self) -> list[Item]:
        spec = self.spec
        default = self.seasonality(spec.seasonality, ("seasonality",))
        items: list[Item] = []
        fields: dict[str, str] = {}
        for kind, group in (("target", spec.targets), ("budget", spec.budgets)):
            for name, item in group.items():
                base: PathKey = (f"{kind}s", name)
                unit = item.unit or "money"
                if kind == "budget" and unit != "money":
                    self.add("bad_unit", "a budget is money", (*base, "unit"))
                step = Decimal(1) if unit == "count" else Decimal(1).scaleb(-spec.money_places)
                if item.total < 0:
                    self.add("bad_total", "the total must not be negative", (*base, "total"))
                elif item.total % step != 0:
                    what = "a whole count" if unit == "count" else f"a multiple of the smallest unit {step}"
                    self.add("bad_total", f"the total {item.total} is not {what}", (*base, "total"))
                quarters, months = (
                    self.seasonality(item.seasonality, (*base, "seasonality")) if item.seasonality else default
                )
                split = (item.seasonality or spec.seasonality).month_split
                shares = item.shares if item.shares is not None else spec.shares
                share_path: PathKey = (*base, "shares") if item.shares is not None else ("shares",)
                tree = self.tree(spec.company, shares, share_path, set())
                field = item.field or f"{name}_{kind}"
                if field in fields:
                    self.add("duplicate_field", f"field '{field}' is already filled by {fields[field]}", base, key=True)
                fields[field] = name
                items.append(
                    Item(
                        name,
                        kind,  # type: ignore[arg-type]
                        unit,
                        field,
                        item.total,
                        item.title,
                        tree,
                        months,
                        quarters,
                        split,
                        item.actual or f"{name}_{'actual' if kind == 'target' else 'spend'}",
                    )
                )
        if not items:
            self.add("empty", "a plan needs at least one target or budget", ())
        return items


def subject_titles(plan: TargetPlan) -> dict[str, str]:
    """Subject id → title from the share tree (``team_east: {title: 华东区, …}``), for reports."""
    out: dict[str, str] = {}

    def walk(shares: Mapping[str, ShareSpec | Fraction | str] | None) -> None:
        for sid, share in (shares or {}).items():
            if isinstance(share, ShareSpec):
                if share.title:
                    out[sid] = share.title
                walk(share.members)

    walk(plan.spec.shares)
    for group in (plan.spec.targets, plan.spec.budgets):
        for item in group.values():
            walk(item.shares)
    return out


def _pct(value: Decimal | Fraction) -> str:
    """``55%``; a fraction without a short decimal form as ``100/3%``."""
    if isinstance(value, Fraction):
        hundred = value * 100
        if hundred.denominator == 1:
            return f"{hundred.numerator}%"
        if all(p in {2, 5} for p in _prime_factors(hundred.denominator)):
            return format((Decimal(hundred.numerator) / Decimal(hundred.denominator)).normalize(), "f") + "%"
        return f"{hundred.numerator}/{hundred.denominator}%"
    return format((value * 100).normalize(), "f") + "%"


def _prime_factors(n: int) -> set[int]:
    out: set[int] = set()
    p = 2
    while p * p <= n:
        while n % p == 0:
            out.add(p)
            n //= p
        p += 1
    if n > 1:
        out.add(n)
    return out


def check_plan_text(text: str, file: str = "<string>") -> list[Issue]:
    """Every problem of a plan file (for ``kpi validate``), in file order."""
    try:
        parse_plan(text, file)
    except RulesetError as exc:
        return list(exc.issues)
    return []


def parse_plan(text: str, file: str = "<string>") -> TargetPlan:
    """Parse plan YAML text into a validated ``TargetPlan``.

    Raises:
        RulesetError: listing every problem (unknown keys, weights that do not add up to 100%,
            totals off the smallest unit, duplicate subjects…), each located as ``file:line:col``.
    """
    data, smap, issues = load_yaml(text, file)
    if data is None and not issues:
        issues = [Issue("empty", "the plan is empty", "", smap.locate(()))]
    spec = None
    if data is not None:
        keys = {k for m in (PlanSpec, ItemSpec, SeasonalitySpec, ShareSpec, TrackingSpec) for k in m.model_fields}
        spec, more = validate_model(PlanSpec, data, smap, frozenset(keys))
        issues += more
    items: list[Item] = []
    if spec is not None:
        with exact():  # the library's context, whatever the caller's (a total % step must not trap)
            checker = _Checker(spec, smap)
            items = checker.items()
            checker.tracking(data)
        issues += checker.issues
    if spec is None or any(i.severity == "error" for i in issues):
        issues.sort(key=lambda i: (i.location.line, i.location.col) if i.location else (0, 0))
        raise RulesetError.from_issues(issues, file)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return TargetPlan(spec, tuple(items), BusinessCalendar.from_spec(spec.calendar), file, digest)


def plan_schema() -> dict[str, object]:
    """The JSON Schema of a plan file."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **PlanSpec.model_json_schema()}


# --- a plan as the target input of a scorecard ------------------------------------------------------


def merge_plan(tables: Sequence[Any], result: TargetPlanResult, fields: set[str], period_kind: str) -> list[Any]:
    """Fill the ruleset inputs a plan provides (``sales_target``…) into the matching record rows.

    A row gets the planned value of each plan field the ruleset declares as an input, for its
    subject and period (a monthly row of a half-year ruleset gets the month's part, rolled up
    later). Rows of subjects or periods the plan does not cover are left as they are; a field
    already filled in a row is a conflict.

    Raises:
        DataError: on conflicts, or when the ruleset declares none of the plan's fields.
    """
    from kpi_engine.evaluation.records import Table  # noqa: PLC0415 - evaluation imports time; keep it one-way

    by_field = {i.field: i.name for i in result.plan.items if i.field in fields}
    if not by_field:
        known = ", ".join(sorted(i.field for i in result.plan.items))
        msg = f"the ruleset declares none of the plan's fields as inputs ({known})"
        raise DataError(msg)
    issues: list[Issue] = []
    out: list[Any] = []
    for table in tables:
        rows = []
        for line, raw in table.rows:
            text = str(raw.get("period", ""))
            kind = period_kind_of(text) or period_kind
            try:  # a finer record (a month for a half scorecard) gets its own period's part of the plan
                period = Period.parse(text, kind)  # type: ignore[arg-type]
            except ValueError:
                rows.append((line, raw))
                continue
            subject = str(raw.get("subject", "")).strip()
            merged = dict(raw)
            for fld, name in by_field.items():
                value = result.value(name, subject, period)
                if value is None:
                    continue
                if str(merged.get(fld) or "").strip():
                    issues.append(
                        Issue(
                            "conflict",
                            f"'{fld}' is given in the record and also by the plan",
                            fld,
                            table.where(line, fld),
                        )
                    )
                merged[fld] = value
            rows.append((line, merged))
        out.append(Table(table.name, tuple(rows), table.columns))
    if issues:
        raise DataError.from_issues(issues, "records")
    return out
