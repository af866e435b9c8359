"""deposit: the archive described in the standard ways repositories and researchers read.

- every article gets `tei_file` (its TEI P5 file, `<slug>.tei.xml` beside the page, which
  article.html links); the corpus page gets `deposit` (the files below, to link);
- after the pages are written: the TEI files and `data/dublin_core.csv`, one row per article;
- once everything is written (`finalized`): `data/datapackage.json` (Frictionless) and
  `ro-crate-metadata.json` (RO-Crate 1.1, every data file with its size).

Everything is read from what the other plugins computed: archive_pages' `article.display`
(record, date, script) and the paths of its data files, related_graph's `article.related`
and graph tables. Articles go in the order of their date, then URL.

Settings (defaults in DEFAULTS): DEPOSIT_RO_CRATE_SAVE_AS, DEPOSIT_DATAPACKAGE_SAVE_AS,
DEPOSIT_DUBLIN_CORE_SAVE_AS, VERSIONS_JSONL_SAVE_AS, DEPOSIT_TEI_SUFFIX, DEPOSIT_RIGHTS,
DEPOSIT_LICENSE_URL; and SITENAME, SITESUBTITLE, SITEURL, SOURCE_NAME, DATA_*_SAVE_AS.
"""

from __future__ import annotations

import logging
import os
import posixpath
from pathlib import Path
from typing import Any

from pelican import signals
from pelican.generators import Generator
from slugify import slugify

from archive_pages.corpus import DATA_COLUMNS  # the columns of data/articles.csv, in order
from archive_pages.display import capture_of, capture_time, linkable_url
from broadsheet import __version__, partitioned, reuse as reusing
from broadsheet.files import atomic_write

from .crate import Archive, DataFile, crate_metadata
from .datapackage import data_package
from .dublin_core import DCMI_TYPE, dublin_core_csv
from .tei import MEDIA_TYPE as TEI_MEDIA_TYPE, RelatedItem, TeiArticle, WebCapture, tei_document

log = logging.getLogger(__name__)

PLUGIN_NAME = "deposit"
DEFAULTS = {
    "DEPOSIT_RO_CRATE_SAVE_AS": "ro-crate-metadata.json",
    "DEPOSIT_DATAPACKAGE_SAVE_AS": "data/datapackage.json",
    "DEPOSIT_DUBLIN_CORE_SAVE_AS": "data/dublin_core.csv",
    #: The versions plugin's own setting (read here to describe its file when it writes one).
    "VERSIONS_JSONL_SAVE_AS": "data/versions.jsonl",
    "DEPOSIT_TEI_SUFFIX": ".tei.xml",
    "DEPOSIT_RIGHTS": ("The archived pages remain the work of their outlets; this archive keeps "
                       "them as scraped, for research and preservation."),
    "DEPOSIT_LICENSE_URL": None,
}
#: Data files the crate lists (besides the TEI files): setting naming the path, media type, name.
CRATE_FILES = (
    ("DATA_JSONL_SAVE_AS", "application/jsonl", "Articles (JSON Lines): metadata, text and paragraphs"),
    ("DATA_CSV_SAVE_AS", "text/csv", "Articles (CSV): metadata and text"),
    ("DEPOSIT_DUBLIN_CORE_SAVE_AS", "text/csv", "Dublin Core records (CSV)"),
    ("DEPOSIT_DATAPACKAGE_SAVE_AS", "application/json", "Frictionless Data Package descriptor"),
    ("VERSIONS_JSONL_SAVE_AS", "application/jsonl", "Versions of the articles (JSON Lines)"),
)
GRAPH_FILES = (
    ("graph.json", "application/json", "Related-article graph (JSON)"),
    ("graph.gexf", "application/gexf+xml", "Related-article graph (GEXF, for Gephi)"),
    ("graph.graphml", "application/graphml+xml", "Related-article graph (GraphML)"),
    ("graph-nodes.csv", "text/csv", "Related-article graph: nodes (CSV)"),
    ("graph-edges.csv", "text/csv", "Related-article graph: edges (CSV)"),
)


def _enabled(settings) -> bool:
    """Signals outlive a build in the same process: act only for builds that list this plugin."""
    return PLUGIN_NAME in (settings.get("PLUGINS") or [])


def _setting(settings, name: str) -> Any:
    return settings.get(name, DEFAULTS.get(name))


def _absolute_url(settings, path: str) -> str | None:
    siteurl = settings.get("SITEURL") or ""
    return f"{siteurl}/{path}" if siteurl.startswith(("http://", "https://")) else None


def _graph_dir(settings) -> str:
    return settings.get("RELATED_GRAPH_DATA_DIR", "data")


class DepositGenerator(Generator):
    """Writes the TEI files and the Dublin Core table; keeps what `finalized` needs."""

    def generate_context(self):
        s = self.settings
        self.ready = "archive_pages" in (s.get("PLUGINS") or [])
        if not self.ready:
            log.warning("deposit: archive_pages is not in PLUGINS, and deposit reads what it computes; "
                        "no deposit file is written")
            return
        suffix = _setting(s, "DEPOSIT_TEI_SUFFIX")
        for article in self.context.get("articles", []):
            stem = article.save_as[: -len(".html")] if article.save_as.endswith(".html") else article.save_as
            article.tei_file = stem + suffix
        files = [
            ("RO-Crate 1.1", _setting(s, "DEPOSIT_RO_CRATE_SAVE_AS"),
             "for repositories that take RO-Crates (Zenodo, InvenioRDM, Dataverse, WorkflowHub)"),
            ("Frictionless Data Package", _setting(s, "DEPOSIT_DATAPACKAGE_SAVE_AS"),
             "describes the CSV tables, column by column, for frictionless, pandas and R"),
            ("Dublin Core CSV", _setting(s, "DEPOSIT_DUBLIN_CORE_SAVE_AS"),
             "one record per article in dcterms: columns, for Omeka S's CSV Import and CONTENTdm"),
        ]
        if self.context.get("related_graph"):
            files += [("Graph nodes (CSV)", f"{_graph_dir(s)}/graph-nodes.csv", "the related-article graph as two tables"),
                      ("Graph edges (CSV)", f"{_graph_dir(s)}/graph-edges.csv", "one row per related-list entry")]
        self.context["deposit"] = {"files": files, "tei_suffix": suffix}

    def generate_output(self, writer):
        if not self.ready:
            return
        s = self.settings
        articles = sorted((a for a in self.context.get("articles", []) if getattr(a, "display", None)),
                          key=lambda a: (a.display.record.date, a.url))
        missing = len(self.context.get("articles", [])) - len(articles)
        if missing:
            log.warning("deposit: %d articles have no archive_pages display (is archive_pages listed before "
                        "deposit in PLUGINS?); they are left out of the TEI files and the Dublin Core table", missing)
        if partitioned.is_driver(s):  # each partition wrote its TEI files and made its rows
            rows = partitioned.facts_in_order(s, articles, "dublin_core")
        else:
            reuse = reusing.for_settings(s)
            rows = []
            for article in articles:
                # The TEI file shows what the page shows: a rebuild links it while the page's key holds.
                key = reuse.key_for(article.save_as) if reuse else None
                if not (reuse and reuse.take(article.tei_file, f"tei {key}" if key else None)):
                    atomic_write(Path(self.output_path, article.tei_file), tei_document(_tei_article(s, article)))
                rows.append(_dublin_core_row(s, article))
        if partitioned.is_partition(s):
            for article, row in zip(articles, rows):
                partitioned.facts_of(s, article.url)["dublin_core"] = row
            return
        atomic_write(Path(self.output_path, _setting(s, "DEPOSIT_DUBLIN_CORE_SAVE_AS")), dublin_core_csv(rows))
        _pending[PLUGIN_NAME] = {"settings": s, "output": self.output_path, "articles": articles,
                                 "graph": bool(self.context.get("related_graph"))}


# -- per article -----------------------------------------------------------------------------


def _outlet(settings, record) -> str:
    return record.outlet or settings["SOURCE_NAME"]


def _rights(settings, record) -> str:
    rights = _setting(settings, "DEPOSIT_RIGHTS")
    licence = (record.dataset or {}).get("licence")
    return f"{rights} The table it was read from is published under {licence}." if licence else rights


def _tei_article(settings, article) -> TeiArticle:
    d = article.display
    r = d.record
    here = posixpath.dirname(article.tei_file)

    def link(url: str | None) -> str | None:
        if not url:
            return None
        return _absolute_url(settings, url) or posixpath.relpath(url, here or ".")

    links = getattr(article, "related", None)
    if links is not None:  # related_graph: entries resolved to archive pages
        related = tuple(RelatedItem(x.title, link(x.url), x.published.isoformat() if x.published else None)
                        for x in links)
    else:
        related = tuple(RelatedItem(e.title, None, e.published.isoformat() if e.published else None)
                        for e in d.related)
    return TeiArticle(
        title=r.title, when=d.date.iso, date_text=f"{d.date.text} ({d.date.zone})", lang=d.script.lang,
        paragraphs=tuple(r.paragraphs), signature=r.signature, publisher=_outlet(settings, r),
        archive=settings["SITENAME"], identifier=_absolute_url(settings, article.url) or article.url,
        page=link(article.url), source_file=r.source.file, source_sha256=r.source.sha256,
        source_row=r.source.row, rights=_rights(settings, r), dataset=r.dataset, related=related,
        capture=_web_capture(r),
    )


def _web_capture(record) -> WebCapture | None:
    """The capture a web-archive article comes from (its `provenance`), None for dumps and tables."""
    prov = capture_of(record)
    if not prov:
        return None
    url, captured = prov.get("url"), capture_time(prov)
    return WebCapture(url=None if url is None else str(url), link=linkable_url(url),
                      captured=None if prov.get("captured") is None else str(prov["captured"]),
                      when=captured.isoformat().replace("+00:00", "Z") if captured else None,
                      archive=str(prov.get("archive") or record.source.file),
                      member=None if prov.get("member") is None else str(prov["member"]),
                      offset=prov.get("offset"),
                      record_id=None if prov.get("record_id") is None else str(prov["record_id"]))


def _dublin_core_row(settings, article) -> dict[str, Any]:
    d = article.display
    r = d.record
    part_of = [settings["SITENAME"]]
    if r.dataset:
        part_of.append(" ".join(str(r.dataset.get("citation") or r.dataset.get("title") or "").split()))
    return {
        "dcterms:identifier": _absolute_url(settings, article.url) or article.url,
        "dcterms:title": r.title,
        "dcterms:date": d.date.iso,
        "dcterms:creator": r.signature,
        "dcterms:publisher": _outlet(settings, r),
        "dcterms:source": capture_of(r).get("url") or r.source.ref,
        "dcterms:language": d.script.lang,
        "dcterms:type": DCMI_TYPE,
        "dcterms:rights": _rights(settings, r),
        "dcterms:isPartOf": " | ".join(p for p in part_of if p),
    }


# -- once everything is written ----------------------------------------------------------------

#: What the generator leaves for `finalized` (the build in progress).
_pending: dict[str, dict[str, Any]] = {}


def write_descriptions(pelican) -> None:
    """finalized: the Data Package and the RO-Crate, which describe files other plugins wrote."""
    done = _pending.pop(PLUGIN_NAME, None)
    if done is None or not _enabled(pelican.settings):
        return
    s, output, articles = done["settings"], Path(done["output"]), done["articles"]
    graph_dir = _graph_dir(s)
    graph_csvs = (f"{graph_dir}/graph-nodes.csv", f"{graph_dir}/graph-edges.csv") if done["graph"] else None
    versions = _setting(s, "VERSIONS_JSONL_SAVE_AS")
    datasets = _datasets(articles)
    package_path = _setting(s, "DEPOSIT_DATAPACKAGE_SAVE_AS")
    atomic_write(output / package_path, data_package(
        name=slugify(s["SITENAME"]) or "archive", title=s["SITENAME"], description=_description(s, articles),
        package_dir=posixpath.dirname(package_path), articles_csv=s["DATA_CSV_SAVE_AS"],
        article_columns=DATA_COLUMNS, graph_csvs=graph_csvs,
        dublin_core_csv=_setting(s, "DEPOSIT_DUBLIN_CORE_SAVE_AS"),
        versions_jsonl=versions if (output / versions).is_file() else None,
        sources=[{"title": str(d.get("title") or ""), "path": str(d["url"])} for d in datasets if d.get("url")],
    ))
    listed = [(s.get(name) or DEFAULTS.get(name), media, label) for name, media, label in CRATE_FILES]
    listed += [(f"{graph_dir}/{name}", media, label) for name, media, label in GRAPH_FILES] if done["graph"] else []
    files = [DataFile(rel, media, (output / rel).stat().st_size, label) for rel, media, label in listed
             if rel and (output / rel).is_file()]
    files += [DataFile(a.tei_file, TEI_MEDIA_TYPE, (output / a.tei_file).stat().st_size,
                       f"TEI P5: {a.display.record.title}") for a in articles]
    siteurl = _absolute_url(s, "")
    atomic_write(output / _setting(s, "DEPOSIT_RO_CRATE_SAVE_AS"), crate_metadata(Archive(
        name=s["SITENAME"], description=_description(s, articles),
        first=articles[0].display.date.iso if articles else "", last=articles[-1].display.date.iso if articles else "",
        article_count=len(articles), rights=_setting(s, "DEPOSIT_RIGHTS"),
        licence_url=_setting(s, "DEPOSIT_LICENSE_URL"),
        publishers=tuple(sorted({_outlet(s, a.display.record) for a in articles})),
        software="Broadsheet", software_version=__version__, software_url=None, site_url=siteurl,
        files=tuple(files), datasets=tuple(datasets),
    )))


def _description(settings, articles) -> str:
    if not articles:
        return f"{settings.get('SITESUBTITLE') or settings['SITENAME']}. No article yet."
    first, last = articles[0].display.date.text, articles[-1].display.date.text
    outlets = sorted({_outlet(settings, a.display.record) for a in articles})
    source = outlets[0] if len(outlets) == 1 else f"{len(outlets)} outlets ({', '.join(outlets)})"
    return (f"{settings.get('SITESUBTITLE') or settings['SITENAME']}. {len(articles):,} articles from "
            f"{source}, {first} to {last} ({settings['SOURCE_TIMEZONE']} time).")


def _datasets(articles) -> list[dict[str, Any]]:
    """The published datasets the articles come from, once each, by DOI (or title)."""
    found: dict[str, dict[str, Any]] = {}
    for a in articles:
        d = a.display.record.dataset
        if d:
            found.setdefault(str(d.get("doi") or d.get("title")), d)
    return [found[k] for k in sorted(found)]


def get_generators(pelican):
    return DepositGenerator if _enabled(pelican.settings) else None


def register():
    signals.get_generators.connect(get_generators)
    signals.finalized.connect(write_descriptions)
