"""The chain end to end through its transactional steps, on SQLite and PostgreSQL: what each step
stores, which mails it writes, what it refuses, and that racing or repeated steps change nothing."""

from __future__ import annotations

import email
import io
from email import policy

import pytest
from docx import Document
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, func, select

from documents.reading import read_draft
from models.chain import Refused
from models.db import get_engine
from models.tables import AuditEvent, OutboxMessage, Person, Report, ReportVersion, ReviewRound
from notifications.backends import MailFolderBackend
from notifications.outbox import deliver
from services.cycle import open_cycle
from services.decisions import record_decision, round_to_decide
from services.drafts import report_for_unit, submit_draft
from services.filing import confirm_filings, file_report
from services.stages import find_report, hash_reply_code, open_round_of
from tests.conftest import report_of
from tests.drafts import DRAFT, report_text


def draft(text: str = DRAFT, name: str = "报告.md"):
    return read_draft(name, text.encode("utf-8"))


def mails(session: Session, kind: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(session.exec(query))


def decide(session, settings, ref, decision, comment=""):
    """Decide the open round of the report, as a coordinator told by phone."""
    rnd = open_round_of(session, find_report(session, ref))
    applied = record_decision(session, settings, rnd.id, decision, comment=comment, via="phone", actor="吴协调")
    session.commit()
    return rnd, applied


@pytest.fixture
def cycle(session, settings, county):
    open_cycle(session, settings, 2026)
    session.commit()
    return report_of(session, county["yehe"])


def test_opening_a_cycle_gives_each_reporting_unit_one_report_and_its_drafter_a_kickoff(session, settings, county):
    created = open_cycle(session, settings, 2026)
    session.commit()
    assert [r.ref for r in created] == [f"R-2026-{i:03d}" for i in range(1, 14)]
    assert all(r.stage == "drafting" for r in created)
    kickoffs = mails(session, "kickoff")
    assert len(kickoffs) == 13
    first = kickoffs[0]
    assert first.to_addrs == "张伟 <zhangwei@yehe.qingshan.example.gov.cn>"
    assert first.subject.startswith("[#R-2026-001]") and "野鹤镇" in first.subject
    assert "2026年12月21日" in first.body_text  # 20 Dec 2026 is a Sunday: due the next working day


def test_opening_a_cycle_again_creates_nothing_and_writes_no_mail(session, settings, cycle):
    before = len(mails(session))
    assert open_cycle(session, settings, 2026) == []
    session.commit()
    assert len(mails(session)) == before
    assert session.exec(select(func.count()).select_from(Report)).one() == 13


def test_a_submitted_draft_becomes_version_1_and_the_legal_advisor_gets_a_prompt_with_a_reply_code(
        session, settings, county, cycle):
    version = submit_draft(session, settings, cycle, draft(), "张伟")
    session.commit()
    assert (version.number, cycle.stage) == (1, "legal_review")
    assert version.text == DRAFT.strip() and version.findings == []
    [prompt] = mails(session, "review_prompt")
    assert prompt.to_addrs == "陈律师 <chen.lawyer@lvshi-a.example.cn>"
    assert prompt.attachment_version_id == version.id
    rnd = session.exec(select(ReviewRound)).one()
    assert rnd.prompt_message_id == prompt.message_id
    code = prompt.body_text.split("审核码：")[1].split()[0]
    assert len(code) == 6
    # the code is stored only hashed, and bound to this reviewer, round and version
    assert code not in rnd.reply_code_hash
    assert rnd.reply_code_hash == hash_reply_code(code, ref=cycle.ref, stage="legal_review", number=1,
                                                  reviewer="chen.lawyer@lvshi-a.example.cn", version_id=version.id)
    assert rnd.reply_code_hash != hash_reply_code(code, ref=cycle.ref, stage="legal_review", number=1,
                                                  reviewer="someone@else.cn", version_id=version.id)


def test_approvals_carry_the_report_to_filing_with_a_receipt_threaded_under_each_prompt(
        session, settings, county, cycle):
    submit_draft(session, settings, cycle, draft(), "张伟")
    session.commit()
    legal, applied = decide(session, settings, cycle.ref, "approve", "同意。")
    assert applied and cycle.stage == "committee_review"
    committee, _ = decide(session, settings, cycle.ref, "approve", "经镇党委会议审议通过。")
    assert cycle.stage == "filing"
    receipts = mails(session, "receipt")
    assert [r.in_reply_to for r in receipts] == [legal.prompt_message_id, committee.prompt_message_id]
    assert "已记录：同意" in receipts[0].subject
    assert mails(session, "review_prompt")[1].to_addrs == "刘芳 <party-yehe@qingshan.example.gov.cn>"


def test_a_return_goes_back_to_drafting_and_mails_the_comment_to_the_drafter(session, settings, county, cycle):
    submit_draft(session, settings, cycle, draft(), "张伟")
    session.commit()
    decide(session, settings, cycle.ref, "return", "请补充存在问题的原因分析。")
    assert cycle.stage == "drafting"
    [returned] = mails(session, "returned")
    assert returned.to_addrs.startswith("张伟")
    assert "请补充存在问题的原因分析。" in returned.body_text
    assert "请补充存在问题的原因分析。" in returned.body_html


def test_after_a_return_only_a_new_version_can_be_submitted_and_it_opens_a_new_round(session, settings, county, cycle):
    submit_draft(session, settings, cycle, draft(), "张伟")
    session.commit()
    decide(session, settings, cycle.ref, "return", "请补充原因。")
    with pytest.raises(Refused) as same:
        submit_draft(session, settings, cycle, draft(), "张伟")
    assert same.value.code == "same_as_returned"
    session.rollback()
    v2 = submit_draft(session, settings, cycle, draft(DRAFT.replace("培训不足", "培训不足、人员流动大")), "张伟")
    session.commit()
    rounds = session.exec(select(ReviewRound).order_by(ReviewRound.id)).all()
    assert v2.number == 2
    assert [(r.number, r.version_id, r.decision) for r in rounds] == [(1, rounds[0].version_id, "return"),
                                                                      (2, v2.id, None)]


def test_recording_the_same_decision_twice_changes_nothing_and_sends_nothing(session, settings, county, cycle):
    submit_draft(session, settings, cycle, draft(), "张伟")
    session.commit()
    rnd, _ = decide(session, settings, cycle.ref, "approve")
    before = (len(mails(session)), cycle.stage, cycle.row_version)
    assert record_decision(session, settings, rnd.id, "approve", via="phone", actor="吴协调") is False
    session.commit()
    assert (len(mails(session)), cycle.stage, cycle.row_version) == before


def test_a_contrary_second_decision_on_a_decided_round_is_refused(session, settings, county, cycle):
    submit_draft(session, settings, cycle, draft(), "张伟")
    session.commit()
    rnd, _ = decide(session, settings, cycle.ref, "approve")
    with pytest.raises(Refused) as refused:
        record_decision(session, settings, rnd.id, "return", comment="不同意", via="email", actor="陈律师")
    assert refused.value.code == "round_already_decided"


def test_two_racing_decisions_on_one_report_let_exactly_one_win(session, settings, county, cycle):
    submit_draft(session, settings, cycle, draft(), "张伟")
    session.commit()
    round_id = round_to_decide(session, cycle.ref, "legal_review").id
    engine = get_engine(settings.database_url)
    with Session(engine) as first, Session(engine) as second:
        # both read the report and the open round before either decides (keep them: the map is weak)
        loaded = [(s.get(Report, cycle.id), s.get(ReviewRound, round_id)) for s in (first, second)]
        assert all(rnd.decision is None for _, rnd in loaded)
        record_decision(first, settings, round_id, "approve", via="email", actor="陈律师")
        first.commit()
        with pytest.raises(StaleDataError):
            record_decision(second, settings, round_id, "return", comment="退回", via="phone", actor="吴协调")
            second.commit()
        second.rollback()
    session.expire_all()
    assert session.get(Report, cycle.id).stage == "committee_review"
    assert len(mails(session, "receipt")) == 1


def test_filing_mails_the_approved_version_to_the_upper_level_and_files_once_delivered(
        session, settings, county, tmp_path):
    open_cycle(session, settings, 2026)
    report = report_of(session, county["sifaju"])  # a department: filed to the county and the city bureau
    text = report_text("县司法局")
    submit_draft(session, settings, report, draft(text, name="县司法局报告.md"), "吴军")
    session.commit()
    decide(session, settings, report.ref, "approve")
    decide(session, settings, report.ref, "approve")
    filing = file_report(session, settings, report)
    assert file_report(session, settings, report).id == filing.id  # once per version
    session.commit()
    assert filing.to_addrs == "xianwei-ban@qingshan.example.gov.cn, fzc@city-dept.example.gov.cn"
    assert filing.cc_addrs == "yfzx@qingshan.example.gov.cn"
    assert report.stage == "filing"  # not filed until the mail has actually gone out

    backend = MailFolderBackend(tmp_path / "out")
    assert deliver(session, settings, backend).sent == len(mails(session))
    assert confirm_filings(session, settings) == [report.ref]
    session.commit()
    assert report.stage == "confidentiality_review"  # filed, and at once sent to the confidentiality reviewer
    sent = email.message_from_bytes(backend.path_for(filing.message_id).read_bytes(), policy=policy.default)
    assert sent["Cc"] == "yfzx@qingshan.example.gov.cn"
    [attachment] = list(sent.iter_attachments())  # the approved version laid out as a 公文
    assert attachment.get_filename() == "县司法局2026年度法治政府建设年度报告.docx"
    filed = Document(io.BytesIO(attachment.get_content()))
    lines = [p.text for p in filed.paragraphs if p.text.strip()]
    body = [line for line in text.splitlines() if line.strip()]
    assert lines[0] == body[0]  # the report's own title, not a second one
    assert lines[1] == "中共青山县委、青山县人民政府："  # the 主送 it lacked
    assert lines[2:] == body[1:]  # the body, 落款 and date as written
    assert confirm_filings(session, settings) == []  # delivered once, filed once


def test_refusals_leave_the_report_untouched(session, settings, county, cycle):
    with pytest.raises(Refused) as early:
        file_report(session, settings, cycle)
    assert early.value.code == "not_ready_to_file"
    with pytest.raises(Refused) as no_round:
        round_to_decide(session, cycle.ref, "legal_review")
    assert no_round.value.code == "stage_not_reached"
    with pytest.raises(Refused) as unknown:
        report_for_unit(session, "不存在镇")
    assert unknown.value.code == "unknown_unit"
    session.rollback()
    assert (cycle.stage, len(mails(session, "review_prompt"))) == ("drafting", 0)


def test_a_review_stage_without_an_assigned_reviewer_refuses_the_submission_and_stores_nothing(
        session, settings, county, cycle):
    from models.tables import Assignment

    for a in session.exec(select(Assignment).where(Assignment.unit_id == cycle.unit_id,
                                                   Assignment.role == "legal_advisor")):
        session.delete(a)
    session.commit()
    with pytest.raises(Refused) as refused:
        submit_draft(session, settings, cycle, draft(), "张伟")
    assert refused.value.code == "missing_role"
    session.rollback()
    assert session.exec(select(func.count()).select_from(ReportVersion)).one() == 0
    assert session.get(Report, cycle.id).stage == "drafting"


def test_every_transition_writes_an_audit_event(session, settings, county, cycle):
    submit_draft(session, settings, cycle, draft(), "张伟")
    session.commit()
    decide(session, settings, cycle.ref, "return", "请修改。")
    events = session.exec(select(AuditEvent).where(AuditEvent.report_id == cycle.id).order_by(AuditEvent.id)).all()
    assert [(e.action, e.from_stage, e.to_stage) for e in events] == [
        ("report_opened", None, "drafting"),
        ("submit", "drafting", "legal_review"),
        ("return", "legal_review", "drafting"),
    ]
    assert events[-1].actor == "吴协调" and events[-1].detail["via"] == "phone"
    assert session.exec(select(Person).where(Person.email == "chen.lawyer@lvshi-a.example.cn")).one()
