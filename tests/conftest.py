"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def postgres_dsn(escalate_postgres_dsn: str) -> str:
    """The PostgreSQL server of this test run (escalate.testing's fixture)."""
    return escalate_postgres_dsn


@pytest.fixture(scope="session")
def postgres_url(postgres_dsn: str) -> str:
    """The same server as a ``postgresql://`` URL (as ``--db`` takes it)."""
    parts = dict(p.split("=", 1) for p in postgres_dsn.split())
    return (
        f"postgresql://{parts['user']}@/{parts['dbname']}"
        f"?host={parts['host']}&port={parts['port']}"
    )
