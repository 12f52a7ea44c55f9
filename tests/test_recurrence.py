"""Recurring special days and closures (RFC 5545 rules), and iCalendar import."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest

from escalate.errors import ConfigError, ScheduleError
from escalate.hours import BusinessHours
from escalate.ical import read_ical
from escalate.recurrence import Recurrence

H = timedelta(hours=1)
MORNING = ((9 * H, 12 * H),)


def office(*recurring: Recurrence, **kwargs: object) -> BusinessHours:
    return BusinessHours.from_spec(
        {"mon-fri": "09:00-17:00"},
        tz="Europe/Amsterdam",
        recurring=recurring,
        **kwargs,  # type: ignore[arg-type]
    )


class TestRules:
    def test_first_monday_of_the_month(self) -> None:
        """FREQ=MONTHLY;BYDAY=1MO opens those Mondays 09:00-12:00 only."""
        bh = office(Recurrence(rule="FREQ=MONTHLY;BYDAY=1MO", hours="09:00-12:00"))
        assert bh.shifts_on(date(2026, 12, 7)) == MORNING
        assert bh.shifts_on(date(2026, 12, 14)) == ((9 * H, 17 * H),)

    def test_last_friday_of_the_year(self) -> None:
        """The last Friday of December opens 09:00-15:00, every year."""
        bh = office(
            Recurrence(rule="FREQ=YEARLY;BYMONTH=12;BYDAY=-1FR", hours="09:00-15:00")
        )
        assert bh.shifts_on(date(2027, 12, 31)) == ((9 * H, 15 * H),)
        assert bh.shifts_on(date(2027, 12, 24)) == ((9 * H, 17 * H),)

    def test_a_closure_closes(self) -> None:
        """hours default to closed: a recurring closure."""
        bh = office(Recurrence(rule="FREQ=YEARLY;BYMONTH=6;BYDAY=2FR"))
        assert bh.shifts_on(date(2026, 6, 12)) == ()

    def test_holidays_and_special_days_win(self) -> None:
        """A holiday closes a date a rule opens; a special day replaces both."""
        bh = office(
            Recurrence(rule="FREQ=MONTHLY;BYDAY=1MO", hours="09:00-12:00"),
            holidays=holidays.country_holidays("NL"),
            special_days={date(2026, 5, 4): "10:00-11:00"},
        )
        assert bh.shifts_on(date(2026, 4, 6)) == ()  # Easter Monday
        assert bh.shifts_on(date(2026, 5, 4)) == ((10 * H, 11 * H),)

    def test_a_later_rule_wins(self) -> None:
        """Two rules on one date: the later one's hours count."""
        first = Recurrence(rule="FREQ=WEEKLY;BYDAY=MO", hours="closed")
        second = Recurrence(rule="FREQ=MONTHLY;BYDAY=1MO", hours="09:00-12:00")
        assert office(first, second).shifts_on(date(2026, 12, 7)) == MORNING
        assert office(second, first).shifts_on(date(2026, 12, 7)) == ()

    def test_start_count_and_until(self) -> None:
        """start anchors COUNT and INTERVAL; UNTIL in UTC form reads as a date."""
        r = Recurrence(rule="FREQ=WEEKLY;INTERVAL=2;COUNT=3", start=date(2026, 1, 5))
        assert r.dates(date(2026, 1, 1), date(2026, 12, 31)) == [
            date(2026, 1, 5),
            date(2026, 1, 19),
            date(2026, 2, 2),
        ]
        until = Recurrence(
            rule="RRULE:FREQ=YEARLY;UNTIL=20271231T000000Z", start=date(2026, 5, 5)
        )
        assert until.rule == "FREQ=YEARLY;UNTIL=20271231T000000Z"
        assert until.dates(date(2020, 1, 1), date(2030, 1, 1)) == [
            date(2026, 5, 5),
            date(2027, 5, 5),
        ]

    def test_value_semantics(self) -> None:
        """Equal rules make equal, hashable schedules; with_overrides appends."""
        r = Recurrence(rule="freq=monthly;byday=1mo", hours="09:00-12:00")
        assert r == Recurrence(rule="FREQ=MONTHLY;BYDAY=1MO", hours=MORNING)
        assert hash(office(r)) == hash(office(r))
        later = office().with_overrides(recurring=[r])
        assert later.recurring == (r,)
        assert later.shifts_on(date(2026, 12, 7)) == MORNING

    def test_lazy_per_year(self) -> None:
        """A daily rule over centuries costs only the years asked."""
        bh = office(Recurrence(rule="FREQ=DAILY", hours="10:00-11:00"))
        assert bh.shifts_on(date(2300, 3, 1)) == ((10 * H, 11 * H),)
        assert set(bh._recurring_years) == {2300}


class TestRefusals:
    @pytest.mark.parametrize(
        ("rule", "message"),
        [
            ("FREQ=HOURLY", "FREQ: expected one of DAILY, WEEKLY, MONTHLY, YEARLY"),
            ("FREQ=WEEKLY", "expected BYDAY, BYMONTHDAY"),
            ("FREQ=DAILY;COUNT=3", "expected a start date"),
            ("FREQ=DAILY;INTERVAL=2", "expected a start date"),
            ("FREQ=MONTHLY;BYMONTHDAY=40", "BYMONTHDAY: expected numbers from 1 to 31"),
            ("FREQ=YEARLY;BYMONTH=-1;BYMONTHDAY=1", "BYMONTH: expected numbers"),
            ("FREQ=MONTHLY;BYDAY=9MO", "BYDAY: expected numbers from 1 to 5"),
            ("FREQ=MONTHLY;BYDAY=6MO", "BYDAY: expected numbers from 1 to 5"),
            ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "gives no date within 30 years"),
            ("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31", "gives no date within 30 years"),
            ("FREQ=DAILY;FOO=1", "unknown parameter 'FOO'"),
            ("FREQ=DAILY;DTSTART=20260101", "give DTSTART as start"),
            ("nonsense", "got 'NONSENSE'"),
            (42, "got 42"),
        ],
    )
    def test_bad_rules(self, rule: object, message: str) -> None:
        """Each bad rule is a ScheduleError naming what is wrong."""
        with pytest.raises(ScheduleError, match="rule") as info:
            Recurrence(rule=rule)  # type: ignore[arg-type]
        assert message in str(info.value)

    @pytest.mark.parametrize(
        ("rule", "start", "message"),
        [
            ("FREQ=DAILY", date(1, 1, 1), "start: expected a date from 1900-01-01"),
            ("FREQ=DAILY;COUNT=1000000000", date(2026, 1, 1), "COUNT: expected a"),
            ("FREQ=DAILY;INTERVAL=1000000000", date(2026, 1, 1), "INTERVAL: expect"),
            ("FREQ=DAILY;UNTIL=18000101", date(1990, 1, 1), "gives no date within"),
        ],
    )
    def test_rules_that_would_walk_for_long_are_refused(
        self, rule: str, start: date, message: str
    ) -> None:
        """A start before 1900 (a daily rule from the year 1 walked 700,000
        dates per question), a huge COUNT or INTERVAL, a rule that ends before
        it starts: refused when the rule is made, in a bounded walk."""
        with pytest.raises(ScheduleError, match=message):
            Recurrence(rule=rule, start=start)

    def test_a_rule_that_never_occurs_is_found_in_a_bounded_walk(self) -> None:
        """The sixth Monday of a month, February 30: refused at once, not after
        dateutil searched up to the year 9999 (15 to 24 s per check before)."""
        from escalate.recurrence import NEVER_WITHIN_YEARS

        assert NEVER_WITHIN_YEARS == 30
        with pytest.raises(ScheduleError, match="gives no date"):
            Recurrence(
                rule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", start=date(2026, 1, 1)
            )
        leap = Recurrence(rule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29")
        assert leap.dates(date(2028, 1, 1), date(2028, 12, 31)) == [date(2028, 2, 29)]

    def test_bad_hours_and_start(self) -> None:
        """Hours use the weekly spec's syntax; start is a date."""
        with pytest.raises(ScheduleError, match="hours: expected 'closed'"):
            Recurrence(rule="FREQ=DAILY", hours="9 to 5")
        with pytest.raises(ScheduleError, match=r"start: expected a datetime\.date"):
            Recurrence(rule="FREQ=DAILY", start="2026-01-01")  # type: ignore[arg-type]
        with pytest.raises(ScheduleError, match=r"recurring\[0\]: expected a Rec"):
            office("FREQ=DAILY")  # type: ignore[arg-type]


ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//escalate tests//EN
BEGIN:VEVENT
UID:1
DTSTART;VALUE=DATE:20261225
DTEND;VALUE=DATE:20261227
SUMMARY:Christmas
END:VEVENT
BEGIN:VEVENT
UID:2
DTSTART;VALUE=DATE:20270101
RRULE:FREQ=YEARLY;UNTIL=20291231T000000Z
SUMMARY:New Year
END:VEVENT
BEGIN:VEVENT
UID:3
DTSTART;TZID=Europe/Amsterdam:20261231T000000
DURATION:P1D
SUMMARY:Inventory
END:VEVENT
END:VCALENDAR
"""


class TestIcal:
    def test_events_become_closures(self) -> None:
        """One-off events close their days; a recurring one every date it gives."""
        closures = read_ical(ICS)
        assert [c.name for c in closures] == ["Christmas", "New Year", "Inventory"]
        bh = office(*closures)
        closed = [date(2026, 12, 25), date(2028, 1, 1), date(2026, 12, 31)]
        assert all(bh.shifts_on(d) == () for d in closed)
        assert bh.shifts_on(date(2026, 12, 28)) != ()
        assert bh.shifts_on(date(2030, 1, 1)) != ()  # after UNTIL

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("not a calendar", "expected an iCalendar calendar"),
            (ICS.replace("UID:2\n", "UID:2\nEXDATE:20280101\n"), "EXDATE is not"),
            (
                ICS.replace(
                    "DTSTART;VALUE=DATE:20270101", "DTSTART;VALUE=DATE:2027"
                ).replace("UID:2", "UID:2x"),
                "event 1 (New Year)",
            ),
            (
                ICS.replace(
                    "RRULE:FREQ=YEARLY;UNTIL",
                    "DTEND;VALUE=DATE:20270103\nRRULE:FREQ=YEARLY;UNTIL",
                ),
                "must last one day",
            ),
        ],
    )
    def test_refusals(self, text: str, message: str) -> None:
        """A file that cannot be read as closures is a ConfigError naming why."""
        with pytest.raises(ConfigError, match=r"holidays\.ics") as info:
            read_ical(text, where="holidays.ics")
        assert message in str(info.value)

    @pytest.mark.parametrize(
        "text",
        [
            ICS.replace("DTSTART;VALUE=DATE:20270101", "DTSTART;VALUE=DATE,X:20270101"),
            "root:x:0:0:root:/root:/bin/bash\n",
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:00010101\n"
            "RRULE:FREQ=DAILY\nEND:VEVENT\nEND:VCALENDAR\n",
        ],
    )
    def test_whatever_the_text_only_a_config_error(self, text: str) -> None:
        """DTSTART;VALUE=DATE,X:... (an AttributeError from icalendar before),
        a file that is no calendar (not quoted back), a rule from the year 1:
        each a ConfigError."""
        with pytest.raises(ConfigError, match=r"holidays\.ics") as info:
            read_ical(text, where="holidays.ics")
        assert "root:" not in str(info.value)
