"""The console with the county's chain file (examples/chains.yaml): the board, a report's page and the phone
decision form name each report's stages as its own chain does, and show as many steps as it has."""

from __future__ import annotations

import dataclasses
import re

import pytest

from core.settings import PROJECT_ROOT
from services.accounts import add_account, set_password
from services.cycle import open_cycle
from services.decisions import record_decision
from services.stages import open_round_of
from tests.conftest import report_of
from tests.replies_kit import to_legal_review
from tests.web.conftest import COORDINATOR, PASSWORD, client_of, sign_in


@pytest.fixture
def chained(session, settings, county):
    """The 2026 cycle opened with the chain file: 野鹤镇 at its 政府常务会议, 县司法局 at its 法规科."""
    settings = dataclasses.replace(settings, chains_file=PROJECT_ROOT / "examples" / "chains.yaml")
    open_cycle(session, settings, 2026)
    session.commit()
    yehe, sifaju = (report_of(session, county[code]) for code in ("yehe", "sifaju"))
    rnd = to_legal_review(session, settings, yehe)
    record_decision(session, settings, rnd.id, "approve", via="phone", actor="陈律师")
    to_legal_review(session, settings, sifaju)
    account, person = add_account(session, COORDINATOR, "county_coordinator", None, actor="test")
    set_password(session, account, person, PASSWORD, actor="test")
    session.commit()
    from web.app import create_app

    client = client_of(create_app(settings))
    assert sign_in(client, COORDINATOR).status_code == 303
    return client, yehe, sifaju


def steps_of(html: str, ref: str) -> int:
    row = html[html.index(f'href="/reports/{ref}"'):]
    return len(re.findall(r'<li class="(?:done|now|todo)"', row[:row.index("</ol>")]))


def test_the_board_names_each_stage_as_the_report_s_chain_does(chained):
    client, yehe, sifaju = chained
    html = client.get("/?year=2026").text
    assert "政府常务会议审议" in html and "法规科合法性审查" in html
    assert steps_of(html, yehe.ref) == 8 and steps_of(html, sifaju.ref) == 7
    assert re.search(r'stage=government_meeting">政府常务会议审议 <strong>1</strong>', html)
    legend = re.findall(r'<li class="stage-(\w+)">([^<]+)</li>', html[html.index('<ul class="legend">'):])
    assert [stage for stage, _ in legend] == ["drafting", "legal_review", "government_meeting", "committee_review",
                                              "filing", "filed", "confidentiality_review", "published"]
    assert dict(legend)["government_meeting"] == "政府常务会议审议"
    assert re.search(r'class="area stage-government_meeting".*<title>政府常务会议审议</title>', html)
    filtered = client.get("/?year=2026&stage=government_meeting").text
    assert re.findall(r'<td><a href="/reports/(R-\d{4}-\d{3})">', filtered) == [yehe.ref]


def test_a_report_page_and_its_decision_form_use_its_chain_s_names(session, chained):
    client, yehe, _ = chained
    page = client.get(f"/reports/{yehe.ref}").text
    assert "政府常务会议审议" in page and page.count('<li class="') >= 7
    form = client.get(f"/act/decide?ref={yehe.ref}").text
    rnd = open_round_of(session, yehe)
    assert f"政府常务会议审议 第{rnd.number}轮" in form
