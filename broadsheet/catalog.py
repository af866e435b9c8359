"""The catalog: one record per article of the content folder, read from its front matter alone.

What crosses partitions of a build (related links, cited-by, previous and next in time, the
listing pages) is computed from the catalog, so no partition needs another one's articles.
Reading it is a parallel map over the content files on the engine (`broadsheet.engine`): each
file is read once, its front matter parsed up to the closing `---` (the body is hashed for the
digest, never decoded or parsed), and its page's URL computed from the settings as Pelican
computes it (`broadsheet.urls`). Records come in a fixed order, date then URL; a file that
cannot be read into a record is named with its reason, and the others are read all the same.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from broadsheet import engine
from broadsheet.article import front_matter_problems, read_front_matter
from broadsheet.urls import article_paths, page_slug, url_settings

#: The extensions Pelican's Markdown reader (and the YAML front matter reader built on it) reads.
MARKDOWN_EXTENSIONS = (".md", ".markdown", ".mkd", ".mdown")
#: Reading one file's record takes about this long on one core (its front matter is most of it):
#: what decides whether a local cluster pays for its start (`engine.pays_for_a_local_cluster`).
_SECONDS_PER_FILE = 0.00011


@dataclass(frozen=True)
class CatalogEntry:
    """What the build needs to know of an article without reading its text."""

    path: str  # the content file, from the content folder (POSIX)
    url: str
    save_as: str
    slug: str  # as the page is named (a long slug is cut, see broadsheet.urls)
    title: str
    date: datetime  # aware, in the source's local time as the front matter gives it
    signature: str | None
    source_id: str | None  # the outlet's id of the article, when known: related entries name it
    tags: tuple[str, ...]
    facets: dict[str, Any] = field(hash=False)
    outlet: str | None
    related_json: str | None  # the related blob verbatim, or None
    digest: str  # sha256 of the content file's bytes: any change to the article changes it


@dataclass(frozen=True)
class CatalogProblem:
    path: str
    reason: str


@dataclass
class Catalog:
    entries: list[CatalogEntry]  # by date, then URL
    problems: list[CatalogProblem]  # by path


def read_catalog(content: Path, settings: dict[str, Any] | None = None, *, scheduler: str | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> Catalog:
    """The catalog of every article under `content`, with Pelican `settings` (default: the local
    settings file's). Runs on the engine for large folders or when `scheduler` is named."""
    if settings is None:
        from broadsheet import site

        settings = site.load_settings("local")
    content = Path(content)
    jobs = [(str(content / rel), rel, None) for rel in article_files(content, settings)]
    read = functools.partial(read_entry, settings=url_settings(settings))
    entries, problems = [], []
    in_process = not engine.pays_for_a_local_cluster(len(jobs), _SECONDS_PER_FILE)
    with engine.connect(scheduler, in_process=in_process) as run:
        for outcome in run.map(read, engine.carried(jobs, run), len(jobs), name="catalog", on_progress=on_progress):
            (entries if isinstance(outcome, CatalogEntry) else problems).append(outcome)
    entries.sort(key=lambda e: (e.date, e.url))
    return Catalog(entries, sorted(problems, key=lambda p: p.path))


def article_files(content: Path, settings: dict[str, Any]) -> list[str]:
    """The Markdown files Pelican reads as articles: under ARTICLE_PATHS, not under
    ARTICLE_EXCLUDES, no file or folder matching IGNORE_FILES; paths from `content`, sorted."""
    ignore = settings.get("IGNORE_FILES") or []
    excluded = {os.path.normpath(p) for p in settings.get("ARTICLE_EXCLUDES") or []}
    found: set[str] = set()
    for top in settings.get("ARTICLE_PATHS") or [""]:
        base = content / top
        for root, dirs, names in os.walk(base):
            rel_root = os.path.relpath(root, content)
            dirs[:] = [d for d in dirs if not _ignored(d, ignore)
                       and os.path.normpath(os.path.join(rel_root, d)) not in excluded]
            for name in names:
                if name.endswith(MARKDOWN_EXTENSIONS) and not _ignored(name, ignore):
                    found.add(Path(rel_root, name).as_posix().removeprefix("./"))
    return sorted(found)


def _ignored(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def read_entry(job: tuple[str, str, bytes | OSError | None], settings: dict[str, Any]) -> CatalogEntry | CatalogProblem:
    """One content file's record, or the reason it has none. `settings`: `urls.url_settings`."""
    path, rel, data = job
    try:
        if isinstance(data, OSError):
            raise data
        data = Path(path).read_bytes() if data is None else data
    except OSError as exc:
        return CatalogProblem(rel, f"cannot be read ({exc.strerror or exc})")
    try:
        meta = read_front_matter(data, rel)
        return _entry(rel, meta, hashlib.sha256(data).hexdigest(), settings)
    except ValueError as exc:
        return CatalogProblem(rel, str(exc))


def _entry(rel: str, meta: dict[str, Any], digest: str, settings: dict[str, Any]) -> CatalogEntry:
    title, slug = _text(meta, "title"), _text(meta, "slug")
    when = _date(meta.get("date"), settings["TIMEZONE"])
    problems = front_matter_problems(meta, required=())  # the build skips such a file: so does the catalog
    if problems:
        raise ValueError("; ".join(problems))
    slug = page_slug(slug, settings)
    try:
        url, save_as = article_paths(meta, slug, when, settings)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"its URL cannot be made from the settings' pattern ({exc!r})") from None
    tags = meta.get("tags") or []
    facets = meta.get("facets") or {}
    return CatalogEntry(
        path=rel, url=url, save_as=save_as, slug=slug, title=title, date=when,
        signature=_optional(meta.get("signature")), source_id=_optional(meta.get("source_id")),
        tags=tuple(str(t).strip() for t in (tags if isinstance(tags, (list, tuple)) else [tags])),
        facets=facets if isinstance(facets, dict) else {}, outlet=_optional(meta.get("outlet")),
        related_json=_optional(meta.get("related_json")), digest=digest)


def _text(meta: dict[str, Any], name: str) -> str:
    value = str(meta.get(name) or "").strip()
    if not value:
        raise ValueError(f"front matter has no {name}")
    return value


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def _date(value: Any, timezone: str) -> datetime:
    """The front matter's date as Pelican reads it: ISO 8601; without an offset, in TIMEZONE."""
    if value is None:
        raise ValueError("front matter has no date")
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day)
    else:
        try:
            when = datetime.fromisoformat(str(value or "").strip().replace("_", " "))
        except ValueError:
            raise ValueError(f"front matter date {value!r} is not an ISO 8601 date") from None
    return when if when.tzinfo else when.replace(tzinfo=ZoneInfo(timezone))
