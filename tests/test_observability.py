"""What an operator sees: logs with their fields, metrics, the status of a store,
and a metrics endpoint a real HTTP client scrapes."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from escalate import _logs
from escalate.adapters.memory import MemoryStore
from escalate.adapters.prometheus import MetricsServer
from escalate.adapters.sqlite import SqliteStore
from escalate.cli import main
from escalate.config import load_config
from escalate.engine import Escalator
from escalate.errors import ConfigError, DeliveryError
from escalate.health import read_health
from escalate.mail import OutgoingMail
from escalate.metrics import METRICS, Metrics
from escalate.model import Actor, Case
from escalate.testing import RecordingMailer
from escalate.timers import ManualClock
from tests.test_engine import T0, H, case, escalator

DOCS = Path(__file__).parent.parent / "docs"


class FailingMailer:
    def send(self, mail: OutgoingMail) -> None:
        raise DeliveryError("421 try later")


class TestLogs:
    def test_each_action_and_mail_is_logged_with_its_fields(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A fired action and its queued and sent mail each log a record whose
        extra fields name the case, key, rule, item and action."""
        clock = ManualClock(T0)
        esc = escalator(MemoryStore(), clock)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        with caplog.at_level(logging.INFO, logger="escalate"):
            report = esc.tick()
            esc.dispatch()
        fired = [r for r in caplog.records if getattr(r, "kind", None) == "escalation"]
        (record,) = fired
        assert record.name == "escalate.engine"
        assert (record.case_id, record.rule, record.item, record.action) == (  # type: ignore[attr-defined]
            "c1",
            "main",
            "all",
            "first",
        )
        assert record.key == report.fired[-1].key  # type: ignore[attr-defined]
        outbox = [r for r in caplog.records if r.name == "escalate.outbox"]
        assert [r.getMessage().split()[0] for r in outbox].count("queued") == 2
        assert [r.getMessage().split()[0] for r in outbox].count("sent") == 2
        assert all(r.key.startswith(("warning/", "escalation/")) for r in outbox)  # type: ignore[attr-defined]

    def test_a_case_it_cannot_handle_is_logged_as_an_error(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        clock = ManualClock(T0)
        esc = escalator(MemoryStore(), clock, addresses={"queue": "q@example.com"})
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        with caplog.at_level(logging.WARNING, logger="escalate"):
            report = esc.tick()
        assert report.errors
        (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert record.subject == "c1"  # type: ignore[attr-defined]
        assert "no address" in record.getMessage()

    def test_a_failed_send_is_logged_as_a_warning(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        clock = ManualClock(T0)
        esc = escalator(MemoryStore(), clock, mailer=FailingMailer())
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        esc.tick()
        with caplog.at_level(logging.WARNING, logger="escalate"):
            esc.dispatch()
        failed = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(failed) == 2
        assert all(r.error == "421 try later" for r in failed)  # type: ignore[attr-defined]

    def test_the_library_never_prints(self, capsys: pytest.CaptureFixture[str]) -> None:
        clock = ManualClock(T0)
        esc = escalator(MemoryStore(), clock, mailer=FailingMailer())
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(3 * H)
        esc.tick()
        esc.dispatch()
        assert capsys.readouterr() == ("", "")


class TestMetrics:
    def test_a_tick_and_a_dispatch_are_counted(self) -> None:
        clock = ManualClock(T0)
        metrics = Metrics()
        store = MemoryStore()
        esc = escalator(store, clock, mailer=RecordingMailer(), metrics=metrics)
        esc.add_case(case(1), by=Actor("ann"))
        esc.add_case(
            attrs.evolve(case(2), owner=None), by=Actor("ann")
        )  # no one to warn
        clock.advance(H + 5 * timedelta(minutes=1))
        esc.tick()
        m = metrics
        assert m.value("escalate_ticks_total") == 1
        assert m.value("escalate_actions_fired_total", kind="warning") == 2
        assert m.value("escalate_actions_fired_total", kind="escalation") == 2
        assert m.value("escalate_mails_queued_total", purpose="escalation") == 2
        assert m.value("escalate_mails_queued_total", purpose="warning") == 1
        assert m.value("escalate_outbox_depth") == 3
        assert m.value("escalate_outbox_oldest_unsent_seconds") == 0
        # the warning was due at 09:30 and carried out at 10:05
        assert m.value("escalate_tick_due_lag_seconds") == 35 * 60
        assert m.value("escalate_due_lag_seconds") == 4  # observations
        clock.advance(timedelta(minutes=2))
        esc.dispatch()
        assert m.value("escalate_mails_sent_total") == 3

    def test_outbox_age_and_failures(self) -> None:
        clock = ManualClock(T0)
        metrics = Metrics()
        esc = escalator(MemoryStore(), clock, mailer=FailingMailer(), metrics=metrics)
        esc.add_case(case(), by=Actor("ann"))
        clock.advance(H)
        esc.tick()
        esc.dispatch()
        clock.advance(timedelta(minutes=10))
        esc.tick()
        assert metrics.value("escalate_mails_failed_total") == 2
        assert metrics.value("escalate_outbox_depth") == 2
        assert metrics.value("escalate_outbox_oldest_unsent_seconds") == 600

    def test_exposition_is_the_prometheus_text_format(self) -> None:
        """Every metric has HELP and TYPE lines; samples are `name{labels} value`
        with exact decimal seconds; label values are escaped."""
        m = Metrics()
        m.inc("escalate_mails_queued_total", purpose='odd "name"\n')
        m.observe("escalate_tick_duration_seconds", timedelta(milliseconds=30))
        text = m.exposition()
        for name, info in METRICS.items():
            assert f"# TYPE {name} {info.type}\n" in text
        assert 'escalate_mails_queued_total{purpose="odd \\"name\\"\\n"} 1' in text
        assert 'escalate_tick_duration_seconds_bucket{le="0.025"} 0' in text
        assert 'escalate_tick_duration_seconds_bucket{le="0.1"} 1' in text
        assert "escalate_tick_duration_seconds_sum 0.03\n" in text
        sample = re.compile(r'^[a-z_]+(\{[a-z]+="(?:[^"\\]|\\.)*"\})? -?[0-9.]+$')
        for line in text.splitlines():
            assert line.startswith("# ") or sample.match(line), line

    def test_unknown_names_and_labels_are_refused(self) -> None:
        m = Metrics()
        with pytest.raises(ConfigError, match="escalate_mail_sent_total"):
            m.inc("escalate_mail_sent_total")
        with pytest.raises(ConfigError, match=r"expected the labels \['kind'\]"):
            m.inc("escalate_actions_fired_total")

    def test_a_bad_label_is_refused_every_time(self) -> None:
        """Keys are kept once checked; one that failed the check is not kept."""
        m = Metrics()
        m.inc("escalate_actions_fired_total", kind="warning")
        for _ in range(2):
            with pytest.raises(ConfigError, match="expected the labels"):
                m.inc("escalate_actions_fired_total", kinds="warning")
        m.inc("escalate_actions_fired_total", kind=["unhashable"])  # type: ignore[arg-type]
        assert m.value("escalate_actions_fired_total", kind="['unhashable']") == 1

    def test_counts_from_several_threads_add_up(self) -> None:
        """Four threads count under the same and different labels at once
        (the kept keys are filled and read concurrently): nothing is lost."""
        m = Metrics()
        start = threading.Barrier(4)

        def count(kind: str) -> None:
            start.wait()
            for _ in range(5_000):
                m.inc("escalate_actions_fired_total", kind=kind)
                m.inc("escalate_ticks_total")

        threads = [
            threading.Thread(target=count, args=(k,))
            for k in ("warning", "escalation", "warning", "expiry")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert m.value("escalate_ticks_total") == 20_000
        assert m.value("escalate_actions_fired_total", kind="warning") == 10_000
        assert m.value("escalate_actions_fired_total", kind="expiry") == 5_000

    def test_every_metric_is_documented(self) -> None:
        text = (DOCS / "metrics.md").read_text()
        documented = set(re.findall(r"^\| `(escalate_\w+)`", text, re.M))
        assert documented == set(METRICS)

    def test_served_over_http(self) -> None:
        """A real HTTP client scrapes /metrics; other paths are 404."""
        m = Metrics()
        m.inc("escalate_ticks_total", 7)
        server = MetricsServer(m, port=0)
        try:
            url = f"http://127.0.0.1:{server.port}"
            with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
                assert response.headers["Content-Type"].startswith("text/plain")
                assert "escalate_ticks_total 7\n" in response.read().decode()
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(f"{url}/", timeout=10)
        finally:
            server.close()

    def test_a_port_in_use_is_a_clear_error(self) -> None:
        first = MetricsServer(Metrics(), port=0)
        try:
            with pytest.raises(ConfigError, match=f"127.0.0.1:{first.port}"):
                MetricsServer(Metrics(), port=first.port)
        finally:
            first.close()


class TestStatus:
    def test_backlog_outbox_and_last_tick(self, tmp_path: Path) -> None:
        store = SqliteStore(tmp_path / "s.db")
        clock = ManualClock(T0)
        esc = escalator(store, clock, mailer=FailingMailer())
        esc.add_case(case(), by=Actor("ann"))
        health = read_health(store, T0)
        assert health.last_tick is None
        clock.advance(H)
        esc.tick()
        esc.dispatch()
        esc.add_case(case(2), by=Actor("ann"))
        later = T0 + 2 * H
        health = read_health(store, later)
        assert health.last_tick is not None
        assert health.last_tick.fired == 2
        assert health.backlog.count == 2  # c1's second step, c2's first
        assert health.due_lag == H + H / 2  # c2's warning fell due at 09:30
        assert health.outbox.depth == 2
        assert health.mail_lag == H
        assert {f.error for f in health.outbox.failing} == {"421 try later"}
        assert health.lag == H + H / 2  # the larger of the two
        assert health.late(H)
        assert not health.late(H + H / 2)
        store.close()

    def test_cli_status_and_max_lag(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        db = tmp_path / "s.db"
        store = SqliteStore(db)
        clock = ManualClock(T0)
        esc = escalator(store, clock)
        esc.add_case(case(), by=Actor("ann"))
        store.close()
        at = (T0 + H).isoformat()
        assert main(["status", "--db", str(db), "--now", at]) == 0
        text = capsys.readouterr().out
        assert "last tick: none recorded" in text
        assert "due backlog: 1 cases" in text
        assert main(["status", "--db", str(db), "--now", at, "--max-lag", "5m"]) == 1
        assert "late: 30m behind" in capsys.readouterr().out
        assert main(["status", "--db", str(db), "--now", at, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["due_backlog"] == 1
        assert data["due_lag_seconds"] == 1800


class TestCliLogging:
    @pytest.fixture
    def demo(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
        """The demo's folder (its output read and dropped)."""
        folder = tmp_path / "demo"
        assert main(["demo", "--dir", str(folder)]) == 0
        capsys.readouterr()
        return folder

    def tick(self, demo: Path, now: str, *options: str) -> int:
        config, db = demo / "helpdesk.toml", demo / "demo.db"
        args = ["tick", "--config", str(config), "--db", str(db), "--now", now]
        return main([*args, "--outbox", str(demo / "out"), *options])

    def test_json_log_lines_carry_the_fields(
        self, demo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`-v --log-format json`: one JSON object per line on stderr, with the
        extra fields; the summary stays on stdout."""
        config = demo / "helpdesk.toml"
        store = SqliteStore(demo / "demo.db")
        esc = Escalator.from_config(
            load_config(config), store, RecordingMailer(), ManualClock(T0 + 7 * 24 * H)
        )
        new = Case(id="c9", number="C-9", created_at=T0 + 7 * 24 * H, owner="noor")
        esc.add_case(new, by=Actor("ann"))
        store.close()
        now = "2026-12-03T09:00:00+01:00"
        assert self.tick(demo, now, "-v", "--log-format", "json") == 0
        out, err = capsys.readouterr()
        assert out.startswith("tick at")
        records = [json.loads(line) for line in err.splitlines()]
        assert records, "a tick at -v logs"
        assert {r["logger"] for r in records} <= {"escalate.engine", "escalate.outbox"}
        assert all(r["level"] in ("info", "warning") for r in records)

    def test_nothing_on_stderr_by_default_when_all_is_well(
        self, demo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert self.tick(demo, "2026-12-01T09:00:00+01:00") == 0
        assert capsys.readouterr().err == ""

    @pytest.mark.parametrize(
        ("verbosity", "level"),
        [
            (-2, logging.CRITICAL + 10),
            (-1, logging.ERROR),
            (0, logging.WARNING),
            (1, logging.INFO),
            (2, logging.DEBUG),
            (5, logging.DEBUG),
        ],
    )
    def test_v_and_q_set_the_level(self, verbosity: int, level: int) -> None:
        handler = _logs.setup(verbosity, "text", io.StringIO())
        try:
            assert logging.getLogger("escalate").level == level
        finally:
            _logs.teardown(handler)

    def test_tick_now_earlier_than_the_last_tick_is_refused(
        self, demo: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert self.tick(demo, "2026-11-20T09:00:00+01:00") == 1
        err = capsys.readouterr().err
        assert "--now: 2026-11-20T09:00:00+01:00 is earlier than the last tick" in err
