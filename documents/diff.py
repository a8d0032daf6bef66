"""What changed between two versions of a report, paragraph by paragraph, for a reviewer to read.

Paragraphs (non-empty lines, whitespace-normalised) are matched first: those that occur once in each
version anchor the match (the longest run of them in the same order, as patience diff does), and only
the stretches between anchors that differ are compared with difflib. A paragraph that was edited rather
than replaced is shown once, with its deleted and inserted text marked; Chinese has no spaces, so that
inline diff works on characters, cleaned up by diff-match-patch into whole phrases.

Every step is bounded, so a hostile or careless version costs little: past MAX_CHANGES paragraphs, or
more paragraph or character comparisons than a mail could show, the answer is the single Change "many"
(the prompt then says the changes are many and the attachment has them); a paragraph too long for a
character diff is shown whole.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from diff_match_patch import diff_match_patch

PIECE = {0: "same", -1: "del", 1: "ins"}
SIMILAR = 0.5  # a replaced paragraph at least this similar to the old one is shown as an edit
MAX_CHANGES = 40  # paragraphs of changes a prompt lists; past this, "many"
MAX_STRETCH_WORK = 1_000_000  # paragraph pairs difflib may weigh between anchors, all stretches together
MAX_INLINE = 1000  # characters of a paragraph compared character by character; a longer one is shown whole
MAX_INLINE_WORK = 20_000  # characters compared character by character, all edited paragraphs together


@dataclass(frozen=True)
class Change:
    kind: str  # added | removed | edited | many (too many to list: the reviewer reads the attachment)
    text: str  # the new paragraph (the old one for `removed`)
    pieces: tuple[tuple[str, str], ...] = ()  # edited: (same | del | ins, text) runs


MANY = Change("many", "")


class TooMany(Exception):
    """More changes, or more work to find them, than a prompt can show."""


def paragraphs(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def changes(old: str, new: str) -> list[Change]:
    """The paragraphs added, removed and edited from `old` to `new`, in the new text's order; MANY when
    they are too many (or too costly to find) to list in a mail."""
    before, after = paragraphs(old), paragraphs(new)
    found: list[Change] = []
    budget = Budget()
    try:
        for (i1, j1), (i2, j2) in pairwise(anchors(before, after)):
            olds, news = before[i1 + 1:i2], after[j1 + 1:j2]
            if olds != news:
                for tag, a1, a2, b1, b2 in budget.opcodes(olds, news):
                    if tag != "equal":
                        found.extend(replaced(olds[a1:a2], news[b1:b2], budget))
                        if len(found) > MAX_CHANGES:
                            raise TooMany
    except TooMany:
        return [MANY]
    return found


def anchors(before: list[str], after: list[str]) -> list[tuple[int, int]]:
    """(i, j) pairs of paragraphs that occur once in each version, the longest chain of them in the same
    order (patience sorting, n log n), between the sentinels (-1, -1) and (len, len)."""
    once_before, once_after = Counter(before), Counter(after)
    where = {p: j for j, p in enumerate(after) if once_after[p] == 1}
    pairs = [(i, where[p]) for i, p in enumerate(before) if once_before[p] == 1 and p in where]
    tops: list[int] = []  # tops[k]: the smallest j that ends a chain of k + 1 pairs
    ends: list[int] = []  # ends[k]: index in pairs of that pair
    back = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tops, j)
        back[n] = ends[k - 1] if k else -1
        tops[k:k + 1], ends[k:k + 1] = [j], [n]
    chain, n = [], ends[-1] if ends else -1
    while n >= 0:
        chain.append(pairs[n])
        n = back[n]
    return [(-1, -1), *reversed(chain), (len(before), len(after))]


class Budget:
    """The work left for difflib (paragraph pairs) and for the character diffs (characters)."""

    def __init__(self) -> None:
        self.pairs, self.chars = MAX_STRETCH_WORK, MAX_INLINE_WORK

    def opcodes(self, olds: list[str], news: list[str]) -> list[tuple[str, int, int, int, int]]:
        self.pairs -= len(olds) * len(news)
        if self.pairs < 0:
            raise TooMany
        return difflib.SequenceMatcher(None, olds, news, autojunk=False).get_opcodes()

    def inline(self, old: str, new: str) -> tuple[tuple[str, str], ...] | None:
        """The edit's character runs, or None when the two are not similar enough to be one paragraph."""
        if len(old) > MAX_INLINE or len(new) > MAX_INLINE:
            return None
        self.chars -= len(old) + len(new)
        if self.chars < 0:
            raise TooMany
        matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
        if matcher.ratio() < SIMILAR:
            return None
        return phrases(old, new, matcher)


def replaced(olds: list[str], news: list[str], budget: Budget) -> list[Change]:
    """A stretch of old paragraphs replaced by new ones: each pair is an edit when similar enough,
    else a removal and an addition."""
    found = []
    for k in range(max(len(olds), len(news))):
        o = olds[k] if k < len(olds) else None
        n = news[k] if k < len(news) else None
        pieces = budget.inline(o, n) if o is not None and n is not None else None
        if pieces is not None:
            found.append(Change("edited", n, pieces))
            continue
        if o is not None:
            found.append(Change("removed", o))
        if n is not None:
            found.append(Change("added", n))
    return found


def phrases(old: str, new: str, matcher: difflib.SequenceMatcher) -> tuple[tuple[str, str], ...]:
    """Character runs of an edited paragraph (unchanged, deleted, inserted), cleaned up so that an
    edit reads as the phrase that changed ("12件" → "15件，纠错2件"), not as scattered characters."""
    runs = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            runs.append((-1, old[i1:i2]))
        if tag in ("insert", "replace"):
            runs.append((1, new[j1:j2]))
        if tag == "equal":
            runs.append((0, old[i1:i2]))
    diff_match_patch().diff_cleanupSemantic(runs)
    return tuple((PIECE[op], text) for op, text in runs)
