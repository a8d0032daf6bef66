"""Replies taken in by batches: the raw messages of a batch are kept first, the messages are processed in
the batch's one transaction (together, or each in a savepoint when one fails), and the mailbox is marked
after the batch commits. A failure in one message undoes only that message; a crash anywhere loses nothing
and applies nothing twice; the lease on the mailbox is renewed with every batch. And the reader reads each
message once: its second reading, with the prompt's text, is the same as reading the bytes again."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlmodel import Session, func, select

from models.chain import DEFAULT_CHAIN, stage_def
from models.db import get_engine
from models.tables import InboundMessage, InboundOutcome, MailboxState, OutboxMessage, Report, ReviewRound
from notifications.decision import UNCLEAR
from notifications.mailbox import FolderInbox
from notifications.outbox import mail_secret, new_message_id
from notifications.reply import UnreadableMessage, read_reply, reread
from services.cycle import open_cycle
from services.replies import intake
from services.stages import people_with_role, round_name
from tests.replies_kit import drop, prompt_of, reply_to, to_legal_review

REPLIES = Path(__file__).parent / "replies"


class Crash(BaseException):
    """The process dies (a kill, a lost database): nothing catches it."""


@pytest.fixture
def rounds(session, settings, county) -> list[tuple[Report, OutboxMessage]]:
    """Five reports waiting for their legal advisors, with the prompt each was sent."""
    open_cycle(session, settings, 2026)
    session.commit()
    reports = session.exec(select(Report).order_by(Report.id).limit(5)).all()
    return [(report, prompt_of(session, to_legal_review(session, settings, report))) for report in reports]


def approvals(settings, rounds) -> None:
    """Each advisor approves by reply, in report order."""
    for n, (_, prompt) in enumerate(rounds):
        drop(settings.inbox_folder, reply_to(prompt, prompt.to_addrs, "同意。"), f"{n:04d}.eml")


def take_in(session, settings):
    return intake(session, settings, FolderInbox(settings.inbox_folder))


def stages(session, rounds) -> list[str]:
    session.expire_all()
    return [session.get(Report, report.id).stage for report, _ in rounds]


def count(session, model, *where) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def receipts(session) -> int:
    return count(session, OutboxMessage, OutboxMessage.kind == "receipt")


def waiting(settings) -> list[str]:
    return sorted(p.name for p in settings.inbox_folder.glob("*.eml"))


def next_prompt_fails(monkeypatch, broken: Report):
    """The next stage's prompt of `broken` fails to be written, after its decision; returns the real enqueue."""
    import services.stages

    real = services.stages.enqueue

    def enqueue(session, settings, **mail):
        if mail["kind"] == "review_prompt" and mail["report_id"] == broken.id:
            raise RuntimeError("template error")
        return real(session, settings, **mail)

    monkeypatch.setattr(services.stages, "enqueue", enqueue)
    return real


def test_a_failure_in_one_message_undoes_only_its_own_work_and_the_batch_goes_on(session, settings, rounds,
                                                                                 monkeypatch):
    approvals(settings, rounds)
    broken = rounds[2][0]
    real = next_prompt_fails(monkeypatch, broken)
    result = take_in(session, settings)
    assert result.outcomes == {InboundOutcome.APPLIED: 4, InboundOutcome.UNREADABLE: 1}
    assert stages(session, rounds) == ["committee_review"] * 2 + ["legal_review"] + ["committee_review"] * 2
    undone = session.exec(select(ReviewRound).where(ReviewRound.report_id == broken.id)).one()
    assert undone.decision is None  # its decision, receipt and audit went with the failed prompt
    assert count(session, OutboxMessage, OutboxMessage.kind == "receipt", OutboxMessage.report_id == broken.id) == 0
    assert receipts(session) == 4
    kept = session.exec(select(InboundMessage).where(InboundMessage.outcome == InboundOutcome.UNREADABLE)).one()
    assert "template error" in kept.detail and kept.notice is not None and kept.round_id is None
    assert kept.raw == (settings.inbox_folder / "processed" / "0002.eml").read_bytes()
    assert waiting(settings) == []  # the whole batch is marked
    monkeypatch.setattr("services.stages.enqueue", real)
    assert take_in(session, settings).fetched == 0  # the failed one is not taken again by itself
    assert stages(session, rounds)[2] == "legal_review"


def test_a_failure_after_a_reply_answered_a_prompt_written_in_the_same_batch_forgets_that_prompt(
        session, settings, rounds, monkeypatch):
    # After a restore, one batch may hold an advisor's approval and the committee's answer to the prompt that
    # approval writes (its Message-ID is the same as before the backup). When a later message fails, the
    # batch is processed again message by message: the committee's answer must meet the prompt written again,
    # never the one rolled back with the failed attempt.
    (first, prompt), (broken, _) = rounds[0], rounds[1]
    committee = stage_def(DEFAULT_CHAIN, "committee_review")
    [approver] = people_with_role(session, first.unit_id, committee.actor)
    key = f"prompt:{round_name(first, committee.name, 1)}"
    again = SimpleNamespace(message_id=new_message_id(settings.message_id_domain, key, mail_secret(session)),
                            subject=f"[#{first.ref}] 请审议", to_addrs=approver.email, body_text="")
    drop(settings.inbox_folder, reply_to(prompt, prompt.to_addrs, "同意。"), "0000.eml")
    drop(settings.inbox_folder, reply_to(again, f"{approver.name} <{approver.email}>", "同意。"), "0001.eml")
    drop(settings.inbox_folder, reply_to(rounds[1][1], rounds[1][1].to_addrs, "同意。"), "0002.eml")
    next_prompt_fails(monkeypatch, broken)
    result = take_in(session, settings)
    assert result.outcomes == {InboundOutcome.APPLIED: 2, InboundOutcome.UNREADABLE: 1}
    assert stages(session, rounds[:2]) == ["filing", "legal_review"]
    decided = session.exec(select(ReviewRound).where(ReviewRound.report_id == first.id)
                           .order_by(ReviewRound.id)).all()
    assert [(r.stage, r.decision, r.prompt_message_id == again.message_id) for r in decided] == [
        ("legal_review", "approve", False), ("committee_review", "approve", True)]
    assert count(session, OutboxMessage, OutboxMessage.message_id == again.message_id) == 1


@pytest.mark.parametrize("crash_at", ["processing", "marking"])
def test_a_crash_mid_batch_loses_nothing_and_the_next_run_applies_each_reply_once(session, settings, rounds,
                                                                                   monkeypatch, crash_at):
    approvals(settings, rounds)
    import services.replies

    if crash_at == "processing":  # the third message dies half-way: the batch's work is not committed
        real, calls = services.replies.answer_round, []

        def answer_round(*args):
            calls.append(1)
            if len(calls) == 3:
                raise Crash
            return real(*args)

        monkeypatch.setattr(services.replies, "answer_round", answer_round)
    else:  # the batch committed; the process dies before the mailbox is marked
        def mark(self, batch):
            raise Crash

        monkeypatch.setattr(FolderInbox, "mark", mark)
    with pytest.raises(Crash):
        take_in(session, settings)
    kept = count(session, InboundMessage)
    assert kept == len(rounds)  # every raw message was kept before anything was processed
    if crash_at == "processing":
        assert stages(session, rounds) == ["legal_review"] * 5 and receipts(session) == 0
        assert count(session, InboundMessage, InboundMessage.outcome == InboundOutcome.NEW) == 5
    else:
        assert stages(session, rounds) == ["committee_review"] * 5 and receipts(session) == 5
    assert len(waiting(settings)) == 5  # nothing was marked
    assert session.exec(select(MailboxState)).one().locked_until is None  # the lease is given back

    monkeypatch.undo()
    again = take_in(session, settings)
    assert again.duplicates == 5 and waiting(settings) == []
    assert stages(session, rounds) == ["committee_review"] * 5
    assert receipts(session) == 5 and count(session, InboundMessage) == 5
    assert count(session, ReviewRound, ReviewRound.stage == "committee_review") == 5
    assert count(session, InboundMessage, InboundMessage.outcome == InboundOutcome.APPLIED) == 5


def test_duplicates_inside_one_batch_are_stored_and_applied_once(session, settings, rounds):
    (report, prompt), (other, other_prompt) = rounds[:2]
    raw = reply_to(prompt, prompt.to_addrs, "同意。")
    drop(settings.inbox_folder, raw, "a.eml")
    drop(settings.inbox_folder, raw, "b.eml")  # the same bytes twice
    resent = reply_to(other_prompt, other_prompt.to_addrs, "同意。")
    drop(settings.inbox_folder, resent, "c.eml")
    drop(settings.inbox_folder, resent.replace(b"\n\n", b"\nX-Resent: yes\n\n", 1), "d.eml")  # same Message-ID
    result = take_in(session, settings)
    assert (result.fetched, result.duplicates, result.outcomes) == (4, 2, {InboundOutcome.APPLIED: 2})
    assert count(session, InboundMessage) == 2 and receipts(session) == 2
    assert stages(session, rounds)[:2] == ["committee_review"] * 2
    assert waiting(settings) == []


def test_each_batch_commits_its_work_and_renews_the_lease_before_it_is_marked(session, settings, rounds,
                                                                             monkeypatch):
    monkeypatch.setattr("notifications.mailbox.BATCH_MESSAGES", 2)
    approvals(settings, rounds)
    seen = []
    real = FolderInbox.mark

    def mark(self, batch):  # what another connection sees when each batch is marked
        with Session(get_engine(settings.database_url)) as other:
            state = other.exec(select(MailboxState)).one()
            applied = other.exec(select(func.count()).select_from(InboundMessage)
                                 .where(InboundMessage.outcome == InboundOutcome.APPLIED)).one()
            seen.append((len(batch), applied, state.locked_until))
        real(self, batch)

    monkeypatch.setattr(FolderInbox, "mark", mark)
    assert take_in(session, settings).outcomes == {InboundOutcome.APPLIED: 5}
    assert [(size, applied) for size, applied, _ in seen] == [(2, 2), (2, 4), (1, 5)]
    leases = [until for _, _, until in seen]
    assert leases == sorted(leases) and len(set(leases)) == 3  # renewed with every batch
    assert session.exec(select(MailboxState)).one().locked_until is None


def test_a_dry_run_over_several_batches_commits_nothing(session, settings, rounds, monkeypatch):
    monkeypatch.setattr("notifications.mailbox.BATCH_MESSAGES", 2)
    approvals(settings, rounds)
    result = intake(session, settings, FolderInbox(settings.inbox_folder), apply=False)
    session.rollback()
    assert result.outcomes == {InboundOutcome.APPLIED: 5}  # what would happen
    assert count(session, InboundMessage) == 0 and receipts(session) == 0
    assert stages(session, rounds) == ["legal_review"] * 5 and len(waiting(settings)) == 5


PROMPT = ("##- 请在此行以上回复 -##\n\n陈律师：\n\n您好！野鹤镇2026年度法治政府建设年度报告（第1稿）已提交，"
          "请您进行法律顾问审核。\n\n请直接回复本邮件：\n  同意 —— 回复“同意”；\n  退回 —— 回复“退回”，并写明原因。\n\n"
          "审核码：K7QM2P\n\n青山县委依法治县办\n")


def bottom_posted(answer: str) -> bytes:
    """Our prompt quoted with "> " but its first lines cut, the writer's answer below: whose quote it is can
    only be told knowing the prompt."""
    quoted = "\n".join(("> " + line).rstrip() for line in PROMPT.split("\n")[2:])
    msg = EmailMessage()
    msg["From"], msg["To"] = "陈律师 <chen@lvshi-a.example.cn>", "fzb@qingshan.example.gov.cn"
    msg["Subject"] = "Re: 请审核"
    msg.set_content(f"在 2026/12/20 9:13, 青山县委依法治县办 写道:\n{quoted}\n\n{answer}\n\n-- \n陈明\n")
    return msg.as_bytes()


def test_reading_again_with_the_prompt_decides_as_reading_the_bytes_with_it():
    raw = bottom_posted("同意")
    first = read_reply(raw)
    assert first.decision == UNCLEAR
    again = reread(first, PROMPT)
    assert (again.decision, again.comment) == ("approve", "同意")
    assert again == read_reply(raw, original=PROMPT)


@pytest.mark.parametrize("eml", sorted(REPLIES.glob("*.eml")), ids=lambda p: p.stem)
def test_every_corpus_reply_read_again_with_a_prompt_is_the_same_as_its_bytes_read_with_it(eml):
    raw = eml.read_bytes()
    try:
        first = read_reply(raw)
    except UnreadableMessage:
        with pytest.raises(UnreadableMessage):
            read_reply(raw, original=PROMPT)
        return
    assert reread(first, PROMPT) == read_reply(raw, original=PROMPT)
    assert reread(first, None) == first


def test_a_dry_run_over_messages_left_by_a_crash_commits_nothing(session, settings, rounds):
    report, prompt = rounds[0]
    take_in(session, settings)  # an earlier run: the mailbox is known
    session.add(InboundMessage(message_id="<left@qq.com>", sha256="0" * 64, source="folder:left.eml",
                               raw=reply_to(prompt, prompt.to_addrs, "同意。")))
    session.commit()  # stored, then the process died before reading it
    result = intake(session, settings, FolderInbox(settings.inbox_folder), apply=False)
    session.rollback()
    assert result.outcomes == {InboundOutcome.APPLIED: 1}
    assert stages(session, rounds)[0] == "legal_review" and receipts(session) == 0
    assert count(session, InboundMessage, InboundMessage.outcome == InboundOutcome.NEW) == 1
