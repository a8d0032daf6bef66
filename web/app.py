"""The ASGI app: `create_app(settings)` wires the session cookie, the security headers, the static
files, the error pages and the routes (web/login.py, web/pages.py)."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from core.settings import Settings
from core.texts import message
from documents.reading import UnreadableDocument
from models.chain import Refused
from models.db import get_engine, upgrade_database
from models.deadlines import PolicyError
from services.accounts import site_secret
from services.roster import RosterError
from web import actions, login, pages, uploads
from web.render import page
from web.security import SECURITY_HEADERS, CsrfRefused, Forbidden, Invalid, LoginRequired, NotFound, csrf_guard

log = logging.getLogger("reportchain.web")
STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "reportchain_session"
SESSION_HOURS = 12


def refusal(exc: Refused) -> str:
    """The service's refusal in the console's words where the CLI's name a command-line option."""
    try:
        return message(f"console.refused.{exc.code}", **exc.params)
    except KeyError:
        return message(f"refused.{exc.code}", **exc.params)


def create_app(settings: Settings) -> FastAPI:
    schema = upgrade_database(settings.database_url)  # refused (not started) on a database newer than the code
    if schema.before != schema.head:
        log.warning("database schema brought from revision %s to %s", schema.before, schema.head)
    with Session(get_engine(settings.database_url)) as session:
        secret = settings.web.secret or site_secret(session, "web_session")
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(csrf_guard)])
    app.state.settings = settings
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE, same_site="lax",
                       https_only=settings.web.secure_cookies, max_age=SESSION_HOURS * 3600)

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(login.router)
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.include_router(uploads.router)

    def error(request: Request, status: int, kind: str, detail: str = "") -> Response:
        return page(request, "web/error.html", None, status=status, kind=kind, detail=detail)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{login.next_query(target)}", status_code=303)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, _exc) -> Response:
        return error(request, 404, "not_found")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc) -> Response:
        return error(request, 403, "forbidden")

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _exc) -> Response:
        return error(request, 403, "csrf")

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return error(request, 409, "refused", refusal(exc))

    @app.exception_handler(StaleDataError)
    async def stale(request: Request, _exc) -> Response:
        return error(request, 409, "refused", message("refused.stale", ref=""))

    @app.exception_handler(Invalid)
    async def invalid(request: Request, exc: Invalid) -> Response:
        return error(request, 400, "refused", exc.text)

    @app.exception_handler(PolicyError)
    async def bad_policy(request: Request, exc: PolicyError) -> Response:
        return error(request, 400, "refused", message(f"policy.{exc.code}", **exc.params))

    @app.exception_handler(UnreadableDocument)
    async def unreadable(request: Request, exc: UnreadableDocument) -> Response:
        return error(request, 400, "refused", message(f"document.{exc.code}", filename=exc.filename,
                                                      detail=exc.detail))

    @app.exception_handler(RosterError)
    async def bad_roster(request: Request, exc: RosterError) -> Response:
        return error(request, 400, "roster", "\n".join(exc.problems))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, _exc) -> Response:
        return error(request, 400, "bad_request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        kind = {404: "not_found", 405: "not_allowed"}.get(exc.status_code, "bad_request")
        return error(request, exc.status_code, kind)

    return app
