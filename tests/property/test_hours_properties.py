"""BusinessHours against the minute-by-minute model, in zones with odd DST."""

from __future__ import annotations

from datetime import timedelta

import attrs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from escalate.errors import ScheduleError
from tests.models import us
from tests.strategies import instants_in, scenarios

US = timedelta(microseconds=1)


@st.composite
def with_instants(draw: st.DrawFn, n: int) -> tuple:
    bh, model, lo, hi = draw(scenarios())
    zone = draw(st.sampled_from([bh.tz.key, "UTC", "Asia/Kolkata"]))
    return (bh, model, lo, hi, *[instants_in(draw, lo, hi, zone) for _ in range(n)])


class TestAgainstModel:
    @settings(max_examples=150, deadline=None)
    @given(with_instants(2))
    def test_elapsed_matches_model(self, case: tuple) -> None:
        """elapsed(a, b) equals the model's count of open time, to the µs."""
        bh, model, lo, hi, a, b = case
        spans = model.open_spans(lo, hi)
        assert bh.elapsed(a, b) == model.elapsed(spans, us(a), us(b)) * US

    @settings(max_examples=150, deadline=None)
    @given(
        with_instants(1),
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
        st.integers(0, 59_999_999),
    )
    def test_add_matches_model(self, case: tuple, minutes: int, micro: int) -> None:
        """add(t, d) is the model's earliest (latest for d < 0) instant."""
        bh, model, lo, hi, t = case
        d = minutes * 60_000_000 + (micro if minutes >= 0 else -micro)
        spans = model.open_spans(lo, hi)
        expected = model.add(spans, us(t), d)
        assume(expected is not None)
        got = bh.add(t, d * US)
        assert us(got) == expected
        assert got.tzinfo is bh.tz

    @settings(max_examples=100, deadline=None)
    @given(with_instants(1))
    def test_is_open_matches_model(self, case: tuple) -> None:
        """is_open(t) is true exactly inside the model's open stretches."""
        bh, model, lo, hi, t = case
        spans = model.open_spans(lo, hi)
        assert bh.is_open(t) == any(s <= us(t) < e for s, e in spans)

    @settings(max_examples=100, deadline=None)
    @given(with_instants(2))
    def test_intervals_match_model(self, case: tuple) -> None:
        """intervals(a, b) are the model's stretches, clipped and merged."""
        bh, model, lo, hi, a, b = case
        spans = model.open_spans(lo, hi)
        clipped = [
            (max(s, us(a)), min(e, us(b)))
            for s, e in spans
            if max(s, us(a)) < min(e, us(b))
        ]
        assert [(us(s), us(e)) for s, e in bh.intervals(a, b)] == clipped


class TestLaws:
    @settings(max_examples=150, deadline=None)
    @given(with_instants(2), st.integers(-3, 3))
    def test_positions_differ_by_the_model_time(self, case: tuple, years: int) -> None:
        """_position(b) - _position(a) is the model's open time from a to b,
        whichever year was asked first (it anchors the positions)."""
        bh, model, lo, hi, a, b = case
        bh._position(us(a) + years * 366 * 86_400_000_000)
        spans = model.open_spans(lo, hi)
        got = bh._position(us(b)) - bh._position(us(a))
        assert got == model.elapsed(spans, us(a), us(b))
        far = us(b) + years * 366 * 86_400_000_000  # and across years, against
        lo_x, hi_x = sorted((us(a), far))  # the years' own tables, added up
        ya, yb = bh._year_of(lo_x), bh._year_of(hi_x)
        if ya == yb:
            summed = bh._year(ya).position(hi_x) - bh._year(ya).position(lo_x)
        else:
            summed = (
                bh._year(ya).total
                - bh._year(ya).position(lo_x)
                + sum(bh._year(y).total for y in range(ya + 1, yb))
                + bh._year(yb).position(hi_x)
            )
        assert attrs.evolve(bh).elapsed_us(lo_x, hi_x) == summed  # nothing known
        assert bh._position(hi_x) - bh._position(lo_x) == summed
        assert bh.elapsed_us(lo_x, hi_x) == summed

    @settings(max_examples=150, deadline=None)
    @given(with_instants(2))
    def test_antisymmetry(self, case: tuple) -> None:
        """elapsed(b, a) == -elapsed(a, b)."""
        bh, _, _, _, a, b = case
        assert bh.elapsed(b, a) == -bh.elapsed(a, b)

    @settings(max_examples=150, deadline=None)
    @given(with_instants(3))
    def test_additivity(self, case: tuple) -> None:
        """elapsed(a, b) + elapsed(b, c) == elapsed(a, c), in any order."""
        bh, _, _, _, a, b, c = case
        assert bh.elapsed(a, b) + bh.elapsed(b, c) == bh.elapsed(a, c)

    @settings(max_examples=150, deadline=None)
    @given(with_instants(1), st.integers(-(10**12), 10**12))
    def test_elapsed_inverts_add(self, case: tuple, d_us: int) -> None:
        """elapsed(t, add(t, d)) == d, for both signs."""
        bh, _, _, _, t = case
        assume(any(bh.weekly) or bh.special_days)
        d = d_us * US
        try:
            u = bh.add(t, d)
        except ScheduleError:  # open too rarely for d: tested in test_hours.py
            assume(False)
            raise
        assert bh.elapsed(t, u) == d
        assert (us(u) >= us(t)) if d_us >= 0 else (us(u) <= us(t))

    @settings(max_examples=150, deadline=None)
    @given(with_instants(2), st.integers(0, 10**11), st.integers(0, 10**11))
    def test_add_is_monotone(self, case: tuple, d1: int, d2: int) -> None:
        """A later start or a longer duration never gives an earlier deadline."""
        bh, _, _, _, a, b = case
        assume(any(bh.weekly))
        a, b = sorted((a, b), key=us)
        lo, hi = sorted((d1, d2))
        try:
            deadlines = [bh.add(a, lo * US), bh.add(a, hi * US), bh.add(b, lo * US)]
        except ScheduleError:  # a recurring closure may close every open day
            assume(False)
            raise
        assert us(deadlines[0]) <= us(deadlines[1])
        assert us(deadlines[0]) <= us(deadlines[2])
