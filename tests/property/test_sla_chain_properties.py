"""The SLA event hash is the documented canonical JSON, for any case id, kind,
value and instant (the fast encoding against ``json.dumps``), and a head is the
fold of the events, however they were split into appends."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from escalate.history import GENESIS
from escalate.sla import SlaEvent, SlaHead, sla_event_hash

# What an event's value may be (a name: not blank, no NUL, at most 200 characters).
NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=200,
).filter(str.strip)
INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.just(UTC),
)
EVENTS = st.one_of(
    st.builds(lambda at: SlaEvent(at, "agent reply"), INSTANTS),
    st.builds(lambda at, v: SlaEvent(at, "status", v), INSTANTS, NAMES),
    st.builds(lambda at, v: SlaEvent(at, "priority", v), INSTANTS, NAMES),
)


@given(
    prev=st.one_of(
        st.just(GENESIS), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
    ),
    case_id=st.text(),
    seq=st.integers(min_value=1, max_value=2**40),
    event=EVENTS,
)
def test_the_hash_is_of_the_canonical_json(
    prev: str, case_id: str, seq: int, event: SlaEvent
) -> None:
    document = {
        "at": (event.at - datetime(1970, 1, 1, tzinfo=UTC))
        // timedelta(microseconds=1),
        "case": case_id,
        "kind": event.kind.value,
        "prev": prev,
        "seq": seq,
        "v": 1,
        "value": event.value,
    }
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert sla_event_hash(prev, case_id, seq, event) == (
        hashlib.sha256(text.encode("utf-8")).hexdigest()
    )


@given(events=st.lists(EVENTS, max_size=8), cut=st.integers(min_value=0, max_value=8))
def test_a_head_is_the_fold_however_the_appends_split(
    events: list[SlaEvent], cut: int
) -> None:
    whole = SlaHead("c1").after(events)
    assert SlaHead("c1").after(events[:cut]).after(events[cut:]) == whole
    assert whole.count == len(events)
    prev = GENESIS
    for seq, event in enumerate(events, 1):
        prev = sla_event_hash(prev, "c1", seq, event)
    assert whole.hash == prev
