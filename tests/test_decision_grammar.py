"""The decision grammar on the reviewer's own words: the traps that would otherwise become a false
approval (negations, hedges, acknowledgements, questions, conditions) and the ways people really
approve or return. The whole-message cases are in the reply corpus (test_reply_corpus.py)."""

from __future__ import annotations

import pytest

from notifications.decision import APPROVE, RETURN, UNCLEAR, read_decision

CASES = {
    "approve": [
        "同意", "同意。", "审核通过", "审议通过。", "无意见", "没问题", "没有问题，可以。", "无异议", "批准",
        "不同意见：无", "不同意见: 无。", "无不同意见", "没有不同意见", "非常同意",
        "原则同意，但第三部分数据需更新", "同意，但请修改第二部分措辞", "原则同意，建议第二部分补充数据来源",
        "经镇党委会议审议，同意。", "是否同意：同意", "OK", "OK的", "可以。", "好的，可以，谢谢",
        "Approved.", "I agree", "Looks good, approved", "Approved, but please fix the typo in section 2",
        "退回。\n\n更正：看错了，同意",
    ],
    "return": [
        "退回", "退回，第二部分缺少原因分析", "不同意，请补充", "驳回", "打回重写", "审核未通过", "不太同意",
        "不予通过", "别通过", "不可以", "第二部分需补充原因分析", "Rejected - missing section 3",
        "Not OK, please revise section 2", "I don't approve this version", "I don’t agree",
        "No, I do not approve", "同意。更正：退回，第三部分需补充", "难以同意。", "恕难同意。", "这个我同意不了。",
        "拒绝批准。", "反对通过。", "Unable to approve.", "I refuse to approve this version.", "Never approved.",
    ],
    "unclear": [
        "", "收到", "已阅", "好的，我看一下", "稍后回复", "OK，我明天再看", "我看可以",
        "OK, but please revise section 2", "可以，但请修改第二部分", "可以通过吗？", "OK?", "是否同意？",
        "如果数据无误则同意", "修改后同意", "同意退回", "请修改后报送。同意", "不是很同意", "不过同意",
        "I do not really agree", "没有不同意", "未经同意不得转发", "已通过邮件发送修改意见，详见附件",
        "不同意见：第三部分数据需核实", "同意。看错了",
    ],
}



@pytest.mark.parametrize(("expected", "text"), [(d, t) for d, texts in CASES.items() for t in texts])
def test_the_reviewers_words_are_read_as(expected, text):
    assert read_decision(text) == expected


# The confidentiality review (保密审查) answers 同意公开 / 不同意公开: a negation of publishing is never an approval.
CLEARANCE_CASES = {
    APPROVE: ["同意公开", "同意公开。", "经审查，无不宜公开内容。同意公开。", "同意公开，建议删去个人电话"],
    RETURN: ["不同意公开", "不宜公开", "不宜公开，第三部分涉及内部数据", "不予公开", "不得公开", "暂不公开",
             "不同意公开，涉及敏感信息"],
    UNCLEAR: ["同意公开吗？", "领导同意公开", "修改后同意公开", "同意不公开", "是否不宜公开？"],
}


@pytest.mark.parametrize(("expected", "text"), [(d, t) for d, texts in CLEARANCE_CASES.items() for t in texts])
def test_confidentiality_answers(expected, text):
    assert read_decision(text) == expected
