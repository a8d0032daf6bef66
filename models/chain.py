"""The report chain as data: stage definitions and the pure rule that says which event moves where.

A chain is a tuple of StageDef. A unit kind with an extra stage (e.g. 政府常务会议 before 党委会) is a
different tuple, not new code. Nothing here touches the database or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Stage(StrEnum):
    """The stages of the default chain, as stored on a report (a chain may add its own)."""

    DRAFTING = "drafting"
    LEGAL_REVIEW = "legal_review"
    COMMITTEE_REVIEW = "committee_review"
    FILING = "filing"
    FILED = "filed"
    CONFIDENTIALITY_REVIEW = "confidentiality_review"
    PUBLISHED = "published"


class StageKind(StrEnum):
    DRAFT = "draft"  # a person writes and submits a version
    REVIEW = "review"  # a person approves or returns, by reply or by phone
    FILING = "filing"  # the system sends the approved version upward
    FILED = "filed"  # sent upward; the confidentiality review is asked for next
    CONFIDENTIALITY = "confidentiality"  # 保密审查 by reply or phone, then publication by the coordinator
    DONE = "done"  # published; nothing moves any more


class Event(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    RETURN = "return"
    FILING_SENT = "filing_sent"
    ACKNOWLEDGE = "acknowledge"
    REQUEST_CLEARANCE = "request_clearance"  # the filed version goes to the confidentiality reviewer
    PUBLISH = "publish"


class Role(StrEnum):
    DRAFTER = "drafter"
    LEGAL_ADVISOR = "legal_advisor"
    APPROVAL_CONTACT = "approval_contact"
    CONFIDENTIALITY_REVIEWER = "confidentiality_reviewer"
    SUPERVISOR = "supervisor"
    COORDINATOR = "coordinator"
    DELEGATE = "delegate"  # may answer review prompts for the unit's reviewers (e.g. a law firm's assistant)


@dataclass(frozen=True)
class StageDef:
    name: str
    kind: StageKind
    actor: Role | None = None


@dataclass(frozen=True)
class Transition:
    """The answer of the rules: allowed (to_stage set) or refused (refusal code + params)."""

    event: Event
    from_stage: str
    to_stage: str | None = None
    refusal: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.refusal is None


DEFAULT_CHAIN: tuple[StageDef, ...] = (
    StageDef(Stage.DRAFTING, StageKind.DRAFT, Role.DRAFTER),
    StageDef(Stage.LEGAL_REVIEW, StageKind.REVIEW, Role.LEGAL_ADVISOR),
    StageDef(Stage.COMMITTEE_REVIEW, StageKind.REVIEW, Role.APPROVAL_CONTACT),
    StageDef(Stage.FILING, StageKind.FILING),
    StageDef(Stage.FILED, StageKind.FILED),
    StageDef(Stage.CONFIDENTIALITY_REVIEW, StageKind.CONFIDENTIALITY, Role.CONFIDENTIALITY_REVIEWER),
    StageDef(Stage.PUBLISHED, StageKind.DONE),
)

CHAINS: dict[str, tuple[StageDef, ...]] = {"default": DEFAULT_CHAIN}

# Which events each kind of stage accepts, and where they lead: "next", "first" (back to drafting)
# or "stay" (recorded without moving). A confidentiality review's approval stays: the report waits
# there for the coordinator to publish it; its refusal asks the drafters for a public version, which
# goes back to that review only (see `transition`).
_MOVES: dict[StageKind, dict[Event, str]] = {
    StageKind.DRAFT: {Event.SUBMIT: "next"},
    StageKind.REVIEW: {Event.APPROVE: "next", Event.RETURN: "first"},
    StageKind.FILING: {Event.FILING_SENT: "next"},
    StageKind.FILED: {Event.ACKNOWLEDGE: "stay", Event.REQUEST_CLEARANCE: "next"},
    StageKind.CONFIDENTIALITY: {Event.APPROVE: "stay", Event.RETURN: "first", Event.PUBLISH: "next",
                                Event.ACKNOWLEDGE: "stay"},
    StageKind.DONE: {},
}


def get_chain(name: str = "default") -> tuple[StageDef, ...]:
    try:
        return CHAINS[name]
    except KeyError:
        raise ValueError(f"unknown chain {name!r}; known: {sorted(CHAINS)}") from None


def stage_def(chain: tuple[StageDef, ...], name: str) -> StageDef:
    for stage in chain:
        if stage.name == name:
            return stage
    raise ValueError(f"stage {name!r} is not in this chain")


def validate_chain(chain: tuple[StageDef, ...]) -> None:
    """A chain starts with a draft stage, ends with a done stage reached through a confidentiality
    review (nothing is published without one), and names each stage once."""
    names = [s.name for s in chain]
    if len(set(names)) != len(names):
        raise ValueError("a chain names a stage twice")
    if not chain or chain[0].kind is not StageKind.DRAFT or chain[-1].kind is not StageKind.DONE:
        raise ValueError("a chain starts with a draft stage and ends with a done stage")
    if len(chain) < 2 or chain[-2].kind is not StageKind.CONFIDENTIALITY:
        raise ValueError("a chain publishes only after a confidentiality review stage")
    for stage in chain:
        if stage.kind in PERSON_KINDS and stage.actor is None:
            raise ValueError(f"stage {stage.name!r} needs an actor role")


PERSON_KINDS = (StageKind.DRAFT, StageKind.REVIEW, StageKind.CONFIDENTIALITY)  # a person acts there
DECIDED_KINDS = (StageKind.REVIEW, StageKind.CONFIDENTIALITY)  # a reviewer approves or returns there


def transition(chain: tuple[StageDef, ...], current: str, event: Event | str,
               returned_from: str | None = None) -> Transition:
    """Where `event` takes a report standing at `current`, or why it cannot. `returned_from`: the stage
    whose return last sent the report to drafting; a version submitted after a confidentiality review's
    refusal (the public version) goes back to that review, not through the earlier reviews again."""
    event = Event(event)
    names = [s.name for s in chain]
    if current not in names:
        return Transition(event, current, refusal="unknown_stage", params={"stage": current})
    index = names.index(current)
    move = _MOVES[chain[index].kind].get(event)
    if move is None:
        refusal = "already_published" if chain[index].kind is StageKind.DONE else "not_allowed_here"
        return Transition(event, current, refusal=refusal, params={"stage": current, "event": event.value})
    target = {"next": names[min(index + 1, len(names) - 1)], "first": names[0], "stay": current}[move]
    if event is Event.SUBMIT and returned_from in names and \
            chain[names.index(returned_from)].kind is StageKind.CONFIDENTIALITY:
        target = returned_from
    return Transition(event, current, to_stage=target)


def allowed_events(chain: tuple[StageDef, ...], current: str) -> list[Event]:
    return [e for e in Event if transition(chain, current, e).allowed]


class Refused(Exception):
    """A move the rules or the data do not allow. `code` names the user's message
    (templates/cli/messages.j2, macro `refused__CODE`); `params` fill it in."""

    def __init__(self, code: str, **params) -> None:
        super().__init__(f"{code} {params}")
        self.code, self.params = code, params

    @classmethod
    def from_transition(cls, t: Transition) -> Refused:
        return cls(t.refusal, **t.params)
