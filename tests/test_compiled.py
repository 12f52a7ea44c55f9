"""The opt-in compiled build (``hatch_build.py``): the SLA walk compiled with
mypyc from the same sources passes the SLA suites, the minute-model property
test among them, as the pure modules do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hatch_build

ROOT = Path(__file__).parent.parent
SUITES = (
    "tests/test_sla.py",
    "tests/test_sla_report.py",
    "tests/test_engine_sla.py",
    "tests/property/test_sla_model.py",
    "docs/sla.md",
)


def test_the_sla_suites_pass_on_the_compiled_walk(tmp_path: Path) -> None:
    out = tmp_path / "compiled"
    built = hatch_build.compile_walk(ROOT / "src", out)
    modules = {p.name.split(".")[0] for p in built if p.parent.name == "escalate"}
    assert modules == {Path(m).stem for m in hatch_build.COMPILED}
    env = {**os.environ, "PYTHONPATH": str(out)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True
        )

    loaded = run(
        "-c",
        "import escalate._sla_timeline as t, escalate._sla_states as s;"
        "print(t.__file__); print(s.__file__)",
    )
    assert loaded.returncode == 0, loaded.stderr
    files = [Path(line) for line in loaded.stdout.split()]
    assert all(f.suffix in (".so", ".pyd") and out in f.parents for f in files), files
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout
    assert "failed" not in tests.stdout
