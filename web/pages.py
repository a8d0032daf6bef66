"""The read-only pages: the board (and its .xlsx), a report's story, and its downloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlmodel import Session, select
from starlette.responses import RedirectResponse, Response

from core.clock import today_in
from core.texts import message, stage_label
from documents.render import publication_html
from models.tables import AccountRole, Cycle, InboundMessage, Report, ReportVersion, Unit
from services.accounts import Signer
from services.board import STAGES, cycle_flow, latest_year, reached_filing, status, story, years
from services.filing import filed_version, filing_day, filing_document
from services.stages import latest_version
from web.actions import report_actions
from web.board import Filters, chart, stage_counts, xlsx
from web.render import page
from web.security import Db, NotFound, Who, download, report_in_scope
from web.uploads import can_upload

router = APIRouter()
PAGE_ROWS = 200  # a province's board is 20,000 rows: the page lists them 200 at a time (the .xlsx lists all)


def chosen_year(session: Session, year: int | None) -> int | None:
    return year if year is not None and year in years(session) else latest_year(session)


def board_rows(request: Request, session: Session, who: Signer, year: int) -> tuple[list[dict], list[dict], Filters]:
    """Every report this account sees in the cycle, and those the query string's filters keep."""
    today = today_in(request.app.state.settings.timezone)
    rows = status(session, year, today, who.units)["reports"]
    p = request.query_params
    filters = Filters.of(p.get("stage", ""), p.get("overdue", ""), p.get("kind", ""), p.get("supervisor", ""),
                         p.get("q", ""), [stage for stage, _ in stage_counts(rows)])
    return rows, [row for row in rows if filters.keep(row)], filters


def labels(rows: list[dict]) -> dict:
    """Stage and unit-kind names looked up once, not once per row (the board may list 20,000 reports); a
    stage's name as its reports' chain names it, the built-in one for a stage no report stands at."""
    named = {r["stage"]: r["stage_label"] for r in rows}
    return {"stage_names": {stage: named.get(stage) or stage_label(stage) for stage, _ in stage_counts(rows)},
            "kind_names": {kind: message("kind_label", kind=kind) for kind in {r["unit_kind"] for r in rows}}}


@router.get("/")
def board(request: Request, who: Who, session: Db, year: int | None = None,
          page_number: Annotated[int, Query(alias="page")] = 1) -> Response:
    year = chosen_year(session, year)
    if who.role is AccountRole.UNIT_CLERK:  # a clerk's home is its unit's report
        report = session.exec(select(Report).join(Cycle, Cycle.id == Report.cycle_id)
                              .where(Report.unit_id == who.account.unit_id).order_by(Cycle.year.desc())).first()
        if report is None:
            return page(request, "web/error.html", who, status=404, kind="no_report", detail="")
        return RedirectResponse(f"/reports/{report.ref}", status_code=303)
    if year is None:
        return page(request, "web/error.html", who, status=404, kind="no_cycle", detail="")
    rows, shown, filters = board_rows(request, session, who, year)
    settings = request.app.state.settings
    flow = cycle_flow(session, year, today_in(settings.timezone), settings.timezone, who.units)
    pages = max(1, -(-len(shown) // PAGE_ROWS))
    number = min(max(page_number, 1), pages)
    return page(request, "web/board.html", who, year=year, years=years(session),
                rows=shown[(number - 1) * PAGE_ROWS:number * PAGE_ROWS], matched=len(shown),
                overdue=sum(r["overdue"] for r in shown), page_number=number, pages=pages, rows_per_page=PAGE_ROWS,
                total=len(rows),
                counts=stage_counts(rows), filters=filters, query=filters.query(year),
                kinds=sorted({r["unit_kind"] for r in rows}), **labels(rows),
                supervisors=sorted({s for r in rows for s in r["supervisors"]}),
                chart=chart(flow) if flow else None, steps=len(STAGES))


@router.get("/board.xlsx")
def board_xlsx(request: Request, who: Who, session: Db, year: int | None = None) -> Response:
    year = chosen_year(session, year)
    if year is None or who.role is AccountRole.UNIT_CLERK:
        raise NotFound
    _, shown, _ = board_rows(request, session, who, year)
    return download(xlsx(year, shown), f"督办清单-{year}.xlsx", f"board-{year}.xlsx")


@router.get("/reports/{ref}")
def report_page(request: Request, ref: str, who: Who, session: Db) -> Response:
    report = report_in_scope(session, who, ref)
    settings = request.app.state.settings
    return page(request, "web/report.html", who, **story(session, report), timezone=settings.timezone,
                actions=report_actions(session, who, report), upload=can_upload(session, who, report),
                max_mb=settings.drafts.max_mb, steps=len(STAGES))


def version_of(session: Session, report: Report, number: int) -> ReportVersion:
    version = session.exec(select(ReportVersion).where(ReportVersion.report_id == report.id,
                                                       ReportVersion.number == number)).first()
    if version is None:
        raise NotFound
    return version


@router.get("/reports/{ref}/versions/{number}")
def version_file(ref: str, number: int, who: Who, session: Db) -> Response:
    report = report_in_scope(session, who, ref)
    version = version_of(session, report, number)
    return download(version.content, f"{report.ref}-v{number}-{version.filename}", f"{report.ref}-v{number}")


def filed_and_public(session: Session, report: Report) -> tuple[ReportVersion, ReportVersion]:
    """The version filed upward (the approved one, until the filing mail is written) and the one for the
    website (a public version written after a confidentiality review's refusal, else the same)."""
    if not reached_filing(report) or (public := latest_version(session, report.id)) is None:
        raise NotFound
    return filed_version(session, report) or public, public


@router.get("/reports/{ref}/filing.docx")
def filing_file(ref: str, who: Who, session: Db) -> Response:
    report = report_in_scope(session, who, ref)
    data = filing_document(session, report, filed_and_public(session, report)[0])
    return download(data, f"{report.ref}-报送稿.docx", f"{report.ref}-filing.docx")


@router.get("/reports/{ref}/publication.html")
def publication_file(ref: str, who: Who, session: Db) -> Response:
    report = report_in_scope(session, who, ref)
    filed, public = filed_and_public(session, report)
    html = publication_html(public.text, unit_name=session.get(Unit, report.unit_id).name,
                            year=session.get(Cycle, report.cycle_id).year,
                            issued_on=filing_day(session, report, filed))
    return download(html.encode(), f"{report.ref}-公开网页.html", f"{report.ref}-publication.html")


@router.get("/reports/{ref}/mail/{message_id}.eml")
def inbound_file(ref: str, message_id: int, who: Who, session: Db) -> Response:
    report = report_in_scope(session, who, ref)
    inbound = session.get(InboundMessage, message_id)
    if inbound is None or inbound.report_id != report.id:
        raise NotFound
    return download(inbound.raw, f"{report.ref}-mail-{inbound.id}.eml", f"mail-{inbound.id}.eml")
