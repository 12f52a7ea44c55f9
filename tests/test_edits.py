"""Editing the rule book re-fires nothing that fired: through the engine (Python
edits of a RuleBook) and through the CLI (edits of a TOML file under a live
database)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from escalate.adapters.sqlite import SqliteStore
from escalate.config import load_config
from escalate.engine import Escalator
from escalate.hours import BusinessHours
from escalate.model import OPERATOR, Actor, Case
from escalate.rules import EscalationAction, Rule, RuleBook, RuleItem
from escalate.settings import Settings
from escalate.templates import Templates
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock
from tests.test_cli import run

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
ADMIN = Actor("ann", permissions={"configure case escalation"})
OFFICE = BusinessHours.from_spec({"mon-fri": "09:00-17:00"}, tz="UTC")
TEMPLATES = Templates(
    {
        f"{name}.{part}": f"{name} {{{{ case.number }}}}"
        for name in ("escalation", "urgent", "assignment", "warning")
        for part in ("subject", "txt")
    }
)
USERS = ("lead", "manager", "head", "oncall", "desk")
ADDRESSES = {u: f"{u}@example.com" for u in USERS}


def step(id: str, hours: float, to: str, **kw: object) -> EscalationAction:
    return EscalationAction(id=id, after=hours * H, escalate_to=to, **kw)


BOOK = RuleBook.build(
    [
        Rule(
            name="support",
            items=[
                RuleItem(
                    id="urgent",
                    name="Urgent cases",
                    conditions=[("priority", "equals", "urgent")],
                    hours="office",
                    actions=[
                        step("lead", 1, "lead", warnings=(50,)),
                        step("manager", 2, "manager"),
                        step("head", 4, "head"),
                    ],
                ),
                RuleItem(id="rest", hours="office", actions=[step("desk", 8, "desk")]),
            ],
        )
    ],
    active="support",
)

Edit = Callable[[RuleBook], RuleBook]


def _ladder(book: RuleBook, **changes: object) -> RuleBook:
    """The urgent item with ``changes``, in place."""
    item = book.rule("support").item("urgent")
    return book.replace_item("support", attrs.evolve(item, **changes), by=ADMIN)


def _after(book: RuleBook, action_id: str, hours: float) -> RuleBook:
    item = book.rule("support").item("urgent")
    actions = [
        attrs.evolve(a, after=hours * H) if a.id == action_id else a
        for a in item.actions
    ]
    return _ladder(book, actions=actions)


# (name, edit, the step ids the edit newly makes due by noon)
EDITS: list[tuple[str, Edit, set[str]]] = [
    (
        "reorder items",
        lambda b: b.reorder_items("support", ["rest", "urgent"], by=ADMIN),
        set(),
    ),
    (
        "insert an item above",
        lambda b: b.add_item(
            "support",
            RuleItem(
                id="vip",
                conditions=[("tier", "equals", "vip")],
                actions=[step("vip", 1, "head")],
            ),
            by=ADMIN,
            position=0,
        ),
        set(),
    ),
    (
        "insert a step first in the ladder",
        lambda b: b.add_action(
            "support", "urgent", step("oncall", 0.5, "oncall"), by=ADMIN, position=0
        ),
        {"oncall"},
    ),
    (
        "rename the rule and the item",
        lambda b: _ladder(b, name="Very urgent").rename_rule(
            "support", "helpdesk", by=ADMIN
        ),
        set(),
    ),
    (
        "change the criteria",
        lambda b: _ladder(
            b,
            conditions=[("priority", "in", ["urgent", "high"]), ("owner", "is empty")],
            logic="1 AND (2 OR NOT 2)",
        ),
        set(),
    ),
    (
        "change templates and recipients",
        lambda b: _ladder(
            b,
            actions=[
                attrs.evolve(
                    a, escalation_template="urgent", extra_emails=("x@example.com",)
                )
                for a in b.rule("support").item("urgent").actions
            ],
        ),
        set(),
    ),
    ("lengthen a step that fired", lambda b: _after(b, "lead", 1.5), set()),
    ("shorten a step that fired", lambda b: _after(b, "manager", 0.25), set()),
    ("shorten a step not fired yet", lambda b: _after(b, "head", 2.5), {"head"}),
]


class TestThroughTheEngine:
    @pytest.mark.parametrize(
        ("edit", "new"), [(e, n) for _, e, n in EDITS], ids=[x for x, _, _ in EDITS]
    )
    def test_an_edit_refires_nothing(
        self, tmp_path: Path, edit: Edit, new: set[str]
    ) -> None:
        """After the edit, a tick fires only the steps the edit newly made due,
        each once; nothing that fired fires again, and no mail is sent twice."""
        clock = ManualClock(T0)
        store = SqliteStore(tmp_path / "escalate.db")
        mailer = RecordingMailer()
        esc = Escalator(
            store,
            mailer,
            clock,
            book=BOOK,
            calendars={"office": OFFICE},
            templates=TEMPLATES,
            addresses=ADDRESSES,
        )
        esc.add_case(
            Case(id="c1", number="C-1", priority="urgent", created_at=T0), by=None
        )
        clock.set(T0 + 3 * H)  # noon: the warning, lead and manager are due
        before = {f.key for f in esc.tick().fired}
        assert {k.split("/")[3] for k in before} == {"lead", "manager"}
        esc.use_settings(Settings(edit(BOOK), {"office": OFFICE}), by=OPERATOR)
        clock.advance(timedelta(seconds=1))
        after = esc.tick().fired
        assert {f.key for f in after} & before == set()
        assert {
            f.action.action.id for f in after if f.action and f.action.action
        } == new
        esc.dispatch()
        sent = [(m.key, m.recipient) for m in mailer.sent]
        assert len(sent) == len(set(sent))


TOML = """
[calendars.office]
tz = "UTC"
weekly = { mon-fri = "09:00-17:00" }

[rules.support]

[[rules.support.items]]
id = "urgent"
name = "Urgent cases"
conditions = [["priority", "equals", "urgent"]]
hours = "office"

[[rules.support.items.actions]]
id = "lead"
after = "1h"
escalate_to = "lead"
warnings = [50]

[[rules.support.items.actions]]
id = "manager"
after = "2h"
escalate_to = "manager"

[[rules.support.items.actions]]
id = "head"
after = "4h"
escalate_to = "head"

[[rules.support.items]]
id = "rest"
hours = "office"
actions = [{ id = "desk", after = "8h", escalate_to = "desk" }]

[mail.addresses]
lead = "lead@example.com"
manager = "manager@example.com"
head = "head@example.com"
oncall = "oncall@example.com"
desk = "desk@example.com"

[templates.inline]
"escalation.subject" = "Case {{ case.number }}"
"escalation.txt" = "Case {{ case.number }} escalated.\\n"
"urgent.subject" = "Urgent: case {{ case.number }}"
"urgent.txt" = "Case {{ case.number }} escalated.\\n"
"warning.subject" = "Case {{ case.number }} escalates soon"
"warning.txt" = "Soon.\\n"
"""
URGENT = '[[rules.support.items]]\nid = "urgent"\n'
REST = '[[rules.support.items]]\nid = "rest"\nhours = "office"\n'
REST_ACTIONS = 'actions = [{ id = "desk", after = "8h", escalate_to = "desk" }]\n'
LEAD = '[[rules.support.items.actions]]\nid = "lead"\n'


def _move_rest_first(text: str) -> str:
    rest = REST + REST_ACTIONS
    return text.replace(rest, "").replace(URGENT, rest + "\n" + URGENT)


# (name, the edit of the file, the step ids it newly makes due by noon)
TOML_EDITS: list[tuple[str, Callable[[str], str], set[str]]] = [
    ("reorder items", _move_rest_first, set()),
    (
        "insert an item above",
        lambda t: t.replace(
            URGENT,
            '[[rules.support.items]]\nid = "vip"\n'
            'conditions = [["tier", "equals", "vip"]]\n'
            'actions = [{ id = "vip", after = "1h", escalate_to = "head" }]\n\n'
            + URGENT,
        ),
        set(),
    ),
    (
        "insert a step first in the ladder",
        lambda t: t.replace(
            LEAD,
            '[[rules.support.items.actions]]\nid = "oncall"\nafter = "30m"\n'
            'escalate_to = "oncall"\n\n' + LEAD,
        ),
        {"oncall"},
    ),
    (
        "rename the rule and the item",
        lambda t: t.replace("rules.support", "rules.helpdesk").replace(
            "Urgent cases", "Very urgent"
        ),
        set(),
    ),
    (
        "change the criteria",
        lambda t: t.replace(
            '[["priority", "equals", "urgent"]]',
            '[["priority", "in", ["urgent", "high"]], ["owner", "is empty"]]',
        ),
        set(),
    ),
    (
        "change templates and recipients",
        lambda t: t.replace(
            'escalate_to = "manager"\n',
            'escalate_to = "manager"\nescalation_template = "urgent"\n'
            'extra_emails = ["x@example.com"]\n',
        ),
        set(),
    ),
    (
        "shorten a step not fired yet",
        lambda t: t.replace('after = "4h"', 'after = "2h30m"'),
        {"head"},
    ),
]


class TestThroughTheCli:
    @pytest.mark.parametrize(
        ("edit", "new"),
        [(e, n) for _, e, n in TOML_EDITS],
        ids=[x for x, _, _ in TOML_EDITS],
    )
    def test_an_edit_of_the_file_refires_nothing(
        self, tmp_path: Path, edit: Callable[[str], str], new: set[str]
    ) -> None:
        """`escalate tick` under the edited file fires only the new steps, and no
        mail file is written twice."""
        config = tmp_path / "helpdesk.toml"
        config.write_text(TOML)
        db = tmp_path / "escalate.db"
        store = SqliteStore(db)
        esc = Escalator.from_config(
            load_config(config),
            store,
            RecordingMailer(),
            ManualClock(T0),
        )
        esc.add_case(
            Case(id="c1", number="C-1", priority="urgent", created_at=T0), by=None
        )
        store.close()
        outbox = tmp_path / "out"

        def tick(at: datetime) -> str:
            result = run(
                "tick",
                "--config",
                config,
                "--db",
                db,
                "--now",
                at.isoformat(),
                "--outbox",
                outbox,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            return result.stdout

        first = tick(T0 + 3 * H)
        assert "3 actions fired" in first  # the warning, lead and manager
        mails = {p.name for p in outbox.glob("*.eml")}
        edited = edit(TOML)
        assert edited != TOML
        config.write_text(edited)
        second = tick(T0 + 3 * H + timedelta(seconds=1))
        fired = int(re.search(r"(\d+) actions fired", second)[1])  # type: ignore[index]
        assert fired == len(new), second
        assert len(set(outbox.glob("*.eml"))) == len(mails) + len(new)
