"""The IMAP test harness itself (tests/imap_server.py): a real Dovecot gives back what was appended,
byte for byte, UIDs and UIDVALIDITY behave as the mailbox reader will rely on, large messages survive,
and the cutting proxy really drops a connection mid-fetch while the next one goes through."""

from __future__ import annotations

import base64
import imaplib
import os
import socket

import pytest

from tests import imap_server
from tests.imap_server import CuttingProxy, Dovecot, require_dovecot

dovecot = imap_server.dovecot  # the fixture (an import would read as unused to ruff: F401/F811)


def message(subject: str, body_bytes: int = 200, seed: int = 0) -> bytes:
    """A CRLF message with Chinese headers and a base64 attachment of `body_bytes` random bytes."""
    payload = base64.encodebytes(os.urandom(body_bytes)).replace(b"\n", b"\r\n")
    return (
        b"From: =?utf-8?b?" + base64.b64encode("野鹤镇".encode()) + b"?= <zhangwei@yehe.qingshan.example.gov.cn>\r\n"
        b"To: reviews@qingshan.example.gov.cn\r\n"
        b"Subject: =?utf-8?b?" + base64.b64encode(subject.encode()) + b"?=\r\n"
        b"Message-ID: <" + f"{seed}.{os.urandom(4).hex()}".encode() + b"@yehe.qingshan.example.gov.cn>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "同意，请按意见修改后报送。\r\n".encode()
        + b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + payload + b"--b1--\r\n"
    )


def fetch_raw(client, uid: int, folder: str = "INBOX") -> bytes:
    client.select_folder(folder)
    return client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]


def test_appended_message_comes_back_byte_identical_and_peek_leaves_it_unseen(dovecot):
    raw = message("关于2026年法治政府建设年度报告的审核意见")
    uid = dovecot.append(raw)
    seen = dovecot.append(message("已读"), flags=[rb"\Seen"])
    with dovecot.client() as c:
        assert fetch_raw(c, uid) == raw
    assert dovecot.flags() == {uid: set(), seen: {rb"\Seen"}}


def test_uids_grow_and_folders_are_listed(dovecot):
    uids = [dovecot.append(message(f"第{i}份")) for i in range(3)]
    assert uids == sorted(uids) and len(set(uids)) == 3
    assert dovecot.uids() == uids
    dovecot.create_folder("Archive")
    assert dovecot.append(message("归档"), folder="Archive") == 1
    assert set(dovecot.folders()) == {"INBOX", "Archive"}


def test_recreating_a_folder_changes_its_uidvalidity_and_restarts_uids(dovecot):
    dovecot.create_folder("Reviews")
    first = dovecot.uidvalidity("Reviews")
    assert [dovecot.append(message(f"意见{i}"), folder="Reviews") for i in range(2)] == [1, 2]
    second = dovecot.recreate_folder("Reviews")
    third = dovecot.recreate_folder("Reviews")  # within the same second as well
    assert len({first, second, third}) == 3
    assert dovecot.uidvalidity("Reviews") == third
    assert dovecot.uids("Reviews") == []
    assert dovecot.append(message("重建后"), folder="Reviews") == 1


def test_a_20_mb_message_survives_append_and_fetch(dovecot):
    raw = message("大附件", body_bytes=15 * 1024 * 1024)
    assert len(raw) > 20_000_000
    uid = dovecot.append(raw)
    with dovecot.client() as c:
        c.select_folder("INBOX")
        assert c.fetch([uid], ["RFC822.SIZE"])[uid][b"RFC822.SIZE"] == len(raw)
        assert fetch_raw(c, uid) == raw


def test_the_proxy_cuts_the_first_connection_mid_fetch_and_lets_the_next_through(dovecot):
    raw = message("两兆", body_bytes=1_500_000)
    assert len(raw) > 2_000_000
    uid = dovecot.append(raw)
    with CuttingProxy(dovecot.port, after_bytes=1_000_000) as proxy:
        cut = dovecot.client(port=proxy.port)
        with pytest.raises((imaplib.IMAP4.abort, OSError)) as caught:
            fetch_raw(cut, uid)
        # The RST arrives while imaplib reads the literal: ConnectionResetError straight from the socket.
        assert caught.type is ConnectionResetError, repr(caught.value)
        cut.shutdown()
        assert (proxy.connections, proxy.cut) == (1, 1)

        with dovecot.client(port=proxy.port) as c:
            assert fetch_raw(c, uid) == raw
        assert (proxy.connections, proxy.cut) == (2, 1)


def test_a_plain_close_mid_fetch_is_an_imaplib_abort(dovecot):
    raw = message("两兆", body_bytes=1_500_000)
    uid = dovecot.append(raw)
    with CuttingProxy(dovecot.port, after_bytes=1_000_000, reset=False) as proxy:
        with pytest.raises(imaplib.IMAP4.abort, match="EOF"):
            fetch_raw(dovecot.client(port=proxy.port), uid)
        assert proxy.cut == 1


def test_a_dovecot_that_cannot_start_says_why():
    require_dovecot()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = Dovecot()
        server.port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="Address already in use"):
            server.start(timeout=3)
    assert server.dir is None and server.process is None
