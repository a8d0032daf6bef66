"""What changed between versions, as a reviewer reads it in the prompt for version n > 1: a readable
paragraph diff that handles Chinese, and the comment of the round that sent the report back."""

from __future__ import annotations

from sqlmodel import select

from documents.diff import changes
from documents.reading import read_draft
from models.tables import OutboxMessage
from services.cycle import open_cycle
from services.decisions import record_decision
from services.drafts import submit_draft
from services.stages import find_report, open_round_of
from tests.conftest import report_of
from tests.drafts import DRAFT

V1 = """一、主要举措和成效
全年共办理行政复议案件12件。
开展法治宣传活动20场。
二、存在的不足和原因
执法人员业务水平有待提高。
四、下一年度主要安排
继续加强执法队伍建设。"""

V2 = """一、主要举措和成效
全年共办理行政复议案件15件，纠错2件。
开展法治宣传活动20场。
二、存在的不足和原因
执法人员业务水平有待提高。
原因：培训经费不足，年轻执法人员比例高。
四、下一年度主要安排"""


def test_an_edited_paragraph_shows_its_deleted_and_inserted_characters():
    found = changes(V1, V2)
    assert [c.kind for c in found] == ["edited", "added", "removed"]
    edited = found[0]
    assert edited.text == "全年共办理行政复议案件15件，纠错2件。"
    assert "".join(part for how, part in edited.pieces if how != "del") == edited.text
    assert "".join(part for how, part in edited.pieces if how != "ins") == "全年共办理行政复议案件12件。"
    assert found[1].text == "原因：培训经费不足，年轻执法人员比例高。"
    assert found[2].text == "继续加强执法队伍建设。"


def test_an_edit_reads_as_whole_phrases_not_scattered_characters():
    [edited] = changes("四、安排\n继续加强执法队伍建设。", "四、安排\n继续加强行政执法人员培训。")
    # not 继续加强〔增：行政〕执法〔删：队伍建设〕〔增：人员培训〕。 — one phrase replaced by another
    assert edited.pieces == (("same", "继续加强"), ("del", "执法队伍建设"), ("ins", "行政执法人员培训"), ("same", "。"))


def test_whitespace_and_blank_lines_are_not_changes():
    assert changes(V1, "\n\n" + V1.replace("\n", "\n\n").replace("。", "。  ")) == []


def test_a_rewritten_paragraph_is_a_removal_and_an_addition_not_an_edit():
    found = changes("一、概述\n今年工作平稳。", "一、概述\n全县依法行政水平显著提升，群众满意度达到95%。")
    assert [c.kind for c in found] == ["removed", "added"]


def prompts(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "review_prompt")
                             .order_by(OutboxMessage.id)))


def decide(session, settings, ref, decision, comment=""):
    rnd = open_round_of(session, find_report(session, ref))
    record_decision(session, settings, rnd.id, decision, comment=comment, via="phone",
                    actor="吴协调")
    session.commit()


def test_the_prompt_for_a_revised_version_shows_the_changes_since_the_reviewers_last_version_and_the_return(
        session, settings, county):
    open_cycle(session, settings, 2026)
    report = report_of(session, county["yehe"])
    submit_draft(session, settings, report, read_draft("报告.md", DRAFT.encode()), "张伟")
    session.commit()
    [first] = prompts(session)
    assert "上次审阅" not in first.body_text  # the first version: nothing to compare with
    decide(session, settings, report.ref, "return", "请补充不足的原因分析。")
    revised = (DRAFT.replace("审查规范性文件12件", "审查规范性文件15件，纠错2件")
               .replace("培训不足。\n", "培训不足。\n年轻执法人员比例高，经验不足。\n"))
    submit_draft(session, settings, report, read_draft("报告.md", revised.encode()), "张伟")
    session.commit()
    second = prompts(session)[-1]
    text = second.body_text
    assert "上一轮退回意见（陈律师，法律顾问审核）：\n请补充不足的原因分析。" in text
    assert "与您上次审阅的第1稿相比，第2稿的修改如下" in text
    assert "～ 修改：全年审查规范性文件1〔增：5件，纠错〕2件，开展法治宣传活动20场。" in text
    assert "＋ 新增：年轻执法人员比例高，经验不足。" in text
    assert text.index("第2稿的修改如下") < text.index("审核码")
    assert "<ins style=\"background: #e6ffe6;\">5件，纠错</ins>" in second.body_html

    decide(session, settings, report.ref, "approve")  # to the committee: its first look, no diff
    committee = prompts(session)[-1]
    assert "上次审阅" not in committee.body_text and "上一轮退回意见" not in committee.body_text
