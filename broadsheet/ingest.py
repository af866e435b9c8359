"""Walk the sources, parse in parallel, fold duplicates, and write content files safely.

Guarantees an archivist can rely on:
- a file that cannot be read is named in the report with its reason; the run goes on;
- re-ingesting unchanged input changes no byte under `content/`;
- fields an archivist edited survive a re-ingest; a clash with a changed dump is reported,
  never silently overwritten; files ingest did not write are never touched;
- every write is atomic (temporary file + rename).

What ingest wrote last time is remembered per field in `content/.broadsheet-ingest.json`,
which is what makes the three-way decision (last written / on disk / new) possible.

A cache beside the content folder (`cache_path`) remembers what each dump gave (its
article's title, date and hashes, or its rejection) and the stamp (broadsheet.cache) of
every file ingest looked at, so a re-ingest parses again only the dumps that
changed, and opens a content file only when the dump or the file changed. A stamp is
trusted only when it was taken clearly after the file last changed (a change within the
same clock tick would not show); other files are read again.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import stat
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import slugify as _slugify_package
import yaml
from slugify import slugify

from broadsheet import engine, versions
from broadsheet.article import Article, read_content_file, render_markdown_file
from broadsheet.cache import Store, changed_keys, looked_at, unchanged
from broadsheet.files import atomic_write, write_temporary
from broadsheet.dumps import DEFAULT_TIMEZONE, MAX_DUMP_BYTES, DumpError, Rejection, parse_dump
from broadsheet.tables import (
    MAX_TABLE_BYTES, Mapping, MappingError, is_mapping_file, is_table, mapping_for, parse_table,
)
from broadsheet.webarchive import (
    LIBRARIES as _WEB_LIBRARIES, SECONDS_PER_BYTE as WEB_SECONDS_PER_BYTE, Revisit, Skipped, capture_order,
    is_web_archive, is_web_input, read_saved_page, read_web_input,
)

STATE_FILE = ".broadsheet-ingest.json"
STATE_VERSION = 1
SLUG_MAX = 80
#: Exit status of `invoke ingest` when at least one file was rejected or an edit clashed.
EXIT_PROBLEMS = 3
#: Parsing and rendering one dump takes about this long on one core (4,000 a second on the bench
#: machine): what decides whether a local cluster pays for its start (`engine.pays_for_a_local_cluster`).
_SECONDS_PER_FILE = 0.00025

#: A run removes the article of a dump that is gone, but never many at once unless told to
#: (`--allow-removals`), so that a mistyped --source or a half-copied folder cannot empty the
#: archive: up to REMOVALS_SHARE of the articles ingest wrote, or REMOVALS_FLOOR articles
#: whatever the archive's size (removing 1 of 3 is a deleted dump, not an accident). A source
#: holding no file at all removes nothing without being told.
REMOVALS_SHARE = 0.10
REMOVALS_FLOOR = 1


class IngestError(Exception):
    """A run that stopped; the message says why, what was (not) changed and what to do."""

    exit_status = 1


class IngestRefused(IngestError):
    """Stopped before changing anything: a missing source, or removals to confirm."""

    exit_status = 2


class WriteFailed(IngestError):
    """A file under content/ could not be written (disk full, permissions)."""


@dataclass
class IngestReport:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: articles kept because their source could not be read (see UNREAD)
    kept: list[str] = field(default_factory=list)
    #: web-archive records that are not articles, by reason (webarchive.SKIP_REASONS)
    skipped: dict[str, int] = field(default_factory=dict)
    written: int = 0
    unchanged: int = 0
    read: int = 0

    @property
    def exit_status(self) -> int:
        return EXIT_PROBLEMS if (self.rejected or self.conflicts) else 0

    def summary(self) -> dict[str, int]:
        return {
            "read": self.read,
            "accepted": len(self.accepted),
            "duplicates": len(self.duplicates),
            "rejected": len(self.rejected),
            "written": self.written,
            "unchanged": self.unchanged,
            "removed": len(self.removed),
            "conflicts": len(self.conflicts),
            "skipped": sum(self.skipped.values()),
        }

    def summary_lines(self, limit: int = 20) -> list[str]:
        """What the archivist reads at the end of a run: counts, then what needs a look."""
        s = self.summary()
        lines = [f"ingest: {s['read']} read (dumps and table rows), {s['accepted']} articles "
                 f"({s['written']} written, {s['unchanged']} unchanged, {s['removed']} removed), "
                 f"{s['duplicates']} duplicates, {s['rejected']} rejected, {s['conflicts']} edit conflicts"]
        if self.kept:
            lines.append(f"  kept {len(self.kept)} articles whose sources could not be read")
        if self.skipped:
            lines.append("  web-archive records skipped: " + ", ".join(
                f"{n} {reason}" for reason, n in sorted(self.skipped.items())))
        lines += [f"  rejected {r['source']}: {r['reason']}: {r['detail']}" for r in self.rejected[:limit]]
        if len(self.rejected) > limit:
            lines.append(f"  ... and {len(self.rejected) - limit} more rejected")
        lines += [f"  conflict {c['output']} ({c['source']}): fields {c['fields']}; kept {c['kept']}"
                  for c in self.conflicts[:limit]]
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "conflicts": self.conflicts,
            "removed": self.removed,
            "kept": self.kept,
            "skipped": dict(sorted(self.skipped.items())),
        }


# -- reading ---------------------------------------------------------------------------

def list_sources(source: Path) -> list[Path]:
    """Every file under `source` (or `source` itself), hidden files and folders skipped,
    and the `<table>.mapping.yaml` files that describe tables (they are not sources);
    files `walk_sources` refuses are left out."""
    return [Path(path) for path, _ in walk_sources(Path(source))[0]]


def walk_sources(source: Path) -> tuple[list[tuple[str, str]], list[Rejection]]:
    """The files to read as (path, path from the source folder in POSIX form), and what the
    walk refused, each by name and reason (see SKIPPED). Strings, not Paths: ten thousand
    Path objects cost more than the rest of a re-ingest that finds nothing to do.

    Folders are read in name order, each folder's files before its subfolders'. Links to
    folders are not followed; a link to a file is read when the file is inside the source
    (it is then usually folded as a duplicate of that file), refused when it leads outside.
    """
    if not source.is_dir():
        return [(str(source), source.name)], []
    files: list[tuple[str, str]] = []
    skipped: list[Rejection] = []
    top = os.path.realpath(source)
    folders = [(str(source), "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Rejection(prefix or "./", "unreadable-folder",
                                     f"the folder cannot be read ({exc.strerror}); articles made from it stay"))
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append(Rejection(printable_name(rel), "undecodable-name",
                                         "the name is not UTF-8 (shown with \\x escapes); rename it to read it"))
                continue
            try:
                kind = _kind(entry, top)
            except OSError as exc:
                skipped.append(Rejection(rel, "unreadable", f"cannot look at it ({exc.strerror})"))
                continue
            if kind == "folder":
                subfolders.append((entry.path, rel + "/"))
            elif kind == "file":
                if not is_mapping_file(Path(entry.name)):
                    files.append((entry.path, rel))
            elif kind != "folder-link":
                skipped.append(Rejection(rel, kind, SKIPPED[kind]))
        folders += reversed(subfolders)
    return files, skipped


#: What the walk says of a file it does not read (the reason is the key).
SKIPPED = {
    "symlink-outside-source": "a symbolic link to a file outside the source folder; not followed",
    "not-a-regular-file": "a FIFO, socket or device, not a file; not opened",
}
#: Reasons meaning the source could not be read at all: its articles stay in content/.
UNREAD = ("unreadable", "unreadable-folder")


def _kind(entry: os.DirEntry, top: str) -> str:
    """folder, file, folder-link, or a key of SKIPPED; OSError when the entry cannot be looked at."""
    if not entry.is_symlink():
        if entry.is_dir(follow_symlinks=False):
            return "folder"
        return "file" if entry.is_file(follow_symlinks=False) else "not-a-regular-file"
    target = os.path.realpath(entry.path)
    if os.path.commonpath([top, target]) != top:
        return "symlink-outside-source"
    mode = os.stat(target).st_mode
    if stat.S_ISDIR(mode):
        return "folder-link"
    return "file" if stat.S_ISREG(mode) else "not-a-regular-file"


def printable_name(name: str) -> str:
    """A file name as text that is always valid UTF-8: bytes that are not UTF-8 as `\\xNN`."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def read_source(path: str, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; DumpError (not-a-regular-file,
    too-large) or OSError. Opened without blocking, so a FIFO put in place since the walk
    cannot stop the run."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DumpError("not-a-regular-file", SKIPPED["not-a-regular-file"])
        data = f.read(limit + 1) if info.st_size <= limit else b""
    if info.st_size > limit or len(data) > limit:
        raise DumpError("too-large", f"the file holds {max(info.st_size, len(data)):,} bytes; the limit is "
                                     f"{limit:,} (see 'Limits' in the README)")
    return data


#: One source file to parse: its path, its path from the source folder, the timezone, the mapping
#: to read a table with (None: the one beside it; a MappingError: why there is none), and its
#: bytes when the caller read them (None: read from the path; an OSError or DumpError: the caller
#: could not, or would not (too large, not a file), and why).
Job = tuple[str, str, str, "Mapping | MappingError | None", "bytes | OSError | DumpError | None"]


def _parse_file(job: Job) -> list[Article | Rejection | Skipped]:
    """A dump gives one outcome; a table (`.csv`) one per row, read with its mapping; a web
    archive one per article page, rejected record and reason for skipping records."""
    path, rel, timezone, mapping, raw = job
    if is_web_input(rel) and raw is None:
        return read_web_input(path, rel, timezone)
    table = is_table(Path(path))
    try:
        if isinstance(raw, (OSError, DumpError)):
            raise raw  # why the machine that sent the job could not read the file, not a worker's guess
        raw = read_source(path, MAX_TABLE_BYTES if table else MAX_DUMP_BYTES) if raw is None else raw
    except OSError as exc:
        return [Rejection(rel, "unreadable", f"cannot read it ({exc.strerror}); articles made from it stay")]
    except DumpError as exc:
        return [Rejection(rel, exc.reason, exc.detail)]
    if is_web_input(rel):  # a saved page, sent to a worker that cannot read this machine's files
        return read_saved_page(raw, rel, timezone)
    if not table:
        return [parse_dump(raw, rel, timezone)]
    try:
        if isinstance(mapping, MappingError):
            raise mapping
        mapping = mapping_for(Path(path), mapping)
    except MappingError as exc:
        return [Rejection(rel, "no-mapping", str(exc))]
    return parse_table(raw, rel, mapping, timezone)


def parse_sources(files: list[Path], base: Path, timezone: str,
                  on_progress: Callable[[int, int], None] | None = None,
                  mapping: Mapping | None = None, scheduler: str | None = None) -> list[Article | Rejection]:
    """Parse every file, in input order, on the engine (`broadsheet.engine`) for large inputs or
    when `scheduler` is named. Tables are read with `mapping`, or else with the mapping file
    beside each table."""
    base_dir = base if base.is_dir() else base.parent
    jobs = [_job(str(p), p.relative_to(base_dir).as_posix(), timezone, mapping) for p in files]
    results: dict[str, list[Article | Rejection]] = {}
    with engine.connect(scheduler, in_process=not _pays_for_a_local_cluster(jobs)) as run:
        for job, outcome in _each_file(run, jobs, _parse_file, list, "parse", on_progress):
            results[job[1]] = outcome
    return [o for job in jobs for o in results[job[1]]]


def _each_file(run: engine.Engine, jobs: list[Job], per_file: Callable[[Job], list], finish: Callable[[list], list],
               name: str, on_progress: Callable[[int, int], None] | None) -> Iterator[tuple[Job, list]]:
    """(job, what `per_file` gives for it) for every job: files are mapped on the engine's workers;
    then each web archive is read here, its pages extracted on the workers (webarchive.read_archive),
    its outcomes given to `finish`. `on_progress` counts files."""
    files = [job for job in jobs if not is_web_archive(job[1])]
    archives = [job for job in jobs if is_web_archive(job[1])]
    progress = (lambda done, _: on_progress(done, len(jobs))) if on_progress else None
    outcomes = run.map(per_file, engine.carried(files, run, _content_for_worker, (OSError, DumpError)), len(files),
                       name=name, on_progress=progress)
    yield from zip(files, outcomes)
    for done, job in enumerate(archives, len(files) + 1):
        path, rel, timezone = job[:3]
        yield job, finish(read_web_input(path, rel, timezone, run))
        if progress:
            progress(done, len(jobs))


def _pays_for_a_local_cluster(jobs: list[Job]) -> bool:
    """Whether parsing `jobs` on this machine's other cores saves more than starting them costs."""
    seconds = 0.0
    for path, rel, *_ in jobs:
        if not is_web_archive(rel):
            seconds += _SECONDS_PER_FILE
            continue
        try:
            seconds += os.stat(path).st_size * WEB_SECONDS_PER_BYTE
        except OSError:
            pass  # reported when it is read
    return engine.pays_for_a_local_cluster(1, seconds)


def _job(path: str, rel: str, timezone: str, mapping: Mapping | None) -> Job:
    """The job for one source file. A table's mapping is found here, beside the table, so that a
    worker that cannot read this machine's files is sent it; when it cannot be read, the error
    goes instead, for the worker to report."""
    if mapping is None and is_table(Path(path)):
        try:
            mapping = mapping_for(Path(path), None)
        except MappingError as exc:
            mapping = exc
    return path, rel, timezone, mapping, None


def _content_for_worker(path: str) -> bytes:
    """A source's bytes, for a worker that cannot read this machine's files (`engine.carried`);
    DumpError or OSError when they cannot be sent. (A web archive is never sent: see _each_file.)"""
    return read_source(path, MAX_DUMP_BYTES if is_dump(path) else MAX_TABLE_BYTES)


def is_dump(path: str) -> bool:
    return not (is_table(Path(path)) or is_web_input(path))


# -- what a source gave --------------------------------------------------------------------

@dataclass
class Parsed:
    """An accepted dump or table row, reduced to what ingest decides with: duplicates,
    paths, the report, and whether its content file has to change.

    A worker parses and renders in one go and sends this back instead of the Article; the
    cache beside the content folder keeps it per dump, so that an unchanged dump is not
    read again. The Article
    is read again only when a content file must be merged with an archivist's edits, or
    rendered with another slug or other warnings than the plain ones (`_Renderer`).
    """

    ref: str  # how the report names the source: the file, or `file#row=N`
    file: str
    sha256: str
    title: str
    date: datetime
    text_key: str  # digest of title, date and paragraphs: equal texts fold into one article
    outlet: str | None
    facets: dict[str, Any]
    plain_slug: str  # the slug when no other article of the month has the same one
    parse_warnings: list[str]
    plain_written: str  # sha256 of the content file rendered with plain_slug and parse_warnings
    #: Web-archive captures: the original URL, the capture times of this text in its archive,
    #: and where the capture sorts (webarchive.capture_order).
    url: str | None = None
    plain_captures: list[str] = field(default_factory=list)
    capture_order: list = field(default_factory=list)
    payload_digest: str | None = None  # WARC-Payload-Digest of the capture: what revisit records name
    slug: str = ""  # as assign_paths decides
    captures: list[str] = field(default_factory=list)  # with those of other archives (merge_captures)
    warnings: list[str] = field(default_factory=list)  # parse warnings, then folding notes
    #: The content file as rendered now (for slug and warnings `rendered_with`), its sha256
    #: and its field fingerprints; the bytes and fingerprints only when rendered in this run.
    written: str = ""
    data: bytes | None = None
    fields: dict[str, str] | None = None
    rendered_with: tuple = ()

    def __post_init__(self):
        self.slug = self.slug or self.plain_slug
        self.warnings = self.warnings or list(self.parse_warnings)
        self.written = self.written or self.plain_written
        self.captures = self.captures or list(self.plain_captures)
        self.rendered_with = self.rendered_with or (self.plain_slug, tuple(self.parse_warnings),
                                                    tuple(self.plain_captures))

    @property
    def placed_as(self) -> tuple:
        return (self.slug, tuple(self.warnings), tuple(self.captures))

    @property
    def rendered_as_placed(self) -> bool:
        return self.rendered_with == self.placed_as

    @property
    def placement(self) -> str | None:
        """A digest of the parsed text and how it is placed, when that is not as parsed: the
        state keeps it, so that a re-ingest knows the file without reading the source again."""
        if self.placed_as == (self.plain_slug, tuple(self.parse_warnings), tuple(self.plain_captures)):
            return None
        return _fingerprint([self.plain_written, *self.placed_as])

    def to_cache(self) -> dict[str, Any]:
        return {**({"ref": self.ref} if self.ref != self.file else {}), "sha256": self.sha256, "title": self.title, "date": self.date.isoformat(),
                "text_key": self.text_key, "outlet": self.outlet, "facets": self.facets,
                "slug": self.plain_slug, "warnings": self.parse_warnings, "written": self.plain_written,
                **({"url": self.url, "captures": self.plain_captures, "capture_order": self.capture_order,
                    "payload_digest": self.payload_digest} if self.url else {})}

    @classmethod
    def from_cache(cls, file: str, d: dict[str, Any]) -> Parsed:
        return cls(ref=d.get("ref", file), file=file, sha256=d["sha256"], title=d["title"],
                   date=datetime.fromisoformat(d["date"]), text_key=d["text_key"], outlet=d["outlet"],
                   facets=d["facets"], plain_slug=d["slug"], parse_warnings=d["warnings"],
                   plain_written=d["written"], url=d.get("url"), plain_captures=list(d.get("captures", [])),
                   capture_order=list(d.get("capture_order", [])), payload_digest=d.get("payload_digest"))


def _prepare(article: Article) -> Parsed:
    """Render an article's content file as it will be written unless its slug clashes."""
    article.slug = plain_slug(article.title)
    data, fields = _rendered(article)
    prov = article.provenance if isinstance(article.provenance, dict) else {}
    return Parsed(ref=article.source.ref, file=article.source.file, sha256=article.source.sha256,
                  title=article.title, date=article.date, text_key=_text_key(fields),
                  outlet=article.outlet, facets=article.facets, plain_slug=article.slug,
                  parse_warnings=list(article.warnings), plain_written=hashlib.sha256(data).hexdigest(),
                  data=data, fields=fields, url=prov.get("url"), plain_captures=list(prov.get("captures", [])),
                  capture_order=capture_order(prov) if prov else [], payload_digest=prov.get("payload_digest"))


def _prepare_file(job: Job) -> list[Parsed | Rejection]:
    """Parse one source file and render its articles: the whole per-article work, done in a
    worker so that the main process only decides and writes."""
    return _prepared(_parse_file(job))


def _prepared(outcomes: list[Article | Rejection | Skipped | Revisit]) -> list[Parsed | Rejection | Skipped | Revisit]:
    return [o if isinstance(o, (Rejection, Skipped, Revisit)) else _prepare(o) for o in outcomes]


def _rendered(article: Article) -> tuple[bytes, dict[str, str]]:
    """The content file of `article` (UTF-8) and the fingerprint of each of its fields."""
    fields = _fields(article.front_matter(), article.paragraphs)
    return _render(fields).encode("utf-8"), {k: _fingerprint(v) for k, v in fields.items()}


def _text_key(fingerprints: dict[str, str]) -> str:
    """Equal for articles with the same title, date and paragraphs."""
    return fingerprints["title"] + fingerprints["date"] + fingerprints["body"]


class _Renderer:
    """Reads a source again when its Article is needed after all, and renders it."""

    def __init__(self, base_dir: Path, timezone: str, mapping: Mapping | None, run: engine.Engine | None = None):
        self.base_dir, self.timezone, self.mapping, self.run = base_dir, timezone, mapping, run
        self._tables: dict[str, list[Article | Rejection]] = {}

    def article(self, rec: Parsed) -> Article:
        """The Article behind `rec`, with the slug and warnings it is placed with."""
        outcomes = self._tables.get(rec.file)
        if outcomes is None:
            path = self.base_dir / rec.file
            outcomes = (read_web_input(str(path), rec.file, self.timezone, self.run) if is_web_archive(rec.file)
                        else _parse_file((str(path), rec.file, self.timezone, self.mapping, None)))
            if is_table(path) or is_web_archive(rec.file):
                self._tables[rec.file] = outcomes
        for o in outcomes:
            if isinstance(o, Article) and o.source.ref == rec.ref and o.source.sha256 == rec.sha256:
                o.slug, o.warnings = rec.slug, list(rec.warnings)
                if rec.captures != rec.plain_captures:  # with the capture times merge_captures added
                    o.provenance = {**o.provenance, "captures": list(rec.captures)}
                return o
        raise RuntimeError(f"{rec.ref} changed while ingest was running; run ingest again")

    def render(self, rec: Parsed, need_text: bool = True) -> None:
        """Make rec.written (and, with need_text, rec.data and rec.fields) those of the file
        as placed, reading the source again only when they are not known."""
        if rec.rendered_as_placed and (rec.data is not None or not need_text):
            return
        rec.data, rec.fields = _rendered(self.article(rec))
        rec.written = hashlib.sha256(rec.data).hexdigest()
        rec.rendered_with = rec.placed_as


# -- duplicates and paths ----------------------------------------------------------------

@dataclass
class Recaptures:
    """The captures of one URL folded into its latest text (`merge_captures`)."""

    latest: Parsed
    same_text: list[Parsed]  # other captures of the latest text: their times are the article's
    earlier_texts: list[Parsed]  # each earlier text once (its latest capture), oldest first


def merge_captures(records: list[Parsed], revisits: Iterable[Revisit] = ()) -> tuple[list[Parsed], list[Recaptures]]:
    """One article per original URL across every web archive and saved page: the captures of a
    URL in capture order (webarchive.capture_order); the latest capture's text is the article,
    with the capture times of every capture of that text (and of the revisit records, in other
    archives, of its payload); each earlier text is kept as a version of it
    (`_keep_capture_versions`). Returns the other records and the folded URLs."""
    by_url: dict[str, list[Parsed]] = {}
    others: list[Parsed] = []
    for rec in records:
        (by_url.setdefault(rec.url, []) if rec.url else others).append(rec)
    for revisit in revisits:
        rec = next((r for r in by_url.get(revisit.url, ()) if revisit.payload_digest
                    and r.payload_digest == revisit.payload_digest), None)
        if rec is not None:
            rec.captures = sorted({*rec.captures, revisit.captured})
    folded = []
    for url, captures in by_url.items():
        captures.sort(key=lambda r: r.capture_order)
        latest = captures[-1]
        others.append(latest)
        if len(captures) == 1:
            continue
        same = [r for r in captures[:-1] if r.text_key == latest.text_key]
        earlier: dict[str, Parsed] = {}
        for r in captures[:-1]:
            if r.text_key != latest.text_key:
                earlier[r.text_key] = r  # its latest capture: where a text that came back sorts
        latest.captures = sorted({t for r in (latest, *same) for t in r.captures})
        for r in earlier.values():  # an earlier text was seen at every capture of it
            r.captures = sorted({t for o in captures if o.text_key == r.text_key for t in o.captures})
        if earlier:
            latest.warnings.append(f"{url} changed between captures: the text of {latest.capture_order[0]} "
                                   f"is shown; {len(earlier)} earlier text(s) kept as versions")
        folded.append(Recaptures(latest, same, sorted(earlier.values(), key=lambda r: r.capture_order)))
    return others, folded


def fold_duplicates(records: list[Parsed]) -> tuple[list[Parsed], list[tuple[Parsed, Parsed]]]:
    """Byte-identical dumps, or equal title + date + body, become one article (the first)."""
    kept: list[Parsed] = []
    dupes: list[tuple[Parsed, Parsed]] = []
    by_bytes: dict[str, Parsed] = {}
    by_text: dict[str, Parsed] = {}
    for a in records:
        first = by_bytes.get(a.sha256) or by_text.get(a.text_key)
        if first is not None:
            dupes.append((a, first))
            continue
        by_bytes[a.sha256] = a
        by_text[a.text_key] = a
        kept.append(a)
    return kept, dupes


def base_slug(title: str) -> str:
    """Readable ASCII slug; non-Latin titles are transliterated."""
    return slugify(title, max_length=SLUG_MAX, word_boundary=True, save_order=True)


def plain_slug(title: str) -> str:
    return base_slug(title) or "article"


def assign_paths(records: list[Parsed]) -> dict[str, Parsed]:
    """`YYYY/MM/<slug>.md` for each article, unique and stable.

    Among articles sharing a month and a slug, the earliest (then the smallest hash)
    keeps the plain slug and the others get the first 8 hex digits of their source hash,
    so adding a same-titled article never renames the one already published.
    """
    groups: dict[tuple[str, str], list[Parsed]] = {}
    for a in records:
        groups.setdefault((a.date.strftime("%Y/%m"), a.plain_slug), []).append(a)
    paths: dict[str, Parsed] = {}
    for (month, slug), members in sorted(groups.items()):
        members.sort(key=lambda a: (a.date, a.sha256, a.file))
        for i, a in enumerate(members):
            a.slug = slug if i == 0 else f"{slug[: SLUG_MAX - 9].rstrip('-')}-{a.sha256[:8]}"
            paths[f"{month}/{a.slug}.md"] = a
    return paths


# -- writing -----------------------------------------------------------------------------

class _Stager:
    """Writes new articles' files under temporary names while later dumps are still being
    parsed: creating files is the slowest step of a first ingest, and it waits on the disk,
    not on the processor. Files are written by a few threads, a chunk of articles per task (a
    task per file cost the main process as much as the writing). `place_article` renames a
    staged file into place when the article is placed as it was rendered; `close` removes the
    others."""

    #: Articles written per task.
    CHUNK = 64

    def __init__(self, content: Path):
        self.content = content
        self._pool = ThreadPoolExecutor(max_workers=4)
        self._staged: dict[int, tuple[bytes, str]] = {}
        self._chunk: list[tuple[str, bytes]] = []
        self._written: dict[str, Future] = {}  # the task writing each staged file
        self._names = itertools.count()
        self._prefix = f".ingest-{os.getpid()}-"

    def stage(self, rec: Parsed) -> None:
        # the article's month folder: whatever its slug turns out to be, a rename gets it there
        tmp = os.path.join(self.content, rec.date.strftime("%Y/%m"), f"{self._prefix}{next(self._names)}.tmp")
        self._chunk.append((tmp, rec.data))
        self._staged[id(rec)] = (rec.data, tmp)
        if len(self._chunk) >= self.CHUNK:
            self._send()

    def _send(self) -> None:
        chunk, self._chunk = self._chunk, []
        future = self._pool.submit(_write_chunk, chunk)
        for tmp, _ in chunk:
            self._written[tmp] = future

    def take(self, rec: Parsed) -> Path | None:
        """The staged file holding `rec.data`, for the caller to rename into place."""
        data, tmp = self._staged.pop(id(rec), (None, None))
        if tmp is None:
            return None
        if self._chunk:
            self._send()
        failed = self._written.pop(tmp).result()
        if tmp in failed:
            return None
        if data is not rec.data:  # rendered again since (another slug, more warnings)
            Path(tmp).unlink(missing_ok=True)
            return None
        return Path(tmp)

    def close(self) -> None:
        if self._chunk:
            self._send()
        self._pool.shutdown()
        for _, tmp in self._staged.values():
            if tmp not in self._written.pop(tmp).result():
                Path(tmp).unlink(missing_ok=True)
        self._staged.clear()


def _write_chunk(chunk: list[tuple[str, bytes]]) -> set[str]:
    """Write each (temporary path, bytes); the paths that could not be written."""
    failed = set()
    for tmp, data in chunk:
        try:
            write_temporary(Path(tmp), data)
        except OSError:
            failed.add(tmp)
    return failed


#: Fingerprints and text keys: one encoder, not one per call (json.dumps builds one each time).
_JSON = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False)


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(_JSON.encode(value).encode()).hexdigest()[:16]


def _fields(front_matter: dict[str, Any], paragraphs: list[str]) -> dict[str, Any]:
    return {**front_matter, "body": paragraphs}


def _read_existing(path: Path, content: Path) -> tuple[dict[str, Any], list[str]] | None:
    """The fields and paragraphs of a content file already there; None when it vanished.
    ValueError when it cannot be read as a content file (the message names the file and line)."""
    name = path.relative_to(content).as_posix()
    try:
        return read_content_file(path.read_text(encoding="utf-8"), name)
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise ValueError(f"{name}: cannot be read ({exc.strerror})") from None


def merge_edits(new: dict[str, Any], current: dict[str, Any], base: dict[str, str] | None,
                ) -> tuple[dict[str, Any], list[str]]:
    """Three-way merge of one article's fields; returns (merged, clashing field names).

    A field the archivist left as ingest wrote it takes the new value; a field the
    archivist changed keeps the edit; when the dump changed that field too, the edit
    still wins and the clash is reported. Fields ingest never writes are kept as they are.
    """
    merged = dict(current)
    clashes = []
    for name, value in new.items():
        if name not in current:
            merged[name] = value
            continue
        cur = current[name]
        if cur == value:
            continue
        if base is not None and _fingerprint(cur) == base.get(name):
            merged[name] = value
        elif base is not None and _fingerprint(value) == base.get(name):
            continue
        else:
            clashes.append(name)
    # keep ingest's field order, archivist fields after
    ordered = {k: merged[k] for k in new if k in merged}
    ordered.update({k: v for k, v in merged.items() if k not in ordered})
    return ordered, clashes


def _render(fields: dict[str, Any]) -> str:
    return render_markdown_file({k: v for k, v in fields.items() if k != "body"}, fields["body"])


@dataclass
class _Placed:
    """What writing one article did, for the report and the state file."""

    rel: str
    state: dict[str, Any]
    written: bool
    clashes: list[str]


def place_article(content: Path, rel: str, rec: Parsed, base: dict[str, str] | None,
                  previous_rel: str | None, drop_previous: bool, renderer: _Renderer,
                  stager: _Stager, previous: _Previous | None = None) -> _Placed:
    """Write one article to `content/rel`, keeping what the archivist changed.

    `previous_rel` is where this source's article was last written (it may have moved);
    `drop_previous` says that file is no longer any article's and goes once merged.
    `previous`: what ingest wrote last from the same source; when the source text changed
    since, that text is kept as a version first (`_keep_previous_version`).
    """
    target = content / rel
    renderer.render(rec)
    state = {"source": rec.ref, "fields": rec.fields, "written": rec.written,
             "text": {"title": rec.title, "date": rec.date.isoformat()}, **({"url": rec.url} if rec.url else {}),
             **({"placement": rec.placement} if rec.placement else {})}
    existing_path = target if target.exists() else (content / previous_rel if previous_rel else None)
    if existing_path == target and _read_bytes(target) == rec.data:
        return _Placed(rel, state, False, [])  # nothing to merge
    existing = None
    if existing_path and existing_path.exists():
        try:
            existing = _read_existing(existing_path, content)
        except ValueError as exc:
            # The archivist's file is theirs even when its front matter is broken: never write over it.
            return _Placed(rel, state, False, [f"unreadable front matter ({exc})"])
    if existing is None:
        staged = stager.take(rec)
        if staged:
            os.replace(staged, target)
        else:
            _write(target, rec.data)
        return _Placed(rel, state, True, [])
    article = renderer.article(rec)
    new_fields = _fields(article.front_matter(), article.paragraphs)
    current_fields = _fields(*existing)
    if previous is not None:
        _keep_previous_version(existing_path, current_fields, previous, rec.fields)
    if existing_path != target and drop_previous:
        versions.move_versions(existing_path, target)
    merged, clashes = merge_edits(new_fields, current_fields, base)
    if existing_path == target and merged == current_fields:
        # nothing to change: leave the archivist's formatting and the mtime alone
        return _Placed(rel, state, False, clashes)
    _write(target, rec.data if merged == new_fields else _render(merged))
    if existing_path != target and drop_previous:
        existing_path.unlink(missing_ok=True)
    return _Placed(rel, state, True, clashes)


# -- versions (the files are broadsheet/versions.py's) ------------------------------------

@dataclass
class _Previous:
    """What ingest wrote last from one source, for keeping it as a version when it changed."""

    fields: dict[str, str]  # each field's fingerprint, as the state file keeps them
    text: dict[str, Any]  # the outlet's title and date as written (the state's `text`)
    replaced: str  # when this run saw the new text (versions.timestamp), or when it was captured


def _keep_previous_version(path: Path, current: dict[str, Any], previous: _Previous,
                           now: dict[str, str]) -> Path | None:
    """When the source text changed (versions.TEXT_FIELDS: fingerprints `previous.fields`
    against `now`), keep the text ingest wrote last as the article's next version. That text
    is the file at `path` where the archivist left a field as ingest wrote it; an edited title
    or date comes from the state's copy of the outlet's; any other edited field is kept as
    edited and named in the version's `edited`. A web capture's text was seen at its first
    capture."""
    changed = versions.changed_fields(previous.fields, now)
    if not changed:
        return None
    text: dict[str, Any] = {}
    edited = []
    for name in (*versions.TEXT_FIELDS, *versions.KEPT_WITH_TEXT):
        if name not in current and name not in previous.fields:
            continue
        value = current.get(name)
        if name in previous.fields and _fingerprint(value) != previous.fields[name]:
            if name in previous.text and _fingerprint(previous.text[name]) == previous.fields[name]:
                value = previous.text[name]
            else:
                edited.append(name)
        text[name] = value
    return versions.keep_version(path, text, list(text.pop("body", None) or []), seen=_first_capture(current),
                                 replaced=previous.replaced, changed=changed, edited=edited)


def _first_capture(fields: dict[str, Any]) -> str | None:
    """When a web-archive article's text was first captured (its `provenance.captures`), else None."""
    prov = fields.get("provenance")
    captures = prov.get("captures") if isinstance(prov, dict) else None
    return str(captures[0]) if isinstance(captures, list) and captures else None


def _keep_capture_versions(path: Path, latest: Parsed, earlier: list[Parsed], renderer: _Renderer,
                           now: str) -> list[Path]:
    """Each earlier text of a recaptured URL (merge_captures), oldest first, as a version of
    the article at `path`: seen at its first capture, replaced at the next text's first capture
    after it. A text already kept (by an earlier run, or as the text ingest wrote last) is not
    kept again, so that re-ingesting the same archives keeps nothing new; telling that needs no
    archive read again (the text keys of the version files)."""
    kept, _ = versions.read_versions(path)
    known = {_fingerprint(v.fields.get("title")) + _fingerprint(v.fields.get("date")) + _fingerprint(v.paragraphs)
             for v in kept}
    made = []
    texts = [*earlier, latest]
    for rec, after in zip(texts, texts[1:]):
        if rec.text_key in known or not path.exists():
            continue
        seen = rec.captures[0] if rec.captures else None
        replaced = next((t for t in after.captures if seen is None or t > seen), None) or now
        renderer.render(rec)
        renderer.render(after)
        article = renderer.article(rec)
        text = _fields(article.front_matter(), article.paragraphs)
        previous = {k: text[k] for k in (*versions.TEXT_FIELDS, *versions.KEPT_WITH_TEXT) if k in text}
        made.append(versions.keep_version(path, previous, article.paragraphs, seen=seen, replaced=replaced,
                                          changed=versions.changed_fields(rec.fields, after.fields)))
        known.add(rec.text_key)
    return made


def _holds(path: str, written: str) -> bool:
    """Whether the file at `path` is the one whose sha256 is `written`."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest() == written
    except OSError:
        return False


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


# -- what the last run saw: the state file and the cache beside the content folder ----------

def cache_path(content: Path) -> Path:
    """Where ingest keeps what each dump gave and the stamps of the files it looked at (a
    store, broadsheet.cache): beside the content folder, not in it, because what is in it
    must be the same for the same dumps however they were ingested (a clean build is
    compared with an updated one)."""
    content = Path(content).absolute()
    return content.with_name(f".{content.name}.ingest-cache.sqlite")


#: The store's namespaces: what the rest was kept for ({"key": _cache_key, "state": digest of
#: the state file}), each dump's outcome by its path, each content file's stamp by its path.
_CACHE_SCOPE, _CACHED_SOURCES, _CACHED_OUTPUTS = "ingest", "ingest-sources", "ingest-outputs"


def _cache_key(base_dir: Path, timezone: str) -> str:
    """What a dump's cached outcome depends on besides its bytes: where the dumps are, the
    timezone, this code, and the libraries that shape slugs and YAML."""
    code = hashlib.sha256()
    for name in ("broadsheet.article", "broadsheet.dumps", "broadsheet.related", "broadsheet.webarchive",
                 __name__):
        code.update(Path(sys.modules[name].__file__).read_bytes())
    return " ".join([str(base_dir.resolve()), timezone, f"yaml {yaml.__version__}",
                     f"slugify {_slugify_package.__version__}", _WEB_LIBRARIES, code.hexdigest()[:16]])


def _read_json(path: Path) -> tuple[str | None, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError):
        return None, {}
    return text, data if isinstance(data, dict) else {}


def _state_digest(text: str | None) -> str | None:
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text is not None else None


# -- placing the articles ----------------------------------------------------------------

def _place_all(content: Path, outcomes: list[Parsed | Rejection], old_state: dict[str, Any],
               old_stamps: dict[str, list[int]], renderer: _Renderer, stager: _Stager,
               report: IngestReport, check_removals: Callable[[list[str], int], None],
               replaced: str = "") -> tuple[dict[str, Any], dict[str, list[int] | None]]:
    """Fold duplicates, choose paths, write what changed, and note it all in `report`;
    returns the new state of the outputs and their stamps. Before anything is written,
    `check_removals(sources of the articles that would go, articles ingest wrote)` may stop
    the run; articles whose source could not be read (UNREAD) stay as they are. `replaced`:
    the time a version replaced by this run is noted as replaced (broadsheet.versions)."""
    records = [o for o in outcomes if isinstance(o, Parsed)]
    for o in outcomes:
        if isinstance(o, Rejection):
            report.rejected.append({"source": o.source, "reason": o.reason, "detail": o.detail})
        elif isinstance(o, Skipped):
            report.skipped[o.reason] = report.skipped.get(o.reason, 0) + o.count
    records, recaptured = merge_captures(records, [o for o in outcomes if isinstance(o, Revisit)])
    kept, dupes = fold_duplicates(records)
    paths = assign_paths(kept)
    unread = _unread(o for o in outcomes if isinstance(o, Rejection) and o.reason in UNREAD)
    kept_unread = {rel: entry for rel, entry in old_state.items() if rel not in paths and unread(entry["source"])}
    folded_refs = {r.latest.ref: [r.ref for r in (*r.same_text, *r.earlier_texts)] for r in recaptured}
    placed = {ref for rec in paths.values() for ref in (rec.ref, *folded_refs.get(rec.ref, ()))}
    check_removals(sorted(entry["source"] for rel, entry in old_state.items()
                          if rel not in paths and rel not in kept_unread and entry["source"] not in placed
                          and (content / rel).exists()), len(old_state))
    output_of = {id(a): p for p, a in paths.items()}
    for r in recaptured:  # every capture is read: the other captures of a URL count as duplicates
        for d, earlier_text in [*((d, False) for d in r.same_text), *((d, True) for d in r.earlier_texts)]:
            report.duplicates.append({"source": d.ref, "duplicate_of": r.latest.ref,
                                      "output": output_of[id(r.latest)], **({"earlier_text": True} if earlier_text else {})})
    for dup, first in dupes:
        report.duplicates.append({"source": dup.ref, "duplicate_of": first.ref, "output": output_of[id(first)]})
        if (dup.outlet, dup.facets) != (first.outlet, first.facets):
            first.warnings.append(f"{dup.ref} has the same title, date and text but "
                                  f"outlet {dup.outlet}, facets {dup.facets}; folded into this article")

    old_path_of_source = {v["source"]: p for p, v in old_state.items()}
    folder = str(content)
    new_state: dict[str, Any] = {}
    stamps: dict[str, list[int] | None] = {}
    earlier_texts = {id(r.latest): r.earlier_texts for r in recaptured if r.earlier_texts}
    keep_after: list[tuple[str, Parsed]] = []
    for rel, rec in sorted(paths.items()):
        if id(rec) in earlier_texts:  # after the article, which may move its versions with it
            keep_after.append((rel, rec))
        previous_rel = rel if rel in old_state else next(
            (old_path_of_source[ref] for ref in (rec.ref, *folded_refs.get(rec.ref, ())) if ref in old_path_of_source),
            None)
        last = old_state.get(previous_rel) if previous_rel else None
        report.accepted.append({"source": rec.ref, "output": rel, "warnings": rec.warnings})
        if last and previous_rel == rel and last["source"] == rec.ref:
            if rec.placement and last.get("placement") == rec.placement:  # placed as last time
                rec.written, rec.rendered_with, rec.data, rec.fields = last["written"], rec.placed_as, None, None
            renderer.render(rec, need_text=False)
            path = os.path.join(folder, rel)
            settled = last["written"] == rec.written and unchanged(old_stamps.get(rel), looked_at(path))
            if settled or (last["written"] == rec.written and _holds(path, rec.written)):
                new_state[rel] = last  # neither the dump nor the content file changed
                if settled:
                    stamps[rel] = old_stamps[rel]  # the others are stamped anew below
                report.unchanged += 1
                continue
        # a capture of the same page whose archive is no longer in the source counts as the same
        # source (one still there is an earlier capture, which _keep_capture_versions keeps)
        same_page = bool(last and rec.url and last.get("url") == rec.url
                         and last["source"] not in folded_refs.get(rec.ref, ()))
        previous = (_Previous(last["fields"], last.get("text") or {},
                              rec.captures[0] if same_page and rec.captures else replaced)
                    if last and (last["source"] == rec.ref or same_page) and replaced else None)
        placed = place_article(content, rel, rec, last["fields"] if last else None, previous_rel,
                               previous_rel not in paths, renderer, stager, previous)
        new_state[rel] = placed.state
        if placed.written:
            report.written += 1
        else:
            report.unchanged += 1
        if placed.clashes:
            report.conflicts.append({"output": rel, "source": rec.ref, "fields": placed.clashes,
                                     "kept": "the archivist's edit"})
    for rel, rec in keep_after:
        _keep_capture_versions(content / rel, rec, earlier_texts[id(rec)], renderer, replaced)
    new_state.update(kept_unread)
    report.kept = sorted(kept_unread)
    # stamped once every file is written, so that few of them are as recent as the look
    for rel in new_state:
        if rel not in stamps:
            stamps[rel] = looked_at(os.path.join(folder, rel))

    for rel, entry in sorted(old_state.items()):
        if rel in new_state:
            continue
        path = content / rel
        if not path.exists():
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() == entry.get("written"):
            path.unlink()
            report.removed.append(rel)
        else:
            report.conflicts.append({"output": rel, "source": entry["source"], "fields": [],
                                     "kept": "the edited article; its dump is gone"})
    return new_state, stamps


def _unread(rejections: Iterable[Rejection]) -> Callable[[str], bool]:
    """Whether a source (`file` or `file#row=N`) lies in a folder or is a file that could not be read."""
    folders, files = [], set()
    for r in rejections:
        if r.reason == "unreadable-folder":
            folders.append("" if r.source == "./" else r.source)
        else:
            files.add(r.source)
    prefixes = tuple(folders)
    return lambda ref: ref.startswith(prefixes) or ref.partition("#row=")[0] in files


def _removal_check(source: Path, content: Path, found_files: bool, allow: bool) -> Callable[[list[str], int], None]:
    """What _place_all calls before writing: IngestRefused when the run would remove more
    articles than REMOVALS_SHARE / REMOVALS_FLOOR allow, or any with no source file found."""

    def check(gone: list[str], total: int) -> None:
        if allow or not gone:
            return
        if found_files and len(gone) <= max(REMOVALS_FLOOR, REMOVALS_SHARE * total):
            return
        why = ("the source holds no file at all" if not found_files
               else f"more than the {REMOVALS_SHARE:.0%} (or {REMOVALS_FLOOR}) a run removes without being told")
        shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        raise IngestRefused(
            f"ingest stopped: this run would remove {len(gone)} of the {total} articles in {content}, "
            f"whose sources are not in {source} ({shown}); {why}. Nothing was changed. Check --source; "
            f"if these dumps were deleted on purpose, run again with --allow-removals.")

    return check


# -- the run -----------------------------------------------------------------------------

def ingest(source: Path, content: Path, timezone: str = DEFAULT_TIMEZONE,
           on_progress: Callable[[int, int], None] | None = None,
           mapping: Mapping | None = None, allow_removals: bool = False,
           seen_at: datetime | None = None, scheduler: str | None = None) -> IngestReport:
    """Ingest every file under `source` into `content/`; see the module docstring.
    `read` counts dumps and table rows (a table that cannot be read at all counts once).
    `on_progress` counts the files parsed (unchanged dumps are not).
    Raises IngestRefused (a source that does not exist, removals beyond REMOVALS_SHARE
    without `allow_removals`) before changing anything, WriteFailed when content/ cannot
    be written (each file is whole, old or new). `seen_at`: the time noted in the versions
    this run keeps (broadsheet/versions.py) as when it saw the new text; default now.
    Files are parsed and rendered on the Dask cluster at `scheduler` when one is named
    (see `broadsheet.engine`)."""
    source, content = Path(source), Path(content)
    if not source.exists():
        raise IngestRefused(f"ingest stopped: the source {source} does not exist (a typo?); "
                            f"nothing was read and nothing in {content} was changed")
    if not (source.is_dir() or source.is_file()):
        raise IngestRefused(f"ingest stopped: the source {source} is neither a folder nor a file")
    report = IngestReport()
    base_dir = source if source.is_dir() else source.parent
    state_path = content / STATE_FILE
    state_text, state = _read_json(state_path)
    old_state: dict[str, Any] = state.get("outputs") or {}
    store = Store(cache_path(content).parent, cache_path(content).name)
    kept = store.get(_CACHE_SCOPE, default={})
    key = _cache_key(base_dir, timezone)
    cached_sources = store.load(_CACHED_SOURCES) if kept.get("key") == key else {}
    # the stamps of content files are worth something only beside the state they were taken with
    old_stamps = store.load(_CACHED_OUTPUTS) if kept.get("state") == _state_digest(state_text) else {}

    # an unchanged dump gives what it gave last time (only dumps are cached, tables are read
    # again); the others are parsed and rendered
    files, skipped = walk_sources(source)
    outcomes_of: dict[str, list[Parsed | Rejection]] = {}
    sources: dict[str, Any] = {}
    stamps: dict[str, list[int] | None] = {}
    jobs = []
    for path, rel in files:
        stamps[rel] = looked_at(path)
        entry = cached_sources.get(rel)
        if entry and unchanged(entry["stamp"], stamps[rel]):
            outcomes_of[rel] = [_from_cache(rel, e) for e in entry.get("outcomes", [entry])]
            sources[rel] = entry
            continue
        jobs.append(_job(path, rel, timezone, mapping))
    had_output = {v["source"] for v in old_state.values()}
    check_removals = _removal_check(source, content, bool(files or skipped), allow_removals)
    stager = _Stager(content)
    try:
        with engine.connect(scheduler, in_process=not _pays_for_a_local_cluster(jobs)) as run:
            for job, outcome in _each_file(run, jobs, _prepare_file, _prepared, "ingest", on_progress):
                outcomes_of[job[1]] = outcome
                for o in outcome:
                    if isinstance(o, Parsed) and o.ref not in had_output:
                        stager.stage(o)  # most likely a new article: its file can be made now
            outcomes = skipped + [o for _, rel in files for o in outcomes_of[rel]]
            report.read = sum(not isinstance(o, (Skipped, Revisit)) for o in outcomes)
            try:
                new_state, output_stamps = _place_all(content, outcomes, old_state, old_stamps,
                                                      _Renderer(base_dir, timezone, mapping, run), stager, report,
                                                      check_removals,
                                                      versions.timestamp(seen_at or datetime.now().astimezone()))
                if new_state != old_state or state.get("version") != STATE_VERSION:
                    state_text = json.dumps({"version": STATE_VERSION, "outputs": new_state},
                                            indent=1, sort_keys=True, ensure_ascii=False) + "\n"
                    _write(state_path, state_text)
            except OSError as exc:  # a rename or a removal; _write names the files it writes
                raise _write_failed(Path(exc.filename) if exc.filename else content, exc) from None
    finally:
        stager.close()

    for path, rel, *_ in jobs:
        if stamps[rel] is not None and is_web_input(rel):  # an archive gives many outcomes
            sources[rel] = {"stamp": stamps[rel], "outcomes": [_to_cache(o) for o in outcomes_of[rel]]}
        elif stamps[rel] is not None and not is_table(Path(path)):
            (o,) = outcomes_of[rel]
            if isinstance(o, Rejection) and o.reason in UNREAD:
                continue  # a change of permissions does not show in the stamp: read it again next time
            sources[rel] = {"stamp": stamps[rel], **_to_cache(o)}
    scope = {"key": key, "state": _state_digest(state_text)}
    _write_cache(store, {
        _CACHE_SCOPE: ({"": scope}, [""] if scope != kept else []),
        _CACHED_SOURCES: (sources, changed_keys(cached_sources, sources) if kept.get("key") == key else None),
        _CACHED_OUTPUTS: (output_stamps, changed_keys(old_stamps, output_stamps)
                          if kept.get("state") == scope["state"] else None)})
    return report


def _write(path: Path, data: str | bytes) -> None:
    """atomic_write, with a failure that names `path` rather than its temporary file."""
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise _write_failed(path, exc) from None


def _write_failed(path: Path, exc: OSError) -> WriteFailed:
    return WriteFailed(f"ingest stopped: cannot write {path} ({exc.strerror or exc}). No file was left "
                       f"half-written: each article is as it was or wholly new. Free some space (or fix "
                       f"the permissions) and run ingest again; it picks up where it stopped.")


def _to_cache(outcome: Parsed | Rejection | Skipped) -> dict[str, Any]:
    if isinstance(outcome, Rejection):
        return {"rejected": [outcome.reason, outcome.detail], "source": outcome.source}
    if isinstance(outcome, Skipped):
        return {"skipped": [outcome.reason, outcome.count]}
    if isinstance(outcome, Revisit):
        return {"revisit": [outcome.url, outcome.captured, outcome.payload_digest]}
    return {"article": outcome.to_cache()}


def _from_cache(rel: str, entry: dict[str, Any]) -> Parsed | Rejection | Skipped:
    if "rejected" in entry:
        return Rejection(entry.get("source", rel), *entry["rejected"])
    if "skipped" in entry:
        return Skipped(rel, *entry["skipped"])
    if "revisit" in entry:
        return Revisit(rel, *entry["revisit"])
    return Parsed.from_cache(rel, entry["article"])


def _write_cache(store: Store, changes: dict[str, tuple[dict[str, Any], list[str] | None]]) -> None:
    """Only a cache: when it cannot be written, the next run parses every dump again."""
    try:
        store.save_all(changes)
    except (OSError, sqlite3.Error):
        pass


def write_report(report: IngestReport, path: Path) -> None:
    atomic_write(Path(path), json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
