"""The browser index: the Whoosh index exported as plain `.js` shards.

A page cannot `fetch` or `import` under `file://`, but it can add a `<script>` tag. So every
shard is a script that calls `BroadsheetSearch.register(kind, id, data)`, and the search page
(`theme/static/js/search-engine.js`) injects the shards a query needs:

- `meta.js`: collection statistics for BM25F (document count, average field lengths, the
  weighting parameters and field boosts), the shard layout, and the year of every document
  as runs of document numbers (for the year filter);
- `t/<n>.js`: postings of every term whose first three characters hash to bucket `n`, per
  field: `[df, doc delta, weight, field length, position deltas..., doc delta, ...]`. Bucketing
  by a three-character key lets a `prefix*` query of three or more characters load one shard;
- `d/<n>.js`: title, URL, date, year and text of a run of consecutive document numbers, loaded
  only for the results on screen (snippets are cut in the browser).

Numbers (document frequencies, quantised field lengths, document numbers) are read from the
Whoosh reader itself, so the browser ranks with exactly what Whoosh ranks with. The number of
files is bounded (`MAX_TERM_SHARDS + MAX_DOC_SHARDS + 1`) whatever the corpus size.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .index import TEXT_FIELDS

#: Upper bounds on shard files, so that 100,000 articles stay under 1,000 files.
MAX_TERM_SHARDS = 600
MAX_DOC_SHARDS = 398
#: Aim for shards about this big (bytes of JavaScript) before the bounds apply.
TARGET_TERM_SHARD_BYTES = 24_000
TARGET_DOC_SHARD_BYTES = 24_000
#: Terms are bucketed by this many leading characters.
KEY_LENGTH = 3


def bucket_key(term: str) -> str:
    return term[:KEY_LENGTH]


def fnv1a(text: str) -> int:
    """32-bit FNV-1a over code points; `search-engine.js` computes the same."""
    h = 0x811C9DC5
    for ch in text:
        h ^= ord(ch)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


@dataclass
class ExportReport:
    term_shards: int
    doc_shards: int
    total_bytes: int
    documents: int

    @property
    def files(self) -> int:
        return self.term_shards + self.doc_shards + 1

    def summary(self) -> str:
        return (f"browser search index: {self.documents} documents, {self.term_shards} term shards, "
                f"{self.doc_shards} document shards, {self.total_bytes / 1e6:.1f} MB")


def _js(kind: str, ident: int, data: Any) -> str:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f'BroadsheetSearch.register("{kind}",{ident},{payload});\n'


def _postings(reader, searcher, fieldname: str, text: str) -> list[int]:
    flat = [searcher.doc_frequency(fieldname, text)]
    matcher = reader.postings(fieldname, text)
    previous = 0
    while matcher.is_active():
        docnum = matcher.id()
        positions = matcher.value_as("positions")
        flat += [docnum - previous, int(matcher.weight()),
                 reader.doc_field_length(docnum, fieldname, 1), len(positions)]
        last = 0
        for p in positions:
            flat.append(p - last)
            last = p
        previous = docnum
        matcher.next()
    return flat


def export_browser_index(ix, target: Path, weighting: dict[str, Any]) -> ExportReport:
    """Write the shards for the whole index into `target` (replaced), return what was written.

    `weighting`: {"B": ..., "K1": ..., "boosts": {field: boost}}, the same the CLI uses.
    """
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "t").mkdir(parents=True)
    (tmp / "d").mkdir()
    digest = hashlib.sha256()
    with ix.searcher() as searcher:
        reader = searcher.reader()
        by_key: dict[str, dict[str, dict[str, list[int]]]] = {}
        posting_bytes = 0
        for fieldname in TEXT_FIELDS:
            for raw in reader.lexicon(fieldname):
                text = raw.decode("utf-8")
                flat = _postings(reader, searcher, fieldname, text)
                if len(flat) == 1:  # every document holding it was deleted
                    continue
                by_key.setdefault(bucket_key(text), {}).setdefault(fieldname, {})[text] = flat
                posting_bytes += len(text) + 4 * len(flat)
        term_shards = max(1, min(MAX_TERM_SHARDS, -(-posting_bytes // TARGET_TERM_SHARD_BYTES)))
        buckets: list[dict[str, dict[str, list[int]]]] = [{} for _ in range(term_shards)]
        for key, fields in by_key.items():
            bucket = buckets[fnv1a(key) % term_shards]
            for fieldname, terms in fields.items():
                bucket.setdefault(fieldname, {}).update(terms)
        total = 0
        for n, bucket in enumerate(buckets):
            total += _write(tmp / "t" / f"{n}.js", _js("terms", n, bucket), digest)

        doc_count_all = searcher.doc_count_all()
        stored = dict(reader.iter_docs())
        years: dict[int, int] = {}
        doc_bytes = 0
        records: dict[int, list[Any]] = {}
        for docnum, fields in stored.items():
            records[docnum] = [fields["title"], fields["url"], fields["display_date"][:10],
                               fields["year"], fields["body"]]
            years[fields["year"]] = years.get(fields["year"], 0) + 1
            doc_bytes += len(fields["body"]) + len(fields["title"]) + 60
        doc_shards = max(1, min(MAX_DOC_SHARDS, -(-doc_bytes // TARGET_DOC_SHARD_BYTES)))
        docs_per_shard = max(1, -(-doc_count_all // doc_shards))
        doc_shards = max(1, -(-doc_count_all // docs_per_shard))
        for n in range(doc_shards):
            chunk = [records.get(d) for d in range(n * docs_per_shard, (n + 1) * docs_per_shard)]
            total += _write(tmp / "d" / f"{n}.js", _js("docs", n, chunk), digest)

        meta = {
            "format": 1,
            "documents": len(stored),
            "docCountAll": doc_count_all,
            "fields": {
                f: {"avgLength": searcher.avg_field_length(f) or 1,
                    "boost": weighting["boosts"].get(f, 1.0)}
                for f in TEXT_FIELDS
            },
            "B": weighting["B"],
            "K1": weighting["K1"],
            "termShards": term_shards,
            "docShards": doc_shards,
            "docsPerShard": docs_per_shard,
            "keyLength": KEY_LENGTH,
            "years": {str(y): c for y, c in sorted(years.items())},
            "yearRuns": _year_runs(records),
        }
        # Shard URLs carry the version, so a browser never mixes shards of two builds.
        meta["version"] = digest.hexdigest()[:12]
        total += _write(tmp / "meta.js", _js("meta", 0, meta), digest)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return ExportReport(term_shards, doc_shards, total, len(stored))


def _year_runs(records: dict[int, list[Any]]) -> list[list[int]]:
    """[[first docnum, year], ...]: Pelican orders articles by date, so runs are few."""
    runs: list[list[int]] = []
    for docnum in sorted(records):
        year = records[docnum][3]
        if not runs or runs[-1][1] != year:
            runs.append([docnum, year])
    return runs


def _write(path: Path, text: str, digest) -> int:
    data = text.encode("utf-8")
    digest.update(data)
    path.write_bytes(data)
    return len(data)
