"""A real IMAP server for the mailbox-reading tests: Dovecot (Debian's dovecot-imapd) started per test
from a standalone configuration in a temporary directory, with one user and Maildir storage, plus a
TCP proxy that cuts the first connection(s) after a given number of bytes (a fetch dropped mid-message).

Test messages go in with IMAP APPEND (`Dovecot.append`), exactly as a mail client would put them.
Without Dovecot installed the `dovecot` fixture skips (`apt-get install -y dovecot-imapd`); under CI it fails.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.smtp_server import free_port

DOVECOT = Path(shutil.which("dovecot") or "/usr/sbin/dovecot")

CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {uid}
mail_location = maildir:~/Maildir
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {dir}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class Dovecot:
    """One Dovecot on 127.0.0.1:`port` with the single user `user`/`password`; `stop` is idempotent.

    Needs root. Dovecot's login and internal processes run as `dovenull` and `dovecot` (so the
    temporary directory is mode 0755 under /tmp, never under pytest's 0700 tmp_path), and the mail is
    stored as user `dovecot` (Dovecot refuses UID 0 for mail)."""

    def __init__(self, user: str = "reviews@qingshan.example.gov.cn", password: str = "review-secret",
                 extra_config: str = "") -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.user, self.password, self.extra_config = user, password, extra_config
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None
        self.start_seconds = 0.0

    def start(self, timeout: float = 10.0) -> Dovecot:
        began = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix="reportchain-dovecot-", dir="/tmp"))
        self.dir.chmod(0o755)
        mail = pwd.getpwnam("dovecot")
        home = self.dir / "home"
        home.mkdir()
        os.chown(home, mail.pw_uid, mail.pw_gid)
        (self.dir / "users").write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{mail.pw_uid}:{mail.pw_gid}::{home}::\n")
        conf = self.dir / "dovecot.conf"
        conf.write_text(CONFIG.format(dir=self.dir, port=self.port, uid=mail.pw_uid) + self.extra_config)
        with open(self.dir / "stdout.log", "wb") as out:
            self.process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(conf)], stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)  # its own process group: see stop
        while not self._greets():
            if self.process.poll() is not None or time.monotonic() - began > timeout:
                code, log = self.process.poll(), self.log()
                self.stop()
                why = f"exited with code {code}" if code is not None else f"did not answer within {timeout} s"
                raise RuntimeError(f"Dovecot on port {self.port} {why}:\n{log}")
            time.sleep(0.01)
        self.start_seconds = time.monotonic() - began
        return self

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                return s.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def log(self) -> str:
        """Dovecot's own log and whatever it printed before the log was open."""
        parts = [p.read_text(errors="replace") for p in (self.dir / "stdout.log", self.dir / "dovecot.log")
                 if p.exists()] if self.dir else []
        return "\n".join(parts)

    def stop(self) -> None:
        if self.process is not None:
            # SIGTERM to the master alone takes ~1.1 s (it waits for its children); to the whole
            # group (master, auth, log, imap-login, imap...) it is over in a few milliseconds.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, sig)
                try:
                    self.process.wait(timeout=5)
                    break
                except subprocess.TimeoutExpired:
                    continue
            self.process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def drop_connections(self) -> int:
        """Kill the processes serving logged-in IMAP connections (a server restart, as clients see it);
        Dovecot itself keeps running and takes new connections. Returns how many were killed."""
        killed = 0
        for proc in Path("/proc").iterdir():
            try:
                if not proc.name.isdigit() or os.getpgid(int(proc.name)) != self.process.pid:
                    continue
                if (proc / "cmdline").read_bytes().split(b"\0")[0] == b"dovecot/imap":
                    os.kill(int(proc.name), signal.SIGKILL)
                    killed += 1
            except (OSError, ProcessLookupError):
                continue  # gone meanwhile
        return killed

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers; each opens its own logged-in connection ------------------------------------------

    def client(self, port: int | None = None, timeout: float = 30) -> IMAPClient:
        """A logged-in IMAPClient (plain IMAP); `port` to go through a `CuttingProxy`."""
        client = IMAPClient(self.host, port or self.port, ssl=False, timeout=timeout)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX", flags=()) -> int:
        """APPEND one message; its UID, from APPENDUID (Dovecot sends it) or else the highest UID."""
        with self.client() as c:
            answer = c.append(folder, raw, flags=flags)
            found = re.search(rb"\[APPENDUID \d+ (\d+)\]", answer)
            if found:
                return int(found.group(1))
            c.select_folder(folder, readonly=True)
            return max(c.search("ALL"))

    def create_folder(self, name: str) -> None:
        with self.client() as c:
            c.create_folder(name)

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as c:
            return c.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]

    def recreate_folder(self, name: str) -> int:
        """Delete and re-create `name` (messages gone, UIDs restart at 1); the new UIDVALIDITY.

        Dovecot takes each new mailbox's UIDVALIDITY from a per-user counter that only goes up, so it
        differs even when re-created within the same second (checked here rather than assumed)."""
        with self.client() as c:
            before = c.folder_status(name, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
            c.delete_folder(name)
            c.create_folder(name)
            after = c.folder_status(name, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        if after == before:
            raise AssertionError(f"Dovecot re-created {name} with the same UIDVALIDITY {before}")
        return after

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            return sorted(c.search("ALL"))

    def flags(self, folder: str = "INBOX") -> dict[int, set[bytes]]:
        """Stored flags per UID; the per-session \\Recent is left out."""
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            fetched = c.fetch(uids, ["FLAGS"]) if uids else {}
            return {uid: set(data[b"FLAGS"]) - {rb"\Recent"} for uid, data in fetched.items()}

    def folders(self) -> list[str]:
        with self.client() as c:
            return [name for _flags, _delimiter, name in c.list_folders()]


class CuttingProxy:
    """A TCP proxy on 127.0.0.1:`port` in front of `target_port`, in background threads. The first
    `cuts` connections are closed, both sides, once `after_bytes` bytes have gone from the server to
    the client: abruptly with RST (the client's read raises ConnectionResetError), or with `reset=False`
    by a plain FIN (imaplib sees EOF and raises imaplib.IMAP4.abort). Later connections pass through."""

    def __init__(self, target_port: int, after_bytes: int, cuts: int = 1, reset: bool = True) -> None:
        self.target = ("127.0.0.1", target_port)
        self.after_bytes, self.cuts, self.reset = after_bytes, cuts, reset
        self.connections = self.cut = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                cut_at = self.after_bytes if self.connections <= self.cuts else None
            thread = threading.Thread(target=self._relay, args=(client, cut_at), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _relay(self, client: socket.socket, cut_at: int | None) -> None:
        forwarded = 0
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        with client, upstream:
            try:
                while not self._closed.is_set():
                    for sock in select.select([client, upstream], [], [], 0.1)[0]:
                        data = sock.recv(1 << 16)
                        if not data:
                            return
                        if sock is client:
                            upstream.sendall(data)
                        elif cut_at is not None and forwarded + len(data) >= cut_at:
                            client.sendall(data[:cut_at - forwarded])
                            for s in (client, upstream) if self.reset else ():  # close() sends RST
                                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                            with self._lock:
                                self.cut += 1
                            return
                        else:
                            forwarded += len(data)
                            client.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def require_dovecot() -> None:
    """Skip the calling test when Dovecot cannot run here; fail instead under CI."""
    reason = None
    if not DOVECOT.exists():
        reason = f"Dovecot is not installed ({DOVECOT}): apt-get install -y dovecot-imapd"
    elif os.geteuid() != 0:
        reason = "the Dovecot test server needs root (its processes run as users dovenull and dovecot)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI must run these tests)")
        pytest.skip(reason)


@pytest.fixture
def dovecot():
    """A fresh Dovecot for this test (about 25 ms to start, a few ms to stop), removed afterwards."""
    require_dovecot()
    with Dovecot() as server:
        yield server
