"""The State Council's holiday notice read as published: days off, adjusted working days, located mistakes."""

import datetime as dt
from pathlib import Path

import chinese_calendar
import pytest

from kpi_engine.errors import RulesetError
from kpi_engine.io.calendars import calendar_yaml, parse_calendar, parse_calendar_spec, read_notice
from kpi_engine.time.calendar import BusinessCalendar, CalendarSpec, business_calendar, watch_horizon
from kpi_engine.time.notice import parse_notice

NOTICES = Path(__file__).resolve().parent.parent / "fixtures" / "notices"
D = dt.date


def _year(table, year):
    return {d for d in table if d.year == year}


def _days(year):
    day = D(year, 1, 1)
    while day.year == year:
        yield day
        day += dt.timedelta(days=1)


def _rendered(exc):
    return [i.render() for i in exc.value.issues]


class TestPublishedNotices:
    def test_2026_reproduces_chinese_calendar_exactly(self):
        """The 2026 notice gives exactly chinese-calendar's 2026 holidays and adjusted working days."""
        notice = read_notice(NOTICES / "cn_2026.txt")
        assert notice.year == 2026
        assert set(notice.days_off) == _year(chinese_calendar.holidays, 2026)
        assert set(notice.days_on) == _year(chinese_calendar.workdays, 2026)
        assert len(notice.days_off) == 33
        assert list(notice.days_on) == [D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9),
                                        D(2026, 9, 20), D(2026, 10, 10)]  # fmt: skip

    def test_2026_imported_calendar_works_every_day_as_chinese_calendar(self):
        """A Monday–Friday calendar plus the imported 2026 days agrees with chinese-calendar on all 365 days."""
        spec = read_notice(NOTICES / "cn_2026.txt").calendar_spec(CalendarSpec(country="weekdays"))
        calendar = BusinessCalendar.from_spec(spec)
        assert all(calendar.is_working_day(d) == chinese_calendar.is_workday(d) for d in _days(2026))

    @pytest.mark.parametrize("year", [2023, 2024, 2025])
    def test_earlier_notices_agree_with_chinese_calendar_on_working_days(self, year):
        """The 2023–2025 notices (no weekdays, 星期 spelling, 不调休, 与周末连休) give the library's working days."""
        spec = read_notice(NOTICES / f"cn_{year}.txt").calendar_spec(CalendarSpec(country="weekdays"))
        calendar = BusinessCalendar.from_spec(spec)
        assert all(calendar.is_working_day(d) == chinese_calendar.is_workday(d) for d in _days(year))
        assert set(spec.days_on) == _year(chinese_calendar.workdays, year)

    def test_a_range_across_new_year_takes_each_dates_own_year(self):
        """'2022年12月31日至2023年1月2日' is three days, the first in 2022."""
        notice = read_notice(NOTICES / "cn_2023.txt")
        assert notice.holidays[0].days_off == (D(2022, 12, 31), D(2023, 1, 1), D(2023, 1, 2))

    def test_a_day_in_lieu_is_a_day_off(self):
        """2017: '1月1日放假，1月2日（星期一）补休' — Monday 2 January is off, and the year is chinese-calendar's."""
        spec = read_notice(NOTICES / "cn_2017.txt").calendar_spec(CalendarSpec(country="weekdays"))
        calendar = BusinessCalendar.from_spec(spec)
        assert D(2017, 1, 2) in spec.days_off
        assert all(calendar.is_working_day(d) == chinese_calendar.is_workday(d) for d in _days(2017))

    def test_a_day_in_lieu_in_a_sentence_of_its_own_is_a_day_off(self):
        """'4月5日放假。4月6日（星期一）补休。' (2015's 清明 in two sentences): 6 April is off, not a note."""
        notice = parse_notice("2015年部分节假日安排\n三、清明节：4月5日放假。4月6日（星期一）补休。\n")
        assert notice.holidays[0].days_off == (D(2015, 4, 5), D(2015, 4, 6))
        assert notice.notes == ()

    def test_a_date_left_over_after_a_day_in_lieu_is_an_error(self):
        """'10月1日放假，10月2日补休，10月3日。' names 3 October as nothing: refused at its place, not dropped."""
        with pytest.raises(RulesetError) as exc:
            parse_notice("2027年部分节假日安排\n三、国庆节：10月1日放假，10月2日补休，10月3日。\n", "n.txt")
        assert [(i.code, i.location.line, i.location.col) for i in exc.value.issues] == [("notice_clause", 2, 23)]

    def test_a_worked_saturday_of_the_previous_year_is_kept(self):
        """2012: '2011年12月31日（星期六）上班' — the year and 31 Dec 2011 agree with chinese-calendar."""
        spec = read_notice(NOTICES / "cn_2012.txt").calendar_spec(CalendarSpec(country="weekdays"))
        calendar = BusinessCalendar.from_spec(spec)
        assert calendar.is_working_day(D(2011, 12, 31))
        assert all(calendar.is_working_day(d) == chinese_calendar.is_workday(d) for d in _days(2012))

    @pytest.mark.parametrize("weekdays", [("（星期六）", "（星期一）"), ("", "")])
    def test_a_range_across_new_year_without_years_starts_in_the_previous_december(self, weekdays):
        """In the 2023 notice '12月31日至1月2日' is 31 Dec 2022 – 2 Jan 2023 (a notice schedules its own 元旦)."""
        first, last = weekdays
        text = f"2023年部分节假日安排\n一、元旦：12月31日{first}至1月2日{last}放假调休，共3天。\n"
        assert parse_notice(text).holidays[0].days_off == (D(2022, 12, 31), D(2023, 1, 1), D(2023, 1, 2))

    def test_an_encouragement_to_rest_is_a_note_not_a_day_off(self):
        """'安排职工在除夕（2月9日）休息' in 2024 is listed as a note; 9 February stays a working day."""
        notice = read_notice(NOTICES / "cn_2024.txt")
        assert D(2024, 2, 9) not in notice.days_off
        [(where, text)] = notice.notes
        assert "除夕（2月9日）休息" in text
        assert (where.line, where.col) == (7, 47)

    def test_joined_to_the_weekend_adds_only_the_named_day(self):
        """'6月10日放假，与周末连休' is one day off."""
        notice = read_notice(NOTICES / "cn_2024.txt")
        assert [h.days_off for h in notice.holidays if h.name == "端午节"] == [(D(2024, 6, 10),)]

    def test_names_carry_the_holiday_in_chinese_and_english(self):
        """Days are named as the CN calendar names them, combined holidays with both names."""
        notice = read_notice(NOTICES / "cn_2025.txt")
        assert notice.days_off[D(2025, 1, 28)] == "春节 Spring Festival"
        assert notice.days_on[D(2025, 10, 11)] == "国庆节、中秋节 National Day / Mid-autumn Festival"

    def test_full_width_digits_and_brackets_read_the_same(self):
        """A copy with full-width digits and brackets gives the same days."""
        text = (NOTICES / "cn_2026.txt").read_text(encoding="utf-8")
        wide = text.translate(str.maketrans("0123456789()", "０１２３４５６７８９（）"))
        assert parse_notice(wide).days_off == parse_notice(text).days_off


class TestCalendarFile:
    def test_the_written_file_reads_back_to_the_same_calendar(self):
        """calendar_yaml writes a file that read_calendar reads back to the notice's days and names."""
        notice = read_notice(NOTICES / "cn_2026.txt")
        text = calendar_yaml(notice.calendar_spec(), notice, "cn_2026.txt")
        assert parse_calendar_spec(text, "cn_2026.yaml") == notice.calendar_spec()
        calendar = parse_calendar(text, "cn_2026.yaml")
        assert calendar.describe(D(2026, 2, 28)) == "adjusted working day (春节 Spring Festival)"
        assert "#   二、春节: 2026-02-15 … 2026-02-23 off (9 days); worked: 2026-02-14, 2026-02-28" in text

    def test_an_imported_year_beyond_the_library_is_covered(self):
        """A 2027 notice (shifted from 2026's layout) makes 2027 a covered year of the CN calendar."""
        text = (NOTICES / "cn_2026.txt").read_text(encoding="utf-8")
        text = (
            text.split("一、", 1)[0].replace("2026年", "2027年")
            + "一、元旦：1月1日（周五）至3日（周日）放假，共3天。\n"
        )
        calendar = business_calendar("CN").extended(BusinessCalendar.from_spec(parse_notice(text).calendar_spec()))
        assert calendar.covers(2027)
        assert not calendar.is_working_day(D(2027, 1, 1))
        assert calendar.is_working_day(D(2027, 1, 4))
        assert calendar.coverage.endswith("–2027")

    def test_adding_a_notice_to_an_existing_file_keeps_its_other_days(self):
        """calendar_spec(base) keeps the base's company days and adds the notice's year."""
        base = CalendarSpec(days_off=[D(2026, 12, 31)], years=[])
        spec = read_notice(NOTICES / "cn_2026.txt").calendar_spec(base)
        assert D(2026, 12, 31) in spec.days_off
        assert spec.years == [2026]


class TestMalformedNotices:
    def test_a_wrong_weekday_is_located(self):
        """'1月1日（周五）' in 2026 (a Thursday) is an error at the weekday's line and column."""
        with pytest.raises(RulesetError) as exc:
            parse_notice(
                "关于2026年部分节假日安排的通知\n一、元旦：1月1日（周五）至3日（周六）放假，共3天。\n", "n.txt"
            )
        assert _rendered(exc) == [
            "n.txt:2:11: 2026-01-01 is a 周四 (Thursday), but the notice says 周五 [notice_weekday]"
        ]

    def test_a_count_that_disagrees_with_the_range_is_located(self):
        """'共4天' for 1–3 January is an error at '共'."""
        with pytest.raises(RulesetError) as exc:
            parse_notice("关于2026年部分节假日安排的通知\n一、元旦：1月1日至3日放假，共4天。\n", "n.txt")
        assert _rendered(exc) == [
            "n.txt:2:16: 2026-01-01 to 2026-01-03 is 3 day(s), but the notice says 共4天 [notice_count]"
        ]

    def test_a_date_that_does_not_exist_is_located(self):
        """'2月30日' is an error at the date."""
        with pytest.raises(RulesetError) as exc:
            parse_notice("关于2026年部分节假日安排的通知\n一、春节：2月28日至30日放假。\n", "n.txt")
        assert _rendered(exc) == ["n.txt:2:12: 2026年2月30日 is not a date [notice_date]"]

    def test_a_text_without_a_year_asks_for_one(self):
        """Items without the title need --year; with it they are read."""
        items = "一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。\n"
        with pytest.raises(RulesetError) as exc:
            parse_notice(items, "n.txt")
        [issue] = exc.value.issues
        assert (issue.code, str(issue.location)) == ("notice_year", "n.txt:1:1")
        assert parse_notice(items, "n.txt", year=2026).days_on == {D(2026, 1, 4): "元旦 New Year's Day"}

    def test_a_year_given_that_contradicts_the_title_is_an_error(self):
        """--year 2027 on the 2026 notice is refused at the title's year."""
        with pytest.raises(RulesetError) as exc:
            parse_notice((NOTICES / "cn_2026.txt").read_text(encoding="utf-8"), "n.txt", year=2027)
        assert _rendered(exc) == ["n.txt:1:9: the notice schedules 2026, not 2027 [notice_year]"]

    def test_every_problem_is_reported_at_once(self):
        """Two bad items give two located errors in one RulesetError."""
        text = "关于2026年部分节假日安排的通知\n一、元旦：1月1日（周五）放假。\n二、春节：2月放假。\n三、清明节：4月4日至6日放假，共3天。\n"
        with pytest.raises(RulesetError) as exc:
            parse_notice(text, "n.txt")
        assert [(i.code, i.location.line) for i in exc.value.issues] == [("notice_weekday", 2), ("notice_clause", 3)]

    def test_a_day_both_off_and_worked_is_an_error(self):
        """A date listed as worked for one holiday and off for another is refused."""
        text = "关于2026年部分节假日安排的通知\n一、元旦：1月1日至3日放假。\n二、春节：2月15日至23日放假。1月3日（周六）上班。\n"
        with pytest.raises(RulesetError) as exc:
            parse_notice(text, "n.txt")
        assert [i.code for i in exc.value.issues] == ["notice_overlap"]
        assert "2026-01-03 is worked for 春节 and already off for 元旦" in exc.value.issues[0].message

    def test_text_without_any_item_is_an_error(self):
        """A file that is not a notice says what an item looks like."""
        with pytest.raises(RulesetError) as exc:
            parse_notice("关于2026年部分节假日安排的通知\n没有内容\n", "n.txt")
        assert [i.code for i in exc.value.issues] == ["notice_empty"]

    def test_a_weekday_listed_as_worked_is_a_warning(self):
        """'1月5日（周一）上班' is kept, with a warning that the day is worked anyway."""
        notice = parse_notice("关于2026年部分节假日安排的通知\n一、元旦：1月1日至3日放假。1月5日（周一）上班。\n")
        assert [w.code for w in notice.warnings] == ["notice_weekday"]
        assert D(2026, 1, 5) in notice.days_on


class TestHorizon:
    def test_a_day_within_60_days_of_the_covered_end_is_warned_once(self):
        """Asking about 2026-11-15 and 2026-12-01 gives one warning naming the later day and the end."""
        calendar = business_calendar("CN")
        end = calendar.covered_until
        with watch_horizon() as warnings:
            calendar.is_working_day(end - dt.timedelta(days=46))
            calendar.is_working_day(end - dt.timedelta(days=30))
            calendar.is_working_day(end - dt.timedelta(days=200))
        [warning] = warnings
        assert warning.code == "calendar_horizon"
        assert warning.severity == "warning"
        assert f"covers days up to {end.isoformat()}" in warning.message
        assert f"used {(end - dt.timedelta(days=30)).isoformat()}, 30 day(s) before" in warning.message

    def test_the_bound_is_inclusive_at_60_days(self):
        """Exactly 60 days before the end warns; 61 days before does not."""
        calendar = business_calendar("CN")
        end = calendar.covered_until
        with watch_horizon() as far:
            calendar.is_working_day(end - dt.timedelta(days=61))
        with watch_horizon() as near:
            calendar.is_working_day(end - dt.timedelta(days=60))
        assert far == []
        assert len(near) == 1

    def test_a_range_of_working_days_is_not_watched(self):
        """Counting a period's working days to the year's end (a plan, a forecast) warns nothing."""
        calendar = business_calendar("CN")
        end = calendar.covered_until
        with watch_horizon() as warnings:
            calendar.working_days(end.replace(month=1, day=1), end)
        assert warnings == []
        with watch_horizon() as warnings:
            calendar.add_working_days(end - dt.timedelta(days=10), 2)
        assert len(warnings) == 1

    def test_an_imported_next_year_moves_the_horizon(self):
        """With next year imported, the old year end is no longer near the covered end."""
        calendar = business_calendar("CN")
        end = calendar.covered_until
        extended = calendar.extended(BusinessCalendar("CN", company_years=frozenset({end.year + 1})))
        assert extended.covered_until == D(end.year + 1, 12, 31)
        with watch_horizon() as warnings:
            extended.is_working_day(end)
        assert warnings == []

    def test_outside_the_covered_years_the_error_names_the_import(self):
        """The error for an uncovered year tells how to import the year's notice."""
        calendar = business_calendar("CN")
        beyond = D(calendar.covered_until.year + 1, 1, 5)
        with pytest.raises(Exception, match=r"kpi calendar import NOTICE"):
            calendar.is_working_day(beyond)


def test_a_notice_pasted_as_one_paragraph_reads_the_same():
    """Items run together on one line (a copy from a web page) give the same days."""
    text = (NOTICES / "cn_2026.txt").read_text(encoding="utf-8")
    assert parse_notice(text.replace("\n", "")).days_off == parse_notice(text).days_off
    assert parse_notice(text.replace("\n", "")).days_on == parse_notice(text).days_on


class TestCommand:
    @pytest.fixture(autouse=True)
    def at_root(self, root, monkeypatch):
        monkeypatch.chdir(root)

    def test_calendar_import_writes_a_file_kpi_calendar_reads(self, capsys, tmp_path):
        """kpi calendar import NOTICE --out FILE, then kpi calendar --calendar FILE shows the notice's days."""
        from kpi_engine.cli import main

        out = tmp_path / "cn_2026.yaml"
        assert main(["calendar", "import", "tests/fixtures/notices/cn_2026.txt", "--out", str(out)]) == 0
        _, err = capsys.readouterr()
        assert "2026: 7 holidays, 33 days off, 6 adjusted working days" in err
        assert main(["calendar", "2026-10", "--calendar", str(out)]) == 0
        shown, _ = capsys.readouterr()
        assert "2026-10-10 Sat  work  adjusted working day (国庆节 National Day)" in shown
        assert "+ working day (18 in the month)" in shown

    def test_a_malformed_notice_exits_1_with_located_lines(self, capsys, tmp_path):
        """A wrong weekday is reported as FILE:LINE:COL and nothing is written."""
        from kpi_engine.cli import main

        bad = tmp_path / "notice.txt"
        bad.write_text("关于2026年部分节假日安排的通知\n一、元旦：1月1日（周五）放假。\n", encoding="utf-8")
        out = tmp_path / "cal.yaml"
        assert main(["calendar", "import", str(bad), "--out", str(out)]) == 1
        _, err = capsys.readouterr()
        assert f"{bad}:2:11: 2026-01-01 is a 周四" in err
        assert not out.exists()

    def test_alerts_into_next_year_need_its_notice_and_work_with_it(self, capsys, tmp_path):
        """December's alerts open on 1 January: refused beyond the library's years, due dates with the import."""
        from kpi_engine.cli import main

        records = tmp_path / "records.csv"
        records.write_text(
            "subject,period,sales,leads,converted\nr1,2026-11,100,10,3\nr1,2026-12,200,10,3\n", encoding="utf-8"
        )
        args = ["alerts", "rulesets/sales_dashboard_monthly.yaml", "--records", str(records), "--period", "2026-12"]
        end = BusinessCalendar().covered_until.year
        if end > 2026:  # pragma: no cover - a newer chinese-calendar already ships 2027
            pytest.skip("the installed chinese-calendar covers 2027")
        assert main(args) == 1
        _, err = capsys.readouterr()
        assert "kpi calendar import NOTICE" in err
        cal = tmp_path / "cn_2027.yaml"
        assert main(["calendar", "import", "tests/fixtures/notices/synthetic_2027.txt", "--out", str(cal)]) == 0
        capsys.readouterr()
        assert main([*args, "--calendar", str(cal), "--format", "csv"]) == 0
        out, err = capsys.readouterr()
        assert ",2027-01-01,2027-01-05," in out  # opened Fri 1 Jan (a holiday), due the 2nd working day: Tue 5 Jan
        assert "calendar_horizon" not in err

    def test_a_run_near_the_end_of_the_covered_years_is_warned(self, capsys):
        """kpi calendar for the last month of the data warns on stderr; an earlier month does not."""
        from kpi_engine.cli import main

        end = BusinessCalendar().covered_until
        assert main(["calendar", f"{end.year}-06"]) == 0
        assert "calendar_horizon" not in capsys.readouterr().err
        assert main(["calendar", f"{end.year}-12"]) == 0
        err = capsys.readouterr().err
        assert f"warning: the CN calendar covers days up to {end.isoformat()}" in err
        assert "[calendar_horizon]" in err
