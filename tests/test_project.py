"""The project's promises that can be checked mechanically."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import escalate

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "escalate"
# The outer modules: they may read files and wire ports; the core never does.
OUTER = (
    "adapters",
    "engine",
    "_engine",  # every part of the engine: _engine_base, _engine_routing, ...
    "cli",
    "_cli",  # the parts of the command line: _cli_outbox, ...
    "worker",
    "config",
    "check",
    "scenario",
    "simulation",
)
# The core: every module but the outer ones and the pytest plugin.
CORE = tuple(
    p.stem
    for p in sorted(SRC.glob("*.py"))
    if p.stem
    not in (*OUTER, "testing", "_postgres_server", "_workers_contract", "__init__")
    and not p.stem.startswith(("_engine", "_cli"))
)
# Only SystemClock may read the real time.
WALL_CLOCK = re.compile(
    r"\b(datetime\.(now|utcnow|today)|date\.today|"
    r"time\.(time|time_ns|monotonic|monotonic_ns|perf_counter|perf_counter_ns|"
    r"localtime|gmtime))\("
)
#: The two sanctioned reads of real time, both in timers.py: SystemClock's, and
#: the monotonic stopwatch of render deadlines.
SANCTIONED = ("SystemClock", "stopwatch:")


def readme_command(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(title, 1)[1]
    return re.search(r"```sh\n(.+?)\n```", section, re.S)[1].strip()  # type: ignore[index]


class TestTwoCommands:
    def test_ci_runs_exactly_the_readme_test_command(self) -> None:
        """.ci/run's last line is the README's test command, verbatim."""
        command = readme_command("Install and run the tests")
        lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
        assert lines[-1] == command

    def test_getting_started_shows_the_same_commands(self) -> None:
        """The docs' getting-started page shows both README commands verbatim."""
        page = (ROOT / "docs" / "getting-started.md").read_text()
        for title in ("Install and run the main job", "Install and run the tests"):
            assert f"```sh\n{readme_command(title)}\n```" in page

    def test_main_job_command_runs_escalate_demo(self) -> None:
        """The README's first command installs and runs `escalate demo`."""
        assert readme_command("Install and run the main job").endswith("escalate demo")


class TestPublicApi:
    def test_all_is_sorted_and_importable(self) -> None:
        """Every name in __all__ imports, and __all__ is sorted."""
        assert list(escalate.__all__) == sorted(escalate.__all__)
        for name in escalate.__all__:
            assert getattr(escalate, name) is not None

    def test_every_public_name_is_documented(self) -> None:
        """Every public name appears in a docs/ page."""
        docs = "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
        missing = [n for n in escalate.__all__ if n != "__version__" and n not in docs]
        assert missing == []

    def test_version(self) -> None:
        """escalate.__version__ comes from the installed metadata."""
        assert re.match(r"^\d+\.\d+", escalate.__version__)


class TestPureCore:
    def test_nothing_reads_the_wall_clock(self) -> None:
        """No module reads the real time but SystemClock and the deadline
        stopwatch, both in timers.py."""
        offenders = [
            f"{path.name}:{n}"
            for path in SRC.rglob("*.py")
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if WALL_CLOCK.search(line)
            and not (path.name == "timers.py" and any(s in line for s in SANCTIONED))
        ]
        assert offenders == []

    def test_core_does_not_import_the_outside(self) -> None:
        """Core modules never import adapters, the engine or the CLI."""
        for name in CORE:
            tree = ast.parse((SRC / f"{name}.py").read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    assert not any(
                        node.module.startswith(f"escalate.{o}") for o in OUTER
                    ), (name, node.module)
            importlib.import_module(f"escalate.{name}")

    def test_typed(self) -> None:
        """The package ships py.typed."""
        assert (SRC / "py.typed").exists()
