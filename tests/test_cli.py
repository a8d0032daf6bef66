"""The coordinator's CLI, driven as a coordinator drives it: what it prints, what it exits with,
what it stores and which mails land in the mail folder."""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from email import policy

import pytest
from sqlalchemy import inspect
from sqlmodel import Session, func, select
from typer.testing import CliRunner, Result

from models.db import get_engine
from models.tables import AuditEvent, Cycle, OutboxMessage, Report, ReportVersion, ReviewRound, Unit
from reportchain.cli import app
from tests.conftest import SAMPLE_ROSTER, write_draft
from tests.drafts import DRAFT


def cli(*args) -> Result:
    """Run `reportchain ARGS…` in this process, wide enough that no message is wrapped."""
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result, text: str) -> None:
    """Exit 1 with the Chinese message, through the CLI's own error path (no traceback)."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert text in result.output
    assert "Traceback" not in result.output


def mail_files(settings) -> list[str]:
    return sorted(p.name for p in settings.mail_folder.glob("*")) if settings.mail_folder.exists() else []


def mail_subjects(settings) -> list[str]:
    return [str(email.message_from_bytes((settings.mail_folder / name).read_bytes(), policy=policy.default)["Subject"])
            for name in mail_files(settings)]


def stored(settings) -> dict:
    """Everything a command could change: report stages, versions, rounds, mails, audit trail, mail files."""
    with Session(get_engine(settings.database_url)) as s:
        return {
            "reports": s.exec(select(Report.ref, Report.stage, Report.row_version).order_by(Report.ref)).all(),
            "cycles": [(c.year, c.policy) for c in s.exec(select(Cycle))],
            "versions": s.exec(select(func.count()).select_from(ReportVersion)).one(),
            "rounds": s.exec(select(ReviewRound.id, ReviewRound.decision).order_by(ReviewRound.id)).all(),
            "outbox": s.exec(select(OutboxMessage.id, OutboxMessage.status).order_by(OutboxMessage.id)).all(),
            "audit": s.exec(select(func.count()).select_from(AuditEvent)).one(),
            "units": s.exec(select(func.count()).select_from(Unit)).one(),
            "files": mail_files(settings),
        }


def board(year: int | None = None) -> dict:
    result = cli("status", "--json", *(["--year", year] if year else []))
    ok(result)
    return json.loads(result.stdout)


def stage_of(ref: str) -> str:
    return next(r["stage"] for r in board()["reports"] if r["ref"] == ref)


def advance(tmp_path, to: str) -> None:
    """Bring R-2026-001 (野鹤镇) to `to` through the CLI: drafting → legal_review → committee_review → filing."""
    ok(cli("cycle", "open", 2026))
    steps = ["drafting", "legal_review", "committee_review", "filing"]
    for stage in steps[1:steps.index(to) + 1]:
        if stage == "legal_review":
            ok(cli("draft", "submit", "野鹤镇", write_draft(tmp_path / "drafts", "报告.md", DRAFT)))
        else:
            ok(cli("decide", "R-2026-001", "approve", "--stage", steps[steps.index(stage) - 1]))
    assert stage_of("R-2026-001") == to


# --- init and roster -------------------------------------------------------------------------


def test_init_twice_is_harmless_and_keeps_the_data(county, settings):
    for _ in range(2):
        assert "数据库结构已是最新版本" in ok(cli("init"))
    tables = set(inspect(get_engine(settings.database_url)).get_table_names())
    assert {"unit", "cycle", "report", "reportversion", "reviewround", "outboxmessage", "auditevent"} <= tables
    assert stored(settings)["units"] == 14


def test_init_creates_the_tables_of_a_new_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPORTCHAIN_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    ok(cli("init"))
    ok(cli("init"))
    refused(cli("status"), "还没有开启任何报告周期")  # the tables exist, there is just no cycle yet


def test_sample_roster_import_reports_its_counts(settings):
    assert "导入完成：14 个单位，55 名人员，79 项职责。" in ok(cli("units", "import", SAMPLE_ROSTER))
    assert stored(settings)["units"] == 14


def test_roster_with_bad_rows_names_each_line_and_imports_nothing(settings, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "code,name,kind,parent,filing_to,drafter,legal_advisor,approval_contact\n"
        "qingshan,青山县,county,,,,,\n"
        "yehe,野鹤镇,village,qingshan,xw@qs.gov.cn,张伟 <zw@qs.gov.cn>,陈律师 <c@ls.cn>,刘芳 <lf@qs.gov.cn>\n"
        "shangshe,上社镇,township,qingshan,xw@qs.gov.cn,李强 lq-at-qs,陈律师 <c@ls.cn>,王静 <wj@qs.gov.cn>\n",
        encoding="utf-8",
    )
    result = cli("units", "import", roster)
    refused(result, "名册有 2 处问题，未导入任何数据")
    assert "第 3 行：单位类型“village”无法识别" in result.output
    assert "第 4 行：起草人“李强 lq-at-qs”格式不对" in result.output
    assert stored(settings)["units"] == 0


# --- cycle and status ------------------------------------------------------------------------


def test_cycle_open_creates_reports_and_kickoff_mails_once(county, settings):
    output = ok(cli("cycle", "open", 2026))
    assert "新建报告 13 份" in output and "已投递邮件 13 封" in output
    subjects = mail_subjects(settings)
    assert sorted(re.search(r"\[#(R-2026-\d{3})\]", s).group(1) for s in subjects) == [
        f"R-2026-{n:03d}" for n in range(1, 14)]
    assert all("请启动2026年度法治政府建设年度报告起草工作" in s for s in subjects)

    before = stored(settings)
    assert "新建报告 0 份" in ok(cli("cycle", "open", 2026))
    assert stored(settings) == before


def test_set_option_changes_the_due_date_on_the_board(county, settings):
    ok(cli("cycle", "open", 2026, "--set", "drafting=2099-12-21"))
    assert {r["due"] for r in board()["reports"]} == {"2099-12-21"}
    files = mail_files(settings)
    ok(cli("cycle", "open", 2026, "--set", "drafting=12-18"))
    assert {r["due"] for r in board()["reports"]} == {"2026-12-18"}
    assert mail_files(settings) == files


@pytest.mark.parametrize("value, says", [
    ("drafting=12/18/2026", "“drafting”的日期“12/18/2026”无法识别"),
    ("drafting", "“drafting”应写成 键=值"),
    ("drafting=2026-13-01", "“drafting”的日期“2026-13-01”无法识别"),
    ("2026-12-18", "“2026-12-18”应写成 键=值"),
    ("legal_review=five", "“legal_review”应为不小于 0 的整数"),
    ("draftng=2026-12-18", "无法识别的设置“draftng”"),
])
def test_a_malformed_setting_is_refused_before_anything_is_stored(county, settings, value, says):
    before = stored(settings)
    result = cli("cycle", "open", 2026, "--set", value)
    assert result.exit_code != 0
    assert says in result.output
    assert stored(settings) == before and before["cycles"] == []


def test_status_json_has_the_documented_shape(county):
    ok(cli("cycle", "open", 2026))
    data = board()
    assert set(data) == {"year", "reports"} and data["year"] == 2026
    assert [r["ref"] for r in data["reports"]] == [f"R-2026-{n:03d}" for n in range(1, 14)]
    for r in data["reports"]:
        assert set(r) == {"ref", "unit", "unit_kind", "stage", "stage_label", "step", "steps", "due", "overdue",
                          "overdue_days", "waiting_on", "supervisors", "returns", "acknowledged_on",
                          "unacknowledged_days", "closed"}
        assert r["acknowledged_on"] is None and r["unacknowledged_days"] == 0
        assert r["step"] == 1 and r["steps"] == 7 and r["returns"] == 0 and r["overdue_days"] == 0
        assert r["closed"] is None and r["stage_label"] == "起草"
        assert isinstance(r["unit"], str) and r["unit"] and r["stage"] == "drafting"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["due"]) and isinstance(r["overdue"], bool)
    assert data["reports"][0]["unit"] == "野鹤镇"
    assert data["reports"][0]["waiting_on"] == ["张伟"]  # the drafter


def test_overdue_follows_the_due_date_of_the_current_stage(county, tmp_path):
    ok(cli("cycle", "open", 2026, "--set", "drafting=2020-01-02", "--set", "legal_review=400"))
    ok(cli("draft", "submit", "yehe", write_draft(tmp_path, "报告.md", DRAFT)))
    reports = {r["ref"]: r for r in board(2026)["reports"]}
    yehe = reports.pop("R-2026-001")
    assert (yehe["stage"], yehe["overdue"], yehe["waiting_on"]) == ("legal_review", False, ["陈律师"])
    assert yehe["due"] > (date.today() + timedelta(days=365)).isoformat()  # 400 working days after today
    assert all(r["overdue"] and r["due"] == "2020-01-02" for r in reports.values())
    assert "共 13 份，已报送及公开 0 份，逾期 12 份。" in ok(cli("status"))


@pytest.mark.parametrize("args", [["status"], ["status", "--json"]])
def test_status_without_a_cycle_gives_a_hint(settings, args):
    result = cli(*args)
    refused(result, "还没有开启任何报告周期。请先执行 reportchain cycle open 年度。")
    assert result.stdout == ""


# --- the whole path --------------------------------------------------------------------------


def test_a_report_goes_from_draft_to_filed_with_a_return_on_the_way(county, settings, tmp_path):
    ok(cli("cycle", "open", 2026))
    draft = write_draft(tmp_path / "drafts", "野鹤镇报告.md", DRAFT)
    assert "报告 R-2026-001 第1稿已提交，现处于“法律顾问审核”环节" in ok(cli("draft", "submit", "野鹤镇", draft))

    refused(cli("decide", "R-2026-001", "return", "--stage", "legal_review"),
            "退回报告 R-2026-001 时请用 --comment 写明修改意见")
    assert stage_of("R-2026-001") == "legal_review"
    output = ok(cli("decide", "R-2026-001", "return", "--stage", "legal_review",
                    "--comment", "请补充第一责任人履职情况"))
    assert "审核意见：退回。报告现处于“起草”环节" in output
    assert any("报告已退回修改" in s and "[#R-2026-001]" in s for s in mail_subjects(settings))

    refused(cli("draft", "submit", "yehe", draft), "与报告 R-2026-001 第1稿完全相同")
    assert stage_of("R-2026-001") == "drafting"
    draft.write_text(DRAFT.replace("3次", "4次"), encoding="utf-8")
    assert "第2稿已提交" in ok(cli("draft", "submit", "yehe", draft))

    assert "报告现处于“党委审议”环节" in ok(cli("decide", "R-2026-001", "approve", "--stage", "legal_review",
                                                "--round", "2"))
    assert "报告现处于“待报送”环节" in ok(cli("decide", "R-2026-001", "approve", "--stage", "党委审议"))
    output = ok(cli("file", "R-2026-001"))
    assert "收件人：xianwei-ban@qingshan.example.gov.cn" in output and "已报送：R-2026-001" in output
    assert stage_of("R-2026-001") == "confidentiality_review"
    assert any("[#R-2026-001] 报送：野鹤镇2026年度" in s for s in mail_subjects(settings))

    events = [line.split("│")[3].strip() for line in ok(cli("history", "R-2026-001")).splitlines()
              if line.startswith("│")]
    assert events == ["建立报告", "提交稿件", "退回", "提交稿件", "同意", "同意", "生成报送邮件", "报送成功",
                      "送保密审查"]
    assert "请补充第一责任人履职情况" in cli("history", "r-2026-001").output


def test_resubmitting_the_same_file_under_review_says_nothing_new_was_submitted(county, settings, tmp_path):
    advance(tmp_path, "legal_review")
    before = stored(settings)
    output = ok(cli("draft", "submit", "yehe", tmp_path / "drafts" / "报告.md"))
    assert stored(settings) == before
    assert "未重复提交" in output and "审核请求已发出" not in output


# --- dry runs --------------------------------------------------------------------------------

DRY_RUNS = {  # command → (stage R-2026-001 must be in first, or None for "no cycle yet"; mails expected)
    "cycle open": (None, ["cycle", "open", 2026, "--dry-run"], "请启动2026年度"),
    "draft submit": ("drafting", ["draft", "submit", "yehe", "new.md", "--dry-run"], "请审核"),
    "decide": ("legal_review", ["decide", "R-2026-001", "approve", "--stage", "legal_review", "--dry-run"],
               "已记录：同意"),
    "file": ("filing", ["file", "R-2026-001", "--dry-run"], "报送：野鹤镇"),
}


def prepare_dry_run(tmp_path, name: str) -> list:
    stage, args, _ = DRY_RUNS[name]
    if stage:
        advance(tmp_path, stage)
    write_draft(tmp_path, "new.md", DRAFT)
    return args


@pytest.mark.parametrize("name", DRY_RUNS)
def test_dry_run_changes_no_stored_data_and_writes_no_mail(county, settings, tmp_path, name):
    args = prepare_dry_run(tmp_path, name)
    before = stored(settings)
    assert "【试运行】" in cli(*args).output
    assert stored(settings) == before


@pytest.mark.parametrize("name", DRY_RUNS)
def test_dry_run_lists_the_mails_it_would_send(county, settings, tmp_path, name):
    args = prepare_dry_run(tmp_path, name)
    output = ok(cli(*args))
    assert "【试运行】" in output and "[#R-2026-001]" in output and DRY_RUNS[name][2] in output


# --- bad input -------------------------------------------------------------------------------

BAD_INPUT = [
    (["draft", "submit", "不存在镇", "good.md"], "找不到单位“不存在镇”"),
    (["decide", "R-2026-999", "approve", "--stage", "legal_review"], "找不到报告“R-2026-999”"),
    (["file", "R-2026-999"], "找不到报告“R-2026-999”"),
    (["history", "R-2026-999"], "找不到报告“R-2026-999”"),
    (["draft", "submit", "shangshe", "missing.md"], "找不到文件：missing.md"),
    (["draft", "submit", "shangshe", "报告.pdf"], "不支持的文件类型“.pdf”"),
    (["draft", "submit", "shangshe", "x.docx"], "文件“x.docx”已损坏或无法读取"),
    (["draft", "submit", "shangshe", "empty.txt"], "文件“empty.txt”没有正文内容"),
    (["draft", "submit", "yehe", "good.md"], "当前处于“法律顾问审核”环节，不能提交新稿"),
    (["decide", "R-2026-002", "approve", "--stage", "legal_review"], "报告 R-2026-002 还没有进行法律顾问审核"),
    (["decide", "R-2026-001", "maybe", "--stage", "legal_review"], "无法识别的审核意见“maybe”"),
    (["file", "R-2026-001"], "报告 R-2026-001 当前处于“法律顾问审核”环节，只有党委审议通过后才能报送"),
    (["file", "R-2026-002"], "报告 R-2026-002 当前处于“起草”环节，只有党委审议通过后才能报送"),
]


@pytest.mark.parametrize(("args", "text"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_refused_in_chinese_and_changes_nothing(county, settings, tmp_path, args, text):
    advance(tmp_path, "legal_review")  # R-2026-001 under legal review, the other twelve drafting
    write_draft(tmp_path, "good.md", DRAFT.replace("12件", "13件"))
    write_draft(tmp_path, "empty.txt", " \n\n")
    (tmp_path / "报告.pdf").write_bytes(b"%PDF-1.7\n")
    (tmp_path / "x.docx").write_bytes(os.urandom(4096))
    before = stored(settings)
    refused(cli(*args), text)
    assert stored(settings) == before


def test_refusal_shows_a_file_name_with_brackets_as_typed(county, tmp_path):
    ok(cli("cycle", "open", 2026))
    refused(cli("draft", "submit", "yehe", "report[final].md"), "找不到文件：report[final].md")


@pytest.mark.parametrize("args", [["init"], ["status", "--json"], ["units", "import", SAMPLE_ROSTER],
                                  ["cycle", "open", 2026],
                                  ["decide", "R-2026-001", "approve", "--stage", "legal_review"],
                                  ["history", "R-2026-001"]])
def test_unreachable_database_gives_the_chinese_db_error(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPORTCHAIN_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/x")
    monkeypatch.setenv("REPORTCHAIN_MAIL_FOLDER", str(tmp_path / "mail"))
    refused(cli(*args), "无法连接数据库：connection failed")
    assert not (tmp_path / "mail").exists()


# --- read-only commands and help -------------------------------------------------------------

READ_ONLY_PROBE = """
import json, sys
from typer.testing import CliRunner
from reportchain.cli import app
runner = CliRunner()
commands = (["status", "--json"], ["status"], ["history", "R-2026-001"], ["deadlines", "show"],
            ["calendar", "show", "2026"], ["sweep", "--dry-run", "--now", "2026-12-21T09:00"])
results = {" ".join(a): runner.invoke(app, a) for a in commands}
print(json.dumps({"results": {k: [r.exit_code, r.stdout] for k, r in results.items()},
                  "prefect": sorted(m for m in sys.modules if m.split(".")[0] == "prefect")}))
"""


def test_read_only_commands_never_import_prefect(county, settings, tmp_path):
    advance(tmp_path, "legal_review")
    env = {**os.environ, "COLUMNS": "250"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.run([sys.executable, "-c", READ_ONLY_PROBE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout)
    assert probe["prefect"] == []
    results = probe["results"]
    assert all(code == 0 for code, _ in results.values()), results
    assert len(json.loads(results["status --json"][1])["reports"]) == 13
    assert "法律顾问审核" in results["status"][1]
    assert "提交稿件" in results["history R-2026-001"][1]
    assert "初稿提交：2026-12-21" in results["deadlines show"][1]
    assert "2026-02-28 上班（春节调休）" in results["calendar show 2026"][1]
    assert "【试运行】2026-12-21 的提醒：" in results["sweep --dry-run --now 2026-12-21T09:00"][1]


HELP = {  # command → a word its Chinese help must contain
    "": "报告", "init": "数据库", "db": "数据库", "db upgrade": "备份", "db current": "结构版本", "units": "名册",
    "units import": "名册", "cycle": "报告周期",
    "cycle open": "截止日期", "draft": "稿件", "draft submit": "法律顾问审核", "decide": "退回", "file": "报送",
    "deliver": "邮件", "status": "逾期", "history": "流转记录", "demo": "演示", "sweep": "提醒",
    "deadlines": "截止日期", "deadlines show": "审核时限", "deadlines set": "截止日期", "calendar": "调休",
    "calendar show": "调休", "calendar set": "放假", "report": "审议会议", "report meeting": "会议纪要编号",
}


@pytest.mark.parametrize("command", HELP, ids=lambda c: c or "app")
def test_help_is_in_chinese(command):
    assert HELP[command] in ok(cli(*command.split(), "--help"))
