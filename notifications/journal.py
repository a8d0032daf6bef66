"""The sent journal: an append-only file, outside the database, of every mail the relay accepted.

A database restored from a backup has forgotten the mails sent after the backup: they are pending again,
and the intake writes the receipts and prompts of the replies it applies again. Those mails have the same
Message-IDs as before (notifications/outbox.py keys them by what the mail is), so delivery looks each one
up here first and marks the ones found as sent without sending them again.

One line per mail, written right after the relay accepted it and before the database records it:
`Message-ID<TAB>UTC time<TAB>kind<TAB>idempotency key`; a mail the relay accepted for some recipients only
(the others answered 4xx) has a fifth field, `waiting=ADDRESS,ADDRESS`: those still to get it. A written
line survives the process (it is in the kernel's hands); `sync` makes the lines durable against a power
loss too, once per delivery batch rather than once per mail. Appends take an exclusive `lockf` lock, so
several processes (and, on a shared NFSv4 mount, several hosts) append whole lines. A reader keeps the
Message-IDs it has read and reads only what was appended since.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

_WHITESPACE = re.compile(r"\s+")


class SentJournal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._ids: set[str] = set()
        self._waiting: dict[str, tuple[str, ...]] = {}  # accepted for some recipients: those still waiting
        self._offset = 0
        self._file_id: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._unsynced = False  # lines written since the last sync
        self._created = False  # the file was created since the last sync: its name needs syncing too

    def lookup(self, message_ids: Iterable[str]) -> tuple[set[str], dict[str, tuple[str, ...]]]:
        """Of `message_ids`: those handed to the relay before, and those it accepted for some recipients only,
        with the ones still waiting."""
        with self._lock:
            self._read_new()
            ids = set(message_ids)
            return ids & self._ids, {mid: self._waiting[mid] for mid in ids - self._ids if mid in self._waiting}

    def record(self, message_id: str, kind: str, key: str, waiting: tuple[str, ...] = ()) -> None:
        """Write down that the relay accepted this mail — for all its recipients but `waiting` — (raises OSError
        if it cannot); `sync` to make it durable."""
        fields = [_WHITESPACE.sub("_", value) for value in
                  (message_id, datetime.now(UTC).isoformat(timespec="seconds"), kind, key)]
        if waiting:
            fields.append("waiting=" + ",".join(_WHITESPACE.sub("", address) for address in waiting))
        line = ("\t".join(fields) + "\n").encode()
        created = False
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:  # the first line: the file (and its folder) made now
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, created = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640), True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)  # closing releases the lock
        with self._lock:
            self._note(message_id, waiting)
            self._unsynced, self._created = True, self._created or created

    def sync(self) -> None:
        """Make every line written so far durable (and the file's name, if it was created meanwhile)."""
        with self._lock:
            if not self._unsynced:
                return
            targets = [(self.path, os.O_RDONLY)] + ([(self.path.parent, os.O_RDONLY)] if self._created else [])
            for path, flags in targets:
                fd = os.open(path, flags)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self._unsynced = self._created = False

    def _read_new(self) -> None:
        try:
            stat = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):  # nothing was ever written there
            self._ids, self._waiting, self._offset, self._file_id = set(), {}, 0, None
            return
        file_id = (stat.st_dev, stat.st_ino)
        if file_id != self._file_id or stat.st_size < self._offset:  # a new file (moved, restored): read it all
            self._ids, self._waiting, self._offset, self._file_id = set(), {}, 0, file_id
        if stat.st_size == self._offset:
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read(stat.st_size - self._offset)
        complete = data.rfind(b"\n") + 1  # a line being written now is read next time
        for line in data[:complete].splitlines():
            fields = line.decode("utf-8", "replace").split("\t")
            waiting = fields[4].removeprefix("waiting=").split(",") if len(fields) > 4 else ()
            if message_id := fields[0].strip():
                self._note(message_id, tuple(address for address in waiting if address))
        self._offset += complete

    def _note(self, message_id: str, waiting: tuple[str, ...]) -> None:
        if waiting:  # the latest attempt says who is still waiting
            self._waiting[message_id] = waiting
        else:
            self._ids.add(message_id)


_journals: dict[Path, SentJournal] = {}
_journals_lock = threading.Lock()


def journal_at(path: Path) -> SentJournal:
    """This process's reader of the journal at `path` (one per file, so each line is read once)."""
    key = Path(os.path.abspath(path))
    with _journals_lock:
        if key not in _journals:
            _journals[key] = SentJournal(key)
        return _journals[key]
