"""Whether this installation can do its work (`reportchain doctor`): the database's revision, the SMTP relay
and the reply mailbox (a real login to each), the Prefect server and its work pool, the working calendar's
coverage of the open cycles' months, and the mail folders. Each check says ok, warn or fail and why (the
words are in templates/cli/messages.j2, `doctor__*`); nothing is changed and no mail is sent.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from core.settings import Settings
from models.calendar import published
from models.db import get_engine, normalise_url, schema_state
from models.tables import Cycle
from notifications.mailbox import ImapInbox
from notifications.smtp import SmtpBackend

OK, WARN, FAIL = "ok", "warn", "fail"
WORK_POOL = "reportchain"  # prefect.yaml's work pool
TIMEOUT = 10.0  # seconds for each connection a check opens


@dataclass(frozen=True)
class Finding:
    check: str  # database | smtp | imap | prefect | calendar | folders
    status: str  # ok | warn | fail
    code: str  # names the message: doctor__CHECK__CODE
    params: dict = field(default_factory=dict)


def database(settings: Settings) -> Finding:
    url = normalise_url(settings.database_url)
    try:
        state = schema_state(settings.database_url)
    except Exception as exc:  # any driver's error: the server is down, the file unreadable, a bad password
        return Finding("database", FAIL, "unreachable", {"url": url, "detail": str(exc).splitlines()[0]})
    if not state.known:
        return Finding("database", FAIL, "newer", {"url": url, "current": state.current, "head": state.head})
    if state.current != state.head:
        return Finding("database", FAIL, "behind", {"url": url, "current": state.current, "head": state.head})
    return Finding("database", OK, "ok", {"url": url, "head": state.head})


def smtp(settings: Settings) -> Finding:
    if settings.smtp is None:
        return Finding("smtp", OK, "folder", {"folder": str(settings.mail_folder)})
    config = settings.smtp

    async def login() -> None:
        client = SmtpBackend(config).client()
        client.timeout = min(config.timeout, TIMEOUT)
        await client.connect()  # TLS and login as the delivery does them
        await client.quit()

    try:
        asyncio.run(login())
    except Exception as exc:
        return Finding("smtp", FAIL, "refused", {"host": f"{config.host}:{config.port}", "detail": str(exc)})
    return Finding("smtp", OK, "ok", {"host": f"{config.host}:{config.port}", "user": config.user})


def imap(settings: Settings) -> Finding:
    if settings.imap is None:
        return Finding("imap", OK, "folder", {"folder": str(settings.inbox_folder)})
    inbox = ImapInbox(settings.imap)
    try:
        client = inbox.connect()
        idle = client.has_capability("IDLE")
    except Exception as exc:  # a refused login, an unknown host, TLS: all said the same way
        return Finding("imap", FAIL, "refused", {"mailbox": settings.imap.mailbox, "detail": str(exc)})
    finally:
        inbox.close()
    return Finding("imap", OK if idle else WARN, "ok" if idle else "no_idle", {"mailbox": settings.imap.mailbox})


def prefect(settings: Settings, get: Callable | None = None) -> Finding:
    """The server answers /health and has the work pool; without PREFECT_API_URL the commands run here."""
    import httpx

    url = settings.prefect_api_url
    if not url:
        return Finding("prefect", OK, "local")
    get = get or (lambda path: httpx.get(url.rstrip("/") + path, timeout=TIMEOUT))
    try:
        get("/health").raise_for_status()
        pool = get(f"/work_pools/{WORK_POOL}")
    except httpx.HTTPError as exc:
        return Finding("prefect", FAIL, "unreachable", {"url": url, "detail": str(exc)})
    if pool.status_code == 404:
        return Finding("prefect", FAIL, "no_pool", {"url": url, "pool": WORK_POOL})
    return Finding("prefect", OK, "ok", {"url": url, "pool": WORK_POOL})


def calendar(settings: Settings) -> Finding:
    """The official holidays of every year an open cycle runs through (its year and the next)."""
    try:
        with Session(get_engine(settings.database_url)) as session:
            years = sorted({y for c in session.exec(select(Cycle).where(Cycle.closed_at.is_(None)))
                            for y in (c.year, c.year + 1)})
    except Exception:  # no tables yet: the database check says why
        years = []
    missing = [year for year in years if not published(year)]
    if missing:
        return Finding("calendar", WARN, "missing", {"years": missing})
    return Finding("calendar", OK, "ok", {"years": years})


def writable_folder(path: Path) -> bool:
    """The folder exists and is writable, or could be created (its nearest existing parent is writable)."""
    path = path.resolve()
    while not path.exists():
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def folders(settings: Settings) -> Finding:
    used = [settings.mail_folder] if settings.smtp is None else []
    used += [settings.inbox_folder] if settings.imap is None else []
    used += [settings.sent_journal.parent]  # delivery writes every sent mail there (notifications/journal.py)
    bad = [str(p) for p in used if not writable_folder(p)]
    if bad:
        return Finding("folders", FAIL, "not_writable", {"folders": bad})
    return Finding("folders", OK, "ok", {"folders": [str(p) for p in used]})


CHECKS = (database, smtp, imap, prefect, calendar, folders)


def examine(settings: Settings) -> list[Finding]:
    return [check(settings) for check in CHECKS]
