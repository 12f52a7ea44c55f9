"""Settings: the rule book and calendars as one canonical, storable document."""

from __future__ import annotations

import json
from datetime import date, time, timedelta
from decimal import Decimal
from fractions import Fraction

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate.errors import ConfigError
from escalate.hours import BusinessHours
from escalate.model import Status
from escalate.recurrence import Recurrence
from escalate.rules import (
    EscalationAction,
    ExpiryPolicy,
    Rule,
    RuleBook,
    RuleItem,
    TimeBasis,
)
from escalate.settings import Settings

H = timedelta(hours=1)
BOOK = RuleBook.build(
    [
        Rule(
            name="gold",
            items=[
                RuleItem(
                    id="item-1",
                    conditions=[
                        ("status", "equals", "Active – New"),
                        ("due", "<", date(2027, 1, 1)),
                        ("amount", ">=", Decimal("99.50")),
                        ("region", "in", ["NL", "BE"]),
                        ("owner", "is empty"),
                    ],
                    logic="1 AND (2 OR 3) AND 4 AND 5",
                    hours="office",
                    basis=TimeBasis.CREATED_UNTIL_MODIFIED,
                    latest_only=True,
                    name="Gold cases",
                    actions=[
                        EscalationAction(
                            id="step-1",
                            after=H + timedelta(microseconds=7),
                            escalate_to="lead",
                            extra_emails=("desk@example.com",),
                            warnings=(Fraction(1, 3), 50),
                        ),
                        EscalationAction(
                            id="step-2",
                            after=4 * H,
                            escalate_to="boss",
                            new_owner="senior",
                            escalation_template="urgent",
                            notify_template="yours",
                        ),
                    ],
                )
            ],
        ),
        Rule(name="empty"),
    ],
    active="gold",
    expiry=ExpiryPolicy(
        after=timedelta(days=2),
        hours="office",
        enabled=False,
        expired=Status("Lapsed", closed=True),
    ),
)
OFFICE = BusinessHours.from_spec(
    {"mon-fri": "09:00-12:30, 13:30-17:00", "sat": [(time(22, 0, 0, 5), "06:00")]},
    tz="Europe/Amsterdam",
    holidays={date(2026, 12, 25), date(2026, 12, 26)},
    special_days={date(2026, 12, 24): "09:00-12:00", date(2026, 12, 31): "closed"},
)


def test_round_trip() -> None:
    """A document reads back as equal settings, with the same digest."""
    nl = BusinessHours.from_spec(
        {"mon-fri": "08:00-18:00"},
        tz="Europe/Amsterdam",
        holidays=holidays.country_holidays("NL"),
        recurring=[
            Recurrence(rule="FREQ=MONTHLY;BYDAY=1MO", hours="09:00-12:00"),
            Recurrence(rule="FREQ=DAILY;COUNT=2", start=date(2026, 7, 1), name="move"),
        ],
    )
    settings = Settings(BOOK, {"office": OFFICE, "nl": nl})
    back = Settings.from_document(settings.document())
    assert back.book == BOOK
    assert back.calendars["office"] == OFFICE
    assert back.calendars["nl"].recurring == nl.recurring
    assert date(2026, 4, 27) in back.calendars["nl"].holidays  # King's Day
    assert back.document() == settings.document()
    assert back.digest == settings.digest


def test_digest_is_canonical_and_sees_changes() -> None:
    """Equal settings, built in another order, have one digest; a change to a
    calendar or to the book changes it."""
    a = Settings(BOOK, {"office": OFFICE, "always": BusinessHours.always()})
    b = Settings(BOOK, {"always": BusinessHours.always(), "office": OFFICE})
    assert a.digest == b.digest
    assert len(a.digest) == 64
    later = OFFICE.with_overrides({"fri": "09:00-16:00"})
    assert (
        Settings(BOOK, {"office": later}).digest
        != Settings(BOOK, {"office": OFFICE}).digest
    )
    assert (
        Settings(RuleBook(), {"office": OFFICE}).digest
        != Settings(BOOK, {"office": OFFICE}).digest
    )


@given(
    week=st.lists(
        st.lists(
            st.tuples(st.integers(0, 24 * 60 - 1), st.integers(1, 24 * 60)),
            max_size=3,
        ),
        min_size=7,
        max_size=7,
    ),
    zone=st.sampled_from(["UTC", "Europe/Amsterdam", "America/New_York"]),
    closed=st.sets(st.dates(date(2020, 1, 1), date(2030, 12, 31)), max_size=5),
)
def test_any_calendar_round_trips(
    week: list[list[tuple[int, int]]], zone: str, closed: set[date]
) -> None:
    """Any weekly schedule, zone and holiday set reads back equal."""
    spec = {
        i: [(timedelta(minutes=s), timedelta(minutes=e)) for s, e in day]
        for i, day in enumerate(week)
    }
    hours = BusinessHours.from_spec(spec, tz=zone, holidays=closed)
    back = Settings.from_document(Settings(RuleBook(), {"x": hours}).document())
    assert back.calendars["x"] == hours


def test_missing_calendars() -> None:
    """The calendars the book names but the settings lack."""
    assert Settings(BOOK).missing_calendars() == ("office",)
    assert Settings(BOOK, {"office": OFFICE}).missing_calendars() == ()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"book": "gold"}, "book: expected a RuleBook, got 'gold'"),
        ({"calendars": {"x": "mon-fri"}}, "calendars['x']: expected a BusinessHours"),
        ({"calendars": {"": OFFICE}}, "calendars: expected non-empty names"),
        ({"calendars": ["office"]}, "calendars: expected a mapping"),
    ],
)
def test_bad_values_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_a_holiday_source_that_cannot_be_stored() -> None:
    """Holidays that are neither dates nor a holidays object: a clear error."""

    class Fridays:
        def __contains__(self, day: object) -> bool:
            return isinstance(day, date) and day.weekday() == 4

    hours = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="UTC")
    odd = BusinessHours(weekly=hours.weekly, tz="UTC", holidays=Fridays())
    with pytest.raises(ConfigError, match="holidays: a Fridays cannot be stored"):
        Settings(RuleBook(), {"odd": odd}).document()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "expected a settings document"),
        ("[1, 2]", "^settings: format: expected 2, got \\[1, 2\\]$"),
        ('{"format": 9}', "^settings: format: expected 2, got 9$"),
        ('{"format": 1}', "expected a settings document"),
    ],
)
def test_bad_documents(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_document(text)


def test_a_stored_book_that_no_longer_validates() -> None:
    """A document whose rule book breaks a rule: ConfigError saying so."""
    data = json.loads(Settings(BOOK, {"office": OFFICE}).document())
    data["book"]["active"] = "platinum"
    with pytest.raises(ConfigError, match=r"stored rule book is not valid.*platinum"):
        Settings.from_document(json.dumps(data))
    data = json.loads(Settings(BOOK, {"office": OFFICE}).document())
    data["calendars"]["office"]["tz"] = "Mars/Olympus"
    with pytest.raises(ConfigError, match="calendars\\['office'\\]: tz"):
        Settings.from_document(json.dumps(data))


def test_a_format_1_document_still_reads() -> None:
    """A document stored before ids were required (format 1, with the book's id
    counter) reads back as the same settings."""
    settings = Settings(BOOK, {"office": OFFICE})
    data = json.loads(settings.document())
    assert data["format"] == 2
    data["format"] = 1
    data["book"]["next_id"] = 7
    back = Settings.from_document(json.dumps(data))
    assert back == settings
    assert back.digest == settings.digest
