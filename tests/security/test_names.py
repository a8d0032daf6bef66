"""Attacks through names and addresses (issue 11 §3 and §6): a roster whose unit names, people or
addresses would break a mail header or a file path, or whose parents form a loop, is refused at
import with the line and nothing stored; a file we write from a stored name stays in its folder."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.tables import Person, Unit
from tests.conftest import SAMPLE_ROSTER
from tests.test_cli import advance, cli, ok, refused, stage_of
from tests.test_roster import counts, failed_import, unit_row, write_csv

COUNTY = unit_row("qingshan", "青山县", kind="county", parent="")


def row(code: str, name: str, n: int = 1, **override: str) -> dict:
    """A reporting unit whose people's names and addresses do not derive from its code or name."""
    people = {"drafter": f"起草人{n} <drafter{n}@example.cn>", "approval_contact": f"联系人{n} <party{n}@example.cn>"}
    return unit_row(code, name, **{**people, **override})


def refused_roster(session, tmp_path, *rows: dict) -> list[str]:
    """The problems of a roster (the county on line 2, then `rows`), checking nothing was stored."""
    return failed_import(session, write_csv(tmp_path / "roster.csv", [COUNTY, *rows]))


CONTROL_NAMES = {"crlf": "野鹤\r\n镇", "header-injection": "野鹤\r\nBcc: all@evil.example", "lf": "野鹤\n镇",
                 "nul": "野鹤\x00镇", "line-separator": "野鹤\u2028镇", "bidi-override": "野鹤\u202e镇"}


@pytest.mark.parametrize("name", CONTROL_NAMES.values(), ids=CONTROL_NAMES)
def test_a_unit_name_with_a_line_break_or_control_character_is_refused_at_import(session, tmp_path, name):
    problems = refused_roster(session, tmp_path, row("yehe", name))
    assert problems[0].startswith("第 3 行：单位名称") and "不能含有换行或控制字符" in problems[0], problems


@pytest.mark.parametrize("name", ["../野鹤镇", "..", ".", "青山县/野鹤镇", "青山县\\野鹤镇"])
def test_a_unit_name_that_is_a_path_is_refused_at_import(session, tmp_path, name):
    problems = refused_roster(session, tmp_path, row("yehe", name))
    assert problems[0].startswith("第 3 行：单位名称") and "路径" in problems[0], problems


def test_an_overlong_unit_or_person_name_is_refused_at_import(session, tmp_path):
    problems = refused_roster(session, tmp_path, row("yehe", "野" * 65),
                              row("xiashe", "下社镇", 2, drafter="张" * 33 + " <zhang@xiashe.example.cn>"))
    assert problems[0].startswith("第 3 行：单位名称") and "64" in problems[0]
    assert problems[1].startswith("第 4 行：起草人") and "32" in problems[1]


def test_a_person_name_with_a_line_break_is_refused_at_import(session, tmp_path):
    drafter = '"张伟\r\nBcc: all@evil.example" <zw@yehe.example.cn>'
    problems = refused_roster(session, tmp_path, unit_row("yehe", "野鹤镇", drafter=drafter))
    assert problems[0].startswith("第 3 行：起草人") and "不能含有换行或控制字符" in problems[0], problems


def test_a_unit_code_with_a_path_or_line_break_is_refused_at_import(session, tmp_path):
    problems = refused_roster(session, tmp_path, row("../yehe", "野鹤镇"), row("xia\nshe", "下社镇", 2))
    assert problems[0].startswith("第 3 行：单位代码") and problems[1].startswith("第 4 行：单位代码"), problems


@pytest.mark.parametrize("address", ["ｌｉｓｉ@ｘ.ｃｎ", "lisi@ｘ.ｃｎ", "a@x..cn", "wang@x.cn.", "wang@.x.cn",
                                     "wang@x", "wang@@x.cn", "wang@[127.0.0.1]", "王@x.cn"])
def test_a_malformed_roster_address_is_refused_with_its_line(session, tmp_path, address):
    problems = refused_roster(session, tmp_path, unit_row("yehe", "野鹤镇", drafter=f"张伟 <{address}>"),
                              unit_row("xiashe", "下社镇", filing_to=address))
    assert problems[0].startswith("第 3 行：起草人") and address in problems[0], problems
    assert problems[1].startswith("第 4 行：邮箱地址") and address in problems[1], problems


def test_a_valid_address_is_stored_as_before(session, tmp_path):
    from services.roster import import_roster

    import_roster(session, write_csv(tmp_path / "roster.csv", [
        COUNTY, unit_row("yehe", "野鹤镇", drafter="张伟 <Zhang.Wei@Yehe.Example.cn>", filing_to="Ban@X.example.cn")]))
    yehe = session.exec(select(Unit).where(Unit.code == "yehe")).one()
    assert yehe.filing_to == "Ban@x.example.cn"
    assert session.exec(select(Person.email).where(Person.name == "张伟")).one() == "zhang.wei@yehe.example.cn"


@pytest.mark.parametrize(("parents", "loop"), [
    ({"jia": "yi", "yi": "jia"}, "甲乡 → 乙乡 → 甲乡"),
    ({"bing": "bing"}, "丙乡 → 丙乡"),
    ({"jia": "yi", "yi": "bing", "bing": "jia"}, "甲乡 → 乙乡 → 丙乡 → 甲乡"),
], ids=["a-b-a", "c-c", "a-b-c-a"])
def test_a_roster_whose_parents_form_a_loop_is_refused_naming_the_units(session, tmp_path, parents, loop):
    names = {"jia": "甲乡", "yi": "乙乡", "bing": "丙乡"}
    rows = [unit_row(code, names[code], parent=parent) for code, parent in parents.items()]
    problems = refused_roster(session, tmp_path, *rows)
    assert any(p.startswith("第 3 行：") and loop in p for p in problems), problems


def test_a_roster_that_makes_a_loop_with_units_already_imported_is_refused(session, tmp_path, county):
    before = counts(session)
    problems = failed_import(session, write_csv(tmp_path / "roster.csv", [
        {**COUNTY, "parent": "yehe"}]))  # yehe's parent is the county, already stored
    assert any("青山县 → 野鹤镇 → 青山县" in p for p in problems), problems
    assert counts(session) == before


def test_a_bad_roster_through_the_cli_stores_nothing_and_names_each_line(settings, session, tmp_path):
    path = write_csv(tmp_path / "roster.csv", [COUNTY, row("xiashe", "下社镇", filing_to="wang@x.cn."),
                                               row("yehe", "野鹤\r\n镇", 2)])
    refused(cli("units", "import", path), "第 4 行：单位名称“野鹤\\r\\n镇”不能含有换行或控制字符")
    assert "第 3 行：邮箱地址“wang@x.cn.”格式不对" in cli("units", "import", path).output
    assert counts(session)["units"] == 0
    ok(cli("units", "import", SAMPLE_ROSTER))
    assert "新建报告 13 份" in ok(cli("cycle", "open", "2026"))


def test_render_out_keeps_a_stored_unit_name_with_a_path_inside_the_folder(county, settings, session, tmp_path):
    advance(tmp_path, "filing")
    assert stage_of("R-2026-001") == "filing"
    yehe = county["yehe"]
    yehe.name = "../../野鹤镇\r\n"  # stored before names were checked at import
    session.add(yehe)
    session.commit()
    out = tmp_path / "out"
    said = ok(cli("render", "R-2026-001", "--out", out))
    written = sorted(p for p in tmp_path.rglob("*") if p.suffix in (".docx", ".html") and "drafts" not in p.parts)
    assert len(written) == 2 and all(p.parent == out for p in written), written
    assert all(str(p) in said for p in written)
    assert all("\r" not in p.name and "\n" not in p.name and not p.name.startswith(".") for p in written)
