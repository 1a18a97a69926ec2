"""The risk register (DOMAIN S4): risks rated by likelihood and impact into levels through a declared matrix.

A register declares two ordered scales (likelihood and impact, low to high), the levels (low to
high) and the matrix that gives each likelihood × impact pair its level — the seed rates risks
"by likelihood and impact into levels" and does not say multiply, so the matrix is written out,
cell by cell. Each risk has an owner, the day it was assessed and the day of its next review,
which must lie ``review.min_months``–``review.max_months`` after the assessment (3–6 months by
default: risks are assessed 3–6 months ahead, DOMAIN S2). On an ``as_of`` day a review whose
date has passed is overdue and opens an alert naming its owner.

A register is validated like a ruleset: every mistake of the file at once, each located as
``file:line:col`` with a "did you mean" where one helps; ``kpi schema --risks`` gives its JSON Schema.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import attrs
from pydantic import BaseModel, ConfigDict, Field

from kpi_engine.errors import Issue, RulesetError, did_you_mean
from kpi_engine.language._validation import validate_model
from kpi_engine.language._yaml import PathKey, SourceMap, format_path, load_yaml
from kpi_engine.time.periods import add_months
from kpi_engine.time.zones import MAX_YEAR, MIN_YEAR


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class StepSpec(_Spec):
    """One step of a scale or one level: an id and a title for reports."""

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="a stable id such as likely")
    title: str | None = None


class ScalesSpec(_Spec):
    """The two ordered scales, lowest first."""

    likelihood: list[StepSpec | str] = Field(min_length=1, description="likelihood steps, lowest first")
    impact: list[StepSpec | str] = Field(min_length=1, description="impact steps, lowest first")


class ReviewSpec(_Spec):
    """How far ahead a risk's next review lies after its assessment, in calendar months."""

    min_months: int = Field(3, ge=0, le=60)
    max_months: int = Field(6, ge=0, le=60)


class RiskSpec(_Spec):
    """One risk of the register."""

    id: str = Field(min_length=1, description="a stable id such as R01")
    title: str = Field(min_length=1)
    owner: str = Field(min_length=1, description="who answers for it (a subject id or a name)")
    likelihood: str = Field(description="a step of scales.likelihood")
    impact: str = Field(description="a step of scales.impact")
    assessed: dt.date = Field(description="the day it was last assessed")
    next_review: dt.date = Field(description="the day of its next review (review.min_months–max_months ahead)")
    response: str | None = Field(None, description="the mitigation or response decided")
    status: str | None = Field(None, description="free text, e.g. open, watching, closed")


class RegisterSpec(_Spec):
    """A risk register: scales, levels, the level matrix, the review window and the risks."""

    id: str = Field(alias="register", description="stable id of the register")
    version: str = "1"
    title: str | None = None
    scales: ScalesSpec
    levels: list[StepSpec | str] = Field(min_length=1, description="levels, lowest first")
    matrix: dict[str, list[str]] = Field(
        description="likelihood step → the level of each impact step, in the impact scale's order"
    )
    review: ReviewSpec = Field(default_factory=ReviewSpec)
    risks: list[RiskSpec] = Field(default_factory=list)


@attrs.frozen
class Step:
    """A step of a scale or a level, with its rank (0 = lowest)."""

    id: str
    title: str
    rank: int


@attrs.frozen
class Risk:
    """A risk with its rated level."""

    spec: RiskSpec
    likelihood: Step
    impact: Step
    level: Step


@attrs.frozen
class Register:
    """A validated register."""

    spec: RegisterSpec
    likelihood: tuple[Step, ...]
    impact: tuple[Step, ...]
    levels: tuple[Step, ...]
    matrix: dict[tuple[str, str], Step]
    risks: tuple[Risk, ...]
    file: str
    sha256: str

    def level(self, likelihood: str, impact: str) -> Step:
        """The level the matrix gives a likelihood and an impact."""
        return self.matrix[(likelihood, impact)]


@attrs.frozen
class ReviewAlert:
    """A review whose date has passed: who owns it and how many days late it is."""

    risk: str
    title: str
    owner: str
    level: str
    due: dt.date
    days_overdue: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "id": f"{self.owner}/{self.risk}/review",
            "risk": self.risk,
            "title": self.title,
            "owner": self.owner,
            "level": self.level,
            "reason": "review_overdue",
            "due": self.due.isoformat(),
            "days_overdue": self.days_overdue,
        }


@attrs.frozen
class RiskReport:
    """The register on a day: risks by level (highest first), the matrix's counts, overdue reviews."""

    register: Register
    as_of: dt.date
    risks: tuple[Risk, ...]
    alerts: tuple[ReviewAlert, ...]

    def counts(self) -> dict[tuple[str, str], int]:
        """How many risks sit in each likelihood × impact cell."""
        out = dict.fromkeys(self.register.matrix, 0)
        for r in self.risks:
            out[(r.likelihood.id, r.impact.id)] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        reg = self.register
        return {
            "register": reg.spec.id,
            "as_of": self.as_of.isoformat(),
            "levels": [s.id for s in reg.levels],
            "likelihood": [s.id for s in reg.likelihood],
            "impact": [s.id for s in reg.impact],
            "matrix": {lk.id: [reg.level(lk.id, im.id).id for im in reg.impact] for lk in reg.likelihood},
            "counts": {lk.id: [self.counts()[(lk.id, im.id)] for im in reg.impact] for lk in reg.likelihood},
            "risks": [
                {
                    "id": r.spec.id,
                    "title": r.spec.title,
                    "owner": r.spec.owner,
                    "likelihood": r.likelihood.id,
                    "impact": r.impact.id,
                    "level": r.level.id,
                    "assessed": r.spec.assessed.isoformat(),
                    "next_review": r.spec.next_review.isoformat(),
                    "overdue": r.spec.next_review < self.as_of,
                    "response": r.spec.response,
                    "status": r.spec.status,
                }
                for r in self.risks
            ],
            "alerts": [a.to_dict() for a in self.alerts],
        }


def _steps(raw: Sequence[StepSpec | str]) -> list[Step]:
    out = []
    for rank, s in enumerate(raw):
        spec = s if isinstance(s, StepSpec) else StepSpec(id=s)
        out.append(Step(spec.id, spec.title or spec.id, rank))
    return out


class _Checker:
    def __init__(self, spec: RegisterSpec, smap: SourceMap) -> None:
        self.spec = spec
        self.smap = smap
        self.issues: list[Issue] = []

    def add(
        self, code: str, message: str, path: PathKey, *, key: bool = False, warn: bool = False, hint: str | None = None
    ) -> None:
        location = self.smap.locate(path, key=key)
        self.issues.append(Issue(code, message, format_path(path), location, "warning" if warn else "error", hint))

    def unique(self, steps: list[Step], path: PathKey) -> dict[str, Step]:
        seen: dict[str, Step] = {}
        for s in steps:
            if s.id in seen:
                self.add("duplicate_id", f"'{s.id}' appears twice", (*path, s.rank))
            seen.setdefault(s.id, s)
        return seen

    def register(self, file: str, sha256: str) -> Register:
        spec = self.spec
        likelihood = self.unique(_steps(spec.scales.likelihood), ("scales", "likelihood"))
        impact = self.unique(_steps(spec.scales.impact), ("scales", "impact"))
        levels = self.unique(_steps(spec.levels), ("levels",))
        matrix: dict[tuple[str, str], Step] = {}
        for lk, row in spec.matrix.items():
            path: PathKey = ("matrix", lk)
            if lk not in likelihood:
                self.add("unknown_name", f"'{lk}' is not a likelihood step", path, key=True,
                         hint=did_you_mean(lk, list(likelihood)))  # fmt: skip
                continue
            if len(row) != len(impact):
                self.add("bad_row", f"the row of '{lk}' has {len(row)} levels for {len(impact)} impact steps", path)
                continue
            for (im, _), cell, i in zip(impact.items(), row, range(len(row)), strict=True):
                if cell not in levels:
                    self.add(
                        "unknown_level", f"'{cell}' is not a level", (*path, i), hint=did_you_mean(cell, list(levels))
                    )
                    continue
                matrix[(lk, im)] = levels[cell]
        for lk in likelihood:
            if lk not in spec.matrix:
                self.add("missing_row", f"the matrix has no row for likelihood '{lk}'", ("matrix",), key=True)
        self.monotonic(likelihood, impact, matrix)
        window = spec.review
        if window.min_months > window.max_months:
            self.add("bad_window", f"review.min_months {window.min_months} is above max_months {window.max_months}",
                     ("review", "min_months"))  # fmt: skip
        risks: list[Risk] = []
        ids: dict[str, int] = {}
        for i, r in enumerate(spec.risks):
            base: PathKey = ("risks", i)
            if r.id in ids:
                self.add("duplicate_id", f"risk id '{r.id}' is already used by risks[{ids[r.id]}]", (*base, "id"))
            ids.setdefault(r.id, i)
            ok = True
            for field, scale in (("likelihood", likelihood), ("impact", impact)):
                value = getattr(r, field)
                if value not in scale:
                    self.add("unknown_name", f"'{value}' is not a {field} step", (*base, field),
                             hint=did_you_mean(value, list(scale)))  # fmt: skip
                    ok = False
            outside = [f for f in ("assessed", "next_review") if not MIN_YEAR <= getattr(r, f).year <= MAX_YEAR]
            for field in outside:
                self.add("bad_value", f"{getattr(r, field)} is outside the years {MIN_YEAR}–{MAX_YEAR}", (*base, field))
            if outside:
                continue
            earliest, latest = add_months(r.assessed, window.min_months), add_months(r.assessed, window.max_months)
            if not earliest <= r.next_review <= latest:
                self.add(
                    "review_window",
                    f"the next review {r.next_review} is not {window.min_months}–{window.max_months} months after "
                    f"the assessment on {r.assessed} ({earliest}…{latest})",
                    (*base, "next_review"),
                )
            if ok and (r.likelihood, r.impact) in matrix:
                risks.append(Risk(r, likelihood[r.likelihood], impact[r.impact], matrix[(r.likelihood, r.impact)]))
        return Register(
            spec, tuple(likelihood.values()), tuple(impact.values()), tuple(levels.values()), matrix, tuple(risks),
            file, sha256,
        )  # fmt: skip

    def monotonic(
        self, likelihood: dict[str, Step], impact: dict[str, Step], matrix: dict[tuple[str, str], Step]
    ) -> None:
        """A warning where a higher likelihood or impact gets a lower level than its neighbour."""
        lks, ims = list(likelihood), list(impact)
        for a, lk in enumerate(lks):
            for b, im in enumerate(ims):
                here = matrix.get((lk, im))
                if here is None:
                    continue
                for other in ((lks[a - 1], im) if a else None, (lk, ims[b - 1]) if b else None):
                    lower = matrix.get(other) if other else None
                    if lower is not None and lower.rank > here.rank:
                        self.add(
                            "not_monotonic",
                            f"{lk} × {im} is '{here.id}', below '{lower.id}' of {other[0]} × {other[1]}",  # type: ignore[index]
                            ("matrix", lk, b),
                            warn=True,
                        )


def _load(text: str, file: str) -> tuple[Register | None, list[Issue]]:
    """The register and every issue of the file (warnings too), in file order."""
    data, smap, issues = load_yaml(text, file)
    if data is None and not issues:
        issues = [Issue("empty", "the register is empty", "", smap.locate(()))]
    register = None
    if data is not None:
        keys = {k for m in (RegisterSpec, ScalesSpec, StepSpec, ReviewSpec, RiskSpec) for k in m.model_fields}
        keys.add("register")
        spec, more = validate_model(RegisterSpec, data, smap, frozenset(keys))
        issues += more
        if spec is not None:
            checker = _Checker(spec, smap)
            register = checker.register(file, hashlib.sha256(text.encode("utf-8")).hexdigest())
            issues += checker.issues
    issues.sort(key=lambda i: (i.location.line, i.location.col) if i.location else (0, 0))
    return register, issues


def parse_register(text: str, file: str = "<string>") -> Register:
    """Parse risk register YAML into a validated ``Register``.

    Raises:
        RulesetError: listing every problem (unknown keys and steps, matrix rows missing or of the
            wrong length, unknown levels, duplicate ids, reviews outside the window), each located.
    """
    register, issues = _load(text, file)
    if register is None or any(i.severity == "error" for i in issues):
        raise RulesetError.from_issues(issues, file)
    return register


def check_register_text(text: str, file: str = "<string>") -> list[Issue]:
    """Every problem of a register file (for ``kpi validate``), warnings included, in file order."""
    return _load(text, file)[1]


def register_schema() -> dict[str, object]:
    """The JSON Schema of a risk register file."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **RegisterSpec.model_json_schema()}


def assess(register: Register, as_of: dt.date) -> RiskReport:
    """The register on ``as_of``: risks highest level first (then likelihood, impact, id), overdue reviews."""
    risks = sorted(register.risks, key=lambda r: (-r.level.rank, -r.likelihood.rank, -r.impact.rank, r.spec.id))
    alerts = tuple(
        ReviewAlert(
            r.spec.id, r.spec.title, r.spec.owner, r.level.id, r.spec.next_review, (as_of - r.spec.next_review).days
        )
        for r in risks
        if r.spec.next_review < as_of
    )
    return RiskReport(register, as_of, tuple(risks), alerts)
