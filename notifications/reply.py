"""One inbound message read as a reviewer's reply: who sent it, what it answers, what it decides.

`read_reply` needs no database: it is what `reportchain replies parse` shows and what the intake
matches against open rounds. It raises UnreadableMessage (and nothing else) for bytes that are not
a mail it can read; any other oddity — a wrong charset, a broken part — yields a reply whose
decision is "unclear", which moves nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from email.errors import InvalidHeaderDefect
from email.header import Header, decode_header
from email.headerregistry import HeaderRegistry
from email.message import Message

from notifications.decision import APPROVE, UNCLEAR, has_decision_word, read_decision, tokens
from notifications.mailtext import TEXT_LIMIT, OwnText, decode_bytes, header_text, html_text, own_text, part_text

SUBJECT_TAG = re.compile(r"\[#\s*(R-\d{4}-\d{3,})\s*\]", re.IGNORECASE)
REPLY_CODE = re.compile(r"(?<![A-Z0-9])[A-HJKMNP-Z2-9]{6}(?![A-Z0-9])")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")

AUTO_SUBJECT = re.compile(r"自动回复|自动答复|自动回覆|automatic reply|auto[- ]?reply|autoreply|out of (the )?office|"
                          r"不在办公室|休假通知|外出通知", re.IGNORECASE)
BOUNCE_SENDER = re.compile(r".*\b(mailer-daemon|postmaster)@", re.IGNORECASE)
AUTO_BODY = re.compile(r"这是一封自动回复|此邮件为自动回复|本邮件为自动回复|自动回复邮件|我目前不在办公室|"
                       r"i am (currently )?out of (the )?office|this is an automatic reply", re.IGNORECASE)


class UnreadableMessage(ValueError):
    """The bytes are not a mail that can be read at all (kept raw, reported to the coordinator)."""


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Reply:
    message_id: str | None
    from_address: str  # the From header's one addr-spec, lower case; "" when there is not exactly one
    from_name: str
    sender_problem: str | None  # why the sender cannot be known (several From headers or addresses, …)
    authentication: tuple[str, ...]  # the Authentication-Results headers, as they came
    subject: str
    subject_tag: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    auto_reply: bool
    text: str  # the whole readable body, quotes included (where tags and 审核码 are looked for)
    comment: str  # the sender's own words
    decision: str
    attachments: tuple[Attachment, ...]
    machine_sent: bool = False  # the headers or the subject say a machine sent it, whatever the body says
    under_header: bool = False  # the comment sits under somebody else's header: maybe the writer's, maybe not

    @property
    def thread_ids(self) -> list[str]:
        """The Message-IDs this message answers: In-Reply-To first, then References."""
        return [i for i in (self.in_reply_to, *self.references) if i]

    @property
    def reply_codes(self) -> list[str]:
        """Candidate 审核码 in the body (the quoted prompt carries the code)."""
        return list(dict.fromkeys(REPLY_CODE.findall(self.text.upper())))[:20]

    @property
    def tags(self) -> list[str]:
        """Report references: the subject's tag first, then any in the body."""
        found = [self.subject_tag] if self.subject_tag else []
        return list(dict.fromkeys(found + [t.upper() for t in SUBJECT_TAG.findall(self.text)]))

    def as_json(self) -> dict:
        return {
            "decision": self.decision,
            "comment": self.comment,
            "under_header": self.under_header,
            "auto_reply": self.auto_reply,
            "attachments": [a.name for a in self.attachments],
            "from": self.from_address,
            "sender_problem": self.sender_problem,
            "in_reply_to": self.in_reply_to,
            "subject_tag": self.subject_tag,
            "subject": self.subject,
            "message_id": self.message_id,
        }


AUTO_PRECEDENCE = ("auto_reply", "bulk", "junk")  # Precedence header values of machine-sent mail


def is_machine_sent(msg: Message, subject: str) -> bool:
    """RFC 3834 and the vendors' own headers, a delivery status notification, then the subject."""
    auto_submitted = header_text(msg.get("Auto-Submitted")).lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if any(msg.get(h) is not None for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-QQ-AutoReply")):
        return True
    if header_text(msg.get("Precedence") or msg.get("X-Precedence")).lower() in AUTO_PRECEDENCE:
        return True
    if msg.get_content_type() == "multipart/report" or BOUNCE_SENDER.match(header_text(msg.get("From"))):
        return True  # a delivery status notification
    return bool(AUTO_SUBJECT.search(subject))


def body_and_attachments(msg: Message) -> tuple[str, tuple[Attachment, ...]]:
    plain, html, attachments = [], [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = header_text(part.get_filename() or part.get_param("name") or "")
        disposition = (part.get_content_disposition() or "").lower()
        ctype = part.get_content_type()
        if name or disposition == "attachment":
            data = part.get_payload(decode=True) or b""
            attachments.append(Attachment(name or "附件", ctype, data))
        elif ctype == "text/plain":
            plain.append(part_text(part))
        elif ctype == "text/html":
            html.append(part_text(part))
    text = "\n".join(plain)
    if not text.strip():
        text = "\n".join(html_text(h) for h in html)
    return text, tuple(attachments)


_ADDRESSES = HeaderRegistry()


def raw_text(value) -> str:
    """A header as it came, raw 8-bit bytes (a GBK display name) read as text — never RFC 2047-decoded."""
    if isinstance(value, Header):  # compat32 wraps raw 8-bit headers
        return "".join(c if isinstance(c, str) else decode_bytes(c, None) for c, _ in decode_header(value))
    value = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return decode_bytes(value.encode("ascii", "surrogateescape"), None)
    return value


def sender(msg: Message) -> tuple[str, str, str | None]:
    """(display name, addr-spec, problem) of the From header, parsed by the standard library's RFC 5322
    parser on the header as it came — a display name is decoded only after the address is found, so
    neither `chen@x.cn <attacker@evil>` nor an encoded word that decodes to an address is the sender."""
    values = msg.get_all("From") or []
    if len(values) != 1:
        return "", "", f"{len(values)} From headers"
    raw = re.sub(r"\r?\n(?=[ \t])", "", raw_text(values[0]))  # unfolded
    try:
        header = _ADDRESSES("from", raw)
    except Exception as exc:  # the parser gives up on some garbage
        return "", "", f"unreadable From header: {type(exc).__name__}"
    # Encoded words in a quoted display name (QQ Mail writes them) cannot move the address; any other
    # invalid part can: "chen@x.cn <attacker@evil>" parses to the first address with such a defect.
    if any(isinstance(d, InvalidHeaderDefect) and "encoded" not in str(d) for d in header.defects):
        return "", "", f"invalid From header: {raw[:200]!r}"
    if len(header.addresses) != 1:
        return "", "", f"{len(header.addresses)} addresses in the From header"
    address = header.addresses[0]
    if not address.username or not address.domain:
        return "", "", f"no address in the From header: {raw[:200]!r}"
    # the name only greets the sender: read it as mailtext reads any header (GBK under a gb2312 label, …)
    name = header_text(raw[:raw.rfind("<")].strip().strip('"')) if address.display_name else ""
    return name, address.addr_spec.lower(), None


def decide(own: OwnText) -> str:
    """The decision of the writer's own text. Read as a whole (a correction at the end decides), but never an
    approval when a decision word sat where it could be quoted text, or when the pieces written between
    quoted blocks (inline posting) decide differently — one approving, another returning or doubtful."""
    if own.overlong or len(own.text) > TEXT_LIMIT:
        return UNCLEAR  # nobody decides in 20,000 characters; the grammar is not run on a megabyte
    if own.under_header:
        return UNCLEAR  # a forward's text, or an answer under its attribution: a person reads it
    decision = read_decision(own.text)
    if decision != APPROVE:
        return decision
    if own.doubtful:
        return UNCLEAR
    decided = [p for p in own.pieces if has_decision_word(p)]
    corrected = any(t.kind == "correction" for t in tokens(own.text))
    if len(decided) > 1 and not corrected and any(read_decision(p) != APPROVE for p in decided):
        return UNCLEAR
    return decision


def first_id(value: str) -> str | None:
    found = MESSAGE_ID.findall(value)
    return found[0] if found else None


def read_reply(raw: bytes, original: str | None = None) -> Reply:
    """The message read; `original`, the text of the prompt it answers when known, marks its lines quoted
    even where the client quoted them without "> " (the same as `reread` of the reply read without it)."""
    try:
        msg = message_from_bytes(raw, policy=policy.compat32)
        if not msg.keys() or msg.get("From") is None:
            raise UnreadableMessage("no header block with a From: line")
        subject = header_text(msg.get("Subject"))
        name, address, problem = sender(msg)
        text, attachments = body_and_attachments(msg)
        tag = SUBJECT_TAG.search(subject)
        return reread(Reply(
            message_id=first_id(header_text(msg.get("Message-ID"))),
            from_address=address,
            from_name=name.strip(),
            sender_problem=problem,
            authentication=tuple(str(v) for v in msg.get_all("Authentication-Results") or ()),
            subject=subject,
            subject_tag=tag.group(1).upper() if tag else None,
            in_reply_to=first_id(header_text(msg.get("In-Reply-To"))),
            references=tuple(MESSAGE_ID.findall(header_text(msg.get("References")))),
            auto_reply=False,
            text=text,
            comment="",
            decision=UNCLEAR,
            attachments=attachments,
            machine_sent=is_machine_sent(msg, subject),
        ), original)
    except UnreadableMessage:
        raise
    except Exception as exc:  # the email package gives up (deep nesting, broken structure, odd codecs)
        raise UnreadableMessage(f"{type(exc).__name__}: {exc}") from exc


def reread(reply: Reply, original: str | None) -> Reply:
    """The sender's own words, whether it is an auto-reply, and the decision, read from the reply's
    extracted text (no MIME parsing again); `original` as for `read_reply`."""
    own = own_text(reply.text, has_decision_word, original)
    auto = reply.machine_sent or bool(AUTO_BODY.search(own.text))
    return replace(reply, comment=own.text, auto_reply=auto, decision=UNCLEAR if auto else decide(own),
                   under_header=own.under_header)
