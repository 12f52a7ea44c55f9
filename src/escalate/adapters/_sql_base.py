"""What the parts of a SQL store stand on: a dialect's statements and
transactions (``_rows``, ``_write``, ``_outermost``), savepoints, and the
fragments where SQLite and PostgreSQL differ (see :mod:`escalate.adapters._sql`)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, suppress
from typing import Any, ClassVar, Final, Protocol

from escalate.errors import StoreError

PER_QUERY: Final = 5_000  # keys per IN (...): far below SQLite's 32,766 variables


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...


class _Joined:
    """A transaction inside another one: it joins it (every store method is
    one, so a tick enters one per write; a class is cheaper than a generator)."""

    __slots__ = ("_store",)

    def __init__(self, store: SqlBase) -> None:
        self._store = store

    def __enter__(self) -> None:
        self._store._depth += 1

    def __exit__(self, *exc: object) -> None:
        self._store._depth -= 1


class _Savepoint:
    """A savepoint of the transaction under way (a tick enters one per due
    case; a class is cheaper than a generator)."""

    __slots__ = ("_name", "_store")

    def __init__(self, store: SqlBase) -> None:
        self._store = store
        self._name = f"escalate_{store._depth}"

    def __enter__(self) -> None:
        self._store._write(f"SAVEPOINT {self._name}")
        self._store._depth += 1

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        store = self._store
        store._depth -= 1
        if kind is None:
            store._write(f"RELEASE SAVEPOINT {self._name}")
            return
        # the transaction may have ended with the error being raised (SQLite
        # after a disk full, a lost connection): that error says why, and the
        # transaction fails as a whole
        with suppress(StoreError):
            store._write(f"ROLLBACK TO SAVEPOINT {self._name}")
            store._write(f"RELEASE SAVEPOINT {self._name}")


class SqlBase:
    """What every part of a SQL store stands on: the dialect's statements
    (``_rows``, ``_write``) and transactions, and the fragments where the
    dialects differ."""

    _LOCK: ClassVar[str] = ""  # appended to a read whose row a write follows
    _SKIP_LOCKED: ClassVar[str] = ""  # appended to a claim's read
    # queue order: the last one's + 1 (an index lookup; a count read the table)
    _NEXT_ORD: ClassVar[str] = "(SELECT COALESCE(MAX(ord) + 1, 0) FROM outbox)"
    _depth: int  # how deep in transaction() the current thread is

    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing; nested transactions join the outermost one."""
        return _Joined(self) if self._depth else self._outermost()

    def savepoint(self) -> AbstractContextManager[None]:
        """All or nothing inside the transaction under way (outside one, a
        transaction): ``SAVEPOINT``, released, or rolled back to on an
        exception."""
        return _Savepoint(self) if self._depth else self._outermost()

    def reading(self) -> AbstractContextManager[None]:
        """A transaction that only reads, one snapshot for every read in it,
        taking no write lock (SQLite: ``BEGIN DEFERRED``, which a writer does
        not block in WAL mode; PostgreSQL: ``READ ONLY``). Inside a
        transaction, it joins it."""
        return _Joined(self) if self._depth else self._outermost(read_only=True)

    def _outermost(self, read_only: bool = False) -> AbstractContextManager[None]:
        """The dialect's transaction: begin, set ``_depth`` to 1 while it runs,
        commit, or roll back on an exception (and set ``_depth`` back to 0)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close what the store opened."""
        raise NotImplementedError

    def _write(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        raise NotImplementedError

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError
