"""The report chain as data: stage definitions and the pure rule that says which event moves where.

A chain is a tuple of StageDef. A unit kind with an extra stage (e.g. 政府常务会议 before 党委会) is a
different tuple, not new code: a county names its chains in a chain file (models/chain_file.py), and a
cycle keeps the chains it was opened with (ChainSet, stored as JSON). Nothing here touches the database
or the clock.
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
    label: str | None = None  # the chain file's Chinese name; None: the built-in one (templates/cli/messages.j2)
    role_label: str | None = None  # who acts, as this chain calls them (法规科); None: the role's usual name
    budget: int | None = None  # working days from the round's opening; None: the cycle's deadline policy

    def as_json(self) -> dict:
        data = {"id": self.name, "kind": self.kind.value, "actor": self.actor.value if self.actor else None,
                "label": self.label, "role_label": self.role_label, "budget": self.budget}
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_json(cls, data: dict) -> StageDef:
        actor = data.get("actor")
        return cls(data["id"], StageKind(data["kind"]), Role(actor) if actor else None, data.get("label"),
                   data.get("role_label"), data.get("budget"))


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

CHAINS: dict[str, tuple[StageDef, ...]] = {"default": DEFAULT_CHAIN}  # built in: a county without a chain file


@dataclass(frozen=True)
class ChainSet:
    """The chains a county uses and which units use which: a unit's roster `chain` (other than "default")
    first, then its code, then its kind, else "default"."""

    chains: dict[str, tuple[StageDef, ...]]
    kinds: dict[str, str] = field(default_factory=dict)  # unit kind -> chain name
    codes: dict[str, str] = field(default_factory=dict)  # unit code -> chain name

    def chain_for(self, code: str, kind: str, roster_chain: str | None = "default") -> str:
        if roster_chain and roster_chain != "default":
            return roster_chain
        return self.codes.get(code) or self.kinds.get(kind) or "default"

    def as_json(self) -> dict:
        return {"chains": {name: [stage.as_json() for stage in chain] for name, chain in self.chains.items()},
                "kinds": self.kinds, "codes": self.codes}

    @classmethod
    def from_json(cls, data: dict | None) -> ChainSet:
        """None (a cycle opened before chains were configurable): the built-in chains."""
        if not data:
            return BUILT_IN
        return cls({name: tuple(StageDef.from_json(s) for s in stages) for name, stages in data["chains"].items()},
                   dict(data.get("kinds", {})), dict(data.get("codes", {})))


BUILT_IN = ChainSet(CHAINS)

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


def review_stages(chain: tuple[StageDef, ...]) -> list[StageDef]:
    """The stages a reviewer decides (approve or return): the reviews and the confidentiality review."""
    return [s for s in chain if s.kind in DECIDED_KINDS]


def stage_def(chain: tuple[StageDef, ...], name: str) -> StageDef:
    for stage in chain:
        if stage.name == name:
            return stage
    raise ValueError(f"stage {name!r} is not in this chain")


class ChainProblem(ValueError):
    """What is wrong with a chain: `code` names the user's message (templates/cli/messages.j2, macro
    `chains__CODE`), `index` the stage at fault (None: the chain as a whole), `params` fill it in."""

    def __init__(self, code: str, index: int | None, **params) -> None:
        super().__init__(f"{code}: {CHAIN_PROBLEMS[code].format(**params)}")
        self.code, self.index, self.params = code, index, params


CHAIN_PROBLEMS = {  # the log's wording of each problem
    "duplicate_stage": "a chain names a stage twice ({stage})",
    "first_not_draft": "a chain starts with a draft stage",
    "last_not_done": "a chain ends with a done stage",
    "needs_actor": "stage {stage!r} needs an actor role",
    "fixed_id": "the {kind} stage is called {expected!r}, not {stage!r}",
    "one_of_kind": "a chain has exactly one {kind} stage",
    "review_after_filing": "review stage {stage!r} comes after filing",
    "filed_before_filing": "the filed stage comes before filing",
    "publish_without_clearance": "a chain publishes only after a confidentiality review stage",
}
# the stages the system acts on keep their ids in every chain
FIXED_IDS = {StageKind.DRAFT: Stage.DRAFTING, StageKind.FILING: Stage.FILING, StageKind.FILED: Stage.FILED,
             StageKind.CONFIDENTIALITY: Stage.CONFIDENTIALITY_REVIEW, StageKind.DONE: Stage.PUBLISHED}
PERSON_KINDS = (StageKind.DRAFT, StageKind.REVIEW, StageKind.CONFIDENTIALITY)  # a person acts there
DECIDED_KINDS = (StageKind.REVIEW, StageKind.CONFIDENTIALITY)  # a reviewer approves or returns there


def validate_chain(chain: tuple[StageDef, ...]) -> None:
    """Raise ChainProblem unless the chain starts with drafting, ends with published reached through the
    confidentiality review (nothing is published without one), names each stage once, has one filing and
    one filed stage after its reviews, and names who acts where a person acts."""
    names = [s.name for s in chain]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ChainProblem("duplicate_stage", index, stage=name)
    if not chain or chain[0].kind is not StageKind.DRAFT:
        raise ChainProblem("first_not_draft", 0 if chain else None)
    if chain[-1].kind is not StageKind.DONE:
        raise ChainProblem("last_not_done", len(chain) - 1)
    for index, stage in enumerate(chain):
        if stage.kind in PERSON_KINDS and stage.actor is None:
            raise ChainProblem("needs_actor", index, stage=stage.name)
        if stage.kind in FIXED_IDS and stage.name != FIXED_IDS[stage.kind]:
            raise ChainProblem("fixed_id", index, kind=stage.kind.value, expected=FIXED_IDS[stage.kind].value,
                               stage=stage.name)
    kinds = [s.kind for s in chain]
    for kind in FIXED_IDS:
        if kinds.count(kind) != 1:
            raise ChainProblem("one_of_kind", None, kind=kind.value)
    filing = kinds.index(StageKind.FILING)
    if kinds.index(StageKind.FILED) < filing:
        raise ChainProblem("filed_before_filing", kinds.index(StageKind.FILED))
    for index, stage in enumerate(chain[filing:], filing):
        if stage.kind is StageKind.REVIEW:
            raise ChainProblem("review_after_filing", index, stage=stage.name)
    if chain[-2].kind is not StageKind.CONFIDENTIALITY:
        raise ChainProblem("publish_without_clearance", len(chain) - 1)


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
        super().__init__(f"{code} {({k: v for k, v in params.items() if k != 'chain'})}")  # a chain: wording only
        self.code, self.params = code, params

    @classmethod
    def from_transition(cls, t: Transition, **context) -> Refused:
        """The refusal of `t`, with `context` for its message (the report's chain, which names its stages)."""
        return cls(t.refusal, **t.params, **context)
