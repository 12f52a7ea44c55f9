"""The ``escalate`` command: thin, it parses, calls the core and returns an exit code.

``escalate demo`` shows the business-hours clock answering the questions an
escalation asks (the full simulated week arrives with the engine).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

import holidays

from escalate.errors import EscalateError
from escalate.hours import BusinessHours

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args, sys.stdout))
    except EscalateError as e:
        print(f"escalate: error: {e}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="escalate", description="Escalation machinery for CRMs and helpdesks."
    )
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="show business time at work on a Dutch helpdesk calendar"
    )
    demo.set_defaults(run=_demo)
    return parser


def _version() -> str:
    from importlib.metadata import version

    return f"escalate {version('escalate')}"


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    ams = ZoneInfo("Europe/Amsterdam")
    bh = BusinessHours.from_spec(
        {"mon-fri": "09:00-12:30, 13:30-17:00", "sat": "10:00-14:00"},
        tz="Europe/Amsterdam",
        holidays=holidays.country_holidays("NL"),
        special_days={date(2026, 12, 24): "09:00-12:00"},
    )
    out.write(f"Helpdesk calendar: {bh.describe()}, Dutch holidays\n\n")
    hour = timedelta(hours=1)
    questions = [
        ("Case opened Friday 16:00, respond within 8h", (2026, 11, 27, 16), 8 * hour),
        ("Case opened Christmas Eve 11:00, within 4h", (2026, 12, 24, 11), 4 * hour),
        ("Case opened before King's Day, within 10h", (2026, 4, 24, 15), 10 * hour),
        ("Opened the Saturday DST ends, within 10h", (2026, 10, 24, 12), 10 * hour),
    ]
    for label, (y, m, d, h), within in questions:
        opened = datetime(y, m, d, h, tzinfo=ams)
        due = bh.add(opened, within)
        out.write(
            f"{label}:\n  opened {opened:%a %d %b %Y %H:%M}, "
            f"due {due:%a %d %b %Y %H:%M %Z}; "
            f"real time {due.astimezone(UTC) - opened.astimezone(UTC)}, "
            f"business time {bh.elapsed(opened, due)}\n"
        )
    a = datetime(2026, 1, 1, tzinfo=ams)
    b = datetime(2027, 1, 1, tzinfo=ams)
    out.write(f"\nOpen business time in 2026: {bh.elapsed(a, b)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
