"""Hostile and oversized drafts (issue 11 §5) are refused with a Chinese message that names the limit, by
`reportchain check` and by mail intake alike (the drafter is told, the report does not move); a big
genuine report still reads; a diff too large to read in a mail says so instead of listing it.

Each hostile file is built just past a limit the test sets through the environment, as an installation
would in .env, so that every test runs in a moment; bench/hostile_files.py refuses the full-size ones."""

from __future__ import annotations

import pytest
from sqlmodel import select

from core.settings import load_settings
from documents.diff import changes
from documents.reading import read_draft
from models.tables import InboundMessage, InboundOutcome, OutboxMessage, Report
from notifications.mailbox import FolderInbox
from services.drafts import submit_draft
from services.replies import intake
from tests.drafts import DRAFT
from tests.replies_kit import drop, reply_to
from tests.security import hostile_docs as hostile
from tests.test_cli import cli, refused

ADVISOR = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
DRAFTER = "张伟 <zhangwei@yehe.qingshan.example.gov.cn>"


def latest(session, kind: str) -> OutboxMessage:
    session.expire_all()
    newest_first = OutboxMessage.id.desc()
    return session.exec(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(newest_first)).first()


def refused_everywhere(session, settings, yehe, tmp_path, name: str, data: bytes, text: str) -> None:
    """`reportchain check` exits 1 with `text`; mailed by the drafter under the return notice, the file is
    refused with the same text in the answer, the message kept as draft_refused, the report unmoved."""
    path = tmp_path / name
    path.write_bytes(data)
    refused(cli("check", path), text)

    report, _, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    intake(session, settings, FolderInbox(settings.inbox_folder))
    returned = latest(session, "returned")
    drop(settings.inbox_folder, reply_to(returned, DRAFTER, "修改稿见附件。", attachments=((name, data),)))
    assert intake(session, settings, FolderInbox(settings.inbox_folder)).outcomes == {InboundOutcome.DRAFT_REFUSED: 1}
    session.expire_all()
    assert session.get(Report, report.id).stage == "drafting"
    answer = latest(session, "draft_received")
    assert "zhangwei@" in answer.to_addrs and "未能接收" in answer.subject
    assert text in answer.body_text
    kept = session.exec(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
    assert kept.outcome == InboundOutcome.DRAFT_REFUSED and kept.raw  # kept whole, for the coordinator


def test_a_paragraph_bomb_is_refused(session, settings, yehe, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_DRAFT_MAX_PARAGRAPHS", "1000")
    refused_everywhere(session, settings, yehe, tmp_path, "段落炸弹.docx", hostile.paragraph_bomb(1001),
                       "段落和表格单元格超过 1000 个")


def test_a_run_bomb_is_refused_as_too_complex(session, settings, yehe, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_DRAFT_MAX_ELEMENTS", "5000")
    refused_everywhere(session, settings, yehe, tmp_path, "报告.docx", hostile.run_bomb(5000),
                       "XML 元素或属性超过 5000 个")


def test_an_attribute_bomb_is_refused_as_too_complex(session, settings, yehe, tmp_path):
    """A start tag is parsed whole: 1.5 MB of attributes in one tag is refused before it is."""
    refused_everywhere(session, settings, yehe, tmp_path, "报告.docx", hostile.attribute_bomb(170_000),
                       "XML 元素或属性超过 200000 个")


def test_a_huge_text_node_is_refused_before_it_is_unpacked(session, settings, yehe, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_DRAFT_MAX_UNPACKED_MB", "1")
    refused_everywhere(session, settings, yehe, tmp_path, "报告.docx", hostile.huge_text_node(2),
                       "解压后超过 1 MB")


def test_a_billion_laughs_docx_is_refused(session, settings, yehe, tmp_path):
    refused_everywhere(session, settings, yehe, tmp_path, "报告.docx", hostile.billion_laughs(), "DTD")


def test_a_docx_with_an_external_entity_is_refused_and_reads_nothing(session, settings, yehe, tmp_path):
    refused_everywhere(session, settings, yehe, tmp_path, "报告.docx", hostile.external_entity(), "DTD")


def test_a_zip_bomb_part_is_refused_by_its_compression_ratio(session, settings, yehe, tmp_path):
    refused_everywhere(session, settings, yehe, tmp_path, "报告.docx", hostile.zip_bomb_part(5),
                       "压缩比超过 100 倍")


def test_a_zip_whose_headers_lie_about_sizes_is_refused_as_damaged(session, settings, yehe, tmp_path):
    refused_everywhere(session, settings, yehe, tmp_path, "报告.docx", hostile.lying_sizes(100_000), "已损坏")


def test_a_docx_with_too_many_parts_is_refused(session, settings, yehe, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_DRAFT_MAX_PARTS", "50")
    refused_everywhere(session, settings, yehe, tmp_path, "报告.docx", hostile.too_many_parts(50),
                       "包含的文件超过 50 个")


def test_an_oversized_text_file_is_refused_before_it_is_decoded(session, settings, yehe, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_DRAFT_MAX_MB", "1")
    two_mb = DRAFT.encode() * (2 * 2**20 // len(DRAFT.encode()))
    refused_everywhere(session, settings, yehe, tmp_path, "报告.txt", two_mb, "超过 1 MB")


def test_a_mail_too_big_for_any_allowed_draft_is_kept_unread_and_the_drafter_told(
        session, settings, yehe, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_DRAFT_MAX_MB", "1")  # mails above 1 MB in base64 + 2 MB are not parsed
    settings = load_settings()
    report, _, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    intake(session, settings, FolderInbox(settings.inbox_folder))
    big = DRAFT.encode() * (4 * 2**20 // len(DRAFT.encode()))
    raw = reply_to(latest(session, "returned"), DRAFTER, "修改稿见附件。", attachments=(("报告.txt", big),))
    drop(settings.inbox_folder, raw)
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "同意", attachments=(("意见.txt", big),)))
    assert intake(session, settings, FolderInbox(settings.inbox_folder)).outcomes == {InboundOutcome.TOO_LARGE: 2}
    session.expire_all()
    assert session.get(Report, report.id).stage == "drafting"
    kept = session.exec(select(InboundMessage).where(InboundMessage.outcome == InboundOutcome.TOO_LARGE)
                        .order_by(InboundMessage.id)).all()
    assert kept[0].raw == raw and {k.notice for k in kept} == {InboundOutcome.TOO_LARGE}
    answer = latest(session, "draft_received")  # the drafter only: the advisor's mail proves no draft
    assert "zhangwei@" in answer.to_addrs and "超过 1 MB" in answer.body_text


def test_a_text_longer_than_the_limit_is_refused(session, settings, yehe, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTCHAIN_DRAFT_MAX_CHARS", "1000")
    refused_everywhere(session, settings, yehe, tmp_path, "报告.md", (DRAFT * 5).encode(), "超过 1000 字")


def test_a_truncated_docx_is_refused_as_damaged(session, settings, yehe, tmp_path):
    refused_everywhere(session, settings, yehe, tmp_path, "报告.docx", hostile.truncated(), "已损坏")


@pytest.mark.parametrize("fmt", ["lowerLetter", "upperRoman"])
def test_a_list_number_format_cannot_blow_up_the_text(tmp_path, monkeypatch, fmt):
    """A list that starts at 10^9 in letters or Roman numerals would write megabytes per paragraph."""
    monkeypatch.chdir(tmp_path)
    numbering = (f'<w:numbering {hostile.W}><w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="0">'
                 f'<w:start w:val="1000000000"/><w:numFmt w:val="{fmt}"/><w:lvlText w:val="%1."/></w:lvl>'
                 '</w:abstractNum><w:num w:numId="1"><w:abstractNumId w:val="1"/></w:num></w:numbering>')
    paragraph = ('<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr>'
                 '<w:r><w:t>条目</w:t></w:r></w:p>').encode()
    data = hostile.word(hostile.body(paragraph * 3), [("word/numbering.xml", numbering.encode())])
    assert read_draft("报告.docx", data).text.splitlines() == ["1000000000.条目", "1000000001.条目", "1000000002.条目"]


def test_a_big_genuine_report_is_read_whole(tmp_path, monkeypatch):
    """About 300,000 characters (ten times the longest real report) in Word's formatted runs."""
    monkeypatch.chdir(tmp_path)
    lines = hostile.genuine_lines(300_000)
    assert read_draft("报告.docx", hostile.genuine_report(300_000)).text.splitlines() == lines


def test_a_revision_too_large_for_a_mail_says_so_instead_of_listing_it(session, settings, yehe):
    report, _, prompt = yehe
    drop(settings.inbox_folder, reply_to(prompt, ADVISOR, "退回，请补充原因分析。"))
    intake(session, settings, FolderInbox(settings.inbox_folder))
    rewritten = "\n".join(hostile.genuine_lines(20_000, seed=7))  # some hundred new paragraphs
    submit_draft(session, settings, session.get(Report, report.id), read_draft("修改稿.md", rewritten.encode()),
                 "zhangwei@yehe.qingshan.example.gov.cn")
    session.commit()
    prompt2 = latest(session, "review_prompt")
    assert prompt2.id != prompt.id and "第2稿" in prompt2.body_text
    assert "改动较多，请查看附件" in prompt2.body_text
    assert "＋ 新增" not in prompt2.body_text and "改动较多，请查看附件" in prompt2.body_html


def test_a_paragraph_too_long_to_compare_by_character_is_shown_whole():
    """A 30 MB paragraph is not diffed character by character (that ran past 500 s): it reads as one
    paragraph removed and one added."""
    old = "一、概述\n" + "依法行政。" * 300
    new = "一、概述\n" + "依法行政。" * 299 + "依法治理。"
    assert [c.kind for c in changes(old, new)] == ["removed", "added"]
    assert [c.kind for c in changes(old, "一、概述\n" + "依法行政。" * 6_000_000)] == ["removed", "added"]
