"""YAML an archivist edits, read with bounds: safe tags only, limited aliases, depth and size.

PyYAML's safe loader builds only plain data (a `!!python/object` tag is an error), but it
follows aliases: nine aliases of nine aliases ("billion laughs") are a few lines that become
billions of values as soon as anything walks them, and libyaml's composer recurses in C, so
100,000 nested brackets crash the process. `load` first walks the document's parse events
(libyaml's parser keeps its own stack, so this walk cannot overflow) and refuses a document
nested deeper than MAX_DEPTH, using more than MAX_ALIASES aliases, or that would grow past
its own size when its aliases are expanded; only then does libyaml's loader build it.
Every refusal and every YAML error is one `YAMLInputError` naming the file and the line.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

try:  # libyaml is several times faster; the pure-Python classes give identical data.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader

#: Nesting no honest front matter or mapping comes near (ingest writes at most 4 levels).
MAX_DEPTH = 64
#: Aliases (`*name`) in one document: PyYAML writes one for a value that occurs twice.
MAX_ALIASES = 100
#: Expanded, a document may be this many times its own text (plus EXPANSION_MARGIN values).
MAX_EXPANSION = 2
EXPANSION_MARGIN = 10_000
#: A front matter or a mapping is a few kilobytes; anything this large is not one.
MAX_CHARACTERS = 4 * 1024 * 1024

#: Digests of texts whose walk found them within bounds. A build reads each front matter twice
#: (Pelican's reader, then the archive pages' record), and the same text gives the same events,
#: so the second reading skips the walk; refusals are not kept, so each names its own file.
_WITHIN_BOUNDS: set[tuple] = set()
#: Past this many digests (a few megabytes) the set starts again.
_WITHIN_BOUNDS_KEPT = 100_000


class YAMLInputError(ValueError):
    """A YAML document that cannot be read or is refused; `str()` names the file and line."""

    def __init__(self, name: str, line: int | None, problem: str):
        self.name, self.line, self.problem = name, line, problem
        where = f"{name}, line {line}" if line else name
        super().__init__(f"{where}: {problem}")


def load(text: str, name: str, first_line: int = 1) -> Any:
    """The data of one YAML document, as `yaml.safe_load` gives it, or YAMLInputError.

    `name` is how messages name the document (its file); `first_line` is the line of the
    file the text starts on (2 for front matter after its `---`).
    """
    offset = first_line - 1
    if len(text) > MAX_CHARACTERS:
        raise YAMLInputError(name, None, f"{len(text):,} characters of YAML; the limit is {MAX_CHARACTERS:,}")
    try:
        # The limits are part of the key: a pass under other limits proves nothing.
        digest = (hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(),
                  MAX_DEPTH, MAX_ALIASES, MAX_EXPANSION, EXPANSION_MARGIN)
        if digest not in _WITHIN_BOUNDS:
            _check_bounds(text, name, offset)
            if len(_WITHIN_BOUNDS) >= _WITHIN_BOUNDS_KEPT:
                _WITHIN_BOUNDS.clear()
            _WITHIN_BOUNDS.add(digest)
        loader = _Loader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(" ".join(p for p in (exc.context, exc.problem) if p).split())
        problem = f"not valid YAML ({what})" if what else "not valid YAML"
        raise YAMLInputError(name, mark.line + 1 + offset if mark else None, problem) from None
    except yaml.YAMLError as exc:
        raise YAMLInputError(name, None, str(exc).splitlines()[0] if str(exc) else "not valid YAML") from None
    except RecursionError:
        raise YAMLInputError(name, None, "nested more than the interpreter allows") from None


def _check_bounds(text: str, name: str, offset: int) -> None:
    """Walk the parse events: depth, aliases, and the size the document would have expanded
    (each value counts 1 plus its characters; an alias counts what it stands for)."""
    limit = MAX_EXPANSION * len(text) + EXPANSION_MARGIN
    parser = _Loader(text)
    # One frame per open collection: [expanded size so far, its anchor]. `total` is the sum of
    # the frames' sizes, kept as it goes: closing a collection moves its size to its parent.
    frames: list[list] = [[0, None]]
    total = 0
    sizes: dict[str, int] = {}
    aliases = 0

    def refuse(event, problem: str):
        raise YAMLInputError(name, event.start_mark.line + 1 + offset, problem)

    def too_large(event):
        refuse(event, f"its aliases expand to more than {limit:,} values and characters "
                      f"(a document that multiplies itself, such as a 'billion laughs'); refused")

    try:
        # The walk is half the cost of reading front matter: one type lookup per event, and
        # get_event (None after the stream's end) rather than check_event and get_event.
        while (event := parser.get_event()) is not None:
            kind = type(event)
            if kind is _Scalar:
                size = 1 + len(event.value)
                if event.anchor:
                    sizes[event.anchor] = size
            elif kind in _STARTS:
                if len(frames) > MAX_DEPTH:
                    refuse(event, f"nested more than {MAX_DEPTH} levels deep; refused")
                frames.append([1, event.anchor])
                total += 1
                continue
            elif kind in _ENDS:
                size, anchor = frames.pop()
                total -= size
                if anchor:
                    sizes[anchor] = size
            elif kind is _Alias:
                aliases += 1
                if aliases > MAX_ALIASES:
                    refuse(event, f"more than {MAX_ALIASES} aliases (*name); refused")
                if event.anchor not in sizes:
                    refuse(event, f"alias *{event.anchor} refers to no finished anchor "
                                  "(undefined, or a value that contains itself); refused")
                size = sizes[event.anchor]
            else:  # stream and document events hold no value
                continue
            frames[-1][0] += size
            total += size
            if total > limit:
                too_large(event)
    finally:
        parser.dispose()


_Scalar, _Alias = yaml.ScalarEvent, yaml.AliasEvent
_STARTS = frozenset((yaml.SequenceStartEvent, yaml.MappingStartEvent))
_ENDS = frozenset((yaml.SequenceEndEvent, yaml.MappingEndEvent))
