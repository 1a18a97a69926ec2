"""Run-level checks both executors make, written once: effective dates, the period, roster warnings.

Data at the door (issue 7). The row executor raises what these raise, with locations; the
columnar executor hands any run these refuse to the row executor, which reports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable

from kpi_engine.errors import DataError, Issue, Location
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Scorecard
from kpi_engine.time.periods import Period

LEVELS = ("rep", "team", "department", "company")  # a subject's level is its height in the membership tree
_SHOWN = 20  # subjects named in a message: enough to recognise


class StrayPeriodError(DataError):
    """The latest period would drop subjects of the period before it (``latest`` is that period)."""

    def __init__(self, message: str, latest: Period) -> None:
        super().__init__(message)
        self.latest = latest


def check_effective(ruleset: Ruleset, period: Period) -> None:
    """Refuse a period that ends before the ruleset takes effect or starts after it lapses.

    Raises:
        DataError: naming the ruleset's effective dates and the period.
    """
    effective = ruleset.spec.effective
    if effective is None:
        return
    end = period.next_start() - dt.timedelta(days=1)
    if end < effective.from_ or (effective.until is not None and period.start > effective.until):
        until = f" until {effective.until}" if effective.until else ""
        name = f"{ruleset.id} {ruleset.version}"
        msg = f"ruleset {name} is effective from {effective.from_}{until}; period {period} is outside"
        raise DataError(msg)


def latest_period(card: Scorecard, known: Collection[Period], subjects_of: Callable[[Period], list[str]]) -> Period:
    """The period to appraise when none is given: the latest, unless that would mislead.

    Records of several periods are history only if the ruleset reads history (a ``previous`` or
    ``streak`` metric); otherwise several periods is an error listing them. With history, the
    latest period must keep every subject of the period before it: a stray row dated a month
    ahead would otherwise move the run to that month and drop everybody else without a word.

    Args:
        card: the scorecard.
        known: every period of the records and membership rows.
        subjects_of: the subjects a run would appraise in a period (sorted).

    Raises:
        DataError: no period, or several periods and no history read (the message lists them).
        StrayPeriodError: subjects of the period before would disappear (the message names them).
    """
    ordered = sorted(known)
    if not ordered:
        msg = "no records to evaluate"
        raise DataError(msg)
    latest = ordered[-1]
    if len(ordered) == 1:
        return latest
    shown = ", ".join(str(p) for p in ordered)
    if not card.reads_history:
        msg = (
            f"the records hold {len(ordered)} periods ({shown}) and the ruleset reads no history; "
            "choose the period to appraise (--period, or evaluate(..., period=...))"
        )
        raise DataError(msg)
    now = set(subjects_of(latest))
    before = subjects_of(ordered[-2])
    gone = [s for s in before if s not in now]
    if gone:
        names = ", ".join(gone[:_SHOWN]) + (" …" if len(gone) > _SHOWN else "")
        msg = (
            f"the records hold periods {shown}; without --period the latest, {latest}, would be appraised, "
            f"but {len(gone)} of the {len(before)} {card.subject}(s) of {ordered[-2]} have no data in it ({names}); "
            "a row dated in the wrong period? choose the period to appraise (--period, or evaluate(..., period=...))"
        )
        raise StrayPeriodError(msg, latest)
    return latest


def roster_warnings(period: Period, lonely: Iterable[tuple[str, str]]) -> list[Issue]:
    """``no_record`` warnings for roster members (member, parent) with neither a record nor members."""
    return [
        Issue(
            "no_record",
            f"'{member}' is a member of '{up}' in {period} but has no record: not appraised, "
            "and nothing of theirs rolls up",
            "member",
            Location("members"),
            "warning",
        )
        for member, up in sorted(lonely, key=lambda pair: pair[0])
    ]
