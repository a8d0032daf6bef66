"""Read a reviewer's own words as approve, return or unclear — and never guess.

The words are scanned once for decision phrases, negations, corrections, remarks, questions and
conditions (longest phrase first, so 不同意 is never read as 同意 and 不同意见：无 is an approval).
Only an unambiguous text decides: an approval and a firm return together, a question, a condition,
or no decision word at all is "unclear", and an unclear reply moves nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from notifications.mailtext import normalise

APPROVE, RETURN, UNCLEAR = "approve", "return", "unclear"

_END = r"(?=$|[\s,.;:!?。、了啦吧的])"  # a verdict ends its clause: 通过。 not 通过邮件
_NEGATOR = r"(?:不|未|没有?|别|无法|不能|不予|不可|暂不|尚未|并不|不太|不宜|不再)(?:予以|能|太|再|可)?"
_APPROVE_VERB = r"(?:同意|通过|批准|认可|可以)"
_EN_NEGATOR = (r"(?:not|don['’]?t|do not|does not|doesn['’]?t|cannot|can['’]?t|won['’]?t|will not|could not|"
               r"couldn['’]?t)")
_VERDICT = r"\s*['\"“‘]?(?=同意|退回|通过|驳回|不同意|approve|return|reject)"

# (kind, pattern) — tried left to right at each position, so longer phrases come first.
TOKENS: tuple[tuple[str, str], ...] = (
    ("correction", r"更正\s*:|纠正\s*:|更正一下|纠正一下|(更改为|改为|改成)" + _VERDICT +
                   r"|以此为准|以本邮件为准|以此邮件为准|以这封为准|"
                   r"看错了|写错了|回复错了|说错了|上一封(回复|邮件)?有误|刚才(的)?(回复|邮件)?有误|"
                   r"correction\s*:|i meant|please ignore (my )?(previous|last|earlier)"),
    ("approve", r"不同意见\s*:?\s*(无|没有|暂无)" + _END + r"|(无|没有)不同意见|无异议|没有异议|无意见|没有意见|没意见|"
                r"没问题|没有问题|确认无误|(审核|审议|审查|审批|一致)通过" + _END),
    ("neutral", r"不同意见|(没有|并非|并不是|不是)不同意|未经[^,.;!?。\n]{0,10}同意|"
                r"通过(邮件|电话|微信|短信|传真|附件|系统|这种|以下)"),
    ("conditional", r"(修改|完善|补充|调整|更正|核实|修订|改正)[^,.;!?。\n]{0,8}后(再|即可|方可|可)?(?=同意|通过|批准)|"
                    r"如果|假如|倘若|如若|除非|前提是|条件是|只要|(?<![a-z])(if|unless|provided that)(?![a-z])"),
    ("return", _NEGATOR + _APPROVE_VERB + r"|(难以|恕难|碍难|无从|拒绝|反对)(予以)?" + _APPROVE_VERB +
               r"|(同意|通过|批准)不了|退回|驳回|打回|退稿|n['’]t\s+(be\s+)?(approve[ds]?|agree[ds]?|ok|okay)(?![a-z])|"
               r"(?<![a-z])(unable to|refuses? to|never) (be )?(approve[ds]?|agree[ds]?)(?![a-z])|"
               r"(?<![a-z])(" + _EN_NEGATOR +
               r"\s+(be\s+)?(approve[ds]?|ok|okay|agree[ds]?|accept(ed)?)|not ok|disagree[ds]?|reject(ed|s)?|"
               r"return(ed|s)?|send (it )?back|decline[ds]?)(?![a-z])"),
    ("hedged", r"(?:不|没|未|非(?!常)|别|无法)[^,.;:!?。\n]{1,3}?(?:同意|通过|批准|认可)|"  # 不是很同意, 没怎么通过
               r"(?<![a-z])(?:not|never|n't)(?:\s+[a-z]+){1,2}\s+(?:approve[ds]?|agree[ds]?|ok|okay)(?![a-z])"),
    ("revise", r"请修改|需修改|需要修改|请重新修改|重新修改|请完善|需完善|需要完善|请补充|需补充|需要补充|"
               r"修改后(再)?(报|提交|报送|上报)|"
               r"(?<![a-z])(please revise|needs? (to be )?revis(ed|ion)|revise)(?![a-z])"),
    ("weak", r"可以" + _END + r"|(?<![a-z])(ok|okay|lgtm|looks good)(?![a-z])"),  # approve only when said alone
    ("approve", r"同意|批准|认可|通过" + _END +
                r"|(?<![a-z])(approved?|approval granted|agreed?|no objections?)(?![a-z])"),
    ("concessive", r"但是|但|不过|另外|同时|建议|(?<![a-z])(however|but|although|though)(?![a-z])"),
    ("question", r"吗|是否|能否|可否|是不是|要不要|行不行|可不可以|有没有|\?"),
    ("boundary", r"[\n.;:!。]"),
    ("comma", r"[,、]"),
)
SCANNER = re.compile("|".join(f"(?P<{kind}{i}>{p})" for i, (kind, p) in enumerate(TOKENS)))
SIGNALS = ("approve", "weak", "return", "revise")
# What may stand beside a weak approval ("OK", "可以") for it to count: courtesy, particles, punctuation.
COURTESY = re.compile(r"好的|好|嗯|谢谢|谢了|多谢|辛苦了|的|了|吧|啦|呢|哈|哦|thanks|thank you|[\W_]", re.IGNORECASE)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokens(text: str) -> list[Token]:
    found = []
    for match in SCANNER.finditer(normalise(text)):
        kind = re.sub(r"\d+$", "", match.lastgroup)
        found.append(Token(kind, match.group()))
    return found


def has_decision_word(text: str) -> bool:
    return any(t.kind in SIGNALS for t in tokens(text))


def clauses(found: list[Token]) -> list[list[Token]]:
    """Split at sentence ends and commas; a question mark closes (and marks) its clause."""
    result, current = [], []
    for token in found:
        if token.kind in ("boundary", "comma"):
            result.append(current)
            current = []
        elif token.text == "?":
            result.append([*current, token])
            current = []
        else:
            current.append(token)
    result.append(current)
    return [c for c in result if c]


def read_decision(text: str) -> str:
    """approve | return | unclear for the reviewer's own words."""
    found = tokens(text)
    if any(t.kind == "hedged" for t in found):
        return UNCLEAR  # a negation near an approval word that is not a plain 不同意: never guess
    corrections = [i for i, t in enumerate(found) if t.kind == "correction"]
    if corrections:
        found = found[corrections[-1] + 1:]  # a later correction in the same reply replaces what came before
    signals: list[tuple[str, bool]] = []  # (kind, after an approval and a "but …")
    approved = remarks = False
    for clause in clauses(found):
        kinds = [t.kind for t in clause]
        if "question" in kinds:
            continue  # "可以通过吗？" decides nothing
        if "conditional" in kinds and any(k in SIGNALS for k in kinds):
            return UNCLEAR  # "如果数据无误则同意", "修改后同意"
        for kind in kinds:
            if kind == "concessive" and approved:
                remarks = True
            elif kind in SIGNALS:
                signals.append((kind, remarks))
                approved = approved or kind in ("approve", "weak")
    weak_only = any(kind == "weak" for kind, _ in signals) and not any(kind == "approve" for kind, _ in signals)
    if weak_only and COURTESY.sub("", SCANNER.sub("", normalise(text))):
        return UNCLEAR  # "OK，我明天再看" acknowledges; only a bare "OK" / "可以。" approves
    signals = [("approve" if kind == "weak" else kind, remarks) for kind, remarks in signals]
    kinds = {kind for kind, _ in signals}
    if not kinds:
        return UNCLEAR
    if kinds == {"approve"}:
        return APPROVE
    if "approve" not in kinds:
        return RETURN
    if "return" not in kinds and signals[0][0] == "approve" and all(r for k, r in signals if k == "revise"):
        return APPROVE  # 原则同意，但请修改…: approval with remarks, which are forwarded
    return UNCLEAR
