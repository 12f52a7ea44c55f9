"""Named behaviours of escalate.rules: the rule book and the evaluator."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from escalate._instants import to_us
from escalate.errors import (
    ConfigError,
    InvalidOperation,
    NaiveDatetimeError,
    PermissionDenied,
    RuleError,
    WrongTypeError,
)
from escalate.hours import BusinessHours
from escalate.model import Actor, Case, Status
from escalate.rules import (
    ActionKind,
    EscalationAction,
    ExpiryPolicy,
    Rule,
    RuleBook,
    RuleItem,
    RulePass,
    TimeBasis,
    Verdict,
    due_actions,
    evaluate,
)

AMS = ZoneInfo("Europe/Amsterdam")
H = timedelta(hours=1)
ADMIN = Actor("ann", permissions={"configure case escalation"})
AGENT = Actor("bob")
OFFICE = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="Europe/Amsterdam")
CALENDARS = {"office": OFFICE}


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)


MONDAY_9 = at(2026, 11, 23, 9)


def step(hours: float, to: str = "lead", **kw: object) -> EscalationAction:
    """A ladder step; its id defaults to ``<to>-<hours>h``."""
    kw.setdefault("id", f"{to}-{hours:g}h")
    return EscalationAction(after=timedelta(hours=hours), escalate_to=to, **kw)


def book_with(*items: RuleItem, expiry: ExpiryPolicy | None = None) -> RuleBook:
    return RuleBook.build(
        [Rule(name="main", items=items)], active="main", expiry=expiry
    )


def case(**kw: object) -> Case:
    kw.setdefault("created_at", MONDAY_9)
    return Case(id=str(kw.pop("id", "c1")), number="C-1", **kw)


LADDER = RuleItem(
    id="all",
    hours="office",
    actions=[
        step(1, "lead"),
        step(2, "manager"),
        step(4, "head"),
        step(8, "director"),
        step(16, "ceo"),
    ],
)


class TestRuleBook:
    def test_scheduler_must_be_on_to_create_a_rule(self) -> None:
        """Creating a rule while the scheduler is off is refused."""
        with pytest.raises(InvalidOperation, match="scheduler is off"):
            RuleBook().create_rule("gold", by=ADMIN)
        book = RuleBook().switch_scheduler(True, by=ADMIN).create_rule("gold", by=ADMIN)
        assert [r.name for r in book.rules] == ["gold"]

    def test_at_most_one_active_rule(self) -> None:
        """Activating a rule deactivates the previously active one."""
        book = RuleBook().switch_scheduler(True, by=ADMIN)
        book = book.create_rule("gold", by=ADMIN, active=True)
        book = book.create_rule("silver", by=ADMIN, active=True)
        assert book.active == "silver"
        book = book.activate("gold", by=ADMIN)
        assert book.active == "gold"
        assert book.active_rule is book.rule("gold")

    def test_rename_and_delete(self) -> None:
        """Renaming keeps a rule active; deleting the active one leaves none."""
        book = (
            RuleBook()
            .switch_scheduler(True, by=ADMIN)
            .create_rule("gold", by=ADMIN, active=True)
        )
        book = book.rename_rule("gold", "platinum", by=ADMIN)
        assert book.active == "platinum"
        book = book.delete_rule("platinum", by=ADMIN)
        assert book.active is None
        assert book.rules == ()

    def test_every_mutation_increments_the_version(self) -> None:
        """Each change returns a new book with version + 1; the old one is kept."""
        b0 = RuleBook()
        b1 = b0.switch_scheduler(True, by=ADMIN)
        b2 = b1.create_rule("gold", by=ADMIN)
        assert (b0.version, b1.version, b2.version) == (0, 1, 2)
        assert b0.scheduler_on is False

    @pytest.mark.parametrize(
        "change",
        [
            lambda b: b.switch_scheduler(False, by=AGENT),
            lambda b: b.create_rule("x", by=AGENT),
            lambda b: b.rename_rule("main", "x", by=AGENT),
            lambda b: b.delete_rule("main", by=AGENT),
            lambda b: b.activate("main", by=AGENT),
            lambda b: b.deactivate(by=AGENT),
            lambda b: b.add_item("main", LADDER, by=AGENT),
            lambda b: b.remove_item("main", "all", by=AGENT),
            lambda b: b.move_item("main", "all", 0, by=AGENT),
            lambda b: b.reorder_items("main", ["all"], by=AGENT),
            lambda b: b.add_action("main", "all", step(1), by=AGENT),
            lambda b: b.remove_action("main", "all", "lead-1h", by=AGENT),
            lambda b: b.set_expiry(None, by=AGENT),
            lambda b: b.replace_item("main", LADDER, by=AGENT),
        ],
    )
    def test_permission_denied_without_configure_case_escalation(self, change) -> None:  # type: ignore[no-untyped-def]
        """Every mutation needs the permission 'configure case escalation'."""
        with pytest.raises(
            PermissionDenied,
            match="'bob' lacks the permission 'configure case escalation'",
        ):
            change(book_with(LADDER))

    def test_ids_survive_reordering_and_new_steps(self) -> None:
        """Items and steps keep the ids they were given when moved or inserted."""
        book = (
            RuleBook()
            .switch_scheduler(True, by=ADMIN)
            .create_rule("r", by=ADMIN, active=True)
        )
        book = book.add_item(
            "r", RuleItem(id="a", actions=[step(1), step(2)]), by=ADMIN
        )
        book = book.add_item("r", RuleItem(id="b", actions=[step(3)]), by=ADMIN)
        book = book.move_item("r", "b", 0, by=ADMIN)
        assert [it.id for it in book.rule("r").items] == ["b", "a"]
        book = book.add_action("r", "a", step(1.5), by=ADMIN, position=1)
        after = [a.id for a in book.rule("r").item("a").actions]
        assert after == ["lead-1h", "lead-1.5h", "lead-2h"]

    @pytest.mark.parametrize("given", [None, "", "  "])
    def test_an_item_without_an_id_is_refused_with_a_suggestion(
        self, given: str | None
    ) -> None:
        """An item needs an explicit id; the error names the item and suggests one."""
        kwargs = {} if given is None else {"id": given}
        with pytest.raises(RuleError) as e:
            RuleItem(name="VIP customers", actions=[step(1)], **kwargs)
        message = str(e.value)
        assert message.startswith("item 'VIP customers': id: every rule item needs")
        assert "id='vip-customers'" in message

    @pytest.mark.parametrize("given", [None, ""])
    def test_an_action_without_an_id_is_refused_with_a_suggestion(
        self, given: str | None
    ) -> None:
        """A step needs an explicit id; the error suggests one."""
        kwargs = {} if given is None else {"id": given}
        with pytest.raises(RuleError, match=r"escalation action needs an explicit"):
            EscalationAction(after=H, escalate_to="Team Lead", **kwargs)
        with pytest.raises(RuleError, match=r"items\[0\]: actions\[1\]: id: .*to-lead"):
            Rule(
                name="r",
                items=[
                    {
                        "id": "x",
                        "actions": [
                            {"id": "a", "after": H, "escalate_to": "x"},
                            {"after": H, "escalate_to": "lead", **kwargs},
                        ],
                    }
                ],
            )

    def test_action_ids_unique_in_their_item(self) -> None:
        """Two steps of one item with one id are refused."""
        with pytest.raises(RuleError, match="action ids must be unique"):
            RuleItem(id="x", actions=[step(1, id="s"), step(2, id="s")])

    def test_item_ids_unique_in_the_book(self) -> None:
        """Two items with one id are refused, naming both rules."""
        item = RuleItem(id="x", actions=[step(1)])
        with pytest.raises(RuleError, match="unique in the book"):
            RuleBook.build([Rule(name="a", items=[item]), Rule(name="b", items=[item])])

    @pytest.mark.parametrize(
        ("spec", "words"),
        [
            (
                {"id": "x", "actions": []},
                "rule 'r', items[0]: item 'x': actions: expected at least one",
            ),
            (
                {"id": "x", "actions": [{"id": "s", "after": -H, "escalate_to": "x"}]},
                "items[0]: actions[0]: after",
            ),
            (
                {
                    "id": "x",
                    "actions": [
                        {
                            "id": "s",
                            "after": H,
                            "escalate_to": "x",
                            "extra_emails": ["a@b"],
                        }
                    ],
                },
                "extra_emails[0]",
            ),
            (
                {
                    "id": "x",
                    "conditions": [("p", "nope", 1)],
                    "actions": [{"id": "s", "after": H, "escalate_to": "x"}],
                },
                "conditions[0] (condition 1): operator",
            ),
            (
                {
                    "id": "vip",
                    "basis": "created",
                    "actions": [{"id": "s", "after": H, "escalate_to": "x"}],
                },
                "item 'vip': basis",
            ),
        ],
    )
    def test_validation_names_rule_item_and_field(self, spec: dict, words: str) -> None:
        """Invalid items raise RuleError naming the rule, the item and the field."""
        with pytest.raises(RuleError) as e:
            Rule(name="r", items=[spec])
        assert words in str(e.value)


class TestTimeBasis:
    def test_created(self) -> None:
        """CREATED counts from creation, whatever modifications follow."""
        book = book_with(
            RuleItem(
                id="item-1", hours="office", basis=TimeBasis.CREATED, actions=[step(2)]
            )
        )
        c = case().changed(at(2026, 11, 23, 10), by=AGENT, priority="high")
        ev = evaluate(book, c, at(2026, 11, 23, 11), CALENDARS)
        assert ev.basis_at == MONDAY_9
        assert [s.due for s in ev.steps] == [True]

    def test_modified_rearms_the_ladder(self) -> None:
        """MODIFIED counts from the last change by a person; a new basis, a new key."""
        book = book_with(
            RuleItem(
                id="item-2", hours="office", basis=TimeBasis.MODIFIED, actions=[step(1)]
            )
        )
        c = case()
        first = due_actions(book, [c], at(2026, 11, 23, 10), CALENDARS)
        assert [d.due_at for d in first] == [at(2026, 11, 23, 10)]
        c = c.changed(at(2026, 11, 23, 11), by=AGENT, priority="high")
        done = {d.key for d in first}
        assert due_actions(book, [c], at(2026, 11, 23, 11, 30), CALENDARS, done) == []
        second = due_actions(book, [c], at(2026, 11, 23, 12), CALENDARS, done)
        assert [d.due_at for d in second] == [at(2026, 11, 23, 12)]
        assert second[0].key != first[0].key

    def test_automatic_changes_do_not_rearm(self) -> None:
        """A change made by the library (by=None) does not move the MODIFIED basis."""
        book = book_with(
            RuleItem(
                id="item-3", hours="office", basis=TimeBasis.MODIFIED, actions=[step(1)]
            )
        )
        c = case().changed(at(2026, 11, 23, 9, 30), by=None, owner="bob")
        assert c.modified_at is None
        assert evaluate(book, c, at(2026, 11, 23, 10), CALENDARS).basis_at == MONDAY_9

    def test_created_until_modified_is_disarmed(self) -> None:
        """Once modified, the item still governs (later items are not tried) but
        nothing of it is due."""
        book = book_with(
            RuleItem(
                id="first", basis=TimeBasis.CREATED_UNTIL_MODIFIED, actions=[step(1)]
            ),
            RuleItem(id="second", actions=[step(0)]),
        )
        c = case()
        assert [d.item_id for d in due_actions(book, [c], at(2026, 11, 23, 11))] == [
            "first"
        ]
        c = c.changed(at(2026, 11, 23, 9, 30), by=AGENT, priority="low")
        ev = evaluate(book, c, at(2026, 11, 23, 11))
        assert ev.verdict is Verdict.DISARMED
        assert ev.item is not None
        assert ev.item.id == "first"
        assert due_actions(book, [c], at(2026, 11, 23, 11)) == []
        assert "disarmed" in str(ev.explain())


class TestEvaluate:
    def test_first_match_wins(self) -> None:
        """Items are tried in order; the first that matches governs."""
        book = book_with(
            RuleItem(
                id="vip",
                conditions=[("priority", "equals", "high")],
                actions=[step(1, "vip-lead")],
            ),
            RuleItem(id="rest", actions=[step(4)]),
        )
        ev = evaluate(book, case(priority="high"), at(2026, 11, 23, 12))
        assert ev.item is not None
        assert ev.item.id == "vip"
        assert [t.matched for t in ev.trials] == [True]
        ev = evaluate(book, case(priority="low"), at(2026, 11, 23, 12))
        assert ev.item is not None
        assert ev.item.id == "rest"
        assert [t.matched for t in ev.trials] == [False, True]

    @pytest.mark.parametrize(
        ("book", "c", "verdict", "words"),
        [
            (
                book_with(LADDER).switch_scheduler(False, by=ADMIN),
                case(),
                Verdict.SCHEDULER_OFF,
                "scheduler is off",
            ),
            (
                book_with(LADDER).deactivate(by=ADMIN),
                case(),
                Verdict.NO_ACTIVE_RULE,
                "no rule is active",
            ),
            (
                book_with(LADDER),
                case(status=Status.CLOSED),
                Verdict.CASE_CLOSED,
                "the case is closed",
            ),
            (
                book_with(LADDER),
                case(status=Status.EXPIRED),
                Verdict.CASE_CLOSED,
                "'Expired'",
            ),
            (
                book_with(
                    RuleItem(
                        id="item-4",
                        conditions=[("priority", "equals", "x")],
                        actions=[step(1)],
                    )
                ),
                case(),
                Verdict.NO_MATCH,
                "no item matches",
            ),
        ],
    )
    def test_nothing_due_and_explain_says_why(
        self, book: RuleBook, c: Case, verdict: Verdict, words: str
    ) -> None:
        """Scheduler off, no active rule, a closed case or no match: nothing due."""
        later = at(2026, 12, 31, 12)
        ev = evaluate(book, c, later, CALENDARS)
        assert ev.verdict is verdict
        assert ev.due == ()
        assert words in str(ev.explain())
        assert due_actions(book, [c], later, CALENDARS) == []

    def test_after_zero_is_due_at_the_basis(self) -> None:
        """An action with after == 0 is due at the basis itself, not before."""
        book = book_with(RuleItem(id="item-5", actions=[step(0)]))
        assert evaluate(book, case(), MONDAY_9).due != ()
        assert evaluate(book, case(), MONDAY_9 - timedelta(microseconds=1)).due == ()

    def test_due_iff_elapsed_reaches_after(self) -> None:
        """Due exactly when the business time elapsed reaches after."""
        book = book_with(RuleItem(id="item-6", hours="office", actions=[step(8)]))
        c = case(created_at=at(2026, 11, 20, 16))  # Friday 16:00
        assert evaluate(book, c, at(2026, 11, 23, 15, 59), CALENDARS).due == ()
        ev = evaluate(book, c, at(2026, 11, 23, 16), CALENDARS)
        assert [s.due_at for s in ev.due] == [at(2026, 11, 23, 16)]

    def test_unknown_calendar_is_a_clear_error(self) -> None:
        """An item naming a calendar that is not given raises ConfigError."""
        book = book_with(RuleItem(id="x", hours="night", actions=[step(1)]))
        with pytest.raises(ConfigError, match="unknown calendar 'night'"):
            due_actions(book, [case()], MONDAY_9, CALENDARS)

    def test_explain_data_and_text(self) -> None:
        """explain() gives each condition's value and result, and per step why."""
        book = book_with(
            RuleItem(
                id="vip",
                conditions=[
                    ("priority", "equals", "high"),
                    ("region", "in", ["NL", "BE"]),
                ],
                logic="1 OR 2",
                hours="office",
                actions=[step(1), step(4, "manager")],
            )
        )
        ev = evaluate(
            book,
            case(priority="high", fields={"region": "DE"}),
            at(2026, 11, 23, 11),
            CALENDARS,
        )
        ex = ev.explain()
        results = [(r.number, r.actual, r.result) for r in ex.trials[0].conditions]
        assert results == [(1, "high", True), (2, "DE", False)]
        assert ex.elapsed == 2 * H
        assert [s.due for s, _ in ex.steps] == [True, False]
        text = str(ex)
        assert "priority equals 'high': the case has 'high' -> true" in text
        assert "not due until 2026-11-23T13:00:00+01:00" in text
        assert ev.next_due_at == at(2026, 11, 23, 13)


class TestLadder:
    def test_full_five_step_ladder(self) -> None:
        """Walking through a week, each step fires once, in order, at its instant."""
        book = book_with(LADDER)
        c = case()
        done: set[str] = set()
        fired = []
        t = MONDAY_9
        while t < at(2026, 11, 30, 9):
            t += timedelta(minutes=30)
            for d in due_actions(book, [c], t, CALENDARS, done):
                done.add(d.key)
                fired.append((d.action.escalate_to if d.action else None, d.due_at, t))
        assert [(to, due) for to, due, _ in fired] == [
            ("lead", at(2026, 11, 23, 10)),
            ("manager", at(2026, 11, 23, 11)),
            ("head", at(2026, 11, 23, 13)),
            ("director", at(2026, 11, 23, 17)),
            ("ceo", at(2026, 11, 24, 17)),
        ]

    def test_all_overdue_steps_fire_in_ladder_order(self) -> None:
        """A case newly governed with three steps overdue gets all three, in order."""
        due = due_actions(book_with(LADDER), [case()], at(2026, 11, 23, 14), CALENDARS)
        assert [d.action.escalate_to for d in due if d.action] == [
            "lead",
            "manager",
            "head",
        ]

    def test_latest_only(self) -> None:
        """With latest_only only the latest overdue step fires, never an older one."""
        item = RuleItem(
            id="all", hours="office", latest_only=True, actions=LADDER.actions
        )
        book = book_with(item)
        first = due_actions(book, [case()], at(2026, 11, 23, 14), CALENDARS)
        assert [d.action.escalate_to for d in first if d.action] == ["head"]
        done = {d.key for d in first}
        later = due_actions(book, [case()], at(2026, 11, 23, 17), CALENDARS, done)
        assert [d.action.escalate_to for d in later if d.action] == ["director"]
        ev = evaluate(book, case(), at(2026, 11, 23, 14), CALENDARS)
        assert [s.action.escalate_to for s in ev.due] == ["head"]
        assert "superseded" in str(ev.explain())

    def test_warnings_before_a_step(self) -> None:
        """A step's warnings fire at their fraction of its after, before it."""
        item = RuleItem(
            id="w", hours="office", actions=[step(4, warnings=(50, Fraction(3, 4)))]
        )
        due = due_actions(book_with(item), [case()], at(2026, 11, 23, 13), CALENDARS)
        assert [(d.kind, d.threshold, d.due_at) for d in due] == [
            (ActionKind.WARNING, Fraction(1, 2), at(2026, 11, 23, 11)),
            (ActionKind.WARNING, Fraction(3, 4), at(2026, 11, 23, 12)),
            (ActionKind.ESCALATION, None, at(2026, 11, 23, 13)),
        ]

    def test_order_is_due_instant_then_case_id(self) -> None:
        """Across cases: by due instant, then case id."""
        book = book_with(RuleItem(id="item-7", hours="office", actions=[step(1)]))
        cases = [
            case(id="b"),
            case(id="a"),
            case(id="c", created_at=at(2026, 11, 20, 16, 30)),  # due Monday 09:30
        ]
        due = due_actions(book, cases, at(2026, 11, 23, 12), CALENDARS)
        assert [d.case_id for d in due] == ["c", "a", "b"]

    def test_keys_survive_reordering_and_versions(self) -> None:
        """Reordering items (a new book version) changes no key."""
        other = RuleItem(
            id="other", conditions=[("priority", "equals", "x")], actions=[step(1)]
        )
        book = book_with(other, LADDER)
        keys = [
            d.key for d in due_actions(book, [case()], at(2026, 11, 23, 14), CALENDARS)
        ]
        moved = book.move_item("main", "all", 0, by=ADMIN)
        assert moved.version == book.version + 1
        assert [
            d.key for d in due_actions(moved, [case()], at(2026, 11, 23, 14), CALENDARS)
        ] == keys


class TestExpiry:
    POLICY = ExpiryPolicy(after=timedelta(days=3))

    def test_pending_expires_at_the_exact_instant(self) -> None:
        """A case pending for `after` gets a status change to Expired, then."""
        c = case().changed(at(2026, 11, 23, 10), by=AGENT, status=Status.PENDING)
        book = RuleBook(expiry=self.POLICY)
        assert due_actions(book, [c], at(2026, 11, 26, 9, 59)) == []
        (due,) = due_actions(book, [c], at(2026, 11, 26, 10))
        assert due.kind is ActionKind.EXPIRY
        assert due.new_status == Status.EXPIRED
        assert due.due_at == at(2026, 11, 26, 10)

    def test_leaving_pending_cancels_it(self) -> None:
        """Leaving Pending before the time is up cancels the expiry."""
        c = case().changed(at(2026, 11, 23, 10), by=AGENT, status=Status.PENDING)
        c = c.changed(at(2026, 11, 24, 10), by=AGENT, status=Status.ACTIVE_ASSIGNED)
        assert due_actions(RuleBook(expiry=self.POLICY), [c], at(2026, 12, 1)) == []

    def test_business_time_expiry(self) -> None:
        """An expiry counted in a calendar's business time."""
        policy = ExpiryPolicy(after=16 * H, hours="office")
        c = case().changed(
            at(2026, 11, 27, 9), by=AGENT, status=Status.PENDING
        )  # Friday
        (due,) = due_actions(RuleBook(expiry=policy), [c], at(2026, 12, 1), CALENDARS)
        assert due.due_at == at(2026, 11, 30, 17)

    def test_expiry_key_is_per_stay_in_pending(self) -> None:
        """Re-entering Pending arms a new expiry with a new key."""
        book = RuleBook(expiry=self.POLICY)
        c = case().changed(at(2026, 11, 23, 10), by=AGENT, status=Status.PENDING)
        (first,) = due_actions(book, [c], at(2026, 11, 27))
        c = c.changed(at(2026, 11, 27, 1), by=AGENT, status=Status.ACTIVE_ASSIGNED)
        c = c.changed(at(2026, 11, 27, 2), by=AGENT, status=Status.PENDING)
        (second,) = due_actions(book, [c], at(2026, 12, 1))
        assert first.key != second.key


class TestRulePass:
    """The incremental pass; tests/property/test_rules_properties.py compares
    it with due_actions on random runs."""

    def test_it_looks_again_only_at_cases_with_something_due(self) -> None:
        book = book_with(LADDER)
        c = case()
        rp = RulePass(book, CALENDARS)
        first = rp.due([c], at(2026, 11, 23, 10, 30), set())
        assert [d.action.escalate_to for d in first if d.action] == ["lead"]
        done = {d.key for d in first}
        assert rp.due([c], at(2026, 11, 23, 10, 45), done) == []
        # what is due next is known: the manager at 11:00
        assert rp._known["c1"].next == to_us(at(2026, 11, 23, 11), "t")
        later = rp.due([c], at(2026, 11, 23, 11), done)
        assert [d.action.escalate_to for d in later if d.action] == ["manager"]
        assert rp.kept == 1
        assert rp.due([], at(2026, 11, 23, 12), done) == []
        assert rp.kept == 0  # cases not given are forgotten

    def test_an_instant_before_the_last_finds_everything_again(self) -> None:
        """latest_only: at 11:30 the manager step passes over the lead step;
        the clock set back to 10:30, the lead step is due again (not done)."""
        item = RuleItem(
            id="all", hours="office", latest_only=True, actions=LADDER.actions
        )
        rp, c = RulePass(book_with(item), CALENDARS), case()
        late = rp.due([c], at(2026, 11, 23, 11, 30))
        assert [d.action.escalate_to for d in late if d.action] == ["manager"]
        back = rp.due([c], at(2026, 11, 23, 10, 30))
        assert back == due_actions(
            book_with(item), [c], at(2026, 11, 23, 10, 30), CALENDARS
        )
        assert [d.action.escalate_to for d in back if d.action] == ["lead"]

    def test_a_step_passed_over_is_not_looked_at_again(self) -> None:
        """latest_only: the lead step passed over by the manager step at 11:30
        is never due, so the case is not looked at again until the step after
        (done keys and passed-over ones alike)."""
        item = RuleItem(
            id="all", hours="office", latest_only=True, actions=LADDER.actions
        )
        rp, c = RulePass(book_with(item), CALENDARS), case()
        (manager,) = rp.due([c], at(2026, 11, 23, 11, 30))
        assert rp.due([c], at(2026, 11, 23, 11, 45), {manager.key}) == []
        assert rp._known["c1"].next > to_us(at(2026, 11, 23, 11, 45), "t")

    def test_bad_input(self) -> None:
        with pytest.raises(WrongTypeError, match="book: expected a RuleBook"):
            RulePass("book")  # type: ignore[arg-type]
        with pytest.raises(WrongTypeError, match="calendars: expected a mapping"):
            RulePass(book_with(LADDER), "office")  # type: ignore[arg-type]
        with pytest.raises(WrongTypeError, match="calendars: expected a mapping"):
            RulePass(book_with(LADDER), {"office": "9-5"})  # type: ignore[dict-item]
        rp = RulePass(book_with(LADDER), CALENDARS)
        with pytest.raises(WrongTypeError, match="cases: expected Case values"):
            rp.due(["c1"], MONDAY_9)  # type: ignore[list-item]
        with pytest.raises(NaiveDatetimeError):
            rp.due([case()], datetime(2026, 11, 23, 9))
