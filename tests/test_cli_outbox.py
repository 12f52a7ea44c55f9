"""``escalate outbox list | retry | drop`` and what ``status`` says of dead
letters and claimed mails, on a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from escalate.adapters.sqlite import SqliteStore
from escalate.cli import main
from escalate.delivery import Dispatcher
from escalate.errors import WrongTypeError
from escalate.testing import RecordingMailer, example_mail
from escalate.timers import ManualClock
from tests.test_cli import run

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)
LEASE = timedelta(minutes=5)
NOW = (T0 + timedelta(minutes=1)).isoformat()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """One dead letter (550), one mail a worker is sending, one waiting."""
    path = tmp_path / "outbox.db"
    store = SqliteStore(path)
    day_before = T0 - timedelta(days=1)  # the dead letter is a day old
    for name, at in (("dead", day_before), ("sending", T0), ("waiting", T0)):
        store.enqueue(example_mail(recipient=f"{name}@example.com", key=name), at=at)
    dead, _, waiting = store.claim(T0, lease=LEASE, limit=3, by="host-a:12")
    store.mark_dead(dead, error="550 5.1.1 no such user", at=T0)
    store.release([waiting])
    store.close()
    return path


def message_id(name: str) -> str:
    return example_mail(recipient=f"{name}@example.com", key=name).message_id


class TestOutboxCommand:
    def test_list_dead_letters_and_waiting_mails(self, db: Path) -> None:
        result = run("outbox", "list", "--db", db, "--dead")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("1 dead letters:\n")
        assert message_id("dead") in result.stdout
        assert "550 5.1.1 no such user" in result.stdout
        waiting = run("outbox", "list", "--db", db, "--json")
        rows = json.loads(waiting.stdout)
        assert [r["recipient"] for r in rows] == [
            "sending@example.com",
            "waiting@example.com",
        ]
        assert rows[0]["claimed_by"] == "host-a:12"
        assert rows[1]["claimed_by"] is None

    def test_retry_puts_a_dead_letter_back(self, db: Path) -> None:
        result = run("outbox", "retry", "--db", db, message_id("dead"), "--now", NOW)
        assert result.returncode == 0, result.stderr
        store = SqliteStore(db)
        assert store.outbox_state(at=T0).dead == 0
        assert store.pending() == 3
        claimed = store.claim(T0 + LEASE, lease=LEASE, limit=3)
        assert {c.mail.recipient for c in claimed} == {
            "dead@example.com",
            "sending@example.com",
            "waiting@example.com",
        }

    def test_drop_ends_a_mail_but_not_one_being_sent(self, db: Path) -> None:
        assert run("outbox", "drop", "--db", db, message_id("dead")).returncode == 0
        busy = run("outbox", "drop", "--db", db, message_id("sending"), "--now", NOW)
        assert busy.returncode == 1
        assert "is being sent by host-a:12" in busy.stderr
        missing = run("outbox", "retry", "--db", db, "<nobody@example.com>")
        assert missing.returncode == 1
        assert "is not in the outbox" in missing.stderr
        assert "Traceback" not in missing.stderr + busy.stderr

    def test_a_message_id_no_store_keeps_is_refused(
        self, db: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for bad in ("<a\x00b@example.com>", "<\ud800@example.com>", "x" * 2_000):
            assert main(["outbox", "drop", "--db", str(db), bad]) == 1
            err = capsys.readouterr().err
            assert err.startswith("escalate: error: message_id: expected"), err
        with pytest.raises(WrongTypeError, match="message_id: expected a text"):
            Dispatcher(SqliteStore(db), RecordingMailer(), ManualClock(T0)).drop(7)  # type: ignore[arg-type]

    def test_list_only_reads(self, tmp_path: Path) -> None:
        empty = tmp_path / "empty.db"
        empty.write_bytes(b"")
        result = run("outbox", "list", "--db", empty)
        assert result.returncode == 1
        assert "not an escalate store" in result.stderr
        assert empty.stat().st_size == 0


class TestStatusOfTheOutbox:
    def test_dead_letters_apart_and_claims_by_whom(self, db: Path) -> None:
        """--max-lag stayed red for a dead letter until someone edited the
        database: it counts waiting mails; --max-dead counts the dead."""
        result = run("status", "--db", db, "--now", NOW)
        assert result.returncode == 0, result.stdout
        assert "outbox: 2 mails waiting" in result.stdout
        assert "being sent: " in result.stdout
        assert "claimed by host-a:12" in result.stdout
        assert "dead letters: 1" in result.stdout
        lagging = run("status", "--db", db, "--now", NOW, "--max-lag", "5m")
        assert lagging.returncode == 0, lagging.stdout
        dead = run("status", "--db", db, "--now", NOW, "--max-dead", "0", "--json")
        assert dead.returncode == 1
        data = json.loads(dead.stdout)
        assert (data["dead_letter_count"], data["too_many_dead"]) == (1, True)
        assert data["claimed_mails"][0]["claimed_by"] == "host-a:12"
        assert run("status", "--db", db, "--max-dead", "-1").returncode == 1
