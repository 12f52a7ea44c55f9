"""A real, throwaway PostgreSQL server for test runs (``escalate.testing``'s
``escalate_postgres_dsn`` fixture): initdb in a temporary folder, started on a
Unix socket only, stopped and removed at the end.

Under ``CI=true`` a missing server is a failure; elsewhere, one skip that names
what to install.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["pg_ctl", "postgres_server"]

INSTALL = (
    "PostgreSQL's server binaries (initdb, pg_ctl) were not found: install them "
    "(Debian: apt-get install postgresql) to run the PostgreSQL tests"
)


def _bindir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, or Debian's versioned folder."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _as_server_user(argv: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server as ``postgres`` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def pg_ctl(dsn: str, *args: str) -> None:
    """Run ``pg_ctl`` on the server of ``dsn`` (one :func:`postgres_server`
    started): ``pg_ctl(dsn, "restart", "-m", "fast")``, ``"stop"``,
    ``"start"``; it waits until the server is up or down."""
    bindir = _bindir()
    assert bindir is not None
    folder = Path(dict(p.split("=", 1) for p in dsn.split())["host"])
    options = f"-k {folder} -c listen_addresses='' -c fsync=off -p 5432"
    options += (folder / "options").read_text() if (folder / "options").exists() else ""
    subprocess.run(
        _as_server_user(
            [
                *(str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-o", options),
                *("-w", "-l", str(folder / "server.log"), *args),
            ]
        ),
        check=True,
        capture_output=True,
        text=True,
    )


@contextmanager
def postgres_server(options: str = "") -> Iterator[str]:
    """Start a throwaway server (``options``: more ``-c name=value`` for it);
    yield its DSN; stop and remove it."""
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL, pytrace=False)
        pytest.skip(INSTALL)
    folder = Path(tempfile.mkdtemp(prefix="escalate-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run(
        _as_server_user(
            [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "escalate"]
        ),
        **run,  # type: ignore[call-overload]
    )
    (folder / "options").write_text(f" {options}" if options else "")
    if os.geteuid() == 0:
        shutil.chown(folder / "options", "postgres")
    options = f"-k {folder} -c listen_addresses='' -c fsync=off -p 5432 {options}"
    subprocess.run(
        _as_server_user(
            [
                *(str(bindir / "pg_ctl"), "-D", str(data), "-o", options),
                *("-w", "-l", str(folder / "server.log"), "start"),
            ]
        ),
        **run,  # type: ignore[call-overload]
    )
    try:
        yield f"host={folder} port=5432 user=escalate dbname=postgres"
    finally:
        subprocess.run(
            _as_server_user(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)
