"""The State Council's yearly holiday notice, read as published, into company calendar days.

Every autumn the General Office of the State Council publishes 《国务院办公厅关于YYYY年部分节假日安排的通知》:
one numbered item per holiday, in a fixed style::

    一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
    二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
    三、清明节：4月4日（周六）至6日（周一）放假，共3天。
    五、端午节：6月10日放假，与周末连休。
    一、元旦：2022年12月31日至2023年1月2日放假调休，共3天。

``parse_notice`` turns that text into the days off (every day of each ``…至…放假`` range) and the
adjusted working days (every date before ``上班``) of the year, with the holiday's name, checking
what the text itself states: the weekday in brackets (``周四`` / ``星期四``) against the date, the
count (``共N天``) against the range, a day that is both off and worked, a date that does not exist.
Each problem is an ``Issue`` located at ``line:col`` of the text; all of them are reported at once.

What the notice says beyond dates is not a day off: ``鼓励各单位……安排职工在除夕（2月9日）休息`` (an
encouragement) is read as a note and listed, never as a holiday. ``与周末连休`` (joined to the
weekend) adds no day: the weekend is off anyway. The lunar dates in brackets are not checked.

Pure: text in, values out (``kpi_engine.io.calendars`` reads the file and writes the calendar).
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Iterator

import attrs

from kpi_engine.errors import Issue, Location, RulesetError
from kpi_engine.time.calendar import CalendarSpec

# Holiday names as the notices write them, with the English names chinese-calendar uses.
ENGLISH = {
    "元旦": "New Year's Day",
    "春节": "Spring Festival",
    "清明节": "Tomb-sweeping Day",
    "劳动节": "Labour Day",
    "端午节": "Dragon Boat Festival",
    "中秋节": "Mid-autumn Festival",
    "国庆节": "National Day",
}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAY_NAMES = "一二三四五六日"
# Full-width digits, brackets and colons as some copies of the notice write them; one character
# for one character, so offsets (and so line:col) stay those of the original text.
_FOLD = str.maketrans("０１２３４５６７８９（）：", "0123456789():")
_YEAR = re.compile(r"(\d{4})\s*年\s*(?:元旦|部分节假日|节假日)")
_ITEM = re.compile(r"(?m)(?:^|(?<=。))[ \t\u3000]*([一二三四五六七八九十]+)[、.．]\s*([^:\n]{1,24}?)\s*:")
_DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(?:(\d{1,2})\s*月\s*)?(\d{1,2})\s*日(?:\s*\(([^()\n]{0,24})\))?")
_NOTE = re.compile(r"[^。\n]*")
MAX_NOTICE_CHARS = 100_000


@attrs.frozen
class NoticeHoliday:
    """One item of the notice: a holiday's name, its days off and the weekend days worked for it."""

    number: str  # the item's ordinal as written (一, 二 …)
    name: str  # as written: 春节, or 中秋节、国庆节
    days_off: tuple[dt.date, ...]
    days_on: tuple[dt.date, ...]
    location: Location

    @property
    def label(self) -> str:
        """The name with its English name(s), as the CN calendar labels its days: ``春节 Spring Festival``."""
        parts = [p for p in re.split(r"[、,，和及]", self.name) if p]
        english = [ENGLISH[p] for p in parts if p in ENGLISH]
        return f"{self.name} {' / '.join(english)}" if len(english) == len(parts) else self.name


@attrs.frozen
class Notice:
    """A parsed notice: the year it schedules, its holidays, and the sentences read as notes."""

    year: int
    holidays: tuple[NoticeHoliday, ...]
    notes: tuple[tuple[Location, str], ...] = ()
    warnings: tuple[Issue, ...] = ()

    @property
    def days_off(self) -> dict[dt.date, str]:
        """Every day off with its holiday's label, in date order."""
        return dict(sorted((d, h.label) for h in self.holidays for d in h.days_off))

    @property
    def days_on(self) -> dict[dt.date, str]:
        """Every adjusted working day with its holiday's label, in date order."""
        return dict(sorted((d, h.label) for h in self.holidays for d in h.days_on))

    def calendar_spec(self, base: CalendarSpec | None = None) -> CalendarSpec:
        """The company calendar that vouches for the notice's year, added to ``base`` (default: CN, empty).

        The notice's days replace whatever ``base`` said about the same dates; its year joins ``years``.
        """
        base = base or CalendarSpec()
        off, on = self.days_off, self.days_on
        kept_off = [d for d in base.days_off if d not in on and d not in off]
        kept_on = [d for d in base.days_on if d not in off and d not in on]
        names = {d: n for d, n in base.names.items() if d not in off and d not in on}
        names.update(off)
        names.update(on)
        return CalendarSpec(
            country=base.country,
            years=sorted({*base.years, self.year}),
            days_off=sorted({*kept_off, *off}),
            days_on=sorted({*kept_on, *on}),
            names=dict(sorted(names.items())),
        )


class _Text:
    """The notice text with offsets turned into ``file:line:col``."""

    def __init__(self, original: str, file: str) -> None:
        self.original = original
        self.text = original.translate(_FOLD)
        self.file = file
        self.starts = [0] + [i + 1 for i, c in enumerate(original) if c == "\n"]

    def at(self, offset: int) -> Location:
        line = bisect.bisect_right(self.starts, offset)
        return Location(self.file, line, offset - self.starts[line - 1] + 1)


def parse_notice(text: str, file: str = "<notice>", year: int | None = None) -> Notice:
    """Read the State Council's holiday notice (Chinese, as published) into the year's days.

    Args:
        text: the notice; the title (``关于2027年部分节假日安排的通知``) or the opening sentence names the year.
        file: the name used in locations.
        year: the year, when the text does not name it (a copy without its title); must agree if it does.

    Returns:
        The ``Notice``: its year, and each holiday with its days off and adjusted working days.

    Raises:
        RulesetError: listing every problem of the text at ``file:line:col``.
    """
    if len(text) > MAX_NOTICE_CHARS:
        raise RulesetError.from_issues(
            [Issue("notice_size", f"the text has more than {MAX_NOTICE_CHARS} characters", "", Location(file))],
            "notice",
        )
    src = _Text(text, file)
    issues: list[Issue] = []
    found = _YEAR.search(src.text)
    if found is not None:
        stated = int(found.group(1))
        if year is not None and year != stated:
            issues.append(
                Issue(
                    "notice_year",
                    f"the notice schedules {stated}, not {year}",
                    "",
                    src.at(found.start(1)),
                )
            )
        year = stated
    if year is None:
        issues.append(
            Issue(
                "notice_year",
                "the text does not say which year it schedules (no '…YYYY年部分节假日安排…' title)",
                "",
                Location(file, 1, 1),
                suggestion="give the year (kpi calendar import NOTICE --year 2027)",  # a template in report/issues
            )
        )
        raise RulesetError.from_issues(issues, "notice")
    items = list(_ITEM.finditer(src.text))
    holidays: list[NoticeHoliday] = []
    notes: list[tuple[Location, str]] = []
    warnings: list[Issue] = []
    for i, item in enumerate(items):
        end = items[i + 1].start() if i + 1 < len(items) else len(src.text)
        line_end = src.text.find("\n", item.end())
        end = min(end, line_end if line_end >= 0 else len(src.text))
        holiday = _holiday(src, item, end, year, issues, notes, warnings)
        if holiday is not None:
            holidays.append(holiday)
    if not holidays and not issues:
        issues.append(
            Issue(
                "notice_empty",
                "no holiday item found: expected lines such as "
                "'一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。'",
                "",
                Location(file, 1, 1),
            )
        )
    _check_days(holidays, issues)
    if any(i.severity == "error" for i in issues):
        raise RulesetError.from_issues(issues + warnings, "notice")
    return Notice(year, tuple(holidays), tuple(notes), tuple(warnings))


def _holiday(
    src: _Text,
    item: re.Match[str],
    end: int,
    year: int,
    issues: list[Issue],
    notes: list[tuple[Location, str]],
    warnings: list[Issue],
) -> NoticeHoliday | None:
    name = item.group(2).strip()
    off: list[dt.date] = []
    on: list[dt.date] = []
    before = len(issues)
    for start, sentence in _sentences(src.text, item.end(), end):
        if "上班" in sentence:
            on.extend(_worked(src, start, sentence, year, issues, warnings))
        elif "放假" in sentence or "补休" in sentence:
            off.extend(_off(src, start, sentence, year, issues))
        elif sentence.strip():
            skipped = len(sentence) - len(sentence.lstrip())
            notes.append((src.at(start + skipped), src.original[start : start + len(sentence)].strip()))
    if not off and len(issues) == before:
        issues.append(
            Issue(
                "notice_clause",
                f"item {item.group(1)} ({name}) states no days off ('…至…放假…' or '…放假')",
                "",
                src.at(item.start(2)),
            )
        )
    if len(issues) > before:
        return None
    return NoticeHoliday(item.group(1), name, tuple(off), tuple(on), src.at(item.start(1)))


def _sentences(text: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    """The sentences of an item (split at '。' and '；'), each with its offset."""
    for m in re.finditer(r"[^。;；]+", text[start:end]):
        yield start + m.start(), m.group()


def _dates(
    src: _Text, start: int, sentence: str, year: int, issues: list[Issue]
) -> list[tuple[dt.date, int, re.Match[str]]]:
    """Every date of a sentence with its offset; a missing year or month is the one written before it.

    A range that goes back in the calendar without a year written (``12月31日至1月2日``) crosses New
    Year. The notice of year Y schedules Y's holidays, so when the December dates took Y only by
    default they are Y−1's (31 Dec 2022 – 2 Jan 2023 in the 2023 notice); after a December written
    with its year, the January is the next year's (``2022年12月31日至1月2日``).
    """
    found: list[tuple[dt.date, int, re.Match[str], bool]] = []  # date, offset, match, year written
    current_year, month = year, None
    for m in _DATE.finditer(sentence):
        offset = start + m.start()
        if m.group(1):
            current_year = int(m.group(1))
        if m.group(2):
            month = int(m.group(2))
        if month is None:
            issues.append(Issue("notice_date", f"'{m.group().strip()}' has no month", "", src.at(offset)))
            continue
        try:
            day = dt.date(current_year, month, int(m.group(3)))
        except ValueError:
            issues.append(
                Issue("notice_date", f"{current_year}年{month}月{m.group(3)}日 is not a date", "", src.at(offset))
            )
            continue
        if found and day < found[-1][0] and not m.group(1):
            if not any(written for *_, written in found) and all(d.year == year for d, *_ in found):
                shifted = [(p, o, fm, w) for d, o, fm, w in found if (p := _previous_year(d, src, o, issues))]
                if len(shifted) < len(found):
                    continue
                found = shifted
            else:
                later = _next_year(day, src, offset, issues)
                if later is None:
                    continue
                day = later
        found.append((day, offset, m, bool(m.group(1))))
    for day, offset, m, _ in found:
        _check_weekday(day, m, src, offset, issues)
    return [(day, offset, m) for day, offset, m, _ in found]


def _previous_year(day: dt.date, src: _Text, offset: int, issues: list[Issue]) -> dt.date | None:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        text = f"{day.year - 1}年{day.month}月{day.day}日 is not a date"
        issues.append(Issue("notice_date", text, "", src.at(offset)))
        return None


def _next_year(day: dt.date, src: _Text, offset: int, issues: list[Issue]) -> dt.date | None:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        text = f"{day.year + 1}年{day.month}月{day.day}日 is not a date"
        issues.append(Issue("notice_date", text, "", src.at(offset)))
        return None


def _check_weekday(day: dt.date, m: re.Match[str], src: _Text, offset: int, issues: list[Issue]) -> None:
    """The weekday in brackets (``周四``, ``星期四``, after any lunar date) must be the date's."""
    note = m.group(4)
    if not note:
        return
    said = re.search(r"(?:周|星期|礼拜)([一二三四五六日天])", note)
    if said is None:
        return
    if _WEEKDAYS[said.group(1)] != day.weekday():
        where = src.at(offset + m.start(4) - m.start() + said.start())
        actual = _WEEKDAY_NAMES[day.weekday()]
        issues.append(
            Issue(
                "notice_weekday",
                f"{day.isoformat()} is a 周{actual} ({day:%A}), but the notice says {said.group()}",
                "",
                where,
            )
        )


def _off(src: _Text, start: int, sentence: str, year: int, issues: list[Issue]) -> list[dt.date]:
    """``A至B放假…，共N天``, ``A放假…`` and days in lieu (``C（星期一）补休``): the days A to B, and each C.

    The range is checked against ``共N天`` / ``放假N天``; a date after ``放假`` that is not followed by
    ``补休`` is an error (it would otherwise be dropped without a word).
    """
    cut = sentence.rfind("补休")
    read = sentence if cut < 0 else sentence[:cut]
    split = read.find("放假")
    head = read[:split] if split >= 0 else ""  # the range: the dates before 放假
    before = len(issues)
    dates = _dates(src, start, read, year, issues)
    if len(issues) > before:
        return []
    ranged = [d for d in dates if d[1] < start + len(head)]
    lieu = [d for d in dates if d[1] >= start + len(head)]
    stray = _DATE.search(sentence, cut + len("补休")) if cut >= 0 else None
    if stray is not None or (lieu and cut < 0):
        at = start + stray.start() if stray is not None else lieu[0][1]
        issues.append(
            Issue(
                "notice_clause",
                f"a date after 放假 is neither in lieu (补休) nor worked (上班): cannot read {sentence.strip()!r}",
                "",
                src.at(at),
            )
        )
        return []
    if split >= 0 and (not ranged or len(ranged) > 2 or (len(ranged) == 2 and "至" not in head)):  # noqa: PLR2004
        issues.append(
            Issue(
                "notice_clause",
                "a holiday is written 'M月D日（周X）至D日（周X）放假' or 'M月D日放假'; "
                f"cannot read {sentence.strip()!r}",
                "",
                src.at(start + len(sentence) - len(sentence.lstrip())),
            )
        )
        return []
    days: list[dt.date] = []
    if ranged:
        first, last = ranged[0][0], ranged[-1][0]
        if last < first:
            text = f"the holiday ends ({last}) before it starts ({first})"
            issues.append(Issue("notice_date", text, "", src.at(ranged[-1][1])))
            return []
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        count = re.search(r"(?:共|放假)\s*(\d+)\s*天", sentence)
        if count is not None and int(count.group(1)) != len(days):
            issues.append(
                Issue(
                    "notice_count",
                    f"{first.isoformat()} to {last.isoformat()} is {len(days)} day(s), "
                    f"but the notice says {count.group()}",
                    "",
                    src.at(start + count.start()),
                )
            )
            return []
    if cut >= 0 and not lieu:
        issues.append(Issue("notice_clause", f"no date before 补休 in {sentence.strip()!r}", "", src.at(start + cut)))
        return []
    return days + [d for d, _o, _m in lieu if d not in days]


def _worked(
    src: _Text, start: int, sentence: str, year: int, issues: list[Issue], warnings: list[Issue]
) -> list[dt.date]:
    """``A（周日）、B（周六）上班``: every date before 上班 is a working day."""
    head = sentence.split("上班", 1)[0]
    dates = _dates(src, start, head, year, issues)
    if not dates:
        issues.append(
            Issue("notice_clause", f"no date before 上班 in {sentence.strip()!r}", "", src.at(start + len(head)))
        )
    for day, offset, _m in dates:
        if day.weekday() < 5:  # noqa: PLR2004 - Saturday
            warnings.append(
                Issue(
                    "notice_weekday",
                    f"{day.isoformat()} ({day:%A}) is worked anyway; the notice lists it as an adjusted working day",
                    "",
                    src.at(offset),
                    severity="warning",
                )
            )
    return [d for d, _o, _m in dates]


def _check_days(holidays: list[NoticeHoliday], issues: list[Issue]) -> None:
    """No day is off twice, or both off and worked."""
    seen: dict[dt.date, tuple[str, str]] = {}
    for h in holidays:
        for kind, days in (("off", h.days_off), ("worked", h.days_on)):
            for d in days:
                if d in seen:
                    name, was = seen[d]
                    issues.append(
                        Issue(
                            "notice_overlap",
                            f"{d.isoformat()} is {kind} for {h.name} and already {was} for {name}",
                            "",
                            h.location,
                        )
                    )
                seen[d] = (h.name, kind)
