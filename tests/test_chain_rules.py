"""The chain rules (models/chain.py) checked against a table written out by hand: every stage of the
default chain against every event, the Chinese refusal each wrong move shows, a chain with an extra
review stage, and what validate_chain refuses."""

from __future__ import annotations

import itertools
import json

import pytest

from core.texts import message
from models.chain import (
    BUILT_IN,
    DEFAULT_CHAIN,
    ChainSet,
    Event,
    Refused,
    Role,
    StageDef,
    StageKind,
    allowed_events,
    stage_def,
    transition,
    validate_chain,
)

# The default chain as the design (DESIGN.md §2) describes it, written out independently of the code.
STAGES = ["drafting", "legal_review", "committee_review", "filing", "filed", "confidentiality_review", "published"]
EVENTS = ["submit", "approve", "return", "filing_sent", "acknowledge", "request_clearance", "publish"]

# (stage, event) → stage the report lands on. Every pair not listed here must be refused.
LEGAL_MOVES = {
    ("drafting", "submit"): "legal_review",
    ("legal_review", "approve"): "committee_review",
    ("legal_review", "return"): "drafting",
    ("committee_review", "approve"): "filing",
    ("committee_review", "return"): "drafting",
    ("filing", "filing_sent"): "filed",
    ("filed", "acknowledge"): "filed",  # recorded, the report stays where it is
    ("filed", "request_clearance"): "confidentiality_review",
    ("confidentiality_review", "approve"): "confidentiality_review",  # cleared: waits to be published
    ("confidentiality_review", "return"): "drafting",  # for a public version
    ("confidentiality_review", "acknowledge"): "confidentiality_review",
    ("confidentiality_review", "publish"): "published",
}

STAGE_LABELS = {
    "drafting": "起草",
    "legal_review": "法律顾问审核",
    "committee_review": "党委审议",
    "filing": "待报送",
    "filed": "已报送",
    "confidentiality_review": "保密审查",
    "published": "已公开",
}
EVENT_LABELS = {
    "submit": "提交稿件",
    "approve": "同意",
    "return": "退回",
    "filing_sent": "报送成功",
    "acknowledge": "上级确认收到",
    "request_clearance": "送保密审查",
    "publish": "公开",
}

ALL_PAIRS = list(itertools.product(STAGES, EVENTS))
ALLOWED_PAIRS = [pair for pair in ALL_PAIRS if pair in LEGAL_MOVES]
REFUSED_PAIRS = [pair for pair in ALL_PAIRS if pair not in LEGAL_MOVES]


def pair_id(pair: tuple[str, str]) -> str:
    return f"{pair[0]}+{pair[1]}"


def test_the_expected_table_covers_the_whole_default_chain_and_every_event():
    assert [s.name for s in DEFAULT_CHAIN] == STAGES
    assert sorted(e.value for e in Event) == sorted(EVENTS)
    assert len(ALL_PAIRS) == 49
    assert len(ALLOWED_PAIRS) == 12


@pytest.mark.parametrize("pair", ALLOWED_PAIRS, ids=pair_id)
def test_legal_move_lands_on_the_expected_stage(pair):
    stage, event = pair
    t = transition(DEFAULT_CHAIN, stage, event)
    assert t.allowed
    assert t.to_stage == LEGAL_MOVES[pair]
    assert t.refusal is None
    assert t.from_stage == stage
    assert t.event is Event(event)


@pytest.mark.parametrize("pair", REFUSED_PAIRS, ids=pair_id)
def test_every_other_move_is_refused_with_the_right_code(pair):
    stage, event = pair
    t = transition(DEFAULT_CHAIN, stage, event)
    assert not t.allowed
    assert t.to_stage is None
    assert t.from_stage == stage
    expected_code = "already_published" if stage == "published" else "not_allowed_here"
    assert t.refusal == expected_code
    assert t.params == {"stage": stage, "event": event}


@pytest.mark.parametrize("pair", REFUSED_PAIRS, ids=pair_id)
def test_every_refusal_reads_as_chinese_naming_the_stage_and_the_event(pair):
    stage, event = pair
    t = transition(DEFAULT_CHAIN, stage, event)
    text = message(f"refused.{t.refusal}", **t.params)
    if stage == "published":
        assert text == f"报告已公开，流程已结束，不能再执行“{EVENT_LABELS[event]}”。"
    else:
        assert text == f"报告当前处于“{STAGE_LABELS[stage]}”环节，不能执行“{EVENT_LABELS[event]}”。"
    assert STAGE_LABELS[stage] in text
    assert stage not in text  # the user never sees the internal identifier


def test_events_may_be_given_as_enum_members_or_as_their_names():
    by_name = transition(DEFAULT_CHAIN, "legal_review", "approve")
    by_member = transition(DEFAULT_CHAIN, "legal_review", Event.APPROVE)
    assert by_name == by_member


def test_an_event_name_that_does_not_exist_is_an_error_not_a_refusal():
    with pytest.raises(ValueError):
        transition(DEFAULT_CHAIN, "drafting", "reject")


@pytest.mark.parametrize("event", EVENTS)
def test_a_stage_not_in_the_chain_is_refused_as_unknown(event):
    t = transition(DEFAULT_CHAIN, "archived", event)
    assert not t.allowed
    assert t.refusal == "unknown_stage"
    assert t.params == {"stage": "archived"}
    assert message(f"refused.{t.refusal}", **t.params) == "报告处于未知环节“archived”，请联系系统管理员。"


EXPECTED_ALLOWED_EVENTS = {
    "drafting": [Event.SUBMIT],
    "legal_review": [Event.APPROVE, Event.RETURN],
    "committee_review": [Event.APPROVE, Event.RETURN],
    "filing": [Event.FILING_SENT],
    "filed": [Event.ACKNOWLEDGE, Event.REQUEST_CLEARANCE],
    "confidentiality_review": [Event.APPROVE, Event.RETURN, Event.ACKNOWLEDGE, Event.PUBLISH],
    "published": [],
    "archived": [],
}


@pytest.mark.parametrize("stage", list(EXPECTED_ALLOWED_EVENTS))
def test_allowed_events_lists_what_the_table_allows(stage):
    assert allowed_events(DEFAULT_CHAIN, stage) == EXPECTED_ALLOWED_EVENTS[stage]


# A unit kind whose report also goes to 政府常务会议 before 党委会: configuration, not code.
EXECUTIVE_CHAIN = (
    StageDef("drafting", StageKind.DRAFT, Role.DRAFTER),
    StageDef("legal_review", StageKind.REVIEW, Role.LEGAL_ADVISOR),
    StageDef("executive_review", StageKind.REVIEW, Role.APPROVAL_CONTACT),
    StageDef("committee_review", StageKind.REVIEW, Role.APPROVAL_CONTACT),
    StageDef("filing", StageKind.FILING),
    StageDef("filed", StageKind.FILED),
    StageDef("confidentiality_review", StageKind.CONFIDENTIALITY, Role.CONFIDENTIALITY_REVIEWER),
    StageDef("published", StageKind.DONE),
)


def test_a_chain_with_an_extra_review_stage_is_valid():
    validate_chain(EXECUTIVE_CHAIN)  # raises if not


def test_approve_goes_through_the_extra_review_stage():
    assert transition(EXECUTIVE_CHAIN, "legal_review", "approve").to_stage == "executive_review"
    assert transition(EXECUTIVE_CHAIN, "executive_review", "approve").to_stage == "committee_review"
    assert transition(EXECUTIVE_CHAIN, "committee_review", "approve").to_stage == "filing"


def test_return_from_the_extra_review_stage_goes_back_to_drafting():
    t = transition(EXECUTIVE_CHAIN, "executive_review", "return")
    assert t.allowed
    assert t.to_stage == "drafting"


def test_the_extra_review_stage_accepts_only_review_decisions():
    assert allowed_events(EXECUTIVE_CHAIN, "executive_review") == [Event.APPROVE, Event.RETURN]
    refused = transition(EXECUTIVE_CHAIN, "executive_review", "submit")
    assert refused.refusal == "not_allowed_here"


def test_walking_the_extended_chain_from_drafting_to_published():
    events = ["submit", "approve", "approve", "approve", "filing_sent", "acknowledge", "request_clearance",
              "approve", "publish"]
    visited = ["drafting"]
    for event in events:
        t = transition(EXECUTIVE_CHAIN, visited[-1], event)
        assert t.allowed, (visited[-1], event)
        visited.append(t.to_stage)
    assert visited == ["drafting", "legal_review", "executive_review", "committee_review",
                       "filing", "filed", "filed", "confidentiality_review", "confidentiality_review", "published"]


def test_a_public_version_goes_back_to_the_confidentiality_review_only():
    back = transition(DEFAULT_CHAIN, "confidentiality_review", "return")
    assert back.to_stage == "drafting"
    public = transition(DEFAULT_CHAIN, "drafting", "submit", returned_from="confidentiality_review")
    assert public.to_stage == "confidentiality_review"  # not through legal and committee review again
    assert transition(DEFAULT_CHAIN, "drafting", "submit", returned_from="legal_review").to_stage == "legal_review"


def test_publishing_is_refused_before_the_confidentiality_review():
    for stage in ("filing", "filed"):
        assert transition(DEFAULT_CHAIN, stage, "publish").refusal == "not_allowed_here"


def test_a_chain_without_a_confidentiality_review_before_publication_is_refused():
    without = tuple(s for s in DEFAULT_CHAIN if s.kind is not StageKind.CONFIDENTIALITY)
    with pytest.raises(ValueError, match="exactly one confidentiality stage"):
        validate_chain(without)
    last = tuple(s for s in DEFAULT_CHAIN if s.kind is not StageKind.FILED)
    last = (*last[:-1], next(s for s in DEFAULT_CHAIN if s.kind is StageKind.FILED), last[-1])  # filed after it
    with pytest.raises(ValueError, match="publishes only after a confidentiality review"):
        validate_chain(last)


def test_the_extra_stage_does_not_exist_in_the_default_chain():
    assert transition(DEFAULT_CHAIN, "legal_review", "approve").to_stage == "committee_review"
    assert transition(DEFAULT_CHAIN, "executive_review", "approve").refusal == "unknown_stage"


def test_the_default_chain_is_valid_and_is_the_one_named_default():
    validate_chain(DEFAULT_CHAIN)
    assert BUILT_IN.chains == {"default": DEFAULT_CHAIN}
    assert BUILT_IN.chain_for("yehe", "township") == "default"


def test_a_cycle_s_chains_survive_their_json_and_none_is_the_built_in_ones():
    chains = ChainSet({"default": DEFAULT_CHAIN, "township": EXECUTIVE_CHAIN}, {"township": "township"},
                      {"fengjingqu": "default"})
    assert ChainSet.from_json(json.loads(json.dumps(chains.as_json()))) == chains
    assert ChainSet.from_json(None) is BUILT_IN


def test_stage_def_finds_a_stage_by_name_or_says_it_is_missing():
    assert stage_def(DEFAULT_CHAIN, "legal_review") == StageDef("legal_review", StageKind.REVIEW, Role.LEGAL_ADVISOR)
    with pytest.raises(ValueError, match="archived"):
        stage_def(DEFAULT_CHAIN, "archived")


DRAFT = StageDef("drafting", StageKind.DRAFT, Role.DRAFTER)
REVIEW = StageDef("legal_review", StageKind.REVIEW, Role.LEGAL_ADVISOR)
FILING = StageDef("filing", StageKind.FILING)
CLEARANCE = StageDef("confidentiality_review", StageKind.CONFIDENTIALITY, Role.CONFIDENTIALITY_REVIEWER)
DONE = StageDef("published", StageKind.DONE)


@pytest.mark.parametrize(
    ("chain", "complaint"),
    [
        pytest.param((DRAFT, REVIEW, REVIEW, FILING, DONE), "twice", id="duplicate-stage-name"),
        pytest.param((DRAFT, StageDef("drafting", StageKind.REVIEW, Role.LEGAL_ADVISOR), DONE), "twice",
                     id="duplicate-name-different-kind"),
        pytest.param((REVIEW, DRAFT, FILING, DONE), "starts with a draft stage", id="not-starting-with-draft"),
        pytest.param((DRAFT, REVIEW, FILING), "ends with a done stage", id="not-ending-with-done"),
        pytest.param((), "starts with a draft stage", id="empty"),
        pytest.param((DRAFT, StageDef("executive_review", StageKind.REVIEW), FILING, CLEARANCE, DONE),
                     "executive_review",
                     id="review-without-actor"),
        pytest.param((StageDef("drafting", StageKind.DRAFT), REVIEW, FILING, CLEARANCE, DONE), "drafting",
                     id="draft-without-actor"),
    ],
)
def test_validate_chain_rejects_malformed_chains(chain, complaint):
    with pytest.raises(ValueError, match=complaint):
        validate_chain(chain)


def test_refused_from_a_transition_carries_its_code_and_params():
    t = transition(DEFAULT_CHAIN, "filing", "approve")
    refused = Refused.from_transition(t)
    assert isinstance(refused, Exception)
    assert refused.code == "not_allowed_here"
    assert refused.params == {"stage": "filing", "event": "approve"}
    assert message(f"refused.{refused.code}", **refused.params) == "报告当前处于“待报送”环节，不能执行“同意”。"


def test_refused_from_an_unknown_stage_carries_only_the_stage():
    refused = Refused.from_transition(transition(DEFAULT_CHAIN, "archived", "submit"))
    assert refused.code == "unknown_stage"
    assert refused.params == {"stage": "archived"}


def test_refused_can_be_raised_and_caught_with_its_params():
    with pytest.raises(Refused) as caught:
        raise Refused("stale", ref="R-2026-001")
    assert caught.value.code == "stale"
    assert caught.value.params == {"ref": "R-2026-001"}
    assert "R-2026-001" in message(f"refused.{caught.value.code}", **caught.value.params)
