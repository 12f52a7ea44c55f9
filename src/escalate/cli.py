"""The ``escalate`` command: thin, it parses, builds adapters, calls the core and
returns an exit code.

Commands: ``demo``, ``simulate``, ``tick``, ``run``, ``status``, ``plan``,
``apply``, ``explain``, ``verify``, ``check``, ``timeline``. Options are spelled
the same everywhere (``--config FILE``, ``--db FILE``, instants in ISO 8601 with an
offset). Exit codes: 0 done, 1 an error (a bad configuration, a failed case,
tampering found), 2 a usage error. ``docs/cli.md`` is the reference.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Final, TextIO, cast
from zoneinfo import ZoneInfo

import attrs

from escalate import _logs
from escalate._cli_outbox import outbox_drop, outbox_list, outbox_retry
from escalate._cli_status import status as probe_status
from escalate._stop import StopOnSignal
from escalate._toml import parse_duration
from escalate.adapters._sql import SqlStore
from escalate.adapters.folder import FolderMailer
from escalate.adapters.memory import MemoryStore
from escalate.adapters.prometheus import MetricsServer
from escalate.adapters.smtp import SmtpMailer
from escalate.adapters.sqlite import SqliteStore
from escalate.audit import (
    AuditReport,
    Checkpoint,
    audit,
    check_against,
    take_checkpoint,
)
from escalate.check import Severity
from escalate.config import Config, example_config, load_config, load_tenant_config
from escalate.engine import Escalator
from escalate.errors import ConfigError, EscalateError, NotFound
from escalate.hours import _located
from escalate.mail import Mailer, OutgoingMail
from escalate.metrics import Metrics
from escalate.model import OPERATOR
from escalate.operator import load_operator_settings, read_text, send_deadline
from escalate.ports import Store
from escalate.rules import evaluate
from escalate.scenario import example_scenario, load_scenario
from escalate.settings import Settings
from escalate.simulation import Moment, replay
from escalate.sla import SlaSettings, SlaTimeline
from escalate.sla import report as sla_report
from escalate.svg import report_svg, timeline_svg
from escalate.timers import Clock, ManualClock, SystemClock
from escalate.worker import Waiter, Worker, tick_summary

__all__ = ["main"]

_run_log: Final = logging.getLogger("escalate.worker")

_WEEK = timedelta(days=7)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = _logs.setup(args.verbose - args.quiet, args.log_format, sys.stderr)
    try:
        return int(args.run(args, sys.stdout))
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python exits
        return 0
    except EscalateError as e:
        print(f"escalate: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a folder or file the command cannot write
        print(f"escalate: error: {e}", file=sys.stderr)
        return 1
    finally:
        _logs.teardown(handler)


# -- the parser -----------------------------------------------------------------------


def _instant(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        t = None
    if t is None or t.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 instant with an offset like "
            f"2026-11-23T09:00:00+01:00, got {text!r}"
        )
    return t


def _duration_option(
    option: str, example: str, *, zero: bool
) -> Callable[[str], timedelta]:
    """An argparse type: a duration in the configuration's syntax, positive (or
    zero when ``zero``)."""

    def parse(text: str) -> timedelta:
        try:
            value = parse_duration(text, option)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if value < timedelta(0) or (value == timedelta(0) and not zero):
            kind = "" if zero else "positive "
            raise argparse.ArgumentTypeError(
                f'{option}: expected a {kind}duration like "{example}", got {text!r}'
            )
        return value

    return parse


def _logging_options(parser: argparse.ArgumentParser, default: object) -> None:
    """-v, -q and --log-format, before the command or after it."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="log more: -v each action and mail, -vv everything",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=default,
        help="log less: -q errors only, -qq nothing",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=default,
        help="log lines as text (default) or one JSON object each, on stderr",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escalate",
        description="Escalation machinery for CRMs and helpdesks.",
        epilog="Run 'escalate COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=_version())
    _logging_options(parser, argparse.SUPPRESS)
    parser.set_defaults(verbose=0, quiet=0, log_format="text")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(
        name: str, run: Callable[[argparse.Namespace, TextIO], int], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(run=run)
        _logging_options(sub, argparse.SUPPRESS)
        return sub

    def config(sub: argparse.ArgumentParser, *, required: bool = True) -> None:
        sub.add_argument(
            "--config",
            type=Path,
            required=required,
            metavar="FILE",
            help="the configuration file (TOML); with --operator, a tenant's "
            "settings, which may hold no operator key",
        )
        sub.add_argument(
            "--operator",
            type=Path,
            metavar="FILE",
            help="the operator's settings (TOML: [mail.smtp], mail.folder, "
            "templates.folder); --config is then read as a tenant's",
        )

    def db(sub: argparse.ArgumentParser) -> None:
        env = os.environ.get("ESCALATE_DB")
        sub.add_argument(
            "--db",
            required=not env,
            default=env,
            metavar="DB",
            help="the SQLite file, or a PostgreSQL URL (postgresql://...); "
            "default: $ESCALATE_DB",
        )

    def now(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--now",
            type=_instant,
            metavar="T",
            help="act as if it were T (ISO 8601 with offset; default: the real time)",
        )

    def outbox(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--outbox",
            type=Path,
            metavar="DIR",
            help="write mails as .eml files into DIR instead of [mail] in the config",
        )

    demo = command(
        "demo", _demo, "run a week at the example helpdesk and show what escalated"
    )
    demo.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="where to put the database and mails (default: a new temporary folder)",
    )

    simulate = command(
        "simulate",
        _simulate,
        "the what-if timeline of cases and leads in a file; nothing is stored or sent",
    )
    config(simulate)
    simulate.add_argument(
        "--case", type=Path, required=True, metavar="FILE", help="the scenario (TOML)"
    )
    simulate.add_argument(
        "--from", dest="start", type=_instant, metavar="T", help="default: its start"
    )
    simulate.add_argument(
        "--until", type=_instant, metavar="T", help="default: a week after the start"
    )

    tick = command("tick", _tick, "carry out what is due once, and send the mail")
    config(tick)
    db(tick)
    now(tick)
    outbox(tick)

    run = command("run", _run, "tick every interval until SIGINT or SIGTERM")
    config(run)
    db(run)
    outbox(run)
    run.add_argument(
        "--every",
        type=_duration_option("--every", "60s", zero=False),
        default=timedelta(seconds=60),
        metavar="DURATION",
        help='the interval, e.g. "60s" or "5m" (default 60s)',
    )
    run.add_argument(
        "--max-ticks", type=int, metavar="N", help="stop after N ticks (for tests)"
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (docs/metrics.md)",
    )
    run.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the address to serve metrics on (default 127.0.0.1)",
    )

    status = command(
        "status",
        _status,
        "the due backlog, the outbox and the last tick; exits 1 past --max-lag",
    )
    db(status)
    now(status)
    status.add_argument(
        "--max-lag",
        type=_duration_option("--max-lag", "5m", zero=True),
        metavar="DURATION",
        help="exit 1 if the oldest overdue action or unsent mail is later than "
        'this, e.g. "5m" (for a health check)',
    )
    status.add_argument(
        "--max-dead",
        type=int,
        metavar="N",
        help="exit 1 if there are more than N dead letters (mails sending gave "
        "up on); --max-lag counts waiting mails only",
    )
    status.add_argument(
        "--timeout",
        type=_duration_option("--timeout", "10s", zero=False),
        default=timedelta(seconds=10),
        metavar="DURATION",
        help='give up past this, exit 2 "could not tell" (default 10s)',
    )
    status.add_argument("--json", action="store_true", help="write it as JSON")

    outbox_command = command(
        "outbox",
        _outbox,
        "the mails waiting or given up on (dead letters): list, retry, drop",
    )
    actions = outbox_command.add_subparsers(
        dest="outbox_action", metavar="ACTION", required=True
    )
    listing = actions.add_parser("list", help="list waiting mails, or --dead letters")
    db(listing)
    listing.add_argument("--dead", action="store_true", help="the dead letters")
    listing.add_argument(
        "--limit", type=int, default=100, metavar="N", help="at most N (100)"
    )
    listing.add_argument("--json", action="store_true", help="write it as JSON")
    listing.set_defaults(outbox_run=outbox_list)
    for name, act_on, text in (
        ("retry", outbox_retry, "put a dead letter back into the queue"),
        ("drop", outbox_drop, "stop sending a dead or waiting mail, for good"),
    ):
        act = actions.add_parser(name, help=text, description=text)
        db(act)
        now(act)
        act.add_argument("message_id", metavar="ID", help="its Message-ID")
        act.set_defaults(outbox_run=act_on)

    plan = command(
        "plan",
        _plan,
        "what a configuration would do to the open cases and leads, before it is "
        "applied; nothing is written",
    )
    config(plan)
    db(plan)
    now(plan)
    plan.add_argument(
        "--all",
        action="store_true",
        help="list every open case and lead, not only those the change touches",
    )
    plan.add_argument("--json", action="store_true", help="write the plan as JSON")

    apply = command(
        "apply",
        _apply,
        "store a configuration in the database and recompute the open cases and "
        "leads, following its on_change",
    )
    config(apply)
    db(apply)
    now(apply)

    explain = command("explain", _explain, "why each action of a case is or is not due")
    config(explain)
    db(explain)
    now(explain)
    explain.add_argument("case", metavar="CASE", help="the case id or number")

    rep = command(
        "report",
        _report,
        "SLA attainment over a period, per policy and metric (needs [sla])",
    )
    db(rep)
    config(rep, required=False)  # its SLA policies instead of the stored ones
    rep.add_argument(
        "--from",
        dest="start",
        type=_instant,
        required=True,
        metavar="T",
        help="the period's start (ISO 8601 with offset)",
    )
    rep.add_argument(
        "--to",
        dest="end",
        type=_instant,
        required=True,
        metavar="T",
        help="the period's end (excluded); timelines are computed at it",
    )
    rep.add_argument("--json", action="store_true", help="write it as JSON")
    rep.add_argument(
        "--svg", type=Path, metavar="FILE", help="also draw it as a bar chart there"
    )

    check = command(
        "check",
        _check,
        "validate a configuration: render every template, check users, fields, "
        "rules and calendars; exit 1 on errors (and warnings with --strict)",
    )
    config(check)
    now(check)
    check.add_argument(
        "--strict", action="store_true", help="warnings are errors too (exit 1)"
    )

    ver = command(
        "verify",
        _verify,
        "check every case's history against its head, and against a checkpoint",
    )
    db(ver)
    ver.add_argument(
        "--against",
        type=Path,
        metavar="FILE",
        help="also prove that the database still extends this checkpoint",
    )
    ver.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="write a checkpoint of every history head to FILE (keep it elsewhere)",
    )
    now(ver)

    timeline = command("timeline", _timeline, "draw a case's timeline as SVG")
    db(timeline)
    config(timeline, required=False)  # for its SLA policies, if any
    timeline.add_argument("case", metavar="CASE", help="the case id or number")
    timeline.add_argument(
        "--svg", type=Path, required=True, metavar="FILE", help="where to write it"
    )
    now(timeline)
    return parser


def _version() -> str:
    from importlib.metadata import version

    return f"escalate {version('escalate')}"


# -- building the escalator -----------------------------------------------------------


def _mailer(config: Config, outbox: Path | None) -> Mailer:
    """The mailer of the operator's settings (``--outbox`` wins)."""
    if outbox is not None:
        return _folder_mailer(outbox, "--outbox")
    smtp = config.operator.smtp
    if smtp is not None:
        password = os.environ.get(smtp.password_env) if smtp.password_env else None
        if smtp.password_env and password is None:
            raise ConfigError(
                f"mail.smtp.password_env: the environment variable "
                f"{smtp.password_env!r} is not set"
            )
        return SmtpMailer(
            smtp.host,
            smtp.port,
            security=smtp.security,  # type: ignore[arg-type]  # checked: one of three
            username=smtp.username,
            password=password,
            timeout=smtp.timeout,
            deadline=send_deadline(smtp),
            reuse=smtp.reuse,
        )
    if config.operator.mail_folder is not None:
        return _folder_mailer(config.operator.mail_folder, "mail.folder")
    raise ConfigError(
        "mail: expected folder or [mail.smtp] (the operator's), got neither"
    )


def _config(args: argparse.Namespace) -> Config:
    """``--config``: a single-company file, or with ``--operator`` a tenant's
    settings, read as such (no operator key), under the operator's file."""
    operator_file = getattr(args, "operator", None)
    if operator_file is None:
        return load_config(args.config)
    operator = load_operator_settings(operator_file)
    config = load_tenant_config(
        read_text(args.config, "tenant configuration"), operator=operator
    )
    return attrs.evolve(config, path=args.config)


def _folder_mailer(folder: Path, option: str) -> FolderMailer:
    try:
        return FolderMailer(folder)
    except OSError as e:
        raise ConfigError(
            f"{option}: cannot use {str(folder)!r} as the mail folder: "
            f"{e.strerror or e}"
        ) from e


def _escalator(
    config: Config,
    store: Store,
    mailer: Mailer,
    clock: Clock,
    progress: Callable[[str], None] | None = None,
    metrics: Metrics | None = None,
) -> Escalator:
    # The command is the operator's own code: it puts the file's settings in
    # force with every permission (docs/model.md, "Who may change what").
    return Escalator.from_config(
        config,
        store,
        mailer,
        clock,
        progress=progress,
        metrics=metrics,
        by=OPERATOR,
        **_sending(config),
    )


def _sending(config: Config) -> dict[str, Any]:
    """The operator's delivery policy, and a lease that outlasts two sends."""
    delivery = config.operator.delivery
    return {
        "delivery": delivery,
        "lease": max(timedelta(minutes=5), 2 * delivery.send_deadline),
    }


class _NoMail:
    """A simulation sends nothing (it never dispatches)."""

    def send(self, mail: OutgoingMail) -> None:  # pragma: no cover - never called
        raise ConfigError("a simulation sends no mail")


class _FixedClock:
    """The instant ``--now`` names, for the whole command, in the offset given
    (a ManualClock would answer in UTC, and the summary shows the user's)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def _store(
    db: str,
    *,
    must_exist: bool = True,
    read_only: bool = False,
    timeout: timedelta | None = None,
) -> SqlStore:
    """The store ``--db`` names: a PostgreSQL URL, else a SQLite file. Read
    only (``status``, ``verify``, ``plan``): opened as it is, never created or
    migrated, nothing written; ``timeout`` bounds each statement."""
    if db.startswith(("postgresql://", "postgres://")):
        try:
            from escalate.adapters.postgres import PostgresStore
        except ImportError as e:
            raise ConfigError(
                "--db: a PostgreSQL database needs the postgres extra: pip install "
                "'escalate[postgres]'"
            ) from e
        return PostgresStore(db, create=not read_only, statement_timeout=timeout)
    if must_exist and not Path(db).exists():
        raise ConfigError(f"--db: no database at {db!r}")
    if read_only:
        seconds = 60.0 if timeout is None else timeout.total_seconds()
        return SqliteStore(db, create=False, timeout=seconds)
    return SqliteStore(db)


def _zone(config: Config | Settings) -> tzinfo:
    settings = config if isinstance(config, Settings) else config.settings
    for hours in settings.calendars.values():
        return hours.tz
    return ZoneInfo("UTC")


def _progress(err: TextIO) -> Callable[[str], None] | None:
    """Recompute progress on a terminal; nothing when not on one."""
    if not err.isatty():
        return None
    count = 0

    def show(step: str) -> None:
        nonlocal count
        if step == "recomputed":
            count += 1
            err.write(f"\rrecomputing deadlines: {count} batches")
            err.flush()

    return show


# -- timelines ------------------------------------------------------------------------


def _print_moments(moments: Iterable[Moment], out: TextIO) -> int:
    """Print a timeline; returns how many errors it held."""
    errors = 0
    day = None
    for m in moments:
        if m.at.date() != day:
            day = m.at.date()
            out.write(f"\n{m.at:%A %d %B %Y}\n")
        mark = "!" if m.error else " "
        out.write(f" {mark}{m.at:%H:%M}  {m.subject:<10} {m.what}\n")
        if m.why:
            out.write(f"{'':19}why:  {m.why}\n")
        if m.mails:
            out.write(f"{'':19}mail: {', '.join(m.mails)}\n")
        errors += m.error
    return errors


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    folder = args.dir or Path(tempfile.mkdtemp(prefix="escalate-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / "helpdesk.toml"
    scenario_file = folder / "week.toml"
    shutil.copyfile(example_config(), config_file)
    shutil.copyfile(example_scenario(), scenario_file)
    db = folder / "demo.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    mail_folder = folder / "mail"
    shutil.rmtree(mail_folder, ignore_errors=True)
    config = load_config(config_file)
    scenario = load_scenario(scenario_file)
    start = scenario.first_instant()
    assert start is not None
    clock = ManualClock(start)
    store = SqliteStore(db)
    try:
        esc = _escalator(config, store, FolderMailer(mail_folder), clock)
        out.write(
            "escalate demo: a week at a Dutch helpdesk (Utrecht), on a manual clock.\n"
            "Office hours Mon-Fri 09:00-12:30 and 13:30-17:00 (Europe/Amsterdam),\n"
            "Dutch holidays; gold customers escalate after 2h, 4h and 8h of office\n"
            "time, others after 8h, 16h and 24h since the last change. SLA policies:\n"
            "first reply and resolution targets per priority (gold: 1h and 8h), the\n"
            "resolution clock paused while Pending.\n"
        )
        moments = replay(
            esc, clock, scenario, until=start + _WEEK, dispatch=True, tz=_zone(config)
        )
        errors = _print_moments(moments, out)
        mails = sorted(mail_folder.glob("*.eml")) if mail_folder.exists() else []
    finally:
        store.close()
    out.write(
        f"\n{len(mails)} mails written to {mail_folder}\n"
        f"database: {db}\nconfiguration: {config_file}\nscenario: {scenario_file}\n"
        f"\nTry: escalate explain --config {config_file} --db {db} c2 "
        f"--now {(start + _WEEK).isoformat()}\n"
        f"     escalate timeline --db {db} c1 --svg {folder / 'c1.svg'}\n"
        f"     escalate verify --db {db}\n"
    )
    return 1 if errors else 0


def _simulate(args: argparse.Namespace, out: TextIO) -> int:
    config = _config(args)
    scenario = load_scenario(args.case)
    first = scenario.first_instant() or args.start
    if first is None:
        raise ConfigError("--from: expected an instant for a scenario of tasks only")
    start = args.start or first
    until = args.until or start + _WEEK
    if until.timestamp() < start.timestamp():
        raise ConfigError(f"--until: expected an instant after --from, got {until}")
    clock = ManualClock(min(first, start, key=lambda t: t.timestamp()))
    esc = _escalator(config, MemoryStore(), _NoMail(), clock)
    moments = [
        m
        for m in replay(esc, clock, scenario, until=until, tz=_zone(config))
        if m.at.timestamp() >= start.timestamp()
    ]
    out.write(
        f"What would happen from {start.isoformat()} until {until.isoformat()} "
        "(nothing is stored or sent):\n"
    )
    errors = _print_moments(moments, out)
    if not moments:
        out.write("\nnothing happens\n")
    return 1 if errors else 0


# -- tick and run ---------------------------------------------------------------------


def _tick_once(esc: Escalator, out: TextIO, shown: bool) -> bool:
    report = esc.tick()
    sent = failed = 0
    while True:
        dispatched = esc.dispatch(limit=500)
        sent += len(dispatched.sent)
        failed += len(dispatched.failed) + len(dispatched.dead)
        if len(dispatched.sent) + len(dispatched.failed) + len(dispatched.dead) < 500:
            break
    if shown and report.recomputed:
        sys.stderr.write("\n")  # end the progress line
    out.write(tick_summary(report, sent, failed) + "\n")
    out.flush()
    return report.ok and not failed


def _tick(args: argparse.Namespace, out: TextIO) -> int:
    config = _config(args)
    clock: Clock = _FixedClock(args.now) if args.now else SystemClock()
    mailer = _mailer(config, args.outbox)
    store = _store(args.db, must_exist=False)
    try:
        last = store.last_tick()
        if args.now and last is not None and args.now < last.at:
            raise ConfigError(
                f"--now: {args.now.isoformat()} is earlier than the last tick, at "
                f"{last.at.isoformat()}; ticks go forward (to see the past, use "
                "explain --now or simulate)"
            )
        progress = _progress(sys.stderr)
        esc = _escalator(config, store, mailer, clock, progress)
        return 0 if _tick_once(esc, out, progress is not None) else 1
    finally:
        store.close()


def _run(args: argparse.Namespace, out: TextIO) -> int:
    """A worker (escalate.worker): ticks and dispatch side by side, surviving
    what its database does; it reports through logging only."""
    config = _config(args)
    if args.max_ticks is not None and args.max_ticks < 1:
        raise ConfigError(f"--max-ticks: expected 1 or more, got {args.max_ticks}")
    mailer = _mailer(config, args.outbox)
    sending = _sending(config)
    metrics = Metrics()
    progress = _progress(sys.stderr)

    def build(store: Store) -> Escalator:
        return _escalator(config, store, mailer, SystemClock(), progress, metrics)

    with StopOnSignal() as stop:
        server: MetricsServer | None = None
        try:
            if args.metrics_port is not None:
                server = MetricsServer(
                    metrics, port=args.metrics_port, host=args.metrics_host
                )
                url = f"http://{args.metrics_host}:{server.port}/metrics"
                _run_log.info("metrics: %s", url, extra={"url": url})
            worker = Worker(
                lambda: _store(args.db, must_exist=False),
                build,
                mailer,
                stop,
                every=args.every,
                listen=_listener,
                max_ticks=args.max_ticks,
                metrics=metrics,
                retry_start=args.db.startswith(("postgresql://", "postgres://")),
                **sending,
            )
            ok = worker.run()
        finally:
            if server is not None:
                server.close()
    return 0 if ok else 1


def _listener(store: Store) -> Waiter | None:
    """On PostgreSQL, a LISTEN connection that announces new due instants."""
    listener = getattr(store, "listener", None)
    return None if listener is None else cast("Waiter", listener())


def _status(args: argparse.Namespace, out: TextIO) -> int:
    if args.max_dead is not None and args.max_dead < 0:
        raise ConfigError(f"--max-dead: expected 0 or more, got {args.max_dead}")
    return probe_status(
        args,
        out,
        lambda timeout: _store(args.db, read_only=True, timeout=timeout),
    )


def _outbox(args: argparse.Namespace, out: TextIO) -> int:
    if getattr(args, "limit", 1) < 1:
        raise ConfigError(f"--limit: expected 1 or more, got {args.limit}")
    store = _store(args.db, read_only=args.outbox_action == "list")
    try:
        return int(args.outbox_run(store, args, out))
    finally:
        store.close()


# -- plan -----------------------------------------------------------------------------


def _plan(args: argparse.Namespace, out: TextIO) -> int:
    config = _config(args)
    clock: Clock = _FixedClock(args.now) if args.now else SystemClock()
    store = _store(args.db, read_only=True)
    try:
        plan = _escalator(config, store, _NoMail(), clock).plan()
    finally:
        store.close()
    if args.json:
        json.dump(plan.data(), out, ensure_ascii=False, indent=1)
        out.write("\n")
    else:
        out.write("\n".join(plan.lines(every_row=args.all)) + "\n")
    return 1 if plan.summary.errors else 0


def _apply(args: argparse.Namespace, out: TextIO) -> int:
    config = _config(args)
    clock: Clock = _FixedClock(args.now) if args.now else SystemClock()
    store = _store(args.db)
    try:
        progress = _progress(sys.stderr)
        applied = _escalator(config, store, _NoMail(), clock, progress).apply()
    finally:
        store.close()
    if progress is not None and applied is not None:
        sys.stderr.write("\n")  # end the progress line
    if applied is None:
        out.write(
            f"the settings in force are these ({config.digest[:12]}): nothing to "
            "apply\n"
        )
        return 0
    out.write("\n".join(applied.lines()) + "\n")
    return 0


# -- explain, check, verify, timeline -------------------------------------------------


def _explain(args: argparse.Namespace, out: TextIO) -> int:
    config = _config(args)
    store = _store(args.db, read_only=True)
    try:
        now = args.now or SystemClock().now()
        esc = _escalator(config, store, _NoMail(), _FixedClock(now))
        case = esc.find_case(args.case)
        settings = esc.settings_for(case)
        ev = evaluate(settings.book, case, now, settings.calendars)
        out.write(str(ev.explain()) + "\n")
        out.write(f"  {_version_line(esc.settings, settings)}\n")
        records = [(s, store.fired_key(s.key)) for s in ev.steps]
        # What was carried out by --now; a step recorded later was not done yet.
        done = [(s, r) for s, r in records if r is not None and r.at <= now]
        due = [s for s in ev.steps if s.due and not s.superseded]
        if due or done:
            left = len({s.key for s in due} - {s.key for s, _ in done})
            out.write(
                f"  steps: {len(due)} due by {now.isoformat()}, {len(done)} "
                f"carried out by then, {left} still to carry out\n"
            )
        if done:
            out.write("  carried out already:\n")
            for s, r in done:
                how = " skipped: made due by a configuration change" * r.skipped
                out.write(
                    f"    {s.kind.value} {s.action.id!r}{how} at {r.at.isoformat()} "
                    f"({s.key})\n"
                )
        if esc.sla is not None:
            if store.sla_events(case.id):
                out.write(esc.sla_timeline(case.id, at=now).explain(esc.sla) + "\n")
            else:
                out.write("SLA: no events recorded for this case\n")
    except NotFound as e:
        raise _no_case(args) from e
    finally:
        store.close()
    return 0


def _report(args: argparse.Namespace, out: TextIO) -> int:
    config = _config(args) if args.config else None
    if config is not None and config.sla is None:
        raise ConfigError(
            f"--config: {str(args.config)!r} has no [sla] section: no SLA policies "
            "to report on"
        )
    _located(args.end, "--to")  # the timelines' instant: a calendar counts there
    store = _store(args.db, read_only=True)
    try:
        clock = _FixedClock(args.end)
        if config is not None:  # the file's policies, as if in force
            esc = _escalator(config, store, _NoMail(), clock)
        else:
            esc, _ = _stored_escalator(store, args.db, clock)
        if esc.sla is None:
            raise ConfigError(
                f"--db: the settings stored in {str(args.db)!r} have no SLA "
                "policies to report on (or give --config FILE with an [sla] section)"
            )
        timelines = []
        deleted = []
        for head in store.history_heads():  # every case, open, closed or deleted
            if not store.sla_events(head.case_id):
                continue
            try:
                timelines.append(esc.sla_timeline(head.case_id, at=args.end))
            except NotFound:  # deleted: its events stay, the case does not
                deleted.append(head.case_id)  # (as Zendesk's reports leave
                # out deleted tickets), and the report says which
        result = sla_report(timelines, start=args.start, end=args.end)
        result = attrs.evolve(result, left_out=deleted)
    finally:
        store.close()
    if args.svg is not None:  # first: a file it cannot write prints nothing
        _write_atomically(args.svg, report_svg(result), "--svg")
    out.write((result.to_json() if args.json else result.text()) + "\n")
    return 0


def _stored_escalator(
    store: Store, db: Path | str, clock: Clock
) -> tuple[Escalator, Settings]:
    """An escalator under the settings stored in the database (what the last
    tick or apply put in force), sending no mail; and those settings."""
    record = store.settings_record()
    if record is None:
        raise ConfigError(f"--db: {str(db)!r} holds no settings yet; run a tick first")
    stored = Settings.from_document(record.document)
    esc = Escalator(
        store,
        _NoMail(),
        clock,
        book=stored.book,
        calendars=stored.calendars,
        leads=stored.leads,
        changes=stored.changes,
        sla=stored.sla,
    )
    return esc, stored


def _no_case(args: argparse.Namespace) -> ConfigError:
    return ConfigError(
        f"CASE: no case with the id or number {args.case!r} in {str(args.db)!r}"
    )


def _check(args: argparse.Namespace, out: TextIO) -> int:
    config = _config(args)
    s = config.settings
    items = sum(len(r.items) for r in s.book.rules)
    problems = config.problems(at=args.now or SystemClock().now())
    errors = [p for p in problems if p.severity is Severity.ERROR]
    warnings = len(problems) - len(errors)
    failed = bool(errors) or (args.strict and warnings > 0)
    verdict = "not valid" if failed else "valid"
    out.write(
        f"{args.config}: {verdict} ({len(errors)} errors, {warnings} warnings)\n"
        f"  calendars: {', '.join(s.calendars) or 'none'}\n"
        f"  rules: {len(s.book.rules)} ({items} items), active {s.book.active!r}, "
        f"scheduler {'on' if s.book.scheduler_on else 'off'}\n"
        f"  lead types: {', '.join(s.leads.types) or 'none'}\n"
        f"  templates: {len(config.templates)}\n"
        f"  digest: {config.digest}\n"
    )
    for problem in problems:
        out.write(f"{problem}\n")
    return 1 if failed else 0


def _print_broken(report: AuditReport, out: TextIO) -> None:
    for result in (*report.broken, *report.sla_broken):
        where = f", entry {result.seq}" if result.seq is not None else ""
        out.write(f"TAMPERED case {result.case_id!r}{where}: {result.reason}\n")


def _verify(args: argparse.Namespace, out: TextIO) -> int:
    before = None
    if args.against is not None:
        before = Checkpoint.from_document(
            read_text(args.against, "checkpoint"), where=str(args.against)
        )
    store = _store(args.db, read_only=True)
    try:
        integrity = _integrity(store, out)
        if integrity is None:
            return 1
        report = audit(store)
        _print_broken(report, out)
        out.write(
            f"{report.checked} case histories checked, {len(report.broken)} broken\n"
            f"{report.sla_checked} cases' SLA events checked, "
            f"{len(report.sla_broken)} broken\n{integrity}\n"
        )
        ok = report.ok
        if before is not None:
            extends = check_against(store, before)
            _print_broken(extends, out)
            out.write(
                f"checkpoint {args.against} of {before.at.isoformat()} (root "
                f"{before.root}): {extends.checked} cases, "
                + (
                    "the database extends it\n"
                    if extends.ok
                    else f"{len(extends.broken) + len(extends.sla_broken)} no longer "
                    "as they were\n"
                )
            )
            ok = ok and extends.ok
        if args.checkpoint is not None:
            if not ok:
                out.write(
                    f"no checkpoint written to {args.checkpoint}: tampering found\n"
                )
                return 1
            taken = take_checkpoint(store, args.now or SystemClock().now())
            _write_atomically(args.checkpoint, taken.document() + "\n", "--checkpoint")
            out.write(
                f"checkpoint of {len(taken.leaves)} case histories at "
                f"{taken.at.isoformat()} written to {args.checkpoint}\nroot: "
                f"{taken.root} (keep the file, or this root, apart from the database)\n"
            )
    finally:
        store.close()
    return 0 if ok else 1


def _integrity(store: SqlStore, out: TextIO) -> str | None:
    """The file's own check (SQLite's ``quick_check``): the line to print
    when it is sound, or None once what is wrong was printed. PostgreSQL
    checks its pages itself (data checksums), so there is nothing to run."""
    if not isinstance(store, SqliteStore):
        return "integrity: not checked here (PostgreSQL checks its own pages)"
    problems = store.integrity_problems()
    if not problems:
        return "integrity: ok (quick_check)"
    for problem in problems:
        out.write(f"integrity: CORRUPT: {problem}\n")
    out.write("the file is corrupt: restore it from a backup\n")
    return None


def _write_atomically(path: Path, text: str, option: str) -> None:
    """Write ``text`` to ``path`` (given as ``option``) through a temporary
    file in the same folder, so that the file is either the old one or the
    whole new one; a folder or file that cannot be written is an error naming
    the option."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigError(
            f"{option}: cannot write {str(path)!r}: {e.strerror or e}"
        ) from e


def _timeline(args: argparse.Namespace, out: TextIO) -> int:
    store = _store(args.db, read_only=True)
    try:
        esc, stored = _stored_escalator(store, args.db, SystemClock())
        try:
            case = esc.find_case(args.case)
        except NotFound as e:
            raise _no_case(args) from e
        settings = esc.settings_for(case)
        history = store.history(case.id)
        now = args.now or max(
            [e.at for e in history], key=lambda t: t.timestamp(), default=None
        )
        until = now or case.created_at
        sla = _config(args).sla if args.config else None
        svg = timeline_svg(
            case,
            history,
            settings,
            until=until,
            fired=store.is_fired,
            tz=_zone(settings),
            sla=_sla_timeline(esc, sla, case.id, until),
        )
    finally:
        store.close()
    _write_atomically(args.svg, svg, "--svg")
    out.write(f"wrote {args.svg} ({_version_line(stored, settings)})\n")
    return 0


def _sla_timeline(
    esc: Escalator, sla: SlaSettings | None, case_id: str, at: datetime
) -> SlaTimeline | None:
    """The case's SLA timeline at ``at`` under ``sla`` (default: the stored
    settings'), if there are policies and events."""
    if sla is not None:
        esc.use_settings(attrs.evolve(esc.settings, sla=sla), by=OPERATOR)
    if esc.sla is None or not esc.store.sla_events(case_id):
        return None
    return esc.sla_timeline(case_id, at=at)


def _version_line(in_force: Settings, governing: Settings) -> str:
    """Which settings version governs a case, for people."""
    if governing is in_force or governing.digest == in_force.digest:
        return f"settings version {in_force.digest[:12]}, the one in force"
    return (
        f"settings version {governing.digest[:12]}, which the case keeps "
        f"(changes apply to new cases); in force: {in_force.digest[:12]}"
    )


if __name__ == "__main__":
    sys.exit(main())
