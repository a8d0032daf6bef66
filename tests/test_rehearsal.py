"""A rehearsal (the console's confirmation pages, the CLI's --dry-run) says what a step would do and
keeps nothing — even when the step, or something it calls, tries to commit."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from models.tables import AuditEvent, Report
from services.audit import audit
from services.cycle import open_cycle
from services.rehearsal import RehearsalCommitted, rehearse


def count(session, table) -> int:
    return session.exec(select(func.count()).select_from(table)).one()


def test_a_rehearsed_cycle_shows_its_mails_and_keeps_nothing(session, settings, county):
    result, mails = rehearse(session, lambda: open_cycle(session, settings, 2026))
    assert result and mails and all(mail.to_addrs for mail in mails)
    assert count(session, Report) == 0 and count(session, AuditEvent) == 0


def test_a_step_that_commits_is_stopped_and_nothing_is_kept(session, settings, county):
    def commits():
        audit(session, None, "someone", "rehearsal_probe")
        session.commit()

    with pytest.raises(RehearsalCommitted):
        rehearse(session, commits)
    assert count(session, AuditEvent) == 0
    audit(session, None, "someone", "after_the_rehearsal")  # the session commits normally again
    session.commit()
    assert count(session, AuditEvent) == 1


def test_a_step_may_use_savepoints_but_a_commit_inside_one_is_still_stopped(session, settings, county):
    def in_savepoints():  # what the reply intake does for each message
        with session.begin_nested():
            audit(session, None, "someone", "first")
        with session.begin_nested():
            audit(session, None, "someone", "second")
        return count(session, AuditEvent)

    assert rehearse(session, in_savepoints)[0] == 2
    assert count(session, AuditEvent) == 0

    def commits_inside_one():
        session.begin_nested()
        audit(session, None, "someone", "rehearsal_probe")
        session.commit()

    with pytest.raises(RehearsalCommitted):
        rehearse(session, commits_inside_one)
    assert count(session, AuditEvent) == 0
