"""The escalate command, end to end in a subprocess: every command and its errors."""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

import escalate
from escalate.config import example_config
from escalate.scenario import example_scenario
from tests.adapters.test_mailers import Inbox, free_port, parse

COMMANDS = (
    "demo",
    "simulate",
    "tick",
    "run",
    "plan",
    "explain",
    "verify",
    "check",
    "timeline",
)
LATER = "2026-11-30T09:15:00+01:00"


def run(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "escalate.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where `escalate demo` ran once."""
    folder = tmp_path_factory.mktemp("demo")
    result = run("demo", "--dir", folder)
    assert result.returncode == 0, result.stderr
    (folder / "stdout.txt").write_text(result.stdout)
    return folder


def copy_db(demo: Path, tmp_path: Path, name: str = "copy.db") -> Path:
    target = tmp_path / name
    with sqlite3.connect(demo / "demo.db") as source, sqlite3.connect(target) as dest:
        source.backup(dest)
    return target


class TestBasics:
    def test_version(self) -> None:
        """--version prints the installed version."""
        result = run("--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"escalate {escalate.__version__}"

    def test_no_command_is_a_usage_error(self) -> None:
        """Without a command it prints help and exits 2."""
        result = run()
        assert result.returncode == 2
        assert all(c in result.stdout for c in COMMANDS)

    @pytest.mark.parametrize("command", COMMANDS)
    def test_help(self, command: str) -> None:
        """Every command has --help."""
        result = run(command, "--help")
        assert result.returncode == 0
        assert f"usage: escalate {command}" in result.stdout

    def test_unknown_command_and_bad_instant(self) -> None:
        """argparse errors exit 2; an instant must carry an offset."""
        assert "invalid choice" in run("frobnicate").stderr
        result = run("tick", "--config", "x", "--db", "y", "--now", "2026-11-23T09:00")
        assert result.returncode == 2
        assert "expected an ISO 8601 instant with an offset" in result.stderr


class TestDefectsFoundByANewUser:
    def test_a_closed_pipe_ends_quietly(self, tmp_path: Path) -> None:
        """`escalate demo | head`: the reader goes away; no Broken pipe error."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "escalate.cli", "demo", "--dir", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()  # like head, before reading anything
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0
        assert "Broken pipe" not in err
        assert "Traceback" not in err

    @pytest.mark.parametrize("every", ["0s", "0m"])
    def test_run_every_zero_is_refused(self, every: str) -> None:
        result = run("run", "--config", "x", "--db", "y", "--every", every)
        assert result.returncode == 2
        assert "--every: expected a positive duration" in result.stderr


class TestDemo:
    def test_a_week_of_escalations(self, demo: Path) -> None:
        """The demo shows what escalated when, to whom and why, and where files are."""
        out = (demo / "stdout.txt").read_text()
        assert "Monday 23 November 2026" in out
        assert "11:15  C-1001     escalated to tessa (step 'team-lead')" in out
        assert "why:  2h of business time in 'office' since created at Mon 09:15" in out
        assert "lead L-1   escalated to the agency Leadly" in out
        assert "C-1003     status -> Expired" in out
        assert "task T-1   overdue: reminded" in out
        mails = sorted((demo / "mail").glob("*.eml"))
        assert f"{len(mails)} mails written to {demo / 'mail'}" in out
        assert (
            len(mails) == 19
        )  # the manager steps mail mark twice: escalation, assignment
        assert f"database: {demo / 'demo.db'}" in out

    def test_again_in_the_same_folder(self, demo: Path, tmp_path: Path) -> None:
        """A second run replaces its own files: the same timeline."""
        folder = tmp_path / "again"
        first = run("demo", "--dir", folder)
        second = run("demo", "--dir", folder)
        assert second.returncode == 0
        assert first.stdout == second.stdout
        assert len(list((folder / "mail").glob("*.eml"))) == 19

    def test_a_folder_it_cannot_use(self, tmp_path: Path) -> None:
        """--dir naming a file: exit 1 with the reason, no traceback."""
        (tmp_path / "file").write_text("")
        result = run("demo", "--dir", tmp_path / "file")
        assert result.returncode == 1
        assert result.stderr.startswith("escalate: error: ")
        assert "Traceback" not in result.stderr


class TestSimulate:
    def test_what_if_nothing_stored(self, tmp_path: Path) -> None:
        """A window of the bundled week; no file appears anywhere."""
        result = run(
            "simulate",
            "--config",
            example_config(),
            "--case",
            example_scenario(),
            "--from",
            "2026-11-25T00:00:00+01:00",
            "--until",
            "2026-11-26T00:00:00+01:00",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert "nothing is stored or sent" in result.stdout
        assert "16:00  C-1003     status -> Expired" in result.stdout
        assert "C-1001" not in result.stdout  # before the window
        assert list(tmp_path.iterdir()) == []

    def test_one_case(self, tmp_path: Path) -> None:
        """A file with one [case] and its events; a week by default."""
        case = tmp_path / "case.toml"
        case.write_text(
            '[case]\nid = "x"\nnumber = "X-1"\npriority = "high"\n'
            "created_at = 2026-11-27T16:00:00+01:00\n"
            '[[case.events]]\nat = 2026-11-30T09:45:00+01:00\nstatus = "Closed"\n'
        )
        result = run("simulate", "--config", example_config(), "--case", case)
        assert result.returncode == 0, result.stderr
        # Friday 16:00 + 1h30m of office time: Monday 09:30; + 2h: Monday 10:00
        assert "09:30  X-1        warning: 75% of step 'team-lead'" in result.stdout
        assert "09:45  X-1        status -> Closed (by agent)" in result.stdout
        assert "escalated" not in result.stdout

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                "[case]\nid = 1\ncreated_at = 2026-11-27T16:00:00+01:00\n",
                "case.id: expected a text, got 1",
            ),
            (
                '[case]\nid = "x"\ncreated_at = 2026-11-27T16:00:00\n',
                "case.created_at: expected an instant with an offset",
            ),
            (
                '[[leads]]\nid = "l"\ntype = "web"\nreceived_at = '
                "2026-11-27T16:00:00+01:00\n[[leads.events]]\nat = "
                '2026-11-27T16:00:00+01:00\ndo = "dance"\n',
                "leads[0].events[0].do: expected one of assign, accept, activity",
            ),
            ("", "expected [[cases]], [[leads]] or [[tasks]]"),
        ],
    )
    def test_bad_case_files(self, tmp_path: Path, text: str, message: str) -> None:
        """A bad scenario exits 1 naming the TOML path."""
        case = tmp_path / "case.toml"
        case.write_text(text)
        result = run("simulate", "--config", example_config(), "--case", case)
        assert result.returncode == 1
        assert message in result.stderr

    def test_until_before_from(self) -> None:
        """--until before --from is refused."""
        result = run(
            "simulate",
            "--config",
            example_config(),
            "--case",
            example_scenario(),
            "--until",
            "2026-01-01T00:00:00+00:00",
        )
        assert result.returncode == 1
        assert "--until: expected an instant after --from" in result.stderr


def with_fourth_step(demo: Path, tmp_path: Path) -> Path:
    """The demo's configuration with a fourth step for everyone else, at 40h."""
    config = tmp_path / "helpdesk.toml"
    old = 'after = "24h"\nescalate_to = "diana"\n'
    text = (demo / "helpdesk.toml").read_text()
    assert old in text
    config.write_text(
        text.replace(
            old,
            old + '\n[[rules.standard.items.actions]]\nid = "ceo"\nafter = "40h"\n'
            'escalate_to = "diana"\n',
        )
    )
    return config


class TestTickAndRun:
    def test_tick_reports_and_sends(self, demo: Path, tmp_path: Path) -> None:
        """A tick on a copy of the demo's database: a summary, exit 0."""
        db = copy_db(demo, tmp_path)
        result = run(
            "tick",
            "--config",
            demo / "helpdesk.toml",
            "--db",
            db,
            "--now",
            LATER,
            "--outbox",
            tmp_path / "out",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"tick at {LATER}: ")
        assert "recomputed" not in result.stdout

    def test_a_changed_configuration_recomputes(
        self, demo: Path, tmp_path: Path
    ) -> None:
        """A fourth step: the open cases and leads are recomputed, one moves."""
        db = copy_db(demo, tmp_path)
        config = with_fourth_step(demo, tmp_path)
        args = ("tick", "--config", config, "--db", db, "--now", LATER)
        result = run(*args, "--outbox", tmp_path / "out")
        assert result.returncode == 0, result.stderr
        assert "\nthe configuration changed:\n  applied at " in result.stdout
        assert (
            "  2 open cases and 2 leads: 1 change, 1 next deadlines move\n"
            "  0 steps become due at once, 0 will never fire, 0 waiting steps and "
            "warnings move\n"
            "  4 open cases and leads recomputed, 0 steps recorded as skipped\n"
        ) in result.stdout
        again = run(*args, "--outbox", tmp_path / "out")
        assert "configuration changed" not in again.stdout

    def test_tick_errors_exit_1(self, demo: Path, tmp_path: Path) -> None:
        """A case that cannot be handled (its template is missing): exit 1."""
        db = copy_db(demo, tmp_path)
        config = with_fourth_step(demo, tmp_path)
        config.write_text(
            config.read_text().replace('"escalation.txt" =', '"unused.txt" =')
        )
        now = "2026-12-31T12:00:00+01:00"
        result = run("tick", "--config", config, "--db", db, "--now", now)
        assert result.returncode == 1, result.stdout
        assert "error: c2: template 'escalation.txt'" in result.stdout

    def test_tick_sends_through_smtp(self, demo: Path, tmp_path: Path) -> None:
        """[mail.smtp] in the configuration: the mails reach a real SMTP server."""
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
        controller.start()
        try:
            db = copy_db(demo, tmp_path)
            config = with_fourth_step(demo, tmp_path)
            text = config.read_text().replace('folder = "mail"', "")
            config.write_text(
                text + f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {controller.port}\n'
                'security = "none"\n'
            )
            now = "2026-12-31T12:00:00+01:00"
            result = run("tick", "--config", config, "--db", db, "--now", now)
        finally:
            controller.stop()
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 actions fired" in result.stdout
        # and C-1002's resolution target (40h, low priority) breaches: its owner
        assert "1 SLA warnings and breaches, 2 mails sent" in result.stdout
        assert sorted(parse(m)["To"] for m in inbox.messages) == [
            "diana@example.com",
            "mark@example.com",
        ]

    def test_smtp_password_variable_missing(self, demo: Path, tmp_path: Path) -> None:
        """A password variable that is not set: exit 1 naming it."""
        config = tmp_path / "helpdesk.toml"
        text = (demo / "helpdesk.toml").read_text().replace('folder = "mail"', "")
        config.write_text(
            text + '\n[mail.smtp]\nhost = "localhost"\nusername = "u"\n'
            'password_env = "ESCALATE_TEST_NO_SUCH_VARIABLE"\n'
        )
        result = run("tick", "--config", config, "--db", tmp_path / "x.db")
        assert result.returncode == 1
        assert "'ESCALATE_TEST_NO_SUCH_VARIABLE' is not set" in result.stderr

    def test_progress_only_on_a_terminal(self, demo: Path, tmp_path: Path) -> None:
        """A recompute shows progress on a terminal (a pty), nothing on a pipe."""
        config = with_fourth_step(demo, tmp_path)
        piped = run(
            "tick",
            "--config",
            config,
            "--db",
            copy_db(demo, tmp_path),
            "--now",
            LATER,
            "--outbox",
            tmp_path / "out",
        )
        assert piped.returncode == 0
        assert piped.stderr == ""
        db = copy_db(demo, tmp_path, "tty.db")
        leader, follower = pty.openpty()
        try:
            process = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "escalate.cli",
                    "tick",
                    "--config",
                    str(config),
                    "--db",
                    str(db),
                    "--now",
                    LATER,
                    "--outbox",
                    str(tmp_path / "out"),
                ],
                stdout=subprocess.PIPE,
                stderr=follower,
                text=True,
                check=False,
                timeout=120,
            )
            os.set_blocking(leader, False)  # read what the terminal holds
            shown = b""
            while True:
                try:
                    chunk = os.read(leader, 1024)
                except BlockingIOError:
                    break
                shown += chunk
        finally:
            os.close(follower)
            os.close(leader)
        assert process.returncode == 0, process.stdout
        assert b"recomputing deadlines: 2 batches" in shown

    def test_tick_on_a_bad_configuration(self, tmp_path: Path) -> None:
        """A configuration error exits 1 with its TOML path, and writes nothing."""
        config = tmp_path / "bad.toml"
        config.write_text('[calendars.office]\ntz = "Nowhere/Else"\n')
        result = run("tick", "--config", config, "--db", tmp_path / "x.db")
        assert result.returncode == 1
        assert "calendars.office: tz: expected an IANA time zone name" in result.stderr
        assert not (tmp_path / "x.db").exists()

    def test_run_stops_after_max_ticks(self, tmp_path: Path) -> None:
        """--max-ticks N: N summaries, then a clean stop."""
        result = run(
            "run",
            "--config",
            example_config(),
            "--db",
            tmp_path / "run.db",
            "--every",
            "1s",  # the shortest interval: one wait between the two ticks
            "--max-ticks",
            "2",
            "--outbox",
            tmp_path / "out",
            "-v",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""  # it reports through logging only
        assert result.stderr.count("INFO escalate.worker: tick at ") == 2
        assert "stopped after 2 ticks" in result.stderr

    def test_run_logs_json_only_under_log_format_json(self, tmp_path: Path) -> None:
        """run printed a line per tick on stdout, plain text even under
        --log-format json; by default (warnings) a quiet worker says nothing."""
        common = ("--config", example_config(), "--every", "1s", "--max-ticks", "2")
        quiet = run(
            "run", *common, "--db", tmp_path / "q.db", "--outbox", tmp_path / "o"
        )
        assert quiet.returncode == 0, quiet.stderr
        assert (quiet.stdout, quiet.stderr) == ("", "")
        logged = run(
            "run",
            *common,
            "--db",
            tmp_path / "j.db",
            "--outbox",
            tmp_path / "o",
            "-v",
            "--log-format",
            "json",
        )
        assert logged.stdout == ""
        records = [json.loads(line) for line in logged.stderr.splitlines()]
        ticks = [r for r in records if r["message"].startswith("tick at ")]
        assert len(ticks) == 2
        assert {"at", "cases", "fired", "errors"} <= ticks[0].keys()

    @pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
    def test_run_stops_cleanly_on_a_signal(self, tmp_path: Path, signum: int) -> None:
        """A signal between ticks ends the wait and the loop, with exit 0."""
        out, err, code = _signalled_run(tmp_path, signum)
        assert code == 0, err
        assert out == ""
        assert "stopped after 1 ticks" in err

    def test_run_hears_a_signal_its_parent_blocked(self, tmp_path: Path) -> None:
        """A supervisor that starts the worker with SIGINT blocked (a mask survives
        exec) left it deaf to Ctrl-C: it slept on and had to be killed."""

        def block() -> None:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})

        _, err, code = _signalled_run(tmp_path, signal.SIGINT, block)
        assert code == 0, err
        assert "stopped after 1 ticks" in err

    @pytest.mark.parametrize("command", ["run", "tick"])
    def test_an_outbox_that_cannot_be_a_folder(
        self, tmp_path: Path, command: str
    ) -> None:
        """An --outbox under a file: an error naming the option, before the
        database is made (it had been a traceback from ``run``, whose clean-up
        met a name it had not set yet)."""
        (tmp_path / "a-file").write_text("")
        outbox = tmp_path / "a-file" / "out"
        db = tmp_path / "r.db"
        result = run(
            command, "--config", example_config(), "--db", db, "--outbox", outbox
        )
        assert result.returncode == 1
        assert result.stderr == (
            f"escalate: error: --outbox: cannot use {str(outbox)!r} as the mail "
            "folder: Not a directory\n"
        )
        assert not db.exists()

    def test_run_refuses_zero_ticks(self, tmp_path: Path) -> None:
        """--max-ticks below 1 is refused before anything runs."""
        result = run(
            "run",
            "--config",
            example_config(),
            "--db",
            tmp_path / "r.db",
            "--max-ticks",
            "0",
        )
        assert result.returncode == 1
        assert "--max-ticks: expected 1 or more, got 0" in result.stderr
        assert not (tmp_path / "r.db").exists()

    def test_bad_every(self) -> None:
        """--every takes the configuration's duration syntax."""
        result = run("run", "--config", "x", "--db", "y", "--every", "1d")
        assert result.returncode == 2
        assert "there is no" in result.stderr


def explain_c2(demo: Path, now: str) -> subprocess.CompletedProcess[str]:
    """``escalate explain`` of the demo's case c2 at ``now``, which must succeed."""
    config, db = demo / "helpdesk.toml", demo / "demo.db"
    result = run("explain", "--config", config, "--db", db, "c2", "--now", now)
    assert result.returncode == 0, result.stderr
    return result


class TestInspect:
    def test_explain(self, demo: Path) -> None:
        """Why each step is or is not due, and which were carried out."""
        result = explain_c2(demo, "2026-11-24T12:00:00+01:00")
        assert "item 'Everyone else': matches" in result.stdout
        assert "step 'team-lead' (after 8h, to tessa): not due until" in result.stdout
        # Steps the demo carried out later are not "carried out already" then.
        assert "carried out already" not in result.stdout

    def test_explain_counts_what_was_carried_out_by_then(self, demo: Path) -> None:
        """At an instant after every step: each was carried out, none is left."""
        result = explain_c2(demo, "2026-11-27T09:00:00+01:00")
        assert "3 carried out by then, 0 still to carry out" in result.stdout
        assert "carried out already:\n    escalation 'team-lead' at " in result.stdout

    def test_explain_unknown_case(self, demo: Path) -> None:
        """An unknown case exits 1 naming it."""
        config = demo / "helpdesk.toml"
        result = run("explain", "--config", config, "--db", demo / "demo.db", "nope")
        assert result.returncode == 1
        assert "no case with the id or number 'nope'" in result.stderr

    def test_a_case_by_its_number(self, demo: Path, tmp_path: Path) -> None:
        """Wherever the CLI takes a case id, the number people see works too."""
        config, db = demo / "helpdesk.toml", demo / "demo.db"
        now = "2026-11-24T12:00:00+01:00"
        by_number = run(
            "explain", "--config", config, "--db", db, "C-1002", "--now", now
        )
        assert by_number.returncode == 0, by_number.stderr
        assert by_number.stdout == explain_c2(demo, now).stdout
        out = tmp_path / "c3.svg"
        timeline = run("timeline", "--db", db, "C-1003", "--svg", out)
        assert timeline.returncode == 0, timeline.stderr
        assert out.read_bytes() == self.timeline_of(demo, "c3", tmp_path)

    @staticmethod
    def timeline_of(demo: Path, case: str, tmp_path: Path) -> bytes:
        out = tmp_path / f"{case}-by-id.svg"
        assert (
            run("timeline", "--db", demo / "demo.db", case, "--svg", out).returncode
            == 0
        )
        return out.read_bytes()

    def test_missing_database(self, tmp_path: Path) -> None:
        """Inspecting commands never create a database."""
        result = run("verify", "--db", tmp_path / "none.db")
        assert result.returncode == 1
        assert "--db: no database at" in result.stderr
        assert not (tmp_path / "none.db").exists()

    def test_check(self, tmp_path: Path) -> None:
        """check prints what the file holds; a bad file exits 1 with its path."""
        good = run("check", "--config", example_config())
        assert good.returncode == 0
        assert "lead types: phone, web" in good.stdout
        bad = tmp_path / "bad.toml"
        bad.write_text(
            example_config().read_text().replace('after = "2h"', 'after = "2 hours"')
        )
        result = run("check", "--config", bad)
        assert result.returncode == 1
        assert (
            "rules.standard.items[0].actions[0].after: expected a duration"
            in result.stderr
        )

    def test_verify_finds_tampering(self, demo: Path, tmp_path: Path) -> None:
        """An edited history entry: exit 1, naming the case and the entry."""
        db = copy_db(demo, tmp_path)
        ok = run("verify", "--db", db)
        assert ok.returncode == 0
        assert "4 case histories checked, 0 broken" in ok.stdout
        with sqlite3.connect(db) as connection:  # what an attacker with the file does
            triggers = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'history'"
            ).fetchall()
            for (name,) in triggers:
                connection.execute(f"DROP TRIGGER {name}")
            connection.execute(
                "UPDATE history SET actor = 'mallory' WHERE case_id = 'c3' AND seq = 2"
            )
        result = run("verify", "--db", db)
        assert result.returncode == 1
        assert "TAMPERED case 'c3', entry 2:" in result.stdout
        assert "4 case histories checked, 1 broken" in result.stdout

    def test_timeline_svg(self, demo: Path, tmp_path: Path) -> None:
        """The SVG parses and holds open hours, pauses, thresholds, fired dots."""
        out = tmp_path / "c3.svg"
        result = run("timeline", "--db", demo / "demo.db", "c3", "--svg", out)
        assert result.returncode == 0, result.stderr
        root = ET.parse(out).getroot()
        classes = [e.get("class") for e in root.iter() if e.get("class")]
        assert {"open", "pause", "threshold", "fired", "event"} <= set(classes)
        titles = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}title")]
        assert any(t.startswith("fired: team-lead -> tessa") for t in titles)
        assert any(t.startswith("Pending from Tue 10:00") for t in titles)
        assert any(
            t.startswith("fired: expiry -> Expired at Wed 16:00") for t in titles
        )
        # nothing after the closing: the later steps never happened
        assert not any("manager" in t for t in titles)

    def test_files_it_cannot_write_are_named_by_their_option(
        self, demo: Path, tmp_path: Path
    ) -> None:
        """A chart or a checkpoint into a folder that does not exist: exit 1,
        the option and the path named, nothing left behind."""
        missing = tmp_path / "missing"
        chart = run(
            "timeline", "--db", demo / "demo.db", "c3", "--svg", missing / "c3.svg"
        )
        assert chart.returncode == 1
        assert chart.stderr == (
            f"escalate: error: --svg: cannot write {str(missing / 'c3.svg')!r}: "
            "No such file or directory\n"
        )
        db = copy_db(demo, tmp_path)
        taken = run("verify", "--db", db, "--checkpoint", missing / "heads.json")
        assert taken.returncode == 1
        assert taken.stderr.startswith("escalate: error: --checkpoint: cannot write")
        assert not missing.exists()

    def test_timeline_unknown_case(self, demo: Path, tmp_path: Path) -> None:
        """An unknown case exits 1, and no file is written."""
        out = tmp_path / "x.svg"
        result = run("timeline", "--db", demo / "demo.db", "zz", "--svg", out)
        assert result.returncode == 1
        assert "no case with the id or number 'zz'" in result.stderr
        assert not out.exists()


def _signalled_run(
    tmp_path: Path, signum: int, before: Callable[[], None] | None = None
) -> tuple[str, str, int | None]:
    """``escalate run`` every hour: ``signum`` once the first tick is done (it
    is then waiting); its output, errors and exit code."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "escalate.cli",
            "run",
            "--config",
            str(example_config()),
            "--db",
            str(tmp_path / "run.db"),
            "--every",
            "1h",
            "--outbox",
            str(tmp_path / "out"),
            "-v",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=before,
    )
    assert process.stderr is not None
    seen = []
    while not any("tick at " in line for line in seen):  # then it waits
        line = process.stderr.readline()
        assert line, "".join(seen)
        seen.append(line)
    assert any("running as " in line for line in seen)
    process.send_signal(signum)
    try:
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()  # not left running when the test fails
    return out, "".join(seen) + err, process.returncode
