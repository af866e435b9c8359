"""An article's earlier versions: the outlet's text as ingest saw it before the source changed.

When a re-ingest finds that the source text of an article changed (TEXT_FIELDS), the text
it replaces is kept beside the article, one Markdown file per version, numbered from 1:

    content/2016/03/<slug>.md                 the latest version (with the archivist's edits)
    content/2016/03/<slug>.versions/1.md      the first text seen
    content/2016/03/<slug>.versions/2.md      the next one, ...

Each file is an ordinary content file (YAML front matter, literal Markdown body, written by
`broadsheet.article`), so `diff 1.md 2.md` shows what the outlet changed. Its front matter
says which version it is, when it was seen, what the next version changed, and the source
file it came from (`source.sha256`). A version file is created once and never rewritten;
only ingest writes them, and only in this module. Pelican does not read them as articles
(pelicanconf's IGNORE_FILES lists VERSIONS_PATTERN); `plugins/versions` shows them.

Pure functions over files and values: no Pelican, no clock (callers pass the times).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from broadsheet.article import read_content_file, render_markdown_file
from broadsheet.files import write_temporary

#: The fields whose change makes a new version: what the outlet published (the dateline is
#: `date`, and `text_dateline` for table rows; the related list is `related_json`).
TEXT_FIELDS = ("title", "date", "text_dateline", "signature", "related_json", "body")
#: Fields a version file copies from the article besides TEXT_FIELDS (the slug: with the
#: date, where the version was published, for plugins/versions' redirects once the article moves).
KEPT_WITH_TEXT = ("related_status", "source", "slug")
#: A versions folder beside `<slug>.md`; a pattern for pelicanconf's IGNORE_FILES.
SUFFIX = ".versions"
VERSIONS_PATTERN = "*" + SUFFIX
_NUMBERED = re.compile(r"^([1-9][0-9]*)\.md$")


@dataclass
class Version:
    """One kept version, as read back from its file."""

    number: int
    path: Path
    #: when this text was first seen (ISO 8601, UTC); None when no one noted it (a text that
    #: was in the archive before its first change: its dateline is the best date there is)
    seen: str | None
    #: when ingest found the next version (ISO 8601, UTC)
    replaced: str
    changed: list[str]  # TEXT_FIELDS the next version changed
    edited: list[str]  # fields whose text here is the archivist's (the outlet's was not kept)
    fields: dict[str, Any] = field(repr=False)  # the front matter as written
    paragraphs: list[str] = field(repr=False)

    @property
    def title(self) -> str:
        return str(self.fields.get("title", ""))

    @property
    def source_sha256(self) -> str:
        source = self.fields.get("source")
        return str(source.get("sha256", "")) if isinstance(source, dict) else ""


def folder_of(article_path: Path) -> Path:
    """`content/YYYY/MM/<slug>.versions` for `content/YYYY/MM/<slug>.md`."""
    article_path = Path(article_path)
    return article_path.with_name(article_path.stem + SUFFIX)


def is_version_path(rel: str | Path) -> bool:
    """Whether a path under content/ lies in a versions folder (it is not an article)."""
    return any(part.endswith(SUFFIX) for part in Path(rel).parts[:-1])


def timestamp(moment: datetime) -> str:
    """How a version file writes a time: UTC, to the second."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def changed_fields(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """TEXT_FIELDS whose fingerprints (as ingest's state file keeps them) differ."""
    return [name for name in TEXT_FIELDS if before.get(name) != after.get(name)]


def read_versions(article_path: Path) -> tuple[list[Version], list[str]]:
    """The kept versions of an article, oldest first, and one problem per file that could
    not be read (named, with the reason; the file is left as it is and skipped)."""
    folder = folder_of(article_path)
    versions, problems = [], []
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"{folder}: cannot be read ({exc.strerror}); its versions are not shown"]
    for name in names:
        m = _NUMBERED.match(name)
        if not m:
            if not name.startswith("."):
                problems.append(f"{folder / name}: not a version file (expected 1.md, 2.md, ...); skipped")
            continue
        path = folder / name
        try:
            meta, paragraphs = read_content_file(path.read_text(encoding="utf-8"))
            versions.append(Version(
                number=int(m.group(1)), path=path, seen=_opt(meta.get("seen")), replaced=str(meta["replaced"]),
                changed=[str(c) for c in meta.get("changed") or []],
                edited=[str(c) for c in meta.get("edited") or []],
                fields={k: v for k, v in meta.items() if k not in _BOOKKEEPING}, paragraphs=paragraphs,
            ))
        except (OSError, UnicodeDecodeError, ValueError, KeyError) as exc:
            problems.append(f"{path}: not a readable version file ({exc}); skipped")
    versions.sort(key=lambda v: v.number)
    return versions, problems


_BOOKKEEPING = ("version", "seen", "replaced", "changed", "edited")


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def keep_version(article_path: Path, previous: dict[str, Any], paragraphs: list[str], *,
                 seen: str | None, replaced: str, changed: list[str], edited: list[str] = ()) -> Path:
    """Keep `previous` (front-matter values of TEXT_FIELDS and KEPT_WITH_TEXT) and its
    `paragraphs` as the next version of the article at `article_path`; returns the new file.

    This is the one way a version is made, whatever found the change: ingest passes the
    text it is about to replace (seen None: its first sighting was not noted; replaced: the
    time of this run); a web-archive capture would pass the earlier capture's text and time
    as `seen` and the new capture's as `replaced`. When `seen` is None and an earlier version
    exists, this text was first seen when that one was replaced.

    The file is created, never overwritten (a link of a whole temporary file: a killed run
    leaves no half version), so a version once kept stays as it was."""
    folder = folder_of(article_path)
    kept, _ = read_versions(article_path)
    if seen is None and kept:
        seen = kept[-1].replaced
    number = max((v.number for v in kept), default=0) + 1
    front = {"version": number, "seen": seen, "replaced": replaced, "changed": list(changed),
             "edited": list(edited)}
    front.update({k: previous.get(k) for k in (*TEXT_FIELDS, *KEPT_WITH_TEXT) if k != "body"
                  and (k in previous)})
    text = render_markdown_file(front, paragraphs)
    tmp = write_temporary(folder / f".version-{os.getpid()}.tmp", text)
    try:
        while True:
            target = folder / f"{number}.md"
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:  # written since the folder was read: take the next number
                number += 1
                front["version"] = number
                tmp.write_text(render_markdown_file(front, paragraphs), encoding="utf-8")
    finally:
        tmp.unlink(missing_ok=True)


def move_versions(old_article: Path, new_article: Path) -> None:
    """An article moved (a new title gives a new slug, a new date another month): its
    versions go with it, unless the new place already holds some (then both stay)."""
    old, new = folder_of(old_article), folder_of(new_article)
    if old.is_dir() and not new.exists():
        new.parent.mkdir(parents=True, exist_ok=True)
        os.rename(old, new)
