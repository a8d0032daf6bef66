"""Replies as a reviewer's mail client writes them, built from the prompt reportchain actually sent:
QQ Mail style (own text on top, the prompt quoted under a 原始邮件 block), threaded by In-Reply-To
or carrying only the subject tag and the quoted 审核码."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlmodel import Session, select

from core.settings import Settings
from documents.reading import read_draft
from models.tables import OutboxMessage, Report, ReviewRound, Unit
from services.drafts import submit_draft
from services.stages import open_round_of
from tests.drafts import report_text

_counter = itertools.count(1)


def prompt_of(session: Session, rnd: ReviewRound) -> OutboxMessage:
    return session.exec(select(OutboxMessage).where(OutboxMessage.message_id == rnd.prompt_message_id)).one()


def reply_to(prompt: OutboxMessage, sender: str, text: str, *, thread: bool = True, charset: str = "utf-8",
             headers: dict[str, str] | None = None, attachments: tuple[tuple[str, bytes], ...] = (),
             subject: str | None = None, quote: str | None = None) -> bytes:
    """A reply to `prompt` from `sender` saying `text`, with the prompt quoted below as QQ Mail does."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "fzb@qingshan.example.gov.cn"
    msg["Subject"] = subject if subject is not None else "回复：" + prompt.subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(f"r{next(_counter)}", domain="qq.com")
    if thread:
        msg["In-Reply-To"] = prompt.message_id
        msg["References"] = prompt.message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    quoted = ("\n\n------------------ 原始邮件 ------------------\n"
              "发件人: \"青山县委依法治县办\"<fzb@qingshan.example.gov.cn>;\n"
              f"发送时间: 2026年12月20日(星期天) 上午9:13\n收件人: {prompt.to_addrs};\n主题: {prompt.subject}\n\n"
              f"{prompt.body_text if quote is None else quote}")
    msg.set_content(text + quoted, charset=charset)
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def drop(folder, raw: bytes, name: str | None = None) -> None:
    """Put one message in the inbox folder, as a mail client's export or a mail server's drop would."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (name or f"{next(_counter):04d}.eml")).write_bytes(raw)


def to_legal_review(session: Session, settings: Settings, report: Report,
                    text: str | None = None) -> ReviewRound:
    """Submit a draft for the report (its cycle open; by default a good report of its own unit) and return
    the legal advisor's open round."""
    text = text or report_text(session.get(Unit, report.unit_id).name)
    submit_draft(session, settings, report, read_draft("draft.md", text.encode()), "drafter@test")
    session.commit()
    return open_round_of(session, report)
