"""The front matter of a content file as the build's reader takes it: its fields, or the line
and reason it cannot be used. Pure functions in the package (not in plugins/), so that a Dask
worker can run them for a partitioned build's driver (plugins/yaml_reader `prefetch`)."""

from __future__ import annotations

import re

from pelican.plugins.yaml_metadata.yaml_metadata import HEADER_RE
from pelican.utils import pelican_open

from broadsheet import safe_yaml
from broadsheet.article import front_matter_problems, with_text_fields


def header(text: str):
    """The YAML header's match in a content file's text (Pelican's HEADER_RE) and the file's
    line the header starts on; None for a file without one."""
    m = HEADER_RE.fullmatch(text)
    return (m, text[: m.start("metadata")].count("\n") + 1) if m else None


def front_matter(text: str, name: str, first_line: int, required: tuple[str, ...]) -> tuple:
    """("meta", fields) of a file's front matter `text` (`name` names it in messages), or
    ("skip", line, problem) when it cannot be used. Pure: a worker may read it for the driver."""
    try:
        metadata = safe_yaml.load(text, name, first_line)
    except safe_yaml.YAMLInputError as exc:
        return "skip", exc.line, exc.problem
    problems = front_matter_problems(metadata, required)
    if problems:
        field = problems[0].split(":", 1)[0]
        return "skip", _line_of(text, field, first_line), "; ".join(problems)
    return "meta", with_text_fields(metadata)


def read_ahead(job: tuple[str, str, bytes | OSError | None]) -> tuple | None:
    """A worker's read of one file's front matter (None: the driver reads it itself, and
    reports what is wrong with it as it would have)."""
    path, name, content = job
    try:
        if content is None:
            with pelican_open(path) as text:
                pass
        elif isinstance(content, bytes):
            text = content.decode("utf-8-sig")
        else:
            return None
    except (OSError, UnicodeDecodeError):
        return None
    found = header(text)
    if found is None:
        return None
    m, first_line = found
    return front_matter(m.group("metadata"), name, first_line, ("title", "date"))


def _line_of(text: str, field: str, first_line: int) -> int | None:
    """The line of a top-level `field:` in the front matter, for the warning."""
    m = re.search(rf"^{re.escape(field)}\s*:", text, re.MULTILINE)
    return first_line + text[: m.start()].count("\n") if m else None
