"""The drafting kit personalised from the prepared document (documents/kit.py) is the document python-docx
builds for the unit itself, for any unit name — markup characters included — and opens in python-docx."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest

from documents.kit import build_skeleton, drafting_skeleton

NAMES = ["野鹤镇", "A&B <司法> \"局\" 'x'", "青山县第1中学&附属小学", "县市场监督管理局（知识产权局）", "Legal Bureau"]


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        return {info.filename: z.read(info) for info in z.infolist()}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("addressee", "issuer"), [("中共青山县委、青山县人民政府：", None), ("", None),
                                                   ("县委&县政府", "中共<城关>镇委员会")])
def test_a_personalised_kit_is_the_kit_python_docx_builds_for_the_unit(name, addressee, issuer):
    kit = drafting_skeleton(name, 2026, addressee, issuer)
    assert members(kit) == members(build_skeleton(name, 2026, addressee.strip().rstrip("：:"),
                                                   (issuer or name).strip()))
    document = docx.Document(io.BytesIO(kit))
    text = [p.text for p in document.paragraphs]
    assert text[0] == f"{name}关于2026年度法治政府建设情况的报告"
    assert (issuer or name) in text and document.core_properties.author == (issuer or name)
    if addressee:
        assert text[1] == addressee.rstrip("：") + "："


def test_kits_of_two_units_name_only_their_own_unit():
    first, second = (docx.Document(io.BytesIO(drafting_skeleton(n, 2026, "县政府"))) for n in ("甲镇", "乙镇"))
    assert "甲镇" in first.paragraphs[0].text and "乙镇" not in "\n".join(p.text for p in first.paragraphs)
    assert "乙镇" in second.paragraphs[0].text


def test_a_name_with_a_control_character_is_refused_as_python_docx_refuses_it():
    with pytest.raises(ValueError):
        drafting_skeleton("野鹤\x07镇", 2026, "县政府")
