"""Reading the writer's own words out of a reply: bottom posting under our prompt, the prompt's text used to
recognise its quoted lines, and bodies too long to read to the end. Each rule that lets a reply decide has
its attack beside it: a decision word in somebody else's quote, or in text left unread, must never approve.

(The peers' score and the reader's speed on a 1 MB pathological body are measured by `make bench`:
bench/reply_reader.py and ../shared/peers/score.py.)
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlmodel import select

from models.chain import Stage
from models.tables import InboundMessage, InboundOutcome, Report
from notifications.decision import APPROVE, UNCLEAR, has_decision_word
from notifications.mailbox import FolderInbox
from notifications.mailtext import LINE_LIMIT, READ_LIMIT, own_text
from notifications.reply import read_reply
from services.replies import intake
from tests.replies_kit import drop

ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
PROMPT = ("##- 请在此行以上回复 -##\n\n陈律师：\n\n您好！野鹤镇2026年度法治政府建设年度报告（第1稿）已提交，"
          "请您进行法律顾问审核。报告全文见附件。\n\n请于 2026年12月31日 前直接回复本邮件：\n"
          "  同意 —— 回复“同意”，如有意见可一并写明（如“原则同意，建议……”）；\n"
          "  退回 —— 回复“退回”，并写明需要修改的内容。\n\n审核码：K7QM2P\n\n青山县委依法治县办\n")


def mail(body: str, in_reply_to: str = "<rc.prompt@qingshan.example.gov.cn>",
         subject: str = "Re: [#R-2026-001] 请审核") -> bytes:
    msg = EmailMessage()
    msg["From"] = ADVISOR
    msg["To"] = "fzb@qingshan.example.gov.cn"
    msg["Subject"] = subject
    msg["Message-ID"] = "<reading@lvshi-a.example.cn>"
    msg["In-Reply-To"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def bottom_posted(prompt: str, answer: str, *, cut_first_line: bool = True, foreign: tuple[str, ...] = ()) -> str:
    """Thunderbird's bottom posting: an attribution, the prompt quoted with "> " (its first line cut, as some
    clients do), lines of somebody else's mail quoted among them, then the writer's answer below."""
    lines = prompt.rstrip("\n").split("\n")[2 if cut_first_line else 0:]
    quoted = [("> " + x).rstrip() for x in lines[:3] + list(foreign) + lines[3:]]
    return ("在 2026/12/20 9:13, 青山县委依法治县办 写道:\n" + "\n".join(quoted) + f"\n\n{answer}\n\n-- \n陈明\n")


# ---------------------------------------------------------------- bottom posting under our prompt


def test_a_bottom_posted_agree_under_our_prompt_with_its_first_line_cut_approves_when_the_prompt_is_known():
    raw = mail(bottom_posted(PROMPT, "同意"))
    assert read_reply(raw).decision == UNCLEAR  # whose quote is it? without the prompt it cannot be told
    reply = read_reply(raw, original=PROMPT)
    assert (reply.decision, reply.comment) == ("approve", "同意")


@pytest.mark.parametrize("foreign", [
    ("同意",),  # a line of somebody else's answer quoted inside our prompt's quote
    ("> 同意",),  # an older reply quoted at depth two
    ("王科长：同意，请上报。",),
    ("审核通过",),
])
def test_a_foreign_quoted_line_above_a_bottom_posted_decision_never_approves(foreign):
    raw = mail(bottom_posted(PROMPT, "同意", foreign=foreign))
    assert read_reply(raw, original=PROMPT).decision != "approve"
    assert read_reply(raw).decision != "approve"


def test_our_first_line_quoted_does_not_vouch_for_an_older_reply_quoted_at_depth_two():
    # without the prompt's text, a quoted "##- 请在此行以上回复 -##" makes the quote ours, unless something in it
    # is quoted again: our prompt never quotes anything
    raw = mail(bottom_posted(PROMPT, "同意", cut_first_line=False))
    assert read_reply(raw).decision == "approve"
    raw = mail(bottom_posted(PROMPT, "同意", cut_first_line=False, foreign=("> 王科长：同意，请上报。",)))
    assert read_reply(raw).decision == UNCLEAR


def test_a_table_rule_in_the_writers_text_is_not_a_separator():
    table = "| year | cases |\n|------|-------|\n| 2025 | 85 |\n"
    reply = read_reply(mail("Approved, but please fix the table:\n\n" + table))
    assert reply.decision == "approve"
    assert "| 2025 | 85 |" in reply.comment


def test_the_prompts_own_decision_words_quoted_without_the_writers_answer_never_approve():
    raw = mail(bottom_posted(PROMPT, "收到，我看一下。"))
    reply = read_reply(raw, original=PROMPT)
    assert reply.decision == UNCLEAR
    assert not has_decision_word(reply.comment), reply.comment


def test_a_bottom_posted_return_under_our_prompt_returns_with_its_comment():
    reply = read_reply(mail(bottom_posted(PROMPT, "退回，第三部分缺少原因分析。")), original=PROMPT)
    assert (reply.decision, reply.comment) == ("return", "退回，第三部分缺少原因分析。")


def test_a_decision_right_under_a_quoted_line_is_unclear_even_under_our_prompt():
    # no blank line between: the client may have wrapped a quoted line ("原则同意，建议……" is in our prompt)
    body = bottom_posted(PROMPT, "同意").replace("\n\n同意", "\n同意")
    assert read_reply(mail(body), original=PROMPT).decision == UNCLEAR


# ---------------------------------------------------------------- signatures: what is cut never decides


@pytest.mark.parametrize("footer", ["-- ", "发自我的iPhone", "Sent from my iPhone", "本邮件及其附件含有保密信息。",
                                    "————————\n陈明\n电话：0731-88881234", "陈明\n电话：0731-88881234"])
def test_a_decision_written_below_a_signature_or_footer_line_is_never_cut_away_unseen(footer):
    reply = read_reply(mail(f"同意\n\n{footer}\n\n更正：退回，第三部分要重写。\n\n" + bottom_posted(PROMPT, "")))
    assert reply.decision != "approve", reply.comment


def test_a_contact_block_above_a_long_disclaimer_is_the_signature():
    disclaimer = "The content of this email is confidential and intended for the recipient only. " * 6
    reply = read_reply(mail("Approved.\n\nKaren Green\nGraphic Designer\nTel: +44 423 4234 2342\nkaren@webby.example\n"
                            "Street 2, City, Zeeland, 4694EG, NL\n\n" + disclaimer + "\n"))
    assert (reply.decision, reply.comment) == ("approve", "Approved.")


# ---------------------------------------------------------------- sign-offs, names and contact blocks by shape

CONTACT = "Chen Ming | Partner\nM. +86 138 0000 1234\n[image: Lvshi A logo]\nRenmin Road 1, Changsha"


@pytest.mark.parametrize(("body", "comment", "decision"), [
    ("Approved.\n\nBest regards,\nChen Ming\nPartner, Lvshi A Law Firm", "Approved.", "approve"),
    ("Approved.\n\nMet vriendelijke groeten,\nChen Ming", "Approved.", "approve"),
    ("退回，第三部分缺少数据分析。\n\n此致\n敬礼！\n\n陈明\n2026年12月20日", "退回，第三部分缺少数据分析。", "return"),
    ("同意。\n\n顺祝商祺！\n王建国\n青山县司法局", "同意。", "approve"),
    ("Approved, no further comments.\n\n-Chen Ming", "Approved, no further comments.", "approve"),
    ("同意。\n\n陈明\n发自我的iPhone", "同意。", "approve"),
    ("Noted, I will read it tonight.\n\nChen Ming\nvia mobile", "Noted, I will read it tonight.", "unclear"),
    ("Please send it back: section 3 needs a rewrite.\n\n" + CONTACT, "Please send it back: section 3 needs a rewrite.",
     "return"),
    ("Approved.\n\n#sig#Chen Ming\n#sig#Partner\n#sig#chen.lawyer@lvshi-a.example.cn\n#sig#www.lvshi-a.example.cn",
     "Approved.", "approve"),
    ("Approved.\n\n----------------\n\nLVSHI_LOGO\n\nChen Ming\n\nPartner\n\nLvshi A Law Firm\n\nt. 0731-8888-1234\n\n"
     "skype: chenming\n\nf. 0731-8888-1235\n\nhttp://lvshi-a.example.cn/", "Approved.", "approve"),
    ("Approved.\n\n-Chen Ming\n\n_______________________________________________\nreviewers mailing list\n"
     "reviewers@lists.example.cn\nhttp://lists.example.cn/mailman/listinfo/reviewers", "Approved.", "approve"),
])
def test_a_sign_off_at_the_end_of_the_writers_text_is_cut_by_its_shape(body, comment, decision):
    for raw in (mail(body), mail(body + "\n\n" + bottom_posted(PROMPT, "").split("\n\n-- ")[0])):
        reply = read_reply(raw)
        assert (reply.comment, reply.decision) == (comment, decision)


@pytest.mark.parametrize("body", [
    "谢谢",  # the writer's only words; and thanks are said to the reader, not a closing formula
    "谢谢！\n陈明",
    "同意。\n\n谢谢！\n陈明",
    "此致\n敬礼！\n陈明",  # a sign-off that is all the reply holds
    "Approved.\n\nSincerely,\nSuper Domain Name Manager",  # four capitalised words: a role, not a name
    "Approved.\n\nBest regards\n\nChen Ming",  # no comma and a line apart: a closing line, then a line of its own
    "Approved, but fix these:\n\n- Table Three\n- Section Two",
])
def test_lines_that_only_resemble_a_sign_off_are_kept(body):
    assert read_reply(mail(body)).comment == body


@pytest.mark.parametrize(("body", "kept", "decision"), [
    ("收到。\n\n此致\n敬礼！\n陈明\n退回，第三部分需重写。", "退回，第三部分需重写。", "return"),  # below the name
    ("此致\n敬礼！\n\n另：第三部分请退回修改。", "退回", "return"),  # a valediction, then a sentence that returns
    ("Noted.\n\nBest regards,\nNot Approved", "Not Approved", "return"),  # a name-shaped decision
    ("Noted.\n\nBest regards,\nApproved", "Approved", "approve"),
    ("收到。\n\n顺祝商祺！\n同意", "同意", "approve"),
    ("Read it.\n\nOK\nSent from my iPhone", "OK", "unclear"),  # a name-shaped "OK" above a phone footer
    ('Noted.\n\nRegards,\n"OK" Chen', '"OK" Chen', "unclear"),  # a quoted word is no tag to read a line without
    ("第三部分已看。\n\n" + CONTACT + "\n不同意", "不同意", "return"),  # a decision at the end of a contact block
])
def test_a_sign_off_like_block_holding_a_decision_word_is_never_cut_silently(body, kept, decision):
    reply = read_reply(mail(body))
    assert kept in reply.comment
    assert reply.decision == decision


# ---------------------------------------------------------------- a header with nothing of the writer's above it


def test_a_forward_with_nothing_written_above_it_shows_its_text_but_never_decides():
    body = ("---------- Forwarded message ---------\nFrom: 王科长 <wang@qingshan.example.gov.cn>\n"
            "Date: Sun, Dec 20, 2026 at 9:00 AM\nSubject: 请审核\nTo: 陈明 <chen.lawyer@lvshi-a.example.cn>\n\n"
            "同意，请上报。\n\n第三部分的数据来源见附件。\n")
    reply = read_reply(mail(body))
    assert (reply.comment, reply.decision) == ("同意，请上报。\n\n第三部分的数据来源见附件。", UNCLEAR)
    assert reply.under_header  # the console and `replies parse` say it may be the forwarded original's


@pytest.mark.parametrize("answer", ["Approved.", "同意", "审核通过。", "退回，第三部分重写。", "不同意"])
def test_an_answer_below_an_attribution_at_the_top_is_shown_but_never_decides(answer):
    # Polymail and some mobile clients put "On … wrote:" above the text; the text may as well be the original's
    body = ("On Sun, Dec 20, 2026 at 9:13 AM 青山县委依法治县办\n<fzb@qingshan.example.gov.cn> wrote:\n\n"
            f"{answer}\n\nSection 3 needs its sources.\n")
    reply = read_reply(mail(body))
    assert (reply.comment, reply.decision, reply.under_header) == (
        f"{answer}\n\nSection 3 needs its sources.", UNCLEAR, True)


def test_text_under_a_top_attribution_with_a_quote_below_is_shown_whole_and_decides_nothing():
    # the peers' shape (discourse embedded_email_17): a top attribution, the answer, then an older quote
    body = ("On 15 May 2026 19:32, \"王科长\" <wang@qingshan.example.gov.cn> wrote:\n\n"
            "退回的理由是第三部分没有数据。\n\n"
            "On 8 May 2026 6:51 pm, \"陈明\" <chen.lawyer@lvshi-a.example.cn> wrote:\n\n"
            "> 同意\n>\n第三部分的数据我已核对。\n")
    reply = read_reply(mail(body))
    assert "退回的理由是第三部分没有数据。" in reply.comment and "第三部分的数据我已核对。" in reply.comment
    assert "> 同意" not in reply.comment and "wrote" not in reply.comment
    assert (reply.decision, reply.under_header) == (UNCLEAR, True)


def test_a_reply_written_above_a_quote_is_not_under_a_header():
    reply = read_reply(mail("同意。\n\nOn Sun, Dec 20, 2026 at 9:13 AM 青山县委依法治县办 "
                            "<fzb@qingshan.example.gov.cn> wrote:\n> 请审核\n"))
    assert (reply.comment, reply.decision, reply.under_header) == ("同意。", "approve", False)


def test_a_message_that_starts_with_its_own_header_block_keeps_the_text_below_it():
    body = ("发件人：陈明 <chen.lawyer@lvshi-a.example.cn>\n发送时间：2026年12月20日 10:00\n主题：回复：请审核\n\n"
            "陈主任：\n\n报告已收到，我看一下。\n")
    reply = read_reply(mail(body))
    assert (reply.comment, reply.decision) == ("陈主任：\n\n报告已收到，我看一下。", UNCLEAR)


def test_a_lone_from_line_at_the_top_is_still_the_quoted_originals():
    reply = read_reply(mail("From: 王科长 <wang@qingshan.example.gov.cn>\n\n同意\n"))
    assert (reply.comment, reply.decision) == ("", UNCLEAR)


def test_an_attribution_on_the_writers_last_line_is_split_off():
    body = ("Approved, thanks. On Sun, Dec 20, 2026 at 9:13 AM Qingshan <fzb@qingshan.example.gov.cn> wrote:\n"
            "> 请审核\n\nSee section 3 too.\n")
    reply = read_reply(mail(body))
    assert (reply.comment, reply.decision) == ("Approved, thanks.\n\nSee section 3 too.", "approve")


# ---------------------------------------------------------------- bodies too long to read to the end


def test_a_correction_left_unread_below_a_long_text_never_lets_the_approval_above_it_stand():
    filler = "第三部分的数据来源需要再说明一下，这里先写下我的看法。\n" * (READ_LIMIT // 25)
    reply = read_reply(mail("同意\n\n" + filler + "\n更正：退回，第三部分要重写。\n"))
    assert reply.decision == UNCLEAR


def test_an_agree_over_a_huge_unprefixed_original_still_approves():
    # the original starts within what is read (a header block): the rest of the megabyte is its quote
    original = ("-----原始邮件-----\n发件人: 青山县委依法治县办 <fzb@qingshan.example.gov.cn>\n"
                "发送时间: 2026年12月20日 9:13\n收件人: 陈律师 <chen.lawyer@lvshi-a.example.cn>\n主题: 请审核\n\n"
                + "报告正文，不是回复。\n" * 60_000)
    reply = read_reply(mail("同意\n\n" + original))
    assert (reply.decision, reply.comment) == ("approve", "同意")


def test_an_answer_below_more_quoted_lines_than_are_read_decides_nothing():
    body = "同意\n\n" + "> 报告正文\n" * (LINE_LIMIT + 10) + "\n更正：退回\n"
    own = own_text(body, has_decision_word)
    assert own.overlong
    assert read_reply(mail(body)).decision == UNCLEAR


def test_a_reply_asking_the_grammar_about_too_much_text_decides_nothing():
    # below somebody else's quote every paragraph is asked whether it holds a decision word; past a budget
    # the reply is overlong rather than slow
    body = "> 一封别人的邮件\n\n" + "\n\n".join(f"第{i}段：数据需要核实，情况说明如下。" for i in range(3_000))
    own = own_text("同意\n\n" + body, has_decision_word)
    assert own.overlong
    assert read_reply(mail("同意\n\n" + body)).decision == UNCLEAR


# ---------------------------------------------------------------- the intake reads with the round's prompt


def take_in(session, settings):
    return intake(session, settings, FolderInbox(settings.inbox_folder))


def outcome(session, report) -> tuple[str, str, str]:
    session.expire_all()
    [row] = session.exec(select(InboundMessage)).all()
    return row.outcome, row.decision, session.get(Report, report.id).stage


def test_the_intake_applies_a_bottom_posted_agree_under_our_prompt_with_its_first_line_cut(session, settings, yehe):
    report, rnd, prompt = yehe
    drop(settings.inbox_folder, mail(bottom_posted(prompt.body_text, "同意"), in_reply_to=prompt.message_id,
                                     subject="Re: " + prompt.subject))
    take_in(session, settings)
    assert outcome(session, report) == (InboundOutcome.APPLIED, APPROVE, Stage.COMMITTEE_REVIEW)


def test_the_intake_never_applies_an_agree_below_a_foreign_quoted_agree(session, settings, yehe):
    report, rnd, prompt = yehe
    body = bottom_posted(prompt.body_text, "同意", foreign=("同意",))
    drop(settings.inbox_folder, mail(body, in_reply_to=prompt.message_id, subject="Re: " + prompt.subject))
    take_in(session, settings)
    assert outcome(session, report) == (InboundOutcome.UNCLEAR, UNCLEAR, Stage.LEGAL_REVIEW)
