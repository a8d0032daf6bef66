"""Read a reviewer's own words as approve, return or unclear — and never guess.

An approval is the writer's own present, unconditional approval (DESIGN §4). The words are folded
(full-width, case, traditional characters) and scanned once into tokens, the longest phrase first, so
不同意 is never read as 同意 and 不同意见：无 is an approval. Then:

1. a correction (更正：…, 以此为准) replaces everything written before it;
2. an approval word (同意, 审核通过, 无意见, approved …) approves only if no *doubt* stands anywhere in
   the reply: a condition (如果, 修改后, 的话, once, after), a deferral (先不要报, 暂时, 待定, 再说,
   not yet, later), someone else's approval or another version's (领导同意, 上一稿同意), a future
   or a guess (我会同意, 应该没问题, 倾向同意, would approve), a question, rhetorical or not (吗, ?,
   谁说, 同意与否), mockery (同意个屁, 才怪, yeah right), a vote count (同意票) or a hedged negation
   (不是很同意);
3. remarks after an approval (原则同意，建议…; approved, but please fix …) keep it an approval and are
   forwarded with it; a return or a demand for a new version beside an approval (同意，不过第三部分
   要重写后再报) does not;
4. a return word (退回, 不同意, 不宜公开, 请修改, 修改后再报, reject) returns unless its clause holds a doubt
   other than a deferral (如果数据有误则退回, 要不要退回？, 领导不同意);
5. a bare "OK" or "可以" approves only when nothing but courtesy stands beside it;
6. everything else is "unclear", and an unclear reply moves nothing: the reviewer is asked again.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from notifications.mailtext import normalise

APPROVE, RETURN, UNCLEAR = "approve", "return", "unclear"


def alternatives(*patterns: str) -> str:
    return "|".join(patterns)


_CLAUSE = r"[^,.;:!?。\n]"  # any character that stays inside a clause
_END = r"(?=$|[\s,.;:!?。、了啦吧的后])"  # a verdict ends its clause: 通过。 (and 通过后) not 通过邮件
_NEGATOR = r"(?:不|未|没有?|别|非(?!常)|无法|不能|不予|不可|暂不|尚未|并不|不太|不宜|不再)(?:予以|能|太|再|可)?"
_APPROVE_VERB = r"(?:同意|通过|批准|认可|赞成|可以)"
_APPROVAL = r"(?:同意|通过|批准|认可|赞成|可以|没问题|没有问题|无意见|没意见|无异议|ok)"  # what a doubt may qualify
_EN_APPROVAL = r"(?:approv(?:e[ds]?|al)|agree[ds]?|ok|okay|sign(?:ed)? off)(?![a-z])"
_EN_NEGATOR = (r"(?:not|don['’]?t|do not|does not|doesn['’]?t|cannot|can['’]?t|won['’]?t|will not|could not|"
               r"couldn['’]?t)")
_VERDICT = r"\s*['\"“‘]?(?=同意|退回|通过|驳回|不同意|approve|return|reject)"
_SUBMIT = r"(?:报(?!告)|上报|报送|提交|送审|呈报)"  # sending a (new) version up the chain
_OTHERS = (r"(?:领导|书记|主任|局长|县长|镇长|乡长|区长|市长|主席|部长|处长|科长|院长|所长|主管|上级|老板|合伙人|"
           r"委员|同事|律师|他们|她们|他人|别人|对方|大家|其他人|(?<!其)他|她|你们?|您)")
_EN_OTHERS = (r"(?:he|she|they|the (?:director|partner|partners|boss|committee|leadership|client|chief)|"
              r"my (?:boss|partner|director|supervisor|manager|colleague)|management)")


def en(words: str) -> str:
    """English words as whole words."""
    return rf"(?<![a-z])(?:{words})(?![a-z])"


# (kind, pattern) — tried left to right at each position, so longer and more specific phrases come first.
TOKENS: tuple[tuple[str, str], ...] = (
    ("correction", alternatives(
        r"更正\s*:|纠正\s*:|更正一下|纠正一下|(更改为|改为|改成)" + _VERDICT,
        r"以此为准|以本邮件为准|以此邮件为准|以这封为准",
        r"看错了|写错了|回复错了|说错了|上一封(回复|邮件)?有误|刚才(的)?(回复|邮件)?有误",
        r"误发|发错了?|请忽略",  # 同意（误发，请忽略）: nothing after it, so nothing is decided
        en(r"correction\s*:|i meant|please ignore|sent (this )?by mistake|wrong (e-?mail|mail|thread|report)"))),
    ("approve", alternatives(
        r"不同意见\s*:?\s*(无|没有|暂无)" + _END, r"(无|没有)不同意见",
        r"无异议|没有异议|无意见|没有意见|没意见|没问题|没有问题|确认无误",
        r"(审核|审议|审查|审批|一致)通过" + _END, r"可以(上报|报送|提交|印发)")),
    # Words that look like a decision or a doubt and are neither.
    ("neutral", alternatives(
        r"不同意见|(没有|并非|并不是|不是)不同意|未经" + _CLAUSE + r"{0,10}同意|是否同意\s*:",
        r"通过(邮件|电话|微信|短信|传真|附件|系统|这种|以下)",
        r"(无需|不用|不必|不需要?)(再|重新)",  # 不用再报了: no new version wanted
        r"(无|没有|未发现|不含)" + _CLAUSE + r"{0,4}?(不宜|不得|不能|不予|不可)(对外)?公开",  # nothing unfit to publish
        r"如(有|需)[^.;!?。\n]{0,12}?(联系|致电|来电|沟通|找我|告知)",  # 如有疑问，请联系
        en(r"(please )?(let me know|contact me|call me)[^.;!?\n]{0,40}if[^.;!?\n]*|if you (have|need) any[^.;!?\n]*"),
        r"其他|会议|会商|会审")),
    ("vote", alternatives(
        r"(同意|赞成|反对|弃权)票|票数|得票|[0-9零一二三四五六七八九十两]+\s*票",
        en(r"votes?|voted|voting|abstain\w*|ayes|nays"))),
    ("other", alternatives(  # someone else's approval, or an approval of another version
        _OTHERS + _CLAUSE + r"{0,8}?" + _APPROVE_VERB, r"征得" + _CLAUSE + r"{0,8}?同意",
        r"以" + _CLAUSE + r"{0,8}?(意见|决定)为准|同意" + _CLAUSE + r"{0,10}?的(意见|看法|观点)",  # whose opinion?
        r"上一?(稿|版|次|轮)|前一?(稿|版|轮)|之前|此前|先前|(修改|修订|新|下一?)(稿|版)",
        r"非本人|不代表本人|转发自|以下为转发|代(为|他|她)?(回复|答复|回|发)",
        en(_EN_OTHERS) + r"[^,.;!?\n]{0,30}?" + _EN_APPROVAL,
        en(r"(previous|earlier|last|first|revised|new|next|updated) (version|draft|round)|last time|"
           r"not my (decision|call)"), r"(?<![a-z])approved by (?!me(?![a-z])|myself)")),
    ("return", alternatives(
        _NEGATOR + _APPROVE_VERB,
        r"(?:" + _NEGATOR + r"|不得|不应|不便)(?:对外|向社会)?(?:公开|公布|发布)",  # 不宜公开: not to be published
        r"(难以|很难|较难|难|恕难|碍难|无从|拒绝|反对)(予以)?" + _APPROVE_VERB, r"(同意|通过|批准)不了",
        r"退回|驳回|打回|退稿|返工|重写|重新(起草|撰写|写)|重报|再改|(还|仍)(要|需要?|得)改|大改|大幅修改|推倒重来",
        r"必须(再)?(修改|重写|完善|补充|改)|不行",
        r"后(再|重新)?" + _SUBMIT + r"|(再|重新)" + _SUBMIT,  # 修改后再报: a new version is wanted
        r"n['’]t\s+(be\s+)?(approve[ds]?|agree[ds]?|ok|okay)(?![a-z])",
        en(r"(unable to|refuses? to|never) (be )?(approve[ds]?|agree[ds]?)"),
        en(_EN_NEGATOR + r"\s+(be\s+)?(approve[ds]?|ok|okay|agree[ds]?|accept(ed)?)|not ok|disagree[ds]?|"
           r"disapprove[ds]?|reject(ed|s)?|return(ed|s|ing)?|send (it )?back|decline[ds]?|re-?submit\w*|"
           r"rewrit(e|ten)|redo|re-do|start over|must be (fixed|changed|corrected|revised|amended|updated|redone)|"
           r"not (this|the current|the present) (version|draft)"))),
    ("hedged", alternatives(  # 不是很同意, 没怎么通过, not really approve
        r"(?:不|没|未|非(?!常)|别|无法)" + _CLAUSE + r"{1,3}?(?:同意|通过|批准|认可)",
        r"(?<![a-z])(?:not|never|n't)(?:\s+[a-z]+){1,2}\s+(?:approve[ds]?|agree[ds]?|ok|okay)(?![a-z])")),
    ("conditional", alternatives(
        r"如果|假如|倘若|如若|若是|若(?!干)|要是|只要|只有|除非|否则|不然|前提|条件是|一旦|的话|万一|假设|假使",
        r"(?<![例比诸譬正犹不何])如(?![下何实期此今同一其图表上所])",
        r"(?<![今然最此随前落背滞午其先稍])后(?![续附台期面来])",  # 改后同意, 同意（修改后）, 领导同意后
        r"(?<![平对相均])等(?=" + _CLAUSE + r"{0,12}?(后|了|再|完))",  # 等领导同意了再说
        r"(改|补充|核实|核对|调整|完善|修订|更正|落实|整改)(完|好)(?!善)",  # 改好了就同意
        r"(?<![首原事优预率最])先(?=(把|将|要)?" + _CLAUSE + r"{0,10}?(改|完善|补充|核实))",  # 同意，先把第三部分改了
        r"除了|除外|仅限|仅针对|有条件|附条件|视情况|看情况",
        en(r"if|unless|once|after|provided|providing|as long as|subject to|when|whenever|upon|assuming|in case|"
           r"on condition|conditions?|conditional(ly)?|otherwise|except|"
           r"with (the )?(following )?(changes|amendments|modifications|revisions)"))),
    ("deferral", alternatives(
        r"先不要|先别|先不|先放|暂缓|暂停|暂时|暂且|姑且|稍后|回头|改天|晚点|晚些|过两天|过几天|以后再|不是现在|现在不",
        r"(?<![期接对看招款优虐交])待",  # 待定, 待领导定, 有待, 等待
        r"等一下|等一等|稍等|等等|等会|再等|要等|得等|需等|还等",
        r"再(说|议|定|研究|商量|决定|回复|答复|考虑|讨论)|我" + _CLAUSE + r"{0,4}再(看|核|确认|想|联系|沟通)",
        r"明天(再|答复|回复|给)|(上报|报送|提交|印发|发布|备案|报)前|另行(回复|答复|通知|告知|发送)",
        en(r"not yet|not now|later|hold|on hold|wait|pending|postpone\w*|defer\w*|for now|tbd|"
           r"to be (decided|confirmed|determined)|get back to you|let me (check|think|confirm|look)|"
           r"will confirm|tomorrow|next week|before|until|till"))),
    ("guess", alternatives(  # a future, a guess, a lean or a provisional approval
        r"((?<![委党常例议开大社协学工全都机])会|将会|将|可能|应该|应当|也许|或许|估计|大概|大约|似乎|好像|倾向于?|"
        r"初步|拟|打算|准备|本来|原本|差点|想|只|仅|(?<![首原事优预率最])先|"
        r"(?<![一二三四五六七八九十\d第各这该此本前后两几])部分)"
        r"(?=" + _CLAUSE + r"{0,3}?" + _APPROVAL + r")",  # 我会同意的, 应该没问题, 倾向同意, 部分同意
        r"初步意见|草稿意见|非正式|保留(意见|看法)|有保留",
        en(r"will|would|shall|going to|gonna|might|may|could|should|can|probably|likely|perhaps|maybe|"
           r"inclined to|leaning|lean towards|tend to|intend to|plan to|expect to") + r"(?=(\s+[a-z]+){0,2}\s+"
        + _EN_APPROVAL + r")",
        r"['’](ll|d)(?=(\s+[a-z]+){0,2}\s+" + _EN_APPROVAL + r")",
        en(r"provisional(ly)?|tentative(ly)?|preliminar(y|ily)|partially|partly|in part|with reservations?"))),
    ("mockery", alternatives(  # sarcasm, rhetorical questions, jokes and tests: words not meant
        r"个(屁|鬼|头|毛|锤子)|才怪|呵呵|想得美|做梦|玩笑|笑话|得了吧|拉倒|随便|无所谓|不是真的|假的|[🙄🤡]",
        r"谁说|难道|岂能|岂可|怎么可能|怎么会|怎能|凭什么|哪能|哪里|哪儿|哪有|什么时候|测试",
        en(r"yeah right|as if|lol|lmao|just kidding|jk|kidding|joking|not really|in your dreams|over my dead body|"
           r"who said|whatever|"
           r"since when|why would|how could|how can|test(ing)?"),
        r"(?<![a-z])not\s*!|[.]\s*not(?![a-z])")),
    ("revise", alternatives(
        r"请修改|需修改|需要修改|请重新修改|重新修改|请完善|需完善|需要完善|请补充|需补充|需要补充|(要|得|需)(修)?改",
        en(r"please revise|needs? (to be )?revis(ed|ion)|revise|needs? (more|further|some) work|more work"))),
    ("weak", r"可以" + _END + "|" + en(r"ok|okay|lgtm|looks good|sounds good")),  # approve only when said alone
    # "I agree that …" agrees with a statement, not with the report: agree approves alone or "with the report"
    ("approve", r"同意|批准|认可|赞成|准予|通过" + _END + "|" +
                en(r"approved?|approval granted|no objections?|signed off|sign off|agreed?(?=\s*($|[,.;:!\n])|"
                   r"\s+with (the|this) (report|draft|version|document|submission))")),
    ("concessive", r"但是|但|不过|另外|另|同时|建议|" + en(r"however|but|although|though|suggest\w*")),
    ("question", r"吗|是否|能否|可否|是不是|要不要|行不行|可不可以|有没有|与否|同不同意|同意不同意|通不通过|"
                 r"批不批准|\?"),
    ("boundary", r"[\n.;:!。]"),
    ("comma", r"[,、]"),
)
SCANNER = re.compile("|".join(f"(?P<{kind}{i}>{p})" for i, (kind, p) in enumerate(TOKENS)))
SIGNALS = ("approve", "weak", "return", "revise")
APPROVALS = ("approve", "weak")
DOUBTS = ("conditional", "deferral", "other", "guess", "question", "mockery", "vote", "hedged")
CLAUSE_DOUBTS = tuple(d for d in DOUBTS if d != "deferral")  # 暂时不同意 still returns
# What may stand beside a weak approval ("OK", "可以") for it to count: courtesy, particles, punctuation.
COURTESY = re.compile(r"好的|好|嗯|谢谢|谢了|多谢|辛苦了|的|了|吧|啦|呢|哈|哦|thanks|thank you|[\W_]", re.IGNORECASE)

# Traditional characters folded to the simplified ones the patterns use: OpenCC's t2s mapping of every character
# the patterns read (generated once; 覆 as in 回覆 added). Keep it in step when a pattern gains a character.
TRADITIONAL = str.maketrans(
    "並乾佈併來侷係個們備傢傳傾僅優兒兩別則剛區協員問嗎噹嚮圖報夢夥學實審寫將對導師幹幾彆後從復徵慮憑應揹"
    "擬數於時暫曏書會査條棄榦機檯權決沒況測準溝滯為無爲猶現異當發眞確礙種箇糾約級絕給統絶經緩緻縣繫續纔翫"
    "聯脩臺與菓萬蓆處裏補裡複覆覈見視觀訂計討記設許試話該認誤說説誰調請論諸謂謝議讚豈贊較輪轉迴這過還郵鄉"
    "針錘錯錶鍼鎚鎭鎮長開閤闆隨隻難電須預領頭題颱駁髮鬚麪麫麵麼麽點黨",
    "并干布并来局系个们备家传倾仅优儿两别则刚区协员问吗当向图报梦伙学实审写将对导师干几别后从复征虑凭应背"
    "拟数于时暂向书会查条弃干机台权决没况测准沟滞为无为犹现异当发真确碍种个纠约级绝给统绝经缓致县系续才玩"
    "联修台与果万席处里补里复复核见视观订计讨记设许试话该认误说说谁调请论诸谓谢议赞岂赞较轮转回这过还邮乡"
    "针锤错表针锤镇镇长开合板随只难电须预领头题台驳发须面面面么么点党")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def fold(text: str) -> str:
    """The form the grammar reads: half-width, lower case, simplified characters."""
    return normalise(text).translate(TRADITIONAL)


KINDS = {f"{kind}{i}": kind for i, (kind, _) in enumerate(TOKENS)}  # the scanner's group names
REMEMBERED = 1_000  # texts up to this long are scanned once: a reply's lines and pieces are read by several
# rules, and footers, separators and short answers ("发自我的iPhone", "原始邮件", "同意。") recur from mail to mail


@functools.lru_cache(maxsize=1024)
def _scan(folded: str) -> tuple[Token, ...]:
    return tuple(Token(KINDS[m.lastgroup], m.group()) for m in SCANNER.finditer(folded))


def tokens(text: str) -> list[Token]:
    folded = fold(text)
    return list(_scan(folded) if len(folded) <= REMEMBERED else _scan.__wrapped__(folded))


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
    corrections = [i for i, t in enumerate(found) if t.kind == "correction"]
    if corrections:
        found = found[corrections[-1] + 1:]  # a later correction in the same reply replaces what came before
    kinds_found = {t.kind for t in found}
    if "hedged" in kinds_found:
        return UNCLEAR  # a negation near an approval word that is not a plain 不同意: never guess
    if kinds_found & set(APPROVALS) and kinds_found & set(DOUBTS):
        return UNCLEAR  # 改后同意, 领导同意, 暂时同意, 我会同意的, 同意吗, 同意个屁 …
    signals: list[tuple[str, bool]] = []  # (kind, after an approval and a "but …")
    approved = remarks = False
    for clause in clauses(found):
        kinds = [t.kind for t in clause]
        doubted = any(k in CLAUSE_DOUBTS for k in kinds)
        for kind in kinds:
            if kind == "concessive" and approved:
                remarks = True
            elif kind in SIGNALS and not doubted:
                signals.append((kind, remarks))
                approved = approved or kind in APPROVALS
    weak_only = any(kind == "weak" for kind, _ in signals) and not any(kind == "approve" for kind, _ in signals)
    if weak_only and COURTESY.sub("", SCANNER.sub("", fold(text))):
        return UNCLEAR  # "OK，我明天再看" acknowledges; only a bare "OK" / "可以。" approves
    kinds = {"approve" if kind == "weak" else kind for kind, _ in signals}
    if not kinds:
        return UNCLEAR
    if kinds == {"approve"}:
        return APPROVE
    if "approve" not in kinds:
        return RETURN
    if "return" not in kinds and signals[0][0] in APPROVALS and all(r for k, r in signals if k == "revise"):
        return APPROVE  # 原则同意，但请修改…: approval with remarks, which are forwarded
    return UNCLEAR
