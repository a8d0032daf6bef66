"""Files uploaded to the console: a unit's draft (by its clerk or the coordinator) and the roster (by
the coordinator). Step 1 reads and checks the file through the same reader and check as the CLI and
shows what it found, keeping the file server-side under a random token bound to the session for a
short time; step 2 (the person confirms) hands that very file to the service. A file that cannot be
read is refused in Chinese and nothing is kept."""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import Response

from core.settings import Settings
from core.texts import message
from documents.check import check
from documents.reading import UnreadableDocument, read_draft
from models.chain import StageKind, stage_def
from models.tables import AccountRole, Cycle, Report, Unit
from services.accounts import Signer
from services.drafts import submit_draft
from services.roster import RosterError, apply_roster, plan_roster
from services.stages import chain_of, latest_version
from web.actions import Coordinator, act, after_action
from web.render import page
from web.security import Db, Invalid, NotFound, Who, report_in_scope

router = APIRouter()
KEEP_MINUTES = 30  # an upload not confirmed by then is gone (upload it again)
ROSTER_SUFFIXES = (".csv", ".yaml", ".yml")
ROSTER_MAX_MB = 5


def upload_folder(settings: Settings) -> Path:
    """Next to the mail folder (the installation's data), never inside it."""
    return settings.mail_folder.parent / "console-uploads"


def read_capped(upload: UploadFile, max_mb: int, refusal: Exception) -> bytes:
    data = upload.file.read(max_mb * 2**20 + 1)
    if len(data) > max_mb * 2**20:
        raise refusal
    return data


def keep(request: Request, kind: str, filename: str, data: bytes) -> tuple[str, Path]:
    """Store the upload under a fresh token that only this session knows; older uploads are cleared."""
    folder = upload_folder(request.app.state.settings)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.stat().st_mtime < time.time() - KEEP_MINUTES * 60:
            shutil.rmtree(old, ignore_errors=True)
    token = secrets.token_urlsafe(24)
    path = folder / token / f"upload{PurePath(filename).suffix.lower()}"
    path.parent.mkdir()
    path.write_bytes(data)
    request.session[f"upload_{kind}"] = {"token": token, "name": filename[:200], "at": time.time()}
    return token, path


def take(request: Request, kind: str, token: str) -> tuple[Path, str]:
    """The file kept for this session under `token` (used once), or a Chinese refusal."""
    held = request.session.pop(f"upload_{kind}", None)
    folder = upload_folder(request.app.state.settings)
    if (not isinstance(held, dict) or not secrets.compare_digest(str(held.get("token")), token)
            or held.get("at", 0) < time.time() - KEEP_MINUTES * 60):
        raise Invalid(message("console.upload_gone", minutes=KEEP_MINUTES))
    files = list((folder / held["token"]).glob("upload*"))
    if not files:
        raise Invalid(message("console.upload_gone", minutes=KEEP_MINUTES))
    return files[0], held["name"]


def discard(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


def drafting_report(session, who: Signer, ref: str) -> Report:
    """The report, if this account may upload its draft: its unit's clerk or the coordinator."""
    report = report_in_scope(session, who, ref)
    if who.role is AccountRole.VIEWER:
        raise NotFound
    return report


def can_upload(session, who: Signer, report: Report) -> bool:
    """Whether the report page offers the upload form: a clerk or coordinator, the report in drafting."""
    return (who.role is not AccountRole.VIEWER
            and stage_def(chain_of(session, report), report.stage).kind is StageKind.DRAFT)


@router.post("/reports/{ref}/draft")
def draft_check(request: Request, ref: str, who: Who, session: Db,
                file: Annotated[UploadFile, File()]) -> Response:
    """Step 1: read and check the draft; show the findings; keep the file for step 2."""
    report = drafting_report(session, who, ref)
    name = PurePath(file.filename or "").name or "draft"
    limit = request.app.state.settings.drafts.max_mb
    data = read_capped(file, limit, UnreadableDocument("too_large", name, str(limit)))
    draft = read_draft(name, data)
    unit, year = session.get(Unit, report.unit_id), session.get(Cycle, report.cycle_id).year
    findings = check(draft.text, year=year, unit=unit.name).as_json()["findings"]
    token, _ = keep(request, "draft", name, data)
    return page(request, "web/draft_check.html", who, report=report, unit=unit, year=year, filename=name,
                findings=findings, errors=[f for f in findings if f["severity"] == "error"], token=token,
                chars=len(draft.text))


@router.post("/reports/{ref}/draft/submit")
def draft_submit(request: Request, ref: str, who: Who, session: Db, token: Annotated[str, Form()] = "") -> Response:
    """Step 2: submit the kept file as the CLI does (a draft with errors is held, the drafters told)."""
    report = drafting_report(session, who, ref)
    path, name = take(request, "draft", token)
    draft = read_draft(name, path.read_bytes())
    previous = latest_version(session, report.id)
    settings = request.app.state.settings
    version, mails = act(session, lambda: submit_draft(session, settings, report, draft, who.email))
    discard(path)
    if previous is not None and version.id == previous.id:
        said = message("draft_unchanged", ref=report.ref, version=version.number)
    elif report.stage == chain_of(session, report)[0].name:  # the check's errors kept it in drafting
        said = message("console.draft_held", ref=report.ref, version=version.number)
    else:
        said = message("draft_submitted", ref=report.ref, version=version.number, stage=report.stage)
    return after_action(request, f"/reports/{report.ref}", said, mails)


@router.get("/roster")
def roster_form(request: Request, who: Coordinator) -> Response:
    return page(request, "web/roster.html", who, plan=None, token="", filename="")


@router.post("/roster")
def roster_preview(request: Request, who: Coordinator, session: Db, file: Annotated[UploadFile, File()]) -> Response:
    """Step 1: validate the roster as the import does and show what it would change (nothing written)."""
    name = PurePath(file.filename or "").name or "roster"
    if PurePath(name).suffix.lower() not in ROSTER_SUFFIXES:
        raise Invalid(message("import.unsupported", path=name))
    data = read_capped(file, ROSTER_MAX_MB, Invalid(message("console.roster_too_large", mb=ROSTER_MAX_MB)))
    token, path = keep(request, "roster", name, data)
    try:
        plan = plan_roster(session, path, request.app.state.settings)
    except RosterError:
        discard(path)
        request.session.pop("upload_roster", None)
        raise
    finally:
        session.rollback()
    return page(request, "web/roster.html", who, plan=plan, token=token, filename=name)


@router.post("/roster/apply")
def roster_apply(request: Request, who: Coordinator, session: Db, token: Annotated[str, Form()] = "") -> Response:
    """Step 2: import the kept roster (validated again: the database may have changed meanwhile)."""
    path, _ = take(request, "roster", token)
    try:
        settings = request.app.state.settings
        counts, mails = act(session, lambda: apply_roster(session, plan_roster(session, path, settings),
                                                          actor=who.email, settings=settings))
    finally:
        discard(path)
    return after_action(request, "/", message("import.done", **counts), mails)

