"""In-memory adapters: for tests, simulations and the default where nothing is
persisted."""

from __future__ import annotations

import threading
from typing import Final

from escalate.history import DocumentKind

__all__ = ["MemoryNumbering"]

_PREFIXES: Final = {
    DocumentKind.COMPLAINT: "CMP",
    DocumentKind.SERVICE_REPORT: "SRV",
    DocumentKind.ACTION: "ACT",
}


class MemoryNumbering:
    """Document numbers from counters in memory: ``CMP-0001``, ``SRV-0001``, ...

    One counter per kind; safe to share between threads.
    """

    def __init__(self, *, width: int = 4) -> None:
        self._next = dict.fromkeys(DocumentKind, 1)
        self._width = width
        self._lock = threading.Lock()

    def next_number(self, kind: DocumentKind) -> str:
        """A new number for a document of ``kind``."""
        with self._lock:
            n = self._next[kind]
            self._next[kind] = n + 1
        return f"{_PREFIXES[kind]}-{n:0{self._width}d}"
