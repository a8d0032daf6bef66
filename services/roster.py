"""Import the unit roster (units, their people and roles) from CSV or YAML, all or nothing.

One row per unit. People are written "姓名 <邮箱>", several separated by semicolons; one person may
serve many units. Names are one line of sensible length and never a path; addresses are read as mail
servers read them; parents never form a loop. Every bad row is reported with its line number and
nothing is imported until the whole file is clean. Importing the same file again changes nothing.

The roster's root (a unit with no parent) may be a province, city, county or district office: it runs the
cycle and reports only when its `reports` column says so; every unit under it reports (a county under a
city files the county's own report). A role the file no longer lists for a unit it lists is ended, never
deleted. A unit that reports and joins a cycle still running gets its report and kickoff at once.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from email.utils import getaddresses
from pathlib import Path

import yaml
from sqlmodel import Session, select

from core.clock import today_in
from core.names import has_control, name_problem, normalised_address, visible
from core.settings import Settings
from core.texts import message
from models.chain import BUILT_IN, PERSON_KINDS, ChainSet, Role, StageKind
from models.db import utcnow
from models.pending import running_cycles
from models.tables import UNIT_KINDS, Assignment, Cycle, Person, Report, Unit
from services.audit import audit
from services.cycle import configured_chains, open_cycle

LEVELS = ("province", "city", "county", "district")  # at the root, they run the cycle: no report by default
YES, NO = ("yes", "y", "true", "1", "是"), ("no", "n", "false", "0", "否")
REQUIRED_COLUMNS = ("code", "name", "kind", "parent", "filing_to", "drafter", "legal_advisor", "approval_contact")
OPTIONAL_COLUMNS = ("filing_cc", "confidentiality_reviewer", "supervisor", "coordinator", "delegate", "chain",
                    "approval_body", "reports")
REPORTING_ROLES = (Role.DRAFTER, Role.LEGAL_ADVISOR, Role.APPROVAL_CONTACT)
LONGEST = {"code": 64, "name": 64, "person": 32}  # characters; the longest real 街道/管委会 name is about 20


class RosterError(Exception):
    """The roster cannot be imported; `problems` are the user's messages, one per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class UnitRow:
    line: int
    code: str
    name: str
    kind: str
    parent: str
    chain: str
    approval_body: str
    filing_to: list[str]
    filing_cc: list[str]
    reports: bool
    people: dict[Role, list[tuple[str, str]]] = field(default_factory=dict)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value).strip()


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, raw row) pairs from a CSV or YAML roster."""
    suffix = path.suffix.lower()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RosterError([message("import.bad_file", path=str(path), detail=exc.strerror)]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030", errors="replace")  # Excel on Chinese Windows saves CSV as GBK
    if suffix == ".csv":
        return csv_rows(text)
    if suffix in (".yaml", ".yml"):
        return yaml_rows(text, path)
    raise RosterError([message("import.unsupported", path=str(path))])


def csv_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """Rows with the physical line each starts on (a quoted cell may span lines)."""
    lines = io.StringIO(text, newline="").readlines()  # not splitlines(): U+2028 in a cell ends no row
    pulled: list[int] = []  # physical numbers of the lines the reader has consumed

    def feed():
        for number, line in enumerate(lines, 1):
            pulled.append(number)
            yield line

    reader = csv.DictReader(feed())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RosterError([message("import.missing_columns", columns=missing)])
    reader.fieldnames = header
    rows, consumed = [], len(pulled)
    for row in reader:
        start = pulled[consumed]
        while not lines[start - 1].strip():  # blank lines the reader skipped
            start += 1
        consumed = len(pulled)
        if any((v or "").strip() for v in row.values() if isinstance(v, str)):
            rows.append((start, {k: _cell(v) for k, v in row.items() if k}))
    return rows


def yaml_rows(text: str, path: Path) -> list[tuple[int, dict[str, str]]]:
    """Rows with the line where each item of `units:` starts."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RosterError([message("import.bad_file", path=str(path), detail=str(exc))]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("units"), list):
        raise RosterError([message("import.no_units", path=str(path))])
    units_node = next(v for k, v in node.value if k.value == "units")
    rows = []
    for item_node, item in zip(units_node.value, data["units"], strict=True):
        line = item_node.start_mark.line + 1
        if not isinstance(item, dict):
            raise RosterError([message("import.row", line=line, problem=message("import.not_a_mapping"))])
        rows.append((line, {k: _cell(v) for k, v in item.items()}))
    return rows


def parse_people(value: str) -> list[tuple[str, str]] | None:
    """'张三 <a@x.cn>; 李四 <b@x.cn>' → [(name, email in lower case)], or None when malformed."""
    people = []
    for part in re.split(r"[;；]", value):
        if not part.strip():
            continue
        parsed = getaddresses([part.strip()])
        address = normalised_address(parsed[0][1]) if len(parsed) == 1 else None
        if address is None or not parsed[0][0].strip():
            return None
        people.append((parsed[0][0].strip(), address.lower()))
    return people


def parse_addresses(value: str) -> list[str] | None:
    addrs = [normalised_address(a.strip()) for a in re.split(r"[;,；，]", value) if a.strip()]
    return None if None in addrs else addrs


def parent_loops(stored: list[Unit], rows: list[UnitRow]) -> list[tuple[UnitRow, list[str]]]:
    """The rows whose chain of parents (this file's, else the stored ones) leads back to them, each
    with the names along the loop."""
    by_id = {u.id: u for u in stored}
    code_of = {key: u.code for u in stored for key in (u.code, u.name)}
    name_of = {u.code: u.name for u in stored}
    parent = {u.code: by_id[u.parent_id].code for u in stored if u.parent_id in by_id}
    for row in rows:
        code_of[row.code] = code_of[row.name] = row.code
        name_of[row.code] = row.name
    for row in rows:
        parent[row.code] = code_of.get(row.parent)
    loops = []
    for row in rows:
        chain, code = [row.code], parent.get(row.code)
        while code is not None and code not in chain:
            chain.append(code)
            code = parent.get(code)
        if code == row.code:
            loops.append((row, [name_of[c] for c in (*chain, row.code)]))
    return loops


def validate(session: Session, rows: list[tuple[int, dict[str, str]]], chains: ChainSet) -> list[UnitRow]:
    problems: list[str] = []
    parsed: list[UnitRow] = []
    seen_codes: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    stored = list(session.exec(select(Unit)))
    known = {u.code for u in stored} | {u.name for u in stored}
    code_by_name = {u.name: u.code for u in stored}

    def bad(line: int, problem: str) -> None:
        problems.append(message("import.row", line=line, problem=problem))

    for line, row in rows:
        errors_before = len(problems)
        for required in ("code", "name", "kind"):
            if not row.get(required):
                bad(line, message("import.missing_field", field=required))
        code, name, kind = row.get("code", ""), row.get("name", ""), row.get("kind", "")
        for column, value in (("code", code), ("name", name)):
            if problem := name_problem(value, LONGEST[column]):
                bad(line, message("import.bad_name", field=column, value=visible(value), problem=problem,
                                  limit=LONGEST[column]))
        if kind and kind not in UNIT_KINDS:
            bad(line, message("import.bad_kind", kind=kind))
        if code in seen_codes:
            bad(line, message("import.duplicate_code", code=code, first_line=seen_codes[code]))
        if name in seen_names:
            bad(line, message("import.duplicate_name", name=name, first_line=seen_names[name]))
        if code_by_name.get(name, code) != code:
            bad(line, message("import.name_taken", name=name, code=code_by_name[name]))
        seen_codes.setdefault(code, line)
        seen_names.setdefault(name, line)
        reports = row.get("reports", "").lower()
        if reports and reports not in YES + NO:
            bad(line, message("import.bad_reports", value=visible(row.get("reports", ""))))
        reports = reports in YES if reports else bool(row.get("parent")) or kind not in LEVELS
        chain = row.get("chain") or "default"
        used = chains.chain_for(code, kind, chain)
        if used not in chains.chains:
            bad(line, message("import.unknown_chain", chain=used))
        # who acts in its chain (a filed report waits for its confidentiality reviewer to be named later)
        acting = ({s.actor: s.role_label or s.actor.value for s in chains.chains[used]
                   if s.kind in PERSON_KINDS and s.kind is not StageKind.CONFIDENTIALITY}
                  if used in chains.chains else {role: role.value for role in REPORTING_ROLES})
        people: dict[Role, list[tuple[str, str]]] = {}
        for role in Role:
            value = row.get(role.value, "")
            control = has_control(value)
            found = None if control else parse_people(value)
            if control:
                bad(line, message("import.bad_name", field=role.value, value=visible(value), problem="control",
                                  limit=LONGEST["person"]))
            elif found is None:
                bad(line, message("import.bad_person", role=role.value, value=value))
            for person_name, _ in found or ():
                if problem := name_problem(person_name, LONGEST["person"]):
                    bad(line, message("import.bad_name", field=role.value, value=visible(person_name),
                                      problem=problem, limit=LONGEST["person"]))
            people[role] = found or []
            if found == [] and role in acting and reports:
                bad(line, message("import.missing_person", role=acting[role]))
        addresses = {}
        for column in ("filing_to", "filing_cc"):
            addresses[column] = parse_addresses(row.get(column, ""))
            if addresses[column] is None:
                bad(line, message("import.bad_address", value=visible(row.get(column, ""))))
        if reports and addresses["filing_to"] == []:
            bad(line, message("import.missing_filing_to"))
        if len(problems) == errors_before:
            parsed.append(UnitRow(line, code, name, kind, row.get("parent", ""), chain,
                                  row.get("approval_body") or "党委会议", addresses["filing_to"] or [],
                                  addresses["filing_cc"] or [], reports, people))

    in_file = set(seen_codes) | set(seen_names)
    for unit in parsed:
        if unit.parent and unit.parent not in in_file and unit.parent not in known:
            bad(unit.line, message("import.unknown_parent", parent=unit.parent))
    for unit, names in parent_loops(stored, parsed):
        bad(unit.line, message("import.parent_loop", units=names))
    names_by_email: dict[str, tuple[str, int]] = {}
    for unit in parsed:
        for person_list in unit.people.values():
            for person_name, email in person_list:
                other = names_by_email.setdefault(email, (person_name, unit.line))
                if other[0] != person_name:
                    bad(unit.line, message("import.name_conflict", email=email, name=person_name, other=other[0]))
    if problems:
        raise RosterError(problems + [message("import.failed", count=len(problems))])
    return parsed


UNIT_FIELDS = ("name", "kind", "parent", "reports", "chain", "approval_body", "filing_to", "filing_cc")


@dataclass
class RosterPlan:
    """What importing a roster would change, worked out without writing. Nothing is ever deleted: units
    and people the file no longer lists stay in the database (shown as no longer listed); the roles of a
    listed unit that the file no longer lists are ended (`assignments_ended`), so their holders get no
    more mail. `units_changed` / `people_changed`: (code or address, {field: (before, after)}).
    `reports_added`: (year, unit name) of each report a cycle still running gets for a unit now reporting."""

    rows: list[UnitRow]
    units_added: list[str] = field(default_factory=list)  # names
    units_changed: list[tuple[str, dict[str, tuple[str, str]]]] = field(default_factory=list)
    units_unlisted: list[str] = field(default_factory=list)
    people_added: list[str] = field(default_factory=list)  # "姓名 <邮箱>"
    people_changed: list[tuple[str, dict[str, tuple[str, str]]]] = field(default_factory=list)
    people_unlisted: list[str] = field(default_factory=list)
    assignments_added: list[tuple[str, str, str]] = field(default_factory=list)  # (unit, person, role)
    assignments_ended: list[tuple[str, str, str]] = field(default_factory=list)
    reports_added: list[tuple[int, str]] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return sum(len(getattr(self, name)) for name in (
            "units_added", "units_changed", "units_unlisted", "people_added", "people_changed", "people_unlisted",
            "assignments_added", "assignments_ended", "reports_added"))


def unit_values(row: UnitRow, parent_code: str) -> dict[str, str | bool]:
    return {"name": row.name, "kind": row.kind, "parent": parent_code, "reports": row.reports, "chain": row.chain,
            "approval_body": row.approval_body, "filing_to": ", ".join(row.filing_to),
            "filing_cc": ", ".join(row.filing_cc)}


def plan_roster(session: Session, path: Path, settings: Settings | None = None) -> RosterPlan:
    """Validate the file exactly as the import does (RosterError on any problem; a unit whose chain is not
    among the settings' chains, REPORTCHAIN_CHAINS_FILE, is one) and say what the import would change;
    nothing is written. With `settings`, also the reports of the cycles running today (in the settings'
    time zone) for units that report and have none yet. Without, the built-in chain is the only one."""
    rows = validate(session, read_rows(path), configured_chains(settings) if settings is not None else BUILT_IN)
    plan = RosterPlan(rows)
    units = {u.code: u for u in session.exec(select(Unit))}
    by_id = {u.id: u for u in units.values()}
    code_of = {key: u.code for u in units.values() for key in (u.code, u.name)}
    code_of |= {key: row.code for row in rows for key in (row.code, row.name)}
    for row in rows:
        after = unit_values(row, code_of.get(row.parent, ""))
        unit = units.get(row.code)
        if unit is None:
            plan.units_added.append(f"{row.name}（{row.code}）")
            continue
        parent = by_id.get(unit.parent_id)
        before = {name: getattr(unit, name) for name in UNIT_FIELDS if name != "parent"}
        before["parent"] = parent.code if parent else ""
        changed = {name: (before[name], after[name]) for name in UNIT_FIELDS if before[name] != after[name]}
        if changed:
            plan.units_changed.append((f"{row.name}（{row.code}）", changed))
    listed = {row.code for row in rows}
    plan.units_unlisted = [f"{u.name}（{u.code}）" for u in units.values() if u.code not in listed]

    people = {p.email: p for p in session.exec(select(Person))}
    named = {email: name for row in rows for pl in row.people.values() for name, email in pl}
    for email, name in named.items():
        person = people.get(email)
        if person is None:
            plan.people_added.append(f"{name} <{email}>")
        elif person.name != name:
            plan.people_changed.append((email, {"name": (person.name, name)}))
    plan.people_unlisted = [f"{p.name} <{p.email}>" for p in people.values() if p.email not in named]

    stored = {(unit.code, person.email, a.role): (unit.name, person.name) for a, unit, person in session.exec(
        select(Assignment, Unit, Person).join(Unit, Unit.id == Assignment.unit_id)
        .join(Person, Person.id == Assignment.person_id).where(Assignment.ended_at.is_(None)))}
    wanted = {(row.code, email, role.value): (row.name, name)
              for row in rows for role, pl in row.people.items() for name, email in pl}
    plan.assignments_added = [(unit, f"{name} <{key[1]}>", key[2])
                              for key, (unit, name) in wanted.items() if key not in stored]
    plan.assignments_ended = [(unit, f"{name} <{key[1]}>", key[2])
                              for key, (unit, name) in stored.items() if key not in wanted and key[0] in listed]
    if settings is not None:
        plan.reports_added = joining(session, rows, units, today_in(settings.timezone))
    return plan


def joining(session: Session, rows: list[UnitRow], units: dict[str, Unit], today) -> list[tuple[int, str]]:
    """(year, unit name) for each cycle running `today` and each unit of the file that will report in
    it and has no report there yet (a unit added mid-cycle, or one that reports from now on)."""
    cycles = running_cycles(session.exec(select(Cycle)).all(), today)
    if not cycles:
        return []
    reporting = [row for row in rows if row.reports and not (row.code in units and units[row.code].closed_at)]
    have = set(session.exec(select(Report.cycle_id, Unit.code).join(Unit, Unit.id == Report.unit_id)
                            .where(Report.cycle_id.in_([c.id for c in cycles]))).all())
    return [(cycle.year, row.name) for cycle in cycles for row in reporting if (cycle.id, row.code) not in have]


def import_roster(session: Session, path: Path, actor: str | None = None,
                  settings: Settings | None = None) -> dict[str, int]:
    """Validate the whole file, then upsert units, people and roles in the caller's transaction
    (audited when `actor` is given, as every import by a person is); with `settings`, units joining a
    running cycle get their reports and kickoffs in the same transaction."""
    return apply_roster(session, plan_roster(session, path, settings), actor, settings)


def apply_roster(session: Session, plan: RosterPlan, actor: str | None = None,
                 settings: Settings | None = None) -> dict[str, int]:
    """Write a plan: upsert units, people and roles, end the roles a listed unit no longer has (nothing
    is deleted), and open the plan's new reports (`settings` needed for their kickoffs); audited as
    `roster_imported` with the plan's changes when `actor` is given."""
    rows = plan.rows
    units = {u.code: u for u in session.exec(select(Unit))}
    people = {p.email: p for p in session.exec(select(Person))}
    for row in rows:
        unit = units.get(row.code) or Unit(code=row.code, name=row.name, kind=row.kind)
        unit.name, unit.kind, unit.chain, unit.approval_body = row.name, row.kind, row.chain, row.approval_body
        unit.reports = row.reports
        unit.filing_to, unit.filing_cc = ", ".join(row.filing_to), ", ".join(row.filing_cc)
        session.add(unit)
        units[row.code] = unit
        for person_list in row.people.values():
            for person_name, email in person_list:
                person = people.get(email) or Person(name=person_name, email=email)
                person.name = person_name
                session.add(person)
                people[email] = person
    session.flush()
    by_name = {u.name: u for u in units.values()}
    existing = {(a.unit_id, a.person_id, a.role): a for a in session.exec(select(Assignment))}
    wanted = set()
    for row in rows:
        unit = units[row.code]
        parent = units.get(row.parent) or by_name.get(row.parent)
        unit.parent_id = parent.id if parent else None
        session.add(unit)
        for role, person_list in row.people.items():
            for _, email in person_list:
                key = (unit.id, people[email].id, role.value)
                wanted.add(key)
                assignment = existing.get(key)
                if assignment is None:
                    existing[key] = Assignment(unit_id=unit.id, person_id=people[email].id, role=role.value)
                    session.add(existing[key])
                elif assignment.ended_at is not None:  # listed again: the role resumes
                    assignment.ended_at = None
                    session.add(assignment)
    listed, now = {units[row.code].id for row in rows}, utcnow()
    for key, assignment in existing.items():
        if key not in wanted and key[0] in listed and assignment.ended_at is None:
            assignment.ended_at = now
            session.add(assignment)
    session.flush()
    if settings is not None:
        for year in sorted({year for year, _ in plan.reports_added}):
            open_cycle(session, settings, year, actor=actor or "coordinator")
    mentioned = {email for row in rows for pl in row.people.values() for _, email in pl}
    counts = {"units": len(rows), "people": len(mentioned), "assignments": len(wanted),
              "reports": len(plan.reports_added) if settings is not None else 0}
    if actor is not None:
        audit(session, None, actor, "roster_imported", changes=plan.changes, **counts,
              units_added=plan.units_added, people_added=plan.people_added,
              roles_ended=[list(ended) for ended in plan.assignments_ended])
    return counts
