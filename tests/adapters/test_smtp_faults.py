"""Sending against a real SMTP server (aiosmtpd, in-process) with fault modes:
reply classes, a 421 to QUIT, slow servers, kept connections, and the copies
each fault leaves (one per mail, but for the mail in flight)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from escalate.adapters.smtp import SmtpMailer
from escalate.adapters.sqlite import SqliteStore
from escalate.delivery import DeliveryPolicy, Dispatcher
from escalate.errors import ConfigError, DeliveryError
from escalate.mail import OutgoingMail
from escalate.testing import example_mail
from escalate.timers import ManualClock, SystemClock
from tests.adapters.test_mailers import free_port

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)


class FaultyInbox:
    """Keeps what it accepts; refuses as told."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.rcpt_reply: dict[str, str] = {}  # address prefix -> reply
        self.data_reply: str | None = None
        self.quit_reply: str | None = None
        self.data_delay = 0.0
        self.sessions = 0
        self.attempts: Counter[str] = Counter()  # message data seen, by recipient
        self.mail_options: list[list[str]] = []

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: Any
    ) -> Any:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.mail_options.append(list(options))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.attempts[address] += 1
        for prefix, reply in self.rcpt_reply.items():
            if address.startswith(prefix):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply is not None:
            return self.data_reply
        self.messages.append(envelope.original_content)
        return "250 Message accepted"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> Any:
        return self.quit_reply or "221 Bye"

    def ids(self) -> Counter[str]:
        return Counter(str(message_from_bytes(m)["Message-ID"]) for m in self.messages)


@pytest.fixture
def inbox() -> Iterator[tuple[FaultyInbox, int]]:
    handler = FaultyInbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def mails(n: int, prefix: str = "u") -> list[OutgoingMail]:
    return [
        example_mail(recipient=f"{prefix}{i}@example.com", key=f"k/{prefix}{i}")
        for i in range(n)
    ]


def dispatcher(store: SqliteStore, port: int, clock: object, **kw: Any) -> Dispatcher:
    mailer = SmtpMailer(
        "127.0.0.1", port, security="none", timeout=5, reuse=kw.pop("reuse", False)
    )
    return Dispatcher(store, mailer, clock, **kw)  # type: ignore[arg-type]


class TestReplyClasses:
    def test_550_at_rcpt_is_a_dead_letter_at_once(
        self, inbox: tuple[FaultyInbox, int], tmp_path: Path
    ) -> None:
        """550 at RCPT was retried like a 4xx, hourly, forever."""
        handler, port = inbox
        handler.rcpt_reply["nobody@"] = "550 5.1.1 no such user"
        store = SqliteStore(tmp_path / "o.db")
        clock = ManualClock(T0)
        (good,) = mails(1)
        bad = example_mail(recipient="nobody@example.com", key="k/bad")
        store.enqueue(bad, at=T0)
        store.enqueue(good, at=T0)
        report = dispatcher(store, port, clock).dispatch()
        assert report.sent == (good.message_id,)
        ((dead_id, error),) = report.dead
        assert dead_id == bad.message_id
        assert "550 5.1.1 no such user" in error
        for _ in range(5):
            clock.advance(timedelta(hours=2))
            assert dispatcher(store, port, clock).dispatch().dead == ()
        assert handler.attempts["nobody@example.com"] == 1
        state = store.outbox_state(at=clock.now())
        assert (state.depth, state.dead) == (0, 1)
        assert "550" in (state.dead_letters[0].error or "")

    def test_554_after_data_is_a_dead_letter(
        self, inbox: tuple[FaultyInbox, int], tmp_path: Path
    ) -> None:
        handler, port = inbox
        handler.data_reply = "554 5.7.1 message refused"
        store = SqliteStore(tmp_path / "o.db")
        (mail,) = mails(1)
        store.enqueue(mail, at=T0)
        report = dispatcher(store, port, ManualClock(T0)).dispatch()
        assert [m for m, _ in report.dead] == [mail.message_id]
        assert store.pending() == 0

    def test_a_long_answer_is_kept_cut_short(
        self, inbox: tuple[FaultyInbox, int], tmp_path: Path
    ) -> None:
        """A server may answer in many lines: the dead letter keeps 2,000
        characters of it."""
        handler, port = inbox
        handler.data_reply = "\r\n".join(["554-" + "x" * 900] * 30 + ["554 no"])
        store = SqliteStore(tmp_path / "o.db")
        (mail,) = mails(1)
        store.enqueue(mail, at=T0)
        ((_, error),) = dispatcher(store, port, ManualClock(T0)).dispatch().dead
        assert len(error) == 2_000
        (dead,) = store.outbox_entries(dead=True, limit=1)
        assert dead.error == error

    def test_4xx_is_retried_with_backoff_up_to_the_attempts_allowed(
        self, inbox: tuple[FaultyInbox, int], tmp_path: Path
    ) -> None:
        handler, port = inbox
        handler.data_reply = "451 4.3.0 try again later"
        store = SqliteStore(tmp_path / "o.db")
        clock = ManualClock(T0)
        (mail,) = mails(1)
        store.enqueue(mail, at=T0)
        policy = DeliveryPolicy(max_attempts=3, first_retry=timedelta(minutes=1))
        d = dispatcher(store, port, clock, policy=policy)
        assert [m for m, _ in d.dispatch().failed] == [mail.message_id]
        assert d.dispatch().failed == ()  # not before its retry instant
        clock.advance(timedelta(minutes=1))
        assert len(d.dispatch().failed) == 1
        clock.advance(timedelta(minutes=2))  # doubled
        report = d.dispatch()
        assert [m for m, _ in report.dead] == [mail.message_id]
        assert "451" in report.dead[0][1]
        clock.advance(timedelta(days=1))
        assert d.dispatch() == attrs_empty(d, clock)
        assert store.outbox_state(at=clock.now()).dead == 1

    def test_a_mail_older_than_max_age_is_not_tried_again(
        self, inbox: tuple[FaultyInbox, int], tmp_path: Path
    ) -> None:
        handler, port = inbox
        handler.data_reply = "421 4.7.0 busy"
        store = SqliteStore(tmp_path / "o.db")
        clock = ManualClock(T0)
        (mail,) = mails(1)
        store.enqueue(mail, at=T0)
        policy = DeliveryPolicy(max_age=timedelta(hours=1))
        d = dispatcher(store, port, clock, policy=policy)
        tried = 0
        while not store.outbox_state(at=clock.now()).dead:
            report = d.dispatch()
            tried += len(report.failed) + len(report.dead)
            clock.advance(timedelta(minutes=30))
            assert clock.now() < T0 + timedelta(hours=3)
        assert 1 < tried < 10

    def test_421_to_quit_after_250_is_delivered_once(
        self, inbox: tuple[FaultyInbox, int], tmp_path: Path
    ) -> None:
        """A server that accepts the message, then answers QUIT with 421, got a
        copy on every retry, without end."""
        handler, port = inbox
        handler.quit_reply = "421 4.3.2 shutting down"
        store = SqliteStore(tmp_path / "o.db")
        clock = ManualClock(T0)
        sent = mails(3)
        for mail in sent:
            store.enqueue(mail, at=T0)
        d = dispatcher(store, port, clock)
        assert len(d.dispatch().sent) == 3
        for _ in range(3):
            clock.advance(timedelta(hours=2))
            assert d.dispatch().sent == ()
        assert handler.ids() == Counter({m.message_id: 1 for m in sent})


def attrs_empty(d: Dispatcher, clock: ManualClock) -> object:
    from escalate.delivery import DispatchReport

    return DispatchReport(at=clock.now(), sent=(), failed=())


class TestOneCopyPerMail:
    def test_a_worker_lost_after_a_send_resends_only_that_mail(
        self, inbox: tuple[FaultyInbox, int], tmp_path: Path
    ) -> None:
        """Mails were marked once per batch, after the last send: one lost
        worker re-sent the whole batch after the lease. Now each is marked as
        its server accepts it; the one left is the mail in flight."""
        handler, port = inbox
        store = SqliteStore(tmp_path / "o.db")
        clock = ManualClock(T0)
        queued = mails(10)
        for mail in queued:
            store.enqueue(mail, at=T0)
        seen = 0

        def die_after_the_fourth(step: str) -> None:
            nonlocal seen
            if step == "sent":
                seen += 1
                if seen == 4:
                    raise KeyboardInterrupt  # the worker is gone before its mark

        doomed = dispatcher(store, port, clock, progress=die_after_the_fourth)
        with pytest.raises(KeyboardInterrupt):
            doomed.dispatch(limit=10)
        assert store.pending() == 7  # three marked, the fourth in flight
        clock.advance(timedelta(minutes=5))  # the lease lapses
        assert len(dispatcher(store, port, clock).dispatch(limit=10).sent) == 7
        copies = handler.ids()
        assert sorted(copies.values()) == [1] * 9 + [2]
        assert copies[queued[3].message_id] == 2  # the unavoidable one

    def test_two_workers_with_a_slow_server_send_each_mail_once(
        self, inbox: tuple[FaultyInbox, int], tmp_path: Path
    ) -> None:
        """A claimed batch that outlived its lease was claimed again by a
        second worker: each mail was sent 12 times. A send is started only
        while its claim holds for the send deadline; the rest go back."""
        handler, port = inbox
        handler.data_delay = 0.05
        path = tmp_path / "two.db"
        queued = mails(24)
        first = SqliteStore(path)
        for mail in queued:
            first.enqueue(mail, at=T0)
        policy = DeliveryPolicy(send_deadline=timedelta(milliseconds=200))
        lease = timedelta(milliseconds=400)  # far shorter than a batch of 24
        released = []

        def work() -> None:
            store = SqliteStore(path)
            d = dispatcher(store, port, SystemClock(), policy=policy, lease=lease)
            ends = time.monotonic() + 60
            while store.pending() and time.monotonic() < ends:
                released.append(d.dispatch(limit=24).released)
            store.close()

        workers = [threading.Thread(target=work) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=90)
        assert first.pending() == 0
        assert handler.ids() == Counter({m.message_id: 1 for m in queued})
        assert sum(released) > 0  # batches did outlive their lease

    def test_a_lease_shorter_than_two_sends_is_refused(self, tmp_path: Path) -> None:
        store = SqliteStore(tmp_path / "o.db")
        with pytest.raises(ConfigError, match="lease: expected at least twice"):
            Dispatcher(
                store,
                SmtpMailer("127.0.0.1", 25, security="none"),
                SystemClock(),
                lease=timedelta(minutes=1),
                policy=DeliveryPolicy(send_deadline=timedelta(minutes=1)),
            )


class TestSlowServers:
    def test_a_send_keeps_its_deadline_against_a_trickling_server(self) -> None:
        """A server that sends its greeting a byte at a time stays within each
        socket timeout; the whole send still ends at its deadline."""
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        stop = threading.Event()

        def trickle() -> None:
            conn, _ = server.accept()
            with conn:
                for byte in b"220 slow.example.com ESMTP greeting that never ends":
                    if stop.wait(0.2):
                        return
                    conn.send(bytes([byte]))

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=1, deadline=1)
        begun = time.monotonic()
        try:
            with pytest.raises(DeliveryError, match="past the send deadline") as e:
                mailer.send(example_mail())
            assert not e.value.permanent
            assert time.monotonic() - begun < 8  # the greeting alone takes 10 s
        finally:
            stop.set()
            server.close()
            thread.join(timeout=5)

    def test_a_server_silent_before_its_greeting_is_given_up_at_the_timeout(
        self,
    ) -> None:
        """A server that waited 35 s before its greeting held a tick 181 s for
        6 mails: the wait for one answer is the operator's timeout."""
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=0.5)
        begun = time.monotonic()
        try:
            with pytest.raises(DeliveryError, match="timed out") as e:
                mailer.send(example_mail())
            assert not e.value.permanent
            assert time.monotonic() - begun < 8
        finally:
            server.close()

    def test_a_kept_connection_carries_many_mails(
        self, inbox: tuple[FaultyInbox, int]
    ) -> None:
        """One connection per mail: with reuse, one for all, and a refused mail
        in between spoils nothing."""
        handler, port = inbox
        handler.rcpt_reply["nobody@"] = "550 no such user"
        mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=5, reuse=True)
        for mail in mails(3):
            mailer.send(mail)
        with pytest.raises(DeliveryError) as e:
            mailer.send(example_mail(recipient="nobody@example.com"))
        assert e.value.permanent
        for mail in mails(2, "v"):
            mailer.send(mail)
        mailer.close()
        assert (handler.sessions, len(handler.messages)) == (1, 5)

    def test_an_8bit_body_is_declared(self, inbox: tuple[FaultyInbox, int]) -> None:
        """MAIL FROM says BODY=8BITMIME for an 8-bit body (the server offers
        it), and nothing for a 7-bit one; both arrive intact."""
        handler, port = inbox
        mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=5)
        mailer.send(example_mail(key="k/8", text="Grüße aus Köln\n"))
        mailer.send(example_mail(key="k/7", text="plain\n"))
        assert handler.mail_options == [["BODY=8BITMIME"], []]
        assert "Grüße aus Köln" in handler.messages[0].decode("utf-8")

    def test_a_kept_connection_the_server_closed_is_opened_again(
        self, tmp_path: Path
    ) -> None:
        handler = FaultyInbox()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=5, reuse=True)
        try:
            mailer.send(example_mail(key="k/1"))
            controller.stop()  # the server restarts: the kept connection is dead
            controller = Controller(handler, hostname="127.0.0.1", port=port)
            controller.start()
            mailer.send(example_mail(key="k/2"))
        finally:
            mailer.close()
            controller.stop()
        assert len(handler.messages) == 2
