"""`reportchain units import FILE --dry-run`: the changes a roster would make, checked exactly as the
import checks it, shown in Chinese, and nothing written."""

from __future__ import annotations

import pytest

from services.roster import RosterError, plan_roster
from tests.test_cli import cli, ok, refused
from tests.test_roster import COLUMNS, counts, unit_row, write_csv

COUNTY = {"code": "qingshan", "name": "青山县", "kind": "county", "parent": "", "approval_body": "", "filing_to": "",
          "filing_cc": "", "drafter": "", "legal_advisor": "", "approval_contact": "", "supervisor": "",
          "coordinator": "吴协调 <yfzx@qingshan.example.gov.cn>"}


@pytest.fixture
def imported(session, settings, tmp_path):
    """青山县 with 野鹤镇 and 上社镇 imported; the rows, to change for the next file."""
    rows = [COUNTY, unit_row("yehe", "野鹤镇", supervisor="何军 <leader@yehe.example.cn>"),
            unit_row("shangshe", "上社镇")]
    ok(cli("units", "import", write_csv(tmp_path / "first.csv", rows)))
    return rows


def test_the_preview_shows_a_changed_email_a_removed_person_and_a_changed_field_and_writes_nothing(
        session, settings, tmp_path, imported):
    county, yehe, shangshe = (dict(r) for r in imported)
    yehe["drafter"] = "野鹤镇起草人 <new-drafter@example.cn>"  # the drafter's address changed
    yehe["supervisor"] = ""  # 何军 is no longer listed
    shangshe["filing_to"] = "new-ban@qingshan.example.gov.cn"
    path = write_csv(tmp_path / "second.csv", [county, yehe, shangshe])
    before = counts(session)
    output = ok(cli("units", "import", path, "--dry-run"))
    assert "【预览】" in output and "未写入数据库" in output
    assert "新增" in output and "new-drafter@example.cn" in output  # the new address, and its role
    assert "名册中已无" in output and "yehe-drafter@example.cn" in output and "leader@yehe.example.cn" in output
    assert "结束职责" in output and "不再向其发送邮件（记录保留）" in output  # the replaced drafter's role ends
    assert "报送邮箱：xianwei-ban@qingshan.example.gov.cn → new-ban@qingshan.example.gov.cn" in output
    assert "系统中保留，不删除" in output
    session.expire_all()
    assert counts(session) == before

    plan = plan_roster(session, path)
    assert plan.people_added == ["野鹤镇起草人 <new-drafter@example.cn>"]
    assert sorted(plan.people_unlisted) == ["何军 <leader@yehe.example.cn>", "野鹤镇起草人 <yehe-drafter@example.cn>"]
    assert plan.assignments_added == [("野鹤镇", "野鹤镇起草人 <new-drafter@example.cn>", "drafter")]
    assert sorted(a[1:] for a in plan.assignments_ended) == [("何军 <leader@yehe.example.cn>", "supervisor"), (
        "野鹤镇起草人 <yehe-drafter@example.cn>", "drafter")]
    assert plan.units_changed == [("上社镇（shangshe）", {"filing_to": (
        "xianwei-ban@qingshan.example.gov.cn", "new-ban@qingshan.example.gov.cn")})]
    assert not plan.units_added and not plan.units_unlisted


def test_the_same_file_again_previews_no_change(session, settings, tmp_path, imported):
    assert "不会有任何变化" in ok(cli("units", "import", write_csv(tmp_path / "same.csv", imported), "--dry-run"))


def test_a_unit_left_out_is_shown_as_no_longer_listed_and_a_new_one_as_added(session, settings, tmp_path, imported):
    county, yehe, _ = imported
    plan = plan_roster(session, write_csv(tmp_path / "third.csv", [county, yehe, unit_row("xiashe", "下社镇")]))
    assert (plan.units_added, plan.units_unlisted) == (["下社镇（xiashe）"], ["上社镇（shangshe）"])


def test_a_missing_column_is_refused_by_the_preview_as_by_the_import(session, settings, tmp_path, imported):
    path = write_csv(tmp_path / "short.csv", imported, columns=[c for c in COLUMNS if c != "legal_advisor"])
    before = counts(session)
    refused(cli("units", "import", path, "--dry-run"), "名册缺少必填列：legal_advisor")
    with pytest.raises(RosterError):
        plan_roster(session, path)
    assert counts(session) == before


def test_an_unknown_parent_is_refused_by_the_preview_with_its_line(session, settings, tmp_path, imported):
    rows = [*imported, unit_row("dongshe", "东社镇", parent="不存在的县")]
    before = counts(session)
    refused(cli("units", "import", write_csv(tmp_path / "orphan.csv", rows), "--dry-run"),
            "第 5 行：上级单位“不存在的县”不存在")
    session.expire_all()
    assert counts(session) == before


def test_an_import_from_the_cli_is_audited_with_who_did_it(session, settings, tmp_path, imported):
    from sqlmodel import select

    from models.tables import AuditEvent

    county, yehe, shangshe = (dict(r) for r in imported)
    shangshe["filing_to"] = "new-ban@qingshan.example.gov.cn"
    ok(cli("units", "import", write_csv(tmp_path / "second.csv", [county, yehe, shangshe]),
           "--by", "yfzx@qingshan.example.gov.cn"))
    session.expire_all()
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "roster_imported")).all()
    assert [e.actor for e in events] == ["coordinator", "yfzx@qingshan.example.gov.cn"]  # the fixture's, then ours
    assert events[-1].detail["changes"] == 1  # the one changed 报送邮箱
