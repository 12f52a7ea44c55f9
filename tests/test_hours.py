"""Named behaviours of escalate.hours.BusinessHours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from escalate.errors import NaiveDatetimeError, ScheduleError, WrongTypeError
from escalate.hours import BusinessHours

AMS = ZoneInfo("Europe/Amsterdam")
NYC = ZoneInfo("America/New_York")
H = timedelta(hours=1)


def at(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone, fold=fold)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def spans(bh: BusinessHours, a: datetime, b: datetime) -> list[tuple[str, str]]:
    return [(s.isoformat(), e.isoformat()) for s, e in bh.intervals(a, b)]


OFFICE = BusinessHours.from_spec(
    {"mon-fri": "09:00-12:30, 13:30-17:00", "sat": "10:00-14:00", "sun": "closed"},
    tz="Europe/Amsterdam",
)


class TestSpec:
    def test_ranges_lists_and_overrides(self) -> None:
        """Ranges, lists and full names parse; later keys win for their days."""
        bh = BusinessHours.from_spec(
            {"mon-fri": "09:00-17:00", "wed,friday": "10:00-12:00"}, tz="UTC"
        )
        assert bh.shifts_on(date(2026, 11, 23)) == ((9 * H, 17 * H),)  # Monday
        assert bh.shifts_on(date(2026, 11, 25)) == ((10 * H, 12 * H),)  # Wednesday
        assert bh.shifts_on(date(2026, 11, 27)) == ((10 * H, 12 * H),)  # Friday
        assert bh.shifts_on(date(2026, 11, 29)) == ()  # Sunday: not named

    def test_structured_form_equals_text(self) -> None:
        """Weekday numbers with time pairs mean the same as the text form."""
        text = BusinessHours.from_spec({"mon": "09:00-12:00, 13:00-24:00"}, tz="UTC")
        structured = BusinessHours.from_spec(
            {0: [(time(9), time(12)), (time(13), "24:00")]}, tz="UTC"
        )
        assert text == structured
        assert hash(text) == hash(structured)

    def test_overlapping_and_touching_count_once(self) -> None:
        """Overlapping or touching intervals merge into one."""
        bh = BusinessHours.from_spec(
            {"mon": "09:00-12:00, 11:00-13:00, 13:00-14:00"}, tz="UTC"
        )
        assert bh.shifts_on(date(2026, 11, 23)) == ((9 * H, 14 * H),)
        a = utc(2026, 11, 23)
        assert bh.elapsed(a, a + 24 * H) == 5 * H

    @pytest.mark.parametrize(
        ("spec", "words"),
        [
            ({"mon-fri": "9-5"}, ["mon-fri", "'9-5'"]),
            ({"mon": "25:00-26:00"}, ["mon", "'25:00'"]),
            ({"mon": "09:00-"}, ["mon", "''"]),
            ({"mon": ""}, ["mon", "empty string"]),
            ({"funday": "09:00-17:00"}, ["'funday'", "mon, tue"]),
            ({"fri-mon": "09:00-17:00"}, ["'fri-mon'", "backwards"]),
            ({"mon": "24:00-10:00"}, ["mon", "'24:00'"]),
            ({"mon": "09:60-10:00"}, ["mon", "'09:60'"]),
            ({"mon": [(time(9),)]}, ["mon", "(start, end) pairs"]),
            ({7: "09:00-10:00"}, ["7", "0-6"]),
        ],
    )
    def test_bad_specs_name_day_and_text(self, spec: dict, words: list[str]) -> None:
        """A malformed spec raises ScheduleError naming the day and the text."""
        with pytest.raises(ScheduleError) as e:
            BusinessHours.from_spec(spec, tz="UTC")
        for word in words:
            assert word in str(e.value)

    def test_bad_zone(self) -> None:
        """An unknown zone name is a ScheduleError naming tz and the value."""
        with pytest.raises(ScheduleError, match=r"tz: .*'Mars/Olympus'"):
            BusinessHours.from_spec({}, tz="Mars/Olympus")

    def test_bad_special_day_key(self) -> None:
        """Special days are keyed by dates, not datetimes."""
        with pytest.raises(ScheduleError, match="special_days"):
            BusinessHours.from_spec(
                {}, tz="UTC", special_days={utc(2026, 1, 1): "closed"}
            )

    def test_schedule_error_is_value_error(self) -> None:
        """ScheduleError is also a ValueError for code that does not know it."""
        with pytest.raises(ValueError):  # noqa: PT011
            BusinessHours.from_spec({"mon": "nope"}, tz="UTC")


class TestArguments:
    def test_naive_datetime_names_the_argument(self) -> None:
        """A naive datetime raises NaiveDatetimeError, also a TypeError, naming it."""
        naive = datetime(2026, 11, 23, 9)
        with pytest.raises(NaiveDatetimeError, match=r"^b: "):
            OFFICE.elapsed(utc(2026, 11, 23), naive)
        with pytest.raises(TypeError, match=r"^t: "):
            OFFICE.add(naive, H)
        for method in (OFFICE.is_open, OFFICE.next_open, OFFICE.next_close):
            with pytest.raises(NaiveDatetimeError, match=r"^t: "):
                method(naive)

    def test_duration_must_be_timedelta(self) -> None:
        """add() takes a timedelta, not a number of hours."""
        with pytest.raises(WrongTypeError, match=r"^d: expected a timedelta, got int"):
            OFFICE.add(utc(2026, 11, 23), 8)  # type: ignore[arg-type]

    def test_inputs_in_any_zone_results_in_schedule_zone(self) -> None:
        """Inputs may be in any zone; results are in the schedule's zone."""
        t = at(NYC, 2026, 11, 23, 3)  # 09:00 in Amsterdam
        u = OFFICE.add(t, H)
        assert u == at(AMS, 2026, 11, 23, 10)
        assert u.tzinfo is AMS
        assert OFFICE.next_open(utc(2026, 11, 23, 6)).tzinfo is AMS


class TestBasics:
    def test_lunch_break_does_not_count(self) -> None:
        """The lunch break between two intervals is closed time."""
        assert OFFICE.elapsed(at(AMS, 2026, 11, 23, 12), at(AMS, 2026, 11, 23, 14)) == H

    def test_deadline_exactly_at_closing(self) -> None:
        """A deadline that ends exactly at closing time is the closing instant."""
        assert OFFICE.add(at(AMS, 2026, 11, 23, 16), H) == at(AMS, 2026, 11, 23, 17)
        assert OFFICE.add(at(AMS, 2026, 11, 23, 9), 3.5 * H) == at(
            AMS, 2026, 11, 23, 12, 30
        )

    def test_negative_add_goes_back_to_the_latest_instant(self) -> None:
        """A negative duration goes back; landing on an opening gives the opening."""
        assert OFFICE.add(at(AMS, 2026, 11, 24, 10), -H) == at(AMS, 2026, 11, 24, 9)
        assert OFFICE.add(at(AMS, 2026, 11, 24, 10), -2 * H) == at(
            AMS, 2026, 11, 23, 16
        )

    def test_add_zero_is_identity(self) -> None:
        """add(t, 0) is t, even when closed."""
        t = at(AMS, 2026, 11, 22, 3)
        assert OFFICE.add(t, timedelta(0)) == t

    def test_microseconds_are_exact(self) -> None:
        """elapsed and add keep microseconds."""
        a = at(AMS, 2026, 11, 23, 9, 0, 0, 1)
        assert OFFICE.elapsed(a, at(AMS, 2026, 11, 23, 9, 0, 1)) == timedelta(
            microseconds=999_999
        )
        assert OFFICE.add(a, timedelta(microseconds=3)) == at(
            AMS, 2026, 11, 23, 9, 0, 0, 4
        )

    def test_is_open_half_open(self) -> None:
        """Intervals are half-open: open at opening, closed at closing."""
        assert OFFICE.is_open(at(AMS, 2026, 11, 23, 9))
        assert not OFFICE.is_open(at(AMS, 2026, 11, 23, 12, 30))
        assert not OFFICE.is_open(at(AMS, 2026, 11, 22, 12))

    def test_next_open_and_close(self) -> None:
        """next_open is t when open; next_close ends the current or next stretch."""
        t = at(AMS, 2026, 11, 23, 10)
        assert OFFICE.next_open(t) == t
        assert OFFICE.next_close(t) == at(AMS, 2026, 11, 23, 12, 30)
        sunday = at(AMS, 2026, 11, 22, 10)
        assert OFFICE.next_open(sunday) == at(AMS, 2026, 11, 23, 9)
        assert OFFICE.next_close(sunday) == at(AMS, 2026, 11, 23, 12, 30)

    def test_always_is_real_time(self) -> None:
        """BusinessHours.always() counts real time, across years."""
        bh = BusinessHours.always()
        a, b = utc(2020, 5, 1, 1, 2, 3, 4), utc(2029, 2, 3, 4, 5, 6, 7)
        assert bh.elapsed(a, b) == b - a
        assert bh.add(a, b - a) == b
        assert bh.add(b, a - b) == a
        with pytest.raises(ScheduleError, match="within 10 years"):
            bh.next_close(a)

    def test_add_searches_ten_years(self) -> None:
        """add() looks ten (UTC calendar) years ahead at most, then refuses."""
        bh = BusinessHours.always()
        with pytest.raises(ScheduleError, match="within 10 years of 2020"):
            bh.add(utc(2020, 5, 1), timedelta(days=366 * 11))

    def test_never_open_raises_instead_of_looping(self) -> None:
        """A schedule with too little open time raises ScheduleError."""
        closed = BusinessHours.from_spec({}, tz="UTC")
        with pytest.raises(ScheduleError, match="within 10 years"):
            closed.add(utc(2026, 1, 1), H)
        with pytest.raises(ScheduleError, match="within 10 years"):
            closed.add(utc(2026, 1, 1), -H)
        with pytest.raises(ScheduleError, match="within 10 years"):
            closed.next_open(utc(2026, 1, 1))
        assert closed.elapsed(utc(2000, 1, 1), utc(2030, 1, 1)) == timedelta(0)

    def test_long_spans(self) -> None:
        """Ten years of Mon-Fri 09-17 is 8h per weekday."""
        bh = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="UTC")
        a, b = utc(2016, 1, 1), utc(2026, 1, 1)
        weekdays = sum(
            1 for i in range((b - a).days) if (a + timedelta(days=i)).weekday() < 5
        )
        assert bh.elapsed(a, b) == weekdays * 8 * H
        assert bh.add(a, weekdays * 8 * H) == utc(2025, 12, 31, 17)


class TestOvernight:
    NIGHT = BusinessHours.from_spec({"mon-fri": "22:00-06:00"}, tz="Europe/Amsterdam")

    def test_belongs_to_the_day_it_starts(self) -> None:
        """Friday's night shift runs into Saturday; Sunday has none."""
        assert self.NIGHT.is_open(at(AMS, 2026, 11, 28, 5))  # Saturday 05:00
        assert not self.NIGHT.is_open(at(AMS, 2026, 11, 23, 5))  # Monday 05:00

    def test_merges_with_next_days_midnight_opening(self) -> None:
        """An overnight shift and a 00:00 opening form one stretch."""
        bh = BusinessHours.from_spec(
            {"mon": "20:00-02:00", "tue": "00:00-08:00"}, tz="UTC"
        )
        assert spans(bh, utc(2026, 11, 23), utc(2026, 11, 25)) == [
            ("2026-11-23T20:00:00+00:00", "2026-11-24T08:00:00+00:00")
        ]
        assert bh.next_close(utc(2026, 11, 23, 21)) == utc(2026, 11, 24, 8)

    def test_across_year_boundary_is_one_stretch(self) -> None:
        """A stretch over New Year is not cut in two."""
        bh = BusinessHours.from_spec({"thu": "22:00-06:00"}, tz="UTC")
        assert bh.next_close(utc(2026, 12, 31, 23)) == utc(2027, 1, 1, 6)
        assert spans(bh, utc(2026, 12, 31), utc(2027, 1, 2)) == [
            ("2026-12-31T22:00:00+00:00", "2027-01-01T06:00:00+00:00")
        ]

    def test_across_fall_back_night(self) -> None:
        """A 22:00-06:00 shift over the fall-back night lasts 9 real hours."""
        bh = BusinessHours.from_spec({"sat": "22:00-06:00"}, tz="Europe/Amsterdam")
        night = (at(AMS, 2026, 10, 24, 12), at(AMS, 2026, 10, 25, 12))
        assert bh.elapsed(*night) == 9 * H

    def test_across_spring_forward_night(self) -> None:
        """A 22:00-06:00 shift over the spring-forward night lasts 7 real hours."""
        bh = BusinessHours.from_spec({"sat": "22:00-06:00"}, tz="Europe/Amsterdam")
        assert bh.elapsed(at(AMS, 2026, 3, 28, 12), at(AMS, 2026, 3, 29, 12)) == 7 * H

    def test_holiday_on_the_day_the_shift_starts(self) -> None:
        """A holiday closes the shift that starts on it, not the one ending on it."""
        bh = BusinessHours.from_spec(
            {"mon-sun": "22:00-06:00"}, tz="UTC", holidays={date(2026, 12, 25)}
        )
        assert bh.is_open(utc(2026, 12, 25, 3))  # the 24th's shift, ending on the 25th
        assert not bh.is_open(utc(2026, 12, 25, 23))  # the 25th's shift: closed
        assert bh.is_open(utc(2026, 12, 26, 23))


# Spring forward: Amsterdam 2026-03-29 02:00 -> 03:00, New York 2026-03-08 02->03.
# Fall back:      Amsterdam 2026-10-25 03:00 -> 02:00, New York 2026-11-01 02->01.
DST_TABLE = [
    # zone, day, interval, start (UTC), end (UTC), real length
    ("Europe/Amsterdam", date(2026, 3, 29), "02:00-03:00", None, None, 0),
    ("Europe/Amsterdam", date(2026, 3, 29), "02:30-04:00", (1, 0), (2, 0), 60),
    ("Europe/Amsterdam", date(2026, 3, 29), "01:00-03:00", (0, 0), (1, 0), 60),
    ("Europe/Amsterdam", date(2026, 3, 29), "01:30-02:30", (0, 30), (1, 0), 30),
    ("Europe/Amsterdam", date(2026, 10, 25), "02:00-03:00", (0, 0), (2, 0), 120),
    ("Europe/Amsterdam", date(2026, 10, 25), "02:30-03:00", (0, 30), (2, 0), 90),
    ("Europe/Amsterdam", date(2026, 10, 25), "01:00-02:30", (23, 0), (0, 30), 90),
    ("Europe/Amsterdam", date(2026, 10, 25), "00:00-24:00", (22, 0), (23, 0), 1500),
    ("America/New_York", date(2026, 3, 8), "02:00-03:00", None, None, 0),
    ("America/New_York", date(2026, 3, 8), "01:00-02:30", (6, 0), (7, 0), 60),
    ("America/New_York", date(2026, 3, 8), "02:15-09:00", (7, 0), (13, 0), 360),
    ("America/New_York", date(2026, 11, 1), "01:00-02:00", (5, 0), (7, 0), 120),
    ("America/New_York", date(2026, 11, 1), "01:30-03:00", (5, 30), (8, 0), 150),
    ("America/New_York", date(2026, 11, 1), "00:00-24:00", (4, 0), (5, 0), 1500),
]


class TestDst:
    @pytest.mark.parametrize(
        ("zone", "day", "interval", "start", "end", "minutes"), DST_TABLE
    )
    def test_dst_days(
        self,
        zone: str,
        day: date,
        interval: str,
        start: tuple[int, int] | None,
        end: tuple[int, int] | None,
        minutes: int,
    ) -> None:
        """Opening and closing times on DST days resolve as documented."""
        bh = BusinessHours.from_spec({day.weekday(): interval}, tz=zone)
        a = datetime.combine(day, time(), tzinfo=UTC) - 12 * H
        b = a + 48 * H
        got = bh.intervals(a, b)
        assert bh.elapsed(a, b) == timedelta(minutes=minutes)
        if start is None:
            assert got == ()
            return
        assert end is not None
        assert len(got) == 1
        (s, e) = got[0]
        assert (s.astimezone(UTC).hour, s.minute) == start
        assert (e.astimezone(UTC).hour, e.minute) == end

    def test_skipped_opening_is_the_jump(self) -> None:
        """An opening at 02:30 on the spring-forward day opens at 03:00 local."""
        bh = BusinessHours.from_spec({"sun": "02:30-05:00"}, tz="Europe/Amsterdam")
        opens = bh.next_open(at(AMS, 2026, 3, 29, 0))
        assert opens.isoformat() == "2026-03-29T03:00:00+02:00"

    def test_ambiguous_closing_is_first_occurrence(self) -> None:
        """A closing at 02:30 on the fall-back day is the first 02:30 (CEST)."""
        bh = BusinessHours.from_spec({"sun": "01:00-02:30"}, tz="Europe/Amsterdam")
        closes = bh.next_close(at(AMS, 2026, 10, 25, 1, 30))
        assert closes.isoformat() == "2026-10-25T02:30:00+02:00"
        assert closes.fold == 0

    def test_open_hour_across_fall_back_counts_as_it_lasts(self) -> None:
        """02:00-03:00 on the fall-back day is two real hours of business time."""
        bh = BusinessHours.from_spec({"sun": "00:00-24:00"}, tz="Europe/Amsterdam")
        first = at(AMS, 2026, 10, 25, 2)
        after = at(AMS, 2026, 10, 25, 3)
        assert bh.elapsed(first, after) == 2 * H
        assert bh.add(first, 90 * timedelta(minutes=1)).isoformat() == (
            "2026-10-25T02:30:00+01:00"
        )

    def test_deadline_across_spring_forward(self) -> None:
        """8 business hours from Saturday 20:00 on a 24/7 calendar end at 05:00."""
        bh = BusinessHours.always("Europe/Amsterdam")
        t = at(AMS, 2026, 3, 28, 22)
        assert bh.add(t, 8 * H).isoformat() == "2026-03-29T07:00:00+02:00"

    def test_havana_midnight_jump(self) -> None:
        """In Havana the clocks jump at midnight: an opening at 00:00 opens at 01:00."""
        bh = BusinessHours.from_spec({"sun": "00:00-02:00"}, tz="America/Havana")
        hav = ZoneInfo("America/Havana")
        got = bh.intervals(at(hav, 2026, 3, 7), at(hav, 2026, 3, 9))
        assert [(s.isoformat(), e.isoformat()) for s, e in got] == [
            ("2026-03-08T01:00:00-04:00", "2026-03-08T02:00:00-04:00")
        ]

    def test_apia_skipped_date(self) -> None:
        """Samoa skipped 2011-12-30; its shifts resolve to the jump and vanish."""
        apia = ZoneInfo("Pacific/Apia")
        bh = BusinessHours.from_spec({"mon-sun": "09:00-17:00"}, tz="Pacific/Apia")
        a = datetime(2011, 12, 29, tzinfo=apia)
        b = datetime(2012, 1, 1, tzinfo=apia)
        assert bh.elapsed(a, b) == 16 * H  # the 29th and the 31st
        assert bh.add(datetime(2011, 12, 29, 16, tzinfo=apia), 2 * H).isoformat() == (
            "2011-12-31T10:00:00+14:00"
        )


class TestHolidaysAndSpecialDays:
    def test_dutch_holidays_from_the_package(self) -> None:
        """King's Day and Christmas from holidays.country_holidays('NL') are closed."""
        bh = BusinessHours.from_spec(
            {"mon-fri": "09:00-17:00"},
            tz="Europe/Amsterdam",
            holidays=holidays.country_holidays("NL"),
        )
        assert not bh.is_open(at(AMS, 2026, 4, 27, 10))  # King's Day (Monday)
        assert not bh.is_open(at(AMS, 2031, 12, 25, 10))  # any year, lazily
        assert bh.is_open(at(AMS, 2026, 4, 28, 10))
        assert bh.add(at(AMS, 2026, 12, 24, 16), 2 * H) == at(AMS, 2026, 12, 28, 10)

    def test_special_day_replaces_and_wins_over_holiday(self) -> None:
        """A special day replaces the date's hours, also on a holiday."""
        bh = BusinessHours.from_spec(
            {"mon-fri": "09:00-17:00"},
            tz="Europe/Amsterdam",
            holidays={date(2026, 12, 25)},
            special_days={
                date(2026, 12, 24): "09:00-12:00",
                date(2026, 12, 25): "10:00-11:00",
            },
        )
        day = (at(AMS, 2026, 12, 24), at(AMS, 2026, 12, 25))
        assert bh.elapsed(*day) == 3 * H
        assert bh.elapsed(at(AMS, 2026, 12, 25), at(AMS, 2026, 12, 26)) == H

    def test_closed_special_day(self) -> None:
        """A special day 'closed' closes a working day."""
        bh = OFFICE.with_overrides(special_days={date(2026, 11, 23): "closed"})
        assert not bh.is_open(at(AMS, 2026, 11, 23, 10))
        assert OFFICE.is_open(at(AMS, 2026, 11, 23, 10))


class TestValueSemantics:
    def test_equality_by_content(self) -> None:
        """Two schedules from equal specs are equal and hash alike."""
        a = BusinessHours.from_spec(
            {"mon": "09:00-17:00"}, tz="UTC", holidays=[date(2026, 1, 1)]
        )
        b = BusinessHours.from_spec(
            {"mon": "09:00-17:00"}, tz="UTC", holidays={date(2026, 1, 1)}
        )
        assert a == b
        assert len({a, b}) == 1

    def test_holiday_base_compares_by_identity(self) -> None:
        """A holidays.HolidayBase is compared by identity (it is mutable)."""
        nl1, nl2 = holidays.country_holidays("NL"), holidays.country_holidays("NL")
        a = BusinessHours.from_spec({}, tz="UTC", holidays=nl1)
        assert a == BusinessHours.from_spec({}, tz="UTC", holidays=nl1)
        assert a != BusinessHours.from_spec({}, tz="UTC", holidays=nl2)
        hash(a)

    def test_frozen(self) -> None:
        """A BusinessHours cannot be changed in place."""
        with pytest.raises(AttributeError):
            OFFICE.tz = ZoneInfo("UTC")  # type: ignore[misc]

    def test_with_overrides_layers_and_keeps_the_base(self) -> None:
        """with_overrides replaces the named days only; the base is unchanged."""
        team = OFFICE.with_overrides({"sat": "09:00-17:00"})
        saturday = (at(AMS, 2026, 11, 28), at(AMS, 2026, 11, 29))
        assert team.elapsed(*saturday) == 8 * H
        assert OFFICE.elapsed(*saturday) == 4 * H
        assert team.weekly[:5] == OFFICE.weekly[:5]

    def test_repr_shows_the_spec(self) -> None:
        """The repr reads like the spec it came from."""
        assert "'sat': '10:00-14:00'" in repr(OFFICE)
