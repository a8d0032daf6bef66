"""The county board in Prefect's UI: a state-changing flow run leaves the `county-board` table
artifact with the board's rows (the same Chinese columns as `reportchain status`), and a board that
cannot be written never fails the run."""

from __future__ import annotations

import asyncio
import json

import pytest

from flows import run
from flows.board import KEY, publish_board
from flows.cycle import open_cycle_flow
from flows.delivery import deliver_outbox_flow
from flows.filing import file_report_flow

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the board is the same on both


def latest_artifact():
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read():
        async with get_client() as client:
            [artifact] = await client.read_latest_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[KEY])))
            return artifact

    return asyncio.run(read())


def latest_board() -> list[dict]:
    artifact = latest_artifact()
    data = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
    return data


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
@SQLITE_ONLY
def test_opening_a_cycle_publishes_the_board_with_its_rows(session, settings, county):
    result = run(open_cycle_flow(year=2026))
    board = latest_board()
    assert [row["编号"] for row in board] == sorted(result["created"])
    first = board[0]
    assert set(first) == {"编号", "单位", "环节", "待办人", "截止日期", "状态"}
    assert first["环节"] == "起草" and first["状态"] in ("正常", "逾期") and first["截止日期"] != "—"
    assert first["单位"] and first["待办人"] != "—"  # the drafter it waits on


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
@SQLITE_ONLY
def test_a_board_that_cannot_be_written_is_logged_and_the_run_still_completes(session, settings, county,
                                                                              monkeypatch, caplog):
    async def broken(**_):
        raise RuntimeError("artifact API down")

    monkeypatch.setattr("flows.board.acreate_table_artifact", broken)
    state = run(open_cycle_flow(year=2026, return_state=True))
    assert state.is_completed()
    assert any("county board artifact could not be written" in r.getMessage() for r in caplog.records)


@SQLITE_ONLY
def test_outside_a_flow_run_nothing_is_written(session, settings, county):
    """The CLI calls a flow's function directly when no Prefect server is configured: no artifact, no server."""
    assert asyncio.run(publish_board(year=2026)) is False


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
@SQLITE_ONLY
def test_a_refused_flow_writes_no_board(session, settings, county):
    """A flow refused by the rules fails before it reaches the board."""
    run(open_cycle_flow(year=2026))
    before = latest_board()
    state = run(file_report_flow(ref="R-2026-001", return_state=True))
    assert state.is_failed() and latest_board() == before


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
@SQLITE_ONLY
def test_a_delivery_run_publishes_the_board_again(session, settings, county):
    """deliver-outbox can move reports (a filing mail delivered files it): its run writes the board too."""
    run(open_cycle_flow(year=2026))
    opened = latest_artifact()
    run(deliver_outbox_flow())
    delivered = latest_artifact()
    assert delivered.latest_id != opened.latest_id and delivered.flow_run_id != opened.flow_run_id
    assert len(latest_board()) == len(json.loads(opened.data) if isinstance(opened.data, str) else opened.data)
