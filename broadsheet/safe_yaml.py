"""YAML an archivist wrote, read within bounds: safe tags only, bounded size, depth and aliases.

`yaml.safe_load` already refuses `!!python/object` and other tags that run code, but it keeps
aliases as shared references, so a "billion laughs" file loads small and explodes in whatever
walks it next (json.dumps, a template, a comparison); and libyaml's composer recurses once per
nesting level, so a file of a hundred thousand `[` kills the process. `load` first reads the
file's events (libyaml's parser keeps its own stack, it does not recurse), counting the values
each alias stands for and the nesting depth, and builds the document only when both are small.
Every error is one line naming the file and the line: `YAMLRejected`.
"""

from __future__ import annotations

from typing import Any

import yaml

#: Limits for one YAML document; a mapping or a front matter is far below all three.
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100
MAX_VALUES = 100_000  # scalars and collections, each alias counted as all it stands for

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


class YAMLRejected(ValueError):
    """YAML that cannot be loaded; the message is one line: `FILE, line N: what is wrong`."""


def load(text: str, name: str, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
         max_values: int = MAX_VALUES) -> Any:
    """The document in `text` (plain Python values), or YAMLRejected naming `name` and the line."""
    if len(text) > max_bytes:
        raise YAMLRejected(f"{name}: {len(text):,} characters of YAML; the limit is {max_bytes:,}")
    try:
        _check_shape(text, name, max_depth, max_values)
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise YAMLRejected(_one_line(name, exc)) from None


def _check_shape(text: str, name: str, max_depth: int, max_values: int) -> None:
    loader = _Loader(text)
    try:
        open_nodes: list[tuple[str | None, int]] = []  # (anchor, values seen before it)
        sizes: dict[str, int] = {}  # anchor -> the values its node holds
        values = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, _OPEN):
                open_nodes.append((event.anchor, values))
                values += 1
                if len(open_nodes) > max_depth:
                    raise YAMLRejected(f"{_where(name, event)}: nested more than {max_depth} levels deep")
            elif isinstance(event, _CLOSE):
                anchor, before = open_nodes.pop()
                if anchor:
                    sizes[anchor] = values - before
            elif isinstance(event, yaml.ScalarEvent):
                values += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                values += sizes.get(event.anchor, 1)
            if values > max_values:
                raise YAMLRejected(f"{_where(name, event)}: the aliases expand to more than {max_values:,} "
                                   f"values (an alias bomb?); not loaded")
    finally:
        loader.dispose()


def _where(name: str, event: yaml.Event) -> str:
    mark = event.start_mark
    return f"{name}, line {mark.line + 1}" if mark is not None else name


def _one_line(name: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{name}, line {mark.line + 1}" if mark is not None else name
    if isinstance(exc, yaml.MarkedYAMLError):
        what = "; ".join(p for p in (exc.context, exc.problem) if p)
    else:
        what = str(exc)
    return f"{where}: not valid YAML ({' '.join(what.split())})"
