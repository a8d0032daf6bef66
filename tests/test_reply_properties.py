"""Properties of reading replies, checked with generated and mangled mail rather than hand-picked cases.

A false approval is the worst bug reportchain can have, so the properties are about what must never
happen: `read_reply` never fails with anything but UnreadableMessage; an approval always rests on an
approval word in the reviewer's own text; quoted text never decides; a negation is never read as an
approval; and the intake neither crashes nor loses a message, however broken the batch.

Seeds for mutation are the real-looking replies in tests/replies/. Hypothesis keeps no example database
here (database=None); a failure prints the falsifying example to replay with @example.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import assume, event, example, given
from hypothesis import strategies as st
from sqlmodel import Session, select

from core.settings import load_settings
from models.chain import DEFAULT_CHAIN
from models.db import get_engine, upgrade_database
from models.tables import InboundMessage, InboundOutcome, Report, Unit
from notifications.decision import CLAUSE_DOUBTS, UNCLEAR, has_decision_word, normalise, read_decision, tokens
from notifications.mailbox import FolderInbox
from notifications.mailtext import OwnText, nfkc
from notifications.reply import Reply, UnreadableMessage, decide, read_reply
from services.cycle import open_cycle
from services.replies import intake, message_id_of
from services.roster import import_roster
from tests.conftest import SAMPLE_ROSTER, report_of
from tests.properties import budget
from tests.replies_kit import drop, prompt_of, reply_to, to_legal_review

ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
CORPUS = sorted((Path(__file__).parent / "replies").glob("*.eml"))
SEEDS = [p.read_bytes() for p in CORPUS]


def read_or_unreadable(raw: bytes) -> Reply | None:
    """read_reply's contract: a Reply, or UnreadableMessage (None here). Anything else propagates."""
    try:
        return read_reply(raw)
    except UnreadableMessage:
        return None


# The grammar's approval words: "approve" (同意, 审核通过, approved …) and "weak" (OK, 可以 — an approval only
# when said alone). Either may carry an approval; nothing else may.
APPROVAL_KINDS = ("approve", "weak")


def approval_words(text: str) -> list[str]:
    return [t.text for t in tokens(text) if t.kind in APPROVAL_KINDS]


# ---------------------------------------------------------------- strategies: bytes and mangled mail

# Charset labels as broken clients write them: the usual ones, names Python does not know, and names of
# codecs Python knows that are no text charset at all (they raise UnicodeError, not UnicodeDecodeError).
LABELS = ["utf-8", "UTF-8", "gbk", "gb2312", "gb18030", "us-ascii", "iso-8859-1", "bogus", "x-unknown", "utf-9", "",
          "utf-16", "utf-7", "undefined", "punycode", "idna"]
CTES = ["base64", "quoted-printable", "8bit", "7bit", "binary", "x-uuencode", "bogus", "", "base-64"]
HEADER_NAMES = ["From", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type",
                "Content-Transfer-Encoding", "MIME-Version", "Auto-Submitted", "Precedence", "X-Autoreply",
                "Content-Disposition", "Date", "To"]
INTERESTING = [b"\r\n", b"\n\n", b"\n", b"--", b"=?", b"?=", b"=\n", b"\x00", b"\xff\xfe", b"\xe5\x90\x8c\xe6\x84\x8f",
               b"\xcd\xac\xd2\xe2", b"> ", b"Content-Type: multipart/mixed; boundary=\"x\"\n",
               b"Content-Transfer-Encoding: base64\n", b"=?utf-8?b?5ZCM5oSP?=", b"<", b">", b";", b"\""]


def header_block(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(headers, separator, rest) — the separator is the first blank line, if any."""
    match = re.search(rb"\r?\n\r?\n", raw)
    if match is None:
        return raw, b"", b""
    return raw[:match.start()], raw[match.start():match.end()], raw[match.end():]


header_values = st.one_of(
    st.sampled_from(["", "<x@y>", "同意", "auto-replied", "no", "auto_reply", "<a@b> <c@d>", "text/plain; charset=gbk",
                     "multipart/mixed; boundary=\"zz\"", "base64", "a@b.c", "<>"]).map(lambda s: s.encode()),
    st.builds(lambda cs, enc, payload: b"=?" + cs.encode() + b"?" + enc + b"?" + payload + b"?=",
              st.sampled_from(LABELS), st.sampled_from([b"b", b"q", b"B", b"Q", b"x"]),
              st.binary(max_size=12).map(lambda b: b.replace(b"?", b"").replace(b"\n", b""))),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")),
)


@st.composite
def mutated(draw, seeds: st.SearchStrategy[bytes] | None = None) -> bytes:
    """A seed message (by default one of the corpus replies) put through one to four mutations."""
    raw = draw(seeds if seeds is not None else st.sampled_from(SEEDS))
    for op in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4)):
        raw = op(draw, raw)
    return raw


def flip_byte(draw, raw: bytes) -> bytes:
    if not raw:
        return raw
    i = draw(st.integers(0, len(raw) - 1))
    return raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1:]


def insert_bytes(draw, raw: bytes) -> bytes:
    i = draw(st.integers(0, len(raw)))
    data = draw(st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=16)))
    return raw[:i] + data + raw[i:]


def delete_span(draw, raw: bytes) -> bytes:
    if not raw:
        return raw
    i = draw(st.integers(0, len(raw) - 1))
    return raw[:i] + raw[i + draw(st.integers(1, 64)):]


def truncate(draw, raw: bytes) -> bytes:
    return raw[:draw(st.integers(0, len(raw)))]


def duplicate_header(draw, raw: bytes) -> bytes:
    head, sep, rest = header_block(raw)
    lines = head.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    return b"\n".join(lines[:i + 1] + [lines[i]] + lines[i + 1:]) + sep + rest


def remove_header(draw, raw: bytes) -> bytes:
    head, sep, rest = header_block(raw)
    lines = head.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    return b"\n".join(lines[:i] + lines[i + 1:]) + sep + rest


def add_header(draw, raw: bytes) -> bytes:
    head, sep, rest = header_block(raw)
    lines = head.split(b"\n")
    i = draw(st.integers(0, len(lines)))
    line = draw(st.sampled_from(HEADER_NAMES)).encode() + b": " + draw(header_values)
    return b"\n".join(lines[:i] + [line] + lines[i:]) + sep + rest


def swap_charset(draw, raw: bytes) -> bytes:
    """Relabel one charset= parameter or one RFC 2047 encoded word (or all of them)."""
    pattern = draw(st.sampled_from([rb"(?i)(charset=)\"?[^\";\s]*\"?", rb"(=\?)[^?\s]*(?=\?[bBqQ]\?)"]))
    found = list(re.finditer(pattern, raw))
    if not found:
        return raw
    label = draw(st.sampled_from(LABELS)).encode()
    if draw(st.booleans()):
        return re.sub(pattern, lambda m: m.group(1) + label, raw)
    m = draw(st.sampled_from(found))
    return raw[:m.start()] + m.group(1) + label + raw[m.end():]


def swap_cte(draw, raw: bytes) -> bytes:
    pattern = rb"(?im)^(content-transfer-encoding:)[ \t]*[^\r\n]*"
    found = list(re.finditer(pattern, raw))
    if not found:
        return raw
    m = draw(st.sampled_from(found))
    return raw[:m.start()] + m.group(1) + b" " + draw(st.sampled_from(CTES)).encode() + raw[m.end():]


def break_base64(draw, raw: bytes) -> bytes:
    """Damage one base64 body line: a stray character, a lost one, or lost padding."""
    found = list(re.finditer(rb"(?m)^[A-Za-z0-9+/]{16,}={0,2}(?=\r?$)", raw))
    if not found:
        return raw
    m = draw(st.sampled_from(found))
    line = m.group()
    i = draw(st.integers(0, len(line) - 1))
    damaged = draw(st.sampled_from([
        line[:i] + draw(st.sampled_from([b"!", b"=", b"*", b"==", b" ", b"\xff", b"-"])) + line[i:],
        line[:i] + line[i + 1:],
        line.rstrip(b"="),
        line[:i],
    ]))
    return raw[:m.start()] + damaged + raw[m.end():]


MUTATIONS: list[Callable] = [flip_byte, insert_bytes, delete_span, truncate, duplicate_header, remove_header,
                             add_header, swap_charset, swap_cte, break_base64]

header_line = st.builds(lambda name, value: name + b": " + value + b"\n",
                        st.one_of(st.sampled_from(HEADER_NAMES).map(str.encode), st.binary(min_size=1, max_size=10)),
                        header_values)
arbitrary_bytes = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda lines, body: b"".join(lines) + b"\n" + body,
              st.lists(header_line, max_size=8).map(lambda ls: [b"From: a@b.c\n", *ls]), st.binary(max_size=500)),
)
any_input = st.one_of(mutated(), mutated(), arbitrary_bytes)  # mostly real replies: more of them decide


# ---------------------------------------------------------------- 1. read_reply's contract


@budget(500)
@given(arbitrary_bytes)
def test_read_reply_gives_a_reply_or_unreadable_for_arbitrary_bytes(raw):
    reply = read_or_unreadable(raw)
    assert reply is None or isinstance(reply, Reply)


@budget(1000)
@given(mutated())
def test_read_reply_gives_a_reply_or_unreadable_for_mangled_real_replies(raw):
    reply = read_or_unreadable(raw)
    assert reply is None or isinstance(reply, Reply)
    event("unreadable" if reply is None else f"decision: {reply.decision}")
    if reply is not None:
        assert reply.decision in ("approve", "return", UNCLEAR)


@budget(50)
@given(name=st.sampled_from(["Message-ID", "In-Reply-To", "References", "Auto-Submitted", "Precedence",
                             "X-Precedence"]),
       word=st.sampled_from(["=?undefined?q?x?=", "=?punycode?q?=00?=", "=?idna?q?xn--a-?="]),
       seed=st.sampled_from(SEEDS))
@example(name="Message-ID", word="=?undefined?q?x?=", seed=b"From: a@b.c\nSubject: x\n\nhi\n")
def test_a_header_encoded_word_in_a_non_text_codec_gives_reply_or_unreadable(name, word, seed):
    # Found by this file: these headers were read outside read_reply's guard and raised UnicodeError
    # (fixed in f46d5a3); kept as a regression test.
    head, sep, rest = header_block(seed)
    raw = f"{name}: {word}\n".encode() + head + sep + rest
    reply = read_or_unreadable(raw)
    assert reply is None or isinstance(reply, Reply)


# ---------------------------------------------------------------- 2. no approval without an approval word


@budget(800)
@given(any_input)
@example(SEEDS[0])
def test_an_approval_always_rests_on_an_approval_word_in_the_senders_own_text(raw):
    reply = read_or_unreadable(raw)
    assume(reply is not None)
    event(f"decision: {reply.decision}")
    if reply.decision == "approve":
        assert approval_words(reply.comment), reply.comment
    if reply.decision != UNCLEAR:
        assert reply.auto_reply is False


# ---------------------------------------------------------------- 3. quoted text never decides

OWN_VOCAB = ["收到", "好的", "我看一下", "稍后", "谢谢", "会议中", "明天", "第三部分", "数据", "已阅", "辛苦了",
             "在外地", "回头再说", "见附件", "陈明", "thanks", "later", "meeting", "tomorrow", "section", "data",
             "noted", "hi", "FYI", "call me", "。", "，", "！", "、", ".", "!", " ", "\n", "\n\n", "\u3000", "\xa0",
             "—", "…"]
QUOTED_APPROVALS = ["同意", "同意。", "审核通过", "审核通过。", "Approved.", "approved",
                    "原则同意，建议第二部分补充数据来源。", "无异议", "没问题", "OK"]
QUOTED_CONTEXT = ["陈律师：", "您好！野鹤镇2026年度法治政府建设年度报告（第1稿）已提交，请您进行法律顾问审核。",
                  "  同意 —— 回复“同意”，如有意见可一并写明（如“原则同意，建议……”）；",
                  "  退回 —— 回复“退回”，并写明需要修改的内容。", "审核码：K7QM2P", "青山县委依法治县办", "",
                  "##- 请在此行以上回复 -##"]
SUBJECT = "[#R-2026-003] 请审核：野鹤镇2026年度法治政府建设年度报告（第1稿，法律顾问审核）"
ME = "青山县委依法治县办 <fzb@qingshan.example.gov.cn>"


def quote_qq(lines: list[str]) -> str:
    return ("------------------ 原始邮件 ------------------\n"
            "发件人: \"青山县委依法治县办\"<fzb@qingshan.example.gov.cn>;\n"
            "发送时间: 2026年12月20日(星期天) 上午9:13\n收件人: \"陈律师\"<chen.lawyer@lvshi-a.example.cn>;\n"
            f"主题: {SUBJECT}\n\n" + "\n".join(lines))


def quote_163(lines: list[str], prefixed: bool) -> str:
    body = "\n".join((">" + x) if prefixed else x for x in lines)
    return f"在 2026-12-20 09:13:02，\"青山县委依法治县办\" <fzb@qingshan.example.gov.cn> 写道：\n{body}"


def quote_gmail(lines: list[str], wrapped: bool) -> str:
    attribution = "On Sun, Dec 20, 2026 at 9:13 AM 青山县委依法治县办 <" + ("\n" if wrapped else "")
    attribution += "fzb@qingshan.example.gov.cn> wrote:"
    return attribution + "\n\n" + "\n".join(("> " + x).rstrip() for x in lines)


def quote_outlook_en(lines: list[str]) -> str:
    return (f"-----Original Message-----\nFrom: {ME}\nSent: Sunday, December 20, 2026 9:13 AM\n"
            f"To: {ADVISOR}\nSubject: {SUBJECT}\n\n" + "\n".join(lines))


def quote_outlook_zh(lines: list[str], rule: str) -> str:
    return (f"{rule}发件人: {ME}\n发送时间: 2026年12月20日 9:13\n收件人: {ADVISOR}\n主题: {SUBJECT}\n\n"
            + "\n".join(lines))


@st.composite
def quoted_original(draw, lines: st.SearchStrategy[list[str]]) -> str:
    """Somebody else's mail saying 同意/审核通过/approved, quoted the way one of the clients quotes."""
    body = draw(lines)
    kind = draw(st.sampled_from(["qq", "163", "gmail", "outlook_en", "outlook_zh"]))
    event(f"quote format: {kind}")
    if kind == "qq":
        return quote_qq(body)
    if kind == "163":
        return quote_163(body, draw(st.booleans()))
    if kind == "gmail":
        return quote_gmail(body, draw(st.booleans()))
    if kind == "outlook_en":
        return quote_outlook_en(body)
    return quote_outlook_zh(body, draw(st.sampled_from(["", "-----原始邮件-----\n", "_" * 32 + "\n"])))


QUOTED_NEUTRAL_CONTEXT = [x for x in QUOTED_CONTEXT if not has_decision_word(x)]


@st.composite
def quoted_lines(draw, nested: bool = False) -> list[str]:
    """The quoted original's lines with an approval among them, sometimes with "> " lines of an older mail it
    quotes itself. `nested`: always those "> " lines, and no other line that decides anything (so that the
    approval alone is at stake)."""
    lines = draw(st.lists(st.sampled_from(QUOTED_NEUTRAL_CONTEXT if nested else QUOTED_CONTEXT), max_size=5))
    approvals = [x for x in QUOTED_APPROVALS if x != "OK"] if nested else QUOTED_APPROVALS
    lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(approvals)))
    if nested or draw(st.booleans()):
        older = draw(st.lists(st.sampled_from(["> 上一封邮件", "> 请审阅", ">", "> 谢谢"]), min_size=1, max_size=3))
        lines[draw(st.integers(0, len(lines))):0] = older
    return lines


# The formats that quote the original without a "> " prefix on each line.
UNPREFIXED_QUOTES: dict[str, Callable[[list[str]], str]] = {
    "qq": quote_qq,
    "163": lambda lines: quote_163(lines, prefixed=False),
    "outlook_en": quote_outlook_en,
    "outlook_zh": lambda lines: quote_outlook_zh(lines, ""),
    "outlook_zh_original": lambda lines: quote_outlook_zh(lines, "-----原始邮件-----\n"),
}
CHARSETS = st.sampled_from(["utf-8", "gbk", "gb18030"])
CTE_CHOICES = st.sampled_from(["base64", "quoted-printable", "8bit"])
own_text = st.lists(st.sampled_from(OWN_VOCAB), max_size=8).map("".join)


def encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def build_mail(text: str, charset: str, cte: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = ADVISOR
    msg["To"] = ME
    msg["Subject"] = "回复：" + SUBJECT
    msg["Message-ID"] = "<prop-reply@qq.com>"
    msg["In-Reply-To"] = "<rc.0f3a9c1e5b7d4a2c8e6f1a3b5c7d9e0f@qingshan.example.gov.cn>"
    msg.set_content(text, charset=charset, cte=cte)
    return msg.as_bytes()


@budget(600)
@given(own=own_text, quote=quoted_original(quoted_lines()), gap=st.sampled_from(["\n", "\n\n", "\n\n\n"]),
       charset=CHARSETS, cte=CTE_CHOICES)
def test_an_approval_in_the_quoted_original_never_decides(own, quote, gap, charset, cte):
    assume(not has_decision_word(own))
    assume(encodable(own + quote, charset))
    reply = read_reply(build_mail(own + gap + quote, charset, cte))
    assert reply.decision != "approve", reply.comment
    if has_decision_word(reply.comment):  # only a mail that starts with the header shows what is under it, flagged
        assert reply.under_header and reply.decision == UNCLEAR and not own.strip(), reply.comment


@budget(100)
@given(own=st.lists(st.sampled_from(["", " ", "\n", "\u3000", "\u200b"]), max_size=4).map("".join),
       lines=quoted_lines(nested=True), fmt=st.sampled_from(sorted(UNPREFIXED_QUOTES)), charset=CHARSETS,
       cte=CTE_CHOICES)
@example(own="", lines=["> 上一封邮件", "同意"], fmt="qq", charset="utf-8", cte="base64")
def test_an_empty_reply_over_a_quoted_approval_with_older_nested_quotes_is_not_an_approval(
        own, lines, fmt, charset, cte):
    # The quoted original is itself a reply that quotes an older mail with "> " lines (a forwarded thread, a
    # colleague's Gmail answer); only the reviewer's own text, which is empty here, may decide. Found by this
    # file: the reader took such a reply for bottom-posting and read the quoted 同意 (fixed in f46d5a3).
    assume(encodable(own + UNPREFIXED_QUOTES[fmt](lines), charset))
    reply = read_reply(build_mail(own + "\n\n" + UNPREFIXED_QUOTES[fmt](lines), charset, cte))
    assert reply.decision != "approve", reply.comment


def quote_outlook_zh_tw(lines: list[str]) -> str:
    """Outlook in Traditional Chinese (Taiwan, Hong Kong): the text/plain part of an HTML reply, as corpus 07
    shows it for English Outlook (no rule line, no "-----原始郵件-----")."""
    return (f"寄件者: {ME}\n寄件日期: 2026年12月20日 上午 09:13\n收件者: {ADVISOR}\n主旨: {SUBJECT}\n\n"
            + "\n".join(lines))


@budget(50)
@given(own=own_text, lines=quoted_lines(nested=True), charset=st.sampled_from(["utf-8", "gb18030"]), cte=CTE_CHOICES)
@example(own="收到", lines=["同意"], charset="utf-8", cte="base64")
def test_an_approval_quoted_under_a_traditional_chinese_outlook_header_never_decides(own, lines, charset, cte):
    assume(not has_decision_word(own))
    reply = read_reply(build_mail(own + "\n\n" + quote_outlook_zh_tw(lines), charset, cte))
    assert reply.decision != "approve", reply.comment


# ---------------------------------------------------------------- 3b. top, bottom or inline: only the writer decides

# The writer's own words: every phrase of the security table (approvals, returns, conditions, questions …) and
# a few plain remarks; the table's expectation is what the grammar reads for each.
PHRASES = [p["text"] for p in yaml.safe_load((Path(__file__).parent / "security" / "decision_phrases.yaml")
                                              .read_text(encoding="utf-8")) if "\n" not in p["text"]]
REMARKS = ["收到。", "第三部分的数据请再核实一下。", "辛苦了！", "Thanks for sending this.", "见附件批注。", "陈明"]
SIGNATURES = ["", "\n\n-- \n陈明\n北京某某律师事务所", "\n\n发自我的iPhone", "\n\nSent from my iPhone",
              "\n\n来自企业微信", "\n\n陈明\n电话：0731-88881234\n地址：青山县人民路1号", "\n\n获取 Outlook for iOS",
              "\n\n发自网易邮箱大师", "\n\nBest regards,\nChen Ming\nPartner",
              "\n\n此致\n敬礼！\n\n陈明\n2026年12月20日", "\n\n顺祝商祺！\n王建国\n青山县司法局", "\n\n-Chen Ming",
              "\n\n陈明\n发自我的iPhone",
              "\n\nChen Ming | Partner\nM. +86 138 0000 1234\n[image: Lvshi A logo]\nRenmin Road 1, Changsha",
              "\n\n#sig#Chen Ming\n#sig#chen.lawyer@lvshi-a.example.cn\n#sig#www.lvshi-a.example.cn"]
PROMPT_TEXT = ("##- 请在此行以上回复 -##\n\n陈律师：\n\n"
               "您好！野鹤镇2026年度法治政府建设年度报告（第1稿）已提交，请您进行法律顾问审核。报告全文见附件。\n\n"
               "请于 2026年12月31日 前直接回复本邮件：\n"
               "  同意 —— 回复“同意”，如有意见可一并写明（如“原则同意，建议……”）；\n"
               "  退回 —— 回复“退回”，并写明需要修改的内容。\n\n审核码：K7QM2P\n"
               "（回复时请保留邮件标题中的 [#R-2026-003]。审核码仅对本轮审核有效。）\n\n青山县委依法治县办\n")
PROMPT_LINES = PROMPT_TEXT.rstrip("\n").split("\n")
ATTRIBUTIONS = ["On Sun, Dec 20, 2026 at 9:13 AM 青山县委依法治县办 <fzb@qingshan.example.gov.cn> wrote:",
                "在 2026/12/20 9:13, 青山县委依法治县办 写道:",
                "2026年12月20日 09:13，青山县委依法治县办 <fzb@qingshan.example.gov.cn> 写道：",
                "青山县委依法治县办 <fzb@qingshan.example.gov.cn> 于2026年12月20日周日 09:13写道："]
writer_text = st.lists(st.sampled_from(PHRASES + REMARKS), min_size=1, max_size=2).map("\n".join)


@st.composite
def prompt_quote(draw, foreign: bool) -> list[str]:
    """Our prompt's lines as a client quotes them: sometimes without our first line, sometimes (foreign) with
    somebody else's approval among them or quoted again at depth two."""
    lines = PROMPT_LINES[draw(st.sampled_from([0, 2])):]
    if foreign:
        approval = draw(st.sampled_from(QUOTED_APPROVALS + ["> 同意", "> Approved.", "王科长：同意，请上报。"]))
        lines = [*lines]
        lines.insert(draw(st.integers(0, len(lines))), approval)
    return lines


def gt(lines: list[str]) -> str:
    return "\n".join(("> " + x).rstrip() for x in lines)


@st.composite
def arranged(draw, foreign: bool) -> tuple[str, list[str], str]:
    """(body, the writer's own pieces, arrangement): the writer's text and signature above a quoted original
    of any format, below a "> " quote of our prompt, or typed inline between two parts of it."""
    arrangement = draw(st.sampled_from(["top", "bottom", "inline"]))
    signature = draw(st.sampled_from(SIGNATURES))
    if arrangement == "top":
        own = draw(writer_text)
        quote = draw(quoted_original(st.just(draw(prompt_quote(foreign)))))
        return own + signature + draw(st.sampled_from(["\n\n", "\n\n\n"])) + quote + "\n", [own], arrangement
    lines = draw(prompt_quote(foreign))
    attribution = draw(st.sampled_from(ATTRIBUTIONS)) + "\n"
    if arrangement == "bottom":
        own = draw(writer_text)
        return attribution + gt(lines) + "\n\n" + own + signature + "\n", [own], arrangement
    cut = draw(st.integers(1, len(lines) - 1))
    first, second = draw(writer_text), draw(st.one_of(st.just(""), writer_text))
    body = attribution + gt(lines[:cut]) + "\n\n" + first + "\n\n" + gt(lines[cut:]) + "\n"
    if second:
        body += "\n" + second + signature + "\n"
    return body, [first, second] if second else [first], arrangement


@budget(200)
@given(case=arranged(foreign=True), charset=CHARSETS, cte=CTE_CHOICES, known=st.booleans())
def test_a_reply_arranged_any_way_is_never_an_approval_unless_the_writers_own_text_approves(case, charset, cte, known):
    body, pieces, arrangement = case
    assume(encodable(body, charset))
    event(f"arrangement: {arrangement}")
    reply = read_reply(build_mail(body, charset, cte), original=PROMPT_TEXT if known else None)
    event(f"decision: {reply.decision}")
    if reply.decision == "approve":
        assert read_decision("\n\n".join(pieces)) == "approve", (pieces, reply.comment)


@budget(150)
@given(case=arranged(foreign=False), charset=CHARSETS, cte=CTE_CHOICES)
def test_the_writers_own_text_survives_the_stripping_and_decides_as_written(case, charset, cte):
    # quoted lines are all our prompt's and the intake knows its text: what the writer wrote is the comment,
    # less the signature, and decides as the writer's pieces cut out by hand would (inline pieces that
    # disagree: unclear)
    body, pieces, arrangement = case
    assume(encodable(body, charset))
    event(f"arrangement: {arrangement}")
    reply = read_reply(build_mail(body, charset, cte), original=PROMPT_TEXT)
    for piece in pieces:
        for line in piece.split("\n"):
            assert " ".join(line.split()) in " ".join(reply.comment.split()), (line, reply.comment)
    assert "审核码" not in reply.comment and "请在此行以上回复" not in reply.comment
    assert reply.decision == decide(OwnText(tuple(pieces), ())), pieces  # as if the reader had cut it by hand


# Folding text (NFKC, which the grammar and the prompt's quoted lines are read in) takes a shortcut for Chinese
# text's compatibility characters: it must fold exactly as NFKC does, combining marks after them included.
FOLDED_CHARS = st.one_of(st.characters(),
                         st.sampled_from(list("，。！？（）：；～＋…\u3000ＡａＺ０９\u0301\u0308\u3099ｶﾞ")))


@budget(500)
@given(text=st.text(FOLDED_CHARS, max_size=40))
@example(text="Ａ\u0301（同意）…")
def test_the_readers_nfkc_is_nfkc(text):
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


# ---------------------------------------------------------------- 4. negation is never approval

NEGATIONS = ["不同意", "未通过", "不通过", "不予通过", "not approved", "Not approved", "NOT APPROVED", "don't approve",
             "don’t approve", "Don't approve", "难以同意", "恕难同意", "同意不了", "拒绝批准", "unable to approve",
             "refuse to approve"]
FILLER_VOCAB = ["收到", "第三部分", "数据", "我", "本次", "报告", "需再核实", "谢谢", "但是", "建议", "理由如下",
                "审核", "目前", "暂时", "请", "退回", "请修改", "吗", "?", "如果", "更正:", "I", "this version",
                "section 2", "sorry", "because", "data", "2026", "，", "。", "\n", " ", "：", "!", "、", "（", "）"]
filler = st.lists(st.one_of(st.sampled_from(FILLER_VOCAB),
                            st.text(alphabet=st.sampled_from("的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要"
                                                             "abcxyz ,.;:!?，。！？、\n"), max_size=6)),
                  max_size=6).map("".join)
SEPARATORS = st.sampled_from(["", " ", "，", "。", "\n", "：", "；"])


@budget(1000)
@given(before=filler, sep1=SEPARATORS, phrase=st.sampled_from(NEGATIONS), sep2=SEPARATORS, after=filler)
@example(before="", sep1="", phrase="不同意", sep2="", after="")
@example(before="审核", sep1="", phrase="未通过", sep2="，", after="理由如下")
def test_a_negation_is_never_read_as_an_approval(before, sep1, phrase, sep2, after):
    head, tail = before + sep1, sep2 + after
    # Words glued onto an English phrase ("Idon't approve") are a typo case, among the examples below;
    # 不同意 followed by 见 is the phrase 不同意见 ("differing opinions"), not a negation.
    if re.match(r"[a-z]", normalise(phrase)):
        assume(not re.search(r"[a-z]$", normalise(head)) and not re.match(r"[a-z]", normalise(tail)))
    assume(not (phrase == "不同意" and normalise(tail).startswith("见")))
    # no other approval word: the filler on either side holds none of its own (an approval word in the text as
    # a whole can then only come out of the negation phrase itself, which is what must not happen)
    assume(not approval_words(head + "\n" + tail))
    text = head + phrase + tail
    decision = read_decision(text)
    event(f"decision: {decision}")
    assert decision != "approve"
    found = tokens(text)
    negation_read = any(t.kind == "return" and normalise(phrase) in t.text for t in found)
    # a return stands unless a doubt shares its clause (如果…不同意, 会不同意, 领导不同意) or a correction follows
    if negation_read and not any(t.kind in (*CLAUSE_DOUBTS, "correction") for t in found):
        assert decision == "return", [(t.kind, t.text) for t in found]


# Found while writing this file: these were read as approvals (fixed in f46d5a3); kept as regression cases.
@pytest.mark.parametrize("text", [
    "难以同意。",  # "hard to agree": a polite refusal
    "恕难同意。",  # the formal refusal of official letters
    "碍难同意。",
    "这个我同意不了。",  # "I can't agree with this"
    "批准不了",
    "反对通过。",  # "against passing it"
    "拒绝批准。",
    "Unable to approve.",
    "I refuse to approve this version.",
    "Never approved.",
    "Idon't approve",  # a missing space glues the negation onto the word before it
])
def test_a_refusal_worded_without_a_plain_negator_is_not_an_approval(text):
    assert read_decision(text) != "approve"


# ---------------------------------------------------------------- 5. the intake never crashes or loses a message


@pytest.fixture
def fresh_yehe(tmp_path, monkeypatch) -> Callable:
    """A factory for one hypothesis example: a new SQLite database and mail folders under tmp_path (as
    conftest's `database_url`/`settings` build them), the sample county, and 野鹤镇's report waiting for its
    legal advisor. SQLite only: a database per example is what keeps the examples independent."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPORTCHAIN_MAIL_FROM", "fzb@qingshan.example.gov.cn")
    monkeypatch.setenv("REPORTCHAIN_MAIL_FROM_NAME", "青山县委依法治县办")
    monkeypatch.delenv("REPORTCHAIN_REPLY_TO", raising=False)
    counter = itertools.count()

    @contextmanager
    def build() -> Iterator[tuple[Session, object, Report, object]]:
        root = tmp_path / f"example-{next(counter)}"
        root.mkdir()
        url = f"sqlite:///{root / 'reportchain.db'}"
        monkeypatch.setenv("REPORTCHAIN_DATABASE_URL", url)
        monkeypatch.setenv("REPORTCHAIN_MAIL_FOLDER", str(root / "mail"))
        upgrade_database(url)
        settings = dataclasses.replace(load_settings(), inbox_folder=root / "inbox")
        try:
            with Session(get_engine(url), expire_on_commit=False) as session:
                import_roster(session, SAMPLE_ROSTER)
                session.commit()
                open_cycle(session, settings, 2026)
                session.commit()
                report = report_of(session, session.exec(select(Unit).where(Unit.code == "yehe")).one())
                rnd = to_legal_review(session, settings, report)
                yield session, settings, report, prompt_of(session, rnd)
        finally:
            get_engine(url).dispose()

    return build


STAGES = [s.name for s in DEFAULT_CHAIN]
# Replies of the reviewer's to a stand-in for 野鹤镇's prompt (R-2026-001 in the sample county), with fixed
# Message-IDs and dates so that the same draws give the same bytes; the test threads them under the real prompt.
SEED_PROMPT = SimpleNamespace(
    message_id="<rc.seed-prompt@qingshan.example.gov.cn>", to_addrs=ADVISOR,
    subject="[#R-2026-001] 请审核：野鹤镇2026年度法治政府建设年度报告（第1稿，法律顾问审核）",
    body_text="##- 请在此行以上回复 -##\n\n陈律师：\n\n请于 2026年12月31日 前直接回复本邮件：\n"
              "  同意 —— 回复“同意”；\n  退回 —— 回复“退回”。\n\n审核码：K7QM2P\n\n青山县委依法治县办\n")


def fixed_ids(raw: bytes, n: int) -> bytes:
    raw = re.sub(rb"(?m)^Message-ID: [^\r\n]*", f"Message-ID: <seed-{n}@qq.com>".encode(), raw, count=1)
    return re.sub(rb"(?m)^Date: [^\r\n]*", b"Date: Sun, 20 Dec 2026 10:25:42 +0000", raw, count=1)


OUR_SEEDS = [fixed_ids(reply_to(SEED_PROMPT, ADVISOR, text, **options), n) for n, (text, options) in enumerate([
    ("同意", {}), ("退回，请补充。", {}), ("收到", {}), ("同意", {"thread": False, "charset": "gbk"}),
])]


@budget(25)
@given(data=st.data())
def test_intake_of_a_mangled_batch_never_crashes_loses_a_message_or_approves_without_an_approval_word(
        fresh_yehe, data):
    with fresh_yehe() as (session, settings, report, prompt):
        drawn = data.draw(st.lists(st.one_of(arbitrary_bytes, mutated(), mutated(st.sampled_from(OUR_SEEDS))),
                                   min_size=1, max_size=6), label="mangled")
        # thread the mangled replies of ours under this example's prompt (after drawing: generation stays
        # independent of the random Message-IDs a fresh database gets)
        mangled = [raw.replace(SEED_PROMPT.message_id.encode(), prompt.message_id.encode()) for raw in drawn]
        genuine = reply_to(prompt, ADVISOR, "同意")
        batch = list(mangled)
        batch.insert(data.draw(st.integers(0, len(batch)), label="genuine at"), genuine)
        for i, raw in enumerate(batch):
            drop(settings.inbox_folder, raw, f"{i:04d}.eml")

        result = intake(session, settings, FolderInbox(settings.inbox_folder))

        session.expire_all()
        rows = list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))
        assert result.fetched == len(batch)
        assert len(rows) + result.duplicates == result.fetched
        assert sum(result.outcomes.values()) == len(rows)
        assert all(row.outcome not in (InboundOutcome.NEW, None) for row in rows)
        stored = {row.raw for row in rows}
        assert genuine in stored
        # each message is kept exactly once: a file not stored is a copy (same bytes or same Message-ID) of a
        # stored one, and no two stored rows are copies of each other
        mids = [row.message_id for row in rows if row.message_id]
        assert len(set(mids)) == len(mids) and len({row.sha256 for row in rows}) == len(rows)
        for raw in batch:
            assert raw in stored or message_id_of(raw) in mids
        assert not list(settings.inbox_folder.glob("*.eml"))
        assert len(list((settings.inbox_folder / "processed").iterdir())) == len(batch)

        [mine] = [row for row in rows if row.raw == genuine]
        others = [row.outcome for row in rows if row is not mine]
        assert mine.outcome == InboundOutcome.APPLIED or (mine.outcome == InboundOutcome.ALREADY_DECIDED
                                             and {"applied", "new_version"} & set(others)), (mine.outcome, others)
        for row in rows:
            if row.outcome == InboundOutcome.APPLIED and row.decision == "approve":
                assert approval_words(read_reply(row.raw).comment)
        stage = session.get(Report, report.id).stage
        event(f"stage after intake: {stage}")
        for outcome in result.outcomes:
            event(f"outcome seen: {outcome}")
        if STAGES.index(stage) > STAGES.index("legal_review"):
            assert any(row.outcome == InboundOutcome.APPLIED and approval_words(read_reply(row.raw).comment)
                       for row in rows)
