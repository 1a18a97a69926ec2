"""The row executor of pay: one person at a time, period by period, exactly, with a trace per line.

A pay run for period P computes every period from the earliest one in its inputs through P, so
that what carries over is computed, not assumed: year-to-date tiers, deals held until paid,
clawbacks of commission paid earlier, recoverable draws and balances. Lines already paid
(``paid``) turn differences in earlier periods into true-up lines in P.

Order within a period (each step a line or a note in a line's trace):

1. components — grade and curve on the prorated target; commission and override on credited
   deals (year-to-date tiers pay this period's slice); each component's cap; the plan's gates;
2. the person's cap on the period's earnings;
3. deals held until paid (``release: on_payment``) and released when paid;
4. clawbacks of deals cancelled or refunded within the window, at what was paid for the deal;
5. true-ups of earlier periods against the lines already paid (only in P);
6. the draw (top-up to the guaranteed minimum), recovery of what the person owes, and a period
   whose net is below zero carried forward as owed (pay is never negative).

Money is exact until a line is made: each line is the correctly rounded value of its exact
amount; parts of one amount (a deal's share of a commission, the slices of a tier) are
apportioned by largest remainder; a year-to-date line is the rounded year so far minus the
rounded year before, so the lines of a year add up to the rounded year.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from kpi_engine._numbers import canonical, exactly, quantize
from kpi_engine.errors import DataError, Issue, Location, RulesetError, did_you_mean
from kpi_engine.evaluation.records import Table, as_table
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.payout.inputs import (
    HOUSE,
    Assignment,
    CreditLine,
    Deal,
    PaidLine,
    PayInputs,
    Scores,
    credits_from_attribution,
    facts_on_credits,
    is_attribution,
    prepare_credits,
    prepare_deals,
    prepare_paid,
    prepare_people,
    prepare_scores,
    scores_from_appraisal,
)
from kpi_engine.payout.model import DEALS, Component, Gate, PayPlan
from kpi_engine.payout.ops import money as money_ops
from kpi_engine.payout.ops import tiers
from kpi_engine.payout.ops.proration import working_days
from kpi_engine.payout.results import PayLine, PayRun, PersonPay, Segment
from kpi_engine.payout.text import Joined, Name, Words, money, number, percent, rate_text, render, w
from kpi_engine.time.periods import Period

MONTHS_PER = {"month": 1, "quarter": 3, "half": 6, "year": 12}
ZERO = Fraction(0)
DZERO = Decimal(0)


# --- inputs -------------------------------------------------------------------------------------


def _is_appraisals(value: object) -> bool:
    if isinstance(value, Appraisal):
        return True
    return isinstance(value, list | tuple) and bool(value) and all(isinstance(v, Appraisal) for v in value)


def prepare_inputs(
    plan: PayPlan,
    appraisals: Any,
    people: Any,
    *,
    credits: Any = None,  # noqa: A002 - the input's name
    deals: Any = None,
    paid: Any = None,
) -> PayInputs:
    """Validate everything a pay run reads (see ``pay``).

    Raises:
        DataError: naming each bad row of each input. RulesetError: a value the plan reads that
            the appraisals do not have (located in the plan).
    """
    people_rows = prepare_people(plan, as_table(people, "people"))
    scores: list[Scores] = []
    if appraisals is None:
        pass
    elif _is_appraisals(appraisals):
        items = [appraisals] if isinstance(appraisals, Appraisal) else list(appraisals)
        for a in items:
            scores.extend(scores_from_appraisal(a))
    else:
        scores = prepare_scores(plan, as_table(appraisals, "appraisals"))
    by_key: dict[tuple[str, Period], Scores] = {}
    for s in scores:
        if s.period.kind != plan.period:
            msg = f"the appraisals are per {s.period.kind}, but pay plan '{plan.id}' pays per {plan.period}"
            raise DataError(msg)
        if (s.subject, s.period) in by_key:
            raise DataError(f"'{s.subject}' is appraised twice in {s.period}")
        by_key[(s.subject, s.period)] = s
    credited = credits
    if credited is not None and is_attribution(credited):
        credited = credits_from_attribution(credited)
    credit_table = as_table(credited, "credits") if credited is not None else None
    credit_lines = prepare_credits(credit_table, plan.places) if credit_table is not None else ()
    credit_lines = tuple(c for c in credit_lines if c.person != HOUSE)  # the company's deals: nobody's pay
    on_rows = facts_on_credits(credit_table) if credit_table is not None else None
    if on_rows is not None and deals is not None:
        msg = "deal facts are given both on the credit rows and in a deals file: give them once"
        raise DataError(msg)
    facts = on_rows if on_rows is not None else (as_table(deals, "deals") if deals is not None else None)
    deal_facts = prepare_deals(facts, credit_lines) if facts is not None else {}
    paid_lines = prepare_paid(plan, as_table(paid, "paid")) if paid is not None else ()
    _check_reads(plan, by_key.values())
    warnings = _warnings(people_rows, credit_lines)
    return PayInputs(people_rows, by_key, credit_lines, deal_facts, paid_lines, tuple(warnings))


def _check_reads(plan: PayPlan, scores: Iterable[Scores]) -> None:
    """Every value the plan reads is a value of the appraisals (else one located error per name)."""
    available: set[str] = {"total", "grade"}
    any_scores = False
    for s in scores:
        any_scores = True
        available.update(s.values)
    if not any_scores:
        return
    issues: list[Issue] = []
    spec = plan.spec
    for i, c in enumerate(spec.components):
        if c.measure is not None and c.measure not in available:
            issues.append(_plan_issue(plan, c.measure, ("components", i, "measure"), available))
    for i, g in enumerate(plan.gates):
        if g.when is not None:
            issues.extend(
                _plan_issue(plan, name, ("gates", i, "when"), available) for name in sorted(g.when.names - available)
            )
    if issues:
        raise RulesetError.from_issues(issues, f"pay plan {plan.file}")


def _plan_issue(plan: PayPlan, name: str, path: tuple[str | int, ...], available: set[str]) -> Issue:
    where = plan.source_map.locate(path) if plan.source_map is not None else Location(plan.file)
    shown = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
    return Issue(
        "unknown_value",
        f"'{name}' is not a value of the appraisal (it has {', '.join(sorted(available)[:12])}…)",
        shown,
        where,
        "error",
        did_you_mean(name, available),
    )


def _warnings(people: Mapping[str, Sequence[Assignment]], lines: Sequence[CreditLine]) -> list[Issue]:
    out: list[Issue] = []
    strangers: dict[str, list[CreditLine]] = defaultdict(list)
    for c in lines:
        rows = people.get(c.person)
        if rows is None:
            strangers[c.person].append(c)
        elif not any(a.covers(c.date) for a in rows):
            out.append(
                Issue(
                    "not_employed",
                    f"deal '{c.deal_id}' is credited to '{c.person}' on {c.date}, outside their assignments: not paid",
                    "credited_to",
                    c.where,
                    "warning",
                )
            )
    for person, theirs in sorted(strangers.items()):
        deals = ", ".join(c.deal_id for c in theirs[:5]) + ("…" if len(theirs) > 5 else "")  # noqa: PLR2004
        out.append(
            Issue(
                "not_in_people",
                f"'{person}' is credited with {len(theirs)} deal(s) ({deals}) but is not in the people file: not paid",
                "credited_to",
                theirs[0].where,
                "warning",
            )
        )
    return out


# --- periods and proration ----------------------------------------------------------------------


def year_start(plan: PayPlan, period: Period) -> dt.date:
    """The first day of the plan year holding ``period``."""
    first = plan.spec.year_starts
    day = period.start
    return dt.date(day.year if day.month >= first else day.year - 1, first, 1)


def periods_between(first: Period, last: Period) -> list[Period]:
    """Every period from ``first`` through ``last``."""
    out: list[Period] = []
    p = first
    while p <= last:
        out.append(p)
        p = Period(p.kind, p.next_start())
    return out


def period_target(plan: PayPlan, a: Assignment) -> Fraction:
    """The target incentive of one full pay period for an assignment."""
    if plan.spec.incentive_per == "period":
        return a.target_incentive
    return a.target_incentive * MONTHS_PER[plan.period] / 12


@attrs.frozen
class _Stretch:
    """An assignment's days in a period: the working days employed and the period's working days."""

    assignment: Assignment
    first: dt.date
    last: dt.date
    working: int
    of: int

    @property
    def weight(self) -> Fraction:
        return Fraction(self.working, self.of) if self.of else Fraction(1)


def stretches(plan: PayPlan, rows: Sequence[Assignment], period: Period) -> list[_Stretch]:
    """The assignments a person holds during ``period``, each with its working days (proration)."""
    end = period.next_start() - dt.timedelta(days=1)
    cal = plan.calendar
    out: list[_Stretch] = []
    of: int | None = None
    for a in rows:
        first = max(a.start or period.start, period.start)
        last = min(a.end or end, end)
        if last < first:
            continue
        if of is None:
            of = working_days(cal, period.start, end)
        if of:
            working = working_days(cal, first, last)
            out.append(_Stretch(a, first, last, working, of))
        else:  # a period without working days: calendar days instead
            out.append(_Stretch(a, first, last, (last - first).days + 1, (end - period.start).days + 1))
    return out


# --- money --------------------------------------------------------------------------------------


def _line(
    line_id: str,
    kind: Any,
    component: str | None,
    amount: Decimal,
    exact: Fraction,
    words: Words | Joined,
    details: Mapping[str, Any],
) -> PayLine:
    """A payout line whose trace is ``words`` in English (the words kept to render in another language)."""
    return PayLine(line_id, kind, component, amount, exact, render(words), details, words)


class _Money:
    def __init__(self, plan: PayPlan) -> None:
        self.places = plan.places
        self.mode = plan.mode
        self.unit = 10**plan.places

    def round(self, value: Fraction) -> Decimal:
        return quantize(value, self.places, self.mode)

    def units(self, value: Decimal) -> int:
        return int(value.scaleb(self.places))

    def of_units(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.places)

    def show(self, value: Fraction | Decimal) -> str:
        return money(value, self.places, self.mode)

    def split(self, total: Decimal, weights: Sequence[tuple[Any, Fraction]]) -> dict[Any, Decimal]:
        """``total`` apportioned by largest remainder (the row kernel ``ops.money.split``, in money)."""
        parts = money_ops.split(self.units(total), weights)
        return {k: self.of_units(v) for k, v in parts.items()}


# --- the run ------------------------------------------------------------------------------------


@attrs.define
class _Held:
    component: str
    deal: CreditLine
    amount: Decimal
    since: Period


@attrs.define
class _Paid:
    """What a component paid on one deal, in which period, on what credited amount, of what whole deal.

    An override may count both parts of a split deal: they are added up here.
    """

    amount: Decimal
    period: Period
    credited: Fraction
    deal_amount: Fraction


@attrs.define
class _State:
    """What carries from one period to the next for one person."""

    paid: dict[tuple[str, str], _Paid] = attrs.field(factory=dict)  # (component, deal) →
    held: dict[tuple[str, str], _Held] = attrs.field(factory=dict)
    balance: Decimal = DZERO
    done: dict[Period, PersonPay] = attrs.field(factory=dict)
    schedule: list[Decimal] = attrs.field(factory=list)  # instalments still to recover (they add up to balance)
    instalment: int = 0  # the number of the last instalment due


class _Run:
    """The row executor over one pay plan and its validated inputs."""

    def __init__(self, plan: PayPlan, inputs: PayInputs, period: Period) -> None:
        self.plan = plan
        self.inputs = inputs
        self.money = _Money(plan)
        self.period = period
        self.credits_of: dict[str, list[CreditLine]] = defaultdict(list)
        for c in inputs.credits:
            self.credits_of[c.person].append(c)
        self.team_credits: dict[str, list[CreditLine]] = defaultdict(list)  # team → its members' credits
        for c in inputs.credits:
            a = self.assignment_on(c.person, c.date)
            if a is not None and a.team is not None:
                self.team_credits[a.team].append(c)
        self.paid_by: dict[str, list[PaidLine]] = defaultdict(list)
        for line in inputs.paid:
            self.paid_by[line.person].append(line)
        first = self.first_period()
        self.periods = periods_between(first, period) if first <= period else [period]
        self.issues: list[Issue] = []
        self.pools: dict[tuple[str, str, Period], dict[str, PayLine]] = {}  # (component, team, period) →
        self.teams: dict[Period, dict[str, list[tuple[str, _Stretch]]]] = {}
        self.reported: set[tuple[str, Location]] = set()  # missing pool weights, reported once
        self.plan_has_pools = any(c.kind == "pool" for c in plan.components)
        self.stretched: dict[tuple[str, Period], list[_Stretch]] = {}  # pools read everyone's; computed once

    def stretches_of(self, person: str, rows: Sequence[Assignment], p: Period) -> list[_Stretch]:
        """``stretches`` of this plan's rows of ``person`` in ``p``, computed once (pools read every member's)."""
        key = (person, p)
        found = self.stretched.get(key)
        if found is None:
            found = self.stretched[key] = stretches(self.plan, rows, p)
        return found

    def first_period(self) -> Period:
        """The first period computed: the plan year's first, or an earlier one the inputs reach back to."""
        kind = self.plan.period
        starts = [Period.containing(year_start(self.plan, self.period), kind)]
        starts += [k[1] for k in self.inputs.scores]
        starts += [Period.containing(c.date, kind) for c in self.inputs.credits]
        starts += [line.period for line in self.inputs.paid]
        return min(starts)

    def own_rows(self, person: str) -> tuple[Assignment, ...]:
        """The assignments of ``person`` this plan pays."""
        return tuple(a for a in self.inputs.people.get(person, ()) if a.plan in {None, self.plan.id})

    def assignment_on(self, person: str, day: dt.date) -> Assignment | None:
        for a in self.inputs.people.get(person, ()):
            if a.covers(day):
                return a
        return None

    def run(self) -> tuple[tuple[PersonPay, ...], dict[str, tuple[PersonPay, ...]]]:
        history: dict[str, list[PersonPay]] = defaultdict(list)
        current: list[PersonPay] = []
        for person, rows in self.inputs.people.items():
            if not any(a.plan in {None, self.plan.id} for a in rows):
                continue  # paid by another plan: here only for the teams
            rows = self.own_rows(person)  # noqa: PLW2901 - this plan's rows
            state = _State()
            for p in self.periods:
                result = self.person_period(person, rows, p, state)
                if result is None:
                    continue
                state.done[p] = result
                history[str(p)].append(result)
                if p == self.period:
                    current.append(result)
        if self.issues:
            raise DataError.from_issues(self.issues, "pay")
        return tuple(current), {k: tuple(v) for k, v in history.items()}

    # --- one person, one period -----------------------------------------------------------------

    def person_period(self, person: str, rows: Sequence[Assignment], p: Period, state: _State) -> PersonPay | None:
        plan = self.plan
        parts = self.stretches_of(person, rows, p) if self.plan_has_pools else stretches(plan, rows, p)
        lines: list[PayLine] = []
        notes: list[Words] = []
        primary = self.scores_for(person, parts[-1], p) if parts else None
        applied = self.gates(primary) if primary is not None else {}
        deal_lines: dict[str, list[tuple[CreditLine, Decimal]]] = {}
        for comp in plan.components:
            if comp.kind == "pool":
                line = self.pooled(comp, person, parts, p)
            elif comp.targeted:
                line = self.targeted(comp, person, parts, p, applied)
            else:
                line, allocation = self.dealt(comp, person, parts, p, applied)
                deal_lines[comp.id] = allocation
            if line is not None:
                lines.append(line)
        target = sum((period_target(plan, s.assignment) * s.weight for s in parts), ZERO)
        cap = self.person_cap(lines, target)
        if cap is not None:
            lines.append(cap)
        lines.extend(self.holds_and_releases(deal_lines, p, state))
        clawbacks, more_notes = self.clawbacks(p, state)
        lines.extend(clawbacks)
        notes.extend(more_notes)
        if p == self.period:
            lines.extend(self.true_ups(person, p, state))
        lines.extend(self.draw_and_balance(rows, parts, lines, p, state))
        employed = bool(parts)
        if not employed and not lines and state.balance == 0 and not state.held:
            return None
        total = sum((ln.amount for ln in lines), DZERO)
        ys = year_start(plan, p)
        ytd = total + sum((r.total for q, r in state.done.items() if q.start >= ys), DZERO)
        # an earlier period of the year counts as recomputed, which already holds what its true-up pays now
        trued = [ln for ln in lines if ln.kind == "true_up"]
        ytd -= sum((ln.amount for ln in trued if Period.parse(ln.details["period"], plan.period).start >= ys), DZERO)
        name = next((a.name for a in reversed(rows) if a.name), None)
        return PersonPay(
            person=person,
            name=name,
            period=str(p),
            lines=tuple(lines),
            total=total,
            target=self.money.round(target),
            year_to_date=ytd,
            balance=state.balance,
            held=sum((h.amount for h in state.held.values()), DZERO),
            segments=tuple(
                Segment(
                    str(s.first),
                    str(s.last),
                    s.assignment.team,
                    s.assignment.leads,
                    s.working,
                    s.of,
                    self.money.round(period_target(plan, s.assignment) * s.weight),
                )
                for s in parts
            ),
            appraisal=_appraisal_summary(primary),
            notes=tuple(n.render() for n in notes),
            note_words=tuple(notes),
        )

    def subject(self, person: str, part: _Stretch) -> str | None:
        if self.plan.spec.appraised == "led_team":
            return part.assignment.leads
        return person

    def scores_for(self, person: str, part: _Stretch, p: Period) -> Scores | None:
        subject = self.subject(person, part)
        return None if subject is None else self.inputs.scores.get((subject, p))

    # --- gates ----------------------------------------------------------------------------------

    def gates(self, scores: Scores) -> dict[str, list[tuple[Gate, Words | Name]]]:
        """Applied gates by component id, each with the words of why."""
        out: dict[str, list[tuple[Gate, Words | Name]]] = defaultdict(list)
        for gate in self.plan.gates:
            why: Words | Name
            if gate.scorecard_gate is not None:
                holds = gate.scorecard_gate in scores.gates
                why = w("the scorecard's gate '{gate}' applied", gate=Name("scorecard_gate", gate.scorecard_gate))
            else:
                assert gate.when is not None
                env: dict[str, Any] = {k: v for k, v in scores.values.items() if k.isidentifier()}
                env["total"] = scores.total
                env["grade"] = scores.grade
                holds = gate.when.evaluate(env) is True
                why = Name("condition", gate.when.text)
            if holds:
                for cid in gate.components:
                    out[cid].append((gate, why))
        return out

    def gated(
        self, comp: Component, amount: Fraction, target: Fraction, applied: Mapping[str, Any]
    ) -> tuple[Fraction, list[Words]]:
        words: list[Words] = []
        for gate, why in applied.get(comp.id, ()):
            # ``about``: why in the plan's own words where it gives them (a translation may show only that)
            about: Words | Name | str = gate.reason or why
            named = {"gate": Name("gate", gate.id), "why": why, "about": about}
            if gate.zero:
                if amount and gate.reason:
                    words.append(w("gate '{gate}': {why} ({reason}): nothing paid", **named, reason=gate.reason))
                elif amount:
                    words.append(w("gate '{gate}': {why}: nothing paid", **named))
                amount = ZERO
            else:
                assert gate.cap is not None
                limit = gate.cap.limit(target)
                cap = gate.cap.describe()
                if amount > limit:
                    shown = self.money.show(limit)
                    if gate.reason:
                        words.append(
                            w(
                                "gate '{gate}': {why} ({reason}): {cap} → {limit}",
                                **named,
                                reason=gate.reason,
                                cap=cap,
                                limit=shown,
                            )
                        )
                    else:
                        words.append(w("gate '{gate}': {why}: {cap} → {limit}", **named, cap=cap, limit=shown))
                    amount = limit
                else:
                    words.append(w("gate '{gate}': {why}: {cap} not reached", **named, cap=cap))
        return amount, words

    # --- grade and curve components -------------------------------------------------------------

    def targeted(
        self, comp: Component, person: str, parts: Sequence[_Stretch], p: Period, applied: Mapping[str, Any]
    ) -> PayLine | None:
        if not parts:
            return None
        plan = self.plan
        exact = ZERO
        target_total = ZERO
        pieces: list[Words] = []
        details: list[dict[str, Any]] = []
        reached: list[str] = []
        for part in parts:
            full = period_target(plan, part.assignment) * comp.share
            weight = part.weight if comp.prorate else Fraction(1)
            target = full * weight
            target_total += target
            whole = self.money.show(period_target(plan, part.assignment))
            shown_target: Words | str
            if weight != 1:
                shown_target = w(
                    "{target} × {share} × {days}/{of} working days",
                    target=whole,
                    share=percent(comp.share),
                    days=str(part.working),
                    of=str(part.of),
                )
            else:
                shown_target = f"{whole} × {percent(comp.share)}"
            factor, words, tier = self.factor(comp, person, part, p)
            reached.append(tier)
            exact += factor * target
            if words.render().endswith("nothing paid"):
                pieces.append(
                    w("{why} (target {target} = {how})", why=words, target=self.money.show(target), how=shown_target)
                )
            else:
                pieces.append(
                    w(
                        "{why}: {factor} × target {target} ({how}) = {worth}",
                        why=words,
                        factor=percent(factor),
                        target=self.money.show(target),
                        how=shown_target,
                        worth=self.money.show(factor * target),
                    )
                )
            details.append(
                {
                    "from": str(part.first),
                    "to": str(part.last),
                    "target": canonical(target),
                    "factor": canonical(factor),
                    "working_days": part.working,
                    "of": part.of,
                }
            )
        notes: list[Words] = []
        amount = exact
        if comp.cap is not None:
            limit = comp.cap.limit(target_total)
            if amount > limit:
                notes.append(
                    w(
                        "{cap} reached: {amount} → {limit}",
                        cap=comp.cap.describe(),
                        amount=self.money.show(amount),
                        limit=self.money.show(limit),
                    )
                )
                amount = limit
        amount, gate_words = self.gated(comp, amount, target_total, applied)
        notes.extend(gate_words)
        rounded = self.money.round(amount)
        trace = Joined("; ", (Joined(" + ", tuple(pieces)), *notes))
        return _line(
            comp.id,
            "component",
            comp.id,
            rounded,
            amount,
            trace,
            {
                "target": canonical(target_total),
                "parts": details,
                "notes": [n.render() for n in notes],
                "tier": " / ".join(reached),
            },
        )

    def factor(self, comp: Component, person: str, part: _Stretch, p: Period) -> tuple[Fraction, Words, str]:
        """The share of the target a grade or curve component pays, why in words, and the tier reached."""
        subject = self.subject(person, part)
        scores = self.inputs.scores.get((subject, p)) if subject is not None else None
        if subject is None:
            return ZERO, w("{person} leads no team in {period}: nothing paid", person=person, period=str(p)), "-"
        if scores is None:
            return ZERO, w("{subject} was not appraised in {period}: nothing paid", subject=subject, period=str(p)), "-"
        if comp.kind == "grade":
            return self.grade_factor(comp, scores)
        assert comp.curve is not None
        assert comp.measure is not None
        value = scores.total if comp.measure == "total" else scores.values.get(comp.measure)
        measure = Name("measure", comp.measure)
        if value is None:
            return ZERO, w("{measure} is N/A: nothing paid", measure=measure), "-"
        ev = tiers.evaluate(comp.curve, value)
        shown = _measure_text(comp.measure, value)
        if ev.below_threshold:
            bound = comp.curve.threshold if comp.curve.threshold is not None else comp.curve.levels[0].at
            return (
                ZERO,
                w(
                    "{measure} {value} is below the threshold {bound}: nothing paid",
                    measure=measure,
                    value=shown,
                    bound=_measure_text(comp.measure, bound),
                ),
                "below threshold",
            )
        words = w("{measure} {value} ({curve})", measure=measure, value=shown, curve=_curve_words(comp, ev))
        return ev.value, words, _tier_name(comp, ev)

    def grade_factor(self, comp: Component, scores: Scores) -> tuple[Fraction, Words, str]:
        grade = scores.grade
        if grade is None:
            words = w(
                "{subject} has no grade in {period}: nothing paid", subject=scores.subject, period=str(scores.period)
            )
            return ZERO, words, "-"
        if comp.multipliers is None:
            if scores.bonus_multiplier is None:
                self.issues.append(
                    Issue(
                        "no_multiplier",
                        f"grade '{grade}' of '{scores.subject}' in {scores.period} "
                        f"has no bonus_multiplier in the scorecard, and component '{comp.id}' gives no "
                        "multipliers",
                    )
                )
                return ZERO, w("no multiplier"), "-"
            return (
                scores.bonus_multiplier,
                w("grade {grade} (the scorecard's multiplier)", grade=grade),
                grade,
            )
        multiplier = comp.multipliers.get(grade)
        if multiplier is None:
            known = ", ".join(comp.multipliers)
            self.issues.append(
                Issue(
                    "no_multiplier",
                    f"grade '{grade}' of '{scores.subject}' in {scores.period} has "
                    f"no multiplier in component '{comp.id}' (it has {known})",
                )
            )
            return ZERO, w("no multiplier"), "-"
        return multiplier, w("grade {grade}", grade=grade), grade

    # --- pools ----------------------------------------------------------------------------------

    def members(self, p: Period) -> dict[str, list[tuple[str, _Stretch]]]:
        """Each team's members paid by this plan in ``p``, in person order (largest-remainder ties: the earlier).

        A person counts in the team of their last assignment of the period.
        """
        found = self.teams.get(p)
        if found is None:
            found = defaultdict(list)
            for person in self.inputs.people:
                parts = self.stretches_of(person, self.own_rows(person), p)
                if parts and parts[-1].assignment.team is not None:
                    found[parts[-1].assignment.team].append((person, parts[-1]))
            self.teams[p] = found
        return found

    def pooled(self, comp: Component, person: str, parts: Sequence[_Stretch], p: Period) -> PayLine | None:
        """The person's part of their team's pool (computed once per team and period)."""
        if not parts:
            return None
        team = parts[-1].assignment.team
        if team is None:
            words = w("{person} is in no team in {period}: no part of a pool", person=person, period=str(p))
            return _line(comp.id, "component", comp.id, DZERO, ZERO, words, {"team": None})
        key = (comp.id, team, p)
        if key not in self.pools:
            self.pools[key] = self.pool_lines(comp, team, p)
        return self.pools[key][person]

    def pool_amount(self, comp: Component, team: str, p: Period, size: int) -> tuple[Fraction | None, Words | None]:
        """The team's pool in ``p`` (exact; ``None``: N/A) and, for a formula, how it was worked out."""
        if comp.formula is None:
            return comp.amount, None
        start, end = p.start, p.next_start()
        credited = sum((c.amount for c in self.team_credits.get(team, ()) if start <= c.date < end), ZERO)
        scores = self.inputs.scores.get((team, p))
        values: dict[str, Fraction | None] = {
            "team_credited": credited,
            "team_total": scores.total if scores is not None else None,
            "members": Fraction(size),
        }
        result = comp.formula.evaluate(values)
        read = ", ".join(
            f"{k} {number(v) if v is not None else 'N/A'}" for k, v in values.items() if k in comp.formula.names
        )
        pool = None if result is None else Fraction(result)
        shown = self.money.show(pool) if pool is not None else "N/A"
        return pool, w("{formula} = {pool} ({read})", formula=Name("formula", comp.formula.text), pool=shown, read=read)

    def pool_lines(self, comp: Component, team: str, p: Period) -> dict[str, PayLine]:
        """Every member's line of one team's pool: the rounded pool split by largest remainder."""
        members = self.members(p).get(team, [])
        exact, how = self.pool_amount(comp, team, p, len(members))
        head: Words = w("pool of {team}", team=team)
        if how is not None:
            head = w("pool of {team}: {how}", team=team, how=how)
        if exact is None:
            words = w("{pool}: N/A, nothing paid", pool=head)
            return {m: _line(comp.id, "component", comp.id, DZERO, ZERO, words, {"team": team}) for m, _ in members}
        if exact < 0:
            index = next(i for i, c in enumerate(self.plan.spec.components) if c.id == comp.id)
            path = ("components", index, "amount")
            smap = self.plan.source_map
            self.issues.append(
                Issue(
                    "bad_pool",
                    f"the pool '{comp.id}' of team '{team}' in {p} is {number(exact)}: a pool is never negative",
                    f"components[{index}].amount",
                    smap.locate(path) if smap is not None else Location(self.plan.file),
                    "error",
                    "write the formula so that it cannot go below 0, e.g. max(0, …)",
                )
            )
            exact = ZERO
        pool = self.money.round(exact)
        weights: list[tuple[str, Fraction]] = []
        for member, part in members:
            weights.append((member, self.pool_weight(comp, member, part, p)))
        whole = sum((wt for _, wt in weights), ZERO)
        what = comp.split or "equal"
        split_name = {"equal": w("equal"), "score": w("score"), "credited": w("credited"), "weight": w("weight")}[what]
        details = {"team": team, "pool": format(pool, "f"), "split": what, "weights": canonical(whole)}
        out: dict[str, PayLine] = {}
        if whole == 0:
            words = w(
                "{pool} {amount}: every member's {split} is 0, so nobody's part can be worked out: not paid",
                pool=head,
                amount=self.money.show(pool),
                split=split_name,
            )
            for member, _ in weights:
                out[member] = _line(comp.id, "component", comp.id, DZERO, ZERO, words, {**details, "weight": "0"})
            return out
        parts = self.money.split(pool, [(m, wt) for m, wt in weights])
        for member, wt in weights:
            share = Fraction(pool) * wt / whole
            amount = parts[member]
            shown: Words | str = self.money.show(pool)
            if how is None:
                shown = w("pool of {team} {pool}", team=team, pool=shown)
            if comp.split == "equal":
                split_words = w(
                    "{pool} × 1/{n} (equal parts) = {amount}",
                    pool=shown,
                    n=str(len(weights)),
                    amount=self.money.show(amount),
                )
            else:
                split_words = w(
                    "{pool} × {split} {weight}/{whole} = {amount}",
                    pool=shown,
                    split=split_name,
                    weight=number(wt),
                    whole=number(whole),
                    amount=self.money.show(amount),
                )
            pieces: list[Words] = [head, split_words] if how is not None else [split_words]
            if amount != self.money.round(share):
                exact_part = number(quantize(share, self.money.places + 4, "half_even"))
                pieces.append(w("a cent by largest remainder (exact part ≈ {exact})", exact=exact_part))
            out[member] = _line(
                comp.id,
                "component",
                comp.id,
                amount,
                share,
                Joined("; ", tuple(pieces)),
                {**details, "weight": canonical(wt)},
            )
        return out

    def pool_weight(self, comp: Component, person: str, part: _Stretch, p: Period) -> Fraction:
        """A member's weight in the split (negative scores count as 0)."""
        if comp.split == "equal":
            return Fraction(1)
        if comp.split == "score":
            scores = self.scores_for(person, part, p)
            total = scores.total if scores is not None else None
            return max(total, ZERO) if total is not None else ZERO
        if comp.split == "credited":
            rows = self.own_rows(person)
            start, end = p.start, p.next_start()
            return sum(
                (
                    c.amount
                    for c in self.credits_of.get(person, ())
                    if start <= c.date < end and any(a.covers(c.date) for a in rows)
                ),
                ZERO,
            )
        weight = part.assignment.pool_weight
        if weight is None:
            if (comp.id, part.assignment.where) in self.reported:
                return ZERO
            self.reported.add((comp.id, part.assignment.where))
            self.issues.append(
                Issue(
                    "missing_value",
                    f"'pool_weight' is required: pool '{comp.id}' is split by weight and '{person}' is in "
                    f"team '{part.assignment.team}' in {p}",
                    "pool_weight",
                    part.assignment.where,
                )
            )
            return ZERO
        return weight

    # --- commission and override ----------------------------------------------------------------

    def deals_of(self, comp: Component, person: str, rows: Sequence[Assignment]) -> list[CreditLine]:
        """The credited deal lines a deal component of ``person`` counts, in date order."""
        out: list[CreditLine] = []
        if comp.kind == "commission":
            candidates: Iterable[CreditLine] = (
                c for c in self.credits_of.get(person, ()) if any(a.covers(c.date) for a in rows)
            )
        else:
            led = {a.leads for a in rows if a.leads}
            candidates = (
                c
                for team in sorted(led)
                for c in self.team_credits.get(team, ())
                if c.person != person and any(a.covers(c.date) and a.leads == team for a in rows)
            )
        for c in candidates:
            deal = self.inputs.deals.get(c.deal_id)
            if comp.products is not None and (deal is None or deal.product not in comp.products):
                continue
            if comp.types is not None and (deal is None or deal.type not in comp.types):
                continue
            out.append(c)
        out.sort(key=lambda c: (c.date, c.deal_id, c.person))
        return out

    def dealt(
        self, comp: Component, person: str, parts: Sequence[_Stretch], p: Period, applied: Mapping[str, Any]
    ) -> tuple[PayLine | None, list[tuple[CreditLine, Decimal]]]:
        plan = self.plan
        curve = comp.curve
        assert curve is not None
        rows = self.own_rows(person)
        all_deals = self.deals_of(comp, person, rows)
        start, end = p.start, p.next_start()
        now = [c for c in all_deals if start <= c.date < end]
        ytd = comp.basis == "year_to_date"
        ys = year_start(plan, p)
        before_deals = [c for c in all_deals if ys <= c.date < start] if ytd else []
        if not now and not parts:
            return None, []
        target = sum((period_target(plan, s.assignment) * comp.share for s in parts), ZERO)
        cap_target = target
        if ytd and comp.cap is not None and comp.cap.target is not None:
            cap_target = self.ytd_target(comp, person, p)
        limit = comp.cap.limit(cap_target) if comp.cap is not None else None

        def capped(x: Fraction) -> Fraction:
            value = tiers.evaluate(curve, x).value
            return min(value, limit) if limit is not None else value

        before = sum((c.amount for c in before_deals), ZERO)
        after = before + sum((c.amount for c in now), ZERO)
        rnd = self.money.round
        if ytd:
            line_amount = rnd(capped(after)) - rnd(capped(before))
            uncapped = rnd(tiers.evaluate(curve, after).value) - rnd(tiers.evaluate(curve, before).value)
        else:
            line_amount = rnd(capped(after))
            uncapped = rnd(tiers.evaluate(curve, after).value)
        exact = capped(after) - capped(before)
        ev = tiers.between(curve, before, after) if ytd else tiers.evaluate(curve, after)
        words = [self.slice_words(comp, ev, before, after, uncapped, ytd=ytd, count=len({c.deal_id for c in now}))]
        if comp.cap is not None:
            if uncapped > line_amount:
                words.append(
                    w(
                        "{cap} reached: {amount} → {limit}",
                        cap=comp.cap.describe(),
                        amount=self.money.show(uncapped),
                        limit=self.money.show(line_amount),
                    )
                )
            elif line_amount:
                words.append(w("{cap} not reached", cap=comp.cap.describe()))
        gated_value, gate_words = self.gated(comp, Fraction(line_amount), target, applied)
        words.extend(gate_words)
        amount = rnd(gated_value)
        # each deal's part: what it added to the (capped) curve, apportioned to the cent
        weights: list[tuple[int, Fraction]] = []
        cum = before
        for i, c in enumerate(now):
            weights.append((i, capped(cum + c.amount) - capped(cum)))
            cum += c.amount
        parts_of = self.money.split(amount, weights) if now else {}
        allocation = [(c, parts_of[i]) for i, c in enumerate(now)]
        details = {
            "basis": comp.basis,
            "before": canonical(before),
            "after": canonical(after),
            "deals": [
                {
                    "deal_id": c.deal_id,
                    "credited_to": c.person,
                    "amount": canonical(c.amount),
                    "date": str(c.date),
                    "pay": format(v, "f"),
                }
                for c, v in allocation
            ],
            "slices": [_slice_dict(s) for s in ev.slices],
            "tier": "below threshold" if ev.below_threshold else (ev.slices[-1].tier if ev.slices else "-"),
        }
        return _line(comp.id, "component", comp.id, amount, exact, Joined("; ", tuple(words)), details), allocation

    def ytd_target(self, comp: Component, person: str, p: Period) -> Fraction:
        plan = self.plan
        ys = year_start(plan, p)
        rows = self.own_rows(person)
        total = ZERO
        for q in self.periods:
            if ys <= q.start <= p.start:
                total += sum((period_target(plan, s.assignment) * comp.share for s in stretches(plan, rows, q)), ZERO)
        return total

    def slice_words(
        self,
        comp: Component,
        ev: tiers.Evaluation,
        before: Fraction,
        after: Fraction,
        total: Decimal,
        *,
        ytd: bool,
        count: int,
    ) -> Words:
        curve = comp.curve
        assert curve is not None
        if ytd:
            basis = w("year to date {before} → {after}", before=number(before), after=number(after))
        else:
            basis = w("credited {amount}", amount=number(after))
        if count == 1:
            base = w("{basis} (1 deal this period)", basis=basis)
        elif count:
            base = w("{basis} ({count} deals this period)", basis=basis, count=str(count))
        else:
            base = w("{basis} (no deal this period)", basis=basis)
        if ev.below_threshold:
            return w(
                "{base}: below the threshold {threshold}: nothing paid",
                base=base,
                threshold=number(curve.threshold or 0),
            )
        if not ev.slices:
            return w("{base}: nothing paid", base=base)
        if curve.kind == "marginal":
            shares = self.money.split(total, [(i, s.amount) for i, s in enumerate(ev.slices)])
            pieces = tuple(
                w(
                    "{low} → {high} at {rate} = {amount}",
                    low=number(s.low),
                    high=number(s.high),
                    rate=percent(s.rate or 0),
                    amount=self.money.show(shares[i]),
                )
                for i, s in enumerate(ev.slices)
            )
            return w("{base}: {slices}", base=base, slices=Joined("; ", pieces))
        s = ev.slices[0]
        step = w(
            "{base}: {amount} at {rate} ('{tier}') = {pay}",
            base=base,
            amount=number(s.high),
            rate=percent(s.rate or 0),
            tier=s.tier,
            pay=self.money.show(s.amount),
        )
        if ytd and before:
            earlier = tiers.evaluate(curve, before).value
            return w(
                "{step} minus {earlier} for the year before = {total}",
                step=step,
                earlier=self.money.show(earlier),
                total=self.money.show(total),
            )
        return step

    # --- the person's cap -----------------------------------------------------------------------

    def person_cap(self, lines: Sequence[PayLine], target: Fraction) -> PayLine | None:
        cap = self.plan.person_cap
        if cap is None:
            return None
        earned = sum((ln.amount for ln in lines), DZERO)
        limit = self.money.round(cap.limit(target))
        if earned <= limit:
            return None
        cut = limit - earned
        trace = w(
            "person {cap}: earned {earned} → {limit}",
            cap=cap.describe(),
            earned=self.money.show(earned),
            limit=self.money.show(limit),
        )
        return _line("cap.person", "cap", None, cut, Fraction(cut), trace, {"limit": format(limit, "f")})

    # --- held until paid, released, clawed back -------------------------------------------------

    def holds_and_releases(
        self, deal_lines: Mapping[str, Sequence[tuple[CreditLine, Decimal]]], p: Period, state: _State
    ) -> list[PayLine]:
        out: list[PayLine] = []
        end = p.next_start() - dt.timedelta(days=1)
        for comp in self.plan.components:
            if comp.kind not in DEALS:
                continue
            allocation = deal_lines.get(comp.id, ())
            held_now: list[tuple[CreditLine, Decimal]] = []
            for c, amount in allocation:
                key = (comp.id, c.deal_id)
                before = state.paid.get(key)
                if before is not None and before.period == p:  # another part of a split deal (an override)
                    before.amount += amount
                    before.credited += c.amount
                else:
                    state.paid[key] = _Paid(amount, p, c.amount, c.deal_amount)
                deal = self.inputs.deals.get(c.deal_id)
                unpaid = deal is None or deal.paid is None or deal.paid > end
                if comp.release == "on_payment" and unpaid and amount:
                    held_now.append((c, amount))
            released = [
                h for key, h in sorted(state.held.items()) if key[0] == comp.id and self.paid_by_end(h.deal, end)
            ]
            if released:
                total = sum((h.amount for h in released), DZERO)
                words = tuple(
                    w(
                        "{deal} paid {paid}: {amount} held since {since}",
                        deal=h.deal.deal_id,
                        paid=str(self.deal(h.deal).paid),
                        amount=self.money.show(h.amount),
                        since=str(h.since),
                    )
                    for h in released
                )
                out.append(
                    _line(
                        f"{comp.id}.released",
                        "released",
                        comp.id,
                        total,
                        Fraction(total),
                        w("released: {deals}", deals=Joined("; ", words)),
                        {"deals": [h.deal.deal_id for h in released]},
                    )
                )
                for h in released:
                    del state.held[(comp.id, h.deal.deal_id)]
            if held_now:
                total = sum((a for _, a in held_now), DZERO)
                words = tuple(
                    w("{deal} {amount} ({when})", deal=c.deal_id, amount=self.money.show(a), when=self.unpaid_words(c))
                    for c, a in held_now
                )
                out.append(
                    _line(
                        f"{comp.id}.held",
                        "held",
                        comp.id,
                        -total,
                        Fraction(-total),
                        w("held until the deal is paid: {deals}", deals=Joined("; ", words)),
                        {"deals": [c.deal_id for c, _ in held_now]},
                    )
                )
                for c, a in held_now:
                    key = (comp.id, c.deal_id)
                    if key in state.held:  # another part of a split deal (an override): held together
                        state.held[key].amount += a
                    else:
                        state.held[key] = _Held(comp.id, c, a, p)
        return out

    def deal(self, c: CreditLine) -> Deal:
        return self.inputs.deals.get(c.deal_id) or Deal(c.deal_id)

    def paid_by_end(self, c: CreditLine, end: dt.date) -> bool:
        deal = self.inputs.deals.get(c.deal_id)
        return deal is not None and deal.paid is not None and deal.paid <= end

    def unpaid_words(self, c: CreditLine) -> Words:
        deal = self.inputs.deals.get(c.deal_id)
        if deal is None or deal.paid is None:
            return w("not paid yet")
        return w("paid {date}", date=str(deal.paid))

    def clawbacks(self, p: Period, state: _State) -> tuple[list[PayLine], list[Words]]:
        out: list[PayLine] = []
        notes: list[Words] = []
        start, end = p.start, p.next_start()
        for (cid, deal_id), paid in sorted(state.paid.items()):
            amount, paid_in, deal_amount = paid.amount, paid.period, paid.deal_amount
            deal = self.inputs.deals.get(deal_id)
            if deal is None or deal.cancelled is None or not start <= deal.cancelled < end:
                continue
            comp = self.plan.component(cid)
            credit_day = self.credit_day(deal_id)
            days = (deal.cancelled - credit_day).days
            refund = deal.refund if deal.refund is not None else deal_amount
            what = w("cancelled") if deal.refund is None else w("refunded {amount}", amount=number(refund))
            on = str(deal.cancelled)
            held = state.held.pop((cid, deal_id), None)
            if held is not None and refund < deal_amount:  # a partial refund: the rest stays held until paid
                forfeit = self.money.round(Fraction(held.amount) * refund / deal_amount)
                notes.append(
                    w(
                        "{deal} {what} of {whole} on {date} while its {line} of {held} was held: {forfeit} not paid, "
                        "{rest} still held",
                        deal=deal_id,
                        what=what,
                        whole=number(deal_amount),
                        date=on,
                        line=Name("line", cid),
                        held=self.money.show(held.amount),
                        forfeit=self.money.show(forfeit),
                        rest=self.money.show(held.amount - forfeit),
                    )
                )
                held.amount -= forfeit
                state.held[(cid, deal_id)] = held
                continue
            if held is not None:
                notes.append(
                    w(
                        "{deal} {what} on {date} while its {line} of {held} was held: not paid",
                        deal=deal_id,
                        what=what,
                        date=on,
                        line=Name("line", cid),
                        held=self.money.show(held.amount),
                    )
                )
                continue
            if comp.clawback_days is None or days > comp.clawback_days or not amount:
                if comp.clawback_days is not None and amount:
                    notes.append(
                        w(
                            "{deal} {what} on {date}, {days} days after the deal (window {window} days): no clawback",
                            deal=deal_id,
                            what=what,
                            date=on,
                            days=str(days),
                            window=str(comp.clawback_days),
                        )
                    )
                continue
            # the refund is the whole deal's: each part gives back the same share of what was paid on it
            exact = -Fraction(amount) * refund / deal_amount if deal_amount else ZERO
            value = self.money.round(exact)
            rate = Fraction(amount) / paid.credited if paid.credited else ZERO
            counted: Words | str = number(paid.credited)
            if paid.credited != deal_amount:
                counted = w("{part} of the deal's {whole}", part=number(paid.credited), whole=number(deal_amount))
            how = w(
                "paid {amount} in {period} ({rate} of {counted})",
                amount=self.money.show(amount),
                period=str(paid_in),
                rate=rate_text(rate),
                counted=counted,
            )
            if refund != deal_amount:
                how = w(
                    "{paid} × {refund}/{whole} refunded", paid=how, refund=number(refund), whole=number(deal_amount)
                )
            trace = w(
                "{deal} {what} on {date}, {days} days after the deal on {day} (within {window}): {how} → {value}",
                deal=deal_id,
                what=what,
                date=on,
                days=str(days),
                day=str(credit_day),
                window=str(comp.clawback_days),
                how=how,
                value=self.money.show(value),
            )
            out.append(
                _line(
                    f"{cid}.clawback.{deal_id}",
                    "clawback",
                    cid,
                    value,
                    exact,
                    trace,
                    {
                        "deal_id": deal_id,
                        "paid": format(amount, "f"),
                        "paid_in": str(paid_in),
                        "refund": canonical(refund),
                    },
                )
            )
        return out, notes

    def credit_day(self, deal_id: str) -> dt.date:
        return next(c.date for c in self.inputs.credits if c.deal_id == deal_id)

    # --- true-ups -------------------------------------------------------------------------------

    def true_ups(self, person: str, p: Period, state: _State) -> list[PayLine]:
        recorded: dict[tuple[Period, str], Decimal] = defaultdict(lambda: DZERO)
        periods: set[Period] = set()
        for line in self.paid_by.get(person, ()):
            if line.period >= p:
                continue
            amount = Decimal(line.amount.numerator) / Decimal(line.amount.denominator)
            if line.line.startswith("true_up."):
                _, period_text, rest = line.line.split(".", 2)
                try:
                    q = Period.parse(period_text, self.plan.period)
                except ValueError:
                    continue
                recorded[(q, rest)] += amount
                periods.add(q)
            else:
                recorded[(line.period, line.line)] += amount
                periods.add(line.period)
        out: list[PayLine] = []
        for q in sorted(periods):
            now = state.done.get(q)
            current = {ln.id: ln.amount for ln in now.lines} if now is not None else {}
            keys = sorted({k for (qq, k) in recorded if qq == q} | set(current))
            for key in keys:
                was = recorded.get((q, key), DZERO)
                is_ = current.get(key, DZERO)
                if was == is_:
                    continue
                delta = is_ - was
                trace = w(
                    "{period} {line}: recorded {was}, now {now}",
                    period=str(q),
                    line=Name("line", key),
                    was=self.money.show(was),
                    now=self.money.show(is_),
                )
                out.append(
                    _line(
                        f"true_up.{q}.{key}",
                        "true_up",
                        None,
                        delta,
                        Fraction(delta),
                        trace,
                        {"period": str(q), "line": key, "recorded": format(was, "f"), "now": format(is_, "f")},
                    )
                )
        return out

    # --- draw and balance -----------------------------------------------------------------------

    def draw_and_balance(
        self,
        rows: Sequence[Assignment],
        parts: Sequence[_Stretch],
        lines: Sequence[PayLine],
        p: Period,
        state: _State,
    ) -> list[PayLine]:
        out: list[PayLine] = []
        earned = sum((ln.amount for ln in lines), DZERO)
        draw = self.plan.draw
        if draw is not None and parts and self.in_draw_window(rows, p):
            exact = ZERO
            for s in parts:
                per = (
                    draw.amount
                    if draw.amount is not None
                    else (draw.target or ZERO) * period_target(self.plan, s.assignment)
                )
                exact += per * s.weight
            guaranteed = self.money.round(exact)
            if earned < guaranteed:
                top = guaranteed - earned
                figures = {
                    "draw": self.money.show(guaranteed),
                    "earned": self.money.show(earned),
                    "top": self.money.show(top),
                }
                if draw.recoverable:
                    words = w(
                        "recoverable draw {draw}: earned {earned}, topped up {top}; owed back from later "
                        "earnings: {owed}",
                        **figures,
                        owed=self.money.show(state.balance + top),
                    )
                else:
                    words = w("non-recoverable draw {draw}: earned {earned}, topped up {top}", **figures)
                trace: Words | Joined = words
                if draw.recoverable:
                    state.balance += top
                    schedule = self.plan_instalments(state)
                    if schedule is not None:
                        trace = Joined("; ", (words, schedule))
                out.append(_line("draw", "draw", None, top, Fraction(top), trace, {"draw": format(guaranteed, "f")}))
                return out
            room = earned - guaranteed
        else:
            room = earned
        if draw is not None and draw.instalments is not None and state.balance > 0:
            line = self.instalment(room, state)
            out.append(line)
            earned += line.amount
        elif state.balance > 0 and room > 0:
            take = min(state.balance, room)
            state.balance -= take
            trace = w(
                "recovered {amount} of {owed} owed (from earnings above the draw)",
                amount=self.money.show(take),
                owed=self.money.show(take + state.balance),
            )
            out.append(
                _line(
                    "recovery",
                    "recovery",
                    None,
                    -take,
                    Fraction(-take),
                    trace,
                    {"owed_after": format(state.balance, "f")},
                )
            )
            earned -= take
        if earned < 0:
            state.balance += -earned
            carried: Words | Joined = w(
                "the period nets {net}: carried forward as owed ({owed} in all)",
                net=self.money.show(earned),
                owed=self.money.show(state.balance),
            )
            schedule = self.plan_instalments(state)
            if schedule is not None:
                carried = Joined("; ", (carried, schedule))
            out.append(
                _line(
                    "carried",
                    "carried",
                    None,
                    -earned,
                    Fraction(-earned),
                    carried,
                    {"owed_after": format(state.balance, "f")},
                )
            )
        return out

    def plan_instalments(self, state: _State) -> Words | None:
        """With ``recover: {instalments: N}``: split the balance owed, newly grown, into N instalments.

        Cents by largest remainder (the larger first), due in the next N periods; the words say so.
        """
        draw = self.plan.draw
        if draw is None or draw.instalments is None or state.balance <= 0:
            return None
        n = draw.instalments
        parts = self.money.split(state.balance, [(i, Fraction(1)) for i in range(n)])
        state.schedule = [parts[i] for i in range(n)]
        state.instalment = 0
        shown = " + ".join(self.money.show(x) for x in state.schedule)
        return w("{owed} to recover in {n} instalments: {schedule}", owed=self.money.show(state.balance), n=str(n),
                 schedule=shown)  # fmt: skip

    def instalment(self, room: Decimal, state: _State) -> PayLine:
        """This period's instalment of the balance owed, taken from the earnings above the draw (``room``).

        Never more than they allow: the rest is carried to the next instalment.
        """
        draw = self.plan.draw
        assert draw is not None
        assert draw.instalments is not None
        if not state.schedule:  # defensive: the schedule always adds up to the balance
            state.schedule = [state.balance]
        due = state.schedule.pop(0)
        state.instalment += 1
        take = max(min(due, room), DZERO)
        short = due - take
        state.balance -= take
        if short:
            if state.schedule:
                state.schedule[0] += short
            else:
                state.schedule.append(short)
        n = draw.instalments
        k = state.instalment
        label = w("instalment {k} of {n}", k=str(k), n=str(n))
        if k > n:
            label = w("arrears after {n} instalments", n=str(n))
        figures: dict[str, Words | str] = {
            "label": label,
            "due": self.money.show(due),
            "take": self.money.show(take),
            "owed": self.money.show(state.balance),
        }
        if not short:
            words = w("{label}: recovered {due} (from earnings above the draw); {owed} still owed", **figures)
        elif take:
            words = w(
                "{label}: {due} due, the earnings above the draw allow {take}; {short} carried to the next "
                "instalment; {owed} still owed",
                **figures,
                short=self.money.show(short),
            )
        else:
            words = w(
                "{label}: {due} due, no earnings above the draw: carried to the next instalment; {owed} still owed",
                **figures,
            )
        return _line(
            "recovery",
            "recovery",
            None,
            -take,
            Fraction(-take),
            words,
            {
                "instalment": k,
                "of": n,
                "due": format(due, "f"),
                "owed_after": format(state.balance, "f"),
                "schedule": [format(x, "f") for x in state.schedule],
            },
        )

    def in_draw_window(self, rows: Sequence[Assignment], p: Period) -> bool:
        draw = self.plan.draw
        assert draw is not None
        if draw.periods is None:
            return True
        first = rows[0].start
        if first is None:
            return False
        hired = Period.containing(first, self.plan.period)
        months = (p.start.year - hired.start.year) * 12 + p.start.month - hired.start.month
        return months // MONTHS_PER[self.plan.period] < draw.periods


# --- words --------------------------------------------------------------------------------------


def _measure_text(measure: str, value: Fraction) -> str:
    """A measure as traces show it: ratios as percents; at most 4 decimals, else ``≈`` and rounded."""
    if measure == "total" or measure.endswith(".score") or abs(value) > 10:  # noqa: PLR2004 - ratios read as %
        return number(value) if (value * 10**4).denominator == 1 else "≈ " + number(quantize(value, 4, "half_even"))
    return rate_text(value)


def _curve_words(comp: Component, ev: tiers.Evaluation) -> Words | Joined:
    curve = comp.curve
    assert curve is not None
    measure = comp.measure or ""
    if curve.kind == "interpolate":
        low, high = ev.level_low, ev.level_high
        if low is not None and high is not None:
            return w(
                "between {low} → {low_pay} and {high} → {high_pay}",
                low=_measure_text(measure, low.at),
                low_pay=percent(low.pay),
                high=_measure_text(measure, high.at),
                high_pay=percent(high.pay),
            )
        if low is not None:
            return w(
                "at or above the last level {level} → {pay}", level=_measure_text(measure, low.at), pay=percent(low.pay)
            )
        return w("below the first level")
    if curve.kind == "marginal":
        if not ev.slices:
            return w("no tier")
        pieces = tuple(
            w(
                "{low} → {high} at {rate} = {amount}",
                low=_measure_text(measure, s.low),
                high=_measure_text(measure, s.high),
                rate=percent(s.rate or 0),
                amount=percent(s.amount),
            )
            for s in ev.slices
        )
        return Joined("; ", pieces)
    if not ev.slices:
        return w("no tier")
    s = ev.slices[0]
    if s.pay is not None:
        return w("tier '{tier}' pays {pay}", tier=s.tier, pay=percent(s.pay))
    return w("tier '{tier}' at {rate}", tier=s.tier, rate=percent(s.rate or 0))


def _tier_name(comp: Component, ev: tiers.Evaluation) -> str:
    """The tier (or level bracket) a curve reached, for impact reports."""
    curve = comp.curve
    assert curve is not None
    if curve.kind != "interpolate":
        return ev.slices[-1].tier if ev.slices else "-"
    measure = comp.measure or ""
    low, high = ev.level_low, ev.level_high
    if low is not None and high is not None:
        return f"{_measure_text(measure, low.at)}–{_measure_text(measure, high.at)}"
    if low is not None:
        return f"≥ {_measure_text(measure, low.at)}"
    return "below the first level"


def _slice_dict(s: tiers.Slice) -> dict[str, Any]:
    return {
        "tier": s.tier,
        "from": canonical(s.low),
        "to": canonical(s.high),
        "rate": canonical(s.rate) if s.rate is not None else None,
        "amount": canonical(s.amount),
    }


def _appraisal_summary(scores: Scores | None) -> dict[str, Any]:
    if scores is None:
        return {}
    shown = None
    if scores.total is not None:
        shown = canonical(scores.total)
        if scores.rounding is not None:
            shown = format(quantize(scores.total, *scores.rounding), "f")
    return {
        "subject": scores.subject,
        "total": shown,
        "grade": scores.grade,
        "values": {k: canonical(v) if v is not None else None for k, v in sorted(scores.values.items())},
        "gates": sorted(scores.gates),
    }


# --- the public entry point ---------------------------------------------------------------------


def latest_period(plan: PayPlan, inputs: PayInputs) -> Period:
    """The latest period with an appraisal or a credited deal (the default pay period).

    Raises:
        DataError: when there is neither.
    """
    kind = plan.period
    found = [k[1] for k in inputs.scores] + [Period.containing(c.date, kind) for c in inputs.credits]
    if not found:
        msg = "no appraisal and no credited deal: name the pay period (period=…, --period)"
        raise DataError(msg)
    return max(found)


@exactly
def pay(
    plan: PayPlan,
    appraisals: Appraisal | Sequence[Appraisal] | Table | Iterable[Mapping[str, Any]] | None,
    people: Table | Iterable[Mapping[str, Any]],
    *,
    credits: Any = None,  # noqa: A002 - the input's name
    deals: Table | Iterable[Mapping[str, Any]] | None = None,
    paid: Table | Iterable[Mapping[str, Any]] | None = None,
    period: str | None = None,
) -> PayRun:
    """Compute everyone's pay for a period, exactly, with a trace per line.

    Args:
        plan: a pay plan (``parse_pay_plan`` / ``load_pay_plan``).
        appraisals: the appraisals the plan reads — ``Appraisal`` objects of ``evaluate`` (one per
            period), or rows of ``subject, period, total, grade, …`` (a table or Python rows).
        people: the people file: assignments with targets, dates and teams.
        credits: who each deal is credited to: an ``Attribution``, or rows of
            ``deal_id, credited_to, amount, date[, share]``.
        deals: deal facts: ``deal_id, product, type, paid, cancelled, refund``.
        paid: lines already paid in earlier periods (a payout register), for true-ups.
        period: the pay period (default: the latest with an appraisal or a credited deal).

    Returns:
        The ``PayRun`` of the period; earlier periods computed on the way are in ``history``.

    Raises:
        DataError: naming each bad input row. RulesetError: a value the plan reads that the appraisals lack.
    """
    inputs = prepare_inputs(plan, appraisals, people, credits=credits, deals=deals, paid=paid)
    return pay_prepared(plan, inputs, period)


def pay_prepared(plan: PayPlan, inputs: PayInputs, period: str | None = None) -> PayRun:
    """``pay`` on inputs already validated by ``prepare_inputs``."""
    if period is None:
        target = latest_period(plan, inputs)
    else:
        try:
            target = Period.parse(period, plan.period)
        except ValueError as exc:
            raise DataError(str(exc)) from None
    current, history = _Run(plan, inputs, target).run()
    return PayRun(
        plan_id=plan.id,
        version=plan.version,
        sha256=plan.sha256,
        title=plan.spec.title,
        currency=plan.currency,
        places=plan.places,
        mode=plan.mode,
        period=str(target),
        people=current,
        history=history,
        warnings=inputs.warnings,
    )


__all__ = ["pay", "pay_prepared", "prepare_inputs"]
