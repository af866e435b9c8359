"""Search: a Whoosh index for archivists, and a static browser index for readers.

At every build, after Pelican has written the pages:
1. each article becomes a `SearchDocument` (built from the shared `Article` record), except
   that an article whose source file and metadata are as at the last build is not read again:
   its content hash is taken from the index folder's store (`SOURCES`, `KnownDocument`);
2. `index.update_index` brings the Whoosh index up to date, touching only articles whose
   content hash changed; the index lives outside the output (SEARCH_INDEX_PATH, default
   `.<output name>.search-index` beside the output), so it is not published;
3. `export.export_browser_index` writes the `.js` shards under `<output>/<SEARCH_OUTPUT_DIR>/`
   that `search.html` loads on demand; the earlier versions of articles (plugins/versions)
   have an index and an export of their own (VERSIONS_INDEX_DIR, in both folders), searched
   with `version:all` in the CLI and the search page's "Also search earlier versions".

In a partitioned build (docs/PARTITIONS.md), each partition run indexes its own articles into a
search part (`parts.py`, `_write_part`), and the driver joins the parts into the index and
exports it in a fresh process (`start_join`), instead of steps 1-2.

Whoosh is imported only inside this package, so it can be swapped without touching the rest.

Settings (pelicanconf.py): SEARCH_INDEX_PATH, SEARCH_OUTPUT_DIR, SEARCH_FIELD_BOOSTS,
SEARCH_BM25, SEARCH_IN_PARALLEL (steps 1-3 run in a forked second process while Pelican
writes the pages). `search.html` is added to DIRECT_TEMPLATES.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import re
import time
from pathlib import Path

from broadsheet import cache
from broadsheet.background import Background, BackgroundFailed
from broadsheet.files import atomic_write

log = logging.getLogger(__name__)

DEFAULTS = {
    "SEARCH_INDEX_PATH": None,
    "SEARCH_OUTPUT_DIR": "search",
    "SEARCH_FIELD_BOOSTS": {"title": 3.0, "body": 1.0},
    "SEARCH_BM25": {"B": 0.75, "K1": 1.2},
    # Index in a second process while Pelican writes the pages (on machines with 2+ cores).
    "SEARCH_IN_PARALLEL": True,
}

PLUGIN_NAME = "search_index"

_articles: list = []
#: The Background indexing in parallel with the page writing (one at most).
_child: list = []


def _enabled(settings) -> bool:
    """Signals outlive a build in the same process: act only for builds that list this plugin;
    in a partitioned build, the driver joins and exports what the partition runs indexed
    (`_write_part`), and a partition run writes no search page."""
    from broadsheet import partitioned

    return PLUGIN_NAME in (settings.get("PLUGINS") or []) and not partitioned.is_partition(settings)


def _listed(settings) -> bool:
    return PLUGIN_NAME in (settings.get("PLUGINS") or [])


# Each handler looks at its build's settings before the module's state: a partition run made
# inside a partitioned build's driver (broadsheet.partitioned) must leave the driver's alone.


def configure(pelican) -> None:
    if not _enabled(pelican.settings):
        return
    _articles.clear()
    for name, value in DEFAULTS.items():
        pelican.settings.setdefault(name, value)
    direct = list(pelican.settings.get("DIRECT_TEMPLATES", []))
    if "search" not in direct:
        pelican.settings["DIRECT_TEMPLATES"] = direct + ["search"]


def collect_articles(generator) -> None:
    from broadsheet import partitioned

    if _listed(generator.settings) and partitioned.is_partition(generator.settings):
        _write_part(generator)
        return
    if not _enabled(generator.settings):
        return
    _articles.clear()
    _articles.extend(generator.articles)
    _articles.extend(generator.translations)


def document_for(article):
    """The SearchDocument of one Pelican article (via the shared Article record)."""
    from broadsheet.article import Article, record_of

    from .index import SearchDocument, labels_from_facets

    try:
        paragraphs = record_of(article).paragraphs
    except (OSError, ValueError) as exc:
        log.warning("search: %s: cannot re-read the literal paragraphs (%s); indexing the "
                    "rendered text instead", article.source_path, exc)
        paragraphs = [_html_to_text(article.content)]
    record = Article.from_metadata(article.metadata, paragraphs)
    return SearchDocument(
        key=article.url,
        url=article.url,
        title=record.title,
        body=record.body,
        date=record.date,
        signature=record.signature,
        source_id=record.source_id,
        outlet=record.outlet,
        labels=labels_from_facets(record.facets),
    )


#: Beside the index: how long the last build's indexing and export took, in seconds (`invoke
#: rebuild` reports it: the search runs beside the pages, so the build's time does not show it).
TIMINGS_FILE = "last-seconds.json"
#: The namespace, in the index folder's store (broadsheet.cache), of each article's
#: [source stamp, content hash] at the last build, by URL.
SOURCES = "search-sources"
#: Beside the index: the last export's postings (export.PostingTable), so the next re-reads
#: only the terms of changed articles.
EXPORT_TABLE_FILE = "export-table.pickle"


class KnownDocument:
    """An article unchanged since the last build: its key and content hash, and a way to
    read it should the index need it after all (an index rebuilt, or out of step)."""

    def __init__(self, key: str, content_hash: str, load):
        self.key, self._hash, self._load, self._document = key, content_hash, load, None

    @property
    def content_hash(self) -> str:
        return self._document.content_hash if self._document else self._hash

    def fields(self):
        if self._document is None:
            self._document = self._load()
        return self._document.fields()


def source_stamp(article) -> list:
    """What must stay the same for an article's indexed text to stay the same: its source
    file's stamp (broadsheet.cache), and the title and date Pelican read."""
    return [article.source_path, *(cache.stamp(article.source_path) or ()), str(article.metadata.get("title")),
            article.date.isoformat()]


def documents_for(articles, index_folder: Path) -> list:
    """The documents to index: `KnownDocument` for articles whose stamp matches the last build."""
    known = cache.Store(index_folder).load(SOURCES)
    documents = []
    for article in articles:
        stamp, last = source_stamp(article), known.get(article.url)
        if last is not None and last[0] == stamp:
            documents.append(KnownDocument(article.url, last[1], lambda a=article: document_for(a)))
        else:
            documents.append(document_for(article))
    return documents


#: Inside the index folder: a second index of the articles' earlier versions (plugins/versions),
#: which `version:all` searches too; the first holds the latest texts only.
VERSIONS_INDEX_DIR = "versions"


def version_documents(articles, settings) -> tuple[list, dict[str, str]]:
    """A SearchDocument per earlier version of each article (broadsheet/versions.py), keyed
    and linked by its version page (VERSION_URL), with the article's outlet and labels; and
    what the search page says of each ({url: "earlier version N of M"})."""
    from datetime import datetime

    from broadsheet import versions
    from broadsheet.article import Article

    from .index import SearchDocument, labels_from_facets

    pattern = settings.get("VERSION_URL") or "{stem}/v{number}.html"
    documents, notes = [], {}
    for article in articles:
        stem = article.save_as[: -len(".html")] if article.save_as.endswith(".html") else article.save_as
        earlier = versions.read_versions(Path(article.source_path))[0]
        if not earlier:
            continue
        record = Article.from_metadata(article.metadata, [])
        for v in earlier:
            url = pattern.format(stem=stem, number=v.number)
            documents.append(SearchDocument(key=url, url=url, title=v.title, body="\n\n".join(v.paragraphs),
                                            date=datetime.fromisoformat(str(v.fields.get("date"))),
                                            signature=v.fields.get("signature"), outlet=record.outlet,
                                            labels=labels_from_facets(record.facets)))
            notes[url] = f"earlier version {v.number} of {len(earlier) + 1}"
    return documents, notes


def write_sources(articles, documents, index_folder: Path) -> None:
    """Keep each article's source stamp and content hash for the next build (`documents_for`);
    only the rows that changed are written."""
    stamps = {d.key: [source_stamp(a), d.content_hash] for a, d in zip(articles, documents)}
    store = cache.Store(index_folder)
    store.save(SOURCES, stamps, cache.changed_keys(store.load(SOURCES), stamps))


def _html_to_text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment or ""))


def _search_settings(settings) -> dict:
    """What indexing and exporting read of a build's settings (a fresh process gets only these)."""
    names = ("OUTPUT_PATH", "SEARCH_INDEX_PATH", "SEARCH_OUTPUT_DIR", "SEARCH_BM25", "SEARCH_FIELD_BOOSTS")
    return {name: settings.get(name, DEFAULTS.get(name)) for name in names}


def _write_part(generator) -> None:
    """In a partition run: index its articles and their earlier versions into a part
    (`parts.write_part`), and tell the driver, by a fact of each article, which part holds it."""
    from broadsheet import partitioned

    from .index import index_path
    from .parts import FACT, write_part

    settings = generator.settings
    articles = list(generator.articles) + list(generator.translations)
    if not articles:
        return
    ident = _part_of(articles, settings, index_path(Path(settings["OUTPUT_PATH"]), settings.get("SEARCH_INDEX_PATH")),
                     write_part)
    for article in articles:
        partitioned.facts_of(settings, article.url)[FACT] = ident


def _part_of(articles, settings, folder: Path, write_part) -> str:
    from broadsheet.ordering import newest_first

    articles = sorted(articles, key=newest_first)  # a single build's order, for the versions
    earlier, notes = version_documents(articles, settings)
    return write_part(folder, [document_for(a) for a in articles], earlier, notes)


def start_join(pelican) -> None:
    """get_writer, in a partitioned build's driver (the partitions have run): join their parts
    and export them in a fresh process while this one writes the listing pages. Articles whose
    part is not in the index folder (a partition on a cluster that does not share it) are
    indexed here first."""
    from broadsheet import partitioned

    settings = pelican.settings
    if not (_enabled(settings) and partitioned.is_driver(settings)):
        return None
    from .index import index_path
    from .parts import FACT, part_exists, read_part, write_part

    folder = index_path(Path(settings["OUTPUT_PATH"]), settings.get("SEARCH_INDEX_PATH"))
    named: dict[str, list] = {}
    missing = []
    for article, ident in zip(_articles, partitioned.facts_in_order(settings, _articles, FACT, None)):
        if ident is not None and (ident in named or part_exists(folder, ident)):
            named.setdefault(ident, []).append(article)
        else:
            missing.append(article)
    # A part is joined only when it holds exactly the articles that name it: a rebuild that
    # rendered some articles of a partition again (or dropped one) leaves the partition's
    # earlier part holding their old documents; its other articles are indexed again here.
    idents = set()
    for ident, articles in named.items():
        try:
            held = {key for key, _ in read_part(folder, ident)["documents"]}
        except (OSError, ValueError, KeyError, TypeError):
            held = None  # the join names what is wrong with it
        if held is None or held == {a.url for a in articles}:
            idents.add(ident)
        else:
            missing.extend(articles)
    if missing:
        log.info("search: indexing %d articles whose partitions' search parts are not in %s", len(missing), folder)
        idents.add(_part_of(missing, settings, folder, write_part))
    if settings.get("SEARCH_IN_PARALLEL"):
        _child[:] = [Background(_join_and_export, _search_settings(settings), sorted(idents),
                                what="joining the search index", fresh=[str(Path(__file__).resolve().parent.parent)])]
    else:
        _child[:] = [_Later(functools.partial(_join_and_export, _search_settings(settings), sorted(idents)))]
    return None


class _Later:
    """A call made when its result is asked for (as Background does without a second core)."""

    def __init__(self, call):
        self.result = call


def _join_and_export(settings, idents: list[str]) -> list[str]:
    """The index joined from the parts `idents`, and its export; what to log (a fresh process
    logs nowhere)."""
    from whoosh import index as whoosh_index

    from .export import export_browser_index
    from .index import INDEX_NAME, index_path
    from .parts import join_parts
    from .query import weighting_from_settings

    started = time.perf_counter()
    path = index_path(Path(settings["OUTPUT_PATH"]), settings.get("SEARCH_INDEX_PATH"))
    report, notes = join_parts(path, idents)
    indexed = time.perf_counter()
    messages = [f"{report.summary()} from {len(idents)} parts ({path}, {indexed - started:.1f} s)"]
    target = Path(settings["OUTPUT_PATH"]) / settings["SEARCH_OUTPUT_DIR"]
    weighting = weighting_from_settings(settings)
    ix = whoosh_index.open_dir(str(path), indexname=INDEX_NAME)
    exported = export_browser_index(ix, target, weighting, path / EXPORT_TABLE_FILE)
    versions_ix = whoosh_index.open_dir(str(path / VERSIONS_INDEX_DIR), indexname=INDEX_NAME)
    earlier_exported = export_browser_index(versions_ix, target / VERSIONS_INDEX_DIR, weighting,
                                            path / VERSIONS_INDEX_DIR / EXPORT_TABLE_FILE,
                                            index_name=VERSIONS_INDEX_DIR, notes=notes)
    done = time.perf_counter()
    messages += [f"{exported.summary()} ({target}, {done - indexed:.1f} s)",
                 f"earlier versions: {earlier_exported.summary()}"]
    seconds = {"index": round(indexed - started, 3), "export": round(done - indexed, 3)}
    atomic_write(path / TIMINGS_FILE, json.dumps(seconds) + "\n")
    return messages


def _index_and_export(settings, articles) -> None:
    from .export import export_browser_index
    from .index import index_path, update_index
    from .query import weighting_from_settings

    started = time.perf_counter()
    path = index_path(Path(settings["OUTPUT_PATH"]), settings.get("SEARCH_INDEX_PATH"))
    documents = documents_for(articles, path)
    ix, report = update_index(path, documents)
    write_sources(articles, documents, path)
    earlier, notes = version_documents(articles, settings)
    versions_ix, _ = update_index(path / VERSIONS_INDEX_DIR, earlier)
    indexed = time.perf_counter()
    log.info("%s (%s, %.1f s)", report.summary(), path, indexed - started)
    target = Path(settings["OUTPUT_PATH"]) / settings["SEARCH_OUTPUT_DIR"]
    exported = export_browser_index(ix, target, weighting_from_settings(settings), path / EXPORT_TABLE_FILE)
    # Inside the first export's folder, written after it (which replaces the whole folder).
    # Written even when there are no earlier versions (a few hundred bytes): the search page
    # reads its document count to know whether to offer the "earlier versions" checkbox.
    earlier_exported = export_browser_index(versions_ix, target / VERSIONS_INDEX_DIR, weighting_from_settings(settings),
                                            path / VERSIONS_INDEX_DIR / EXPORT_TABLE_FILE,
                                            index_name=VERSIONS_INDEX_DIR, notes=notes)
    done = time.perf_counter()
    log.info("%s (%s, %.1f s)", exported.summary(), target, done - indexed)
    log.info("earlier versions: %s", earlier_exported.summary())
    seconds = {"index": round(indexed - started, 3), "export": round(done - indexed, 3)}
    atomic_write(path / TIMINGS_FILE, json.dumps(seconds) + "\n")


def start_search(generator) -> None:
    """Once every article is read, index them in a second process (forked, so it shares what is
    already in memory) while this one renders the pages: the index needs nothing the pages do."""
    from broadsheet import partitioned

    settings = generator.settings
    if not _enabled(settings):
        return
    if _child:  # left by an earlier build in this process that stopped early: its outcome is moot
        try:
            _child.pop().result()
        except BackgroundFailed:
            pass
    if not settings.get("SEARCH_IN_PARALLEL") or partitioned.is_driver(settings):
        return  # the driver's search starts once the partitions have run (start_join)
    # Without fork or a second core, Background makes the call in build_search instead.
    _child[:] = [Background(_index_and_export, settings, list(_articles), what="building the search index")]


def build_search(pelican) -> None:
    from broadsheet import partitioned

    if not _enabled(pelican.settings):
        return
    if _child:
        try:
            messages = _child.pop().result()
        except BackgroundFailed as exc:  # logged as an error, which fails the build
            log.error("search: %s", exc)
            return
        for message in messages or ():
            log.info("%s", message)
        return
    if partitioned.is_driver(pelican.settings):
        log.error("search: the driver of a partitioned build never joined the search index")
        return
    _index_and_export(pelican.settings, _articles)


def register():
    # Imported here so that `invoke search`, which imports this package for `query`, does not
    # pay for importing Pelican (about 0.2 s of its start-up).
    from pelican import signals

    signals.initialized.connect(configure)
    signals.article_generator_finalized.connect(collect_articles)
    signals.article_generator_finalized.connect(start_search)
    signals.get_writer.connect(start_join)
    signals.finalized.connect(build_search)
