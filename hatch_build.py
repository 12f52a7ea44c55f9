"""The opt-in compiled build: the SLA walk compiled with mypyc.

escalate is pure Python, and a plain install stays so. Building with this hook
enabled compiles the modules of the SLA walk (``COMPILED``) from the same
sources with mypyc into C extensions, which Python imports in place of the
``.py`` files beside them (timelines about 40% faster: ``benchmarks/sla.py``)::

    HATCH_BUILD_HOOK_ENABLE_CUSTOM=1 pip install .

It needs a C compiler and the Python headers; the build installs mypy and
setuptools for it. An editable install is left pure (a compiled module would
hide edits to its source). ``compile_walk`` is also used by the tests (which
run the SLA suites on the compiled modules) and by the benchmark.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# The modules compiled, relative to src/: the walk and the states it runs in.
COMPILED = ("escalate/_sla_states.py", "escalate/_sla_timeline.py")

# Run in a copy of the package: mypyc type-checks the modules it compiles
# against the rest of the package, writes C, and setuptools compiles it.
_SETUP = """
import sys
from mypyc.build import mypycify
from setuptools import setup

setup(
    name="escalate-compiled",
    ext_modules=mypycify(
        ["--ignore-missing-imports", *sys.argv[1:]],
        opt_level="3",
        group_name="escalate",
    ),
    script_args=["build_ext", "--inplace"],
)
"""


def compile_walk(src: Path, out: Path) -> list[Path]:
    """Compile ``COMPILED`` of the package under ``src`` into ``out``, a new
    folder that then holds a copy of the package with the extensions beside
    its sources; the extensions' paths, relative to ``out``."""
    shutil.copytree(src / "escalate", out / "escalate")
    result = subprocess.run(
        [sys.executable, "-c", _SETUP, *COMPILED],
        cwd=out,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"compiling {', '.join(COMPILED)} with mypyc failed:\n"
            f"{result.stdout}{result.stderr}"
        )
    suffixes = (".so", ".pyd")
    return sorted(
        p.relative_to(out)
        for p in out.rglob("*")
        if p.suffix in suffixes and "build" not in p.relative_to(out).parts
    )


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ModuleNotFoundError:  # imported by the tests and the benchmark
    pass
else:

    class CompiledWalk(BuildHookInterface):  # type: ignore[type-arg]
        """Adds the compiled walk to a wheel (not to an editable install)."""

        PLUGIN_NAME = "custom"

        def initialize(self, version: str, build_data: dict[str, Any]) -> None:
            if self.target_name != "wheel" or version == "editable":
                return
            self._work = Path(tempfile.mkdtemp(prefix="escalate-mypyc-"))
            out = self._work / "out"
            for path in compile_walk(Path(self.root) / "src", out):
                build_data["force_include"][str(out / path)] = path.as_posix()
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

        def finalize(
            self, version: str, build_data: dict[str, Any], artifact_path: str
        ) -> None:
            work = getattr(self, "_work", None)
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)
