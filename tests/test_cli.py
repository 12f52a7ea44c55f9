"""The escalate command, end to end in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import escalate


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "escalate.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


class TestCli:
    def test_demo(self) -> None:
        """`escalate demo` prints deadlines that skip closed time and exits 0."""
        result = run("demo")
        assert result.returncode == 0, result.stderr
        assert "due Mon 30 Nov 2026 12:00 CET" in result.stdout
        assert "business time 8:00:00" in result.stdout

    def test_version(self) -> None:
        """--version prints the installed version."""
        result = run("--version")
        assert result.returncode == 0
        assert result.stdout.strip() == f"escalate {escalate.__version__}"

    def test_no_command_is_a_usage_error(self) -> None:
        """Without a command it prints help and exits 2."""
        result = run()
        assert result.returncode == 2
        assert "demo" in result.stdout

    def test_unknown_command(self) -> None:
        """An unknown command exits 2 with argparse's message."""
        result = run("frobnicate")
        assert result.returncode == 2
        assert "invalid choice" in result.stderr
