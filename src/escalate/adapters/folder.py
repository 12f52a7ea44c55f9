"""A mailer that writes ``.eml`` files to a folder, for local runs and the demo."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from escalate.errors import DeliveryError
from escalate.mail import OutgoingMail
from escalate.timers import Clock, SystemClock

__all__ = ["FolderMailer"]

_TMP = re.compile(r"\.tmp-(\d+)-.*")


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it runs, as someone else
    except (OverflowError, OSError):
        return False
    return True


class FolderMailer:
    """Writes each mail to ``<folder>/<Message-ID>.eml``, atomically.

    Sending a mail again rewrites the same file, so a resend leaves one copy. A
    mail is first written to ``.tmp-<pid>-<random>`` and then renamed; a process
    killed in between leaves that file behind, so a new ``FolderMailer`` removes the
    temporary files of processes no longer running on this machine (the mail itself
    was not marked sent, and is sent again by the next dispatch).
    """

    def __init__(
        self, folder: str | os.PathLike[str], *, clock: Clock | None = None
    ) -> None:
        self.folder = Path(folder)
        self.clock = clock or SystemClock()  # dates a mail that has no created_at
        self.folder.mkdir(parents=True, exist_ok=True)
        self.removed = self._remove_leftovers()

    def _remove_leftovers(self) -> tuple[str, ...]:
        """Remove temporary files whose writer is gone; their names."""
        removed = []
        for path in sorted(self.folder.glob(".tmp-*")):
            match = _TMP.fullmatch(path.name)
            if match and _running(int(match.group(1))):
                continue  # being written by a live process
            path.unlink(missing_ok=True)
            removed.append(path.name)
        return tuple(removed)

    def path_of(self, mail: OutgoingMail) -> Path:
        """Where ``mail`` is (or will be) written."""
        name = re.sub(r"[^A-Za-z0-9._-]", "_", mail.message_id.strip("<>"))
        return self.folder / f"{name}.eml"

    def send(self, mail: OutgoingMail) -> None:
        """Write the mail (a temporary file, then an atomic rename)."""
        target = self.path_of(mail)
        data = mail.to_message(date=self.clock.now()).as_bytes()
        written: str | None = None
        try:
            with tempfile.NamedTemporaryFile(
                "wb", dir=self.folder, prefix=f".tmp-{os.getpid()}-", delete=False
            ) as tmp:
                written = tmp.name
                tmp.write(data)
            os.replace(tmp.name, target)
        except OSError as e:
            if written is not None:  # a failed write leaves no temporary file
                Path(written).unlink(missing_ok=True)
            raise DeliveryError(
                f"mail {mail.message_id}: cannot write {target}: {e}"
            ) from e
