"""A county's chain file (REPORTCHAIN_CHAINS_FILE, see examples/chains.yaml): its chains and which units use them.

The file is read as YAML nodes, not plain values, so every mistake is refused with the line it is on
(ChainFileError, a Refused whose Chinese message names the file and the line). A chain the file leaves
out that units still use ("default") is the built-in one.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from models.chain import (
    CHAINS,
    PERSON_KINDS,
    ChainProblem,
    ChainSet,
    Refused,
    Role,
    StageDef,
    StageKind,
    validate_chain,
)
from models.tables import UNIT_KINDS

STAGE_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")  # a stage id is stored in 32 characters
LONGEST_LABEL = 32
CHAIN_KEYS = ("kinds", "codes", "stages")
STAGE_KEYS = ("id", "label", "kind", "actor", "role_label", "budget")
BUDGETED = (StageKind.REVIEW, StageKind.CONFIDENTIALITY)


class ChainFileError(Refused):
    """The chain file cannot be used: `problem` names the mistake (macro `chains__PROBLEM`), `line` where."""

    def __init__(self, file: Path, line: int | None, problem: str, **detail) -> None:
        super().__init__("bad_chains_file", file=str(file), line=line, problem=problem, detail=detail)


def read_chain_file(path: Path) -> ChainSet:
    """The chains of the file at `path`, or ChainFileError."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise ChainFileError(path, None, "unreadable", reason=str(exc)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ChainFileError(path, mark.line + 1 if mark else None, "yaml_syntax", reason=exc.problem) from None
    return ChainReader(path).chain_set(root)


class ChainReader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def refuse(self, node: Node | None, problem: str, **detail) -> ChainFileError:
        return ChainFileError(self.path, node.start_mark.line + 1 if node is not None else None, problem, **detail)

    def mapping(self, node: Node | None, keys: tuple[str, ...] | None = None) -> dict[str, tuple[Node, Node]]:
        """A mapping's entries by key: (key node, value node); each key once, and one of `keys` if given."""
        if not isinstance(node, MappingNode):
            raise self.refuse(node, "not_a_mapping")
        entries: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            name = self.text(key)
            if name in entries:
                raise self.refuse(key, "duplicate_key", key=name)
            if keys is not None and name not in keys:
                raise self.refuse(key, "unknown_key", key=name, known="、".join(keys))
            entries[name] = (key, value)
        return entries

    def items(self, node: Node) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.refuse(node, "not_a_list")
        return node.value

    def text(self, node: Node) -> str:
        if not isinstance(node, ScalarNode) or not str(node.value).strip():
            raise self.refuse(node, "not_a_value")
        return str(node.value).strip()

    def chain_set(self, root: Node | None) -> ChainSet:
        if root is None:
            raise self.refuse(None, "no_chains")
        top = self.mapping(root, ("chains",))
        if "chains" not in top:
            raise self.refuse(root, "no_chains")
        chains, kinds, codes = dict(CHAINS), {}, {}
        for name, (key, value) in self.mapping(top["chains"][1]).items():
            if not STAGE_ID.fullmatch(name):
                raise self.refuse(key, "bad_chain_name", value=name)
            entries = self.mapping(value, CHAIN_KEYS)
            if "stages" not in entries:
                raise self.refuse(key, "missing_key", key="stages")
            chains[name] = self.chain(key, entries["stages"][1])
            for field, users, allowed in (("kinds", kinds, UNIT_KINDS), ("codes", codes, None)):
                for item in self.items(entries[field][1]) if field in entries else ():
                    user = self.text(item)
                    if allowed is not None and user not in allowed:
                        raise self.refuse(item, "bad_unit_kind", value=user, known="、".join(allowed))
                    if user in users:
                        raise self.refuse(item, "used_twice", value=user, chain=users[user])
                    users[user] = name
        return ChainSet(chains, kinds, codes)

    def chain(self, key: Node, node: Node) -> tuple[StageDef, ...]:
        items = self.items(node)
        chain = tuple(self.stage(item) for item in items)
        try:
            validate_chain(chain)
        except ChainProblem as exc:
            raise self.refuse(key if exc.index is None else items[exc.index], exc.code, **exc.params) from None
        return chain

    def stage(self, node: Node) -> StageDef:
        entries = self.mapping(node, STAGE_KEYS)
        for required in ("id", "label", "kind"):
            if required not in entries:
                raise self.refuse(node, "missing_key", key=required)
        values = {name: (value, self.text(value)) for name, (_, value) in entries.items()}
        stage_id, label = values["id"][1], values["label"][1]
        if not STAGE_ID.fullmatch(stage_id):
            raise self.refuse(values["id"][0], "bad_stage_id", value=stage_id)
        for name in ("label", "role_label"):
            if name in values and len(values[name][1]) > LONGEST_LABEL:
                raise self.refuse(values[name][0], "long_label", value=values[name][1], limit=LONGEST_LABEL)
        kind = self.choice(values["kind"], StageKind, "bad_stage_kind")
        actor = self.choice(values["actor"], Role, "bad_role") if "actor" in values else None
        if actor is not None and kind not in PERSON_KINDS:
            raise self.refuse(values["actor"][0], "actor_not_here", kind=kind.value)
        budget = None
        if "budget" in values:
            where, text = values["budget"]
            if kind not in BUDGETED:
                raise self.refuse(where, "budget_not_here", kind=kind.value)
            if not text.isdigit() or int(text) < 1:
                raise self.refuse(where, "bad_budget", value=text)
            budget = int(text)
        role_label = values["role_label"][1] if "role_label" in values else None
        return StageDef(stage_id, kind, actor, label, role_label, budget)

    def choice(self, value: tuple[Node, str], enum: type, problem: str):
        try:
            return enum(value[1])
        except ValueError:
            raise self.refuse(value[0], problem, value=value[1], known="、".join(e.value for e in enum)) from None
