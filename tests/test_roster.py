"""Importing the unit roster (reportchain/roster.py) on SQLite and PostgreSQL: the shipped examples,
Excel's encodings, re-imports, every kind of bad row reported in Chinese with its line number, and
that a failed import leaves the database exactly as it was."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from core.settings import PROJECT_ROOT
from models.tables import Assignment, Person, Unit
from services.roster import RosterError, import_roster

EXAMPLES = PROJECT_ROOT / "examples"
SAMPLE_YAML = EXAMPLES / "sample_county.yaml"
EXAMPLE_CSV = EXAMPLES / "roster_example.csv"

COLUMNS = ["code", "name", "kind", "parent", "approval_body", "filing_to", "filing_cc",
           "drafter", "legal_advisor", "approval_contact", "supervisor", "coordinator"]
LAWYER = "陈律师 <chen.lawyer@lvshi-a.example.cn>"
FILING_TO = "xianwei-ban@qingshan.example.gov.cn"


# ---------------------------------------------------------------- helpers


def unit_row(code: str, name: str, kind: str = "township", parent: str = "qingshan", **override: str) -> dict:
    """A complete, valid reporting unit; each unit has its own drafter and approval contact."""
    row = {
        "code": code, "name": name, "kind": kind, "parent": parent, "approval_body": "镇党委会议",
        "filing_to": FILING_TO, "filing_cc": "",
        "drafter": f"{name}起草人 <{code}-drafter@example.cn>",
        "legal_advisor": LAWYER,
        "approval_contact": f"{name}党委办 <{code}-party@example.cn>",
        "supervisor": "", "coordinator": "",
    }
    row.update(override)
    return row


def write_csv(path: Path, rows: list[dict], columns: list[str] = COLUMNS, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def counts(session: Session) -> dict[str, int]:
    return {
        "units": session.exec(select(func.count()).select_from(Unit)).one(),
        "people": session.exec(select(func.count()).select_from(Person)).one(),
        "assignments": session.exec(select(func.count()).select_from(Assignment)).one(),
    }


def unit(session: Session, code: str) -> Unit:
    return session.exec(select(Unit).where(Unit.code == code)).one()


def person(session: Session, email: str) -> Person:
    return session.exec(select(Person).where(Person.email == email)).one()


def roles_of(session: Session, email: str) -> list[tuple[str, str]]:
    """(unit code, role) pairs the person holds, sorted."""
    query = (select(Unit.code, Assignment.role)
             .join(Assignment, Assignment.unit_id == Unit.id)
             .join(Person, Person.id == Assignment.person_id)
             .where(Person.email == email))
    return sorted(tuple(r) for r in session.exec(query))


def snapshot(session: Session) -> dict:
    """Everything a failed import must leave alone."""
    units = {u.code: (u.name, u.kind, u.parent_id, u.filing_to, u.filing_cc, u.approval_body)
             for u in session.exec(select(Unit))}
    people = {p.email: p.name for p in session.exec(select(Person))}
    assignments = sorted((a.unit_id, a.person_id, a.role) for a in session.exec(select(Assignment)))
    return {"counts": counts(session), "units": units, "people": people, "assignments": assignments}


def failed_import(session: Session, path: Path) -> list[str]:
    """Import a roster that must fail; check nothing changed in this very transaction; return the problems."""
    before = snapshot(session)
    with pytest.raises(RosterError) as caught:
        import_roster(session, path)
    assert snapshot(session) == before, "a failed import changed the database"
    return caught.value.problems


# ---------------------------------------------------------------- the shipped examples


def test_the_sample_county_imports_thirteen_reporting_units_under_the_county(session):
    result = import_roster(session, SAMPLE_YAML)
    session.commit()

    assert counts(session)["units"] == 14
    county = unit(session, "qingshan")
    assert county.name == "青山县"
    assert county.kind == "county"
    assert county.parent_id is None
    reporting = [u for u in session.exec(select(Unit)) if u.code != "qingshan"]
    assert len(reporting) == 13
    assert all(u.parent_id == county.id for u in reporting)
    assert {u.kind for u in reporting} == {"township", "street", "department", "admin_committee"}
    assert result["units"] == 14


def test_the_sample_county_keeps_names_approval_bodies_and_filing_addresses(session):
    import_roster(session, SAMPLE_YAML)
    session.commit()

    kaifaqu = unit(session, "kaifaqu")
    assert kaifaqu.name == "青山经济开发区管委会"
    assert kaifaqu.approval_body == "管委会党工委会议"
    sifaju = unit(session, "sifaju")
    assert sifaju.filing_to == "xianwei-ban@qingshan.example.gov.cn, fzc@city-dept.example.gov.cn"
    assert sifaju.filing_cc == "yfzx@qingshan.example.gov.cn"
    assert unit(session, "qingshan").filing_to == ""
    assert person(session, "zhangwei@yehe.qingshan.example.gov.cn").name == "张伟"


def test_the_sample_county_has_one_person_per_email_even_when_they_serve_many_units(session):
    result = import_roster(session, SAMPLE_YAML)
    session.commit()

    # 1 county coordinator + 13 × (drafter, approval contact, confidentiality reviewer, supervisor) + 2 advisors.
    assert counts(session)["people"] == 55
    # county: coordinator; each reporting unit: drafter, advisor, contact, reviewer, supervisor, coordinator.
    assert counts(session)["assignments"] == 1 + 13 * 6
    assert result == {"units": 14, "people": 55, "assignments": 79, "reports": 0}

    chen = session.exec(select(Person).where(Person.name == "陈律师")).all()
    zhou = session.exec(select(Person).where(Person.name == "周律师")).all()
    assert len(chen) == 1 and len(zhou) == 1
    assert roles_of(session, "chen.lawyer@lvshi-a.example.cn") == [
        (code, "legal_advisor")
        for code in sorted(["yehe", "shangshe", "xiashe", "baiyun", "qingxi", "ziranziyuan", "kaifaqu"])
    ]
    assert roles_of(session, "zhou.lawyer@lvshi-b.example.cn") == [
        (code, "legal_advisor")
        for code in sorted(["dongcheng", "xicheng", "sifaju", "jiaoyuju", "shichangju", "fengjingqu"])
    ]
    # The county coordinator coordinates every unit, the county included, and is one person.
    assert len(roles_of(session, "yfzx@qingshan.example.gov.cn")) == 14


def test_the_example_csv_imports(session):
    result = import_roster(session, EXAMPLE_CSV)
    session.commit()

    assert sorted(u.name for u in session.exec(select(Unit))) == sorted(["青山县", "野鹤镇", "县司法局"])
    assert unit(session, "yehe").parent_id == unit(session, "qingshan").id
    assert unit(session, "sifaju").filing_to == "xianwei-ban@qingshan.example.gov.cn, fzc@city-dept.example.gov.cn"
    assert person(session, "chen.lawyer@lvshi-a.example.cn").name == "陈律师"
    assert roles_of(session, "party-yehe@qingshan.example.gov.cn") == [("yehe", "approval_contact")]
    assert counts(session) == {"units": 3, "people": 11, "assignments": 13}
    assert result == {"units": 3, "people": 11, "assignments": 13, "reports": 0}


def test_a_csv_saved_by_excel_on_chinese_windows_in_gbk_imports_with_correct_names(session, tmp_path):
    gbk = tmp_path / "名册.csv"
    gbk.write_bytes(EXAMPLE_CSV.read_text(encoding="utf-8").encode("gbk"))
    with pytest.raises(UnicodeDecodeError):
        gbk.read_bytes().decode("utf-8")  # really not UTF-8

    import_roster(session, gbk)
    session.commit()

    assert unit(session, "yehe").name == "野鹤镇"
    assert unit(session, "sifaju").name == "县司法局"
    assert unit(session, "sifaju").approval_body == "局党组会议"
    assert person(session, "chen.lawyer@lvshi-a.example.cn").name == "陈律师"
    assert person(session, "yfzx@qingshan.example.gov.cn").name == "吴协调"


def test_a_csv_saved_as_utf8_with_bom_imports(session, tmp_path):
    bom = tmp_path / "roster.csv"
    bom.write_bytes(EXAMPLE_CSV.read_text(encoding="utf-8").encode("utf-8-sig"))

    import_roster(session, bom)
    session.commit()

    assert unit(session, "qingshan").name == "青山县"
    assert counts(session)["units"] == 3


def test_a_yml_extension_and_people_given_as_a_yaml_list_are_accepted(session, tmp_path):
    path = tmp_path / "roster.yml"
    path.write_text(
        "units:\n"
        "- {code: qingshan, name: 青山县, kind: county}\n"
        "- code: yehe\n"
        "  name: 野鹤镇\n"
        "  kind: township\n"
        "  parent: 青山县\n"  # the parent may be named instead of coded
        "  filing_to: [xianwei-ban@qingshan.example.gov.cn]\n"
        "  drafter:\n"
        "  - 张伟 <zhangwei@example.cn>\n"
        "  - 李娜 <lina@example.cn>\n"
        f"  legal_advisor: {LAWYER}\n"
        "  approval_contact: 刘芳 <liufang@example.cn>\n",
        encoding="utf-8",
    )
    import_roster(session, path)
    session.commit()

    assert unit(session, "yehe").parent_id == unit(session, "qingshan").id
    assert roles_of(session, "zhangwei@example.cn") == [("yehe", "drafter")]
    assert roles_of(session, "lina@example.cn") == [("yehe", "drafter")]


# ---------------------------------------------------------------- importing again


def test_importing_the_same_file_again_changes_nothing(session):
    first = import_roster(session, SAMPLE_YAML)
    session.commit()
    before = snapshot(session)

    second = import_roster(session, SAMPLE_YAML)
    session.commit()

    assert snapshot(session) == before
    assert second == first


def test_a_changed_unit_name_and_filing_address_update_the_unit_in_place(session, tmp_path):
    path = tmp_path / "roster.csv"
    shutil.copy(EXAMPLE_CSV, path)
    import_roster(session, path)
    session.commit()
    yehe_id = unit(session, "yehe").id
    before = counts(session)

    text = path.read_text(encoding="utf-8")
    text = text.replace("yehe,野鹤镇,township,qingshan,镇党委会议,xianwei-ban@qingshan.example.gov.cn,",
                        "yehe,野鹤镇人民政府,township,qingshan,镇党委会议,fzb@qingshan.example.gov.cn,")
    text = text.replace("张伟 <zhangwei@", "张伟伟 <zhangwei@")
    path.write_text(text, encoding="utf-8")
    import_roster(session, path)
    session.commit()

    assert counts(session) == before
    yehe = unit(session, "yehe")
    assert yehe.id == yehe_id
    assert yehe.name == "野鹤镇人民政府"
    assert yehe.filing_to == "fzb@qingshan.example.gov.cn"
    assert person(session, "zhangwei@yehe.qingshan.example.gov.cn").name == "张伟伟"
    assert roles_of(session, "zhangwei@yehe.qingshan.example.gov.cn") == [("yehe", "drafter")]


def test_a_later_file_may_name_a_parent_imported_earlier(session, tmp_path):
    import_roster(session, SAMPLE_YAML)
    session.commit()

    path = write_csv(tmp_path / "more.csv", [unit_row("chashan", "茶山镇")])
    import_roster(session, path)
    session.commit()

    assert unit(session, "chashan").parent_id == unit(session, "qingshan").id
    assert counts(session)["units"] == 15


# ---------------------------------------------------------------- bad rows

SUMMARY_ONE = "名册有 1 处问题，未导入任何数据。请修改后重新导入。"

# The file every bad-row case uses: line 2 renames a unit that is already imported, lines 3 and 4 add
# valid units, line 5 is the case's bad row (a new unit with one thing wrong).
GOOD_ROWS = [
    unit_row("yehe", "野鹤镇（新名）", drafter="张伟 <zhangwei@yehe.qingshan.example.gov.cn>",
             approval_contact="刘芳 <party-yehe@qingshan.example.gov.cn>"),
    unit_row("chashan", "茶山镇"),
    unit_row("longtan", "龙潭街道", kind="street"),
]

BAD_ROWS = [
    pytest.param({"kind": "village"},
                 "第 5 行：单位类型“village”无法识别（可用：province、city、county、district、township、street、"
                 "department、admin_committee）",
                 id="unknown-kind"),
    pytest.param({"drafter": "王五 wangwu@example.cn"},
                 "第 5 行：起草人“王五 wangwu@example.cn”格式不对，应为“姓名 <邮箱>”，多人用分号隔开",
                 id="malformed-person"),
    pytest.param({"legal_advisor": "<nobody@example.cn>"},
                 "第 5 行：法律顾问“<nobody@example.cn>”格式不对，应为“姓名 <邮箱>”，多人用分号隔开",
                 id="person-without-name"),
    pytest.param({"filing_to": "xianwei-ban(at)qingshan.gov.cn"},
                 "第 5 行：邮箱地址“xianwei-ban(at)qingshan.gov.cn”格式不对",
                 id="bad-filing-address"),
    pytest.param({"code": "chashan"},
                 "第 5 行：单位代码“chashan”与第 3 行重复",
                 id="duplicate-code"),
    pytest.param({"name": "龙潭街道"},
                 "第 5 行：单位名称“龙潭街道”与第 4 行重复",
                 id="duplicate-name"),
    pytest.param({"parent": "nowhere"},
                 "第 5 行：上级单位“nowhere”不存在（须在名册中或已导入）",
                 id="unknown-parent"),
    pytest.param({"drafter": ""}, "第 5 行：报告单位须指定起草人", id="missing-drafter"),
    pytest.param({"legal_advisor": ""}, "第 5 行：报告单位须指定法律顾问", id="missing-legal-advisor"),
    pytest.param({"approval_contact": ""}, "第 5 行：报告单位须指定审议联系人", id="missing-approval-contact"),
    pytest.param({"filing_to": ""}, "第 5 行：报告单位须填写报送邮箱（filing_to）", id="missing-filing-to"),
    pytest.param({"code": ""}, "第 5 行：缺少“code”", id="missing-code"),
    pytest.param({"chain": "express"}, "第 5 行：审批流程“express”未定义", id="unknown-chain"),
    pytest.param({"drafter": "王五 <chashan-drafter@example.cn>"},
                 "第 5 行：邮箱 chashan-drafter@example.cn 在名册中对应两个姓名：“王五”和“茶山镇起草人”",
                 id="one-email-two-names"),
]


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
@pytest.mark.parametrize(("override", "problem"), BAD_ROWS)
def test_a_bad_row_after_good_ones_is_reported_by_line_and_nothing_is_imported(session, tmp_path, override,
                                                                               problem):
    bad = {**unit_row("guanyin", "观音乡"), **override}
    path = write_csv(tmp_path / "roster.csv", [*GOOD_ROWS, bad], columns=[*COLUMNS, "chain"])

    problems = failed_import(session, path)

    assert problems == [problem, SUMMARY_ONE]
    assert unit(session, "yehe").name == "野鹤镇"  # the valid rename on line 2 was not applied


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
def test_every_bad_row_in_a_file_is_reported_with_its_own_line(session, tmp_path):
    rows = [
        unit_row("chashan", "茶山镇"),                                        # line 2: fine
        unit_row("a1", "甲乡", kind="village"),                               # line 3
        unit_row("a2", "乙乡", drafter="乙乡起草人"),                          # line 4
        unit_row("a3", "丙乡", filing_to="not-an-address"),                   # line 5
        unit_row("chashan", "丁乡"),                                          # line 6
        unit_row("a5", "戊乡", parent="nowhere"),                             # line 7
        unit_row("a6", "己乡", legal_advisor=""),                             # line 8
    ]
    path = write_csv(tmp_path / "roster.csv", rows)

    problems = failed_import(session, path)

    assert problems[-1] == "名册有 6 处问题，未导入任何数据。请修改后重新导入。"
    row_problems = problems[:-1]
    assert len(row_problems) == 6
    for line, words in [(3, "village"), (4, "乙乡起草人"), (5, "not-an-address"), (6, "与第 2 行重复"),
                        (7, "nowhere"), (8, "法律顾问")]:
        assert [p for p in row_problems if p.startswith(f"第 {line} 行：") and words in p], (line, problems)
    assert not any(p.startswith("第 2 行") for p in problems)


def test_a_row_with_several_faults_reports_each_of_them(session, tmp_path):
    path = write_csv(tmp_path / "roster.csv",
                     [unit_row("qingshan", "青山县", kind="county", parent=""),
                      unit_row("x", "某镇", kind="town", drafter="无邮箱", filing_to="bad")])

    problems = failed_import(session, path)

    assert problems[:-1] == [
        "第 3 行：单位类型“town”无法识别（可用：province、city、county、district、township、street、department、"
        "admin_committee）",
        "第 3 行：起草人“无邮箱”格式不对，应为“姓名 <邮箱>”，多人用分号隔开",
        "第 3 行：邮箱地址“bad”格式不对",
    ]
    assert problems[-1] == "名册有 3 处问题，未导入任何数据。请修改后重新导入。"


def test_the_county_itself_needs_no_drafter_advisor_contact_or_filing_address(session, tmp_path):
    path = write_csv(tmp_path / "roster.csv", [{"code": "qingshan", "name": "青山县", "kind": "county"}])
    import_roster(session, path)
    session.commit()
    assert unit(session, "qingshan").kind == "county"


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
def test_a_drafter_cell_holding_only_a_separator_counts_as_missing(session, tmp_path):
    path = write_csv(tmp_path / "roster.csv",
                     [unit_row("chashan", "茶山镇"), unit_row("guanyin", "观音乡", drafter="；")])

    problems = failed_import(session, path)

    assert problems == ["第 3 行：报告单位须指定起草人", SUMMARY_ONE]


# ---------------------------------------------------------------- line numbers


def test_yaml_rows_are_reported_at_the_line_where_the_item_starts(session, tmp_path):
    path = tmp_path / "roster.yaml"
    path.write_text(
        "# 青山县名册\n"                                   # 1
        "units:\n"                                          # 2
        "- code: qingshan\n"                                # 3
        "  name: 青山县\n"                                  # 4
        "  kind: county\n"                                  # 5
        "\n"                                                # 6
        "# 下面这个单位类型写错了\n"                        # 7
        "- code: yehe\n"                                    # 8
        "  name: 野鹤镇\n"                                  # 9
        "  kind: village\n"                                 # 10
        "  parent: qingshan\n"                              # 11
        f"  filing_to: {FILING_TO}\n"                       # 12
        "  drafter: 张伟 <zhangwei@example.cn>\n"           # 13
        f"  legal_advisor: {LAWYER}\n"                      # 14
        "  approval_contact: 刘芳 <liufang@example.cn>\n"   # 15
        "- {code: yehe, name: 野鹤乡, kind: county}\n",      # 16
        encoding="utf-8",
    )

    problems = failed_import(session, path)

    assert problems[0].startswith("第 8 行：单位类型“village”无法识别")
    assert problems[1] == "第 16 行：单位代码“yehe”与第 8 行重复"
    assert len(problems) == 3


def test_a_yaml_item_that_is_not_a_mapping_is_reported_at_its_line(session, tmp_path):
    path = tmp_path / "roster.yaml"
    path.write_text("units:\n- {code: qingshan, name: 青山县, kind: county}\n- 野鹤镇\n", encoding="utf-8")

    problems = failed_import(session, path)

    assert problems == ["第 3 行：应为“键: 值”形式的一项"]


def test_csv_rows_are_reported_at_their_physical_line_counting_blank_lines(session, tmp_path):
    path = tmp_path / "roster.csv"
    good = unit_row("chashan", "茶山镇")
    bad = unit_row("guanyin", "观音乡", kind="village")
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()                                  # line 1
        writer.writerow(unit_row("qingshan", "青山县", kind="county", parent=""))  # line 2
        f.write("\n")                                         # line 3: blank
        writer.writerow(good)                                 # line 4
        f.write("," * (len(COLUMNS) - 1) + "\n")              # line 5: an Excel row with nothing in it
        writer.writerow(bad)                                  # line 6

    problems = failed_import(session, path)

    assert problems[0].startswith("第 6 行：单位类型“village”无法识别")
    assert len(problems) == 2


def test_a_csv_row_with_a_line_break_in_a_cell_is_reported_where_it_starts(session, tmp_path):
    path = write_csv(tmp_path / "roster.csv", [
        unit_row("qingshan", "青山县", kind="county", parent=""),            # line 2
        unit_row("guanyin", "观音乡", kind="village", approval_body="乡党委\n会议"),  # lines 3-4
    ])

    problems = failed_import(session, path)

    assert problems[0].startswith("第 3 行：单位类型“village”无法识别")


# ---------------------------------------------------------------- files that cannot be read at all


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
def test_a_csv_missing_required_columns_lists_them(session, tmp_path):
    columns = [c for c in COLUMNS if c not in ("filing_to", "legal_advisor")]
    path = write_csv(tmp_path / "roster.csv", [unit_row("chashan", "茶山镇")], columns=columns)

    problems = failed_import(session, path)

    assert len(problems) == 1
    assert problems[0].startswith("名册缺少必填列：")
    assert "filing_to" in problems[0]
    assert "legal_advisor" in problems[0]
    assert "drafter" not in problems[0]


def test_a_csv_header_with_padded_column_names_is_accepted(session, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(" code , name , kind , parent , filing_to , drafter , legal_advisor , approval_contact \n"
                    "qingshan,青山县,county,,,,,\n", encoding="utf-8")
    import_roster(session, path)
    session.commit()
    assert unit(session, "qingshan").name == "青山县"


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
def test_an_unsupported_extension_is_refused_clearly(session, tmp_path):
    path = tmp_path / "名册.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")

    problems = failed_import(session, path)

    assert problems == [f"名册文件须为 .csv 或 .yaml/.yml：{path}"]


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
def test_yaml_with_a_syntax_error_is_refused_clearly(session, tmp_path):
    path = tmp_path / "roster.yaml"
    path.write_text("units:\n- code: yehe\n  name: [野鹤镇\n  kind: township\n", encoding="utf-8")

    problems = failed_import(session, path)

    assert len(problems) == 1
    assert problems[0].startswith(f"无法读取名册文件 {path}：")


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
@pytest.mark.parametrize("text", ["", "units: 野鹤镇\n", "- code: yehe\n", "unit:\n- code: yehe\n"],
                         ids=["empty", "units-not-a-list", "top-level-list", "misspelt-key"])
def test_yaml_without_a_units_list_is_refused_clearly(session, tmp_path, text):
    path = tmp_path / "roster.yaml"
    path.write_text(text, encoding="utf-8")

    problems = failed_import(session, path)

    assert problems == [f"名册文件 {path} 中没有 units: 列表（每个单位一项）。"]


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
def test_a_missing_file_is_refused_naming_it(session, tmp_path):
    path = tmp_path / "没有这个文件.csv"

    problems = failed_import(session, path)

    assert len(problems) == 1
    assert problems[0].startswith(f"无法读取名册文件 {path}：")


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
def test_a_new_unit_taking_the_name_of_an_existing_unit_is_reported_by_line(session, tmp_path):
    path = write_csv(tmp_path / "roster.csv", [unit_row("yehe-town", "野鹤镇")])

    problems = failed_import(session, path)

    assert len(problems) == 2
    assert problems[0].startswith("第 2 行：")
    assert "野鹤镇" in problems[0]


@pytest.mark.usefixtures("county")  # the sample county is already imported and committed
def test_an_import_that_fails_in_the_database_leaves_nothing_once_the_caller_rolls_back(session, tmp_path):
    before = snapshot(session)
    path = write_csv(tmp_path / "roster.csv", [unit_row("chashan", "茶山镇"), unit_row("yehe-town", "野鹤镇")])

    with pytest.raises((RosterError, IntegrityError)):
        import_roster(session, path)
    session.rollback()

    assert snapshot(session) == before
