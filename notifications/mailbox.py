"""Where replies come from: an IMAP folder, or a folder of .eml files (the embedded default).

Both yield new messages oldest first, in batches (one FETCH of the IMAP inbox), and mark a batch once the
caller has processed it (one STORE or MOVE over its UIDs). The IMAP inbox fetches by UID above the last one
processed (UIDs from the server are filtered, since `UID n:*` always returns the newest message), never
sets \\Seen while reading (BODY.PEEK), fetches large messages on their own, and reconnects after a dropped
connection to carry on where it was. Between two reads, `wait` blocks until new mail may be there: IMAP IDLE
on the same connection when the server offers it (a reply is seen within a second), else the poll interval.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import shutil
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imapclient import SEEN, IMAPClient
from imapclient.exceptions import LoginError

from core.settings import ImapSettings, Settings

log = logging.getLogger(__name__)

CONNECTION_ERRORS = (imaplib.IMAP4.abort, OSError, EOFError)
BATCH_BYTES = 8 * 1024 * 1024
BATCH_MESSAGES = 200
IDLE_RENEW = 9 * 60  # RFC 2177: end IDLE within 29 minutes; routers drop quiet connections sooner
IDLE_SLICE = 1.0  # seconds between two looks at the stop event while idling
IDLE_FAILED = 2.0  # seconds to wait when waiting itself failed; the next read reconnects or says why not


class MailboxError(Exception):
    """The mailbox cannot be read: bad settings, refused login, or a connection that keeps dropping."""


@dataclass(frozen=True)
class Fetched:
    source: str  # "imap:INBOX:1234" or "folder:reply.eml": where the raw bytes came from
    raw: bytes
    uid: int | None = None
    path: Path | None = None


class FolderInbox:
    """A folder of .eml files; a processed file moves to its `processed/` subfolder."""

    pushes = False  # a folder never says that a file arrived: `wait` sleeps
    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"folder:{path.resolve()}"
        self.uidvalidity = None

    def batches(self, last_uid: int = 0, uidvalidity: int | None = None) -> Iterator[list[Fetched]]:
        if not self.path.is_dir():
            return
        files = sorted(self.path.glob("*.eml"))
        for start in range(0, len(files), BATCH_MESSAGES):
            yield [Fetched(f"folder:{file.name}", file.read_bytes(), path=file)
                   for file in files[start:start + BATCH_MESSAGES]]

    def mark(self, batch: list[Fetched]) -> None:
        done = self.path / "processed"
        done.mkdir(exist_ok=True)
        for fetched in batch:
            target = done / fetched.path.name
            n = 1
            while target.exists():
                target, n = done / f"{fetched.path.stem}-{n}{fetched.path.suffix}", n + 1
            shutil.move(fetched.path, target)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """A folder has no push: sleep `seconds` (or until `stop`); False, nothing is known to have arrived."""
        stop.wait(seconds)
        return False

    def close(self) -> None:
        pass


class ImapInbox:
    """One IMAP folder, read by UID; `uidvalidity` is known after the first connection."""

    def __init__(self, settings: ImapSettings, reconnects: int = 3) -> None:
        self.settings = settings
        self.name = settings.mailbox
        self.reconnects = reconnects
        self.uidvalidity: int | None = None
        self.client: IMAPClient | None = None

    def connect(self) -> IMAPClient:
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file) if s.security != "none" else None
        try:
            client = IMAPClient(s.host, port=s.port, ssl=s.security == "tls", ssl_context=context, timeout=s.timeout)
            if s.security == "starttls":
                client.starttls(context)
            client.login(s.user, s.password)
            info = client.select_folder(s.folder)
            if s.mark == "move" and not client.folder_exists(s.move_to):
                client.create_folder(s.move_to)
        except LoginError as exc:
            raise MailboxError(f"login refused for {s.user}@{s.host}: {exc}") from exc
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise
            raise MailboxError(f"{s.host}: {exc}") from exc
        except ssl.SSLError as exc:
            raise MailboxError(f"TLS with {s.host}:{s.port} failed: {exc}") from exc
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        self.client = client
        return client

    def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):  # already gone: nothing to tidy
                self.client.logout()
            self.client = None

    @property
    def pushes(self) -> bool:
        """Whether the server tells us about new mail (IDLE); known once connected."""
        return self.client is not None and self.client.has_capability("IDLE")

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Until the server says a message arrived (IDLE), `seconds` pass or `stop` is set; True when
        something arrived. Without IDLE it sleeps; when the connection drops it pauses a moment: the caller
        reads the folder again either way, and its read reconnects (or says why it cannot)."""
        try:
            client = self.client or self.connect()
            if not client.has_capability("IDLE"):
                stop.wait(seconds)
                return False
            client.idle()
            try:
                arrived, left = False, seconds
                while not arrived and left > 0 and not stop.is_set():
                    responses = client.idle_check(timeout=min(IDLE_SLICE, left))
                    arrived = any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
                    left -= IDLE_SLICE
            finally:
                client.idle_done()
            return arrived
        except (MailboxError, *CONNECTION_ERRORS, imaplib.IMAP4.error) as exc:
            self.close()
            self.client = None
            log.warning("waiting for new mail on %s failed (%s); reading again", self.name, exc)
            stop.wait(min(seconds, IDLE_FAILED))
            return False

    def _batches(self, client: IMAPClient, uids: list[int]) -> Iterator[list[int]]:
        """Groups of UIDs whose messages together stay under BATCH_BYTES (a big one goes alone)."""
        sizes = client.fetch(uids, ["RFC822.SIZE"]) if uids else {}
        batch, total = [], 0
        for uid in uids:
            size = sizes.get(uid, {}).get(b"RFC822.SIZE", 0)
            if batch and (total + size > BATCH_BYTES or len(batch) >= BATCH_MESSAGES):
                yield batch
                batch, total = [], 0
            batch.append(uid)
            total += size
        if batch:
            yield batch

    def batches(self, last_uid: int = 0, uidvalidity: int | None = None) -> Iterator[list[Fetched]]:
        """Messages with a UID above `last_uid` (all of them if the folder's UIDVALIDITY is no longer
        `uidvalidity`), one FETCH at a time; after a dropped connection, reconnect and go on."""
        self.uidvalidity = self.uidvalidity or uidvalidity
        failures = 0
        while True:
            try:
                known = self.uidvalidity
                client = self.client or self.connect()
                if known is not None and known != self.uidvalidity:
                    last_uid = 0  # the folder was rebuilt: its UIDs start again (duplicates are recognised)
                found = client.search(["UID", f"{last_uid + 1}:*"])
                uids = sorted(uid for uid in found if uid > last_uid)
                for batch in self._batches(client, uids):
                    bodies = client.fetch(batch, ["BODY.PEEK[]"])
                    fetched = [Fetched(f"imap:{self.settings.folder}:{uid}", bodies[uid][b"BODY[]"], uid=uid)
                               for uid in batch if b"BODY[]" in bodies.get(uid, {})]  # not there: expunged meanwhile
                    if fetched:
                        yield fetched
                    last_uid = batch[-1]
                return
            except CONNECTION_ERRORS as exc:
                self.client = None
                failures += 1
                if failures > self.reconnects:
                    raise MailboxError(f"connection to {self.settings.host} keeps dropping: {exc}") from exc
                log.warning("IMAP connection lost (%s); reconnecting (%d of %d)", exc, failures, self.reconnects)

    def mark(self, batch: list[Fetched]) -> None:
        """Flag a batch as read or move it away, one command over its UIDs; a failure here loses nothing
        (the UID bookkeeping still holds)."""
        uids = [fetched.uid for fetched in batch]
        for _ in range(2):
            try:
                client = self.client or self.connect()
                if self.settings.mark == "move" and client.has_capability("MOVE"):
                    client.move(uids, self.settings.move_to)
                elif self.settings.mark == "move":
                    client.copy(uids, self.settings.move_to)
                    client.delete_messages(uids)
                    if client.has_capability("UIDPLUS"):
                        client.uid_expunge(uids)
                    else:
                        client.expunge()
                else:
                    client.add_flags(uids, [SEEN])
                return
            except CONNECTION_ERRORS as exc:
                self.client = None
                log.warning("could not mark %d messages from %s on (%s)", len(batch), batch[0].source, exc)


def inbox_for(settings: Settings) -> ImapInbox | FolderInbox:
    return ImapInbox(settings.imap) if settings.imap else FolderInbox(settings.inbox_folder)


@contextlib.contextmanager
def opened_inbox(settings: Settings) -> Iterator[ImapInbox | FolderInbox]:
    """The configured mailbox (`inbox_for`), closed when the block ends however it ends."""
    inbox = inbox_for(settings)
    try:
        yield inbox
    finally:
        inbox.close()
