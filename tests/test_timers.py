"""Named behaviours of escalate.timers: clocks, SLA timers, two-phase timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from escalate.errors import ConfigError, InvalidOperation, NaiveDatetimeError
from escalate.hours import BusinessHours
from escalate.testing import DEFAULT_START
from escalate.timers import (
    TIMER_TRANSITIONS,
    Clock,
    ManualClock,
    Outcome,
    Phase,
    SlaTimer,
    SystemClock,
    TimerEvent,
    TimerState,
    TwoPhaseTimer,
    parse_thresholds,
)

AMS = ZoneInfo("Europe/Amsterdam")
H = timedelta(hours=1)
OFFICE = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="Europe/Amsterdam")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)


class TestClocks:
    def test_system_clock_is_aware_utc(self) -> None:
        """SystemClock.now() is an aware UTC datetime, and a Clock."""
        now = SystemClock().now()
        assert now.tzinfo is UTC
        assert isinstance(SystemClock(), Clock)

    def test_manual_clock_moves_by_hand(self) -> None:
        """advance and set move the clock; now() is in UTC."""
        clock = ManualClock(at(2026, 11, 23, 9))
        assert clock.now() == at(2026, 11, 23, 9)
        assert clock.now().tzinfo is UTC
        assert clock.advance(2 * H) == at(2026, 11, 23, 11)
        assert clock.set(at(2026, 11, 24, 9)) == at(2026, 11, 24, 9)
        assert isinstance(clock, Clock)

    def test_manual_clock_refuses_to_go_backwards(self) -> None:
        """Going back needs backwards=True; a negative advance is refused."""
        clock = ManualClock(at(2026, 11, 23, 9))
        with pytest.raises(InvalidOperation, match="backwards=True"):
            clock.set(at(2026, 11, 23, 8))
        with pytest.raises(InvalidOperation, match="delta"):
            clock.advance(-H)
        assert clock.set(at(2026, 11, 23, 8), backwards=True) == at(2026, 11, 23, 8)

    def test_manual_clock_needs_an_aware_start(self) -> None:
        """A naive start is refused, naming the argument."""
        with pytest.raises(NaiveDatetimeError, match=r"^start: "):
            ManualClock(datetime(2026, 1, 1))

    def test_fixture(self, manual_clock: ManualClock) -> None:
        """The pytest plugin's manual_clock starts at DEFAULT_START."""
        assert manual_clock.now() == DEFAULT_START
        manual_clock.advance(H)
        assert manual_clock.now() == DEFAULT_START + H

    @pytest.mark.clock_start("2026-03-29T00:30:00+00:00")
    def test_fixture_with_a_start_mark(self, manual_clock: ManualClock) -> None:
        """A clock_start mark sets the fixture's first instant."""
        assert manual_clock.now() == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


class TestSlaTimer:
    def test_counts_only_business_time(self) -> None:
        """Started Friday 16:00 with 8h: due Monday 16:00."""
        t = SlaTimer.start(at(2026, 11, 20, 16), target=8 * H, hours=OFFICE)
        assert t.due_at == at(2026, 11, 23, 16)
        assert t.elapsed(at(2026, 11, 23, 10)) == 2 * H
        assert t.remaining(at(2026, 11, 23, 10)) == 6 * H
        assert t.fraction(at(2026, 11, 23, 10)) == Fraction(1, 4)
        assert t.state(at(2026, 11, 23, 10)) is TimerState.RUNNING

    def test_pause_over_a_weekend(self) -> None:
        """Paused Friday 12:00 to Monday 12:00: the paused open hours count zero."""
        t = SlaTimer.start(at(2026, 11, 20, 9), target=8 * H, hours=OFFICE)
        t = t.pause(at(2026, 11, 20, 12)).resume(at(2026, 11, 23, 12))
        assert t.elapsed(at(2026, 11, 23, 12)) == 3 * H
        assert t.due_at == at(2026, 11, 23, 17)
        assert t.state(at(2026, 11, 21, 12)) is TimerState.PAUSED
        assert t.elapsed(at(2026, 11, 21, 12)) == 3 * H  # asked about the past

    def test_due_at_is_none_while_paused(self) -> None:
        """A paused timer has no breach instant."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=H, hours=OFFICE)
        assert t.pause(at(2026, 11, 23, 9, 30)).due_at is None

    def test_pause_across_a_dst_change(self) -> None:
        """A 24/7 timer paused over the fall-back night loses 25 real hours."""
        always = BusinessHours.always("Europe/Amsterdam")
        t = SlaTimer.start(at(2026, 10, 24, 0), target=48 * H, hours=always)
        t = t.pause(at(2026, 10, 24, 12)).resume(at(2026, 10, 25, 12))
        assert t.elapsed(at(2026, 10, 26, 0)) == 12 * H + 12 * H
        assert t.due_at is not None
        assert t.due_at.isoformat() == "2026-10-27T00:00:00+01:00"

    def test_retroactive_start_and_pause(self) -> None:
        """A timer can start in the past, with a pause recorded after the fact."""
        t = SlaTimer.start(at(2026, 11, 2, 9), target=16 * H, hours=OFFICE)
        t = t.pause(at(2026, 11, 2, 13)).resume(at(2026, 11, 3, 9))
        assert t.due_at == at(2026, 11, 4, 13)

    def test_deadline_exactly_at_closing(self) -> None:
        """A deadline that ends at closing time is the closing instant."""
        t = SlaTimer.start(at(2026, 11, 23, 13), target=4 * H, hours=OFFICE)
        assert t.due_at == at(2026, 11, 23, 17)

    def test_stop_exactly_at_due_at_has_breached(self) -> None:
        """Stopping at due_at breaches (counted == target); a µs earlier is met."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=H, hours=OFFICE)
        assert t.due_at is not None
        assert t.stop(t.due_at).outcome is Outcome.BREACHED
        early = t.due_at - timedelta(microseconds=1)
        assert t.stop(early).outcome is Outcome.MET
        assert t.breached(t.due_at)
        assert not t.breached(early)

    def test_retarget_after_a_priority_change_keeps_counted_time(self) -> None:
        """Raising the priority (8h -> 4h) keeps the 3h counted; due moves to 1h."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=8 * H, hours=OFFICE)
        t = t.pause(at(2026, 11, 23, 11)).resume(at(2026, 11, 23, 13))
        t = t.retarget(at(2026, 11, 23, 14), 4 * H)
        assert t.elapsed(at(2026, 11, 23, 14)) == 3 * H
        assert t.due_at == at(2026, 11, 23, 15)
        assert t.target == 4 * H

    def test_retarget_below_counted_time_is_due_at_the_retarget(self) -> None:
        """A retarget below the counted time breaches at the retarget instant."""
        t = SlaTimer.start(
            at(2026, 11, 23, 9), target=8 * H, hours=OFFICE, thresholds=(50, 100)
        )
        t = t.retarget(at(2026, 11, 23, 12), 2 * H)
        assert t.due_at == at(2026, 11, 23, 12)
        assert t.crossings(at(2026, 11, 23, 0), at(2026, 11, 24, 0)) == (
            (at(2026, 11, 23, 12), Fraction(1, 2)),
            (at(2026, 11, 23, 12), Fraction(1)),
        )
        assert t.threshold_at(100) == at(2026, 11, 23, 11)

    def test_breached_timer_keeps_the_instant_it_was_reached(self) -> None:
        """Once reached, due_at stays the instant the target was reached."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=H, hours=OFFICE)
        t = t.pause(at(2026, 11, 23, 12)).resume(at(2026, 11, 23, 13))
        assert t.due_at == at(2026, 11, 23, 10)

    def test_with_hours_keeps_counted_time(self) -> None:
        """Moving to 24/7 hours keeps the counted time and recomputes due_at."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=10 * H, hours=OFFICE)
        t = t.with_hours(at(2026, 11, 23, 17), BusinessHours.always("Europe/Amsterdam"))
        assert t.elapsed(at(2026, 11, 23, 17)) == 8 * H
        assert t.due_at == at(2026, 11, 23, 19)
        assert t.elapsed(at(2026, 11, 23, 12)) == 3 * H

    def test_reset_after_stop(self) -> None:
        """reset() after stop counts again from zero and forgets pauses."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=2 * H, hours=OFFICE)
        t = t.pause(at(2026, 11, 23, 10)).stop(at(2026, 11, 23, 11))
        assert t.outcome is Outcome.MET
        t = t.reset(at(2026, 11, 24, 9))
        assert t.state(at(2026, 11, 24, 9)) is TimerState.RUNNING
        assert t.elapsed(at(2026, 11, 24, 10)) == H
        assert t.due_at == at(2026, 11, 24, 11)
        assert t.outcome is None
        assert t.started_at == at(2026, 11, 24, 9)

    def test_thresholds_cross_once_each_in_order(self) -> None:
        """50/75/100 % cross at 4h, 6h and 8h of business time."""
        t = SlaTimer.start(
            at(2026, 11, 23, 9), target=8 * H, hours=OFFICE, thresholds=(100, 50, 75)
        )
        assert t.thresholds == (Fraction(1, 2), Fraction(3, 4), Fraction(1))
        assert t.crossed(at(2026, 11, 23, 9), at(2026, 11, 23, 13)) == (Fraction(1, 2),)
        assert t.crossed(at(2026, 11, 23, 13), at(2026, 11, 23, 17)) == (
            Fraction(3, 4),
            Fraction(1),
        )
        assert t.threshold_at(Fraction(3, 4)) == at(2026, 11, 23, 15)

    def test_threshold_rounds_up_to_the_microsecond(self) -> None:
        """1/3 of 1 µs-odd target is rounded up, so counted >= f × target holds."""
        t = SlaTimer.start(
            at(2026, 11, 23, 9), target=timedelta(microseconds=10), hours=OFFICE
        )
        assert t.threshold_at(Fraction(1, 3)) == at(2026, 11, 23, 9) + timedelta(
            microseconds=4
        )

    def test_a_reset_arms_thresholds_again(self) -> None:
        """After a reset each threshold can be crossed once more."""
        t = SlaTimer.start(
            at(2026, 11, 23, 9), target=H, hours=OFFICE, thresholds=(100,)
        )
        t = t.reset(at(2026, 11, 23, 12))
        whole = t.crossings(at(2026, 11, 23, 0), at(2026, 11, 24, 0))
        assert whole == (
            (at(2026, 11, 23, 10), Fraction(1)),
            (at(2026, 11, 23, 13), Fraction(1)),
        )

    @pytest.mark.parametrize(
        ("events", "message"),
        [
            (["pause", "pause"], "paused already"),
            (["resume"], "running already"),
            (["stop", "pause"], "has stopped"),
            (["stop", "resume"], "has stopped"),
            (["stop", "stop"], "has stopped"),
            (["cancel", "pause"], "cancelled"),
            (["cancel", "reset"], "cancelled"),
            (["cancel", "stop"], "cancelled"),
        ],
    )
    def test_refused_operations_say_why(self, events: list[str], message: str) -> None:
        """Operations the state forbids raise InvalidOperation saying why."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=H, hours=OFFICE)
        for i, name in enumerate(events):
            op = getattr(t, name)
            when = at(2026, 11, 23, 10 + i)
            if i == len(events) - 1:
                with pytest.raises(InvalidOperation, match=message):
                    op(when)
            else:
                t = op(when)

    def test_out_of_order_events_are_refused(self) -> None:
        """An event dated before the last one raises InvalidOperation."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=H, hours=OFFICE).pause(
            at(2026, 11, 23, 12)
        )
        with pytest.raises(InvalidOperation, match="time order"):
            t.resume(at(2026, 11, 23, 11))
        assert (
            t.resume(at(2026, 11, 23, 12)).state(at(2026, 11, 23, 12))
            is TimerState.RUNNING
        )

    def test_state_before_start_is_refused(self) -> None:
        """Asking the state before the timer started is an error, not a guess."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=H)
        with pytest.raises(InvalidOperation, match="before the timer started"):
            t.state(at(2026, 11, 23, 8))

    def test_bad_arguments(self) -> None:
        """A zero target, bad thresholds and naive instants are clear errors."""
        with pytest.raises(ConfigError, match="target: expected a duration > 0"):
            SlaTimer.start(at(2026, 11, 23, 9), target=timedelta(0))
        with pytest.raises(ConfigError, match=r"thresholds\[1\]"):
            SlaTimer.start(at(2026, 11, 23, 9), target=H, thresholds=(50, 0))
        with pytest.raises(ConfigError, match=r"thresholds\[0\]"):
            SlaTimer.start(at(2026, 11, 23, 9), target=H, thresholds=("50%",))  # type: ignore[arg-type]
        with pytest.raises(NaiveDatetimeError, match=r"^at: "):
            SlaTimer.start(datetime(2026, 11, 23, 9), target=H)

    @pytest.mark.parametrize("state", list(TimerState))
    @pytest.mark.parametrize("event", list(TimerEvent))
    def test_every_operation_follows_the_table(
        self, state: TimerState, event: TimerEvent
    ) -> None:
        """Each (state, event) either moves as TIMER_TRANSITIONS says or is refused."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=H, hours=OFFICE)
        into = {
            TimerState.RUNNING: lambda t, w: t,
            TimerState.PAUSED: lambda t, w: t.pause(w),
            TimerState.STOPPED: lambda t, w: t.stop(w),
            TimerState.CANCELLED: lambda t, w: t.cancel(w),
        }
        t = into[state](t, at(2026, 11, 23, 9, 30))
        when = at(2026, 11, 23, 10)
        calls = {
            TimerEvent.PAUSE: lambda: t.pause(when),
            TimerEvent.RESUME: lambda: t.resume(when),
            TimerEvent.STOP: lambda: t.stop(when),
            TimerEvent.CANCEL: lambda: t.cancel(when),
            TimerEvent.RESET: lambda: t.reset(when),
            TimerEvent.RETARGET: lambda: t.retarget(when, 2 * H),
            TimerEvent.WITH_HOURS: lambda: t.with_hours(when, OFFICE),
        }
        expected = TIMER_TRANSITIONS.get((state, event))
        if expected is None:
            with pytest.raises(InvalidOperation, match=f"^{event.value}: not allowed"):
                calls[event]()
        else:
            assert calls[event]().state(when) is expected

    def test_parse_thresholds(self) -> None:
        """ints are percentages, floats go through their text, Fractions stay."""
        assert parse_thresholds((75, 0.5, Fraction(1, 3), 75)) == (
            Fraction(1, 3),
            Fraction(1, 2),
            Fraction(3, 4),
        )

    def test_frozen(self) -> None:
        """Operations return new timers; the old one is unchanged."""
        t = SlaTimer.start(at(2026, 11, 23, 9), target=H, hours=OFFICE)
        t.pause(at(2026, 11, 23, 9, 30))
        assert t.state(at(2026, 11, 23, 9, 30)) is TimerState.RUNNING


class TestTwoPhaseTimer:
    def test_second_phase_starts_when_first_completes(self) -> None:
        """Accept within 2h, then first activity within 4h of acceptance."""
        tp = TwoPhaseTimer.start(
            at(2026, 11, 20, 16), first_within=2 * H, second_within=4 * H, hours=OFFICE
        )
        assert tp.phase is Phase.FIRST
        assert tp.due_at == at(2026, 11, 23, 10)
        tp = tp.complete_first(at(2026, 11, 23, 9, 30))
        assert tp.phase is Phase.SECOND
        assert tp.outcome(Phase.FIRST) is Outcome.MET
        assert tp.due_at == at(2026, 11, 23, 13, 30)
        assert not tp.satisfied
        tp = tp.complete_second(at(2026, 11, 23, 15))
        assert tp.satisfied
        assert tp.outcome(Phase.SECOND) is Outcome.BREACHED
        assert tp.breaches(at(2026, 11, 23, 15)) == (Phase.SECOND,)

    def test_each_phase_has_its_own_hours(self) -> None:
        """The second phase may count in other business hours."""
        tp = TwoPhaseTimer.start(
            at(2026, 11, 23, 9),
            first_within=H,
            second_within=2 * H,
            hours=OFFICE,
            second_hours=BusinessHours.always("Europe/Amsterdam"),
        ).complete_first(at(2026, 11, 23, 16, 30))
        assert tp.due_at == at(2026, 11, 23, 18, 30)

    def test_crossings_of_both_phases_in_order(self) -> None:
        """crossings() lists both phases' breaches by instant."""
        tp = TwoPhaseTimer.start(
            at(2026, 11, 23, 9), first_within=H, second_within=H, hours=OFFICE
        ).complete_first(at(2026, 11, 23, 11))
        assert tp.crossings(at(2026, 11, 23, 0), at(2026, 11, 24, 0)) == (
            (at(2026, 11, 23, 10), Phase.FIRST, Fraction(1)),
            (at(2026, 11, 23, 12), Phase.SECOND, Fraction(1)),
        )

    def test_order_of_completion_is_enforced(self) -> None:
        """The second phase cannot complete before the first."""
        tp = TwoPhaseTimer.start(at(2026, 11, 23, 9), first_within=H, second_within=H)
        with pytest.raises(InvalidOperation, match="not complete yet"):
            tp.complete_second(at(2026, 11, 23, 10))
        tp = tp.complete_first(at(2026, 11, 23, 10))
        with pytest.raises(InvalidOperation, match="complete already"):
            tp.complete_first(at(2026, 11, 23, 10))

    def test_pause_and_cancel_apply_to_the_current_phase(self) -> None:
        """pause/resume move the current phase's deadline; cancel ends it."""
        tp = TwoPhaseTimer.start(
            at(2026, 11, 23, 9), first_within=H, second_within=H, hours=OFFICE
        )
        tp = tp.pause(at(2026, 11, 23, 9, 30)).resume(at(2026, 11, 23, 10, 30))
        assert tp.due_at == at(2026, 11, 23, 11)
        assert tp.cancel(at(2026, 11, 23, 10, 45)).phase is Phase.CANCELLED
