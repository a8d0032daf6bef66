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

# Where the writer's text ends: the "-- " delimiter, phone/app footers, disclaimers, a contact block, a sign-off.
SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
FOOTER_START = (
    r"^\W{0,3}(?:发自|来自|从.{0,12}发送|sent (?:from|with|via|using)|send from|(?:get|获取) ?outlook for|"
    r"envoyé (?:de|depuis|à partir de)|von meinem|gesendet von|verstuurd (?:vanaf|met)|enviado (?:desde|de|do)|"
    r"inviato da|wysłane z|skickat från|"
    r"sendt fra|lähetetty|отправлено с|надіслано з|via (?=\w+\s*$))")
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
                          r"^\[(?:image|cid|logo)\b|\b(?:inc|ltd|gmbh|llc|tel|fax|skype)\b", re.IGNORECASE)
# a line that is nothing but a contact: an address, a phone number (after a short label: "t. 555-…", "Bel mij
# +31 …"), a web address
CONTACT_ONLY = re.compile(r"^\s*(?:[\w.+-]+@[\w-]+(?:\.[\w-]+)+|"
                          r"(?:[^\W\d_][\w.]{0,9}(?:\s[^\W\d_]\w{0,9})?\s*[.:：]?\s+)?"
                          r"\+?\(?\d[\d\s().-]{6,}\d(?:\s*<[^<>\s]{1,40}>)?|"
                          r"(?:https?://|www\.)\S+)\s*$")
ID_LINE = re.compile(r"^[A-Z]{2,5}:?\s+(?=[A-Z\d .-]*\d)[A-Z\d][A-Z\d .-]{4,30}$")  # "KVK 50000000", "BTW NL0000000AA0"
# "Street 2, City, Zeeland, 4694EG, NL", "Beatrixlaan 2, 4694EG Scherpenisse"
POSTAL = re.compile(r"^[\w .'’-]*\d[\w .'’-]*(?:,[\w .'’-]+){2,}$|"
                    r"^[^\W\d_][\w.'’ -]{1,40}\s\d{1,5}[a-z]?,\s*[\w .'’-]{2,40}$")
LATIN_NAME = r"[*_]*[A-Z][\w.'’-]*(?:[*_,]*\s+[*_]*[A-Z][\w.'’-]*){0,3}[*_,]*"
HAN_TITLE = (r"[\u4e00-\u9fff（）()·]{1,18}"
             r"(?:律师|主任|科长|局长|处长|书记|经理|助理|局|办|院|所|委|部|厅|处|科|室|中心|公司)")
# a name or a title in a signature: "Karen The Green", "*Eigenaar*", "Chen Ming | Partner", 王建国, 青山县司法局
NAME_LINE = re.compile(rf"^{LATIN_NAME}(?:\s+[|·•]\s+{LATIN_NAME})*$|^[\u4e00-\u9fff·]{{2,4}}$|^{HAN_TITLE}$")
# a person's name as one signs: one to three capitalised words (particles between: "Maarten de Jong"), or a
# Chinese name (a surname and one or two characters, 小王 and 老李 too)
PARTICLES = {"van", "von", "de", "der", "den", "du", "da", "di", "dos", "das", "del", "la", "le", "ten", "ter", "bin"}
HAN_NAME = re.compile(
    r"^[小老]?(?:欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|"
    r"[王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
    r"崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛"
    r"樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁"
    r"冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米"
    r"柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝])[\u4e00-\u9fff]{1,2}$")
# A closing formula in the languages reviewers and clients write; thanks are not one ("Thanks,\nName" is kept:
# the writer thanks the reader, and several peers keep it as the reply).
VALEDICTION = re.compile(
    r"^\W{0,3}(?:(?:with |many |kind(?:est)? |warm(?:est)? |best |my best )?regards|best(?: wishes)?|all the best|"
    r"cheers|(?:yours )?(?:sincerely|truly|faithfully)|yours|cordially|respectfully|take care|br|kr|rgds|"
    r"(?:mit )?(?:freundlichen|besten|herzlichen|lieben|liebe|viele|beste|schöne) grü(?:ß|ss)en?|grü(?:ß|ss)e|"
    r"gru(?:ß|ss)|lg|vg|mfg|(?:met )?vriendelijke groet(?:en)?|(?:hartelijke )?groet(?:en|jes)?|mvg|"
    r"(?:med )?ven(?:n)?lig(?:st)? hilsen|(?:de )?bedste hilsner|(?:kærlig )?hilsen|kh|mvh|"
    r"(?:med )?vänliga hälsningar|hälsningar|ystävällisin terveisin|terveisin|"
    r"(?:bien )?cordialement|bien à vous|(?:sincères )?salutations(?: distinguées)?|amicalement|"
    r"(?:un )?saludos?(?: cordiales)?|atentamente|(?:cordiali |distinti )?saluti|atenciosamente|cumprimentos|"
    r"pozdrawiam|z pozdrowieniami|z powa[żz]aniem|с уважением|з повагою|"
    r"此致|敬礼|此致敬礼|顺祝(?:商祺|时祺|工作顺利|安好)?|顺颂(?:商祺|时祺)|祝(?:好|商祺|工作顺利|一切顺利)|敬上|谨上|敬具)"
    r"\s*(?P<mark>[^\w\s]{0,3})\s*$", re.IGNORECASE)
DATE_LINE = re.compile(r"^\d{4}\s*[年./-]\s*\d{1,2}\s*[月./-]\s*\d{1,2}\s*日?$")
# a tag every line of a signature block starts with ("#sig#John E. Doe"): read without it
LINE_TAG = re.compile(r"^([^\w\s*_>-])\w{1,8}\1")


@dataclass(frozen=True)
class OwnText:
    """The writer's text as pieces in reading order (several when they answer below or between quotes)."""

    pieces: tuple[str, ...]
    doubtful: tuple[str, ...]  # lines that touch a quoted line with no blank between: the writer's or a wrapped quote?
    overlong: bool = False  # too long to read to the end (see own_text): decides nothing
    # the text starts under somebody else's header (a forward, an attribution put above the answer): shown, as
    # it may well be the writer's, but it decides nothing, as it may as well be the original's
    under_header: bool = False

    @property
    def text(self) -> str:
        return "\n\n".join(self.pieces)


def _short(line: str) -> bool:
    return len(line) <= LONG_LINE


# What NFKC makes of full-width ASCII, the ideographic space and the ellipsis, the compatibility characters of
# Chinese text. Replaced first, they leave NFKC a text it passes on its quick check: one full-width comma
# otherwise makes it decompose and recompose the whole text, some 50 times slower.
COMPATIBLE = {**{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}, "\u3000": " ", "\u2026": "..."}
COMPATIBLE_CHAR = re.compile("[\uff01-\uff5e\u3000\u2026]")


def nfkc(text: str) -> str:
    """unicodedata.normalize("NFKC", text), faster on Chinese text."""
    if not unicodedata.is_normalized("NFKC", text):
        for char in set(COMPATIBLE_CHAR.findall(text)):
            text = text.replace(char, COMPATIBLE[char])
    return unicodedata.normalize("NFKC", text)


def _fold_space(text: str) -> str:
    return " ".join(nfkc(text).split())


@functools.lru_cache(maxsize=16)
def _known(original: str) -> tuple[str, frozenset[str]]:
    """The prompt we sent, folded as a whole and line by line (replies to one prompt share the work)."""
    folded = nfkc(original)  # line by line as a whole: NFKC never composes across a line break
    return " ".join(folded.split()), frozenset(" ".join(x.split()) for x in folded.split("\n")) - {""}


class _Kinds:
    """Each line's kind — blank, quote ("> " or a line of our prompt) or text — found when first asked, so that
    the structure is read only as far as the writer's text goes (a long original below a cut is never read)."""

    def __init__(self, lines: list[str], original: str | None):
        self.lines, self.kinds = lines, [None] * len(lines)
        self.known, self.known_lines = _known(original) if original else ("", frozenset())

    def __len__(self) -> int:
        return len(self.kinds)

    def __getitem__(self, i: int) -> str:
        kind = self.kinds[i]
        if kind is None:
            kind = self.kinds[i] = self._kind(self.lines[i])
        return kind

    def __setitem__(self, i: int, kind: str) -> None:
        self.kinds[i] = kind

    def _kind(self, line: str) -> str:
        if not line.strip():
            return "blank"
        if QUOTED.match(line):
            return "quote"
        if self.known:
            folded = _fold_space(line)
            if folded in self.known_lines or (len(folded) >= 10 and folded in self.known):
                return "quote"  # a line of the prompt we sent (or a wrapped piece of one), quoted without "> "
        return "text"

    def split(self, i: int, parts: tuple[str, str]) -> None:
        """Line i becomes two lines (still to be classified)."""
        self.lines[i:i + 1] = parts
        self.kinds[i:i + 1] = [None, None]


def _paragraph_top(lines: list[str], j: int, kinds) -> int:
    """First line of the paragraph (run of non-blank, unquoted lines) that ends at line j, at most 3 lines up."""
    i = j
    while i > 0 and i > j - 3 and kinds[i - 1] == "text":  # an attribution is at most three lines
        i -= 1
    return i


def _next_nonblank(kinds, j: int) -> int | None:
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


def attribution_at(lines: list[str], kinds, j: int, has_decision_word) -> int | None:
    """If line j ends an attribution of at most three lines, the attribution's first line."""
    if kinds[j] != "text" or not _short(lines[j]):
        return None
    top = max(_paragraph_top(lines, j, kinds), j - 2)
    if not any(_hinted(lines[k]) for k in range(top, j + 1)):
        return None  # no window here holds a date, an address or the verb
    nxt = _next_nonblank(kinds, j)
    followed_by_quote = nxt is not None and kinds[nxt] == "quote"
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


def header_block_at(lines: list[str], i: int) -> int:
    """How many lines a block of header fields (From:/发件人：/Von:/De : … with an address and a date) starting at
    line i spans; 0 when none starts there."""
    first = _field(lines[i])
    if not first:
        return 0
    fields = addresses = dates = continued = 0
    end = i
    for k in range(i, min(i + 12, len(lines))):
        m = _field(lines[k])
        if m:
            fields += 1
            continued = 0
            value = m.group("value")
            addresses += bool(ADDRESS.search(value))
            dates += bool(DATE.search(value)) and not ADDRESS.search(value)
        elif lines[k].strip() and continued == 0 and fields:
            continued = 1  # a wrapped value (a long subject, a list of recipients)
        else:
            break
        end = k + 1
    if (fields >= 2 and addresses and (dates or addresses >= 2)) or (fields >= 4 and dates):
        return end - i
    # a lone "From: name <addr>" line with the original right below it
    lone = (fields == 1 and len(first.group("label").split()) == 1 and bool(LONE_ADDRESS.match(first.group("value")))
            and any(x.strip() for x in lines[i + 1:i + 3]))
    return 1 if lone else 0


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
        return k < len(lines) and header_block_at(lines, k) > 0
    return False


SHARED_LINE = re.compile(r"^(?P<own>\S.{0,200}?)\s(?P<attribution>-*\s*(?:on|le|am|el|op|em|den|在)\s.*)$",
                         re.IGNORECASE)


def _shared(line: str) -> tuple[str, str] | None:
    """"Thanks! On Wed, … wrote:" — some clients put the attribution on the writer's last line: the two parts."""
    if not (_short(line) and _hinted(line) and WROTE.search(line)):
        return None
    m = SHARED_LINE.match(line)
    if m and _is_attribution(m.group("attribution"), True) and \
            (DATE.search(m.group("attribution")) or ADDRESS.search(m.group("attribution"))):
        return m.group("own"), m.group("attribution")
    return None


def _original_at(lines: list[str], kinds: _Kinds, i: int, has_decision_word) -> tuple[int, int, str] | None:
    """Whether somebody else's text starts at text line i: (first line, end, how) of its header — our prompt's
    first line, a header block, a separator or an attribution (which may open a few lines up, or wrap onto the
    next lines). `how`: "quote" when a "> " quote follows, "unmarked" when the original follows without "> "
    (everything below it is quoted), "cut" when it does and is known for an original wherever it stands (our
    prompt's first line; a lone "From:" line, which no message starts with but the one it quotes)."""
    if OUR_MARKER.search(lines[i]):
        return i, i + 1, "cut"
    block = header_block_at(lines, i)
    if block or separator_at(lines, i, has_decision_word):
        return i, i + max(block, 1), "cut" if block == 1 else "unmarked"
    start, end = attribution_at(lines, kinds, i, has_decision_word), i
    for j in (i + 1, i + 2):  # an attribution wrapped over the next lines ("… schreef\nName <addr>:")
        if j < len(lines) and kinds[j] == "text" and kinds[j - 1] == "text":
            longer = attribution_at(lines, kinds, j, has_decision_word)
            if longer is not None and longer <= i:
                start, end = longer, j
    if start is None:
        return None
    nxt = _next_nonblank(kinds, end)
    return start, end + 1, "unmarked" if nxt is None or not QUOTED.match(lines[nxt]) else "quote"


def _read_part(text: str) -> tuple[list[str], int]:
    """The lines read for structure (see own_text) and how many are left unread."""
    lines = clean(text).split("\n", LINE_LIMIT)
    if len(text) < READ_LIMIT and len(lines) <= LINE_LIMIT:
        return lines, 0
    budget, read = READ_LIMIT, 0
    while read < min(len(lines), LINE_LIMIT) and budget >= 0:
        budget -= 0 if QUOTED.match(lines[read]) else len(lines[read]) + 1
        read += 1
    return lines[:read], len(lines) - read


def _bare(line: str) -> str:
    """A signature line without its markup: "*KVK 50000000*" → "KVK 50000000"."""
    return line.replace("*", "").strip().strip("_").strip()


def _name_line(line: str, has_decision_word) -> bool:
    """A line that can be a name or a title (not a sentence, no decision word)."""
    return bool(NAME_LINE.match(line.strip())) and not has_decision_word(line)


def _person_name(line: str) -> bool:
    """A line that is nothing but a person's name (see HAN_NAME and PARTICLES)."""
    text = _bare(line)
    if HAN_NAME.match(text):
        return True
    words = text.split()
    names = [w for w in words[1:] if w not in PARTICLES]
    return (len(words) > 0 and len(names) <= 2 and words[0] not in PARTICLES
            and all(w[0].isupper() and all(c.isalpha() or c in ".'’-" for c in w) for w in [words[0], *names]))


def _contact(line: str) -> bool:
    text = _bare(line)
    return bool(CONTACT_LINE.match(text) or CONTACT_LIKE.search(text) or FIRM_LINE.search(text) or POSTAL.match(text)
                or ID_LINE.match(text))


def _title_or_contact(line: str, has_decision_word) -> bool:
    """A line under a name in a sign-off: a title, a unit, a contact, a date."""
    text = _bare(line)
    return (len(text) <= 60 and (_contact(text) or bool(NAME_LINE.match(text)) or bool(DATE_LINE.match(text)))
            and not has_decision_word(line))


def _sign_off_at(piece: list[str], i: int, rest: list[int], has_decision_word) -> bool:
    """Whether line i opens a sign-off that ends the piece: a valediction ("Regards," "Mvh," "此致 / 敬礼！"), the
    writer's name (or unit) below it, then a few title, contact or date lines. A blank line may stand between the
    valediction and the name after a comma or a mark, or under a Chinese formula (whose signature sits lower);
    "Best regards\n\nSome One" is a closing line and a line of its own. Never the writer's only words."""
    m = VALEDICTION.match(piece[i].strip())
    if not m or not any(x.strip() and not VALEDICTION.match(x.strip()) for x in piece[:i]):
        return False
    if rest and VALEDICTION.match(piece[rest[0]].strip()):  # 此致 / 敬礼！
        i, rest = rest[0], rest[1:]
        m = VALEDICTION.match(piece[i].strip())
    spaced = m.group("mark") or re.search("[\u4e00-\u9fff]", piece[i])
    if not 1 <= len(rest) <= 5 or (rest[0] != i + 1 and not spaced):
        return False
    name = piece[rest[0]]
    return ((_person_name(name) or bool(re.match(f"^{HAN_TITLE}$", _bare(name)))) and not has_decision_word(name)
            and all(_title_or_contact(piece[k], has_decision_word) for k in rest[1:]))


def _signature_cut(piece: list[str], has_decision_word) -> list[str]:
    """The piece less the signature, footer or disclaimer at its end (one of them: see own_text's step 3)."""
    nonblank = [k for k, x in enumerate(piece) if x.strip()]
    tag = LINE_TAG.match(piece[nonblank[-1]].strip()) if nonblank else None
    if tag:  # a block of lines that all carry the same tag at the end: read it without the tag
        k = nonblank[-1]
        while k > 0 and piece[k - 1].strip().startswith(tag.group()):
            k -= 1
        if k < nonblank[-1]:
            piece = piece[:k] + [x.strip().removeprefix(tag.group()) for x in piece[k:]]
    for n, i in enumerate(nonblank):
        line = piece[i]
        if len(line) <= 5 * LONG_LINE and DISCLAIMER.search(line):
            return piece[:i]  # a disclaimer may be one long paragraph
        if not _short(line):
            continue  # a signature line is short
        if SIGNATURE_DELIMITER.match(line):
            return piece[:i]
        if APP_FOOTER.match(line):
            named = (i > 0 and _person_name(piece[i - 1]) and not has_decision_word(piece[i - 1])
                     and (i < 2 or not piece[i - 2].strip()) and any(x.strip() for x in piece[:i - 1]))
            return piece[:i - 1] if named else piece[:i]  # "Stavros X\nvia mobile", "陈明\n发自我的iPhone"
        if len(nonblank) - n > 11:
            continue  # a signature block is a few lines at the end
        rest = nonblank[n + 1:]
        below = [piece[k] for k in rest]
        if RULE.match(line) and len(below) <= (10 if any(_contact(x) for x in below) else 6) \
                and all((len(x.strip()) <= 40 or _contact(x)) and not has_decision_word(x) for x in below):
            return piece[:i]  # a short block under a rule line; a rule inside the text is kept
        if _sign_off_at(piece, i, rest, has_decision_word):
            return piece[:i]
        if not rest and re.match(r"^-(?=\w)", line.strip()) and _person_name(line.strip()[1:]) \
                and i > 0 and not piece[i - 1].strip() and any(x.strip() for x in piece[:i]):
            return piece[:i]  # "-Abhishek Kona" under the text
        if (CONTACT_LINE.match(line) or FIRM_LINE.search(line) or (CONTACT_ONLY.match(_bare(line)) and rest)) \
                and not has_decision_word(line) and len(rest) <= 8 \
                and all(_contact(x) and not has_decision_word(x) for x in below):
            while i > 0 and i > len(piece) - 12 and _name_line(_bare(piece[i - 1]), has_decision_word):
                i -= 1  # the name (and title) right above the contact lines
            return piece[:i]  # a contact block at the end; an address line inside the text is kept
    return piece


def own_text(text: str, has_decision_word=lambda line: False, original: str | None = None) -> OwnText:
    """What the sender wrote themselves, in pieces: no quoted original, signature, footer or disclaimer.

    The structure is read up to READ_LIMIT characters of unquoted lines and LINE_LIMIT lines: every rule
    below looks at a few lines around each unquoted line, so the work stays linear and small whatever the
    size of the body. When the original starts within them the rest is its quote; when it does not, the
    reply is overlong and decides nothing. So is a reply whose lines ask the decision grammar (the costly
    part) about more than 2 × TEXT_LIMIT characters: it is then taken to hold a decision word everywhere.
    Lines are classified only as far as they are read: below the cut (a quoted original of any length) the
    reader does no work."""
    asked = [0]

    @functools.cache  # many rules ask about the same line
    def has_decision_word(line: str, grammar=has_decision_word) -> bool:
        asked[0] += len(line)
        return asked[0] > 2 * TEXT_LIMIT or grammar(line)

    lines, unread = _read_part(text)
    kinds = _Kinds(lines, original)
    # 1. where an unmarked original starts, everything below it is somebody else's — unless nothing of the
    # writer's stands above it: a forward, a message that starts with its own header, a client that puts the
    # attribution above the answer. Then the text below is read as text under somebody else's quote (step 2).
    cut, written, under_header, i = None, None, False, 0
    while i < len(lines):
        if kinds[i] != "text":
            i += 1
            continue
        shared = _shared(lines[i])
        if shared:
            kinds.split(i, shared)
            continue
        found = _original_at(lines, kinds, i, has_decision_word)
        if found is None:
            written = i if written is None else written
            i += 1
            continue
        start, end, how = found
        for k in range(start, end):
            kinds[k] = "quote"  # the attribution of a "> " block, or the header of an unmarked original below
        if how == "cut" or (how == "unmarked" and written is not None and written < start):
            cut = start
            break
        if written is not None and written >= start:
            written = None
        under_header = under_header or how == "unmarked"
        i = end
    unread, cut = (unread, len(lines)) if cut is None else (0, cut)
    known, known_lines = kinds.known, kinds.known_lines
    lines, kinds = lines[:cut], [kinds[k] for k in range(cut)]
    # 2. Text below or between "> " blocks (bottom and inline posting) is the writer's. It decides only when the
    # quotes it answers are our prompt: when the prompt's text is known, every quoted line above it is a line
    # of it (a whole line, or a piece of ten characters or more: clients wrap and cut, often our first line);
    # when it is not, our first line is quoted. Either way nothing may be quoted at depth two. Under anybody
    # else's quote a decision word could be the rest of that quote (163 quotes without "> ", and an original
    # may itself start with "> " lines), so a paragraph holding one is left out and the reading is unclear.
    # Text under a header with nothing of the writer's above it (step 1) is all shown — it is the answer more
    # often than not (Polymail, mobile clients) — and none of it decides (OwnText.under_header).
    # The same holds for a paragraph right under a "> " line with no blank between, which may be a wrapped
    # quoted line; one line between two quoted lines is taken for one.
    doubtful, marker, foreign, quoted_above, i = [], False, under_header, under_header, 0
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
            if touching or not under_header:
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
            piece = "\n".join(x.rstrip() for x in current[:len(kept)]).strip()
            if piece:
                pieces.append(re.sub(r"\n{3,}", "\n\n", piece))
            current = []
        else:
            current.append(line)
    return OwnText(tuple(pieces), tuple(doubtful), bool(unread) or asked[0] > 2 * TEXT_LIMIT, under_header)


def normalise(text: str) -> str:
    """Full-width to half-width, lower case: the form the decision grammar reads."""
    return nfkc(text).lower()
