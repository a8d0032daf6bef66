"""The flows as real Prefect flow runs (one test server per session): each one run twice gives the
same state and no second mail, and a delivery cut short is resumed without duplicates."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from flows import run
from flows.cycle import open_cycle_flow
from flows.decisions import record_decision_flow
from flows.delivery import deliver_outbox_flow
from flows.drafts import submit_draft_flow
from flows.filing import file_report_flow, publish_report_flow
from models.tables import OutboxMessage, Report, ReportVersion, ReviewRound
from services.decisions import round_to_decide
from tests.conftest import report_of, write_draft
from tests.drafts import DRAFT

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]


def counts(session) -> dict[str, int]:
    session.expire_all()
    return {table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in (Report, ReportVersion, ReviewRound, OutboxMessage)}


def eml_files(settings) -> set[str]:
    return {p.name for p in settings.mail_folder.glob("*.eml")}


def stage_of(session, report) -> str:
    session.expire_all()
    return session.get(Report, report.id).stage


def test_every_flow_run_twice_gives_the_same_state_and_no_second_mail(session, settings, county, tmp_path):
    assert run(open_cycle_flow(year=2026))["created"][0] == "R-2026-001"
    after_open = counts(session)
    assert run(open_cycle_flow(year=2026)) == {"year": 2026, "created": [], "mails": 0}
    assert counts(session) == after_open
    assert run(deliver_outbox_flow())["sent"] == 13
    assert run(deliver_outbox_flow())["sent"] == 0
    assert len(eml_files(settings)) == 13

    report = report_of(session, county["yehe"])
    path = write_draft(tmp_path / "drafts", "野鹤镇报告.md", DRAFT)
    first = run(submit_draft_flow(report_id=report.id, path=str(path), submitted_by="张伟"))
    assert first == dict(ref=report.ref, version=1, stage="legal_review", new=True, findings=[])
    after_submit = counts(session)
    assert run(submit_draft_flow(report_id=report.id, path=str(path), submitted_by="张伟")) == first | dict(new=False)
    assert counts(session) == after_submit

    for stage in ("legal_review", "committee_review"):
        round_id = round_to_decide(session, report.ref, stage).id
        assert run(record_decision_flow(round_id=round_id, decision="approve", actor="吴协调"))["applied"] is True
        after_decision = counts(session)
        again = run(record_decision_flow(round_id=round_id, decision="approve", actor="吴协调"))
        assert again["applied"] is False
        assert counts(session) == after_decision, stage
    assert stage_of(session, report) == "filing"

    filing = run(file_report_flow(ref=report.ref))
    assert run(file_report_flow(ref=report.ref)) == filing
    assert run(deliver_outbox_flow())["filed"] == [report.ref]
    assert run(deliver_outbox_flow()) == {"sent": 0, "retrying": 0, "failed": [], "filed": [], "problem": None}
    assert stage_of(session, report) == "confidentiality_review"  # filed, and its prompt went out

    round_id = round_to_decide(session, report.ref, "confidentiality_review").id
    assert run(record_decision_flow(round_id=round_id, decision="approve", actor="吴协调"))["applied"] is True
    after_clearance = counts(session)
    assert run(record_decision_flow(round_id=round_id, decision="approve", actor="吴协调"))["applied"] is False
    assert counts(session) == after_clearance
    url = "https://www.qingshan.example.gov.cn/fzzf/2026-yehe.html"
    assert run(publish_report_flow(ref=report.ref, url=url)) == dict(ref=report.ref, new=True)
    assert run(publish_report_flow(ref=report.ref, url=url)) == dict(ref=report.ref, new=False)
    assert stage_of(session, report) == "published" and counts(session) == after_clearance
    run(deliver_outbox_flow())
    sent = session.exec(select(OutboxMessage).where(OutboxMessage.status == "sent")).all()
    assert len(sent) == counts(session)["OutboxMessage"] == len(eml_files(settings))
    assert sum(m.kind == "filing" for m in sent) == 1 and sum(m.kind == "ready_to_publish" for m in sent) == 1


def test_a_delivery_that_crashed_before_recording_is_resumed_without_a_duplicate(session, settings, county):
    run(open_cycle_flow(year=2026))
    run(deliver_outbox_flow())
    files = {p.name: p.read_bytes() for p in settings.mail_folder.glob("*.eml")}
    # the process died after the backend accepted the mails but before the rows were marked sent
    for row in session.exec(select(OutboxMessage)):
        row.status, row.sent_at = "pending", None
        session.add(row)
    session.commit()
    assert run(deliver_outbox_flow())["sent"] == 0  # the sent journal knew all 13: none handed over again
    session.expire_all()
    assert {row.status for row in session.exec(select(OutboxMessage))} == {"sent"}
    assert {p.name: p.read_bytes() for p in settings.mail_folder.glob("*.eml")} == files


def test_flow_runs_are_recorded_by_prefect(session, settings, county):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    run(open_cycle_flow(year=2027))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["open-cycle"])),
                                     sort=FlowRunSort.START_TIME_DESC, limit=50)
    assert runs and all(run.state.is_completed() for run in runs)
