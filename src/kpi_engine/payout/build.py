"""Pay plan text → checked, compiled ``PayPlan``: every mistake of the file at once, each located.

parse YAML (``language/_yaml``: exact decimals, a source map) → validate the schema
(``language/_validation``) → semantic checks (below) → compile. Checks: component shares that
do not add up to 100 %; tiers with a gap, an overlap, a boundary claimed by two tiers (or by
none), bounds out of order; a curve that goes down; a cap below the threshold; keys that do not
belong to a component's kind; gates naming unknown components; conditions that do not parse.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

from kpi_engine.errors import ExpressionError, Issue, RulesetError, did_you_mean
from kpi_engine.expr import Expression, Type, parse_expression
from kpi_engine.language._validation import validate_model
from kpi_engine.language._yaml import PathKey, SourceMap, format_path, load_yaml
from kpi_engine.payout.model import DEALS, POOL_NAMES, TARGETED, Cap, Component, Draw, Gate, PayPlan
from kpi_engine.payout.ops.tiers import Curve, Level, Tier, evaluate
from kpi_engine.payout.spec import CapSpec, ComponentSpec, PayGateSpec, PayPlanSpec, TierSpec, known_keys
from kpi_engine.payout.text import number, percent
from kpi_engine.time.calendar import BusinessCalendar

_MONTHS_PER = {"month": 1, "quarter": 3, "half": 6, "year": 12}
MEASURE = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*)(?:\.score)?$")
_POOL_KEYS = ("amount", "split")
_TARGET_KEYS = ("share", "multipliers", "measure")
_NOT_FOR: dict[str, tuple[str, ...]] = {  # keys that a kind of component does not take
    "grade": ("measure", "curve", "tiers", "levels", "threshold", "measure_cap", "deals", "clawback", *_POOL_KEYS),
    "curve": ("multipliers", "deals", "clawback", *_POOL_KEYS),
    "commission": ("multipliers", "measure", "levels", "measure_cap", *_POOL_KEYS),
    "override": ("multipliers", "measure", "levels", "measure_cap", *_POOL_KEYS),
    "pool": (*_TARGET_KEYS, "curve", "tiers", "levels", "threshold", "measure_cap", "cap", "deals", "clawback"),
}
_POOL_TYPES: dict[str, Type] = dict.fromkeys(POOL_NAMES, "number")


class _AnyValue(Mapping[str, Type]):
    """Names a gate condition may read: any scorecard value (a number), ``grade`` (text).

    The scorecard is not known when the plan is read; the names a condition reads are checked
    against the appraisal when pay runs.
    """

    def __getitem__(self, key: str) -> Type:
        return "text" if key == "grade" else "number"

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(("total", "grade"))

    def __len__(self) -> int:
        return 2


def _f(value: Decimal | int) -> Fraction:
    return Fraction(value)


class _Checker:
    def __init__(self, spec: PayPlanSpec, smap: SourceMap) -> None:
        self.spec = spec
        self.smap = smap
        self.issues: list[Issue] = []

    def add(self, code: str, message: str, path: PathKey, *, key: bool = False, suggestion: str | None = None) -> None:
        self.issues.append(
            Issue(code, message, format_path(path), self.smap.locate(path, key=key), "error", suggestion)
        )

    # --- components -----------------------------------------------------------------------------

    def components(self) -> tuple[Component, ...]:
        spec = self.spec
        out: list[Component] = []
        seen: set[str] = set()
        for i, c in enumerate(spec.components):
            path: PathKey = ("components", i)
            if c.id in seen:
                self.add("duplicate_id", f"component '{c.id}' is defined twice", (*path, "id"))
            seen.add(c.id)
            built = self.component(c, path)
            if built is not None:
                out.append(built)
        if not spec.components:
            self.add("no_components", "a pay plan needs at least one component", ("components",))
            return ()
        shared = [(i, c) for i, c in enumerate(spec.components) if c.kind != "pool" and c.share is not None]
        for i, c in shared:
            assert c.share is not None
            if c.share < 0:
                self.add("bad_share", f"share {percent(c.share)} is negative", ("components", i, "share"))
        total = sum((c.share or Decimal(0) for _, c in shared), Decimal(0))
        if shared and total != 1:
            listing = " + ".join(f"{c.id} {percent(c.share or 0)}" for _, c in shared)
            self.add(
                "shares_sum",
                f"component shares add up to {percent(total)}, not 100 % ({listing})",
                ("components", shared[-1][0], "share"),
            )
        return tuple(out)

    def component(self, c: ComponentSpec, path: PathKey) -> Component | None:
        ok = True
        for key in _NOT_FOR[c.kind]:
            if getattr(c, key) is not None:
                why = " (a pool is an amount per team, not a share of a person's target)" if key == "share" else ""
                hint = None
                if c.kind == "pool":
                    hint = f"remove '{key}': a pool is sized by 'amount' and shared by 'split'"
                elif key in _POOL_KEYS:
                    hint = f"'{key}' is for kind: pool"
                self.add(
                    "not_for_kind",
                    f"'{key}' is not a key of a {c.kind} component{why}",
                    (*path, key),
                    key=True,
                    suggestion=hint,
                )
                ok = False
        if c.kind != "pool" and c.share is None:
            self.add("missing_key", f"a {c.kind} component needs 'share' (its share of the target incentive)", path)
            ok = False
        if c.kind == "pool":
            return self.pool(c, path, ok=ok)
        if c.kind in TARGETED:
            for key, default in (("basis", "period"), ("release", "on_credit")):
                if getattr(c, key) != default:
                    self.add(
                        "not_for_kind", f"'{key}' is for commission and override components", (*path, key), key=True
                    )
                    ok = False
        elif c.prorate:
            self.add(
                "not_for_kind",
                f"a {c.kind} component is not prorated: it pays on the deals credited while the person is employed",
                (*path, "prorate"),
                key=True,
            )
            ok = False
        multipliers = None
        if c.multipliers is not None:
            for grade, m in c.multipliers.items():
                if m < 0:
                    self.add(
                        "bad_multiplier",
                        f"multiplier {number(m)} of grade '{grade}' is negative",
                        (*path, "multipliers", grade),
                    )
                    ok = False
            multipliers = {g: _f(m) for g, m in c.multipliers.items()}
        if c.kind == "curve":
            if c.measure is None:
                self.add("missing_key", "a curve component needs 'measure' (the scorecard value it reads)", path)
                ok = False
            elif not MEASURE.fullmatch(c.measure):
                self.add(
                    "bad_measure",
                    f"'{c.measure}' is not a scorecard value: write a metric name, total, or <kpi>.score",
                    (*path, "measure"),
                )
                ok = False
        curve = None
        if c.kind != "grade":
            curve = self.curve(c, path)
            ok = ok and curve is not None
        cap = self.cap(c.cap, (*path, "cap"))
        if curve is not None and cap is not None:
            self.cap_against_threshold(c, curve, cap, path)
        if not ok:
            return None
        return Component(
            id=c.id,
            title=c.title,
            kind=c.kind,
            share=_f(c.share or 0),
            multipliers=multipliers,
            measure=c.measure,
            curve=curve,
            cap=cap,
            basis=c.basis,
            products=frozenset(c.deals.product) if c.deals and c.deals.product is not None else None,
            types=frozenset(c.deals.type) if c.deals and c.deals.type is not None else None,
            release=c.release,
            clawback_days=c.clawback.within_days if c.clawback else None,
            prorate=c.kind in TARGETED if c.prorate is None else c.prorate,
        )

    def cap(self, cap: CapSpec | None, path: PathKey) -> Cap | None:
        if cap is None:
            return None
        value = cap.amount if cap.amount is not None else cap.target
        if value is not None and value < 0:
            self.add("bad_cap", f"cap {number(value)} is negative", path)
            return None
        return Cap(
            amount=_f(cap.amount) if cap.amount is not None else None,
            target=_f(cap.target) if cap.target is not None else None,
        )

    # --- curves ---------------------------------------------------------------------------------

    def curve(self, c: ComponentSpec, path: PathKey) -> Curve | None:
        if c.curve is None:
            self.add("missing_key", f"a {c.kind} component needs 'curve' (step, marginal or interpolate)", path)
            return None
        if c.kind in DEALS and c.curve == "interpolate":
            self.add(
                "bad_curve",
                "commission and override tiers are rates of the credited amount: use step or marginal",
                (*path, "curve"),
            )
            return None
        threshold = _f(c.threshold) if c.threshold is not None else None
        measure_cap = _f(c.measure_cap) if c.measure_cap is not None else None
        if threshold is not None and measure_cap is not None and measure_cap <= threshold:
            self.add(
                "cap_below_threshold",
                f"measure_cap {number(measure_cap)} is not above the threshold {number(threshold)}: "
                "nothing can be paid",
                (*path, "measure_cap"),
            )
            return None
        if c.curve == "interpolate":
            if c.tiers is not None:
                self.add("not_for_curve", "an interpolated curve has levels, not tiers", (*path, "tiers"), key=True)
                return None
            levels = self.levels(c, path)
            return (
                None
                if levels is None
                else Curve("interpolate", levels=levels, threshold=threshold, measure_cap=measure_cap)
            )
        if c.levels is not None:
            self.add("not_for_curve", f"a {c.curve} curve has tiers, not levels", (*path, "levels"), key=True)
            return None
        tiers = self.tiers(c, path)
        if tiers is None:
            return None
        return Curve(c.curve, tiers=tiers, threshold=threshold, measure_cap=measure_cap)

    def pool(self, c: ComponentSpec, path: PathKey, *, ok: bool) -> Component | None:
        """A pool: an amount (or a formula over team results) per team, split among its members."""
        for key, default in (("basis", "period"), ("release", "on_credit")):
            if getattr(c, key) != default:
                self.add("not_for_kind", f"'{key}' is for commission and override components", (*path, key), key=True)
                ok = False
        if c.prorate is not None:
            self.add(
                "not_for_kind",
                "a pool is not prorated: it is split among the members of the team in the period",
                (*path, "prorate"),
                key=True,
            )
            ok = False
        for key, what in (
            ("amount", "the team's pool per period: a sum of money or a formula such as '1% * team_credited'"),
            ("split", "how the pool is shared: equal, score, credited or weight"),
        ):
            if getattr(c, key) is None:
                self.add("missing_key", f"a pool component needs '{key}' ({what})", path)
                ok = False
        amount: Fraction | None = None
        formula: Expression | None = None
        if isinstance(c.amount, Decimal):
            if c.amount < 0:
                self.add(
                    "bad_pool",
                    f"the pool {number(c.amount)} is negative",
                    (*path, "amount"),
                    suggestion="give 0 or more",
                )
                ok = False
            amount = _f(c.amount)
        elif isinstance(c.amount, str):
            try:
                formula = parse_expression(c.amount, _POOL_TYPES, "number")
            except ExpressionError as exc:
                self.add(
                    "bad_pool",
                    f"the pool's formula does not work: {exc} (it may read {', '.join(POOL_NAMES)})",
                    (*path, "amount"),
                    suggestion=exc.suggestion,
                )
                ok = False
        if not ok or c.split is None:
            return None
        return Component(
            id=c.id, title=c.title, kind="pool", share=Fraction(0), prorate=False, amount=amount, formula=formula,
            split=c.split,
        )  # fmt: skip

    def levels(self, c: ComponentSpec, path: PathKey) -> tuple[Level, ...] | None:
        specs = c.levels or []
        if not specs:
            self.add("missing_key", "an interpolated curve needs 'levels' (at → pay, lowest first)", path)
            return None
        ok = True
        for j, level in enumerate(specs):
            if level.pay < 0:
                self.add(
                    "decreasing_curve", f"level pays {percent(level.pay)}, below nothing", (*path, "levels", j, "pay")
                )
                ok = False
        for j, (a, b) in enumerate(itertools.pairwise(specs), start=1):
            here: PathKey = (*path, "levels", j)
            if b.at == a.at:
                self.add("boundary_twice", f"two levels are at {number(b.at)}", (*here, "at"))
                ok = False
            elif b.at < a.at:
                self.add(
                    "levels_order",
                    f"level at {number(b.at)} comes after {number(a.at)}: list levels lowest first",
                    (*here, "at"),
                )
                ok = False
            elif b.pay < a.pay:
                self.add(
                    "decreasing_curve",
                    f"the curve goes down: {percent(a.pay)} at {number(a.at)}, then {percent(b.pay)} at {number(b.at)}",
                    (*here, "pay"),
                )
                ok = False
        if not ok:
            return None
        return tuple(Level(_f(level.at), _f(level.pay)) for level in specs)

    def tiers(self, c: ComponentSpec, path: PathKey) -> tuple[Tier, ...] | None:
        specs = c.tiers or []
        if not specs:
            self.add("missing_key", f"a {c.curve} curve needs 'tiers' (lowest first)", path)
            return None
        ok = True
        tiers: list[Tier] = []
        last = len(specs) - 1
        for j, t in enumerate(specs):
            tier = self.tier(c, t, j, last, (*path, "tiers", j))
            if tier is None:
                ok = False
            else:
                tiers.append(tier)
        if not ok:
            return None
        measure = c.measure or "total"
        ratio = c.kind == "curve" and measure != "total" and not measure.endswith(".score")
        for a, b in itertools.pairwise(tiers):
            ok = self.adjacent(a, b, (*path, "tiers", b.index), ratio=ratio) and ok
        if ok and c.curve == "step":
            ok = self.non_decreasing_steps(tiers, path)
        return tuple(tiers) if ok else None

    def tier(self, c: ComponentSpec, t: TierSpec, j: int, last: int, path: PathKey) -> Tier | None:
        ok = True
        if t.from_ is not None and t.above is not None:
            self.add("bad_tier", "give 'from' (≥) or 'above' (>), not both", (*path, "above"), key=True)
            ok = False
        if t.to is not None and t.up_to is not None:
            self.add("bad_tier", "give 'to' (<) or 'up_to' (≤), not both", (*path, "up_to"), key=True)
            ok = False
        lower = t.from_ if t.from_ is not None else t.above
        upper = t.to if t.to is not None else t.up_to
        if lower is None:
            self.add("bad_tier", "a tier needs its lower bound ('from' or 'above')", path)
            ok = False
        if upper is None and j < last:
            self.add("bad_tier", "only the last tier may be open above; give 'to' or 'up_to'", path)
            ok = False
        if lower is not None and upper is not None:
            empty = upper < lower or (upper == lower and not (t.up_to is not None and t.from_ is not None))
            if empty:
                self.add(
                    "empty_tier",
                    f"the tier from {number(lower)} to {number(upper)} holds no value",
                    (*path, "up_to" if t.up_to is not None else "to"),
                )
                ok = False
        if (t.rate is None) == (t.pay is None):
            self.add("bad_tier", "a tier needs exactly one of rate, pay", path)
            ok = False
        elif t.pay is not None and (c.curve != "step" or c.kind in DEALS):
            self.add(
                "bad_tier",
                "'pay' (a fixed share of the target) is for step tiers of a curve component; give a rate",
                (*path, "pay"),
                key=True,
            )
            ok = False
        value = t.rate if t.rate is not None else t.pay
        if value is not None and value < 0:
            self.add(
                "decreasing_curve",
                f"a negative {'rate' if t.rate is not None else 'pay'} makes the curve go down",
                (*path, "rate" if t.rate is not None else "pay"),
            )
            ok = False
        if not ok:
            return None
        return Tier(
            index=j,
            id=t.id or f"tier {j + 1}",
            lower=_f(lower) if lower is not None else None,
            lower_open=t.above is not None,
            upper=_f(upper) if upper is not None else None,
            upper_closed=t.up_to is not None,
            rate=_f(t.rate) if t.rate is not None else None,
            pay=_f(t.pay) if t.pay is not None else None,
        )

    def adjacent(self, a: Tier, b: Tier, path: PathKey, *, ratio: bool = False) -> bool:
        """Whether tier ``b`` starts where ``a`` ends, the bound claimed by one of them (else located, with a fix).

        ``ratio``: the bounds are ratios of a measure (attainment), shown as percents as they are written.
        """
        assert a.upper is not None
        assert b.lower is not None
        key = "above" if b.lower_open else "from"

        def shown(x: Fraction) -> str:
            return number(x * 100) + "%" if ratio else number(x)

        upper, lower = shown(a.upper), shown(b.lower)
        # either tier moved to meet the other, each bound claimed by exactly one of them
        b_start = "above" if a.upper_closed else "from"
        a_end = "up_to" if b.lower_open else "to"
        meets = f"write '{b_start}: {upper}' in '{b.id}' or '{a_end}: {lower}' in '{a.id}'"
        if b.lower > a.upper:
            self.add(
                "tier_gap",
                f"values between {upper} and {lower} belong to no tier "
                f"('{a.id}' ends at {upper}, '{b.id}' starts at {lower})",
                (*path, key),
                suggestion=meets,
            )
            return False
        if b.lower < a.upper:
            self.add(
                "tier_overlap",
                f"tiers '{a.id}' and '{b.id}' overlap between {lower} and {upper}",
                (*path, key),
                suggestion=meets,
            )
            return False
        a_claims, b_claims = a.upper_closed, not b.lower_open
        at = lower
        if a_claims and b_claims:
            self.add(
                "boundary_twice",
                f"{at} is claimed by two tiers: '{a.id}' (up_to: {at}) and '{b.id}' (from: {at})",
                (*path, key),
                suggestion=f"write 'to: {at}' in '{a.id}' or 'above: {at}' in '{b.id}'",
            )
            return False
        if not a_claims and not b_claims:
            self.add(
                "tier_gap",
                f"{at} belongs to no tier: '{a.id}' ends below it (to: {at}) and '{b.id}' starts above it "
                f"(above: {at})",
                (*path, key),
                suggestion=f"write 'up_to: {at}' in '{a.id}' or 'from: {at}' in '{b.id}'",
            )
            return False
        return True

    def non_decreasing_steps(self, tiers: Sequence[Tier], path: PathKey) -> bool:
        ok = True
        for a, b in itertools.pairwise(tiers):
            x = b.lower
            assert x is not None
            left = a.pay if a.pay is not None else x * (a.rate or 0)
            right = b.pay if b.pay is not None else x * (b.rate or 0)
            if right < left:
                what = "pays" if b.pay is not None else "rate"
                self.add(
                    "decreasing_curve",
                    f"the curve goes down at {number(x)}: '{a.id}' gives {number(left)} there, "
                    f"'{b.id}' {number(right)} "
                    "(a step to a lower rate pays less for more)",
                    (*path, "tiers", b.index, "pay" if what == "pays" else "rate"),
                )
                ok = False
        return ok

    def cap_against_threshold(self, c: ComponentSpec, curve: Curve, cap: Cap, path: PathKey) -> None:
        threshold = curve.threshold
        if threshold is None and curve.kind == "interpolate":
            threshold = curve.levels[0].at
        if threshold is None:
            return
        at_threshold = evaluate(curve, threshold).value
        limit = cap.amount if c.kind in DEALS else cap.target
        if limit is None or limit >= at_threshold or at_threshold == 0:
            return
        shown = number(limit) if c.kind in DEALS else percent(limit)
        worth = number(at_threshold) if c.kind in DEALS else percent(at_threshold)
        self.add(
            "cap_below_threshold",
            f"the cap {shown} is below what the threshold {number(threshold)} alone pays ({worth})",
            (*path, "cap"),
        )

    # --- gates, draw, caps, periods -------------------------------------------------------------

    def gates(self, components: Sequence[Component]) -> tuple[Gate, ...]:
        ids = [c.id for c in self.spec.components]
        out: list[Gate] = []
        seen: set[str] = set()
        for i, g in enumerate(self.spec.gates):
            path: PathKey = ("gates", i)
            if g.id in seen:
                self.add("duplicate_id", f"gate '{g.id}' is defined twice", (*path, "id"))
            seen.add(g.id)
            built = self.gate(g, ids, path)
            if built is not None:
                out.append(built)
        del components
        return tuple(out)

    def gate(self, g: PayGateSpec, ids: Sequence[str], path: PathKey) -> Gate | None:
        ok = True
        for j, cid in enumerate(g.components):
            if cid not in ids:
                self.add(
                    "unknown_component",
                    f"'{cid}' is not a component of this plan",
                    (*path, "components", j),
                    suggestion=did_you_mean(cid, ids),
                )
                ok = False
        pools = {c.id for c in self.spec.components if c.kind == "pool"}
        for j, cid in enumerate(g.components):
            if cid in pools:
                self.add(
                    "bad_pool",
                    f"a gate cannot limit pool '{cid}': its parts must add up to the pool "
                    "(give the member a zero weight instead)",
                    (*path, "components", j),
                )
                ok = False
        if not g.components:
            self.add("bad_gate", "a gate needs at least one component", (*path, "components"))
            ok = False
        when: Expression | None = None
        if g.when is not None:
            try:
                when = parse_expression(g.when, _AnyValue(), "bool")
            except ExpressionError as exc:
                loc = self.smap.locate((*path, "when"))
                self.issues.append(
                    Issue("bad_expression", str(exc), format_path((*path, "when")), loc, "error", exc.suggestion)
                )
                ok = False
        cap = self.cap(g.cap, (*path, "cap"))
        if not ok or (g.cap is not None and cap is None):
            return None
        return Gate(g.id, when, g.scorecard_gate, tuple(g.components), cap, g.zero, g.reason)

    def draw(self) -> Draw | None:
        d = self.spec.draw
        if d is None:
            return None
        value = d.amount if d.amount is not None else d.target
        ok = True
        if value is not None and value < 0:
            self.add("bad_draw", f"the draw {number(value)} is negative", ("draw",))
            ok = False
        instalments = d.recover.instalments if d.recover is not None else None
        if d.recover is not None and not d.recoverable:
            self.add(
                "bad_draw",
                "'recover' is for a recoverable draw; this one is a guarantee (recoverable: false)",
                ("draw", "recover"),
                key=True,
                suggestion="write 'recoverable: true', or remove 'recover'",
            )
            ok = False
        if instalments is not None and not 1 <= instalments <= 120:  # noqa: PLR2004 - ten years of months
            self.add(
                "bad_draw",
                f"{instalments} instalments: give 1 to 120 periods",
                ("draw", "recover", "instalments"),
            )
            ok = False
        if not ok:
            return None
        return Draw(
            amount=_f(d.amount) if d.amount is not None else None,
            target=_f(d.target) if d.target is not None else None,
            recoverable=d.recoverable,
            periods=d.periods,
            instalments=instalments,
        )

    def period(self) -> None:
        months = _MONTHS_PER[self.spec.period]
        if (self.spec.year_starts - 1) % months:
            self.add(
                "bad_year_start",
                f"a {self.spec.period} plan's year must start on a {self.spec.period}'s first month, not month "
                f"{self.spec.year_starts}",
                ("year_starts",),
            )

    def cases(self) -> None:
        ids = [c.id for c in self.spec.components]
        for i, case in enumerate(self.spec.cases):
            for person, expect in case.expect.items():
                for cid in expect.components:
                    if cid not in ids:
                        path: PathKey = ("cases", i, "expect", person, "components", cid)
                        self.add(
                            "unknown_component",
                            f"'{cid}' is not a component of this plan",
                            path,
                            key=True,
                            suggestion=did_you_mean(cid, ids),
                        )


def parse_pay_plan(text: str, file: str = "<string>") -> PayPlan:
    """Parse pay plan YAML text into a checked, compiled ``PayPlan``.

    Raises:
        RulesetError: listing every problem with ``file:line:col`` (schema, shares, tiers, caps, gates).
    """
    data, smap, issues = load_yaml(text, file)
    if data is None and not issues:
        issues = [Issue("empty", "the pay plan is empty", "", smap.locate(()))]
    spec = None
    if data is not None:
        spec, more = validate_model(PayPlanSpec, data, smap, known_keys())
        issues += more
    plan = None
    if spec is not None:
        checker = _Checker(spec, smap)
        components = checker.components()
        gates = checker.gates(components)
        person_cap = checker.cap(spec.person_cap, ("person_cap",))
        draw = checker.draw()
        checker.period()
        checker.cases()
        issues += checker.issues
        plan = PayPlan(
            spec=spec,
            components=components,
            gates=gates,
            person_cap=person_cap,
            draw=draw,
            calendar=BusinessCalendar.from_spec(spec.calendar),
            file=file,
            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            source_map=smap,
            text=text,
        )
    if plan is None or any(i.severity == "error" for i in issues):
        issues.sort(key=lambda i: (i.location.line, i.location.col) if i.location else (0, 0))
        raise RulesetError.from_issues(issues, f"pay plan {file}")
    return plan


def check_pay_plan_text(text: str, file: str = "<string>") -> list[Issue]:
    """Every problem of a pay plan file (for ``kpi validate``), in file order."""
    try:
        parse_pay_plan(text, file)
    except RulesetError as exc:
        return list(exc.issues)
    return []


def pay_plan_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) of a pay plan file, for YAML editors."""
    schema = PayPlanSpec.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://kpi-engine.invalid/schema/pay_plan.json",
        **schema,
    }
