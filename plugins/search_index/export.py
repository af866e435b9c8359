"""The browser index: the Whoosh index exported as plain `.js` shards.

A page cannot `fetch` or `import` under `file://`, but it can add a `<script>` tag. So every
shard is a script that calls `BroadsheetSearch.register(kind, id, data)` (with a fourth
argument, the index's name, for a second index on the same page, such as the articles'
earlier versions in `versions/`), and the search page
(`theme/static/js/search-engine.js`) injects the shards a query needs. Every file is bounded
in bytes, not in number, so that what a query loads does not grow with the corpus. Files are
numbered; file `n` of a kind lies in `<kind>/<n // FOLDER_SIZE>/<n>.js`, so that no folder
holds more than FOLDER_SIZE files at any corpus size.

- `meta.js`: collection statistics for BM25F (document count, average field lengths, the
  weighting parameters and field boosts), the shard layout, Whoosh's table from length code
  to field length, the year of every document as runs of document numbers, and each
  outlet's and label's document count;
- `t/<n>`: the terms whose first three characters hash to bucket `n`, per field. A term
  whose postings fit in LIST_FILE_CHARS has them here, as one string of numbers
  (`encode_numbers`): the document frequency, then for each document holding the term its
  document number (as the difference from the previous one) and `2 * (length code - the
  field's smallest) + (1 if the term occurs more than once)`, followed by the count minus 2
  when it does (one character for most documents). A longer list stands here as
  `[k, first chunk, chunks, document frequency, first piece, span]`: its postings are cut
  into chunks of CHUNK_POSTINGS, the best first (ordered by their BM25 score in the field,
  then document number), each chunk `l/<c>` in document order as above (its count first,
  not the document frequency) with the value of the best posting of the chunks after it
  (`_chunks`); and, for random access, into pieces `r/<first piece + d // span>` by document
  number, piece `j` holding the postings of documents `j * span` to `(j + 1) * span - 1`
  (`_pieces`). A word or words ANDed load chunks best first, and the pieces of the
  documents that may be among the best, only until those are certain (the engine's
  `bestOf`); anything else loads every chunk. Bucketing by a three-character key lets a
  `prefix*` query of three or more characters load one bucket;
- `p/<n>`: the word positions of the same terms (and `q/<k>` those of long list `k`, for its
  postings in document order), loaded only for a "phrase" query: for each document in
  posting order, the count and the differences between positions;
- `d/<n>`: title, URL, date and the article's opening words (`EXCERPT_CHARS`), and a note
  when the export was given one for the URL (the earlier versions': "earlier version 1 of 3"), of
  `docsPerShard` consecutive documents (about TARGET_DOC_SHARD_BYTES), loaded only for the
  results on screen;
- `f/<n>`: the documents of one outlet or label (delta-encoded), loaded when a reader picks it.

Numbers (document frequencies, quantised field lengths, document numbers) are read from the
Whoosh reader itself, so the browser ranks with exactly what Whoosh ranks with.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from whoosh.util.numeric import byte_to_length, length_to_byte

from broadsheet.reuse import keep, load_kept

from .index import TEXT_FIELDS, field_length
from .whoosh_format import gaps_of, read_postings

FORMAT = 4
#: Aim for term (and position) buckets about this big (bytes of JavaScript).
TARGET_TERM_SHARD_BYTES = 8_000
#: A term's postings longer than this (characters) are split into chunks of their own.
LIST_FILE_CHARS = 2_000
#: Postings per chunk of a long list, the best first (see `_chunks`).
CHUNK_POSTINGS = 500
#: Postings a piece of a long list holds on average (see `_pieces`): what the engine loads to
#: learn one document's score in the list.
PIECE_POSTINGS = 200
#: Aim for document shards about this big: the ten results on screen load up to ten of them.
TARGET_DOC_SHARD_BYTES = 2_000
#: Files of one kind per folder.
FOLDER_SIZE = 1000
#: Terms are bucketed by this many leading characters.
KEY_LENGTH = 3
#: How much of an article's text a result shows (cut at a space).
EXCERPT_CHARS = 160

#: Digits of `encode_numbers`: printable ASCII without `"` and `\\`, so an encoded string is a
#: JSON string as it stands. The first `TERMINAL` end a number; the others precede them.
DIGITS = "".join(chr(c) for c in range(0x23, 0x7F) if chr(c) != "\\")
TERMINAL = 64
CONTINUATION = len(DIGITS) - TERMINAL


def encode_numbers(numbers: list[int]) -> str:
    """Non-negative integers as a string: below 64 one character, below 1,792 two, and so on.
    `search-engine.js` (`decodeNumbers`) reads them back. Numbers below `_TABLE_SIZE` (nearly
    all: document gaps, length codes, position gaps) are looked up, not computed: an export
    encodes millions of them."""
    table = _encodings()
    if numbers and min(numbers) < 0:
        raise ValueError("encode_numbers: negative number")
    try:
        return "".join(map(table.__getitem__, numbers))
    except IndexError:
        return "".join(table[n] if n < _TABLE_SIZE else _encode_one(n) for n in numbers)


#: Numbers of up to three characters.
_TABLE_SIZE = TERMINAL * (CONTINUATION * CONTINUATION + CONTINUATION + 1)


@functools.cache
def _encodings() -> list[str]:
    return [_encode_one(n) for n in range(_TABLE_SIZE)]


def _encode_one(n: int) -> str:
    high, low = divmod(n, TERMINAL)
    digits = [DIGITS[low]]
    while high:
        high, d = divmod(high, CONTINUATION)
        digits.append(DIGITS[TERMINAL + d])
    return "".join(reversed(digits))


def decode_numbers(text: str) -> list[int]:
    """The inverse of `encode_numbers` (for tests)."""
    numbers, acc = [], 0
    for ch in text:
        d = DIGITS.index(ch)
        if d >= TERMINAL:
            acc = acc * CONTINUATION + d - TERMINAL
        else:
            numbers.append(acc * TERMINAL + d)
            acc = 0
    return numbers


def bucket_key(term: str) -> str:
    return term[:KEY_LENGTH]


def fnv1a(text: str) -> int:
    """32-bit FNV-1a over code points; `search-engine.js` computes the same."""
    h = 0x811C9DC5
    for ch in text:
        h ^= ord(ch)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def excerpt(body: str, limit: int = EXCERPT_CHARS) -> str:
    """The opening `limit` characters of `body`, cut at the last space, spaces collapsed."""
    text = " ".join(body[: limit * 2].split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit]


@dataclass
class ExportReport:
    term_shards: int
    position_shards: int
    doc_shards: int
    total_bytes: int
    documents: int
    #: How many terms were read back from Whoosh (all of them, unless the table was reused).
    terms_read: int = 0
    #: Terms whose postings are cut into chunks (and their positions have a file of their own).
    lists: int = 0
    chunks: int = 0
    pieces: int = 0

    @property
    def files(self) -> int:
        return (self.term_shards + self.position_shards + self.doc_shards + self.lists + self.chunks
                + self.pieces + 1)

    def summary(self) -> str:
        return (f"browser search index: {self.documents} documents, {self.term_shards} term shards, "
                f"{self.position_shards} position shards, {self.lists} long lists in {self.chunks} chunks and {self.pieces} pieces, {self.doc_shards} document shards, "
                f"{self.total_bytes / 1e6:.1f} MB, {self.terms_read} terms read from the index")


def _js(kind: str, ident: int, data: Any, index_name: str | None = None) -> str:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    index = f',"{index_name}"' if index_name else ""
    return f'BroadsheetSearch.register("{kind}",{ident},{payload}{index});\n'


def canonical_numbers(reader) -> list[int]:
    """Whoosh document numbers of the live documents, in the order the export numbers them.

    An index updated in place keeps deleted documents and appends new ones, so its numbers
    depend on its history. The export renumbers by (date, URL), so the shards of an updated
    index are byte-identical to those of an index built from scratch on the same articles.
    """
    return _canonical_order({docnum: (fields["display_date"], fields["url"]) for docnum, fields in reader.iter_docs()})


def _canonical_order(keys: dict[int, tuple[str, str]]) -> list[int]:
    return [docnum for _, docnum in sorted((key, docnum) for docnum, key in keys.items())]


def _slim_records(reader) -> dict[int, dict[str, Any]]:
    """What the export keeps of each live document's stored fields: all but the body, of which
    the excerpt (an export holds no article's whole text in memory)."""
    kept = {}
    for docnum, fields in reader.iter_docs():
        fields["excerpt"] = excerpt(fields.pop("body", "") or "")
        kept[docnum] = fields
    return kept


def _field_length_codes(reader, fieldname: str, order: list[int]) -> list[int]:
    """Whoosh's one-byte length code of `fieldname` for every exported document."""
    return [length_to_byte(field_length(reader, d, fieldname)) for d in order]


def _postings(reader, fieldname: str, text: str, codes: list[int],
              number: dict[int, int]) -> tuple[list[int], list[int], list[int]]:
    """(per document: doc delta, 2 * length code + repeated[, count - 2]),
    (per document: position count, position deltas...) and the documents, in exported numbers."""
    ids, gaps = _position_gaps_by_document(reader, fieldname, text)
    nums = list(map(number.get, ids))
    order = sorted((i for i, n in enumerate(nums) if n is not None) if None in nums else range(len(nums)),
                   key=nums.__getitem__)
    docs = list(map(nums.__getitem__, order))
    ordered = list(map(gaps.__getitem__, order))
    postings: list[int] = []
    previous = 0
    for docnum, doc_gaps in zip(docs, ordered):
        tf = len(doc_gaps)
        if tf > 1:
            postings += (docnum - previous, 2 * codes[docnum] + 1, tf - 2)
        else:
            postings += (docnum - previous, 2 * codes[docnum])
        previous = docnum
    positions = list(chain.from_iterable([len(g)] + g for g in ordered))
    return postings, positions, docs


def _position_gaps_by_document(reader, fieldname: str, text: str) -> tuple[list[int], list[list[int]]]:
    """The documents of every live posting of the term, and the gaps between each one's
    positions of it (the first from 0).

    Read a segment's block at a time, the positions of all its postings cut out of the blocks
    and unpickled in one call (the query module's readers, as for phrases). Through Whoosh's
    matchers, a posting at a time, the common words of a changed article took a rebuild's
    export seconds to read back."""
    word = text.encode("utf-8")
    ids: list[int] = []
    gaps: list[list[int]] = []
    for leaf, offset in reader.leaf_readers():
        if (fieldname, word) not in leaf:
            continue
        blocks: list = []
        read = read_postings(leaf, fieldname, word, blocks=blocks)
        if read is None:  # not Whoosh 3 blocks: the matchers, as Whoosh reads them
            pairs = list(reader.postings(fieldname, text).items_as("positions"))
            return [d for d, _ in pairs], [[p - q for p, q in zip(poses, [0] + poses)] for _, poses in pairs]
        leaf_ids, counts, _ = read
        ids += [offset + d for d in leaf_ids] if offset else leaf_ids
        gaps += gaps_of(blocks, set(leaf_ids), counts)
    return ids, gaps


class PostingTable:
    """Every term's encoded postings and positions, and which terms each document holds.

    Kept beside the index (CACHE_FILE) so that the next export re-reads from Whoosh only the
    terms of documents whose content hash changed: reading every posting list back from
    Whoosh is most of an export's time. When documents are added or
    removed (the numbering moves) or a field's smallest length code changes, every term is
    read again. Either way the shards come out byte-identical to a fresh export.
    """

    FORMAT = 1

    def __init__(self, keys: list, hashes: list, codes: dict[str, list[int]], min_codes: dict[str, int]):
        self.keys, self.hashes, self.codes, self.min_codes = keys, hashes, codes, min_codes
        self.terms: dict[tuple[str, str], tuple[str, str]] = {}
        self.doc_terms: list[list[tuple[str, str]]] = [[] for _ in keys]
        self.reread = 0

    def read_term(self, reader, key: tuple[str, str], number: dict[int, int]) -> list[int]:
        fieldname, text = key
        postings, positions, docs = _postings(reader, fieldname, text, self.codes[fieldname], number)
        self.reread += 1
        if postings:
            self.terms[key] = (encode_numbers([len(docs)] + postings), encode_numbers(positions))
        else:  # every document holding it was deleted
            self.terms.pop(key, None)
        return docs

    def read_all(self, reader, number: dict[int, int]) -> None:
        for fieldname in TEXT_FIELDS:
            for raw in reader.lexicon(fieldname):
                key = (fieldname, raw.decode("utf-8"))
                for d in self.read_term(reader, key, number):
                    self.doc_terms[d].append(key)

    def update(self, reader, number: dict[int, int], fields_of, previous: PostingTable) -> bool:
        """Take `previous` and re-read only the terms of changed documents (as they were and as
        they are). False when the numbering or the length scale moved: then read everything."""
        if previous.keys != self.keys or previous.min_codes != self.min_codes:
            return False
        changed = [n for n, (old, new) in enumerate(zip(previous.hashes, self.hashes)) if old != new]
        changed_set = set(changed)
        if any(previous.codes[f][n] != self.codes[f][n] for f in TEXT_FIELDS
               for n in range(len(self.keys)) if n not in changed_set):
            return False
        self.terms, self.doc_terms = previous.terms, previous.doc_terms
        affected: set[tuple[str, str]] = set()
        for n in changed:
            affected.update(self.doc_terms[n])  # what the document held
            now = []
            for fieldname in TEXT_FIELDS:
                analysed = reader.schema[fieldname].index(fields_of(n).get(fieldname) or "")
                now += [(fieldname, raw.decode("utf-8")) for raw, *_ in analysed]
            self.doc_terms[n] = now  # what it holds
            affected.update(now)
        for key in sorted(affected):
            self.read_term(reader, key, number)
        return True

    def ordered(self) -> list[tuple[tuple[str, str], tuple[str, str]]]:
        """Terms in the order a fresh export meets them: field by field, in lexicon (byte) order."""
        rank = {f: i for i, f in enumerate(TEXT_FIELDS)}
        return sorted(self.terms.items(), key=lambda kv: (rank[kv[0][0]], kv[0][1].encode("utf-8")))

    def save(self, path: Path) -> None:
        keep(path, (self.FORMAT, self.keys, self.hashes, self.codes, self.min_codes, self.terms, self.doc_terms))

    @classmethod
    def load(cls, path: Path) -> PostingTable | None:
        kept = load_kept(path)
        if not (isinstance(kept, tuple) and len(kept) == 7 and kept[0] == cls.FORMAT):
            return None
        _, keys, hashes, codes, min_codes, terms, doc_terms = kept
        table = cls(keys, hashes, codes, min_codes)
        table.terms, table.doc_terms = terms, doc_terms
        return table


def positions_count(positions: list[int]) -> int:
    """How many documents a `_postings` position list covers (its document frequency)."""
    count, i = 0, 0
    while i < len(positions):
        count += 1
        i += positions[i] + 1
    return count


def _average_length(reader, fieldname: str, order: list[int]) -> float:
    """Mean field length over the live documents (Whoosh's own mean counts deleted ones too)."""
    return sum(field_length(reader, d, fieldname) for d in order) / len(order) if order else 0.0


def export_browser_index(ix, target: Path, weighting: dict[str, Any], cache_file: Path | None = None,
                         index_name: str | None = None, notes: dict[str, str] | None = None) -> ExportReport:
    """Write the shards for the whole index into `target` (replaced), return what was written.

    `weighting`: {"B": ..., "K1": ..., "boosts": {field: boost}}, the same the CLI uses.
    `cache_file`: where the PostingTable of this export is kept for the next one (None: none).
    `index_name`: the index's name in the shards, for a second index on the search page (None: the
    first). `notes`: {url: text} added to those documents' records.
    """
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    digest = hashlib.sha256()
    with ix.searcher() as searcher:
        reader = searcher.reader()
        stored = _slim_records(reader)
        order = _canonical_order({d: (fields["display_date"], fields["url"]) for d, fields in stored.items()})
        number = {docnum: n for n, docnum in enumerate(order)}
        doc_count_all = len(order)
        codes = {f: _field_length_codes(reader, f, order) for f in TEXT_FIELDS}
        min_codes = {f: min((c for c in codes[f] if c), default=0) for f in TEXT_FIELDS}
        # Codes relative to the field's smallest: within a field lengths vary less than across.
        relative = {f: [max(0, c - min_codes[f]) for c in codes[f]] for f in TEXT_FIELDS}
        table = PostingTable([(stored[d]["display_date"], stored[d]["url"]) for d in order],
                             [stored[d].get("content_hash") for d in order], relative, min_codes)
        previous = PostingTable.load(cache_file) if cache_file is not None else None
        if previous is None or not table.update(reader, number, lambda n: reader.stored_fields(order[n]), previous):
            table.read_all(reader, number)
        if cache_file is not None:
            table.save(cache_file)
        averages = {f: _average_length(reader, f, order) or 1 for f in TEXT_FIELDS}
        lengths = [byte_to_length(c) for c in range(256)]

        def impact(fieldname: str, value: int, count: int) -> float:
            # What `search-engine.js` multiplies by the term's idf and boost: BM25's share of
            # one posting, the same operations in the same order.
            length = lengths[(value >> 1) + min_codes[fieldname]]
            K1, B = weighting["K1"], weighting["B"]
            return (count * (K1 + 1)) / (count + K1 * ((1 - B) + B * length / averages[fieldname]))

        terms, positions, long_positions, chunks, pieces = _term_shards(table.ordered(), impact, doc_count_all)
        total = 0
        for n, shard in enumerate(terms):
            total += _write(tmp, "t", n, _js("terms", n, shard, index_name), digest)
        for n, shard in enumerate(positions):
            total += _write(tmp, "p", n, _js("positions", n, shard, index_name), digest)
        for k, poses in enumerate(long_positions):
            total += _write(tmp, "q", k, _js("positionList", k, poses, index_name), digest)
        for c, chunk in enumerate(chunks):
            total += _write(tmp, "l", c, _js("chunk", c, chunk, index_name), digest)
        for j, piece in enumerate(pieces):
            total += _write(tmp, "r", j, _js("piece", j, piece, index_name), digest)

        records: dict[int, list[Any]] = {}
        years: dict[int, int] = {}
        facets: dict[str, dict[str, list[int]]] = {}
        for docnum, fields in stored.items():
            for name, values in (("outlet", [fields.get("outlet")]), ("labels", (fields.get("labels") or "").split(","))):
                for value in values:
                    if value:
                        facets.setdefault(name, {}).setdefault(value, []).append(number[docnum])
            records[number[docnum]] = [fields["title"], fields["url"], fields["display_date"][:10],
                                       fields["excerpt"]]
            if notes and fields["url"] in notes:
                records[number[docnum]].append(notes[fields["url"]])
            years[fields["year"]] = years.get(fields["year"], 0) + 1
        docs_per_shard = _docs_per_shard([records[d] for d in range(doc_count_all)])
        doc_shards = max(1, -(-doc_count_all // docs_per_shard))
        for n in range(doc_shards):
            chunk = [records.get(d) for d in range(n * docs_per_shard, (n + 1) * docs_per_shard)]
            total += _write(tmp, "d", n, _js("docs", n, chunk, index_name), digest)
        facet_counts: dict[str, dict[str, list[int]]] = {}
        k = 0
        for name, values in sorted(facets.items()):
            facet_counts[name] = {}
            for value, docs in sorted(values.items()):
                facet_counts[name][value] = [len(docs), k]
                total += _write(tmp, "f", k, _js("facet", k, encode_numbers(_deltas(sorted(docs))), index_name), digest)
                k += 1

        used_codes = max((max(c, default=0) for c in codes.values()), default=0)
        meta = {
            "format": FORMAT,
            "documents": len(records),
            "docCountAll": doc_count_all,
            "fields": {
                f: {"avgLength": averages[f],
                    "boost": weighting["boosts"].get(f, 1.0), "minCode": min_codes[f]}
                for f in TEXT_FIELDS
            },
            "B": weighting["B"],
            "K1": weighting["K1"],
            "termShards": len(terms),
            "docShards": doc_shards,
            "docsPerShard": docs_per_shard,
            "folderSize": FOLDER_SIZE,
            "keyLength": KEY_LENGTH,
            "digits": DIGITS,
            "terminal": TERMINAL,
            "lengths": [byte_to_length(c) for c in range(used_codes + 1)],
            "years": {str(y): c for y, c in sorted(years.items())},
            "yearRuns": _year_runs(records),
            # For the page's outlet and label filters: each value's count and file (`f/<k>`).
            "facets": facet_counts,
        }
        # Shard URLs carry the version, so a browser never mixes shards of two builds.
        meta["version"] = digest.hexdigest()[:12]
        data = _js("meta", 0, meta, index_name).encode("utf-8")
        (tmp / "meta.js").write_bytes(data)
        total += len(data)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    return ExportReport(len(terms), len(positions), doc_shards, total, len(records), table.reread,
                        len(long_positions), len(chunks), len(pieces))


def _deltas(numbers: list[int]) -> list[int]:
    return [n - (numbers[i - 1] if i else 0) for i, n in enumerate(numbers)]


def _year_runs(records: dict[int, list[Any]]) -> list[list[int]]:
    """[[first docnum, year], ...]: Pelican orders articles by date, so runs are few."""
    runs: list[list[int]] = []
    for docnum in sorted(records):
        year = int(records[docnum][2][:4])
        if not runs or runs[-1][1] != year:
            runs.append([docnum, year])
    return runs


def shard_path(kind: str, n: int) -> str:
    """Where file `n` of a kind lies under the export (`search-engine.js` has the same rule)."""
    return f"{kind}/{n // FOLDER_SIZE}/{n}.js"


def _write(folder: Path, kind: str, n: int, text: str, digest) -> int:
    path = folder / shard_path(kind, n)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    digest.update(data)
    path.write_bytes(data)
    return len(data)


def _term_shards(ordered, impact, documents: int):
    """(term buckets, position buckets, positions of the long lists, their chunks, their
    pieces) of the terms in `ordered`: a term whose postings are longer than LIST_FILE_CHARS
    stands in its buckets as `[k, first chunk, chunks, document frequency, first piece,
    span]` and `k`, the others as their postings and positions. Buckets are as many as it
    takes for the short postings to come to about TARGET_TERM_SHARD_BYTES each.
    `impact(field, value, count)` orders postings; `documents` is the number of documents."""
    by_key: dict[str, list[tuple[str, str, Any, Any]]] = {}
    long_positions: list[str] = []
    chunks: list[list[str]] = []
    pieces: list[str] = []
    posting_bytes = 0
    for (fieldname, text), (encoded, poses) in ordered:
        if len(encoded) > LIST_FILE_CHARS:
            numbers = decode_numbers(encoded)
            cut = _chunks(numbers, functools.partial(impact, fieldname))
            span, cut_pieces = _pieces(numbers, documents)
            entry = [len(long_positions), len(chunks), len(cut), numbers[0], len(pieces), span]
            by_key.setdefault(bucket_key(text), []).append((fieldname, text, entry, len(long_positions)))
            long_positions.append(poses)
            chunks += cut
            pieces += cut_pieces
            posting_bytes += len(text) + 26
        else:
            by_key.setdefault(bucket_key(text), []).append((fieldname, text, encoded, poses))
            posting_bytes += len(text) + len(encoded) + 6
    count = max(1, -(-posting_bytes // TARGET_TERM_SHARD_BYTES))
    terms: list[dict[str, dict[str, Any]]] = [{} for _ in range(count)]
    positions: list[dict[str, dict[str, Any]]] = [{} for _ in range(count)]
    for key, entries in by_key.items():
        n = fnv1a(key) % count
        for fieldname, text, encoded, poses in entries:
            terms[n].setdefault(fieldname, {})[text] = encoded
            positions[n].setdefault(fieldname, {})[text] = poses
    return terms, positions, long_positions, chunks, pieces


def _pieces(numbers: list[int], documents: int) -> tuple[int, list[str]]:
    """A long list (`numbers`: decoded postings, document frequency first) cut by document
    number for random access: (span, pieces), piece `j` holding the postings of documents
    `j * span` to `(j + 1) * span - 1` as a chunk holds them (its count first), the first
    document as the difference from `j * span`. The span is what makes pieces of
    PIECE_POSTINGS on average, so the engine finds a document's piece without a directory."""
    span = max(1, -(-PIECE_POSTINGS * documents // max(1, numbers[0])))
    out: list[list[int]] = [[] for _ in range(max(1, -(-documents // span)))]
    counts = [0] * len(out)
    previous = [j * span for j in range(len(out))]
    i, doc = 1, 0
    while i < len(numbers):
        doc += numbers[i]
        j = doc // span
        step = 3 if numbers[i + 1] & 1 else 2
        out[j] += [doc - previous[j], *numbers[i + 1:i + step]]
        previous[j] = doc
        counts[j] += 1
        i += step
    return span, [encode_numbers([count] + flat) for count, flat in zip(counts, out)]


def _chunks(numbers: list[int], impact) -> list[list[str]]:
    """A long list (`numbers`: decoded postings, document frequency first) cut into chunks
    of CHUNK_POSTINGS, the postings of highest `impact(value, count)` first (ties: lower
    document first), each `[postings in document order, value of the best posting after
    it]`; the last chunk's second item is empty."""
    postings: list[tuple[int, int, int]] = []  # (document, value, count)
    i, doc = 1, 0
    while i < len(numbers):
        doc += numbers[i]
        value = numbers[i + 1]
        count = numbers[i + 2] + 2 if value & 1 else 1
        postings.append((doc, value, count))
        i += 3 if value & 1 else 2
    ranked = sorted(postings, key=lambda p: (-impact(p[1], p[2]), p[0]))
    out = []
    for start in range(0, len(ranked), CHUNK_POSTINGS):
        chunk = sorted(ranked[start:start + CHUNK_POSTINGS])
        flat, previous = [len(chunk)], 0
        for doc, value, count in chunk:
            flat += (doc - previous, value, count - 2) if value & 1 else (doc - previous, value)
            previous = doc
        after = ranked[start + CHUNK_POSTINGS] if start + CHUNK_POSTINGS < len(ranked) else None
        bound = "" if after is None else encode_numbers([after[1], after[2] - 2] if after[1] & 1 else [after[1]])
        out.append([encode_numbers(flat), bound])
    return out


def _docs_per_shard(records: list[list[Any]]) -> int:
    """How many consecutive documents a document shard holds: as many as come to about
    TARGET_DOC_SHARD_BYTES on average (their records' JSON)."""
    size = sum(len(json.dumps(r, ensure_ascii=False).encode("utf-8")) + 1 for r in records)
    return max(1, TARGET_DOC_SHARD_BYTES * len(records) // max(1, size))
