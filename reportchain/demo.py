"""`reportchain demo`: a sample county runs a whole cycle on the embedded default.

A throwaway SQLite database, mail folder and inbox folder, the roster in examples/sample_county.yaml,
the 2026 cycle, and every report driven through every stage by real Prefect flows. Reviewers decide
the way they do in real life, by replying to the prompt: the demo writes their replies as .eml files
(quoting the prompt, as QQ Mail does) into the inbox folder and the reply intake reads them. One
township's draft is returned and its drafter replies with the revised draft attached; one advisor's
first answer is unclear and is asked again; one out-of-office auto-reply is ignored. After filing,
the upper level's office answers each filing mail with a 回执 (recorded as the acknowledgement), each
unit's confidentiality reviewer answers 同意公开 by reply and the coordinator records the website address.
The county's chains are examples/chains.yaml: four of its townships review in a 政府常务会议 before the
party committee, 清溪乡 and the streets follow the default chain, its departments with their own 法规科, its scenic area
without a legal advisor. Exit code 1 if any report is not published.
"""

from __future__ import annotations

import os
import tempfile
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from rich.console import Console

from core.settings import PROJECT_ROOT
from core.texts import message, render
from models.chain import Stage

SAMPLE_ROSTER = PROJECT_ROOT / "examples" / "sample_county.yaml"
SAMPLE_CHAINS = PROJECT_ROOT / "examples" / "chains.yaml"
GOVERNMENT_MEETING = "government_meeting"  # the townships' extra review stage in SAMPLE_CHAINS
YEAR = 2026
RETURNED_UNIT = "xiashe"  # the legal advisor returns this township's first draft
UNCLEAR_UNIT = "shangshe"  # the advisor first answers "收到，我看一下" and is asked again
AWAY_UNIT = "yehe"  # an out-of-office auto-reply arrives before the real answer
LEGAL_ANSWERS = ("同意。", "原则同意，建议第二部分补充具体数据。", "审核通过", "无意见")


def simulated_reply(prompt, sender: str, text: str, attachment: tuple[str, bytes] | None = None,
                    auto: bool = False, charset: str = "utf-8") -> bytes:
    """A reviewer's (or drafter's) reply to one of our mails, as a phone mail client writes it."""
    from core.settings import load_settings

    msg = EmailMessage()
    msg["From"], msg["To"] = sender, load_settings().reply_to
    msg["Subject"] = ("自动回复：" if auto else "回复：") + prompt.subject
    msg["Message-ID"] = make_msgid(domain="demo.example.cn")
    msg["In-Reply-To"] = msg["References"] = prompt.message_id
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    quoted = f"\n\n发自我的iPhone\n\n------------------ 原始邮件 ------------------\n主题: {prompt.subject}\n\n"
    msg.set_content(text + quoted + prompt.body_text, charset=charset)
    if attachment:
        msg.add_attachment(attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0])
    return msg.as_bytes()


def run_demo(workdir: Path | None, out: Console) -> int:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="reportchain-demo-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{workdir / 'demo.db'}"
    inbox = workdir / "inbox"
    os.environ["REPORTCHAIN_DATABASE_URL"] = db_url
    os.environ["REPORTCHAIN_MAIL_FOLDER"] = str(workdir / "mail")
    os.environ["REPORTCHAIN_INBOX_FOLDER"] = str(inbox)
    for name in ("REPORTCHAIN_IMAP_HOST", "REPORTCHAIN_SMTP_HOST"):
        os.environ.pop(name, None)  # the demo never touches real mail servers
    os.environ["REPORTCHAIN_CHAINS_FILE"] = str(SAMPLE_CHAINS)  # its county's chains, whatever a .env says
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect waits 20 s for its temporary server; on a busy 2-core machine starting it takes longer.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    step = lambda text: out.print(message("demo.step", text=text))  # noqa: E731

    from sqlmodel import select

    from flows import run
    from flows.cycle import open_cycle_flow
    from flows.delivery import deliver_outbox_flow
    from flows.drafts import submit_draft_flow
    from flows.filing import file_report_flow, publish_report_flow
    from flows.reminders import sweep_flow
    from flows.replies import fetch_replies_flow
    from models.db import session_scope, upgrade_database
    from models.tables import OutboxMessage, Person, Report, ReviewRound, Unit
    from reportchain.board import print_board
    from services.board import status
    from services.filing import FILING_MAIL
    from services.roster import import_roster

    out.print(message("demo.start", workdir=str(workdir)))
    upgrade_database(db_url)
    with session_scope(db_url) as session:
        import_roster(session, SAMPLE_ROSTER)
    step("导入样例县名册，开启 2026 年度周期（首次运行需启动 Prefect 临时服务器，约 20 秒）")
    run(open_cycle_flow(year=YEAR))
    with session_scope(db_url) as session:
        reports = [(r.id, r.ref, u) for r, u in session.exec(
            select(Report, Unit).join(Unit, Unit.id == Report.unit_id).order_by(Report.ref))]

    def draft(unit: Unit, revised: bool) -> tuple[str, bytes]:
        # Only the township whose draft is returned leaves out the causes (the check warns its advisor).
        text = render("documents/demo_draft.md", unit=unit, year=YEAR, causes=revised or unit.code != RETURNED_UNIT)
        return f"{unit.name}{YEAR}年度报告{'（修改稿）' if revised else ''}.md", text.encode()

    def mail(n: int, raw: bytes) -> None:
        inbox.mkdir(exist_ok=True)
        (inbox / f"{n:04d}.eml").write_bytes(raw)

    def open_prompts(stage: str) -> list[tuple[OutboxMessage, Person, Unit]]:
        """The unanswered prompts of a stage, with their reviewer and unit."""
        with session_scope(db_url) as session:
            return list(session.exec(
                select(OutboxMessage, Person, Unit)
                .join(ReviewRound, ReviewRound.prompt_message_id == OutboxMessage.message_id)
                .join(Person, Person.id == ReviewRound.reviewer_id)
                .join(Report, Report.id == ReviewRound.report_id).join(Unit, Unit.id == Report.unit_id)
                .where(ReviewRound.stage == stage, ReviewRound.decision.is_(None)).order_by(OutboxMessage.id)))

    def fetch() -> None:
        result = run(fetch_replies_flow())
        out.print(message("demo.intake", outcomes=result["outcomes"]))

    step("12月16日 9:00 催办提醒：初稿截止前第3个工作日，每人一封，县里收到汇总")
    for _ in range(2):  # the second run is the hourly re-run: it finds everyone already told
        swept = run(sweep_flow(now=f"{YEAR}-12-16T09:00:00+08:00"))
        out.print(message("demo.sweep", mails=len(swept["mails"]), already=swept["already_sent"]))

    step("各单位提交初稿，审核请求发给法律顾问")
    for report_id, _, unit in reports:
        folder = workdir / "drafts"
        folder.mkdir(exist_ok=True)
        name, content = draft(unit, revised=False)
        (folder / name).write_bytes(content)
        run(submit_draft_flow(report_id=report_id, path=str(folder / name), submitted_by=unit.code + "-drafter"))
    run(deliver_outbox_flow())

    step("法律顾问用手机回复邮件（一份退回、一份答复不明确、一封休假自动回复）")
    for n, (prompt, reviewer, unit) in enumerate(open_prompts(Stage.LEGAL_REVIEW)):
        sender = f"{reviewer.name} <{reviewer.email}>"
        if unit.code == RETURNED_UNIT:
            text = "退回。第二部分只列了不足，没有分析原因，请补充原因分析。"
        elif unit.code == UNCLEAR_UNIT:
            text = "收到，我看一下。"
        else:
            text = LEGAL_ANSWERS[n % len(LEGAL_ANSWERS)]
        if unit.code == AWAY_UNIT:
            mail(100 + n, simulated_reply(prompt, sender, "我目前不在办公室，12月22日返回。", auto=True))
        mail(200 + n, simulated_reply(prompt, sender, text, charset=("utf-8", "gbk")[n % 2]))  # phones send both
    fetch()

    step("起草人回复退回邮件并附上修改稿；答复不明确的法律顾问回复“同意”")
    with session_scope(db_url) as session:
        returned = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "returned")).all()
        clarify = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "clarify")).all()
        units = {u.id: u for u in session.exec(select(Unit))}
        to_drafter = [(m, units[session.get(Report, m.report_id).unit_id]) for m in returned]
    for n, (notice, unit) in enumerate(to_drafter):
        mail(300 + n, simulated_reply(notice, notice.to_addrs, "修改稿见附件，请审核。", attachment=draft(unit, True)))
    for n, ask in enumerate(clarify):
        mail(400 + n, simulated_reply(ask, ask.to_addrs, "同意。"))
    fetch()
    for n, (prompt, reviewer, _) in enumerate(open_prompts(Stage.LEGAL_REVIEW)):
        mail(500 + n, simulated_reply(prompt, f"{reviewer.name} <{reviewer.email}>", "同意。"))
    fetch()

    step("乡镇政府常务会议审议后由政府办回复（乡镇的审核流程多此一环）")
    for n, (prompt, contact, _) in enumerate(open_prompts(GOVERNMENT_MEETING)):
        mail(550 + n, simulated_reply(prompt, f"{contact.name} <{contact.email}>", "经镇政府常务会议研究，同意。"))
    fetch()

    step("党委（党组、党工委）审议后由联系人回复")
    for n, (prompt, contact, unit) in enumerate(open_prompts(Stage.COMMITTEE_REVIEW)):
        text = f"经{unit.approval_body}审议，同意。"
        mail(600 + n, simulated_reply(prompt, f"{contact.name} <{contact.email}>", text))
    fetch()

    step("报送上级并投递全部邮件；报送后保密审查请求发给各单位保密审查人")
    for _, ref, _ in reports:
        run(file_report_flow(ref=ref))
    run(deliver_outbox_flow())

    step("县委办回复报送邮件“已收到”，记为上级确认收到")
    with session_scope(db_url) as session:
        filings = session.exec(select(OutboxMessage).where(OutboxMessage.kind == FILING_MAIL)
                               .order_by(OutboxMessage.id)).all()
    for n, filing in enumerate(filings):
        mail(650 + n, simulated_reply(filing, filing.to_addrs.split(",")[0].strip(), "已收到，谢谢。"))
    fetch()

    step("保密审查人回复“同意公开”，协调人在门户网站发布后登记网址")
    for n, (prompt, reviewer, _) in enumerate(open_prompts(Stage.CONFIDENTIALITY_REVIEW)):
        mail(700 + n, simulated_reply(prompt, f"{reviewer.name} <{reviewer.email}>", "经保密审查，同意公开。"))
    fetch()
    for _, ref, unit in reports:
        run(publish_report_flow(ref=ref, url=f"https://www.qingshan.example.gov.cn/fzzf/{YEAR}-{unit.code}.html"))
    run(deliver_outbox_flow())

    from core.clock import today_in
    from core.settings import load_settings

    with session_scope(db_url) as session:
        board = status(session, YEAR, today_in(load_settings().timezone))
    print_board(out, board)
    unpublished = [r["ref"] for r in board["reports"] if r["stage"] != Stage.PUBLISHED]
    if unpublished or not board["reports"]:
        out.print(message("demo.failed", refs=unpublished or ["—"]))
        return 1
    out.print(message("demo.done", count=len(board["reports"]), folder=str(workdir / "mail"), db=db_url))
    out.print(message("demo.console", db=db_url, workdir=str(workdir)))
    return 0


DEMO_ACCOUNTS = (("county_coordinator", "yfzx@qingshan.example.gov.cn", None),
                 ("unit_clerk", "zhangwei@yehe.qingshan.example.gov.cn", "yehe"),
                 ("viewer", "leader@yehe.qingshan.example.gov.cn", None))


def demo_accounts(db_url: str) -> list[tuple[str, str, str]]:
    """A county coordinator, 野鹤镇's clerk and its supervisor as a viewer, each with a new random
    password: (role, login, password). An account that exists already gets a new password."""
    import secrets

    from sqlmodel import select

    from models.db import session_scope, upgrade_database
    from models.tables import Account
    from services.accounts import add_account, find_person, set_password

    upgrade_database(db_url)
    made = []
    with session_scope(db_url) as session:
        for role, login, unit in DEMO_ACCOUNTS:
            person = find_person(session, login)
            account = session.exec(select(Account).where(Account.person_id == person.id)).first()
            if account is None:
                account, person = add_account(session, login, role, unit, actor="demo")
            password = secrets.token_urlsafe(9)
            set_password(session, account, person, password, actor="demo")
            made.append((role, login, password))
    return made
