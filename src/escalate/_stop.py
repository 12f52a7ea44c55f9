"""How ``escalate run`` stops: SIGINT or SIGTERM asks it to finish the tick in
progress and end, and a wait between ticks ends at once.

No lock, thread or blocking call runs in the signal handler; it only sets a flag.
The wait cannot miss the signal: the interpreter writes a byte to a socket for
each signal (``signal.set_wakeup_fd``) from whichever thread the signal lands on,
and the wait is a ``select`` on that socket, so a signal that arrives just before
the wait begins (after the flag was last looked at) still ends it. A parent that
started the worker with these signals blocked (they stay blocked across
``exec``) would otherwise make it deaf to them: they are unblocked while it runs.
"""

from __future__ import annotations

import select
import signal
import socket
from types import FrameType, TracebackType
from typing import Final

_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """A context manager (main thread only) that turns SIGINT and SIGTERM into a
    stop request; the previous handlers, wakeup fd and signal mask come back on
    exit."""

    def __init__(self) -> None:
        self._requested = False
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._requested

    def wait(self, timeout: float) -> bool:
        """Until ``timeout`` seconds have passed or a stop is asked for; whether
        one was."""
        if not self._requested:
            readable, _, _ = select.select([self._reader], [], [], max(timeout, 0.0))
            if readable:
                self._drain()
        return self._requested

    def __enter__(self) -> StopOnSignal:
        self._previous_fd = signal.set_wakeup_fd(
            self._writer.fileno(), warn_on_full_buffer=False
        )
        self._previous = {s: signal.signal(s, self._on_signal) for s in _SIGNALS}
        self._previous_mask = (
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
            if hasattr(signal, "pthread_sigmask")
            else None
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._previous_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous_mask)
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._reader.close()
        self._writer.close()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._requested = True

    def _drain(self) -> None:
        try:
            while self._reader.recv(512):
                pass
        except BlockingIOError:
            pass
