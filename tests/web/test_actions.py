"""The coordinator's actions in the console: only the coordinator has them, every POST needs the CSRF
token, the confirmation step says what will happen and who gets mail and changes nothing, the
confirmed act calls the service as the account (audited `how=console`), and a confirmation posted
twice (browser back + resubmit) does not act twice: the service's refusal is shown in Chinese."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import func, select

from models.chain import Stage
from models.tables import (
    AuditEvent,
    CalendarOverride,
    Cycle,
    InboundMessage,
    OutboxMessage,
    OutboxStatus,
    Report,
    ReviewRound,
)
from services.decisions import record_decision
from services.stages import find_report, open_round_of
from tests.web.conftest import COORDINATOR, CSRF, signed_in

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def csrf(client) -> str:
    return CSRF.search(client.get("/login").text).group(1)


def post(client, path: str, **data):
    return client.post(path, data={"csrf": csrf(client), **data})


def confirm(client, path: str, **data):
    """The confirmation page, then the confirmed act (what a person does: 下一步 → 确认执行)."""
    shown = post(client, path, **data)
    assert shown.status_code == 200, shown.text
    assert 'name="confirm" value="1"' in shown.text
    return post(client, path, **data, confirm="1")


def audited(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def mails(session) -> int:
    return session.exec(select(func.count()).select_from(OutboxMessage)).one()


def approve_by_service(session, settings, ref: str) -> None:
    rnd = open_round_of(session, find_report(session, ref))
    record_decision(session, settings, rnd.id, "approve", via="phone", actor="test")
    session.commit()


ACTION_PAGES = ["/act/decide?ref={own}", "/act/accept?ref={own}", "/act/file?ref={own}", "/act/publish?ref={own}",
                "/act/open_cycle", "/act/calendar", "/act/deadlines", "/triage", "/roster"]


@sqlite_only
def test_the_actions_are_the_coordinators_only(app, console, role):
    client = signed_in(app, role)
    expected = 200 if role == "county_coordinator" else 404
    for path in ACTION_PAGES:
        assert client.get(path.format(own=console.yehe)).status_code == expected, path
    for path in ("/act/decide", "/act/file", "/act/open_cycle", "/act/calendar", "/roster/apply"):
        response = post(client, path, ref=console.yehe, stage="legal_review", round="2", decision="approve",
                        day="2027-02-06", kind="workday", year="2027", confirm="1")
        assert response.status_code in ((303, 409, 400) if role == "county_coordinator" else (404,)), path
    page = client.get(f"/reports/{console.yehe}").text
    assert ("/act/decide?ref=" in page) is (role == "county_coordinator")
    if role == "viewer":  # read-only: no form but signing out
        assert re.findall(r'<form[^>]*action="([^"]+)"', page) == ["/logout"]
        assert "/act/" not in client.get("/").text


@sqlite_only
def test_every_post_needs_the_csrf_token(app, session, console):
    client = signed_in(app, "county_coordinator")
    before = (mails(session), len(audited(session, "approve")))
    for path in ("/act/decide", "/act/file", "/act/publish", "/act/accept", "/act/retry", "/act/open_cycle",
                 "/act/calendar", "/act/deadlines", "/act/triage_decide", "/act/triage_dismiss",
                 f"/reports/{console.yehe}/draft", f"/reports/{console.yehe}/draft/submit", "/roster",
                 "/roster/apply"):
        response = client.post(path, data={"ref": console.yehe, "stage": "legal_review", "round": "2",
                                           "decision": "approve", "confirm": "1", "csrf": "forged"})
        assert response.status_code == 403 and "页面已过期" in response.text, path
    assert (mails(session), len(audited(session, "approve"))) == before


def test_a_phone_decision_is_confirmed_then_recorded_once(app, session, settings, console):
    client = signed_in(app, "county_coordinator")
    form = client.get(f"/act/decide?ref={console.yehe}").text
    assert "法律顾问审核 第2轮" in form
    data = {"ref": console.yehe, "stage": "legal_review", "round": "2", "decision": "approve"}
    shown = post(client, "/act/decide", **data)
    assert "陈律师" in shown.text and "chen.lawyer@lvshi-a.example.cn" in shown.text  # the receipt's reviewer
    assert "party-yehe@qingshan.example.gov.cn" in shown.text  # the committee's prompt
    session.expire_all()
    assert open_round_of(session, find_report(session, console.yehe)).number == 2  # nothing changed yet
    assert [e.actor for e in audited(session, "approve")] == []
    done = post(client, "/act/decide", **data, confirm="1")
    assert done.status_code == 303 and done.headers["location"] == f"/reports/{console.yehe}"
    page = client.get(done.headers["location"]).text
    assert "已记录报告" in page and "已生成" in page  # the flash: what was done, mails queued
    event = audited(session, "approve")[-1]
    assert (event.actor, event.detail["via"], event.detail["how"]) == (COORDINATOR, "phone", "console")
    assert find_report(session, console.yehe).stage == Stage.COMMITTEE_REVIEW
    again = post(client, "/act/decide", **data, confirm="1")  # browser back, resubmit
    assert again.status_code == 409 and "本次操作未执行" in again.text and "电话告知" in again.text
    assert len([e for e in audited(session, "approve") if e.actor == COORDINATOR]) == 1



def test_a_return_without_comments_is_refused_in_the_consoles_words(app, session, console):
    """The service's refusal, worded for the form (the CLI's names its --comment option)."""
    client = signed_in(app, "county_coordinator")
    data = {"ref": console.yehe, "stage": "legal_review", "round": "2", "decision": "return", "comment": " "}
    refused = post(client, "/act/decide", **data)
    assert refused.status_code == 409 and "请在“意见”栏写明修改意见" in refused.text and "--comment" not in refused.text
    session.expire_all()
    assert open_round_of(session, find_report(session, console.yehe)).decision is None

def test_file_then_publish_in_the_console(app, session, settings, console):
    for _ in range(2):
        approve_by_service(session, settings, console.yehe)
    client = signed_in(app, "county_coordinator")
    shown = post(client, "/act/file", ref=console.yehe)
    assert "xianwei-ban@qingshan.example.gov.cn" in shown.text and "确认执行" in shown.text
    session.expire_all()
    assert session.exec(select(OutboxMessage).where(OutboxMessage.kind == "filing")).all() == []
    done = post(client, "/act/file", ref=console.yehe, confirm="1")
    assert done.status_code == 303
    session.expire_all()
    # delivered in the background: filed, and the filed version went to the confidentiality reviewer
    assert find_report(session, console.yehe).stage == Stage.CONFIDENTIALITY_REVIEW
    assert post(client, "/act/file", ref=console.yehe, confirm="1").status_code == 409  # filed: refused
    assert len(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "filing")).all()) == 1
    assert [e.actor for e in audited(session, "filing_written")] == [COORDINATOR]

    url = "https://www.qingshan.example.gov.cn/fzzf/2026-yehe.html"
    for data in ({}, {"confirm": "1"}):  # neither the confirmation page nor the act: the review has not passed
        early = post(client, "/act/publish", ref=console.yehe, url=url, **data)
        assert early.status_code == 409 and "尚未通过保密审查" in early.text and "等待保密审查人回复" in early.text
    assert audited(session, "publish") == []
    assert "保密审查 第1轮" in client.get(f"/act/decide?ref={console.yehe}").text
    cleared = {"ref": console.yehe, "stage": "confidentiality_review", "round": "1", "decision": "approve"}
    assert confirm(client, "/act/decide", **cleared).status_code == 303
    session.expire_all()
    assert find_report(session, console.yehe).stage == Stage.CONFIDENTIALITY_REVIEW  # waits for the URL
    assert "登记公开" in client.get(f"/reports/{console.yehe}").text

    shown = post(client, "/act/publish", ref=console.yehe, url=url)
    assert url in shown.text and "保密审查已通过" in shown.text
    assert post(client, "/act/publish", ref=console.yehe, url=url, confirm="1").status_code == 303
    again = post(client, "/act/publish", ref=console.yehe, url=url, confirm="1")
    assert again.status_code == 303 and "已登记过此公开网址" in client.get(again.headers["location"]).text
    [event] = audited(session, "publish")
    reviewer = session.exec(select(ReviewRound).where(ReviewRound.stage == "confidentiality_review")).one()
    assert (event.actor, event.detail["how"], event.detail["round"]) == (COORDINATOR, "console", reviewer.number)
    assert event.detail["reviewed_by"] == "林静"  # the unit's confidentiality reviewer, from the roster
    shown = client.get(f"/reports/{console.yehe}").text  # the progress bar: six steps done, the seventh reached
    assert (shown.count('<li class="done"></li>'), shown.count('<li class="now"></li>')) == (6, 1)


@sqlite_only
def test_retry_a_failed_mail(app, session, console):
    mail = session.exec(select(OutboxMessage).where(OutboxMessage.report_id.is_not(None))).first()
    mail.status, mail.last_error = OutboxStatus.FAILED, "550 5.1.1 mailbox unavailable"
    session.add(mail)
    session.commit()
    client = signed_in(app, "county_coordinator")
    shown = post(client, "/act/retry", mail=str(mail.id))
    assert mail.to_addrs.split("<")[-1].rstrip(">") in shown.text
    assert post(client, "/act/retry", mail=str(mail.id), confirm="1").status_code == 303
    again = post(client, "/act/retry", mail=str(mail.id), confirm="1")
    assert again.status_code == 409 and "重新排入发送队列" in again.text
    [event] = audited(session, "mail_retried")
    assert (event.actor, event.detail["outbox_id"], event.detail["how"]) == (COORDINATOR, mail.id, "console")


@sqlite_only
def test_calendar_and_deadlines(app, session, console):
    client = signed_in(app, "county_coordinator")
    bad = post(client, "/act/calendar", day="2027-02-30", kind="workday")
    assert bad.status_code == 400 and "无法识别" in bad.text
    assert confirm(client, "/act/calendar", day="2027-02-06", kind="workday", note="春节调休").status_code == 303
    row = session.exec(select(CalendarOverride)).one()
    assert (row.day, row.working, row.set_by) == (date(2027, 2, 6), True, COORDINATOR)

    form = client.get("/act/deadlines?year=2026").text
    old_filing = re.search(r'name="filing" value="([^"]+)"', form).group(1)
    shown = post(client, "/act/deadlines", year="2026", filing="2027-01-29")
    assert old_filing in shown.text and "2027-01-29" in shown.text  # before → after
    session.expire_all()
    assert session.exec(select(Cycle)).one().policy["dates"]["filing"] == old_filing  # not yet
    assert post(client, "/act/deadlines", year="2026", filing="2027-01-29", confirm="1").status_code == 303
    [event] = audited(session, "policy_changed")
    assert event.actor == COORDINATOR and event.detail["after"]["dates"]["filing"] == "2027-01-29"
    bad = post(client, "/act/deadlines", year="2026", legal_review="-3")
    assert bad.status_code == 400 and "legal_review" in bad.text


@sqlite_only
def test_open_the_next_cycle(app, session, console):
    client = signed_in(app, "county_coordinator")
    form = client.get("/act/open_cycle").text
    assert "开启2027年度报告周期" in form and "尚未收录" in form  # the working-calendar warning (2027 unpublished)
    shown = post(client, "/act/open_cycle", year="2027")
    assert "新建报告 13 份" in shown.text and "zhangwei@yehe.qingshan.example.gov.cn" in shown.text
    assert session.exec(select(func.count()).select_from(Cycle)).one() == 1
    done = post(client, "/act/open_cycle", year="2027", confirm="1")
    assert done.headers["location"] == "/?year=2027"
    again = post(client, "/act/open_cycle", year="2027", confirm="1")
    assert "没有需要新建的报告" in client.get(again.headers["location"]).text
    assert [e.actor for e in audited(session, "cycle_opened")] == ["coordinator", COORDINATOR]
    past = post(client, "/act/open_cycle", year="2020")
    assert past.status_code == 409 and "2020" in past.text


def unclear_mails(session, ref: str, *raws: bytes) -> tuple[Report, ReviewRound, list[int]]:
    """The advisor's mails to the report's open round, stored as the intake leaves unclear ones: (the report,
    the round, their ids)."""
    report = find_report(session, ref)
    rnd = open_round_of(session, report)
    for n, raw in enumerate(raws, 1):
        session.add(InboundMessage(message_id=f"<t{n}@x>", sha256=str(n) * 64, raw=raw, source="test",
                                   report_id=report.id, round_id=rnd.id, outcome="unclear",
                                   from_address="chen.lawyer@lvshi-a.example.cn", subject="Re: yehe"))
    session.commit()
    return report, rnd, session.exec(select(InboundMessage.id).order_by(InboundMessage.id)).all()


@sqlite_only
def test_triage_decide_and_dismiss(app, session, settings, console):
    raw = ("From: chen.lawyer@lvshi-a.example.cn\r\nSubject: Re: yehe\r\nMessage-ID: <t1@x>\r\n\r\n"
           "这个我再看看吧，大体可以。\r\n").encode()
    report, rnd, (first, second) = unclear_mails(session, console.yehe, raw, raw)
    client = signed_in(app, "county_coordinator")
    listing = client.get("/triage").text
    assert "这个我再看看吧，大体可以。" in listing and f"/triage/{first}.eml" in listing
    assert client.get(f"/triage/{first}.eml").headers["content-disposition"].startswith("attachment;")
    assert signed_in(app, "viewer").get(f"/triage/{first}.eml").status_code == 404
    data = {"inbound": str(first), "ref": report.ref, "stage": "legal_review", "round": str(rnd.number),
            "decision": "approve"}
    assert confirm(client, "/act/triage_decide", **data).status_code == 303
    session.expire_all()
    assert session.get(ReviewRound, rnd.id).decided_via == "triage"
    again = post(client, "/act/triage_decide", **data, confirm="1")
    assert again.status_code == 409 and "已经核处过" in again.text
    assert post(client, "/act/triage_dismiss", inbound=str(second), reason="", confirm="1").status_code == 409
    assert confirm(client, "/act/triage_dismiss", inbound=str(second), reason="重复来信").status_code == 303
    assert [e.actor for e in audited(session, "triage_decided") + audited(session, "triage_dismissed")] == [
        COORDINATOR, COORDINATOR]
    assert "没有待核处的邮件" in client.get("/triage").text


@sqlite_only
def test_triage_warns_that_words_under_a_forwarded_header_may_not_be_the_senders(app, session, console):
    forward = ("From: chen.lawyer@lvshi-a.example.cn\r\nSubject: Fwd: yehe\r\nMessage-ID: <f1@x>\r\n\r\n"
               "---------- Forwarded message ---------\r\nFrom: 王科长 <wang@qingshan.example.gov.cn>\r\n"
               "Date: Sun, Dec 20, 2026 at 9:00 AM\r\nSubject: 请审核\r\n\r\n同意，请上报。\r\n").encode()
    plain = forward.replace(b"<f1@x>", b"<f2@x>").split(b"---------- Forwarded")[0] + "我再看看。\r\n".encode()
    _, _, (first, second) = unclear_mails(session, console.yehe, forward, plain)
    client = signed_in(app, "county_coordinator")
    warned = client.get(f"/act/triage_decide?inbound={first}").text
    assert "同意，请上报。" in warned and "可能是来信人转发或引用的原文" in warned
    unwarned = client.get(f"/act/triage_decide?inbound={second}").text
    assert "我再看看。" in unwarned and "可能是来信人转发或引用的原文" not in unwarned
    listing = client.get("/triage").text
    assert listing.count("（转发或引用的原文？）") == 1
    assert listing.index("（转发或引用的原文？）") < listing.index("同意，请上报。")


def test_the_committee_meeting_is_confirmed_then_recorded_in_the_console(app, session, settings, console):
    for _ in range(2):
        approve_by_service(session, settings, console.yehe)
    client = signed_in(app, "county_coordinator")
    assert "/act/meeting?ref=" in client.get(f"/reports/{console.yehe}").text
    empty = post(client, "/act/meeting", ref=console.yehe, meeting_on="", minutes=" ", confirm="1")
    assert empty.status_code == 409 and "请填写会议日期或会议纪要编号" in empty.text and "--date" not in empty.text
    data = {"ref": console.yehe, "meeting_on": "2026-11-28", "minutes": "纪要〔2026〕15号"}
    shown = post(client, "/act/meeting", **data)
    assert "镇党委会议（2026年11月28日召开，会议纪要：纪要〔2026〕15号）" in shown.text and "确认执行" in shown.text
    session.expire_all()
    assert find_report(session, console.yehe).meeting_on is None  # nothing kept before the confirmation
    done = post(client, "/act/meeting", **data, confirm="1")
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "审议会议：镇党委会议（2026年11月28日召开" in page
    event = audited(session, "meeting_recorded")[-1]
    assert (event.actor, event.detail["via"], event.detail["how"]) == (COORDINATOR, "console", "console")
    again = post(client, "/act/meeting", **data, confirm="1")  # browser back, resubmit: nothing new
    assert again.status_code == 303 and len(audited(session, "meeting_recorded")) == 1


def test_a_merged_township_is_closed_in_the_console_once_with_its_reason(app, session, console):
    client = signed_in(app, "county_coordinator")
    assert "/act/close_unit?ref=" in client.get(f"/reports/{console.yehe}").text
    assert "关闭原因" in client.get(f"/act/close_unit?ref={console.yehe}").text
    missing = post(client, "/act/close_unit", ref=console.yehe, reason=" ", confirm="1")
    assert missing.status_code == 409 and "请在“关闭原因”栏写明原因" in missing.text
    shown = post(client, "/act/close_unit", ref=console.yehe, reason="并入上社镇")
    assert "将关闭 <strong>野鹤镇</strong>（并入上社镇）" in shown.text
    assert find_report(session, console.yehe).stage == Stage.LEGAL_REVIEW and not audited(session, "unit_closed")
    done = post(client, "/act/close_unit", ref=console.yehe, reason="并入上社镇", confirm="1")
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "野鹤镇已关闭（并入上社镇）" in page and "/act/close_unit?ref=" not in page
    assert "已撤并（并入上社镇）" in client.get("/").text  # the board shows it closed
    event = audited(session, "unit_closed")[-1]
    assert (event.actor, event.detail["reason"], event.detail["how"]) == (COORDINATOR, "并入上社镇", "console")
    again = post(client, "/act/close_unit", ref=console.yehe, reason="并入上社镇", confirm="1")
    assert again.status_code == 409 and "无需再次关闭" in again.text
