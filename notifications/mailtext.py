"""Text out of real-world mail: charsets as clients send them, HTML bodies, and the reviewer's own words.

Chinese clients label GBK text as gb2312, send GBK under us-ascii or utf-8 labels, or send no label at
all; every decode here falls back through UTF-8 and GB18030 (a superset of GB2312 and GBK). `own_words`
cuts a reply down to what its sender wrote: quoted originals (QQ Mail/Foxmail, 163/126, Outlook zh/en,
Gmail, Apple Mail, Coremail, 企业微信, 钉钉), signatures, "sent from my phone" lines and disclaimers.
"""

from __future__ import annotations

import re
import unicodedata
from email.header import Header, decode_header
from email.message import Message

from bs4 import BeautifulSoup

GB_LABELS = {"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "euc-cn", "gb_2312-80", "csgb2312", "x-gb2312"}
LATIN_LABELS = {"us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252"}


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode what a client sent, trusting its label only when the bytes agree with it."""
    label = (charset or "").strip().strip('"').lower()
    if label in GB_LABELS:
        candidates = ["gb18030", "utf-8"]
    elif label in LATIN_LABELS or not label:
        candidates = ["ascii", "utf-8", "gb18030"]
    else:
        candidates = [label, "utf-8", "gb18030"]
    for encoding in candidates:
        try:
            return data.decode(encoding)
        except (UnicodeError, LookupError):  # wrong guess, unknown label, or not a text codec at all
            continue
    return data.decode("gb18030", errors="replace")


def header_text(value) -> str:
    """A header as text: RFC 2047 words decoded, raw 8-bit bytes read as UTF-8 or GB18030."""
    if value is None:
        return ""
    if isinstance(value, Header):  # compat32 hands raw 8-bit headers over as unknown-8bit Header objects
        parts = decode_header(value)
        return " ".join("".join(c if isinstance(c, str) else decode_bytes(c, cs) for c, cs in parts).split())
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):  # raw 8-bit header bytes
        text = decode_bytes(text.encode("ascii", "surrogateescape"), None)
    try:
        parts = decode_header(text)
    except Exception:  # a malformed encoded word: keep the header as it came
        return " ".join(text.split())
    decoded = "".join(chunk if isinstance(chunk, str) else decode_bytes(chunk, charset) for chunk, charset in parts)
    return " ".join(decoded.split())


def part_text(part: Message) -> str:
    payload = part.get_payload(decode=True) or b""
    return decode_bytes(payload, part.get_content_charset())


# Containers in which clients put the quoted original of an HTML reply.
QUOTE_SELECTORS = (
    "blockquote", "div.gmail_quote", "div.moz-cite-prefix", "div.yahoo_quoted", "#divRplyFwdMsg",
    "#isReplyContent", "#isForwardContent", "#original-content", "div.qmbox_quote", "#appendonsend",
)
BLOCKS = ("p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr", "pre")


def html_text(html: str) -> str:
    """The visible text of an HTML body with the quoted original removed and paragraphs kept as lines."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    for selector in QUOTE_SELECTORS:
        for tag in soup.select(selector):
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(BLOCKS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    return soup.get_text()


def clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").replace("\u3000", " ")
    return re.sub("[\u200b\u200c\u200d\ufeff]", "", text)


# Where a quoted original starts. Everything from such a line on is somebody else's text.
QUOTE_HEADERS = [re.compile(p, re.IGNORECASE) for p in (
    r"请在此行以上回复",  # our own prompt's marker, for clients we do not know
    r"^\s*-{2,}\s*(原始邮件|原始郵件|original( message)?|回复的原邮件|转发的邮件|forwarded message|邮件原文)\s*-{2,}",
    r"^\s*在.{0,120}写道\s*[:：]?\s*$",  # 163/126: 在 2026-12-20 09:13:02，"…" <…> 写道：
    r"^.{0,200}写道\s*[:：]\s*$",  # Gmail zh (… 于…写道：), Apple Mail zh (2026年12月21日 …，… 写道：)
    r"^\s*on\b.{0,300}\bwrote\s*:\s*$",  # Gmail, Apple Mail en
)]
OUTLOOK_FROM = re.compile(r"^\s*\*?\s*(发件人|寄件者|寄件人|from)\s*\*?\s*[:：]", re.IGNORECASE)
OUTLOOK_FIELDS = re.compile(r"^\s*\*?\s*(发送时间|发送日期|寄件日期|日期|时间|sent|date|收件人|收件者|to|主题|主旨|"
                            r"subject)\s*\*?\s*[:：]", re.IGNORECASE)

# Where the sender's own text ends: signature delimiters, phone/app footers, disclaimers.
SIGNATURE_DELIMITER = re.compile(r"^\s*(--|-{3,}|—{2,}|_{2,}|={3,}|\*{3,})\s*$")
APP_FOOTER = re.compile(
    r"^\s*(发自|来自|sent from|get outlook for|从.{0,12}发送|send from).{0,40}"
    r"(iphone|ipad|android|手机|邮箱|mail|客户端|企业微信|钉钉|网易|qq|outlook|华为|小米|荣耀|vivo|oppo|三星|huawei|wps|大师)",
    re.IGNORECASE,
)
DISCLAIMER = re.compile(
    r"免责声明|保密声明|保密提示|温馨提示|本邮箱为政务邮箱|电子政务邮件系统|(本|此)(封)?邮件(及其|和|与)?(任何)?附件|本邮件由.{0,30}发送|请勿直接回复|"
    r"confidentiality notice|disclaimer|this (e-?mail|message)( and any attachments?)? (is|are|may|contains?)",
    re.IGNORECASE,
)
CONTACT_LINE = re.compile(r"^\s*(电话|手机|座机|tel|mobile|phone|传真|fax|地址|address|邮编|网址|web)\s*[:：]",
                          re.IGNORECASE)
FIRM_LINE = re.compile(r"律师事务所|律所|law firm|\bllp\b", re.IGNORECASE)


def quote_start(lines: list[str]) -> int | None:
    """Index of the first line of a quoted original, or None."""
    for i, line in enumerate(lines):
        if any(p.search(line) for p in QUOTE_HEADERS):
            return i
        if line.strip().lower().startswith("on ") and i + 1 < len(lines) and \
                re.search(r"\bwrote\s*:\s*$", lines[i + 1], re.IGNORECASE):
            return i  # Gmail wraps a long "On …, … <…> wrote:" over two lines
        if OUTLOOK_FROM.match(line) and sum(bool(OUTLOOK_FIELDS.match(x)) for x in lines[i + 1:i + 7]) >= 2:
            return i
    return None


def signature_start(lines: list[str], has_decision_word) -> int | None:
    for i, line in enumerate(lines):
        if SIGNATURE_DELIMITER.match(line) or APP_FOOTER.match(line) or DISCLAIMER.search(line):
            return i
        if (CONTACT_LINE.match(line) or FIRM_LINE.search(line)) and not has_decision_word(line):
            return i
    return None


def own_words(text: str, has_decision_word=lambda line: False) -> str:
    """What the sender wrote themselves: no quoted original, signature, footer or disclaimer."""
    lines = clean(text).split("\n")
    cut = quote_start(lines)
    mine = lines[:cut] if cut is not None else lines  # nothing below a quote header is read: an empty
    mine = [x for x in mine if not x.lstrip().startswith(">")]  # top is unclear and is asked again
    end = signature_start(mine, has_decision_word)
    if end is not None:
        mine = mine[:end]
    result = "\n".join(x.rstrip() for x in mine).strip()
    return re.sub(r"\n{3,}", "\n\n", result)


def normalise(text: str) -> str:
    """Full-width to half-width, lower case: the form the decision grammar reads."""
    return unicodedata.normalize("NFKC", text).lower()
