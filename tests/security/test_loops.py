"""Nothing we send can be turned into a loop (issue 11 §3), and nothing is answered twice: notices to
coordinators come as one digest a day, answers to our notices are never answered, a sender who
writes again gets no second answer the same day, and two intakes at once do not both run."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import text as sql
from sqlmodel import Session, func, select

from models.chain import Role
from models.db import get_engine
from models.tables import Assignment, InboundMessage, InboundOutcome, MailboxState, OutboxMessage, Person, Report
from notifications.mailbox import FolderInbox
from services.replies import LEASE, LOCK_SPACE, intake, lock_key, mailbox_state, write_notice_digests
from tests.replies_kit import drop, reply_to
from tests.test_cli import cli, ok

ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
COORDINATOR = "yfzx@qingshan.example.gov.cn"  # 野鹤镇's coordinator in the sample county


def take_in(session, settings):
    result = intake(session, settings, FolderInbox(settings.inbox_folder))
    session.expire_all()
    return result


def mails(session, kind: str | None = None) -> list[OutboxMessage]:
    session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    return list(session.exec(query.where(OutboxMessage.kind == kind) if kind else query))


def next_morning(session, settings, days: int = 1) -> list[OutboxMessage]:
    """The digests written at the first intake of a later day."""
    write_notice_digests(session, settings, datetime.now(UTC) + timedelta(days=days))
    session.commit()
    return mails(session, "reply_digest")


def add_coordinator(session, report, who: str) -> None:
    name, email = who.split(" <")
    person = Person(name=name, email=email.rstrip(">"))
    session.add(person)
    session.flush()
    session.add(Assignment(unit_id=report.unit_id, person_id=person.id, role=Role.COORDINATOR.value))
    session.commit()


def test_notices_come_as_one_digest_per_coordinator_per_day(session, settings, yehe):
    report, rnd, prompt = yehe
    for n in range(5):
        drop(settings.inbox_folder, reply_to(prompt, f"路人{n} <passer{n}@else.example.cn>", "同意"))
    assert take_in(session, settings).outcomes == {InboundOutcome.NOT_REVIEWER: 5}
    assert not mails(session, "reply_digest")  # nothing the same day, however many arrive
    [digest] = next_morning(session, settings)
    assert COORDINATOR in digest.to_addrs and "5 封" in digest.subject
    assert all(f"passer{n}@else.example.cn" in digest.body_text for n in range(5))
    assert len(next_morning(session, settings)) == 1  # the same morning again: nothing new
    drop(settings.inbox_folder, reply_to(prompt, "路人 <late@else.example.cn>", "同意"))
    take_in(session, settings)
    second = next_morning(session, settings, days=2)
    assert len(second) == 2 and "late@else.example.cn" in second[1].body_text
    assert "passer0" not in second[1].body_text  # each message is listed once


def test_an_auto_reply_without_headers_answering_a_notice_is_never_answered(session, settings, yehe):
    """The coordinators' mailboxes answer every mail with "您好，您的邮件已收到" and no RFC 3834 header —
    two of them, so that each could be told about the other's auto-reply."""
    report, rnd, prompt = yehe
    second = "吴副主任 <wu2@qingshan.example.gov.cn>"
    add_coordinator(session, report, second)
    drop(settings.inbox_folder, reply_to(prompt, "路人 <x@else.example.cn>", "同意"))
    take_in(session, settings)
    digests = next_morning(session, settings)
    assert len(digests) == 2
    for day in range(2, 6):  # days go by, the auto-reply answers whatever it gets
        for notice in mails(session, "reply_digest"):
            for who in notice.to_addrs.split(", "):
                drop(settings.inbox_folder, reply_to(notice, who, "您好，您的邮件已收到，我会尽快处理。"))
                drop(settings.inbox_folder, reply_to(notice, who, "您好，您的邮件已收到。", thread=False))
        take_in(session, settings)
        next_morning(session, settings, days=day)
    assert mails(session, "reply_digest") == digests
    rows = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert sorted(r.outcome for r in rows[1:]) == [InboundOutcome.NOTICE_REPLY] * 8 + [InboundOutcome.UNMATCHED] * 8
    # a coordinator's own mail is no news
    assert [r.notice for r in rows] == [InboundOutcome.NOT_REVIEWER] + [None] * 16


def test_a_reviewer_who_writes_again_and_again_to_a_decided_round_gets_one_answer(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"))
    take_in(session, settings)
    for text in ("同意。", "同意！！", "我同意"):
        drop(settings.inbox_folder, reply_to(prompt, ADVISOR, text))
    assert take_in(session, settings).outcomes == {InboundOutcome.ALREADY_DECIDED: 3}
    assert len(mails(session, "already_decided")) == 1


def test_the_same_refused_draft_mailed_twice_is_answered_once(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    take_in(session, settings)
    [returned] = mails(session, "returned")
    for _ in range(3):
        drop(settings.inbox_folder, reply_to(returned, "zhangwei@yehe.qingshan.example.gov.cn", "修改稿",
                                             attachments=(("修改稿.docx", b"PK\x03\x04 broken zip"),)))
    assert take_in(session, settings).outcomes == {InboundOutcome.DRAFT_REFUSED: 3}
    assert len(mails(session, "draft_received")) == 1


def test_a_second_intake_while_one_runs_fetches_nothing_and_says_so(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"))
    name = FolderInbox(settings.inbox_folder).name
    state = mailbox_state(session, name)
    state.locked_until = datetime.now(UTC) + LEASE  # another intake is running
    session.add(state)
    session.commit()
    with Session(get_engine(settings.database_url)) as other, other.begin():
        if other.get_bind().dialect.name == "postgresql":  # where a running intake also holds this lock
            other.connection().execute(sql("SELECT pg_advisory_xact_lock(:space, :key)"),
                                       {"space": LOCK_SPACE, "key": lock_key(name)})
        result = take_in(session, settings)
        assert result.fetched == 0 and result.busy_since is not None
        assert "另一次收取回复正在进行" in ok(cli("replies", "fetch"))
    assert session.get(Report, report.id).stage == "legal_review"
    assert len(list(settings.inbox_folder.glob("*.eml"))) == 1  # left for the next run


def test_an_intake_killed_mid_run_holds_the_mailbox_only_until_its_lease_ends(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意"))
    state = mailbox_state(session, FolderInbox(settings.inbox_folder).name)
    state.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # its holder died a lease ago
    session.add(state)
    session.commit()
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 1}
    assert session.exec(select(MailboxState)).one().locked_until is None


def test_two_intakes_at_once_apply_every_reply_once_and_neither_fails(session, settings, county):
    from services.cycle import open_cycle
    from services.stages import open_round_of
    from tests.replies_kit import prompt_of, to_legal_review

    open_cycle(session, settings, 2026)
    session.commit()
    reports = session.exec(select(Report).order_by(Report.id).limit(6)).all()
    for report in reports:
        prompt = prompt_of(session, to_legal_review(session, settings, report))
        reviewer = prompt.to_addrs
        drop(settings.inbox_folder, reply_to(prompt, reviewer, "同意"))
    results, errors = [], []

    def run() -> None:
        try:
            with Session(get_engine(settings.database_url), expire_on_commit=False) as own:
                results.append(intake(own, settings, FolderInbox(settings.inbox_folder)))
        except Exception as exc:  # a failure in either would be the bug
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    session.expire_all()
    assert sum(r.outcomes["applied"] for r in results) == len(reports)
    assert session.exec(select(func.count()).select_from(InboundMessage)).one() == len(reports)
    assert len(mails(session, "receipt")) == len(reports)
    assert all(open_round_of(session, r).stage == "committee_review" for r in reports)
