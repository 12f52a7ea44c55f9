"""SlaTimer against a brute-force model of counted time."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from escalate.timers import SlaTimer, TimerState
from tests.models import HoursModel, us
from tests.strategies import instants_in, scenarios

US = timedelta(microseconds=1)
FRACTIONS = st.lists(
    st.one_of(
        st.sampled_from([25, 50, 75, 100, 150]),
        st.fractions(min_value=Fraction(1, 1000), max_value=2),
    ),
    max_size=4,
)


@st.composite
def histories(draw: st.DrawFn) -> tuple:
    """A timer built from a random pause/resume history, and its model."""
    bh, model, lo, hi = draw(scenarios())
    zone = bh.tz.key
    n = draw(st.integers(1, 11))
    # Sorted by instant: Python orders datetimes sharing a tzinfo by wall clock.
    times = sorted((instants_in(draw, lo, hi, zone) for _ in range(n)), key=us)
    target = draw(st.integers(1, 2 * 86_400_000_000))
    thresholds = draw(FRACTIONS)
    timer = SlaTimer.start(
        times[0], target=target * US, hours=bh, thresholds=thresholds
    )
    segments: list[list[int | None]] = [[us(times[0]), None]]
    for i, t in enumerate(times[1:]):
        if i % 2 == 0:
            timer = timer.pause(t)
            segments[-1][1] = us(t)
        else:
            timer = timer.resume(t)
            segments.append([us(t), None])
    spans = model.open_spans(lo, hi)
    return timer, model, spans, segments, target, lo, hi, zone


def counted(model: HoursModel, spans: list, segments: list, x: int) -> int:
    return sum(
        model.elapsed(spans, s, min(e if e is not None else x, x))
        for s, e in segments
        if s < x
    )


def reach(model: HoursModel, spans: list, segments: list, need: int) -> int | None:
    """The model's earliest instant with counted >= need (None if not in window)."""
    if need <= 0:
        return segments[0][0]
    before = 0
    for s, e in segments:
        length = model.elapsed(spans, s, e) if e is not None else None
        if length is not None and before + length < need:
            before += length
            continue
        return model.add(spans, s, need - before)
    return None


def need_of(f: Fraction, target: int) -> int:
    return -((-f.numerator * target) // f.denominator)


class TestSlaTimerModel:
    @settings(max_examples=120, deadline=None)
    @given(histories(), st.data())
    def test_elapsed_matches_model(self, h: tuple, data: st.DataObject) -> None:
        """elapsed(x) is the model's counted time, also for past instants."""
        timer, model, spans, segments, _, lo, hi, zone = h
        for _ in range(3):
            x = instants_in(data.draw, lo, hi, zone)
            assert timer.elapsed(x) == counted(model, spans, segments, us(x)) * US

    @settings(max_examples=120, deadline=None)
    @given(histories())
    def test_due_at_is_the_earliest_instant_reaching_target(self, h: tuple) -> None:
        """While running, due_at is the earliest instant counted time >= target."""
        timer, model, spans, segments, target, _, hi, _ = h
        expected = reach(model, spans, segments, target)
        if timer.state_now is TimerState.PAUSED:
            assert timer.due_at is None
            return
        assume(expected is not None and expected < us(hi))
        assert timer.due_at is not None
        assert us(timer.due_at) == expected

    @settings(max_examples=120, deadline=None)
    @given(histories())
    def test_thresholds_cross_where_the_model_says(self, h: tuple) -> None:
        """Each threshold crosses once, at the model's earliest instant, in order."""
        timer, model, spans, segments, target, lo, hi, _ = h
        expected = []
        for f in timer.thresholds:
            x = reach(model, spans, segments, need_of(f, target))
            if (
                x is not None
                and x <= us(hi)
                and (timer.state_now is TimerState.RUNNING or x <= timer.last)
            ):
                expected.append((x, f))
        got = timer.crossings(lo - timedelta(days=1), hi)
        assert [(us(t), f) for t, f in got] == sorted(expected)

    @settings(max_examples=120, deadline=None)
    @given(histories(), st.data())
    def test_crossed_is_additive(self, h: tuple, data: st.DataObject) -> None:
        """crossed(a, b) + crossed(b, c) == crossed(a, c), with no repeats."""
        timer, _, _, _, _, lo, hi, zone = h
        a, b, c = sorted(
            (
                instants_in(
                    data.draw, lo - timedelta(days=1), hi + timedelta(days=9), zone
                )
                for _ in range(3)
            ),
            key=us,
        )
        assert timer.crossed(a, b) + timer.crossed(b, c) == timer.crossed(a, c)
        whole = timer.crossed(lo - timedelta(days=1), hi + timedelta(days=3650))
        assert len(whole) == len(set(whole))

    @settings(max_examples=60, deadline=None)
    @given(histories(), st.integers(1, 86_400_000_000))
    def test_retarget_keeps_counted_time(self, h: tuple, new_target: int) -> None:
        """A retarget at the last event keeps the counted time and moves due_at."""
        timer, model, spans, segments, _, _, hi, _ = h
        last = timer.last
        t = timer.retarget(
            timer.started_at + (last - timer.run_start) * US, new_target * US
        )
        assert t.elapsed(timer.started_at + (last - timer.run_start) * US) == (
            counted(model, spans, segments, last) * US
        )
        if t.state_now is TimerState.RUNNING:
            done = counted(model, spans, segments, last)
            if done >= new_target:
                assert t.due_at is not None
                assert us(t.due_at) <= last
            else:
                expected = reach(model, spans, segments, new_target)
                assume(expected is not None and expected < us(hi))
                assert t.due_at is not None
                assert us(t.due_at) == expected
