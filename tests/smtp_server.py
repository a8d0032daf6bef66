"""A real SMTP server for the delivery tests: aiosmtpd on 127.0.0.1, in its own thread, recording
what it actually received (envelope, raw bytes, connection, TLS, login), with switches to refuse
recipients, answer 4xx, drop a connection mid-message, or disappear mid-batch.

Plain, STARTTLS + AUTH (self-signed certificate from trustme) and implicit TLS variants.
"""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

USER, PASSWORD = "fzb", "secret"


def free_port() -> int:
    """aiosmtpd cannot listen on port 0: ask the OS for a free port and hand it over."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: tuple  # the client's (host, port): one value per connection
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=policy.default)

    @property
    def message_id(self) -> str:
        return self.message["Message-ID"]

    @property
    def raw_headers(self) -> bytes:
        return self.content.split(b"\r\n\r\n", 1)[0]


@dataclass
class Recorder:
    """The handler. Addresses starting with "unknown" get 550; `transient` addresses get 451; the
    `drop_at` DATA commands (1-based, counted over the server's life) have their connection cut
    without the message being kept, the `answer_at` ones get that answer instead of 250; from
    `gone_at` on the server vanishes (see `Server`)."""

    transient: set[str] = field(default_factory=set)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> RCPT answer
    drop_at: set[int] = field(default_factory=set)
    answer_at: dict[int, str] = field(default_factory=dict)  # DATA number -> answer; message not kept
    gone_at: int | None = None
    delay: float = 0.0  # seconds to wait after keeping a message, before answering 250
    received: list[Received] = field(default_factory=list)
    peers: set[tuple] = field(default_factory=set)  # every connection that got as far as RCPT
    rcpt_calls: int = 0
    data_calls: int = 0
    on_gone: object = None  # set by Server: stops the controller from another thread
    gone: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_calls += 1
        self.peers.add(tuple(session.peer))
        if self.gone:
            server.transport.abort()
            return "421 4.3.2 gone"
        if address.startswith("unknown"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address in self.refuse:
            return self.refuse[address]
        if address in self.transient:
            return f"451 4.3.0 <{address}>: Temporary lookup failure, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        number = self.data_calls
        if self.gone or number == self.gone_at:
            self.gone = True
            server.transport.abort()
            if number == self.gone_at and self.on_gone is not None:
                threading.Thread(target=self.on_gone).start()
            return "421 4.3.2 gone"
        if number in self.drop_at:
            server.transport.abort()
            return "421 4.4.2 connection dropped"
        if number in self.answer_at:
            return self.answer_at[number]
        with self.lock:
            self.received.append(Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.content,
                peer=tuple(session.peer),
                tls=server.transport.get_extra_info("ssl_object") is not None,
                login=session.auth_data if session.authenticated else None,
            ))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK"

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def by_message_id(self) -> dict[str, Received]:
        return {r.message_id: r for r in self.snapshot()}


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)


class Server:
    """One aiosmtpd Controller on 127.0.0.1; `stop` may be called more than once."""

    def __init__(self, handler: Recorder, port: int | None = None, **smtp_kwargs) -> None:
        self.handler = handler
        self.port = port or free_port()
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port, **smtp_kwargs)
        self._stop_lock = threading.Lock()
        self.running = False
        self.stopped = threading.Event()
        handler.on_gone = self.stop

    def start(self) -> Server:
        self.controller.start()
        self.running = True
        return self

    def stop(self) -> None:
        with self._stop_lock:
            if self.running:
                self.running = False
                self.controller.stop()
                self.stopped.set()


@dataclass(frozen=True)
class Certificates:
    """A private CA and a certificate for 127.0.0.1 signed by it."""

    ca_file: Path
    server_context: ssl.SSLContext


def make_certificates(folder: Path) -> Certificates:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = folder / "county-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Certificates(ca_file, context)


def starttls_auth_kwargs(certs: Certificates) -> dict:
    """STARTTLS required before anything else, and AUTH offered only over TLS."""
    return dict(tls_context=certs.server_context, require_starttls=True, authenticator=check_login,
                auth_require_tls=True)


def implicit_tls_kwargs(certs: Certificates) -> dict:
    """TLS from the first byte (port 465 style); AUTH must not require STARTTLS here (DESIGN §5)."""
    return dict(ssl_context=certs.server_context, authenticator=check_login, auth_require_tls=False)
