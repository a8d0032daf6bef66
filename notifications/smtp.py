"""Delivery over SMTP with aiosmtplib: a few reused connections per batch, each message's outcome
reported the moment the server answers.

Connection problems and 4xx answers are transient (the outbox retries later with backoff); 5xx
answers are permanent (kept with the server's words, never retried). A refused login, TLS that
the server does not offer, or a certificate that does not verify stop the whole delivery with
DeliveryConfigError: nothing is marked, nothing is sent in plaintext.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from concurrent.futures import ThreadPoolExecutor

import aiosmtplib

from core.settings import SmtpSettings
from notifications.backends import SENT, DeliveryConfigError, Outcome, Record
from notifications.message import Envelope


def _answer(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


def outcome_of(exc: Exception) -> Outcome:
    """Classify a failure for one message; raise DeliveryConfigError for what no retry can fix."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        raise DeliveryConfigError(f"SMTP login refused: {_answer(exc)}") from exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        answers = "; ".join(f"{r.recipient}: {_answer(r)}" for r in exc.recipients)
        return Outcome(answers, permanent=all(r.code >= 500 for r in exc.recipients))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return Outcome(_answer(exc), permanent=exc.code >= 500)
    if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
        raise DeliveryConfigError(f"TLS failed: {exc}") from exc
    if isinstance(exc, aiosmtplib.SMTPException) and "STARTTLS" in str(exc).upper():
        raise DeliveryConfigError(f"the server does not offer STARTTLS: {exc}") from exc
    return Outcome(f"{type(exc).__name__}: {exc}".strip())


def partial_outcome(refused: dict) -> Outcome:
    """Accepted for some recipients: those who answered 4xx get the same message again later."""
    answers = "; ".join(f"{addr}: {r.code} {r.message}" for addr, r in refused.items())
    later = [addr for addr, r in refused.items() if r.code < 500]
    if later:
        return Outcome(answers, retry_recipients=tuple(later))
    return Outcome(note=answers)


def connection_lost(exc: Exception) -> bool:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return False  # the server answered; the connection is fine
    return not isinstance(exc, aiosmtplib.SMTPResponseException) or exc.code == 421


class SmtpBackend:
    def __init__(self, config: SmtpSettings) -> None:
        self.config = config

    def send(self, messages: list[Envelope], record: Record) -> None:
        """Blocking send; inside a running event loop (an async flow) it runs on a helper thread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.send_async(messages, record))
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, self.send_async(messages, record)).result()

    async def send_async(self, messages: list[Envelope], record: Record) -> None:
        workers = min(self.config.concurrency, len(messages))
        shares = [list(enumerate(messages))[i::workers] for i in range(workers)]
        await asyncio.gather(*(self._send_share(share, record) for share in shares))

    def client(self) -> aiosmtplib.SMTP:
        c = self.config
        context = ssl.create_default_context(cafile=c.ca_file) if c.security != "none" else None
        return aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            timeout=c.timeout,
            use_tls=c.security == "tls",
            start_tls=c.security == "starttls",  # True: required, never "if offered"
            tls_context=context,
            username=c.user or None,
            password=c.password or None,
        )

    async def _send_share(self, share: list[tuple[int, Envelope]], record: Record) -> None:
        client: aiosmtplib.SMTP | None = None
        try:
            for index, message in share:
                try:
                    if client is None or not client.is_connected:
                        client = self.client()
                        await client.connect()
                    refused, _ = await client.sendmail(message.sender, message.recipients, message.data)
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    outcome = outcome_of(exc)
                    if connection_lost(exc):
                        client.close()
                        client = None  # reconnect for the next message
                    record(index, outcome)
                    continue
                # outside the try: a failure to record an accepted mail is never taken for a failure to send it
                record(index, partial_outcome(refused) if refused else SENT)
        finally:
            if client is not None and client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
