"""Delivery backends. A backend takes built messages and answers, per message, None or an error.

The mail folder is the embedded default: each message becomes one `.eml` file named after its
Message-ID, written atomically, so delivering the same message twice leaves one file.
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


class MailBackend(Protocol):
    def send(self, messages: list[EmailMessage]) -> list[str | None]: ...


class MailFolderBackend:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_for(self, message: EmailMessage) -> Path:
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", message["Message-ID"].strip("<>"))
        return self.folder / f"{stem}.eml"

    def send(self, messages: list[EmailMessage]) -> list[str | None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        results: list[str | None] = []
        for message in messages:
            target = self.path_for(message)
            try:
                if not target.exists():
                    tmp = target.with_suffix(".tmp")
                    tmp.write_bytes(message.as_bytes())
                    os.replace(tmp, target)
                results.append(None)
            except OSError as exc:
                results.append(f"cannot write {target}: {exc}")
        return results


def backend_for(settings) -> MailBackend:
    """The configured backend: the mail folder until an SMTP host is configured."""
    return MailFolderBackend(settings.mail_folder)
