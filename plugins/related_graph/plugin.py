"""Pelican wiring: resolve once the articles are read, attach the results, write the exports.

- `article_generator_finalized`: every article's related blob is parsed with the shared
  parser and resolved (see `resolve.py`); each article gets `related`, `cited_by` and
  `neighbourhood` (data for `partials/related.html`), and the generator context gets
  `related_graph` (statistics for `partials/corpus_graph.html`).
- `article_writer_finalized`: `data/graph.json|gexf|graphml`, the graph page (direct
  template `graph.html`) with its data as a script file (works from file://), the report.
- `finalized`: one line of statistics.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pelican import signals

from broadsheet import partitioned
from broadsheet.background import Background, BackgroundFailed
from broadsheet import cache, reuse as reusing
from broadsheet.article import Article
from broadsheet.files import atomic_write
from broadsheet.ordering import oldest_first

from .graph import (build_network, graph_json, neighbourhood, page_data,
                    page_layout, write_exports)
from .resolve import DEFAULTS as RESOLVE_DEFAULTS, ArchiveItem, resolve_related_entries

logger = logging.getLogger(__name__)

#: Settings this plugin reads, with their defaults (pelicanconf.py overrides them).
DEFAULTS = {
    **RESOLVE_DEFAULTS,
    "RELATED_GRAPH_REPORT": "reports/graph.json",   # resolution report; relative to the working dir
    "RELATED_GRAPH_DATA_DIR": "data",                # exports, under the output folder
    "RELATED_GRAPH_SAVE_AS": "graph.html",
    "RELATED_GRAPH_PAGE_DATA": "data/graph-page.js",  # the page's data, loaded by <script>
    "RELATED_GRAPH_FORCE_LAYOUT_MAX_NODES": 1000,    # above this the page uses the timeline layout
    "RELATED_GRAPH_NEIGHBOURHOOD_MAX_NODES": 20,
}


@dataclass(slots=True)  # one per related entry: an archive holds millions
class RelatedLink:
    """One entry of an article's related list, ready to display."""

    title: str           # as the outlet printed it in the list
    url: str | None      # archive page (relative to the site root); None: not in the archive
    in_archive: bool
    published: datetime | None  # archive date, or the estimate from the pic's ticks
    media: str           # image | video | unknown (from the pic)
    resolved_by: str     # id | title | fuzzy | unresolved
    score: float | None
    video_of_title: str | None = None  # a separate video item: the archive article it shows
    video_of_url: str | None = None


@dataclass(slots=True)
class CitingArticle:
    title: str
    url: str
    date: datetime


class RelatedGraph:
    def __init__(self, settings: dict[str, Any]):
        self.settings = {name: settings.get(name, default) for name, default in DEFAULTS.items()}
        self.timezone = settings.get("SOURCE_TIMEZONE", "Asia/Tehran")
        self.network = None
        self.key: str | None = None  # of the graph and the layout settings (broadsheet.reuse)
        self.stats: dict[str, Any] = {}
        self.contradictions: list[dict[str, Any]] = []
        self.exporting: Background | None = None
        self.written = 0.0

    # -- reading phase --------------------------------------------------------------------

    def attach(self, generator) -> None:
        started = time.perf_counter()
        # Resolution, nodes, edges and exports follow the articles' order: date, then URL, never
        # the order in which Pelican happened to read the files.
        articles = sorted([*generator.articles, *getattr(generator, "translations", [])], key=oldest_first)
        by_key = {a.url: a for a in articles}
        items, items_key = self._items(generator.settings, articles)
        resolved = resolve_related_entries(items, self.settings)
        resolve_seconds = time.perf_counter() - started
        urls = {key: key for key in by_key}
        self.network = g = build_network(resolved, urls)
        self.contradictions = resolved.contradictions

        cited_by: dict[str, dict[str, CitingArticle]] = {key: {} for key in by_key}
        related: dict[str, list[RelatedLink]] = {key: [] for key in by_key}
        for r in resolved.resolutions:
            lister = by_key[r.lister]
            if r.target is not None:
                target = by_key[r.target]
                link = RelatedLink(r.entry.title, target.url, True, target.date, r.entry.media,
                                   r.resolved_by, r.score)
                if r.target != r.lister:
                    cited_by[r.target].setdefault(lister.url, CitingArticle(lister.title, lister.url, lister.date))
            else:
                video = by_key.get(r.video_of) if r.video_of else None
                link = RelatedLink(r.entry.title, None, False, r.entry.published, r.entry.media,
                                   "unresolved", None, video.title if video else None, video.url if video else None)
            related[r.lister].append(link)
        neighbourhood_max = int(self.settings["RELATED_GRAPH_NEIGHBOURHOOD_MAX_NODES"])
        # The graph's key serves only builds that keep a cache or reuse files (a rebuild). The
        # graph follows from the items and the settings (`items_key`), as the resolution does.
        if generator.settings.get("LOAD_CONTENT_CACHE") or generator.settings.get(reusing.SETTING):
            self.key = reusing.key_of(items_key or graph_json(g), neighbourhood_max,
                                      self.settings["RELATED_GRAPH_FORCE_LAYOUT_MAX_NODES"])
        for key, article in by_key.items():
            article.related = related[key]
            article.cited_by = sorted(cited_by[key].values(), key=oldest_first)
        if partitioned.is_driver(generator.settings):
            # Only article pages show a neighbourhood: each is made as its partition's job is,
            # so that the driver never holds them all.
            partitioned.make_when_sliced(
                generator.settings, "neighbourhood", {id(a) for a in by_key.values()},
                lambda a: neighbourhood(g, a.url, neighbourhood_max) if g.degree(a.url) else None)
        else:
            # Each neighbourhood follows from the graph alone: kept under the graph's key.
            kept = reusing.KeptValues(reusing.kept_folder(generator.settings, "related_graph-neighbourhoods")
                                      if self.key else None)
            for key, article in by_key.items():
                article.neighbourhood = kept.value(
                    key, lambda: self.key,
                    lambda key=key: neighbourhood(g, key, neighbourhood_max) if g.degree(key) else None)
            kept.save()
        self.stats = {
            **resolved.stats(),
            "nodes": g.number_of_nodes(),
            "not_in_archive": sum(1 for _, d in g.nodes(data=True) if not d["in_archive"]),
            "edges": g.number_of_edges(),
            "resolve_seconds": round(resolve_seconds, 3),
        }
        generator.context["related_graph"] = {
            "stats": self.stats,
            "contradictions": self.contradictions,
            "page_url": self.settings["RELATED_GRAPH_SAVE_AS"],
            "exports": {**{fmt: f"{self.settings['RELATED_GRAPH_DATA_DIR']}/graph.{fmt}"
                           for fmt in ("json", "gexf", "graphml")},
                        **{table: f"{self.settings['RELATED_GRAPH_DATA_DIR']}/graph-{table}.csv"
                           for table in ("nodes", "edges")}},
        }

    # With a content cache (a rebuild), what follows from unchanged inputs is kept in it: each
    # article's item (from its content file) with its digest, which key the graph, and each
    # neighbourhood (from the graph), under the graph's key. (Keeping the resolution too took
    # about as long to read back as resolving again.)

    def _items(self, settings, articles) -> tuple[list[ArchiveItem], str | None]:
        """Every article's item, and a key of them all with the settings (None: no stable key,
        or a plain build, which keeps nothing and reuses nothing, so needs no key)."""
        wants_key = bool(settings.get("LOAD_CONTENT_CACHE") or settings.get(reusing.SETTING))
        kept = reusing.KeptValues(reusing.kept_folder(settings, "related_graph-items"))

        def item_and_digest(a):
            item = self._item(a)
            return item, reusing.key_of(item) if wants_key else None

        found = [kept.value(a.source_path, lambda a=a: (cache.stamp(a.source_path), a.url, a.title, a.date),
                            lambda a=a: item_and_digest(a)) for a in articles]
        kept.save()
        digests = [digest for _, digest in found]
        key = None if not wants_key or None in digests else \
            reusing.key_of(digests, sorted(self.settings.items()), self.timezone)
        return [item for item, _ in found], key

    def _item(self, pelican_article) -> ArchiveItem:
        record = Article.from_metadata(pelican_article.metadata)
        entries = record.related_entries(self.timezone)
        return ArchiveItem(pelican_article.url, pelican_article.title, pelican_article.date,
                           record.source_id, entries)

    # -- writing phase --------------------------------------------------------------------

    def write(self, generator, writer) -> None:
        if self.network is None:
            return
        started = time.perf_counter()
        output = Path(generator.output_path)
        data_dir = self.settings["RELATED_GRAPH_DATA_DIR"]
        page_data_file = self.settings["RELATED_GRAPH_PAGE_DATA"]
        # The exports and the layout follow from the graph alone: when it is the previous
        # build's, so are they (a rebuild links them instead of computing them again).
        reuse = reusing.for_settings(generator.settings)
        key = self.key if reuse else None
        exports = [f"{data_dir}/graph.{fmt}" for fmt in ("json", "gexf", "graphml")] + \
            [f"{data_dir}/graph-{table}.csv" for table in ("nodes", "edges")] + [page_data_file]
        if not (reuse and all([reuse.take(rel, key) for rel in exports])):
            for rel in exports:  # never write through a link into the previous version
                (output / rel).unlink(missing_ok=True)
            # networkx's GEXF and GraphML writers take longer than any page: a second process
            # writes the exports while this one renders the pages (`finish` waits for it). It
            # is given the graph alone: networkx holds a whole XML document in memory to write it.
            self.exporting = Background(_write_exports, self.network, output, data_dir, page_data_file,
                                        int(self.settings["RELATED_GRAPH_FORCE_LAYOUT_MAX_NODES"]),
                                        what="writing the related graph's exports",
                                        fresh=[str(Path(__file__).resolve().parent.parent)])
        writer.write_file(
            self.settings["RELATED_GRAPH_SAVE_AS"], generator.get_template("graph"), generator.context,
            relative_urls=generator.settings.get("RELATIVE_URLS", False),
            page_name="graph", graph_data_url=self.settings["RELATED_GRAPH_PAGE_DATA"],
        )
        self.written = time.perf_counter() - started

    def finish(self) -> None:
        """Once the pages are written: the exports done, the report written."""
        seconds = self.exporting.result() if self.exporting is not None else 0.0
        self.exporting = None
        self.stats["export_seconds"] = round(self.written + seconds, 3)
        report = Path(self.settings["RELATED_GRAPH_REPORT"])
        atomic_write(report, json.dumps({"stats": self.stats, "contradictions": self.contradictions},
                                        indent=2, ensure_ascii=False) + "\n")

    def summary(self) -> str:
        s = self.stats
        return (f"related graph: {s['entries']} entries of {s['articles']} articles: {s['by_id']} by id, "
                f"{s['by_title']} by title, {s['fuzzy']} fuzzy, {s['unresolved']} not in the archive "
                f"({s['video_versions']} video versions), {s['contradictions']} contradictions; "
                f"resolved in {s['resolve_seconds']}s; report {self.settings['RELATED_GRAPH_REPORT']}")


_current: dict[str, RelatedGraph] = {}


def _on_articles(generator) -> None:
    if partitioned.is_partition(generator.settings):  # the driver resolved the archive's graph
        return
    graph = RelatedGraph(generator.settings)
    _current["graph"] = graph
    graph.attach(generator)


def _on_articles_written(generator, writer) -> None:
    if partitioned.is_partition(generator.settings):
        return
    graph = _current.get("graph")
    if graph is not None:
        graph.write(generator, writer)


def _write_exports(network, output: Path, data_dir: str, page_data_file: str, force_layout_max: int) -> float:
    """graph.json, .gexf, .graphml, the CSVs and the graph page's data; returns the seconds taken."""
    started = time.perf_counter()
    write_exports(network, output / data_dir)
    positions = page_layout(network, force_layout_max)
    data = json.dumps(page_data(network, positions), ensure_ascii=False, separators=(",", ":"))
    # `</` cannot end the script early when a title holds `</script>`.
    data = data.replace("</", "<\\/")
    atomic_write(output / page_data_file, f"window.BROADSHEET_GRAPH = {data};\n")
    return time.perf_counter() - started


def _on_finalized(pelican) -> None:
    if partitioned.is_partition(pelican.settings):  # the driver's graph is still being written
        return
    graph = _current.pop("graph", None)
    if graph is not None and graph.network is not None:
        try:
            graph.finish()
        except BackgroundFailed as exc:  # logged as an error, which fails the build
            logger.error("related graph: %s", exc)
            return
    if graph is not None and graph.stats:
        print(graph.summary())
        for c in graph.contradictions[:10]:
            logger.warning("related graph contradiction (kept as reported in %s): %s",
                           graph.settings["RELATED_GRAPH_REPORT"], c)


def register() -> None:
    signals.article_generator_finalized.connect(_on_articles)
    signals.article_writer_finalized.connect(_on_articles_written)
    signals.finalized.connect(_on_finalized)


__all__ = ["register", "RelatedGraph"]
