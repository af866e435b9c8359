"""archive_pages: the pages readers and scholars use beyond the article itself.

- every article gets `article.display` (paragraphs, script direction, local date, citation
  metadata, provenance, earlier/later in time), so article.html only displays;
- a build that would write two articles to one path stops and names both sources; an
  over-long slug is cut (with a hash) before any path is made from it;
- extra outputs: the corpus page, the date archive (year -> month -> day), a page per
  signature, `data/articles.jsonl` and `data/articles.csv`, and per article its BibTeX,
  RIS and CSL-JSON files next to its HTML.

Settings (pelicanconf.py): INGEST_REPORT, CORPUS_SAVE_AS, SIGNATURES_SAVE_AS, SIGNATURE_URL,
ARCHIVE_{YEAR,MONTH,DAY}_URL, DATA_JSONL_SAVE_AS, DATA_CSV_SAVE_AS, SLUG_MAX_BYTES,
SOURCE_NAME, SOURCE_TIMEZONE.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from itertools import chain
from typing import Any
from pathlib import Path
from zoneinfo import ZoneInfo

from pelican import signals
from pelican.contents import Article as PelicanArticle
from pelican.generators import ArticlesGenerator, Generator, PagesGenerator, PelicanTemplateNotFound
from slugify import slugify

from broadsheet import partitioned
from broadsheet import cache, reuse as reusing
from broadsheet.article import Article, record_of
from broadsheet.files import atomic_write
from broadsheet.ordering import oldest_first
from broadsheet.site import BuildError
from broadsheet.urls import shorten_slug

from . import citations, corpus
from .display import (
    ArticleDisplay, Link, capture_of, capture_time, detect_script, linkable_url, local_date, provenance,
)

log = logging.getLogger(__name__)

#: The graph plugin's partial; while it is absent the article page lists the scraped entries itself.
RELATED_PARTIAL = "partials/related.html"
#: Pages other plugins write from a template of the same name; the navigation links to each
#: once its template exists, so a site never links to a page its plugins do not make.
OPTIONAL_NAV = (("search", "Search"), ("graph", "Graph"))
#: Per-article citation downloads: (label, file suffix replacing `.html`, media type).
CITATION_FILES = (
    ("BibTeX", ".bib", "application/x-bibtex", citations.bibtex),
    ("RIS", ".ris", "application/x-research-info-systems", citations.ris),
    ("CSL-JSON", ".csl.json", "application/vnd.citationstyles.csl+json", citations.csl_json),
)


PLUGIN_NAME = "archive_pages"


def _enabled(settings) -> bool:
    """Signals outlive a build in the same process: act only for builds that list this plugin."""
    return PLUGIN_NAME in (settings.get("PLUGINS") or [])


# -- paths ---------------------------------------------------------------------------------


def shorten_long_slug(content) -> None:
    """content_object_init: cut a slug that would make a path component too long."""
    if not isinstance(content, PelicanArticle) or not _enabled(content.settings):
        return
    limit = int(content.settings.get("SLUG_MAX_BYTES", 120))
    short = shorten_slug(content.slug, limit)
    if short != content.slug:
        log.warning("%s: slug is longer than %d bytes; using %r", content.relative_source_path, limit, short)
        content.slug = short


def _describe(content) -> str:
    source = (content.metadata.get("source") or {}).get("file") if isinstance(content.metadata.get("source"), dict) else None
    where = content.relative_source_path or content.source_path
    return f"{where} (from {source})" if source else str(where)


def check_unique_output_paths(generators) -> None:
    """all_generators_finalized: two contents with one output path stop the build.

    Pelican would warn and overwrite; here the archivist learns which two files clash.
    Paths are compared case-folded, because the offline zip may be opened on macOS or Windows.
    """
    if not generators or not _enabled(generators[0].settings):
        return
    contents = []
    for g in generators:
        if isinstance(g, ArticlesGenerator):
            contents += chain(g.articles, g.translations, g.hidden_articles, g.hidden_translations,
                              g.drafts, g.drafts_translations)
        elif isinstance(g, PagesGenerator):
            contents += chain(g.pages, g.translations, g.hidden_pages, g.hidden_translations,
                              g.draft_pages, g.draft_translations)
    seen: dict[str, object] = {}
    clashes = []
    for c in contents:
        key = os.path.normpath(c.save_as).casefold()
        if key in seen:
            clashes.append(f"{c.save_as}: {_describe(seen[key])} and {_describe(c)}")
        else:
            seen[key] = c
    if clashes:
        raise BuildError(
            "two articles would be written to the same file (give one of them another `slug` "
            "in its front matter):\n- " + "\n- ".join(clashes)
        )


# -- the generator ---------------------------------------------------------------------------


class ArchivePagesGenerator(Generator):
    """Computes the per-article display data and the corpus views; writes the extra outputs."""

    def generate_context(self):
        s = self.settings
        self.articles = list(self.context.get("articles", []))  # published, newest first
        everything = list(chain(self.articles, self.context.get("hidden_articles", []),
                                self.context.get("drafts", [])))
        partial = Path(self.theme, "templates", RELATED_PARTIAL)
        show_scraped_related = not partial.exists()
        self.signatures: dict[str, dict] = {}
        self._key_prefix = slugify(s["SOURCE_NAME"])[:24].strip("-") or "article"
        # Each display follows from the content file, the article's URL and path, and the
        # settings, theme and code (the kept folder's key): an unchanged file is not read again.
        kept = reusing.KeptValues(reusing.kept_folder(s, "archive_pages-displays"))
        driver = partitioned.is_driver(s)
        for article in everything:
            article.display = kept.value(article.source_path, lambda a=article: _display_inputs(a),
                                         lambda a=article: self._display(a, show_scraped_related))
            if not driver:  # a stand-in's record has no text: the search reads the file
                article._broadsheet_record = article.display.record
            self._add_to_signature(article)
        kept.save()
        self._link_in_time()
        self._group_signatures()
        self.tree = corpus.archive_tree(
            ((a.display.record.date.astimezone(self._zone()).date(), a) for a in self.in_time),
            {"year": s["ARCHIVE_YEAR_URL"], "month": s["ARCHIVE_MONTH_URL"], "day": s["ARCHIVE_DAY_URL"]},
        )
        months = Counter({(m.day.year, m.day.month): m.count for y in self.tree for m in y.children})
        self.context["archive_tree"] = self.tree
        self.context["site_nav"] = self._site_nav()
        self.context["tag_index"] = sorted(((tag, len(tagged)) for tag, tagged in self.context.get("tags", [])),
                                           key=lambda pair: (pair[0].name.casefold(), pair[0].name))
        self.context["signature_index"] = sorted(self.signatures.values(), key=lambda g: g["name"])
        self.corpus_view = {
            "count": len(self.articles),
            "first": self.in_time[0].display.date if self.in_time else None,
            "last": self.in_time[-1].display.date if self.in_time else None,
            "histogram": corpus.month_histogram(months),
            "report": corpus.read_ingest_report(Path(s["INGEST_REPORT"])) if s.get("INGEST_REPORT") else
            corpus.ReportSummary("", False, "no INGEST_REPORT setting"),
            "downloads": [("JSON Lines", s["DATA_JSONL_SAVE_AS"]), ("CSV", s["DATA_CSV_SAVE_AS"])],
            "months": [(p.label, p.count, p.url) for y in self.tree for p in y.children],
        }

    def _site_nav(self) -> list[tuple[str, str]]:
        s = self.settings
        nav = [("index.html", "Latest"), (s["ARCHIVES_SAVE_AS"], "By date"),
               (s["SIGNATURES_SAVE_AS"], "By signature"), (s["TAGS_SAVE_AS"], "By tag"),
               (s["CORPUS_SAVE_AS"], "Corpus and data")]
        for name, label in OPTIONAL_NAV:
            try:
                self.get_template(name)
            except PelicanTemplateNotFound:
                continue
            nav.append((f"{name}.html", label))
        return nav

    # -- per article

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings["SOURCE_TIMEZONE"])

    def _absolute_url(self, path: str) -> str | None:
        siteurl = self.settings.get("SITEURL") or ""
        return f"{siteurl}/{path}" if siteurl.startswith(("http://", "https://")) else None

    def _display(self, article, show_scraped_related: bool) -> ArticleDisplay:
        s = self.settings
        if partitioned.is_driver(s):
            # A partitioned build's driver has no text, and shows the article only in listings:
            # its record, its date, and the script its partition finds (broadsheet.partitioned).
            record = Article.from_metadata({**article.metadata, "date": article.date})
            return ArticleDisplay(record=record, script=detect_script(record.title, s.get("DEFAULT_LANG", "en")),
                                  date=local_date(record.date, s["SOURCE_TIMEZONE"], s["DEFAULT_DATE_FORMAT"]))
        record = self._record(article)
        script = detect_script(record.title + "\n" + record.body, s.get("DEFAULT_LANG", "en"))
        when = local_date(record.date, s["SOURCE_TIMEZONE"], s["DEFAULT_DATE_FORMAT"])
        capture = capture_of(record)
        original_url = linkable_url(capture.get("url"))
        cite = citations.Citation(
            key=f"{self._key_prefix}-{record.date:%Y%m%d}-{(record.source.sha256 or article.slug)[:8]}",
            title=record.title, date=record.date.astimezone(self._zone()), container=s["SOURCE_NAME"],
            archive=s["SITENAME"], url=original_url or self._absolute_url(article.url), language=script.lang,
            identifier=record.source_id, accessed=capture_time(capture) if original_url else None,
        )
        stem = article.save_as[: -len(".html")] if article.save_as.endswith(".html") else article.save_as
        display = ArticleDisplay(
            record=record, script=script, date=when,
            provenance=provenance(record, article.relative_source_path),
            related=record.related_entries(s["SOURCE_TIMEZONE"]) if show_scraped_related else [],
            citation_meta=citations.highwire_meta(cite),
            json_ld=citations.json_ld(cite, when.iso),
            reference=citations.reference(cite),
            downloads=[(label, stem + suffix, media) for label, suffix, media, _ in CITATION_FILES],
            citation=cite,
            original_url=original_url,
            captured=str(capture["captured"]) if original_url and capture.get("captured") else None,
        )
        return display

    def _add_to_signature(self, article) -> None:
        signature = article.display.record.signature
        if signature:
            group = self.signatures.setdefault(signature, {"name": signature, "articles": []})
            group["articles"].append(article)

    @staticmethod
    def _record(article):
        """The shared record, paragraphs included, read from the content file ingest wrote."""
        try:
            return record_of(article)
        except ValueError as exc:  # a hand-written file without YAML front matter
            log.warning("%s: %s; citations and downloads use Pelican's metadata and carry no text",
                        article.relative_source_path, exc)
            return Article.from_metadata({**article.metadata, "date": article.date})

    def _link_in_time(self) -> None:
        self.in_time = sorted(self.articles, key=lambda a: oldest_first(_dated(a)))
        for earlier, later in zip(self.in_time, self.in_time[1:]):
            earlier.display.later = Link(later.url, later.display.record.title)
            later.display.earlier = Link(earlier.url, earlier.display.record.title)

    def _group_signatures(self) -> None:
        """One page per signature; slugs made unique so `S/SH` and `S-SH` never share a file."""
        used: set[str] = set()
        for group in sorted(self.signatures.values(), key=lambda g: g["name"]):
            slug = slugify(group["name"]) or "signature"
            if slug in used:
                slug = f"{slug}-{len(used)}"
            used.add(slug)
            group["url"] = self.settings["SIGNATURE_URL"].format(slug=slug)
            group["articles"].sort(key=lambda a: oldest_first(_dated(a)))
            group["count"] = len(group["articles"])
            for a in group["articles"]:
                a.display.signature_url = group["url"]

    # -- output

    def generate_output(self, writer):
        if partitioned.is_partition(self.settings):  # its articles' files; the driver writes the rest
            self._write_citation_files()
            self._write_data()
            return
        s = self.settings
        write = writer.write_file
        relative = s["RELATIVE_URLS"]
        write(s["CORPUS_SAVE_AS"], self.get_template("corpus"), self.context, relative_urls=relative,
              corpus=self.corpus_view, url=s["CORPUS_SAVE_AS"])
        write(s["SIGNATURES_SAVE_AS"], self.get_template("signatures"), self.context, relative_urls=relative,
              url=s["SIGNATURES_SAVE_AS"])
        for group in self.signatures.values():
            write(group["url"], self.get_template("signature"), self.context, relative_urls=relative,
                  signature=group, url=group["url"])
        period_template = self.get_template("period")
        reuse = reusing.for_settings(s)
        for year in self.tree:
            for period in chain([year], year.children, (d for m in year.children for d in m.children)):
                if reuse and reuse.take(period.url, self._period_key(reuse, period_template, period)):
                    continue
                write(period.url, period_template, self.context, relative_urls=relative,
                      period=period, url=period.url)
        if not partitioned.is_driver(s):
            self._write_citation_files()
        self._write_data()

    def _period_key(self, reuse, template, period) -> str | None:
        """What a period page shows: the period and its neighbours in the tree, the site's
        navigation, and its articles, each standing for its own page's key (which covers
        everything about the article; None, so the page is rendered, if one was not keyed)."""
        articles = [reuse.key_for(a.save_as) for a in period.articles]
        if None in articles:
            return None
        parents, up = [], period.parent
        while up is not None:
            parents.append(_period_view(up))
            up = up.parent
        return reusing.key_of(template.name, period.url, self.settings["RELATIVE_URLS"], self.context["site_nav"],
                              _period_view(period), [_period_view(c) for c in period.children], parents, articles)

    def _write_file(self, rel: str, text: str) -> None:
        path = Path(self.output_path, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")

    def _write_citation_files(self) -> None:
        # In a rebuild, a citation that did not change is linked from the previous version.
        reuse = reusing.for_settings(self.settings)
        for article in chain(self.articles, self.context.get("hidden_articles", [])):
            citation = article.display.citation
            key = cache.inputs_key(*citation.inputs()) if reuse and citation is not None else None
            for (_, rel, _), (_, suffix, _, render) in zip(article.display.downloads, CITATION_FILES):
                if not (reuse and reuse.take(rel, f"{suffix} {key}" if key else None)):
                    self._write_file(rel, render(citation))

    def _data_row(self, article) -> dict[str, Any]:
        r = article.display.record
        return {
            "url": article.url,  # relative to the site root, so the file is valid in the zip too
            "public_url": self._absolute_url(article.url),
            "title": r.title,
            "date": article.display.date.iso,
            "signature": r.signature,
            "slug": article.slug,
            "source_id": r.source_id,
            "outlet": r.outlet,
            "tags": [t.name for t in getattr(article, "tags", [])],
            "source_file": r.source.file,
            "source_sha256": r.source.sha256,
            "source_encoding": r.source.encoding,
            "related_status": r.related_status,
            "warnings": list(r.warnings),
            "text": r.body,
            "paragraphs": list(r.paragraphs),
            # how many texts the source had (plugins/versions attaches them; 1 without it)
            "versions": article.versions.count if getattr(article, "versions", None) else 1,
        }

    def _data_lines(self, article) -> tuple[str, str]:
        row = self._data_row(article)
        return corpus.jsonl_line(row), corpus.csv_line(row)

    def _write_data(self) -> None:
        """data/articles.jsonl and .csv. In a rebuild an article's lines are kept under its page's
        key (which covers every field of the row) and made again only when that key changes."""
        s = self.settings
        if partitioned.is_driver(s):  # each partition made its articles' lines: read one at a time
            self._write_lines(partitioned.facts_in_order(s, self.in_time, "jsonl_line"),
                              partitioned.facts_in_order(s, self.in_time, "csv_line"))
            return
        reuse = reusing.for_settings(s)
        kept = reusing.KeptValues(reusing.kept_folder(s, "archive_pages-data-lines") if reuse else None)
        lines = []
        for article in self.in_time:
            key = reuse.key_for(article.save_as) if reuse else None
            lines.append(self._data_lines(article) if key is None else
                         kept.value(article.save_as, lambda key=key: key, lambda a=article: self._data_lines(a)))
        kept.save()
        if partitioned.is_partition(s):
            for article, (jsonl_line, csv_line) in zip(self.in_time, lines):
                facts = partitioned.facts_of(s, article.url)
                facts["jsonl_line"], facts["csv_line"] = jsonl_line, csv_line
            return
        self._write_lines((j for j, _ in lines), (c for _, c in lines))

    def _write_lines(self, jsonl_lines, csv_lines) -> None:
        s = self.settings
        atomic_write(Path(self.output_path, s["DATA_JSONL_SAVE_AS"]), jsonl_lines)
        atomic_write(Path(self.output_path, s["DATA_CSV_SAVE_AS"]), chain([corpus.csv_header()], csv_lines))


class _Dated:
    """An article as broadsheet.ordering sorts it: the record's date and the page's URL."""

    __slots__ = ("date", "url")

    def __init__(self, date, url):
        self.date, self.url = date, url


def _dated(article) -> _Dated:
    return _Dated(article.display.record.date, article.url)


def _period_view(period) -> tuple:
    """A period without the objects it links to (its articles, children and parent)."""
    return (period.level, period.label, period.short, period.day, period.count, period.url)


def _display_inputs(article) -> tuple:
    """What must stay the same for an article's display to stay the same: its content file
    and its place."""
    return (cache.stamp(article.source_path), article.url, article.save_as,
            article.relative_source_path, article.slug)


def require_siteurl_when_absolute(pelican) -> None:
    """initialized: a hosted build (absolute URLs) without SITEURL would link to nowhere."""
    s = pelican.settings
    if _enabled(s) and not s.get("RELATIVE_URLS") and not s.get("SITEURL"):
        raise BuildError("absolute URLs need SITEURL: pass --siteurl https://... or set SITEURL")


def get_generators(pelican):
    return ArchivePagesGenerator if _enabled(pelican.settings) else None


def remember_urls(generator) -> None:
    """article_generator_finalized: once every article is read its URL and output path are
    final, yet Pelican formats them from the settings at every use (some 400,000 times in a
    10,000-article build: listings, previous/next, related links, the graph). Keep each."""
    if not _enabled(generator.settings):
        return
    everything = chain(generator.articles, generator.translations, generator.hidden_articles,
                       generator.hidden_translations, generator.drafts, generator.drafts_translations)
    for article in everything:
        known: dict[str, Any] = {}
        formatted = article.get_url_setting

        def get_url_setting(key, known=known, formatted=formatted):
            if key not in known:
                known[key] = formatted(key)
            return known[key]

        article.get_url_setting = get_url_setting


def register():
    signals.article_generator_finalized.connect(remember_urls)
    signals.initialized.connect(require_siteurl_when_absolute)
    signals.content_object_init.connect(shorten_long_slug)
    signals.all_generators_finalized.connect(check_unique_output_paths)
    signals.get_generators.connect(get_generators)
