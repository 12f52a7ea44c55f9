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
