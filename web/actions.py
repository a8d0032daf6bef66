"""The county coordinator's actions. Each is a form (GET /act/NAME), a confirmation page that says
what will happen and who will get mail (POST /act/NAME: the service call rehearsed in a transaction
that is rolled back, so the recipients are the ones the service itself would write), and the act
(POST /act/NAME with confirm=1: the same call, committed, its mails delivered in the background).

Adding an action is one `Action` (its form's context, the service call, where to go afterwards and
what to say) and one template `templates/web/actions/NAME.html` (its fields and its confirmation).
Every other role gets a 404 here: the pages do not exist for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session, select
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from core.clock import today_in
from core.settings import Settings
from core.texts import message
from models.calendar import load_calendar
from models.chain import DEFAULT_CHAIN, Refused, StageKind, review_stages, stage_def
from models.db import get_engine
from models.deadlines import DeadlinePolicy
from models.tables import AccountRole, Cycle, InboundMessage, OutboxMessage, Person, Report, Unit
from services.accounts import Signer
from services.audit import through
from services.calendar import KINDS, set_calendar_day
from services.cycle import change_policy, check_cycle_year, cycle_policy, cycle_under_way, open_cycle
from services.decisions import record_decision, round_to_decide
from services.delivery import deliver_all
from services.drafts import accept_anyway, is_held
from services.filing import file_report, publish_report
from services.mail import retry_mail
from services.meeting import record_meeting
from services.rehearsal import Mail, mails_since, outbox_mark, rehearse
from services.stages import chain_of, find_report, latest_version, open_round_of
from services.triage import decide, dismiss, pending, writer_words
from services.units import close_unit
from web.render import page
from web.security import Db, Invalid, NotFound, Who, download, report_in_scope

log = logging.getLogger("reportchain.web")
router = APIRouter()
Values = dict[str, str]


def coordinator(who: Who) -> Signer:
    """The signed-in county coordinator; anyone else gets a 404 (the actions are not there for them)."""
    if who.role is not AccountRole.COUNTY_COORDINATOR:
        raise NotFound
    return who


Coordinator = Annotated[Signer, Depends(coordinator)]


async def form_values(request: Request) -> Values:
    """The posted text fields (not the CSRF token, which csrf_guard checked)."""
    form = await request.form()
    return {key: value.strip() for key, value in form.items() if isinstance(value, str) and key != "csrf"}


Form = Annotated[Values, Depends(form_values)]


def number(values: Values, key: str) -> int | None:
    """An optional whole number of the form (a round, a year, a mail's id)."""
    text = values.get(key, "")
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise Invalid(message("console.bad_number", value=text))
    return int(text)


def day_of(text: str, refusal: str, param: str) -> date:
    """A YYYY-MM-DD field; refused with message `refusal` (its `param` the text) otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(message(refusal, **{param: text})) from None


@dataclass(frozen=True)
class Action:
    """One coordinator action: `form` gives its template what it shows (from the query string or the
    posted values), `act` calls the service (plain values back: a rehearsal rolls its rows away),
    `done` says where to go and what to tell the coordinator."""

    form: Callable[[Session, Settings, Signer, Values], dict]
    act: Callable[[Session, Settings, str, Values], dict]
    done: Callable[[dict], tuple[str, str]]


def report_form(session: Session, _settings: Settings, who: Signer, values: Values) -> dict:
    report = report_in_scope(session, who, values.get("ref", ""))
    return {"report": report, "unit": session.get(Unit, report.unit_id), "version": latest_version(session, report.id),
            "round": open_round_of(session, report), "chain": chain_of(session, report)}


def report_of(session: Session, values: Values) -> Report:
    report = session.exec(select(Report).where(Report.ref == values.get("ref", "").upper())).first()
    if report is None:
        raise Refused("unknown_report", ref=values.get("ref", ""))
    return report


def accept(session: Session, settings: Settings, actor: str, values: Values) -> dict:
    report = report_of(session, values)
    version = accept_anyway(session, settings, report, actor)
    return {"ref": report.ref, "version": version.number, "stage": report.stage, "chain": chain_of(session, report),
            "errors": [f["message"] for f in version.findings if f["severity"] == "error"]}


def decide_by_phone(session: Session, settings: Settings, actor: str, values: Values) -> dict:
    rnd = round_to_decide(session, values.get("ref", ""), values.get("stage"), number(values, "round"))
    decision = values.get("decision", "")
    applied = record_decision(session, settings, rnd.id, decision, comment=values.get("comment", ""), via="phone",
                              actor=actor)
    report = session.get(Report, rnd.report_id)
    if not applied:
        raise Refused("round_already_decided", ref=report.ref, decision=decision)
    return {"ref": report.ref, "decided": rnd.stage, "round": rnd.number, "decision": decision,
            "comment": values.get("comment", ""), "reviewer": session.get(Person, rnd.reviewer_id).name,
            "stage": report.stage, "chain": chain_of(session, report)}


def file_upward(session: Session, settings: Settings, actor: str, values: Values) -> dict:
    report = report_of(session, values)
    file_report(session, settings, report, actor)
    return {"ref": report.ref, "to": session.get(Unit, report.unit_id).filing_to}


def publish(session: Session, _settings: Settings, actor: str, values: Values) -> dict:
    report = report_of(session, values)
    url = values.get("url", "")
    if not url.lower().startswith(("http://", "https://")) or len(url) > 500:
        raise Invalid(message("publish_bad_url", url=url))
    new = publish_report(session, report, url, actor)
    return {"ref": report.ref, "url": url, "new": new}


def meeting(session: Session, _settings: Settings, actor: str, values: Values) -> dict:
    report = report_of(session, values)
    day = values.get("meeting_on", "")
    on = day_of(day, "meeting_bad_day", "value") if day else None
    changed = record_meeting(session, report, on=on, minutes=values.get("minutes", ""), actor=actor, via="console")
    return {"ref": report.ref, "changed": changed, "meeting": message(
        "meeting", body=report.meeting_body, on=report.meeting_on, minutes=report.meeting_minutes)}


def mail_form(session: Session, _settings: Settings, who: Signer, values: Values) -> dict:
    mail = session.get(OutboxMessage, number(values, "mail") or 0)
    if mail is None:
        raise NotFound
    return {"mail": mail, "report": session.get(Report, mail.report_id) if mail.report_id else None}


def retry(session: Session, _settings: Settings, actor: str, values: Values) -> dict:
    row = retry_mail(session, number(values, "mail") or 0, actor)
    report = session.get(Report, row.report_id) if row.report_id else None
    return {"mail": row.id, "to": row.to_addrs, "cc": row.cc_addrs, "subject": row.subject,
            "ref": report.ref if report else None}


def policy_fields(policy: DeadlinePolicy) -> dict[str, str]:
    """The policy as the form shows it: each key (as `reportchain deadlines set` names it) and its value."""
    data = policy.as_json()
    fields = {**data["dates"], **{k: str(v) for k, v in data["budgets"].items()}}
    for key in ("remind_before", "remind_overdue"):
        fields[key] = ",".join(str(n) for n in data[key])
    for key in ("escalate_supervisor", "escalate_coordinator"):
        fields[key] = str(data[key])
    for key in ("remind_on_day", "auto_file"):
        fields[key] = "true" if data[key] else "false"
    fields["working_hours"] = "-".join(data["working_hours"])
    return fields


def policy_changes(values: Values, before: dict[str, str]) -> dict[str, str]:
    """What the form changed: the policy keys whose posted value differs from the one shown."""
    return {key: values[key] for key in before if key in values and values[key] != before[key]}


def unpublished(session: Session, policy: DeadlinePolicy) -> list[int]:
    days = policy.date_due(load_calendar(session), "drafting"), *policy.dates.values()
    return load_calendar(session).warnings(min(days), max(days))


def cycle_year(session: Session, settings: Settings, values: Values) -> int:
    year = number(values, "year")
    if year is None:
        year = cycle_under_way(today_in(settings.timezone))
        opened = set(session.exec(select(Cycle.year)))
        year = year + 1 if year in opened else year
    if not 2000 <= year <= 2100:
        raise Invalid(message("bad_year", year=year))
    return year


def open_form(session: Session, settings: Settings, _who: Signer, values: Values) -> dict:
    year = cycle_year(session, settings, values)
    policy = cycle_policy(settings, year)
    return {"year": year, "fields": policy_fields(policy), "unpublished": unpublished(session, policy),
            "exists": session.exec(select(Cycle.id).where(Cycle.year == year)).first() is not None}


def open_year(session: Session, settings: Settings, actor: str, values: Values) -> dict:
    year = cycle_year(session, settings, values)
    if values.get("confirm_year") != "1":
        check_cycle_year(year, settings.timezone)
    before = policy_fields(cycle_policy(settings, year))
    created = open_cycle(session, settings, year, policy_changes(values, before), actor)
    return {"year": year, "created": len(created)}


def calendar_day(session: Session, _settings: Settings, actor: str, values: Values) -> dict:
    kind = values.get("kind", "")
    if kind not in KINDS:
        raise Invalid(message("calendar.bad_kind", kind=kind))
    day = day_of(values.get("day", ""), "calendar.bad_day", "day")
    set_calendar_day(session, day, kind, values.get("note", "")[:200], actor)
    return {"day": day.isoformat(), "kind": kind, "note": values.get("note", "")}


def cycle_of(session: Session, settings: Settings, values: Values) -> Cycle:
    year = number(values, "year")
    query = select(Cycle).order_by(Cycle.year.desc())
    cycle = session.exec(query.where(Cycle.year == year) if year else query).first()
    if cycle is None:
        raise NotFound
    return cycle


def deadlines_form(session: Session, settings: Settings, _who: Signer, values: Values) -> dict:
    cycle = cycle_of(session, settings, values)
    policy = DeadlinePolicy.from_json(cycle.policy)
    return {"year": cycle.year, "fields": policy_fields(policy), "unpublished": unpublished(session, policy)}


def deadlines(session: Session, settings: Settings, actor: str, values: Values) -> dict:
    cycle = cycle_of(session, settings, values)
    before = policy_fields(DeadlinePolicy.from_json(cycle.policy))
    changed = change_policy(session, cycle, policy_changes(values, before), actor)
    after = policy_fields(DeadlinePolicy.from_json(cycle.policy))
    return {"year": cycle.year, "changed": changed,
            "diff": [(key, before[key], after[key]) for key in before if before[key] != after[key]]}


def triage_form(session: Session, _settings: Settings, _who: Signer, values: Values) -> dict:
    inbound = session.get(InboundMessage, number(values, "inbound") or 0)
    if inbound is None:
        raise NotFound
    report = session.get(Report, inbound.report_id) if inbound.report_id else None
    chain = chain_of(session, report) if report else DEFAULT_CHAIN
    words, under_header = writer_words(inbound.raw)
    return {"inbound": inbound, "report": report, "words": words, "under_header": under_header,
            "round": open_round_of(session, report) if report else None, "chain": chain,
            "reviews": [s.name for s in review_stages(chain)]}


def triage_decide(session: Session, settings: Settings, actor: str, values: Values) -> dict:
    result = decide(session, settings, number(values, "inbound") or 0, values.get("decision", ""),
                    stage=values.get("stage"), number=number(values, "round"), ref=values.get("ref") or None,
                    comment=values.get("comment", ""), actor=actor)
    return {"inbound": result.inbound_id, "ref": result.ref, "decision": result.decision, "stage": result.stage,
            "chain": chain_of(session, find_report(session, result.ref))}


def triage_dismiss(session: Session, _settings: Settings, actor: str, values: Values) -> dict:
    result = dismiss(session, number(values, "inbound") or 0, values.get("reason", "")[:500], actor=actor)
    return {"inbound": result.inbound_id, "ref": result.ref, "reason": values.get("reason", "")}


def close(session: Session, _settings: Settings, actor: str, values: Values) -> dict:
    report = report_of(session, values)
    closed = close_unit(session, session.get(Unit, report.unit_id).code, values.get("reason", ""), actor)
    return {"ref": report.ref, "unit": closed.unit, "reason": closed.reason, "unfinished": closed.unfinished,
            "cancelled": closed.cancelled}


def to_report(result: dict) -> str:
    return f"/reports/{result['ref']}"


ACTIONS: dict[str, Action] = {
    "accept": Action(report_form, accept, lambda r: (to_report(r), message("draft_accepted", **{
        k: r[k] for k in ("ref", "version", "stage", "chain")}))),
    "decide": Action(report_form, decide_by_phone, lambda r: (to_report(r), message(
        "decision_recorded", ref=r["ref"], decision=r["decision"], stage=r["stage"], chain=r["chain"]))),
    "file": Action(report_form, file_upward, lambda r: (to_report(r), message("filing_written", **r))),
    "publish": Action(report_form, publish, lambda r: (to_report(r), message(
        "published", ref=r["ref"], url=r["url"], new=r["new"]))),
    "meeting": Action(report_form, meeting, lambda r: (to_report(r), message(
        "meeting_recorded" if r["changed"] else "meeting_unchanged", ref=r["ref"], meeting=r["meeting"]))),
    "retry": Action(mail_form, retry, lambda r: (to_report(r) if r["ref"] else "/", message(
        "console.mail_retried", outbox_id=r["mail"]))),
    "open_cycle": Action(open_form, open_year, lambda r: (f"/?year={r['year']}", message(
        "console.cycle_opened", **r))),
    "calendar": Action(lambda s, st, w, v: {}, calendar_day, lambda r: ("/", message(
        "calendar.set", day=r["day"], kind=r["kind"]))),
    "deadlines": Action(deadlines_form, deadlines, lambda r: (f"/?year={r['year']}", message(
        "policy.changed" if r["changed"] else "policy.unchanged", dry=False, year=r["year"]))),
    "triage_decide": Action(triage_form, triage_decide, lambda r: ("/triage", message(
        "triage.decided", inbound_id=r["inbound"], ref=r["ref"], decision=r["decision"], stage=r["stage"],
        chain=r["chain"]))),
    "triage_dismiss": Action(triage_form, triage_dismiss, lambda r: ("/triage", message(
        "triage.dismissed", inbound_id=r["inbound"]))),
    "close_unit": Action(report_form, close, lambda r: (to_report(r), message(
        "unit_closed", **{k: r[k] for k in ("unit", "reason", "unfinished", "cancelled")}))),
}


def action_named(name: str) -> Action:
    if name not in ACTIONS:
        raise NotFound
    return ACTIONS[name]


@router.get("/act/{name}")
def action_form(request: Request, name: str, who: Coordinator, session: Db) -> Response:
    action = action_named(name)
    values = {k: v.strip() for k, v in request.query_params.items()}
    context = action.form(session, request.app.state.settings, who, values)
    return page(request, f"web/actions/{name}.html", who, name=name, mode="form", values=values, **context)


@router.post("/act/{name}")
def action_post(request: Request, name: str, who: Coordinator, session: Db, values: Form) -> Response:
    """Without confirm=1: the confirmation page (nothing kept). With it: the act, committed."""
    action = action_named(name)
    settings = request.app.state.settings
    confirmed = values.pop("confirm", "") == "1"
    if not confirmed:
        context = action.form(session, settings, who, values)
        result, mails = rehearse(session, lambda: action.act(session, settings, who.email, values))
        return page(request, f"web/actions/{name}.html", who, name=name, mode="confirm", values=values,
                    result=result, mails=mails, **context)
    result, mails = act(session, lambda: action.act(session, settings, who.email, values))
    target, said = action.done(result)
    return after_action(request, target, said, mails)


def act(session: Session, step: Callable[[], Any]) -> tuple[Any, list[Mail]]:
    """Run the service call as the console (its audit events say so), and commit it with its mails."""
    with through("console"):
        mark = outbox_mark(session)
        result = step()
        mails = mails_since(session, mark)
    session.commit()
    return result, mails


def after_action(request: Request, target: str, said: str, mails: list[Mail]) -> Response:
    """Back to the page the action was about, with what was done (and mails queued) as a flash; the
    mails go out after the response, in their own session."""
    if mails:
        said += message("console.mails_queued", count=len(mails))
    request.session["flash"] = said
    settings = request.app.state.settings
    task = BackgroundTask(deliver_later, settings) if mails else None
    return RedirectResponse(target, status_code=303, background=task)


def deliver_later(settings: Settings) -> None:
    """Deliver the outbox after an action; a failure is logged (the sweep retries), never shown as an error."""
    try:
        with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
            deliver_all(session, settings)
            session.commit()
    except Exception:
        log.exception("delivery after a console action failed; the mails wait in the outbox")


def report_actions(session: Session, who: Signer, report: Report) -> list[str]:
    """The actions a coordinator can take on the report now (the report page links them)."""
    if who.role is not AccountRole.COUNTY_COORDINATOR:
        return []
    if session.get(Unit, report.unit_id).closed_at is not None:
        return []
    kind = stage_def(chain_of(session, report), report.stage).kind
    version = latest_version(session, report.id)
    return [*{StageKind.DRAFT: ["accept"] if version is not None and is_held(session, version) else [],
              StageKind.REVIEW: ["decide"] if open_round_of(session, report) else [],
              StageKind.CONFIDENTIALITY: ["decide", "meeting"] if open_round_of(session, report)
              else ["publish", "meeting"],
              StageKind.FILING: ["file", "meeting"], StageKind.FILED: ["meeting"],
              StageKind.DONE: ["meeting"]}.get(kind, []), "close_unit"]


@router.get("/triage")
def triage_list(request: Request, who: Coordinator, session: Db) -> Response:
    return page(request, "web/triage.html", who, items=pending(session, 200),
                timezone=request.app.state.settings.timezone)


@router.get("/triage/{inbound_id}.eml")
def triage_raw(inbound_id: int, who: Coordinator, session: Db) -> Response:
    inbound = session.get(InboundMessage, inbound_id)
    if inbound is None:
        raise NotFound
    return download(inbound.raw, f"mail-{inbound.id}.eml", f"mail-{inbound.id}.eml")
