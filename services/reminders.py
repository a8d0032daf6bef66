"""The reminder sweep: write today's plan (models/reminders.py) to the outbox (the flow then delivers it).

The plan is read in a fixed number of queries whatever the number of reports, and written in
batches of people. The unique keys on the mail (person, day) and on each `Reminder` row (item,
step, day, person) make a re-run, or two sweeps at once, send nothing twice; a reminder not sent
by the end of its working day expires, and one about a report that moved on is cancelled
(services/stages.py).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.settings import Settings
from core.texts import environment, stage_label
from models.chain import Role
from models.db import utcnow
from models.pending import Item
from models.reminders import Line, PersonMail, Plan, mail_key, plan_sweep
from models.tables import OutboxMessage, Reminder
from notifications.outbox import Recipient, mail_secret, mail_values

log = logging.getLogger(__name__)

BATCH = 500  # people per transaction


class Wording:
    """The pieces of today's reminders, each rendered once by the macros of templates/email/_reminder.j2
    (the plain-text environment; the HTML part escapes them as it escapes any value) and then reused: an
    item's line recurs in the text and HTML parts and in the mails of its actors, supervisors and
    coordinators; an item's task and due-date words are those of every item at its stage due that day.
    `context` gives a mail's template context: its subject (also the HTML title), the stages of its own
    items and the reports it is to publish, worded and found once for both parts; the templates call the
    rest as `said.line(ln)` etc."""

    def __init__(self, today: date) -> None:
        self.macros = environment().get_template("email/_reminder.j2").module
        self.today = today
        self.lines: dict[tuple, str] = {}
        self.people: dict[str, str] = {}
        self.words_by_due: dict[tuple, tuple[str, str]] = {}

    def context(self, mail: PersonMail) -> dict:
        """What reminder.txt and reminder.html render one person's mail from."""
        single = single_item(mail)
        subject = self.macros.subject(mail, single, self.today, *(self.words(single) if single else ("", "")))
        return {"person": mail.person, "mail": mail, "today": self.today, "single": single, "said": self,
                "subject": subject, "stages": {ln.item.stage for ln in mail.own},
                "reviewing": any(ln.item.review for ln in mail.own),
                "publishing": [ln.item.report.ref for ln in mail.own if ln.item.publishing]}

    def words(self, item: Item) -> tuple[str, str]:
        """(what is to be done, when it is due) for `item`."""
        key = (item.stage, stage_label(item.stage, item.chain), item.publishing, item.overdue, item.due)
        if key not in self.words_by_due:
            self.words_by_due[key] = (self.macros.task(item), self.macros.when(item, self.today))
        return self.words_by_due[key]

    def line(self, ln: Line) -> str:
        """What the line macro reads of a line: its item, whether it is a coordinator's, its n/k."""
        key = (ln.item.key, ln.role == Role.COORDINATOR.value, ln.position, ln.total)
        if key not in self.lines:
            self.lines[key] = self.macros.line(ln, *self.words(ln.item))
        return self.lines[key]

    def who(self, item: Item) -> str:
        if item.key not in self.people:
            self.people[item.key] = self.macros.who(item)
        return self.people[item.key]

    def unlisted(self, mail: PersonMail) -> str:
        return self.macros.unlisted(mail)


def write_plan(session: Session, settings: Settings, plan: Plan) -> int:
    """Write the plan's mails and Reminder rows, a batch of people per transaction (a fixed number of
    statements per batch); returns the number of mails written."""
    expires = datetime.combine(plan.today, plan.hours[1], ZoneInfo(settings.timezone))
    said = Wording(plan.today)
    return sum(write_batch(session, settings, plan, plan.mails[start:start + BATCH], expires, said)
               for start in range(0, len(plan.mails), BATCH))


def write_batch(session: Session, settings: Settings, plan: Plan, batch: list[PersonMail],
                expires: datetime, said: Wording) -> int:
    """One batch in one transaction: one SELECT of the kickoff mails that lone first-draft reminders
    thread under, one INSERT of the mails, one SELECT of their ids, one INSERT of the Reminder rows
    (Core inserts: the ORM would split them wherever a column is None in one row and set in the
    next). The unique keys decide who was told already: people another sweep wrote meanwhile are
    left out (counted as already sent), and a batch that still collides is written again without
    them. Any other integrity error is raised."""
    secret = mail_secret(session)
    kickoffs = dict(session.exec(select(OutboxMessage.idempotency_key, OutboxMessage.message_id).where(
        OutboxMessage.idempotency_key.in_([kickoff_key(mail) for mail in batch if single_first_draft(mail)]))).all())
    rows = {row["idempotency_key"]: (mail, row) for mail in batch
            for row in [mail_row(settings, plan, mail, expires, kickoffs, said, secret)]}
    while rows:
        taken = set(session.exec(select(OutboxMessage.idempotency_key)
                                 .where(OutboxMessage.idempotency_key.in_(rows))))
        plan.already_sent += len(taken)
        rows = {key: pair for key, pair in rows.items() if key not in taken}
        if not rows:
            return 0
        try:
            session.execute(insert(OutboxMessage.__table__), [row for _, row in rows.values()])
            ids = dict(session.exec(select(OutboxMessage.idempotency_key, OutboxMessage.id)
                                    .where(OutboxMessage.idempotency_key.in_(rows))).all())
            now = utcnow()
            session.execute(insert(Reminder.__table__), [
                dict(item=line.item.key, step=line.step, day=plan.today, person_id=mail.person.id,
                     role=line.role, report_id=line.item.report.id, due=line.item.due, outbox_id=ids[key],
                     created_at=now)
                for key, (mail, _) in rows.items() for line in mail.lines])
            session.commit()
            return len(rows)
        except IntegrityError:
            session.rollback()
            if not session.exec(select(OutboxMessage.id).where(OutboxMessage.idempotency_key.in_(rows))).first():
                raise  # not another sweep's mail: a real error
            log.warning("reminder sweep: another sweep wrote some of these mails meanwhile; writing the rest")
    return 0


def single_item(mail: PersonMail):
    """The one item of a person's own that makes up the whole mail, if it is alone."""
    return mail.own[0].item if len(mail.own) == 1 and not (mail.urge or mail.overview or mail.filing) else None


def single_first_draft(mail: PersonMail) -> bool:
    single = single_item(mail)
    return bool(single and single.draft_number == 1)


def kickoff_key(mail: PersonMail) -> str:
    return f"kickoff:{single_item(mail).report.ref}:{mail.person.email}"


def mail_row(settings: Settings, plan: Plan, mail: PersonMail, expires: datetime,
             kickoffs: dict[str, str], said: Wording, secret: str) -> dict:
    """One person's reminder of the day; alone with one item of their own, it threads under that
    item's prompt (a review) or kickoff mail (a first draft; `kickoffs`: their Message-IDs by key)."""
    single = single_item(mail)
    thread = single.thread if single else None
    if single_first_draft(mail):
        thread = kickoffs.get(kickoff_key(mail))
    return mail_values(
        settings,
        secret=secret,
        key=mail_key(mail.person.email, plan.today),
        kind="reminder",
        to=[Recipient(mail.person.name, mail.person.email)],
        report_id=single.report.id if single else None,
        in_reply_to=thread,
        expires_at=expires,
        context=said.context(mail),
    )


def sweep(session: Session, settings: Settings, now: datetime) -> Plan:
    plan = plan_sweep(session, now, settings.timezone)
    if plan.mails:
        write_plan(session, settings, plan)
    return plan
