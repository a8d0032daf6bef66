"""Pages from templates/web/ (autoescaped, StrictUndefined, through core/texts.py's environment),
with what every page needs: the CSRF token of its forms, who is signed in, and what the last action
did (the flash, shown once)."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import HTMLResponse

from core.texts import render
from services.accounts import Signer
from web.security import csrf_token


def page(request: Request, template: str, who: Signer | None, status: int = 200, **context) -> HTMLResponse:
    flash = request.session.pop("flash", None)  # what the last action did, shown once
    html = render(template, csrf=csrf_token(request), who=who, path=request.url.path, flash=flash, **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "private, no-store"})
