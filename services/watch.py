"""Replies in seconds: keep the reply mailbox open, take each reply in as it arrives and deliver the receipts,
prompts and notices it causes at once (`reportchain replies watch`, run as a service next to the workers).

One round is exactly what the fetch-replies flow does — `intake`, then `deliver_all` — so the 5-minute
schedule can stay as the safety net: both take the mailbox's lease before reading, and the outbox claims
each mail before sending it, so a reply is applied once and a mail sent once whichever of them gets there
first. Between rounds the watcher waits on the mailbox (IMAP IDLE; without it, the poll interval). A mailbox
or relay that fails is reported and tried again later, with a growing pause: the watcher never gives up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import Session

from core.settings import Settings
from models.db import get_engine
from notifications.backends import DeliveryConfigError
from notifications.mailbox import IDLE_RENEW, MailboxError, inbox_for
from services.delivery import deliver_all
from services.replies import IntakeReport, intake

MAX_PAUSE = 300.0  # seconds between two tries while the mailbox or the relay keeps failing


@dataclass
class WatchRound:
    """What one round did; `problem` is the failure that ended it early (mailbox or relay), in English."""

    intake: IntakeReport = field(default_factory=IntakeReport)
    delivery: dict | None = None
    problem: str | None = None
    pushes: bool = False  # whether the server tells us about new mail (IDLE) rather than being polled
    pause: float = 0.0  # after a problem: seconds until the next try


def take_in_and_deliver(settings: Settings, inbox) -> WatchRound:
    """One round: the new replies, then everything waiting in the outbox."""
    result = WatchRound()
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        try:
            result.intake = intake(session, settings, inbox)
            result.delivery = deliver_all(session, settings)
        except (MailboxError, DeliveryConfigError) as exc:
            result.problem = str(exc)
    result.pushes = inbox.pushes
    return result


def watch(settings: Settings, stop: threading.Event, on_round: Callable[[WatchRound], None] = lambda r: None,
          poll_seconds: float | None = None) -> None:
    """Round after round until `stop` is set: after a good round wait for new mail (IDLE, renewed every
    IDLE_RENEW seconds, or the poll interval); after a failed one pause, twice as long each time."""
    poll = poll_seconds if poll_seconds is not None else settings.watch_poll
    inbox = inbox_for(settings)
    pause = poll
    try:
        while not stop.is_set():
            result = take_in_and_deliver(settings, inbox)
            if result.problem is None:
                pause = poll
                on_round(result)
                inbox.wait(IDLE_RENEW if result.pushes else poll, stop)
            else:
                result.pause = pause
                on_round(result)
                stop.wait(pause)
                pause = min(pause * 2, MAX_PAUSE)
    finally:
        inbox.close()
