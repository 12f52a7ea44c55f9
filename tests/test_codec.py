"""The stores' JSON codec: the encoders written for speed give the text of the
general tagged encoding, and decode to what was encoded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from escalate import Case, OutgoingMail, Status
from escalate._codec import (
    case_from_json,
    case_to_json,
    dumps,
    mail_from_json,
    mail_to_json,
)

_instants = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, ZoneInfo("Europe/Amsterdam")]),
)
# What a case may hold (docs/model.md, "Values a store can keep"): whole numbers
# of 64 bits, text without NUL (hypothesis draws no lone surrogates).
_integers = st.integers(-(2**63), 2**63 - 1)
_texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=5
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    _integers,
    st.floats(allow_nan=False, allow_infinity=False),
    _texts,
    _instants,
    st.dates(),
    st.timedeltas(),
    st.decimals(allow_nan=False, allow_infinity=False),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(
                st.characters(
                    blacklist_categories=("Cs",), blacklist_characters="\x00$"
                ),
                min_size=1,
                max_size=3,
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)
_fields = st.dictionaries(
    st.sampled_from(["a", "b", "ré", "zone", "x1"]), _values, max_size=4
)


@st.composite
def _cases(draw: st.DrawFn) -> Case:
    created = draw(_instants)
    case = Case(
        id=draw(st.sampled_from(["c1", "ç-2", 'c"3'])),
        number="C-1",
        created_at=created,
        priority=draw(st.one_of(st.none(), _integers, _texts)),
        owner=draw(st.one_of(st.none(), st.just("ann"))),
        fields=draw(_fields),
        requirements=draw(
            st.dictionaries(st.sampled_from(["de", "fr"]), st.integers(1, 5))
        ),
    )
    if draw(st.booleans()):
        case = case.changed(
            created + draw(st.timedeltas(timedelta(0), timedelta(days=9))),
            by=None,
            status=Status(
                draw(st.sampled_from(["Open", "Done"])), closed=draw(st.booleans())
            ),
            solution=draw(st.one_of(st.none(), st.text(max_size=4))),
        )
    return case


def _generic(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "status": case.status,
        "priority": case.priority,
        "owner": case.owner,
        "fields": dict(case.fields),
        "created_at": case.created_at,
        "modified_at": case.modified_at,
        "status_since": case.status_since,
        "solution": case.solution,
        "requirements": dict(case.requirements),
        "settings_version": case.settings_version,
    }


@given(_cases())
def test_a_case_is_written_as_the_tagged_encoding_and_read_back(case: Case) -> None:
    text = case_to_json(case)
    assert text == dumps(_generic(case))
    back = case_from_json(text, case.version)
    assert case_to_json(back) == text  # (a zone's instants come back at their offset)
    assert back.created_us == case.created_us


@given(
    headers=st.dictionaries(
        st.sampled_from(["X-A", "X-B"]), st.one_of(st.text(max_size=4), _instants)
    ),
    html=st.one_of(st.none(), st.text(max_size=5)),
    created=st.one_of(st.none(), _instants),
)
def test_a_mail_is_written_as_the_tagged_encoding(
    headers: dict[str, Any], html: str | None, created: datetime | None
) -> None:
    mail = OutgoingMail(
        key="escalation/c1/i/a/0",
        recipient="ann@example.com",
        sender="escalate@example.com",
        subject="Case C-1 — escalated",
        text="ë\n",
        html=html,
        headers=headers,
        purpose="escalation",
        created_at=created,
    )
    text = mail_to_json(mail)
    assert text == dumps(
        {
            "key": mail.key,
            "recipient": mail.recipient,
            "sender": mail.sender,
            "subject": mail.subject,
            "text": mail.text,
            "html": mail.html,
            "headers": dict(mail.headers),
            "purpose": mail.purpose,
            "message_id": mail.message_id,
            "created_at": None if created is None else created.isoformat(),
        }
    )
    if all(isinstance(v, str) for v in headers.values()):
        assert mail_to_json(mail_from_json(text)) == text


def test_plain_values_only_skip_the_tags() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    case = Case(
        id="c1",
        number="1",
        created_at=at,
        fields={"when": at, "day": date(2026, 1, 2), "n": Decimal("1.5"), "s": "x"},
    )
    text = case_to_json(case)
    assert '"when": {"$datetime": "2026-01-01T00:00:00+00:00"}' in text
    assert '"day": {"$date": "2026-01-02"}' in text
    assert '"n": {"$decimal": "1.5"}' in text
    assert case_from_json(text, 0) == case
