"""`data/datapackage.json`: the data downloads described as a Frictionless Data Package, so a
researcher loads them in one line (`frictionless`, pandas, R's `frictionless` package) with
every column's type and meaning.

Made with the `frictionless` library from the tables' known columns (no file is read, so the
description does not change when only the data does): `articles.csv` with `url` as its
primary key and `date` a date-time with its UTC offset, the graph's nodes and edges (edges
point at nodes), `dublin_core.csv`, and `versions.jsonl` when the site has one.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from frictionless import Package, Resource

from .dublin_core import COLUMNS as DUBLIN_CORE_COLUMNS

#: `data/articles.csv`: (type, description) per column (archive_pages.corpus.DATA_COLUMNS).
ARTICLE_FIELDS = {
    "url": ("string", "the article's page, as a path from the site root (unique)"),
    "public_url": ("string", "the page's absolute URL on the hosted site (empty in the offline copy)"),
    "title": ("string", "the headline as scraped"),
    "date": ("datetime", "publication date and time in the source's local time, ISO 8601 with its UTC offset"),
    "signature": ("string", "the editor's code printed under the article"),
    "slug": ("string", "the page's file name without .html"),
    "source_id": ("string", "the outlet's id of the article, when known"),
    "outlet": ("string", "the outlet, when the source names it (tables)"),
    "tags": ("string", "tags the archivist added, separated by ' | '"),
    "source_file": ("string", "the dump or table file the article was read from"),
    "source_sha256": ("string", "SHA-256 of that file's bytes"),
    "source_encoding": ("string", "that file's character encoding"),
    "related_status": ("string", "state of the scraped related-articles list: ok, absent, length-mismatch, truncated, invalid"),
    "warnings": ("string", "what ingest noticed while reading, separated by ' | '"),
    "text": ("string", "the scraped paragraphs, separated by a blank line"),
}
NODE_FIELDS = {
    "id": ("string", "the node: an archive page's path, or item:<outlet id> for an item outside the archive"),
    "title": ("string", "the title, as the archive or the outlet's list has it"),
    "in_archive": ("boolean", "whether the item is an article of this archive"),
    "url": ("string", "the archive page (empty outside the archive)"),
    "published": ("datetime", "publication date, or its estimate from the outlet's picture name"),
    "media": ("string", "article, image, video or unknown"),
    "source_id": ("string", "the outlet's id, when known"),
    "video_of": ("string", "for a video item: the archive article it shows"),
}
EDGE_FIELDS = {
    "source": ("string", "the article whose related list names the item (a node id)"),
    "target": ("string", "the item it names (a node id)"),
    "resolved_by": ("string", "how the entry was matched: id, title, fuzzy or unresolved"),
    "score": ("number", "similarity (0-100) of a fuzzy title match"),
}
CSV_NOTE = ("Cells that begin with =, +, -, @, a tab, a carriage return or a single quote begin with one "
            "more single quote (spreadsheet safety); drop it to read the text as scraped.")


def _schema(fields: dict[str, tuple[str, str]], columns=None, **extra: Any) -> dict[str, Any]:
    names = list(columns) if columns is not None else list(fields)
    return {"fields": [{"name": n, "type": fields.get(n, ("string", ""))[0],
                        "description": fields.get(n, ("string", "not described"))[1]} for n in names], **extra}


def _table(name: str, path: str, title: str, schema: dict[str, Any]) -> Resource:
    return Resource.from_descriptor({
        "name": name, "path": path, "title": title, "description": CSV_NOTE, "profile": "tabular-data-resource",
        "format": "csv", "mediatype": "text/csv", "encoding": "utf-8", "schema": schema,
    })


def data_package(*, name: str, title: str, description: str, package_dir: str, articles_csv: str,
                 article_columns, graph_csvs: tuple[str, str] | None, dublin_core_csv: str,
                 versions_jsonl: str | None, sources: list[dict[str, str]]) -> str:
    """datapackage.json's text; paths are given from the site root and written relative to
    `package_dir` (where datapackage.json lies), as the Data Package spec wants them."""
    def rel(path: str) -> str:
        return posixpath.relpath(path, package_dir or ".")

    resources = [_table("articles", rel(articles_csv), "Articles: metadata and text, one row per article",
                        _schema(ARTICLE_FIELDS, article_columns, primaryKey=["url"]))]
    if graph_csvs:
        nodes, edges = graph_csvs
        resources.append(_table("graph-nodes", rel(nodes), "Related-article graph: nodes",
                                _schema(NODE_FIELDS, primaryKey=["id"])))
        resources.append(_table("graph-edges", rel(edges), "Related-article graph: edges",
                                _schema(EDGE_FIELDS, foreignKeys=[
                                    {"fields": ["source"], "reference": {"resource": "graph-nodes", "fields": ["id"]}},
                                    {"fields": ["target"], "reference": {"resource": "graph-nodes", "fields": ["id"]}},
                                ])))
    dc_fields = {k: ("datetime" if k == "dcterms:date" else "string", v) for k, v in DUBLIN_CORE_COLUMNS.items()}
    resources.append(_table("dublin-core", rel(dublin_core_csv), "Dublin Core records, one per article",
                            _schema(dc_fields, primaryKey=["dcterms:identifier"])))
    if versions_jsonl:
        resources.append(Resource.from_descriptor({
            "name": "versions", "path": rel(versions_jsonl), "title": "Versions of the articles",
            "format": "jsonl", "mediatype": "application/jsonl", "encoding": "utf-8",
        }))
    package = Package(name=name, title=title, description=description, resources=resources,
                      sources=sources or [])
    return json.dumps(package.to_descriptor(), indent=2, ensure_ascii=False) + "\n"
