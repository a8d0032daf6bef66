"""Signing in and out, and setting a password through a one-time setup link."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from models.chain import Refused
from services.accounts import MIN_PASSWORD_CHARS, authenticate, consume_setup_link, setup_account
from web.render import page
from web.security import Db, csrf_token, local_target

router = APIRouter()
Field = Annotated[str, Form()]


def next_query(target: str) -> str:
    return urlencode({"next": target}) if local_target(target) != "/" else ""


@router.get("/login")
def login_form(request: Request, next: str = "/", done: str = "") -> Response:
    return page(request, "web/login.html", None, next=local_target(next), failed=False, done=bool(done))


@router.post("/login")
def login(request: Request, session: Db, login: Field = "", password: Field = "", next: Field = "/") -> Response:
    account = authenticate(session, login, password)
    session.commit()
    if account is None:
        return page(request, "web/login.html", None, status=401, next=local_target(next), failed=True, done=False)
    request.session.clear()  # a new session: no fixation, a fresh CSRF token
    request.session.update(account=account.id, epoch=account.session_epoch)
    csrf_token(request)
    return RedirectResponse(local_target(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/setup/{token}")
def setup_form(request: Request, token: str, session: Db) -> Response:
    found = setup_account(session, token)
    if found is None:
        return page(request, "web/error.html", None, status=404, kind="setup_invalid", detail="")
    return page(request, "web/setup.html", None, person=found[1], problem="", chars=MIN_PASSWORD_CHARS)


@router.post("/setup/{token}")
def setup(request: Request, token: str, session: Db, password: Field = "", again: Field = "") -> Response:
    found = setup_account(session, token)
    if found is None:
        return page(request, "web/error.html", None, status=404, kind="setup_invalid", detail="")
    problem = "mismatch" if password != again else ""
    if not problem:
        try:
            consume_setup_link(session, token, password)
            session.commit()
            return RedirectResponse("/login?done=1", status_code=303)
        except Refused:
            problem = "too_short"
    return page(request, "web/setup.html", None, status=400, person=found[1], problem=problem,
                chars=MIN_PASSWORD_CHARS)
