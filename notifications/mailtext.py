"""Text out of real-world mail: charsets as clients send them, HTML bodies, and the reviewer's own words.

Chinese clients label GBK text as gb2312, send GBK under us-ascii or utf-8 labels, or send no label at
all; every decode here falls back through UTF-8 and GB18030 (a superset of GB2312 and GBK). `own_text`
cuts a reply down to what its sender wrote, by structure (see the section below): quoted originals of any
client, top, bottom or inline posting, signatures, "sent from my phone" lines and disclaimers.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
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


# ---------------------------------------------------------------- the writer's own text, by structure
#
# A reply is read line by line. Somebody else's text is what is *clearly* marked as quoted: "> " lines, an
# attribution ("On … wrote:", "在 … 写道：", "Am … schrieb", "2016/11/08 14:26、… のメッセージ:" — a date or an
# address, ending the writer's text), a block of header fields of any language (several "Field: value" lines,
# one of them an address and one a date), a separator line ("-----Original Message-----", "—— 以下为原邮件
# ——"), lines that repeat the prompt we sent. Everything else is the writer's, wherever it sits (top, bottom
# or between quoted blocks), less a signature or footer at the end of each piece. Lines too long to be a
# header are never matched against the header shapes, so every pattern here runs on short lines only.

LONG_LINE = 400  # no attribution, header field or separator is longer than this
TEXT_LIMIT = 20_000  # nobody decides in more of their own text than this
READ_LIMIT = 100_000  # characters of unquoted lines read for structure; the rest of a longer body is left unread
LINE_LIMIT = 20_000  # and lines (a long thread quoted in full has a few thousand)
QUOTED = re.compile(r"^\s*>")
ADDRESS = re.compile(r"@[\w-]+\.[\w.-]*\w|mailto:|<[^<>\s@]{0,80}@")
DATE = re.compile(
    r"(?<!\d)(?:19|20)\d\d(?!\d)|(?<!\d)\d{1,2}\s?[:.]\s?\d{2}(?!\d)|(?<!\d)\d{1,2}\s?[/.-]\s?\d{1,2}\s?[/.-]|"
    r"\d{1,2}\s*[月日]|(?<![a-z])(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?!\d)",
    re.IGNORECASE)
VERB = (  # the verb an attribution ends with, in the languages mail clients speak
    r"(?:wrote|writes|sent|schrieb|schreef|geschreven|écrit|ecrit|skrev|napisał(?:\(a\)|a)?|pisze|escribió|escribio|"
    r"escreveu|scritto|escrit|kirjoitti|írta|viết|написал[аи]?|написав|пише|yazdı|写道|寫道|作成|メッセージ|작성)")
WROTE = re.compile(
    VERB + r"(?P<named>(?:\s+[^\s:：]{1,30}){0,3}\s*[:：])?\s*$", re.IGNORECASE)  # "… schrieb Test user:"
SEPARATOR = re.compile(r"^\W{0,3}[-_=—–~]{2,}\s*(?P<words>[^-_=—–~]{0,60}?)\s*[-_=—–~]{2,}\W{0,3}$")
RULE = re.compile(r"^\s*(?:-{2,}|_{2,}|={3,}|\*{3,}|—{2,}|–{2,}|~{3,})\s*$")
FIELD = re.compile(r"^\s*[*_]{0,2}\s*(?P<label>[^\W\d_][^:：<>@\[\]()]{0,24}?)\s*[*_]{0,2}\s*[:：]\s*(?P<value>.*)$")
LONE_ADDRESS = re.compile(r"^[^<>\[\]]{0,80}?[<\[(]?(?:mailto:)?[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+[>\])]?\s*$")
OUR_MARKER = re.compile(r"请在此行以上回复")  # our own prompt's first line

# Where the writer's text ends: the "-- " delimiter, phone/app footers, disclaimers, a contact block.
SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
FOOTER_START = (
    r"^\W{0,3}(?:发自|来自|从.{0,12}发送|sent (?:from|with|via|using)|send from|(?:get|获取) ?outlook for|"
    r"envoyé (?:de|depuis|à partir de)|von meinem|gesendet von|verstuurd (?:vanaf|met)|enviado (?:desde|de|do)|"
    r"inviato da|wysłane z|skickat från|"
    r"sendt fra|lähetetty|отправлено с|надіслано з)")
APP_FOOTER = re.compile(
    FOOTER_START + r"(?:[^,，;；]{0,60}(?:iphone|ipad|android|mobile|phone|手机|邮箱|mail|客户端|企业微信|钉钉|网易|qq|"
    r"outlook|华为|小米|荣耀|vivo|oppo|三星|samsung|galaxy|huawei|blackberry|wps|大师|ios|tablet|handy|telefoon|móvil|smartphone|移动)|"
    r"\s*(?:my|mon|ma|meinem|mijn|mi|mio|moim|min|mitt|мого|我的)\s[^,，;；.。]{1,30}$|\s+\w+\s*(?:<[^<>\s]{1,200}>)?\s*$)",
    re.IGNORECASE,
)
DISCLAIMER = re.compile(
    r"免责声明|保密声明|保密提示|温馨提示|本邮箱为政务邮箱|电子政务邮件系统|(本|此)(封)?邮件(及其|和|与)?(任何)?附件|本邮件由.{0,30}发送|请勿直接回复|"
    r"confidentiality notice|disclaimer|this (e-?mail|message)( and any attachments?)? (is|are|may|contains?)",
    re.IGNORECASE,
)
CONTACT_LINE = re.compile(r"^\s*(电话|手机|座机|tel|mobile|phone|传真|fax|地址|address|邮编|网址|web|邮箱|e-?mail|qq|"
                          r"微信)\s*[:：]", re.IGNORECASE)
FIRM_LINE = re.compile(r"律师事务所|律所|law firm|\bllp\b", re.IGNORECASE)
CONTACT_LIKE = re.compile(r"@|https?://|www\.|\+?\d[\d\s()-]{6,}\d|律师|主任|科长|书记|办公室|事务所|有限公司|"
                          r"\b(?:inc|ltd|gmbh|llc|tel|fax)\b", re.IGNORECASE)
CONTACT_ONLY = re.compile(r"^\s*(?:[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+?\(?\d[\d\s().-]{6,}\d|(?:https?://|www\.)\S+)\s*$")
POSTAL = re.compile(r"^[\w .'’-]*\d[\w .'’-]*(?:,[\w .'’-]+){2,}$")  # "Street 2, City, Zeeland, 4694EG, NL"
# a name or a title above a contact block: "Karen The Green", "*Eigenaar*", 王建国, 青山县司法局
NAME_LINE = re.compile(
    r"^[*_]*[A-Z][\w.'’-]*(?:[*_,]*\s+[*_]*[A-Z][\w.'’-]*){0,3}[*_,]*$|^[\u4e00-\u9fff·]{2,4}$|"
    r"^[\u4e00-\u9fff（）()·]{1,18}(?:律师|主任|科长|局长|处长|书记|经理|助理|局|办|院|所|委|部|厅|处|科|室|中心|公司)$")


@dataclass(frozen=True)
class OwnText:
    """The writer's text as pieces in reading order (several when they answer below or between quotes)."""

    pieces: tuple[str, ...]
    doubtful: tuple[str, ...]  # lines that touch a quoted line with no blank between: the writer's or a wrapped quote?
    overlong: bool = False  # too long to read to the end (see own_text): decides nothing

    @property
    def text(self) -> str:
        return "\n\n".join(self.pieces)


def _short(line: str) -> bool:
    return len(line) <= LONG_LINE


def _fold_space(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _paragraph_top(lines: list[str], j: int, kinds: list[str]) -> int:
    """First line of the paragraph (run of non-blank, unquoted lines) that ends at line j, at most 3 lines up."""
    i = j
    while i > 0 and i > j - 3 and kinds[i - 1] == "text":  # an attribution is at most three lines
        i -= 1
    return i


def _next_nonblank(kinds: list[str], j: int) -> int | None:
    for k in range(j + 1, len(kinds)):
        if kinds[k] != "blank":
            return k
    return None


ATTRIBUTION_HINT = re.compile(r"\d|@|mailto:|" + VERB, re.IGNORECASE)  # a date, an address or the verb


@functools.lru_cache(maxsize=4096)
def _hinted(line: str) -> bool:
    """Whether the line holds what every attribution holds somewhere: a digit, an address or the verb."""
    return bool(ATTRIBUTION_HINT.search(line))


def _is_attribution(text: str, followed_by_quote: bool) -> bool:
    text = text.strip().strip("-—*_ ").strip()
    if not text or len(text) > LONG_LINE:
        return False
    dated, addressed = bool(DATE.search(text)), bool(ADDRESS.search(text))
    wrote = WROTE.search(text)
    if wrote and (wrote.group("named") or "").strip(" :："):
        return dated and (addressed or followed_by_quote or len(text) <= 120)
    if wrote:
        return dated or addressed or followed_by_quote
    if text.endswith((":", "：")):
        return addressed or (dated and followed_by_quote)
    return dated and addressed and followed_by_quote  # "2013/11/1 John Smith <john@smith.org>"


def attribution_at(lines: list[str], kinds: list[str], j: int, has_decision_word) -> int | None:
    """If line j ends an attribution of at most three lines, the attribution's first line."""
    if kinds[j] != "text" or not _short(lines[j]):
        return None
    nxt = _next_nonblank(kinds, j)
    followed_by_quote = nxt is not None and kinds[nxt] == "quote"
    top = max(_paragraph_top(lines, j, kinds), j - 2)
    if not any(_hinted(lines[k]) for k in range(top, j + 1)):
        return None  # no window here holds a date, an address or the verb
    found = [start for start in range(top, j + 1)
             if _is_attribution(" ".join(x.strip() for x in lines[start:j + 1]), followed_by_quote)]
    # the largest window whose first line opens an attribution (a date, an address, "On …"); a line above it
    # without one ("Hi,", "同意") is the writer's
    opening = [s for s in found if s == j or ((DATE.search(lines[s]) or ADDRESS.search(lines[s]))
                                              and not has_decision_word(lines[s]))]
    return opening[0] if opening else None


def _field(line: str) -> re.Match | None:
    if not _short(line):
        return None
    m = FIELD.match(line)
    if m and len(m.group("label").split()) <= 3:
        return m
    return None


def header_block_at(lines: list[str], i: int) -> bool:
    """Whether a block of header fields (From:/发件人：/Von:/De : … with an address and a date) starts at line i."""
    if not _field(lines[i]):
        return False
    fields = addresses = dates = 0
    continued = 0
    for line in lines[i:i + 12]:
        m = _field(line)
        if m:
            fields += 1
            continued = 0
            value = m.group("value")
            addresses += bool(ADDRESS.search(value))
            dates += bool(DATE.search(value)) and not ADDRESS.search(value)
        elif line.strip() and continued == 0 and fields:
            continued = 1  # a wrapped value (a long subject, a list of recipients)
        else:
            break
    if (fields >= 2 and addresses and (dates or addresses >= 2)) or (fields >= 4 and dates):
        return True
    # a lone "From: name <addr>" line with the original right below it
    m = _field(lines[i])
    return (fields == 1 and len(m.group("label").split()) == 1 and bool(LONE_ADDRESS.match(m.group("value")))
            and any(x.strip() for x in lines[i + 1:i + 3]))


def separator_at(lines: list[str], i: int, has_decision_word) -> bool:
    """"-----Original Message-----", "—— 以下为原邮件 ——", a rule line right above a header block."""
    line = lines[i]
    if not _short(line):
        return False
    m = SEPARATOR.match(line)
    if m and re.search(r"[^\W\d_]", m.group("words")):  # words between the dashes, not a table rule "|---|---|"
        words = m.group("words")
        return len(words.split()) <= 6 and not DATE.search(words) and not has_decision_word(words)
    if RULE.match(line) or (m and not m.group("words").strip()):  # a bare rule: only right above a header block
        k = i + 1
        while k < len(lines) and not lines[k].strip():
            k += 1
        return k < len(lines) and header_block_at(lines, k)
    return False


SHARED_LINE = re.compile(r"^(?P<own>\S.{0,200}?)\s(?P<attribution>-*\s*(?:on|le|am|el|op|em|den|在)\s.*)$",
                         re.IGNORECASE)


def _split_shared(lines: list[str]) -> list[str]:
    """"Thanks! On Wed, … wrote:" — some clients put the attribution on the writer's last line."""
    result = []
    for line in lines:
        m = SHARED_LINE.match(line) if _short(line) and not QUOTED.match(line) and WROTE.search(line) else None
        if m and _is_attribution(m.group("attribution"), True) and \
                (DATE.search(m.group("attribution")) or ADDRESS.search(m.group("attribution"))):
            result.extend([m.group("own"), m.group("attribution")])
        else:
            result.append(line)
    return result


def _classify(lines: list[str], known: str, known_lines: set[str]) -> list[str]:
    kinds = []
    for line in lines:
        folded = _fold_space(line) if known and not QUOTED.match(line) else ""
        if not line.strip():
            kinds.append("blank")
        elif QUOTED.match(line):
            kinds.append("quote")
        elif folded and (folded in known_lines or len(folded) >= 10 and folded in known):
            kinds.append("quote")  # a line of the prompt we sent (or a wrapped piece of one), quoted without "> "
        else:
            kinds.append("text")
    return kinds


def _signature_cut(piece: list[str], has_decision_word) -> list[str]:
    below = [0] * (len(piece) + 1)  # non-blank lines below each line
    for i in range(len(piece) - 1, -1, -1):
        below[i] = below[i + 1] + bool(piece[i].strip())
    for i, line in enumerate(piece):
        if len(line) <= 5 * LONG_LINE and DISCLAIMER.search(line):
            return piece[:i]  # a disclaimer may be one long paragraph
        if not _short(line):
            continue  # a signature line is short
        if SIGNATURE_DELIMITER.match(line) or APP_FOOTER.match(line):
            return piece[:i]
        if below[i + 1] > 8:
            continue  # a signature block is a few lines at the end
        rest = [x for x in piece[i + 1:] if x.strip()]
        if RULE.match(line) and len(rest) <= 6 and all((len(x.strip()) <= 40 or CONTACT_LIKE.search(x))
                                                       and not has_decision_word(x) for x in rest):
            return piece[:i]  # a short block under a rule line; a rule inside the text is kept
        if (CONTACT_LINE.match(line) or FIRM_LINE.search(line) or (CONTACT_ONLY.match(line) and rest)) \
                and not has_decision_word(line) and len(rest) <= 8 \
                and all((CONTACT_LINE.match(x) or CONTACT_LIKE.search(x) or FIRM_LINE.search(x) or POSTAL.match(x))
                        and not has_decision_word(x) for x in rest):
            while i > 0 and i > len(piece) - 12 and _name_line(piece[i - 1], has_decision_word):
                i -= 1  # the name (and title) right above the contact lines
            return piece[:i]  # a contact block at the end; an address line inside the text is kept
    return piece


def _name_line(line: str, has_decision_word) -> bool:
    """A line that can be a name or a title (not a sentence, no decision word)."""
    return bool(NAME_LINE.match(line.strip())) and not has_decision_word(line)


def own_text(text: str, has_decision_word=lambda line: False, original: str | None = None) -> OwnText:
    """What the sender wrote themselves, in pieces: no quoted original, signature, footer or disclaimer.

    The structure is read up to READ_LIMIT characters of unquoted lines and LINE_LIMIT lines: every rule
    below looks at a few lines around each unquoted line, so the work stays linear and small whatever the
    size of the body. When the original starts within them the rest is its quote; when it does not, the
    reply is overlong and decides nothing. So is a reply whose lines ask the decision grammar (the costly
    part) about more than 2 × TEXT_LIMIT characters: it is then taken to hold a decision word everywhere."""
    asked = [0]

    @functools.cache  # many rules ask about the same line
    def has_decision_word(line: str, grammar=has_decision_word) -> bool:
        asked[0] += len(line)
        return asked[0] > 2 * TEXT_LIMIT or grammar(line)

    lines, budget, read = clean(text).split("\n", LINE_LIMIT), READ_LIMIT, 0
    while read < min(len(lines), LINE_LIMIT) and budget >= 0:
        budget -= 0 if QUOTED.match(lines[read]) else len(lines[read]) + 1
        read += 1
    unread = len(lines) - read
    lines = _split_shared(lines[:read])
    known = _fold_space(original) if original else ""
    known_lines = {_fold_space(x) for x in (original or "").split("\n")} - {""}
    kinds = _classify(lines, known, known_lines)
    # 1. where an unmarked original starts, everything below it is somebody else's
    cut = len(lines)
    for i, line in enumerate(lines):
        if kinds[i] != "text":
            continue
        if OUR_MARKER.search(line) or header_block_at(lines, i) or separator_at(lines, i, has_decision_word):
            cut = i
            break
        start, end = attribution_at(lines, kinds, i, has_decision_word), i
        for j in (i + 1, i + 2):  # an attribution wrapped over the next lines ("… schreef\nName <addr>:")
            if j < len(lines) and kinds[j] == "text" and kinds[j - 1] == "text":
                longer = attribution_at(lines, kinds, j, has_decision_word)
                if longer is not None and longer <= i:
                    start, end = longer, j
        if start is not None:
            nxt = _next_nonblank(kinds, end)
            for k in range(start, end + 1):
                kinds[k] = "quote"  # the attribution of a "> " block, or of an unmarked original below
            if nxt is None or not QUOTED.match(lines[nxt]):  # unmarked (lines of our prompt are, too)
                cut = start
                break
    unread = unread if cut == len(lines) else 0
    lines, kinds = lines[:cut], kinds[:cut]
    # 2. Text below or between "> " blocks (bottom and inline posting) is the writer's. It decides only when the
    # quotes it answers are our prompt: when the prompt's text is known, every quoted line above it is a line
    # of it (a whole line, or a piece of ten characters or more: clients wrap and cut, often our first line);
    # when it is not, our first line is quoted. Either way nothing may be quoted at depth two. Under anybody
    # else's quote a decision word could be the rest of that quote (163 quotes without "> ", and an original
    # may itself start with "> " lines), so a paragraph holding one is left out and the reading is unclear.
    # The same holds for a paragraph right under a "> " line with no blank between, which may be a wrapped
    # quoted line; one line between two quoted lines is taken for one.
    doubtful, marker, foreign, quoted_above, i = [], False, False, False, 0
    while i < len(lines):
        if kinds[i] != "text":
            if kinds[i] == "quote" and QUOTED.match(lines[i]):
                quoted_above = True
                if not foreign:
                    inner = _fold_space(lines[i].lstrip()[1:])
                    marker = marker or bool(OUR_MARKER.search(inner))
                    foreign = inner.startswith(">") or bool(  # a quote in a quote is never our prompt
                        known and inner and inner not in known_lines and not (len(inner) >= 10 and inner in known))
            i += 1
            continue
        ours = not foreign and bool(known or marker)
        end = i
        while end < len(lines) and kinds[end] == "text":
            end += 1
        touching = i > 0 and kinds[i - 1] == "quote" and QUOTED.match(lines[i - 1])
        if (touching or (quoted_above and not ours)) and any(has_decision_word(x) for x in lines[i:end]):
            doubtful.extend(lines[i:end])
            kinds[i:end] = ["doubt"] * (end - i)
        elif touching and end == i + 1 and end < len(lines) and kinds[end] == "quote":
            kinds[i] = "quote"
        i = end
    # 3. the pieces between quoted blocks, each less its signature
    pieces, current = [], []
    for line, kind in [*zip(lines, kinds, strict=True), ("", "quote")]:
        if kind in ("quote", "doubt"):
            kept = current
            for _ in range(3):  # a contact block above a disclaimer, a name above a phone footer
                shorter = _signature_cut(kept, has_decision_word)
                if len(shorter) == len(kept):
                    break
                kept = shorter
            cut_off = [x for x in current[len(kept):] if x.strip()]
            if any(has_decision_word(x) for x in cut_off):
                doubtful.extend(cut_off)  # text below a footer-like line that decides: the writer's, or not?
            piece = "\n".join(x.rstrip() for x in kept).strip()
            if piece:
                pieces.append(re.sub(r"\n{3,}", "\n\n", piece))
            current = []
        else:
            current.append(line)
    return OwnText(tuple(pieces), tuple(doubtful), bool(unread) or asked[0] > 2 * TEXT_LIMIT)


def normalise(text: str) -> str:
    """Full-width to half-width, lower case: the form the decision grammar reads."""
    return unicodedata.normalize("NFKC", text).lower()
