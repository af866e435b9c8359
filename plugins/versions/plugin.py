"""versions: an article's earlier versions (broadsheet/versions.py) on the site.

For every article with kept versions beside its content file:
- `article.versions` (ArticleVersions): the count, since when the latest text stands, the list
  of versions with their pages, and the TimeMap's URL; article.html shows the notice and list;
- the article's citation (archive_pages' `display`) names the version it is ("3 of 3");
- a page per earlier version (VERSION_URL) with its text, its own citation and a word-level
  diff against the next version, computed here (diff.py); `version.html` only displays it;
- a TimeMap (RFC 7089, application/link-format) per article (TIMEMAP_URL);
- `data/versions.jsonl` (VERSIONS_JSONL_SAVE_AS): every version of every article;
- `article_versions` in the context, for the corpus page: how many articles have several
  versions, and the most edited;
- a redirect page (moved.html) at each URL an earlier version was published at (its own slug
  and date through the site's URL patterns, broadsheet/urls.py) when a new title or date moved
  the article and no other page of the site is written there, so no link to it breaks.

Needs archive_pages (listed before this plugin): it reads and extends `article.display`.
Settings: VERSION_URL, TIMEMAP_URL, VERSIONS_JSONL_SAVE_AS, VERSIONS_MOST_EDITED.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import posixpath
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from itertools import chain
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pelican import signals
from pelican.generators import Generator

from archive_pages import citations
from broadsheet import partitioned
from broadsheet import reuse as reusing
from broadsheet import versions as history
from broadsheet.ingest import plain_slug
from broadsheet.related import parse_blob
from broadsheet.urls import article_paths, page_slug

from .diff import Diff, line_diff, word_diff

log = logging.getLogger(__name__)
PLUGIN_NAME = "versions"
DEFAULTS = {
    "VERSION_URL": "{stem}/v{number}.html",
    "TIMEMAP_URL": "{stem}/timemap.link",
    "VERSIONS_JSONL_SAVE_AS": "data/versions.jsonl",
    "VERSIONS_MOST_EDITED": 10,
}
#: How a page names each field a version can change.
FIELD_LABELS = {"title": "title", "date": "dateline", "text_dateline": "dateline in the text",
                "signature": "signature", "related_json": "related articles", "body": "text"}
#: Per-version citation downloads: (label, file suffix replacing `.html`, media type, render).
CITATION_FILES = (
    ("BibTeX", ".bib", "application/x-bibtex", citations.bibtex),
    ("RIS", ".ris", "application/x-research-info-systems", citations.ris),
    ("CSL-JSON", ".csl.json", "application/vnd.citationstyles.csl+json", citations.csl_json),
)


def _enabled(settings) -> bool:
    return PLUGIN_NAME in (settings.get("PLUGINS") or [])


@dataclass(frozen=True)
class When:
    iso: str  # for <time datetime>
    text: str  # 12 Apr 2026 02:00 UTC


@dataclass(frozen=True)
class VersionLink:
    """One version as the list on every page shows it."""

    number: int
    url: str
    seen: When | None  # when first seen; None: before the archive noted it (the dateline stands)
    changed: str  # what the next version changed ("" for the latest)
    latest: bool


@dataclass(frozen=True)
class ArticleVersions:
    """What article.html shows of an article's history (attached as `article.versions`)."""

    count: int
    since: When  # when the latest text was first seen
    items: tuple[VersionLink, ...]
    timemap_url: str


@dataclass(frozen=True)
class FieldChange:
    label: str
    diff: Diff
    before: str = ""  # for one-line fields: the old and new values, shown in full
    after: str = ""


@dataclass
class VersionPage:
    """Everything version.html shows."""

    number: int
    count: int
    url: str
    article_url: str
    title: str
    date: When
    signature: str | None
    paragraphs: list[str]
    related: list[str]
    lang: str
    dir: str
    seen: When | None
    replaced: When
    next: VersionLink
    changes: tuple[FieldChange, ...]
    edited: tuple[str, ...]
    items: tuple[VersionLink, ...]
    timemap_url: str
    source_sha256: str
    source_file: str
    citation: Any  # citations.Citation
    reference: str
    citation_meta: list[tuple[str, str]]
    json_ld: Any
    downloads: list[tuple[str, str, str]]


@dataclass(frozen=True)
class Moved:
    """A redirect page at a URL an earlier version was published at, to the article's page."""

    save_as: str
    url: str
    target: str  # the article's URL now
    title: str  # the article's title now


def _when(iso: str | None) -> When | None:
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    return When(iso, moment.astimezone(timezone.utc).strftime("%d %b %Y %H:%M UTC"))


def _labels(fields: list[str]) -> str:
    return ", ".join(FIELD_LABELS.get(f, f) for f in fields)


def _related_titles(related_json: str | None, timezone: str) -> list[str]:
    return [e.title for e in parse_blob(related_json, timezone).entries]


class VersionsGenerator(Generator):
    """Reads each article's versions, attaches what its page shows, writes the version pages."""

    def generate_context(self):
        s = self.settings
        for key, value in DEFAULTS.items():
            s.setdefault(key, value)
        self.pages: list[VersionPage] = []
        self.timemaps: list[tuple[str, str]] = []
        self.rows: list[dict[str, Any]] = []
        self.moved: list[Moved] = []
        #: Files of version pages written in partitions of a partitioned build (no redirect there).
        self.written: set[str] = set()
        edited = []
        if partitioned.is_driver(s):  # the partitions read the versions: see adopt_partitions
            self._summarise(edited)
            return
        for article in self._in_order():
            kept, problems = history.read_versions(Path(article.source_path))
            for problem in problems:
                log.warning("%s", problem)
            rows, first_page, moved = self._rows(article, kept), len(self.pages), len(self.moved)
            self.rows += rows
            if kept:
                self._attach(article, kept)
                edited.append((article, article.versions.count))
            if partitioned.is_partition(s):
                facts = partitioned.facts_of(s, article.url)
                facts["versions"] = {
                    "rows": rows, "moved": self.moved[moved:], "count": len(kept) + 1 if kept else None,
                    "files": sorted({p.url for p in self.pages[first_page:]}
                                    | {rel for p in self.pages[first_page:] for _, rel, _ in p.downloads}
                                    | ({article.versions.timemap_url} if kept else set()))}
        self._summarise(edited)

    def _in_order(self) -> list:
        articles = list(chain(self.context.get("articles", []), self.context.get("hidden_articles", [])))
        return sorted(articles, key=lambda a: (a.display.record.date, a.source_path))

    def _summarise(self, edited: list[tuple[Any, int]]) -> None:
        """The corpus page's view: how many articles have versions, and the most edited."""
        s = self.settings
        edited.sort(key=lambda pair: (-pair[1], pair[0].display.record.date, pair[0].url))
        self.context["article_versions"] = {
            "articles": len(edited),
            "versions": sum(count for _, count in edited),
            "most_edited": [(a.url, a.display.record.title, count)
                            for a, count in edited[: int(s["VERSIONS_MOST_EDITED"])]],
            "download": s["VERSIONS_JSONL_SAVE_AS"],
        }

    def adopt_partitions(self) -> None:
        """In a partitioned build's driver, once the partitions ran: their rows, redirects and
        counts, in the order a single build makes them."""
        edited = []
        articles = self._in_order()
        for article, found in zip(articles, partitioned.facts_in_order(self.settings, articles, "versions", None)):
            if not found:
                continue
            self.rows += found["rows"]
            self.moved += found["moved"]
            self.written.update(found["files"])
            if found["count"]:
                edited.append((article, found["count"]))
        self._summarise(edited)

    # -- per article

    def _stem(self, article) -> str:
        return article.save_as[: -len(".html")] if article.save_as.endswith(".html") else article.save_as

    def _attach(self, article, kept: list[history.Version]) -> None:
        s = self.settings
        stem, count = self._stem(article), len(kept) + 1
        urls = [s["VERSION_URL"].format(stem=stem, number=v.number) for v in kept] + [article.url]
        items = tuple(VersionLink(n, url, _when(v.seen) if v else _when(kept[-1].replaced),
                                  _labels(v.changed) if v else "", v is None)
                      for n, (url, v) in enumerate(zip(urls, [*kept, None]), 1))
        timemap = s["TIMEMAP_URL"].format(stem=stem)
        article.versions = ArticleVersions(count, _when(kept[-1].replaced), items, timemap)
        display = article.display
        display.citation = dataclasses.replace(display.citation, version=f"{count} of {count}")
        self._cite(display, display.citation)
        latest = {"title": display.record.title, "date": display.record.date.isoformat(),
                  "signature": display.record.signature, "related_json": display.record.related_json,
                  "text_dateline": display.record.text_dateline}
        nexts = [(v.fields, v.paragraphs) for v in kept[1:]] + [(latest, display.record.paragraphs)]
        for n, (version, (after, after_paragraphs)) in enumerate(zip(kept, nexts)):
            self.pages.append(self._page(article, version, items, n, after, after_paragraphs, timemap))
        self.timemaps.append((timemap, self._timemap(article, kept, items, timemap)))
        self.moved += self._moves(article, kept)

    def _moves(self, article, kept: list[history.Version]) -> list[Moved]:
        """Where the article's earlier versions were published, where that is not its page now.

        A version file written before versions kept the slug has the slug ingest gives its
        title (without the suffix ingest adds when another article of the month has it)."""
        s = self.settings
        moves = {}
        for v in kept:
            when = datetime.fromisoformat(str(v.fields.get("date")))
            when = when if when.tzinfo else when.replace(tzinfo=ZoneInfo(s["TIMEZONE"]))
            slug = page_slug(str(v.fields.get("slug") or plain_slug(v.title)), s)
            meta = {"lang": getattr(article, "lang", None), "status": getattr(article, "status", None), **v.fields}
            try:
                url, save_as = article_paths(meta, slug, when, s)
            except (KeyError, IndexError, ValueError) as exc:
                log.warning("%s: no redirect from where version %d was published: its URL cannot be made "
                            "from the settings' pattern (%r)", v.path, v.number, exc)
                continue
            if save_as != article.save_as:
                moves.setdefault(save_as, Moved(save_as, url, article.url, article.display.record.title))
        return [moves[k] for k in sorted(moves)]

    @staticmethod
    def _cite(target, cite) -> None:
        """The citation's page metadata and reference, on the article's display or a version page."""
        target.citation = cite
        target.reference = citations.reference(cite)
        target.citation_meta = citations.highwire_meta(cite)
        target.json_ld = citations.json_ld(cite, cite.date.isoformat())

    def _page(self, article, v: history.Version, items, index: int, after: dict[str, Any],
              after_paragraphs: list[str], timemap: str) -> VersionPage:
        s = self.settings
        zone = ZoneInfo(s["SOURCE_TIMEZONE"])
        display = article.display
        url = items[index].url
        date = datetime.fromisoformat(str(v.fields.get("date")))
        changes = []
        for name in v.changed:
            if name == "body":
                diff = word_diff(v.paragraphs, list(after_paragraphs), changed_only=True)
                changes.append(FieldChange(FIELD_LABELS[name], diff))
            elif name == "related_json":
                diff = line_diff(_related_titles(v.fields.get(name), s["SOURCE_TIMEZONE"]),
                                 _related_titles(after.get(name), s["SOURCE_TIMEZONE"]))
                changes.append(FieldChange(FIELD_LABELS[name], diff))
            else:
                before, now = str(v.fields.get(name) or ""), str(after.get(name) or "")
                changes.append(FieldChange(FIELD_LABELS.get(name, name), word_diff([before], [now]), before, now))
        cite = dataclasses.replace(
            display.citation, key=f"{display.citation.key}-v{v.number}", title=v.title,
            date=date.astimezone(zone), url=self._absolute_url(url), version=f"{v.number} of {len(items)}")
        stem = url[: -len(".html")]
        page = VersionPage(
            number=v.number, count=len(items), url=url, article_url=article.url, title=v.title,
            date=When(date.astimezone(zone).isoformat(), date.astimezone(zone).strftime(s["DEFAULT_DATE_FORMAT"])),
            signature=v.fields.get("signature"), paragraphs=v.paragraphs,
            related=_related_titles(v.fields.get("related_json"), s["SOURCE_TIMEZONE"]),
            lang=display.script.lang, dir=display.script.dir, seen=_when(v.seen), replaced=_when(v.replaced),
            next=items[index + 1], changes=tuple(changes), edited=tuple(FIELD_LABELS.get(f, f) for f in v.edited),
            items=items, timemap_url=timemap, source_sha256=v.source_sha256,
            source_file=str((v.fields.get("source") or {}).get("file", "")),
            citation=None, reference="", citation_meta=[], json_ld=None,
            downloads=[(label, stem + suffix, media) for label, suffix, media, _ in CITATION_FILES],
        )
        self._cite(page, cite)
        return page

    def _absolute_url(self, path: str) -> str | None:
        siteurl = self.settings.get("SITEURL") or ""
        return f"{siteurl}/{path}" if siteurl.startswith(("http://", "https://")) else None

    def _link(self, target: str, timemap: str) -> str:
        """`target` as the TimeMap links it: absolute with an absolute SITEURL, else relative to the TimeMap."""
        return self._absolute_url(target) or posixpath.relpath(target, posixpath.dirname(timemap))

    def _timemap(self, article, kept: list[history.Version], items, timemap: str) -> str:
        """RFC 7089 section 5.1: the original (the article's page, holding the latest text), the
        TimeMap itself, and one memento per version with the datetime its text was first seen
        (the first version, whose first sighting was not noted: its dateline)."""
        def http_date(iso: str) -> str:
            return format_datetime(datetime.fromisoformat(iso).astimezone(timezone.utc), usegmt=True)

        dated = [item.seen.iso if item.seen else str(kept[0].fields.get("date")) for item in items]
        lines = [f'<{self._link(article.url, timemap)}>;rel="original"',
                 f'<{self._link(timemap, timemap)}>;rel="self";type="application/link-format"'
                 f';from="{http_date(dated[0])}";until="{http_date(dated[-1])}"']
        for n, (item, iso) in enumerate(zip(items, dated)):
            rel = "first memento" if n == 0 else "last memento" if n == len(items) - 1 else "memento"
            lines.append(f'<{self._link(item.url, timemap)}>;rel="{rel}";datetime="{http_date(iso)}"')
        return ",\n".join(lines) + "\n"

    def _rows(self, article, kept: list[history.Version]) -> list[dict[str, Any]]:
        """data/versions.jsonl: every version of the article, the latest last (an article
        with no kept version has one line); words added and removed by the next version."""
        record = article.display.record
        stem, count = self._stem(article), len(kept) + 1
        rows = []
        nexts = [v.paragraphs for v in kept[1:]] + [record.paragraphs]
        for v, after in zip(kept, nexts):
            diff = word_diff(v.paragraphs, after)
            rows.append({"article": article.url, "version": v.number, "of": count,
                         "url": self.settings["VERSION_URL"].format(stem=stem, number=v.number),
                         "title": v.title, "seen": v.seen, "replaced": v.replaced,
                         "source_sha256": v.source_sha256, "changed": v.changed,
                         "words_added": diff.added, "words_removed": diff.removed})
        rows.append({"article": article.url, "version": count, "of": count, "url": article.url,
                     "title": record.title, "seen": kept[-1].replaced if kept else None, "replaced": None,
                     "source_sha256": record.source.sha256, "changed": [], "words_added": 0,
                     "words_removed": 0})
        return rows

    # -- output

    def generate_output(self, writer):
        s = self.settings
        reuse = reusing.for_settings(s)
        self._write_pages(writer, reuse)  # none in a partitioned build's driver: its partitions wrote them
        if partitioned.is_partition(s):  # the driver writes the redirects and the rows
            return
        moved = self.get_template("moved")
        for page in self._redirects():
            key = reusing.key_of(moved.name, page, s["RELATIVE_URLS"]) if reuse else None
            if not (reuse and reuse.take(page.save_as, key)):
                writer.write_file(page.save_as, moved, self.context, relative_urls=s["RELATIVE_URLS"],
                                  moved=page, url=page.url)
        self._write(reuse, s["VERSIONS_JSONL_SAVE_AS"],
                    "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows))

    def _write_pages(self, writer, reuse) -> None:
        s = self.settings
        template = self.get_template("version")
        nav = self.context.get("site_nav")
        for page in self.pages:
            key = reusing.key_of(template.name, page.url, s["RELATIVE_URLS"], nav, page) if reuse else None
            if not (reuse and reuse.take(page.url, key)):
                writer.write_file(page.url, template, self.context, relative_urls=s["RELATIVE_URLS"],
                                  version=page, url=page.url)
            for (_, rel, _), (_, suffix, _, render) in zip(page.downloads, CITATION_FILES):
                self._write(reuse, rel, render(page.citation))
        for rel, text in self.timemaps:
            self._write(reuse, rel, text)

    def _redirects(self) -> list[Moved]:
        """The redirects to write: none over a page, static file or version file of this build
        (a title changed back leaves the live page where it was); of two articles once published
        at the same URL, the first (by date, then file) keeps it. Runs once every generator's
        context is complete, so the static files are known."""
        c = self.context
        taken = {p.save_as for name in ("articles", "translations", "drafts", "drafts_translations",
                                       "hidden_articles", "hidden_translations", "pages", "hidden_pages",
                                       "draft_pages", "staticfiles") for p in c.get(name, []) or []}
        taken |= {p.url for p in self.pages} | {rel for rel, _ in self.timemaps}
        taken |= {rel for p in self.pages for _, rel, _ in p.downloads} | {self.settings["VERSIONS_JSONL_SAVE_AS"]}
        taken |= self.written
        written = []
        for page in self.moved:
            if page.save_as in taken:
                log.info("%s: no redirect to %s, another page is written there", page.save_as, page.target)
                continue
            taken.add(page.save_as)
            written.append(page)
        return written

    def _write(self, reuse, rel: str, text: str) -> None:
        """A file made from `text` alone: linked from the previous build when the text is the same."""
        if reuse and reuse.take(rel, reusing.key_of(text)):
            return
        path = Path(self.output_path, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")


def get_generators(pelican):
    return VersionsGenerator if _enabled(pelican.settings) else None


def register():
    signals.get_generators.connect(get_generators)
