"""What changed between two versions of a report, paragraph by paragraph, for a reviewer to read.

Paragraphs (non-empty lines, whitespace-normalised) are matched with difflib; a paragraph that was
edited rather than replaced is shown once, with its deleted and inserted text marked. Chinese has no
spaces, so the inline diff works on characters (diff-match-patch), cleaned up into whole phrases.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from diff_match_patch import diff_match_patch

RUN = {0: "same", -1: "del", 1: "ins"}
SIMILAR = 0.5  # a replaced paragraph at least this similar to the old one is shown as an edit


@dataclass(frozen=True)
class Change:
    kind: str  # added | removed | edited
    text: str  # the new paragraph (the old one for `removed`)
    pieces: tuple[tuple[str, str], ...] = ()  # edited: (same | del | ins, text) runs


def paragraphs(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def changes(old: str, new: str) -> list[Change]:
    """The paragraphs added, removed and edited from `old` to `new`, in the new text's order."""
    before, after = paragraphs(old), paragraphs(new)
    found: list[Change] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        olds, news = before[i1:i2], after[j1:j2]
        for k in range(max(len(olds), len(news))):
            o = olds[k] if k < len(olds) else None
            n = news[k] if k < len(news) else None
            if o is not None and n is not None and similarity(o, n) >= SIMILAR:
                found.append(Change("edited", n, inline(o, n)))
            else:
                if o is not None:
                    found.append(Change("removed", o))
                if n is not None:
                    found.append(Change("added", n))
    return found


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def inline(old: str, new: str) -> tuple[tuple[str, str], ...]:
    """Character runs of an edited paragraph (unchanged, deleted, inserted), cleaned up so that an
    edit reads as the phrase that changed ("12件" → "15件，纠错2件"), not as scattered characters."""
    engine = diff_match_patch()
    runs = engine.diff_main(old, new)
    engine.diff_cleanupSemantic(runs)
    return tuple((RUN[op], text) for op, text in runs)
