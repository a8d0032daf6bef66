"""The documents where the chain uses them: the drafting kit on the kickoff mail, and the renderings of
the approved version (the filing attachment, `reportchain render` for the website)."""

from __future__ import annotations

import email
from email import policy

from bs4 import BeautifulSoup
from sqlmodel import select

from documents.reading import read_draft
from models.tables import AuditEvent, InboundOutcome, OutboxMessage, ReportVersion
from notifications.mailbox import FolderInbox
from services.cycle import open_cycle
from services.replies import intake
from tests.conftest import report_of, write_draft
from tests.drafts import DRAFT
from tests.replies_kit import drop, reply_to
from tests.test_cli import advance, cli, ok, refused, stage_of


def test_the_kickoff_attaches_the_units_skeleton_with_the_five_contents(session, settings, county):
    open_cycle(session, settings, 2026)
    session.commit()
    kickoff = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "kickoff")).first()
    message = email.message_from_bytes(kickoff.raw, policy=policy.default)
    [attachment] = [a for a in message.iter_attachments() if a.get_content_type() != "text/calendar"]
    assert attachment.get_filename() == "野鹤镇2026年度法治政府建设年度报告（模板）.docx"
    lines = read_draft("t.docx", attachment.get_content()).text.splitlines()
    assert lines[0] == "野鹤镇关于2026年度法治政府建设情况的报告"
    assert "中共青山县委、青山县人民政府：" in lines
    headings = [line for line in lines if line[:2] in ("一、", "二、", "三、", "四、", "五、")]
    assert [h[:2] for h in headings] == ["一、", "二、", "三、", "四、", "五、"]
    assert "2026年" in headings[0] and "2027年" in headings[3]
    assert "附件是本单位的报告模板" in kickoff.body_text


def test_render_writes_the_approved_version_as_a_word_file_and_a_web_page(county, settings, session, tmp_path):
    advance(tmp_path, "committee_review")
    refused(cli("render", "R-2026-001", "--out", tmp_path / "out"), "党委审议通过后才有定稿可以生成")
    ok(cli("decide", "R-2026-001", "approve", "--stage", "committee_review"))
    ok(cli("file", "R-2026-001"))
    said = ok(cli("render", "R-2026-001", "--out", tmp_path / "out"))
    assert "已生成报告 R-2026-001 定稿（第1稿）" in said
    docx = tmp_path / "out" / "野鹤镇2026年度法治政府建设年度报告.docx"
    page = tmp_path / "out" / "野鹤镇2026年度法治政府建设年度报告.html"
    [filing] = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "filing")).all()
    [filed] = [a for a in email.message_from_bytes(filing.raw, policy=policy.default).iter_attachments()]
    assert docx.read_bytes() == filed.get_content()  # the same document as the one filed
    text = read_draft(docx.name, docx.read_bytes()).text
    # the draft's own title is kept, the 主送 it lacked is added
    assert text.splitlines()[:2] == ["野鹤镇关于2026年度法治政府建设情况的报告", "中共青山县委、青山县人民政府："]
    assert soup_title(page) == "野鹤镇关于2026年度法治政府建设情况的报告"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    assert "<script" not in page.read_text(encoding="utf-8")
    assert soup.html["lang"] == "zh-CN"
    assert [h.get_text() for h in soup.find_all("h2")][:1] == ["一、2026年推进法治政府建设的主要举措和成效"]


def soup_title(page) -> str:
    return BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").find("h1").get_text().strip()


LEADERS = "三、党政主要负责人履行推进法治建设第一责任人职责情况\n主要负责人主持召开专题会议研究法治建设工作3次。\n"
MISSING = DRAFT.replace(LEADERS, "").replace("12件", "XX件")  # a content left out, a placeholder left in
NO_CAUSES = DRAFT.replace("。原因是专职人员编制少、培训不足。", "，干部法治素养有待提高。")


def test_a_draft_with_errors_stays_in_drafting_and_the_drafter_is_told_what_to_fix(county, settings, session,
                                                                                   tmp_path):
    ok(cli("cycle", "open", 2026))
    path = write_draft(tmp_path, "野鹤镇报告.md", MISSING)
    said = cli("draft", "submit", "yehe", path)
    assert said.exit_code == 1 and "第1稿已保存，但检查发现以下问题，暂未送法律顾问审核" in said.output
    assert stage_of("R-2026-001") == "drafting"
    [version] = session.exec(select(ReportVersion)).all()
    assert {f["code"] for f in version.findings if f["severity"] == "error"} == {"missing_element", "placeholder"}
    [mail] = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "draft_problems")).all()
    assert "zhangwei@" in mail.to_addrs and "暂未送法律顾问审核" in mail.body_text
    assert "党政主要负责人" in mail.body_text and "XX" in mail.body_text
    assert not session.exec(select(OutboxMessage).where(OutboxMessage.kind == "review_prompt")).all()
    refused(cli("draft", "submit", "yehe", path), "该稿检查发现的问题尚未修改")

    ok(cli("draft", "submit", "yehe", write_draft(tmp_path, "修改稿.md", DRAFT)))  # fixed: goes to review
    assert stage_of("R-2026-001") == "legal_review"


def test_a_coordinator_can_send_a_held_draft_to_review_anyway_and_it_is_audited(county, settings, session, tmp_path):
    ok(cli("cycle", "open", 2026))
    refused(cli("draft", "accept", "R-2026-001", "--by", "吴协调"), "没有因检查问题而暂未送审的稿件")
    cli("draft", "submit", "yehe", write_draft(tmp_path, "野鹤镇报告.md", MISSING))
    assert "已按统筹协调人决定送审" in ok(cli("draft", "accept", "R-2026-001", "--by", "吴协调"))
    assert stage_of("R-2026-001") == "legal_review"
    session.expire_all()
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "submit")).one()
    assert event.actor == "吴协调" and set(event.detail["accepted_despite"]) == {"missing_element", "placeholder"}


def test_warnings_travel_with_the_legal_advisors_prompt(county, settings, session, tmp_path):
    ok(cli("cycle", "open", 2026))
    said = ok(cli("draft", "submit", "yehe", write_draft(tmp_path, "野鹤镇报告.md", NO_CAUSES)))
    assert "检查提示（将随审核请求一并发给法律顾问）" in said
    [prompt] = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "review_prompt")).all()
    assert "系统对本稿的自动检查提示（供审核参考）" in prompt.body_text
    [warning] = [f for f in session.exec(select(ReportVersion)).one().findings]
    assert warning["code"] == "missing_causes" and warning["message"] in prompt.body_text


def test_a_drafter_answering_the_kickoff_with_the_draft_attached_submits_it_and_a_held_one_is_explained(
        session, settings, county):
    open_cycle(session, settings, 2026)
    session.commit()
    kickoffs = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "kickoff")
                            .order_by(OutboxMessage.id)).all()
    yehe, shangshe = kickoffs[0], kickoffs[1]
    drop(settings.inbox_folder, reply_to(yehe, "张伟 <zhangwei@yehe.qingshan.example.gov.cn>", "初稿见附件。",
                                         attachments=(("野鹤镇报告.md", DRAFT.encode()),)))
    held = MISSING.replace("野鹤镇", "上社镇").encode()
    drop(settings.inbox_folder, reply_to(shangshe, "李强 <liqiang@shangshe.qingshan.example.gov.cn>", "初稿见附件。",
                                         attachments=(("上社镇报告.md", held),)))
    assert intake(session, settings, FolderInbox(settings.inbox_folder)).outcomes == {InboundOutcome.NEW_VERSION: 2}
    assert report_of(session, county["yehe"]).stage == "legal_review"
    assert report_of(session, county["shangshe"]).stage == "drafting"  # held: the check found errors
    kinds = [m.kind for m in session.exec(select(OutboxMessage).where(OutboxMessage.id > kickoffs[-1].id))]
    assert sorted(kinds) == ["draft_problems", "draft_received", "review_prompt"]
