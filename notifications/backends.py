"""Delivery backends. A backend sends built messages and reports each one's outcome as soon as it
is known, through `record(index, outcome)`, so the outbox can mark it at once.

The mail folder is the embedded default: each message becomes one `.eml` file named after its
Message-ID, written atomically, so delivering the same message twice leaves one file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from notifications.message import Envelope


@dataclass(frozen=True)
class Outcome:
    """What became of one message: sent (error None), or failed for now, or failed for good."""

    error: str | None = None
    permanent: bool = False
    note: str | None = None  # sent, but worth knowing (e.g. one of several recipients refused)
    retry_recipients: tuple[str, ...] = ()  # accepted by the others; only these get it again later

    @property
    def sent(self) -> bool:
        return self.error is None


SENT = Outcome()
Record = Callable[[int, Outcome], None]


class DeliveryConfigError(Exception):
    """The backend cannot deliver anything as configured (login refused, TLS not offered, …).
    Nothing is marked: the mails stay pending until the configuration is fixed."""


class MailBackend(Protocol):
    def send(self, messages: list[Envelope], record: Record) -> None: ...


class MailFolderBackend:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_for(self, message_id: str) -> Path:
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", message_id.strip("<>"))
        return self.folder / f"{stem}.eml"

    def send(self, messages: list[Envelope], record: Record) -> None:
        """A file that cannot be written means the folder cannot (names are ours and safe): the OSError
        is raised, and the outbox gives back every mail not yet written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for index, message in enumerate(messages):
            target = self.path_for(message.message_id)
            if not target.exists():
                tmp = target.with_suffix(".tmp")
                tmp.write_bytes(message.data)
                os.replace(tmp, target)
            record(index, SENT)


def backend_for(settings) -> MailBackend:
    """SMTP when a host is configured, else the mail folder."""
    if settings.smtp is not None:
        from notifications.smtp import SmtpBackend

        return SmtpBackend(settings.smtp)
    return MailFolderBackend(settings.mail_folder)
