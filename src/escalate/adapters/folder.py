"""A mailer that writes ``.eml`` files to a folder, for local runs and the demo."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from escalate.errors import DeliveryError
from escalate.mail import OutgoingMail

__all__ = ["FolderMailer"]


class FolderMailer:
    """Writes each mail to ``<folder>/<Message-ID>.eml``, atomically.

    Sending a mail again rewrites the same file, so a resend leaves one copy.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path_of(self, mail: OutgoingMail) -> Path:
        """Where ``mail`` is (or will be) written."""
        name = re.sub(r"[^A-Za-z0-9._-]", "_", mail.message_id.strip("<>"))
        return self.folder / f"{name}.eml"

    def send(self, mail: OutgoingMail) -> None:
        """Write the mail (a temporary file, then an atomic rename)."""
        target = self.path_of(mail)
        try:
            with tempfile.NamedTemporaryFile(
                "wb", dir=self.folder, prefix=".tmp-", delete=False
            ) as tmp:
                tmp.write(mail.to_message().as_bytes())
            os.replace(tmp.name, target)
        except OSError as e:
            raise DeliveryError(
                f"mail {mail.message_id}: cannot write {target}: {e}"
            ) from e
