"""Chains as configuration (REPORTCHAIN_CHAINS_FILE, examples/chains.yaml), on SQLite and PostgreSQL: each
shipped chain driven end to end by reviewers' replies, with its own stage names in every prompt and receipt;
a chain file changed or emptied mid-cycle moves no running report, while the next cycle takes it; budgets
from the chain; a roster refused for an unknown chain or a missing actor of the unit's chain; and every
mistake in a chain file refused with a Chinese message that names its line."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from core.settings import PROJECT_ROOT
from core.texts import message
from documents.reading import read_draft
from models.calendar import load_calendar
from models.chain import DEFAULT_CHAIN, Refused
from models.chain_file import ChainFileError, read_chain_file
from models.deadlines import local_day
from models.tables import Cycle, OutboxMessage, Person, Report, Unit
from notifications.backends import MailFolderBackend
from notifications.mailbox import FolderInbox
from notifications.outbox import deliver
from reportchain.cli import app
from services.board import rows, status
from services.cycle import open_cycle
from services.drafts import submit_draft
from services.filing import confirm_filings, file_report
from services.reminders import sweep
from services.replies import intake
from services.roster import RosterError, import_roster
from services.stages import chain_of, open_round_of, people_with_role
from tests.conftest import SAMPLE_ROSTER, report_of
from tests.drafts import report_text
from tests.replies_kit import drop, prompt_of, reply_to, to_legal_review

CHAINS_FILE = PROJECT_ROOT / "examples" / "chains.yaml"
SHIPPED = {  # unit code → (its chain in examples/chains.yaml, its review stages and their names there)
    "dongcheng": ("default", [("legal_review", "法律顾问审核"), ("committee_review", "党委审议")]),
    "yehe": ("township", [("legal_review", "法律顾问审核"), ("government_meeting", "政府常务会议审议"),
                          ("committee_review", "党委会议审议")]),
    "sifaju": ("department", [("legal_review", "法规科合法性审查"), ("committee_review", "党组会议审议")]),
    "fengjingqu": ("no_advisor", [("committee_review", "党工委会议审议")]),
}


def with_chains(settings, path: Path | None = CHAINS_FILE):
    return dataclasses.replace(settings, chains_file=path)


def answer(session: Session, settings, report: Report, words: str = "同意。"):
    """The open round's reviewer replies to its prompt; the intake takes the reply in."""
    rnd = open_round_of(session, report)
    prompt = prompt_of(session, rnd)
    reviewer = session.get(Person, rnd.reviewer_id)
    drop(settings.inbox_folder, reply_to(prompt, f"{reviewer.name} <{reviewer.email}>", words))
    intake(session, settings, FolderInbox(settings.inbox_folder))
    session.commit()
    return rnd, prompt


def receipt_of(session: Session, rnd) -> OutboxMessage:
    report = session.get(Report, rnd.report_id)
    key = f"receipt:{report.ref}:{rnd.stage}:{rnd.number}"
    return session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).one()


def opened(session: Session, settings, year: int = 2026) -> None:
    open_cycle(session, settings, year)
    session.commit()


# --- each shipped chain, end to end by reply --------------------------------------------------------


@pytest.mark.parametrize("code", list(SHIPPED))
def test_each_shipped_chain_runs_end_to_end_by_reply_with_its_own_stage_names(session, settings, county, code,
                                                                               tmp_path):
    settings = with_chains(settings)
    opened(session, settings)
    chain_name, reviews = SHIPPED[code]
    report = report_of(session, county[code])
    assert report.chain == chain_name

    to_legal_review(session, settings, report)  # the draft goes to the chain's first review
    for stage, label in reviews:
        assert report.stage == stage
        rnd, prompt = answer(session, settings, report)
        assert rnd.stage == stage and rnd.decision == "approve" and rnd.decided_via == "email"
        assert label in prompt.subject and f"请您进行{label}" in prompt.body_text
        receipt = receipt_of(session, rnd)
        assert f"的{label}意见已记录：同意" in receipt.body_text
    assert report.stage == "filing"
    prompted = session.exec(select(OutboxMessage.subject).where(OutboxMessage.kind == "review_prompt",
                                                                OutboxMessage.report_id == report.id)).all()
    assert len(prompted) == len(reviews)  # no stage the chain does not have, e.g. no legal review for 风景区

    file_report(session, settings, report)
    session.commit()
    assert deliver(session, settings, MailFolderBackend(tmp_path / "out")).sent > 0
    assert confirm_filings(session, settings) == [report.ref]
    session.commit()
    assert report.stage == "confidentiality_review"  # filed, and at once with the unit's reviewer


def test_a_return_in_the_extra_review_stage_goes_back_to_the_drafters_under_its_own_name(session, settings, county):
    settings = with_chains(settings)
    opened(session, settings)
    report = report_of(session, county["yehe"])
    to_legal_review(session, settings, report)
    answer(session, settings, report)
    rnd, _ = answer(session, settings, report, "退回，请补充政府常务会议研究的事项。")
    assert (rnd.stage, rnd.decision, report.stage) == ("government_meeting", "return", "drafting")
    returned = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "returned")).one()
    assert "在政府常务会议审议环节被退回" in returned.body_text


def test_filing_too_early_names_the_chain_s_last_review(session, settings, county):
    settings = with_chains(settings)
    opened(session, settings)
    report = report_of(session, county["yehe"])
    to_legal_review(session, settings, report)
    answer(session, settings, report)  # the legal review approves: the 政府常务会议 reviews next
    with pytest.raises(Refused) as early:
        file_report(session, settings, report)
    assert message(f"refused.{early.value.code}", **early.value.params) == (
        f"报告 {report.ref} 当前处于“政府常务会议审议”环节，只有党委会议审议通过后才能报送。")


def test_a_review_budget_of_the_chain_sets_the_due_date_of_its_prompt_and_reminders(session, settings, county):
    """The department's 法规科 has 3 working days (examples/chains.yaml); a township's advisor the policy's 5."""
    settings = with_chains(settings)
    opened(session, settings)
    calendar = load_calendar(session)
    for code, days in (("sifaju", 3), ("yehe", 5)):
        rnd = to_legal_review(session, settings, report_of(session, county[code]))
        due = calendar.add_working_days(local_day(rnd.opened_at, "Asia/Shanghai"), days)
        assert f"{due.year}年{due.month}月{due.day}日" in prompt_of(session, rnd).body_text, code

    sifaju = report_of(session, county["sifaju"])
    rnd = open_round_of(session, sifaju)
    due = calendar.add_working_days(local_day(rnd.opened_at, "Asia/Shanghai"), 3)
    sweep(session, settings, datetime.combine(due, time(9), ZoneInfo("Asia/Shanghai")))
    session.commit()
    advisor = people_with_role(session, county["sifaju"].id, DEFAULT_CHAIN[1].actor)[0]
    reminders = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder",
                                                         OutboxMessage.to_addrs.contains(advisor.email))).all()
    assert any(f"[#{sifaju.ref}]" in m.body_text and "完成法规科合法性审查" in m.body_text for m in reminders)


def test_each_kickoff_lists_the_reviews_of_its_unit_s_chain_with_their_budgets(session, settings, county):
    opened(session, with_chains(settings))
    kickoff = {code: session.exec(select(OutboxMessage.body_text).where(
        OutboxMessage.kind == "kickoff", OutboxMessage.report_id == report_of(session, county[code]).id)).one()
        for code in SHIPPED}
    assert "政府常务会议审议：收到审核请求后 5 个工作日内" in kickoff["yehe"]
    assert "法规科合法性审查：收到审核请求后 3 个工作日内" in kickoff["sifaju"]
    assert "法律顾问审核：收到审核请求后 5 个工作日内" in kickoff["dongcheng"]
    assert "法律顾问审核" not in kickoff["fengjingqu"]
    assert "党工委会议审议：收到审核请求后 7 个工作日内" in kickoff["fengjingqu"]


# --- a chain file changed mid-cycle ----------------------------------------------------------------

CHANGED = """\
chains:
  township:
    kinds: [township]
    stages:
      - {id: drafting, label: 起草, kind: draft, actor: drafter}
      - {id: legal_review, label: 法律顾问审核, kind: review, actor: legal_advisor}
      - {id: committee_review, label: 镇党委会议审议, kind: review, actor: approval_contact}
      - {id: filing, label: 待报送, kind: filing}
      - {id: filed, label: 已报送, kind: filed}
      - {id: confidentiality_review, label: 保密审查, kind: confidentiality, actor: confidentiality_reviewer}
      - {id: published, label: 已公开, kind: done}
"""


def test_a_chain_file_changed_mid_cycle_moves_no_running_report_and_the_next_cycle_takes_it(
        session, settings, county, tmp_path):
    opened(session, with_chains(settings))
    yehe, sifaju = (report_of(session, county[code]) for code in ("yehe", "sifaju"))
    to_legal_review(session, with_chains(settings), yehe)
    to_legal_review(session, with_chains(settings), sifaju)
    answer(session, with_chains(settings), yehe)
    assert yehe.stage == "government_meeting"

    changed = tmp_path / "chains.yaml"  # the township chain loses its 政府常务会议; no department chain any more
    changed.write_text(CHANGED, encoding="utf-8")
    settings = with_chains(settings, changed)
    rnd, _ = answer(session, settings, yehe)
    assert rnd.stage == "government_meeting" and yehe.stage == "committee_review"
    assert "党委会议审议" in prompt_of(session, open_round_of(session, yehe)).subject  # the name it started with
    answer(session, settings, sifaju)
    assert sifaju.stage == "committee_review"  # its chain is gone from the file, not from its cycle
    assert "党组会议审议" in prompt_of(session, open_round_of(session, sifaju)).subject
    assert chain_of(session, sifaju)[1].label == "法规科合法性审查"

    opened(session, settings, 2027)  # the next cycle takes the file as it is now
    yehe_2027 = session.exec(select(Report).join(Cycle).where(Cycle.year == 2027, Report.unit_id == yehe.unit_id)).one()
    to_legal_review(session, settings, yehe_2027, report_text("野鹤镇", 2027))
    answer(session, settings, yehe_2027)
    assert yehe_2027.stage == "committee_review"  # no 政府常务会议 this year
    assert "镇党委会议审议" in prompt_of(session, open_round_of(session, yehe_2027)).subject
    sifaju_2027 = session.exec(select(Report).join(Cycle).where(Cycle.year == 2027,
                                                                Report.unit_id == sifaju.unit_id)).one()
    assert sifaju_2027.chain == "default"


def test_without_a_chain_file_every_report_takes_the_built_in_chain(session, settings, county):
    opened(session, settings)
    for unit in county.values():
        if unit.kind != "county":
            report = report_of(session, unit)
            assert report.chain == "default" and chain_of(session, report) == DEFAULT_CHAIN


# --- labels on the board and in the console -------------------------------------------------------


def test_the_board_names_each_report_s_stage_as_its_chain_does_and_counts_its_steps(session, settings, county):
    settings = with_chains(settings)
    opened(session, settings)
    yehe, sifaju = (report_of(session, county[code]) for code in ("yehe", "sifaju"))
    to_legal_review(session, settings, yehe)
    answer(session, settings, yehe)
    to_legal_review(session, settings, sifaju)
    board = status(session, 2026, local_day(yehe.updated_at, "Asia/Shanghai"))
    found = {r["ref"]: r for r in board["reports"]}
    assert (found[yehe.ref]["stage_label"], found[yehe.ref]["step"], found[yehe.ref]["steps"]) == (
        "政府常务会议审议", 3, 8)
    assert (found[sifaju.ref]["stage_label"], found[sifaju.ref]["steps"]) == ("法规科合法性审查", 7)
    shown = {row[0]: row for row in rows(board)}
    assert shown[yehe.ref][2] == "政府常务会议审议" and shown[sifaju.ref][2] == "法规科合法性审查"
    assert found[yehe.ref]["waiting_on"] == [people_with_role(session, yehe.unit_id, DEFAULT_CHAIN[2].actor)[0].name]


def test_a_phone_decision_names_the_extra_stage_by_its_id_or_its_chinese_name(session, settings, county, monkeypatch):
    from services.decisions import round_to_decide

    settings = with_chains(settings)
    opened(session, settings)
    yehe = report_of(session, county["yehe"])
    to_legal_review(session, settings, yehe)
    answer(session, settings, yehe)
    rnd = open_round_of(session, yehe)
    assert round_to_decide(session, yehe.ref, "government_meeting").id == rnd.id
    assert round_to_decide(session, yehe.ref, "政府常务会议审议").id == rnd.id
    with pytest.raises(Refused) as refused:
        round_to_decide(session, yehe.ref, "committee_review")
    said = message(f"refused.{refused.value.code}", **refused.value.params)
    assert "还没有进行党委会议审议" in said and "现在等待政府常务会议审议（--stage government_meeting）" in said
    with pytest.raises(Refused) as refused:
        submit_draft(session, settings, yehe, read_draft("再稿.md", (report_text() + "\n补充。\n").encode()), "张伟")
    said = message(f"refused.{refused.value.code}", **refused.value.params)
    assert said.startswith(f"报告 {yehe.ref} 当前处于“政府常务会议审议”环节，不能提交新稿") and "StageDef" not in str(
        refused.value)


# --- the roster and the chains --------------------------------------------------------------------

ROSTER_HEAD = """\
units:
- {code: qingshan, name: 青山县, kind: county, parent: '', coordinator: 吴协调 <yfzx@qingshan.example.gov.cn>}
"""


def roster(tmp_path: Path, unit: str) -> Path:
    path = tmp_path / "roster.yaml"
    path.write_text(ROSTER_HEAD + unit, encoding="utf-8")
    return path


UNIT = """\
- code: {code}
  name: {name}
  kind: {kind}
  parent: qingshan
  drafter: 李强 <liqiang@example.gov.cn>
  approval_contact: 王芳 <wangfang@example.gov.cn>
  filing_to: [xianwei-ban@qingshan.example.gov.cn]
"""


def test_a_unit_whose_chain_has_no_legal_review_needs_no_legal_advisor(session, settings, tmp_path):
    path = roster(tmp_path, UNIT.format(code="fengjingqu", name="风景区管委会", kind="admin_committee"))
    with pytest.raises(RosterError) as refused:  # the built-in chain has a legal review
        import_roster(session, path)
    assert "第 3 行" in refused.value.problems[0] and "报告单位须指定法律顾问" in refused.value.problems[0]
    session.rollback()
    assert import_roster(session, path, settings=with_chains(settings))["units"] == 2


def test_a_department_without_its_legal_reviewer_is_refused_naming_the_chain_s_role(session, settings, tmp_path):
    path = roster(tmp_path, UNIT.format(code="jiaoyuju", name="县教育局", kind="department"))
    with pytest.raises(RosterError) as refused:
        import_roster(session, path, settings=with_chains(settings))
    assert "报告单位须指定法规科" in refused.value.problems[0]


def test_a_roster_naming_a_chain_the_file_does_not_have_is_refused_and_nothing_imported(session, settings, tmp_path):
    path = roster(tmp_path, UNIT.format(code="yehe", name="野鹤镇", kind="township")
                  + "  chain: mountain\n  legal_advisor: 陈律师 <chen@example.cn>\n")
    for chains in (with_chains(settings), with_chains(settings, None)):
        with pytest.raises(RosterError) as refused:
            import_roster(session, path, settings=chains)
        assert "第 3 行" in refused.value.problems[0] and "审批流程“mountain”未定义" in refused.value.problems[0]
        session.rollback()
    assert session.exec(select(func.count()).select_from(Unit)).one() == 0
    shipped = roster(tmp_path, UNIT.format(code="yehe", name="野鹤镇", kind="township")
                     + "  chain: no_advisor\n")
    assert import_roster(session, shipped, settings=with_chains(settings))["units"] == 2


def test_units_import_with_a_broken_chain_file_says_which_line_and_imports_nothing(session, settings, tmp_path,
                                                                                   monkeypatch):
    broken = tmp_path / "chains.yaml"
    broken.write_text(CHANGED.replace("actor: legal_advisor", "actor: lawyer"), encoding="utf-8")
    monkeypatch.setenv("REPORTCHAIN_CHAINS_FILE", str(broken))
    result = CliRunner().invoke(app, ["units", "import", str(SAMPLE_ROSTER)], env={"COLUMNS": "250"})
    assert result.exit_code == 1
    assert f"审核流程配置文件 {broken} 第 6 行：办理角色“lawyer”无法识别" in result.output
    assert session.exec(select(func.count()).select_from(Unit)).one() == 0


def test_a_cycle_refuses_a_unit_whose_roster_chain_its_chains_do_not_have(session, settings, county):
    unit = county["yehe"]
    unit.chain = "township"  # imported while the file had it; the cycle opens without the file
    session.add(unit)
    session.commit()
    with pytest.raises(Refused) as refused:
        open_cycle(session, settings, 2026)
    assert message(f"refused.{refused.value.code}", **refused.value.params).startswith(
        "野鹤镇的审核流程“township”在本年度周期的流程配置中未定义")
    session.rollback()
    assert session.exec(select(func.count()).select_from(Report)).one() == 0


# --- mistakes in a chain file ---------------------------------------------------------------------

GOOD_STAGES = """\
      - {id: drafting, label: 起草, kind: draft, actor: drafter}
      - {id: legal_review, label: 法律顾问审核, kind: review, actor: legal_advisor}
      - {id: filing, label: 待报送, kind: filing}
      - {id: filed, label: 已报送, kind: filed}
      - {id: confidentiality_review, label: 保密审查, kind: confidentiality, actor: confidentiality_reviewer}
      - {id: published, label: 已公开, kind: done}
"""
CLEARANCE = [line + "\n" for line in GOOD_STAGES.splitlines() if "confidentiality" in line][0]
HEAD = "chains:\n  township:\n    kinds: [township]\n    stages:\n"  # stages start on line 5


def stages(*replace: tuple[str, str]) -> str:
    text = HEAD + GOOD_STAGES
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    return text


BAD_FILES = [  # (what, file, line, words of the message)
    ("yaml", HEAD + "      - {id: drafting, label: 起草\n", 6, "不是有效的 YAML"),
    ("no chains", "township: {}\n", 1, "无法识别的设置“township”，可用：chains"),
    ("empty", "", None, "应以“chains:”开头"),
    ("role", stages(("actor: legal_advisor", "actor: lawyer")), 6, "办理角色“lawyer”无法识别"),
    ("kind", stages(("kind: review", "kind: approval")), 6, "环节类型“approval”无法识别"),
    ("label", stages(("label: 法律顾问审核, ", "")), 6, "缺少“label”"),
    ("key", stages(("actor: legal_advisor}", "actor: legal_advisor, budgett: 5}")), 6,
     "无法识别的设置“budgett”"),
    ("budget", stages(("actor: legal_advisor}", "actor: legal_advisor, budget: 0}")), 6,
     "审核时限“0”应为不小于 1 的工作日数"),
    ("budget on filing", stages(("kind: filing}", "kind: filing, budget: 3}")), 7, "budget 只用于审核环节"),
    ("first", stages(("{id: drafting, label: 起草, kind: draft, actor: drafter}",
                      "{id: legal_check, label: 初审, kind: review, actor: legal_advisor}")), 5,
     "第一个环节应为起草"),
    ("twice", stages(("{id: filing, label: 待报送, kind: filing}",
                      "{id: legal_review, label: 复审, kind: review, actor: legal_advisor}\n"
                      "      - {id: filing, label: 待报送, kind: filing}")), 7,
     "环节“legal_review”在同一流程中出现了两次"),
    ("after filing", stages(("{id: filed, label: 已报送, kind: filed}",
                             "{id: late_review, label: 补审, kind: review, actor: approval_contact}\n"
                             "      - {id: filed, label: 已报送, kind: filed}")), 8,
     "审核环节“late_review”应在报送（filing）之前"),
    ("fixed id", stages(("{id: filing,", "{id: report_filing,")), 7, "filing 类环节的编号须为“filing”"),
    ("filed first", stages(("filing, label: 待报送, kind: filing}", "filed_, label: 已报送, kind: filed}"),
                           ("filed, label: 已报送, kind: filed}", "filing, label: 待报送, kind: filing}"),
                           ("filed_,", "filed,")), 7, "已报送（filed）环节应在待报送（filing）之后"),
    ("no filed", stages(("      - {id: filed, label: 已报送, kind: filed}\n", "")), 2,
     "每个流程须有且只有一个 filed 类环节"),
    ("no actor", stages((", actor: legal_advisor}", "}")), 6, "环节“legal_review”须用 actor 写明由谁办理"),
    ("stage id", stages(("{id: legal_review,", "{id: 法律审核,")), 6, "环节编号“法律审核”不可用"),
    ("unit kind", stages(("kinds: [township]", "kinds: [twonship]")), 3, "单位类型“twonship”无法识别"),
    ("kind twice", stages() + "  other:\n    kinds: [township]\n    stages:\n" + GOOD_STAGES, 12,
     "“township”已由流程“township”使用"),
    ("no clearance", stages((CLEARANCE, "")), 2,
     "每个流程须有且只有一个 confidentiality 类环节"),
    ("clearance first", stages(("      - {id: filed, label: 已报送, kind: filed}\n", ""),
                               ("      - {id: published,", "      - {id: filed, label: 已报送, kind: filed}\n"
                                                          "      - {id: published,")), 10,
     "公开（published）之前须是保密审查环节"),
    ("no stages", "chains:\n  township:\n    kinds: [township]\n", 2, "缺少“stages”"),
    ("duplicate key", stages(("kinds: [township]", "kinds: [township]\n    kinds: [street]")), 4,
     "“kinds”写了两次"),
]


@pytest.mark.parametrize(("text", "line", "words"), [case[1:] for case in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_a_mistake_in_the_chain_file_is_refused_with_its_line(tmp_path, text, line, words):
    path = tmp_path / "chains.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ChainFileError) as refused:
        read_chain_file(path)
    said = message(f"refused.{refused.value.code}", **refused.value.params)
    where = f"审核流程配置文件 {path} 第 {line} 行：" if line else f"审核流程配置文件 {path}："
    assert said.startswith(where), said
    assert words in said, said


def test_a_chain_file_that_cannot_be_read_says_so(tmp_path):
    path = tmp_path / "chains.yaml"
    path.write_bytes("chains:\n  镇: {}\n".encode("gbk"))
    with pytest.raises(ChainFileError) as refused:
        read_chain_file(path)
    assert "无法读取" in message(f"refused.{refused.value.code}", **refused.value.params)


def test_the_shipped_example_names_the_four_chains_and_keeps_the_built_in_default():
    chains = read_chain_file(CHAINS_FILE)
    assert set(chains.chains) == {"default", "township", "department", "no_advisor"}
    assert [(s.name, s.kind, s.actor) for s in chains.chains["default"]] == [
        (s.name, s.kind, s.actor) for s in DEFAULT_CHAIN]
    assert chains.chain_for("fengjingqu", "admin_committee") == "no_advisor"
    assert chains.chain_for("kaifaqu", "admin_committee") == "default"
    assert chains.chain_for("yehe", "township", "no_advisor") == "no_advisor"  # the roster's own choice first
