"""Console accounts: people of the roster who may sign in, their passwords, lockout and setup links.

Every change is audited (an AuditEvent without a report) with the account's address or the operator
as actor. Passwords are argon2 hashes (argon2-cffi). Five failed sign-ins in a row lock an account
for 15 minutes; an unknown account costs the same argon2 time as a known one, and the caller learns
only "signed in" or "not" (`authenticate` returns None for every failure). A setup link's token is
kept as its SHA-256 only, is valid 72 hours, and works once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from models.chain import Refused, Role
from models.db import utcnow
from models.tables import Account, AccountRole, Assignment, Person, Unit, kept_secret
from services.audit import audit
from services.drafts import find_unit

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SETUP_VALID = timedelta(hours=72)
MIN_PASSWORD_CHARS = 10
HASHER = PasswordHasher()
_DUMMY: dict[int, str] = {}


def dummy_hash() -> str:
    """A hash of nobody's password, made with the hasher's parameters: verifying against it costs an
    unknown account the same time as a known one."""
    key = id(HASHER)
    if key not in _DUMMY:
        _DUMMY[key] = HASHER.hash(secrets.token_urlsafe(16))
    return _DUMMY[key]


@dataclass(frozen=True)
class Signer:
    """Who is signed in: the account, its person, and the units it may see (None: every unit)."""

    account: Account
    person: Person
    units: frozenset[int] | None

    @property
    def email(self) -> str:
        return self.person.email

    @property
    def role(self) -> AccountRole:
        return AccountRole(self.account.role)

    def sees(self, unit_id: int) -> bool:
        return self.units is None or unit_id in self.units


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_person(session: Session, who: str) -> Person:
    """A person of the roster by address, or by a name only one person has."""
    who = who.strip()
    by_address = session.exec(select(Person).where(Person.email == who.lower())).first()
    if by_address is not None:
        return by_address
    named = list(session.exec(select(Person).where(Person.name == who)))
    if len(named) == 1:
        return named[0]
    if named:
        raise Refused("ambiguous_person", who=who, count=len(named))
    raise Refused("unknown_person", who=who)


def account_of(session: Session, who: str) -> tuple[Account, Person]:
    person = find_person(session, who)
    account = session.exec(select(Account).where(Account.person_id == person.id)).first()
    if account is None:
        raise Refused("no_account", who=who)
    return account, person


def add_account(session: Session, who: str, role: str, unit: str | None, actor: str) -> tuple[Account, Person]:
    """A new account for a person of the roster; a unit clerk needs its unit, a viewer may name one."""
    person = find_person(session, who)
    try:
        role = AccountRole(role)
    except ValueError:
        raise Refused("unknown_account_role", role=role) from None
    if role is AccountRole.UNIT_CLERK and not unit:
        raise Refused("clerk_needs_unit", who=who)
    unit_row = find_unit(session, unit) if unit else None
    if session.exec(select(Account).where(Account.person_id == person.id)).first() is not None:
        raise Refused("account_exists", who=person.email)
    account = Account(person_id=person.id, role=role.value, unit_id=unit_row.id if unit_row else None)
    session.add(account)
    session.flush()
    audit(session, None, actor, "account_added", account=person.email, role=role.value,
          unit=unit_row.name if unit_row else None)
    return account, person


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_CHARS:
        return "too_short"
    return None


def set_password(session: Session, account: Account, person: Person, password: str, actor: str) -> None:
    """A new password: clears the lock and any setup link, and logs every session out."""
    if password_problem(password):
        raise Refused("weak_password", chars=MIN_PASSWORD_CHARS)
    account.password_hash = HASHER.hash(password)
    account.failed_logins, account.locked_until = 0, None
    account.setup_token_hash = account.setup_expires = None
    account.session_epoch += 1
    session.add(account)
    audit(session, None, actor, "password_set", account=person.email)


def make_setup_link(session: Session, account: Account, person: Person, actor: str,
                    now: datetime | None = None) -> str:
    """A new one-time setup token (the old one stops working), unlocking the account; the token is
    returned once and only its hash is kept."""
    token = secrets.token_urlsafe(32)
    now = now or utcnow()
    account.setup_token_hash, account.setup_expires = token_hash(token), now + SETUP_VALID
    account.failed_logins, account.locked_until = 0, None
    account.session_epoch += 1
    session.add(account)
    audit(session, None, actor, "setup_link_made", account=person.email, expires=account.setup_expires.isoformat())
    return token


def setup_account(session: Session, token: str, now: datetime | None = None) -> tuple[Account, Person] | None:
    """The account a setup token is valid for now, or None (unknown, used or expired)."""
    if not token or len(token) > 200:
        return None
    found = session.exec(select(Account, Person).join(Person, Person.id == Account.person_id)
                         .where(Account.setup_token_hash == token_hash(token))).first()
    if found is None or found[0].disabled or found[0].setup_expires is None:
        return None
    return found if (now or utcnow()) < found[0].setup_expires else None


def consume_setup_link(session: Session, token: str, password: str, now: datetime | None = None) -> Account | None:
    """Set the password through a setup link (once); None when the link is not valid."""
    found = setup_account(session, token, now)
    if found is None:
        return None
    account, person = found
    set_password(session, account, person, password, actor=person.email)
    return account


def authenticate(session: Session, login: str, password: str, now: datetime | None = None) -> Account | None:
    """The account these credentials sign in, or None, whatever the reason (unknown, wrong password,
    locked, disabled, no password yet). Failures and locks are audited; so is a sign-in."""
    now = now or utcnow()
    found = session.exec(select(Account, Person).join(Person, Person.id == Account.person_id)
                         .where(Person.email == login.strip().lower())).first() if len(login) <= 320 else None
    account, person = found or (None, None)
    real = account is not None and account.password_hash is not None
    try:
        right = HASHER.verify(account.password_hash if real else dummy_hash(), password[:1024]) and real
    except (VerificationError, InvalidHashError):
        right = False
    if account is None:
        return None
    if account.disabled:
        audit(session, None, person.email, "login_refused", account=person.email, reason="disabled")
        return None
    if account.locked_until is not None and now < account.locked_until:
        audit(session, None, person.email, "login_refused", account=person.email, reason="locked")
        return None
    if not right:
        account.failed_logins += 1
        audit(session, None, person.email, "login_failed", account=person.email, failures=account.failed_logins)
        if account.failed_logins >= MAX_FAILED_LOGINS:
            account.locked_until, account.failed_logins = now + LOCKOUT, 0
            audit(session, None, person.email, "account_locked", account=person.email,
                  until=account.locked_until.isoformat())
        session.add(account)
        return None
    account.failed_logins, account.locked_until = 0, None
    session.add(account)
    audit(session, None, person.email, "login", account=person.email)
    return account


def disable_account(session: Session, account: Account, person: Person, actor: str) -> None:
    account.disabled = True
    account.session_epoch += 1
    session.add(account)
    audit(session, None, actor, "account_disabled", account=person.email)


def signer(session: Session, account_id: int, epoch: int) -> Signer | None:
    """Who a session belongs to, if its account is still enabled and the session not outdated."""
    found = session.exec(select(Account, Person).join(Person, Person.id == Account.person_id)
                         .where(Account.id == account_id)).first()
    if found is None or found[0].disabled or found[0].session_epoch != epoch or not found[0].password_hash:
        return None
    account, person = found
    return Signer(account, person, visible_units(session, account))


def visible_units(session: Session, account: Account) -> frozenset[int] | None:
    """The units an account may see: every unit (None) for a county coordinator; its unit for a clerk;
    for a viewer, the units its person supervises and the named unit with every unit under it."""
    role = AccountRole(account.role)
    if role is AccountRole.COUNTY_COORDINATOR:
        return None
    if role is AccountRole.UNIT_CLERK:
        return frozenset([account.unit_id])
    seen = set(session.exec(select(Assignment.unit_id).where(Assignment.person_id == account.person_id,
                                                             Assignment.role == Role.SUPERVISOR.value)))
    if account.unit_id is not None:
        children: dict[int | None, list[int]] = {}
        for unit_id, parent_id in session.exec(select(Unit.id, Unit.parent_id)):
            children.setdefault(parent_id, []).append(unit_id)
        stack = [account.unit_id]
        while stack:
            unit_id = stack.pop()
            if unit_id not in seen:
                seen.add(unit_id)
                stack += children.get(unit_id, [])
    return frozenset(seen)


def listing(session: Session) -> list[tuple[Account, Person, Unit | None]]:
    query = (select(Account, Person, Unit).join(Person, Person.id == Account.person_id)
             .join(Unit, Unit.id == Account.unit_id, isouter=True).order_by(Account.id))
    return list(session.exec(query))


def site_secret(session: Session, name: str) -> str:
    """A secret made once and kept, committed (two workers starting together agree on the first one written)."""
    value = kept_secret(session, name)
    session.commit()
    return value

