"""What every request goes through: the security headers, the CSRF token of every form, who is
signed in (and which units they may see), and the safe form of a redirect target or a download.

Adding an action is one route that depends on `require(...)` (the role), looks its report up with
`report_in_scope` (another unit's report is a 404), and calls one service function; its form carries
`csrf` (the base template's `csrf_field`), which `csrf_guard` checks on every POST of the app.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from sqlmodel import Session, select
from starlette.responses import Response

from core.names import has_control, safe_filename
from models.db import get_engine
from models.tables import AccountRole, Report
from services.accounts import Signer, signer

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class LoginRequired(Exception):
    """No valid session: the visitor is sent to the login page (and back here afterwards)."""


class NotFound(Exception):
    """Not there, or not for this account (the two look the same)."""


class Forbidden(Exception):
    """Signed in, but the account's role may not do this."""


class CsrfRefused(Exception):
    """A form posted without this session's token."""


class Invalid(Exception):
    """A form value the console refuses before calling a service: `text` says why, in Chinese."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def csrf_token(request: Request) -> str:
    return request.session.setdefault("csrf", secrets.token_urlsafe(32))


async def csrf_guard(request: Request) -> None:
    """Every route's dependency: gives the session its token, and refuses a POST that lacks it."""
    token = csrf_token(request)
    if request.method == "POST":
        form = await request.form()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not secrets.compare_digest(sent.encode(), token.encode()):
            raise CsrfRefused


def db(request: Request) -> Iterator[Session]:
    with Session(get_engine(request.app.state.settings.database_url), expire_on_commit=False) as session:
        yield session


Db = Annotated[Session, Depends(db)]


def current(request: Request, session: Db) -> Signer:
    """The signed-in account, or LoginRequired (a reset, a new password or disabling ends a session)."""
    account_id, epoch = request.session.get("account"), request.session.get("epoch")
    found = signer(session, account_id, epoch) if isinstance(account_id, int) and isinstance(epoch, int) else None
    if found is None:
        for key in ("account", "epoch"):
            request.session.pop(key, None)
        raise LoginRequired
    return found


Who = Annotated[Signer, Depends(current)]


def require(*roles: AccountRole):
    """A dependency: the signed-in account, if its role is one of `roles` (else a 403 page)."""

    def check(who: Who) -> Signer:
        if who.role not in roles:
            raise Forbidden
        return who

    return check


def report_in_scope(session: Session, who: Signer, ref: str) -> Report:
    """The report `ref` if this account may see its unit; NotFound otherwise (never a 403, which
    would tell that the report exists)."""
    report = session.exec(select(Report).where(Report.ref == ref.strip().upper())).first() if len(ref) < 40 else None
    if report is None or not who.sees(report.unit_id):
        raise NotFound
    return report


def local_target(value: str | None) -> str:
    """Where to go after signing in: a path of this site only, else the board."""
    if not value or has_control(value) or "\\" in value or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


def download(data: bytes, name: str, fallback: str) -> Response:
    """A file to save, never to show: our origin must not render a hostile draft's .html or .md."""
    filename = safe_filename(name, fallback)
    ascii_name = filename if filename.isascii() and '"' not in filename else fallback
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": disposition, "Cache-Control": "private, no-store"})
