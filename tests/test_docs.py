"""Docs examples that are whole test files run as such, in a real pytest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
# A fenced python block whose first line is "# test_<name>.py" is a test file.
TEST_FILE = re.compile(r"```python\n# (test_\w+\.py)\n(.*?)```", re.S)
SNIPPETS = [
    pytest.param(name, body, id=f"{page.name}:{name}")
    for page in sorted(DOCS.glob("*.md"))
    for name, body in TEST_FILE.findall(page.read_text())
]


@pytest.mark.parametrize(("name", "body"), SNIPPETS)
def test_doc_test_file_passes(tmp_path: Path, name: str, body: str) -> None:
    """The test file shown in the docs passes under pytest, with the plugin."""
    (tmp_path / name).write_text(body)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout)


def test_there_are_test_file_snippets() -> None:
    """The docs do show at least one such test file (so the test above runs)."""
    assert SNIPPETS


class TestStoresPage:
    """docs/stores.md is the adapter writer's checklist: it must be complete."""

    ROWS = re.compile(r"^\| `(\w+)\((.*?)\)[^|]*\| .*? \| (.*?) \|$", re.M)

    def rows(self) -> dict[str, str]:
        text = (DOCS / "stores.md").read_text()
        return {name: tests for name, _, tests in self.ROWS.findall(text)}

    def test_every_port_method_is_in_the_table(self) -> None:
        """Each method of each store protocol has a row."""
        from escalate import ports

        methods = {
            name
            for proto in (ports.Store, *ports.Store.__mro__)
            if getattr(proto, "_is_protocol", False)
            for name in vars(proto)
            if not name.startswith("_") and callable(vars(proto)[name])
        }
        assert methods == set(self.rows())

    def test_every_named_contract_test_exists(self) -> None:
        """Each test the table names is a test of StoreContract."""
        from escalate.testing import StoreContract

        named = {
            t
            for tests in self.rows().values()
            for t in re.findall(r"`(test_\w+)`", tests)
        }
        assert named
        assert {t for t in named if not hasattr(StoreContract, t)} == set()
