"""Search parts: each partition of a partitioned build indexes its own articles, the driver joins
the parts into the index the CLI searches.

A part is a Whoosh index of one partition's articles (and one of their earlier versions, in
VERSIONS_INDEX_DIR), written by the partition's run into `<index folder>/parts/<part id>/`, its
documents in the order of a single build's index: the articles' (newest first, then by URL),
each article's earlier versions in the order of their article. The part id is a digest of what its
documents hold (their keys and content hashes): a partition rendered again because a neighbour's
title changed writes no new part, and a partition reused whole names the part it made before.

`join_parts` makes the index of the whole archive from the parts without reading a posting:
the index's table of contents lists the parts' segments (their files linked into the index
folder), ordered by their first article. Whoosh reads an index of many segments as one, with
the same scores (its statistics are sums over segments); a document's number is its segment's
offset plus its place in it, so documents are numbered as a single build numbers them (the CLI
breaks ties in score by number), partitions being periods of time. Parts no build uses any
more are removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC, clean_files

from broadsheet.files import atomic_write
from broadsheet.ordering import newest_first

from .index import (CODEC_OPTIONS, COMPOUND_SEGMENTS, INDEX_NAME, INDEX_VERSION, VERSION_FILE,
                    WRITER_LIMIT_MB, UpdateReport, make_schema)

log = logging.getLogger(__name__)

#: Inside the index folder: the parts, one folder each.
PARTS_DIR = "parts"
#: Inside a part: {"first": `newest_first` of its first article, "documents": [[key, hash], ...],
#: "versions": the same for its earlier versions, "notes": {version URL: note}}.
PART_FILE = "part.json"
#: Beside the joined index: {key: content hash} of the documents joined last time, for the
#: report of what changed (last-update.json).
JOINED_FILE = "joined.json"
#: The fact an article's partition returns: the id of the part that holds the article.
FACT = "search_part"


def part_id(documents: list, earlier: list) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{INDEX_VERSION}\0{len(documents)}\0".encode())
    for d in documents:
        h.update(f"{d.key}\0{d.content_hash}\0".encode("utf-8", "surrogatepass"))
    h.update(b"\1")
    for d in earlier:
        h.update(f"{d.key}\0{d.content_hash}\0".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _write_index(folder: Path, documents: list) -> list[list[str]]:
    """A fresh index of `documents`, in this order, in `folder`; [[key, hash]] as added."""
    folder.mkdir(parents=True)
    ix = whoosh_index.create_in(str(folder), make_schema(), indexname=INDEX_NAME)
    added = []
    writer = ix.writer(limitmb=WRITER_LIMIT_MB, compound=COMPOUND_SEGMENTS, codec=W3Codec(**CODEC_OPTIONS))
    try:
        for document in documents:
            fields = document.fields()
            writer.add_document(**fields)
            added.append([document.key, fields["content_hash"]])
    except BaseException:
        writer.cancel()
        raise
    if added:
        writer.commit()
    else:
        writer.cancel()
    return added


def write_part(index_folder: Path, documents: list, earlier: list, notes: dict[str, str]) -> str:
    """The part of these documents and earlier versions under `index_folder`; its id. A part of
    the same id already there is kept as it is (its documents are the same). `documents` are
    the articles' (any order), `earlier` their earlier versions in their articles' order."""
    documents = sorted(documents, key=newest_first)
    ident = part_id(documents, earlier)
    target = index_folder / PARTS_DIR / ident
    if (target / PART_FILE).is_file():
        return ident
    scratch = target.with_name(f"{ident}.{os.getpid()}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    from . import VERSIONS_INDEX_DIR

    main = _write_index(scratch, documents)
    versions = _write_index(scratch / VERSIONS_INDEX_DIR, earlier)
    first = list(newest_first(documents[0])) if documents else None
    atomic_write(scratch / PART_FILE, json.dumps({"first": first, "documents": main, "versions": versions,
                                                  "notes": notes}, ensure_ascii=False))
    try:
        scratch.rename(target)
    except OSError:  # written meanwhile by another run of the same documents
        shutil.rmtree(scratch, ignore_errors=True)
        if not (target / PART_FILE).is_file():
            raise
    return ident


def part_exists(index_folder: Path, ident: str) -> bool:
    return (index_folder / PARTS_DIR / ident / PART_FILE).is_file()


def read_part(index_folder: Path, ident: str) -> dict[str, Any]:
    return json.loads((index_folder / PARTS_DIR / ident / PART_FILE).read_text(encoding="utf-8"))


def join_parts(index_folder: Path, idents: Iterable[str]) -> tuple[UpdateReport, dict[str, str]]:
    """The index in `index_folder` (and its VERSIONS_INDEX_DIR) made of the parts `idents`;
    returns what changed since the last join and the earlier versions' notes. Other parts go."""
    from . import VERSIONS_INDEX_DIR

    idents = sorted(set(idents))
    described = {i: read_part(index_folder, i) for i in idents}
    notes: dict[str, str] = {}
    for i in idents:
        notes.update(described[i]["notes"])
    firsts = [(described[i]["first"], i) for i in idents]
    report = _join(index_folder, idents, firsts, "",
                   {k: h for i in idents for k, h in described[i]["documents"]})
    _join(index_folder / VERSIONS_INDEX_DIR, idents, firsts,
          VERSIONS_INDEX_DIR, {k: h for i in idents for k, h in described[i]["versions"]})
    kept = set(idents)
    for folder in (index_folder / PARTS_DIR).glob("*"):
        if folder.name not in kept:
            shutil.rmtree(folder, ignore_errors=True)
    return report, notes


def _join(folder: Path, idents: list[str], firsts: list, inside: str, hashes: dict[str, str]) -> UpdateReport:
    """One index (the articles', or their earlier versions' when `inside` names that folder)
    as the segments of the parts, ordered by their first article."""
    created = _prepare(folder)
    storage = FileStorage(str(folder))
    segments = []
    for first, ident in sorted((tuple(f), i) for f, i in firsts if f is not None):
        source = folder.parent / PARTS_DIR / ident / inside if inside else folder / PARTS_DIR / ident
        part_toc = TOC.read(FileStorage(str(source)), INDEX_NAME)
        for segment in part_toc.segments:
            prefix = segment.segment_id() + "."
            for name in os.listdir(source):
                if name.startswith(prefix) and not (folder / name).exists():
                    os.link(source / name, folder / name)
            segments.append(segment)
    generation = TOC._latest_generation(storage, INDEX_NAME) + 1
    TOC(make_schema(), segments, generation).write(storage, INDEX_NAME)
    clean_files(storage, INDEX_NAME, generation, segments)
    report = _compare(folder / JOINED_FILE, hashes, created)
    atomic_write(folder / JOINED_FILE, json.dumps(hashes, ensure_ascii=False))
    (folder / "last-update.json").write_text(json.dumps(report.to_json(), indent=1))
    return report


def _prepare(folder: Path) -> bool:
    """Make `folder` an index folder of this INDEX_VERSION, emptied (but for the parts) if it
    was of another; True when it held no index of this version."""
    try:
        current = json.loads((folder / VERSION_FILE).read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        current = None
    if current == INDEX_VERSION and whoosh_index.exists_in(str(folder), INDEX_NAME):
        return False
    if folder.exists():
        log.info("search index %s is missing or of another version; joining it afresh", folder)
        for path in folder.iterdir():
            if path.name == PARTS_DIR:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VERSION_FILE).write_text(json.dumps({"version": INDEX_VERSION}))
    return True


def _compare(previous_file: Path, hashes: dict[str, str], created: bool) -> UpdateReport:
    try:
        before = {} if created else json.loads(previous_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    report = UpdateReport(rebuilt=created or not before)
    for key in sorted(hashes):
        if key not in before:
            report.added.append(key)
        elif before[key] != hashes[key]:
            report.changed.append(key)
        else:
            report.unchanged += 1
    report.removed = sorted(set(before) - set(hashes))
    return report
