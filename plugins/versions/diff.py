"""What changed between two versions of an article, word by word (difflib), as plain segments.

Pure functions over strings: a diff is a list of paragraphs, each a list of `Segment`s whose
`kind` is "same", "ins" or "del". The template wraps "ins" in `<ins>` and "del" in `<del>`
and escapes every text as it does all scraped text, so markup in an old version shows as text.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

#: A word, or the white space between words (kept, so the text reads as it was).
_TOKEN = re.compile(r"\s+|[^\s]+")
#: Stands between paragraphs in the token stream, so a diff can cross paragraph breaks.
_BREAK = "\n\n"


@dataclass(frozen=True)
class Segment:
    kind: str  # "same", "ins" or "del"
    text: str


@dataclass(frozen=True)
class Diff:
    """A diff ready to display, with the number of words each side gained and lost."""

    paragraphs: tuple[tuple[Segment, ...], ...]
    added: int
    removed: int
    unchanged: int = 0  # paragraphs left out because nothing in them changed (changed_only)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def _tokens(paragraphs: list[str]) -> list[str]:
    out: list[str] = []
    for n, paragraph in enumerate(paragraphs):
        if n:
            out.append(_BREAK)
        out += _TOKEN.findall(paragraph)
    return out


def _words(tokens: list[str]) -> int:
    return sum(1 for t in tokens if t != _BREAK and not t.isspace())


def word_diff(old: list[str], new: list[str], changed_only: bool = False) -> Diff:
    """`old` paragraphs against `new` ones, word by word. A changed run of words shows as the
    deleted words, then the inserted ones; white space alone never counts as a change.
    `changed_only`: leave out the paragraphs in which nothing changed (and count them)."""
    kept, added, removed = _paragraph_diff(tuple(old), tuple(new))
    shown = [p for p in kept if any(s.kind != "same" for s in p)] if changed_only else kept
    return Diff(tuple(shown), added, removed, len(kept) - len(shown))


# A build diffs each earlier version twice (its page, and its row of versions.jsonl), and
# difflib over word and space tokens costs tens of milliseconds an article: the second asks
# for what the first computed. Inputs are tuples of strings, the result immutable.
@functools.lru_cache(maxsize=512)
def _paragraph_diff(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[tuple[tuple[Segment, ...], ...], int, int]:
    """Every paragraph's segments, and the words added and removed."""
    a, b = _tokens(list(old)), _tokens(list(new))
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    paragraphs: list[list[Segment]] = [[]]
    added = removed = 0

    def emit(kind: str, tokens: list[str]) -> None:
        for token in tokens:
            if token == _BREAK:
                paragraphs.append([])
                continue
            # spaces inside a changed run read as part of it; a run never starts with them
            if kind != "same" and token.isspace() and not paragraphs[-1]:
                continue
            current = paragraphs[-1]
            if current and current[-1].kind == kind:
                current[-1] = Segment(kind, current[-1].text + token)
            else:
                current.append(Segment(kind, token))

    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            emit("same", a[i1:i2])
            continue
        old_run, new_run = a[i1:i2], b[j1:j2]
        if tag in ("delete", "replace"):
            removed += _words(old_run)
            emit("del", old_run)
        if tag in ("insert", "replace"):
            added += _words(new_run)
            emit("ins", new_run)
    return tuple(tuple(p) for p in paragraphs if p), added, removed


def line_diff(old: list[str], new: list[str]) -> Diff:
    """Lists (the related titles) item by item: one paragraph per item, kept, removed or added."""
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    out: list[tuple[Segment, ...]] = []
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [(Segment("same", item),) for item in old[i1:i2]]
            continue
        removed += sum(len(item.split()) for item in old[i1:i2])
        added += sum(len(item.split()) for item in new[j1:j2])
        out += [(Segment("del", item),) for item in old[i1:i2]]
        out += [(Segment("ins", item),) for item in new[j1:j2]]
    return Diff(tuple(out), added, removed)
