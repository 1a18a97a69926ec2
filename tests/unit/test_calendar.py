"""Business calendars: China 2026 against the State Council's notice, other countries, company days."""

import datetime as dt

import pytest

from kpi_engine.attribution._policy import parse_policy
from kpi_engine.errors import RulesetError
from kpi_engine.io.calendars import parse_calendar
from kpi_engine.time.calendar import BusinessCalendar, CalendarError, business_calendar
from kpi_engine.time.periods import Period, day_named

D = dt.date

# Ground truth typed from the State Council's notice, independent of any library:
# 国务院办公厅关于2026年部分节假日安排的通知 (国办发明电〔2025〕7号), 2025-11-04, published by Xinhua
# (e.g. https://politics.gmw.cn/2025-11/04/content_38391083.htm):
#   一、元旦：1月1日至3日放假调休，共3天。1月4日（周日）上班。
#   二、春节：2月15日至23日放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
#   三、清明节：4月4日至6日放假，共3天。
#   四、劳动节：5月1日至5日放假调休，共5天。5月9日（周六）上班。
#   五、端午节：6月19日至21日放假，共3天。
#   六、中秋节：9月25日至27日放假，共3天。
#   七、国庆节：10月1日至7日放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
OFFICIAL_2026_DAYS_OFF = [
    (D(2026, 1, 1), D(2026, 1, 3)),
    (D(2026, 2, 15), D(2026, 2, 23)),
    (D(2026, 4, 4), D(2026, 4, 6)),
    (D(2026, 5, 1), D(2026, 5, 5)),
    (D(2026, 6, 19), D(2026, 6, 21)),
    (D(2026, 9, 25), D(2026, 9, 27)),
    (D(2026, 10, 1), D(2026, 10, 7)),
]
OFFICIAL_2026_ADJUSTED_WORKDAYS = [
    D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10),
]  # fmt: skip


def _official_2026_working(day: dt.date) -> bool:
    if day in OFFICIAL_2026_ADJUSTED_WORKDAYS:
        return True
    if any(a <= day <= b for a, b in OFFICIAL_2026_DAYS_OFF):
        return False
    return day.weekday() < 5


def test_china_2026_matches_the_state_council_notice_day_by_day():
    """Every day of 2026 is worked on the CN calendar exactly when the official notice says so."""
    cal = BusinessCalendar()
    day = D(2026, 1, 1)
    mismatches = []
    while day.year == 2026:
        if cal.is_working_day(day) != _official_2026_working(day):
            mismatches.append(day)
        day += dt.timedelta(days=1)
    assert mismatches == []


def test_china_2026_counts_the_official_days_off_and_adjusted_weekends():
    """The notice's 33 days off are off and its 6 adjusted weekend days are worked."""
    cal = BusinessCalendar()
    off = [a + dt.timedelta(days=i) for a, b in OFFICIAL_2026_DAYS_OFF for i in range((b - a).days + 1)]
    assert len(off) == 33
    assert not any(cal.is_working_day(d) for d in off)
    assert all(cal.is_working_day(d) and d.weekday() >= 5 for d in OFFICIAL_2026_ADJUSTED_WORKDAYS)


def test_working_days_in_a_month_and_a_year():
    """October 2026 has 18 working days in mainland China; the whole of 2026 has 248 (261 weekdays − 19 holidays + 6 adjusted)."""
    cal = BusinessCalendar()
    assert len(cal.working_days_in(Period.parse("2026-10", "month"))) == 18
    assert len(cal.working_days_in(Period.parse("2026", "year"))) == 248


def test_add_working_days_skips_the_national_day_week():
    """Two working days after 30 Sep 2026 is 9 Oct (1–7 Oct off, 8 Oct is the first)."""
    cal = BusinessCalendar()
    assert cal.next_working_day(D(2026, 9, 30)) == D(2026, 10, 8)
    assert cal.add_working_days(D(2026, 9, 30), 2) == D(2026, 10, 9)
    assert cal.add_working_days(D(2026, 10, 9), 1) == D(2026, 10, 10)  # the adjusted Saturday
    assert cal.add_working_days(D(2026, 10, 8), -1) == D(2026, 9, 30)
    assert cal.add_working_days(D(2026, 10, 3), 0) == D(2026, 10, 3)


def test_working_days_between_counts_after_day_zero():
    """Day 0 is not counted: Friday 2026-03-06 to Monday 2026-03-09 is one working day."""
    cal = BusinessCalendar()
    assert cal.working_days_between(D(2026, 3, 6), D(2026, 3, 9)) == 1
    assert cal.working_days_between(D(2026, 3, 9), D(2026, 3, 6)) == -1


def test_a_year_outside_the_data_is_an_error_not_a_guess():
    """Asking the CN calendar about 2027 raises a CalendarError that names the covered years."""
    cal = BusinessCalendar()
    with pytest.raises(CalendarError, match=r"covers 2004–2026"):
        cal.is_working_day(D(2027, 3, 1))
    with pytest.raises(CalendarError):
        cal.add_working_days(D(2026, 12, 30), 5)


def test_a_company_can_vouch_for_an_uncovered_year():
    """Listing 2027 in years with its own days off makes the year usable."""
    cal = parse_calendar("country: CN\nyears: [2027]\ndays_off: [2027-01-01]\n")
    assert not cal.is_working_day(D(2027, 1, 1))
    assert cal.is_working_day(D(2027, 1, 4))
    assert not cal.is_working_day(D(2027, 1, 2))


def test_company_days_override_the_public_calendar():
    """A company day off on a workday and a company Saturday at work both apply."""
    cal = business_calendar("CN", days_off=[D(2026, 3, 2)], days_on=[D(2026, 3, 7)])
    assert not cal.is_working_day(D(2026, 3, 2))
    assert cal.is_working_day(D(2026, 3, 7))
    assert cal.describe(D(2026, 3, 7)) == "company working day"


def test_other_countries_come_from_the_holidays_package():
    """US 2026: Friday 3 July is the observed Independence Day, Monday 6 July is worked."""
    cal = business_calendar("US")
    assert not cal.is_working_day(D(2026, 7, 3))
    assert cal.is_working_day(D(2026, 7, 6))
    assert cal.data.first_year <= 2026 <= cal.data.last_year


def test_unknown_country_is_an_error():
    """An unknown country code is refused with a CalendarError."""
    with pytest.raises(CalendarError, match="unknown calendar"):
        business_calendar("XX")


def test_weekdays_calendar_has_no_holidays():
    """The weekdays calendar works Monday to Friday in any year."""
    cal = business_calendar("weekdays")
    assert cal.is_working_day(D(2026, 10, 1))
    assert not cal.is_working_day(D(2030, 1, 5))


def test_bad_calendar_file_is_located():
    """An unknown key in a company calendar file is reported with its line."""
    with pytest.raises(RulesetError, match=r"cal.yaml:2:1"):
        parse_calendar("country: CN\nday_off: [2026-01-05]\n", "cal.yaml")


def test_policy_may_name_a_calendar():
    """A business-day policy naming CN skips the National Day week; its holidays list still applies."""
    text = "policy: p\nday_basis: business\ncalendar: CN\nholidays: [2026-10-08]\n"
    policy = parse_policy(text)
    assert policy.deadline(D(2026, 9, 30), 1) == D(2026, 10, 9)
    plain = parse_policy("policy: p\nday_basis: business\n")
    assert plain.deadline(D(2026, 9, 30), 1) == D(2026, 10, 1)


def test_policy_calendar_needs_business_basis():
    """A calendar on a calendar-day policy is a located error."""
    with pytest.raises(RulesetError, match="day_basis: business"):
        parse_policy("policy: p\ncalendar: CN\n")


def test_ruleset_names_its_calendar():
    """A ruleset's calendar key compiles into the scorecard; the default is CN."""
    from kpi_engine import parse_ruleset

    base = "ruleset: r\nversion: '1'\ntitle: t\ninputs: {x: {type: count}}\nkpis: [{id: k, metric: x, method: threshold, target: 1, weight: 1}]\n"
    assert parse_ruleset(base).scorecard.calendar.country == "CN"
    assert parse_ruleset(base + "calendar: US\n").scorecard.calendar.country == "US"
    with pytest.raises(RulesetError, match="unknown calendar"):
        parse_ruleset(base + "calendar: XX\n")


def test_cli_prints_the_month(capsys):
    """`kpi calendar 2026-10` marks 10 Oct as an adjusted working day and counts 18 working days."""
    from kpi_engine.cli import main

    assert main(["calendar", "2026-10"]) == 0
    out = capsys.readouterr().out
    assert "18 in the month" in out
    assert "2026-10-10 Sat  work" in out
    assert main(["calendar", "2027-01"]) == 1
    assert main(["calendar", "2026"]) == 0
    assert capsys.readouterr().out.endswith("2026: 248 working days\n")


def test_attribution_counts_business_days_on_the_named_calendar():
    """With calendar CN, a deal by B on 9 Oct 2026 is inside A's 3-working-day protection from 30 Sep."""
    from kpi_engine.attribution import attribute
    from kpi_engine.attribution._policy import parse_policy as parse

    policy = parse("policy: p\nday_basis: business\ncalendar: CN\nprotection_days: 3\nclaim_days: 3\n")
    events = [
        {"event_id": "e1", "type": "registration", "at": "2026-09-30T10:00:00+08:00", "rep": "A", "customer": "C"},
        {
            "event_id": "e2",
            "type": "deal",
            "at": "2026-10-09T10:00:00+08:00",
            "rep": "B",
            "customer": "C",
            "deal_id": "D1",
            "amount": "100",
        },
        {
            "event_id": "e3",
            "type": "claim",
            "at": "2026-10-10T10:00:00+08:00",
            "rep": "A",
            "customer": "C",
            "deal_id": "D1",
        },
    ]
    result = attribute(policy, events)
    assert [c.credited_to for c in result.credits] == ["A"]
    plain = parse("policy: p\nday_basis: business\nprotection_days: 3\nclaim_days: 3\n")
    assert [c.credited_to for c in attribute(plain, events).credits] == ["B"]


@pytest.mark.parametrize(
    ("text", "kind", "day"),
    [("2026-03-31", "day", "2026-03-31"), ("2026/3/31", "day", "2026-03-31"), ("2026年3月5日", "day", "2026-03-05"),
     ("2026年3月", "month", "2026-03-01"), ("2026-03-01T00:00:00", "day", "2026-03-01"),
     ("2026-03-01 00:00:00.000000", "day", "2026-03-01"), ("46082", "day", "2026-03-01"),
     ("46082.5", "day", "2026-03-01")],
)  # fmt: skip
def test_a_period_cell_may_name_a_day(text, kind, day):
    """Dates, date-times, 年月 and Excel serials (46082 is 1 March 2026) name a day (or a month)."""
    assert day_named(text) == (kind, dt.date.fromisoformat(day))


@pytest.mark.parametrize("text", ["2026-03", "2026", "4608", "460820", "2026-Q1", "March"])
def test_periods_and_other_text_name_no_day(text):
    """A period of a kind, a number that is neither a serial nor a date, or a word names no day."""
    assert day_named(text) is None


def test_an_impossible_date_is_refused_and_period_parsing_stays_strict():
    """2026-02-30 is no date; Period.parse reads only its own kind's text (a date is not a month)."""
    with pytest.raises(ValueError, match="not a valid date"):
        day_named("2026-02-30")
    with pytest.raises(ValueError, match="is not a month period"):
        Period.parse("2026-03-15", "month")
