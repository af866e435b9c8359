"""The Whoosh index: schema, one document per article, incremental update by content hash.

The index lives outside the published site (see `index_path`), so readers never download it;
`invoke search` finds it from the site's output folder. Each document carries the SHA-256
of everything indexed about it, so a rebuild adds, replaces or deletes only the articles
whose hash changed, and leaves the others (and their document numbers) untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from broadsheet.site import search_index_folder

from .analysis import make_analyzer

log = logging.getLogger(__name__)

#: Bumped whenever the schema, the analysis or the files' layout changes: an index of another
#: version is rebuilt.
INDEX_VERSION = 3
INDEX_NAME = "articles"
VERSION_FILE = "broadsheet-search.json"
#: Segments stay as separate files, not one compound file: Whoosh reads a file of a compound
#: segment by copying all of it into memory (`BufferFile` over the map), so that every query
#: in a fresh process read the whole posting file (1 GB and a second at 100,000 articles).
COMPOUND_SEGMENTS = False

#: Posting blocks of 1,024 postings, uncompressed: the CLI reads every posting of a query's
#: words, and with Whoosh's default (128, zlib) inflating and unpacking 700 blocks per common
#: word was most of a query's time at 100,000 articles. The index is not published.
CODEC_OPTIONS = {"blocklimit": 1024, "compression": 0}

#: Memory for the writer's sorting pool: large enough that 10,000 articles are sorted in
#: one run instead of being spilled to disk and merged.
WRITER_LIMIT_MB = 256

#: The fields a query without `field:` searches.
TEXT_FIELDS = ("title", "body")


def make_schema() -> Schema:
    analyzer = make_analyzer()
    return Schema(
        # Columns (sortable) so that an update reads every key and hash without unpickling
        # every stored body.
        key=ID(unique=True, stored=True, sortable=True),
        content_hash=ID(stored=True, sortable=True),
        url=ID(stored=True),
        title=TEXT(analyzer=analyzer, stored=True),
        body=TEXT(analyzer=analyzer, stored=True),
        date=DATETIME(stored=True, sortable=True),
        year=NUMERIC(stored=True, sortable=True),
        signature=ID(stored=True),
        source_id=ID(stored=True),
        outlet=ID(stored=True),
        labels=KEYWORD(stored=True, commas=True, lowercase=True),
        display_date=STORED(),
    )


def index_path(output: Path, configured: str | None = None) -> Path:
    """The index folder for a site built into `output`: SEARCH_INDEX_PATH when set, else
    `broadsheet.site.search_index_folder` (`.<output name>.search-index` beside `output`)."""
    if configured:
        return Path(configured).resolve()
    return search_index_folder(output)


def field_length(reader, docnum: int, fieldname: str) -> int:
    """How many terms a document has in a field. Whoosh 2.7 answers None, not 0, for a field
    with none (a title such as "The", "???" or "1", where the analyser keeps no word)."""
    return reader.doc_field_length(docnum, fieldname, 0) or 0


@dataclass
class SearchDocument:
    """What the index knows about one article."""

    key: str
    url: str
    title: str
    body: str
    date: datetime
    signature: str | None = None
    source_id: str | None = None
    outlet: str | None = None
    labels: list[str] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        payload = json.dumps(
            [self.url, self.title, self.body, self.date.isoformat(), self.signature,
             self.source_id, self.outlet, self.labels],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def fields(self) -> dict[str, Any]:
        utc = self.date.astimezone(timezone.utc).replace(tzinfo=None) if self.date.tzinfo else self.date
        doc = {
            "key": self.key,
            "content_hash": self.content_hash,
            "url": self.url,
            "title": self.title,
            "body": self.body,
            "date": utc,
            "year": self.date.year,
            "display_date": self.date.isoformat(),
        }
        for name in ("signature", "source_id", "outlet"):
            value = getattr(self, name)
            if value:
                doc[name] = value
        if self.labels:
            doc["labels"] = ",".join(self.labels)
        return doc


def labels_from_facets(facets: dict[str, Any]) -> list[str]:
    """Facet values as labels: `{labels: [a, b], location: X}` -> [a, b, X]."""
    labels: list[str] = []
    for value in facets.values():
        values = value if isinstance(value, (list, tuple)) else [value]
        labels.extend(str(v).replace(",", " ") for v in values if v not in (None, ""))
    return labels


@dataclass
class UpdateReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    rebuilt: bool = False

    def summary(self) -> str:
        how = "rebuilt" if self.rebuilt else "updated"
        return (f"search index {how}: {len(self.added)} added, {len(self.changed)} changed, "
                f"{len(self.removed)} removed, {self.unchanged} unchanged")

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed,
                "unchanged": self.unchanged, "rebuilt": self.rebuilt}


def open_or_create(path: Path) -> tuple[Any, bool]:
    """The index at `path`; a new empty one if absent or of another version (True = new)."""
    version_file = path / VERSION_FILE
    current = None
    if version_file.exists():
        try:
            current = json.loads(version_file.read_text()).get("version")
        except (OSError, ValueError):
            current = None
    if current == INDEX_VERSION and whoosh_index.exists_in(str(path), INDEX_NAME):
        return whoosh_index.open_dir(str(path), indexname=INDEX_NAME), False
    if path.exists():
        log.info("search index %s is missing or of another version; rebuilding it", path)
        shutil.rmtree(path)
    path.mkdir(parents=True)
    ix = whoosh_index.create_in(str(path), make_schema(), indexname=INDEX_NAME)
    version_file.write_text(json.dumps({"version": INDEX_VERSION}))
    return ix, True


def indexed_hashes(ix) -> dict[str, str]:
    """{key: content hash} of every live document, read from the columns."""
    if ix.doc_count_all() == 0:
        return {}
    with ix.reader() as reader:
        keys, hashes = reader.column_reader("key"), reader.column_reader("content_hash")
        return {keys[d]: hashes[d] for d in reader.all_doc_ids()}


def update_index(path: Path, documents: Iterable[SearchDocument]):
    """Make the index at `path` hold exactly `documents`, touching only what changed.

    Returns the open index and an `UpdateReport` (also written to `last-update.json`).
    """
    ix, created = open_or_create(path)
    report = UpdateReport(rebuilt=created)
    wanted = {doc.key: doc for doc in documents}
    indexed = indexed_hashes(ix)
    writer = ix.writer(limitmb=WRITER_LIMIT_MB, compound=COMPOUND_SEGMENTS, codec=W3Codec(**CODEC_OPTIONS))
    try:
        for key in sorted(set(indexed) - set(wanted)):
            writer.delete_by_term("key", key)
            report.removed.append(key)
        for key, doc in wanted.items():
            old_hash = indexed.get(key)
            if old_hash == doc.content_hash:
                report.unchanged += 1
                continue
            if old_hash is None:
                writer.add_document(**doc.fields())
                report.added.append(key)
            else:
                writer.update_document(**doc.fields())
                report.changed.append(key)
    except BaseException:
        writer.cancel()
        raise
    if report.added or report.changed or report.removed:
        writer.commit()
    else:
        writer.cancel()
    (path / "last-update.json").write_text(json.dumps(report.to_json(), indent=1))
    return ix, report
