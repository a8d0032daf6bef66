"""Say what a state change would do before doing it: run it in the caller's transaction, read the
mails it wrote to the outbox, and roll everything back. The mails (and so their recipients) are the
ones the service itself would write, by its own rules: nothing here knows who gets which mail.
The CLI's --dry-run and the console's confirmation pages use it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Row, event
from sqlmodel import Session, func, select

from models.db import hold_transaction
from models.tables import OutboxMessage

T = TypeVar("T")


Mail = Row  # a mail the step wrote: .to_addrs, .cc_addrs (as the outbox joined them) and .subject


def outbox_mark(session: Session) -> int:
    """The newest outbox id now: the mails written after it are the ones `mails_since` reads."""
    return session.exec(select(func.max(OutboxMessage.id))).one() or 0


def mails_since(session: Session, mark: int) -> list[Mail]:
    session.flush()
    query = select(OutboxMessage.to_addrs, OutboxMessage.cc_addrs, OutboxMessage.subject).where(
        OutboxMessage.id > mark)
    return list(session.exec(query.order_by(OutboxMessage.id)))


class RehearsalCommitted(RuntimeError):
    """A step tried to commit during a rehearsal: nothing was kept, and the step cannot be rehearsed."""


def refuse_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: still inside the rehearsal's transaction
        return
    raise RehearsalCommitted("a rehearsed step tried to commit; it was rolled back")


def rehearse(session: Session, step: Callable[[], T]) -> tuple[T, list[Mail]]:
    """What `step` returns and the mails it writes, with nothing kept (the transaction is rolled back,
    also when `step` is refused). `step` must return plain values: rows it wrote are gone afterwards.
    A step that commits is stopped before the commit (RehearsalCommitted): a confirmation page or a
    --dry-run must never be the act itself."""
    event.listen(session, "before_commit", refuse_commit)
    try:
        hold_transaction(session)  # a savepoint in the step nests in the transaction rolled back below
        mark = outbox_mark(session)
        result = step()
        return result, mails_since(session, mark)
    finally:
        session.rollback()
        event.remove(session, "before_commit", refuse_commit)
