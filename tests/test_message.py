"""The fast message path (notifications/message.fast_message) against the email package's reference
(build_message): every mail kind, Chinese and English subjects and names, attachments and .ics, threading
headers, Cc and Reply-To must parse back the same, without defects, in lines of at most 78 characters."""

from __future__ import annotations

import base64
import email
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.policy import SMTP

import pytest
from icalendar import Calendar, Event

from core.settings import PROJECT_ROOT, load_settings
from documents.kit import drafting_skeleton
from models.tables import OutboxMessage
from notifications.message import Attachment, build_message, calendar_entry, fast_message, message_bytes
from notifications.outbox import new_message_id

KINDS = sorted(p.stem for p in (PROJECT_ROOT / "templates" / "email").glob("[!_]*.txt"))
HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
           "X-Reportchain-Kind", "MIME-Version")
ZH_SUBJECT = "[#R-2026-001] 请审核：野鹤镇2026年度法治政府建设年度报告（第2稿）——法律顾问审核，回复“同意”即可"
EN_SUBJECT = "[#R-2026-001] Please review the annual report"
ZH_TO = "张三丰 <zhang@yehe.example.gov.cn>, 欧阳·李四 <li.si@lvshi-01.example.cn>, plain@example.cn"
EN_TO = "Zhang San <zhang@yehe.example.gov.cn>"
ZH_SUMMARY = "[#R-2026-001] 野鹤镇年度报告初稿提交截止"
EN_SUMMARY = "[#R-2026-001] Yehe annual report: first draft due"
BODY = "张三丰同志：\n\n您好！请审核附件中的报告。\n" + "依法行政，严格规范公正文明执法。" * 12 + "\n\nBest regards\n"
HTML = "<p>张三丰同志：</p>\n<p>您好！&lt;请审核&gt;</p>" + "<p>依法行政</p>" * 40


@pytest.fixture(scope="module")
def settings(monkeypatch_module):
    return load_settings()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPORTCHAIN_MAIL_FROM", "fzb@qingshan.example.gov.cn")
        patch.setenv("REPORTCHAIN_MAIL_FROM_NAME", "青山县委依法治县办")
        patch.setenv("REPORTCHAIN_REPLY_TO", "reply@qingshan.example.gov.cn")
        yield patch


def row(kind: str, *, zh: bool = True, cc: bool = False, thread: bool = False, ics: bool = False,
        attachment_name: str | None = None) -> OutboxMessage:
    message_id, created_at = new_message_id("qingshan.example.gov.cn"), datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    return OutboxMessage(
        idempotency_key=f"test:{kind}", message_id=message_id, kind=kind,
        to_addrs=ZH_TO if zh else EN_TO, cc_addrs="县委办 <xwb@qingshan.example.gov.cn>" if cc else "",
        subject=ZH_SUBJECT if zh else EN_SUBJECT, body_text=BODY if zh else "Dear Zhang San,\n\nPlease review.\n",
        body_html=HTML if zh else "<p>Dear Zhang San,</p>", created_at=created_at,
        in_reply_to=new_message_id("yehe.example.gov.cn") if thread else None, attachment_name=attachment_name,
        ics=calendar_entry(message_id, date(2026, 12, 21), ZH_SUMMARY if zh else EN_SUMMARY, "Asia/Shanghai",
                           created_at) if ics else None)


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def defects(msg) -> list:
    found = []
    for part in msg.walk():
        found += part.defects + [d for name in part for d in part[name].defects]
    return found


def summary(msg) -> list:
    """What a reader sees: decoded headers, then each part's type, parameters, filename and content."""
    out = [(name, str(msg[name]) if msg[name] is not None else None) for name in HEADERS]
    for part in msg.walk():
        content = None if part.is_multipart() else part.get_content()
        if isinstance(content, str):
            content = content.replace("\r\n", "\n")  # 8bit parts keep the wire's CRLF, base64 ones the LF
        params = {k: v for k, v in part.get_params()[1:] if k != "boundary"} if part.get_params() else {}
        out.append((part.get_content_type(), params, part.get_content_disposition(), part.get_filename(), content))
    return out


def assert_equivalent(settings, mail: OutboxMessage, attachment: Attachment | None = None) -> bytes:
    fast = fast_message(settings, mail, attachment)
    assert fast is not None, "outside the fast path"
    reference = build_message(settings, mail, attachment).as_bytes(policy=SMTP)
    assert summary(parsed(fast)) == summary(parsed(reference))
    assert defects(parsed(fast)) == []
    assert all(len(line) <= 78 for line in fast.split(b"\r\n")), max(fast.split(b"\r\n"), key=len)
    assert b"\n" not in fast.replace(b"\r\n", b"")  # every line ends CRLF
    return fast


@pytest.mark.parametrize("kind", KINDS)
def test_every_mail_kind_parses_as_the_email_packages_message(settings, kind):
    assert_equivalent(settings, row(kind, cc=True, thread=True))
    assert_equivalent(settings, row(kind, zh=False))


@pytest.mark.parametrize("zh", [True, False])
def test_attachment_and_calendar_entry_come_through_byte_for_byte(settings, zh):
    kit = Attachment("template.docx", drafting_skeleton("野鹤镇", 2026, "青山县人民政府："))
    name = "野鹤镇2026年度法治政府建设年度报告（模板）" if zh else "Yehe 2026 annual report template"
    fast = assert_equivalent(settings, row("kickoff", zh=zh, ics=True, attachment_name=name), kit)
    [docx, ics] = parsed(fast).iter_attachments()
    assert docx.get_filename() == name + ".docx" and docx.get_content() == kit.content
    assert ics.get_filename() == "截止日期.ics"
    assert (ZH_SUMMARY if zh else EN_SUMMARY) in ics.get_content()
    assert base64.encodebytes(kit.content).replace(b"\n", b"\r\n") in fast  # base64 in lines of 76


def test_a_gbk_text_file_goes_as_its_own_bytes(settings):
    gbk = "一、主要举措\n依法行政。\n".encode("gbk")
    fast = assert_equivalent(settings, row("review_prompt", attachment_name="第2稿"), Attachment("draft.txt", gbk))
    [part] = parsed(fast).iter_attachments()
    assert part.get_content_type() == "application/octet-stream" and part.get_content() == gbk


@pytest.mark.parametrize("domain", ["x.cn", "qingshan.example.gov.cn", "sifaju.qingshan.example.gov.cn",
                                    "fazhi-bangongshi.qingshan-xian.example.gov.cn"])
def test_message_ids_of_every_length_take_the_fast_path(settings, domain):
    """Ids as new_message_id makes them: on the header's line, alone on the next, or (too long) not fast."""
    mail = row("receipt", thread=True)
    mail.message_id, mail.in_reply_to = new_message_id(domain), new_message_id(domain)
    if len(mail.message_id) < 78:
        fast = assert_equivalent(settings, mail)
        assert parsed(fast)["In-Reply-To"].strip() == parsed(fast)["References"].strip() == mail.in_reply_to
    else:
        assert fast_message(settings, mail) is None
        assert parsed(message_bytes(settings, mail))["Message-ID"] == mail.message_id


@pytest.mark.parametrize("subject", ["=?utf-8?b?5LyqwKA=?= forged", "x" * 120, "  spaced   out  ", "tab\there",
                                     "中" * 200, "Re: 关于 R-2026-001 的 \"意见\""])
def test_awkward_subjects_read_back_unchanged(settings, subject):
    mail = row("receipt")
    mail.subject = subject
    fast = fast_message(settings, mail)
    assert str(parsed(fast)["Subject"]) == subject and defects(parsed(fast)) == []
    assert all(len(line) <= 78 for line in fast.split(b"\r\n"))


@pytest.mark.parametrize("to", ['"Li, Si" <li@example.cn>', "李四 <李四@例子.中国>", "Dr. Li <li@example.cn>",
                                "<li@example.cn>", "li@example.cn (Li)", "a@b, ",
                                "青山县委依法治县办法治政府建设年度报告工作专班联络人 <a@example.cn>"])
def test_addresses_outside_the_fast_path_take_the_email_package(settings, to):
    mail = row("receipt")
    mail.to_addrs = to
    assert fast_message(settings, mail) is None
    assert parsed(message_bytes(settings, mail))["Message-ID"] == mail.message_id


def icalendar_entry(uid: str, due: date, summary: str, timezone: str, stamp: datetime) -> str:
    """The reference: the entry as the icalendar package writes it."""
    cal = Calendar()
    cal.add("prodid", "-//reportchain//法治政府建设年度报告//ZH")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-timezone", timezone)
    event = Event()
    event.add("uid", uid.strip("<>"))
    event.add("dtstamp", stamp)
    event.add("dtstart", due)
    event.add("dtend", due + timedelta(days=1))
    event.add("summary", summary)
    event.add("transp", "TRANSPARENT")
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")


@pytest.mark.parametrize("summary", [
    ZH_SUMMARY, EN_SUMMARY,
    "[#R-2026-00001] 第00001号镇人民政府办公室法治建设工作领导小组年度报告法律审核截止" * 3,  # folded, UTF-8
    *("[#R-2026-001] " + "a" * n + ",;\\" * 3 + "x" * 70 for n in (50, 51, 52)),  # an escape where the line folds
    "[#R-2026-001] " + "野" * 18 + "a,,,;;;\\\\\\" * 8,
    "两行\n的摘要\r\n第三行", "E" * 75])
@pytest.mark.parametrize("timezone", ["Asia/Shanghai", "Asia/Urumqi"])
def test_the_calendar_entry_is_the_one_icalendar_writes(summary, timezone):
    uid, due = new_message_id("qingshan.example.gov.cn"), date(2026, 12, 21)
    stamp = datetime(2026, 12, 1, 9, 30, 5, tzinfo=UTC)
    ours = calendar_entry(uid, due, summary, timezone, stamp)
    assert ours == icalendar_entry(uid, due, summary, timezone, stamp)
    assert all(len(line) <= 75 for line in ours.encode().split(b"\r\n"))
    [event] = Calendar.from_ical(ours).walk("VEVENT")
    assert str(event["summary"]) == summary.replace("\r\n", "\n").replace("\r", "\n")
    assert event.decoded("dtstart") == due and str(event["uid"]) == uid.strip("<>")
