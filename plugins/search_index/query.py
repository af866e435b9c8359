"""Querying the index from Python: what `invoke search` calls.

Whoosh's query language: words are ANDed, `OR`, `NOT`, "quoted phrases", `prefix*`,
`title:word`, `year:2016`, `date:[2016-01-01 to 2016-06-30]`. Words without a field search
title and body, the title boosted by SEARCH_FIELD_BOOSTS.

A process that searches more than once (the benchmark, a notebook) keeps the index, its
searcher and the query parser open between calls; they are reopened when the index folder
changes (every commit adds and removes files in it).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from whoosh import collectors, formats, index as whoosh_index, matching, query as whoosh_query, scoring
from whoosh.qparser import MultifieldParser, Plugin, PrefixPlugin, syntax
from whoosh.query.spans import Span, SpanNear2
from whoosh.qparser.dateparse import DateParserPlugin
from whoosh.searching import Results

from broadsheet.cache import collection_paused, stamp

from .analysis import TOKEN_PATTERN, OnePassAnalyzer, prefix_terms, term_of
from .index import INDEX_NAME, TEXT_FIELDS, index_path
from .whoosh_format import LENGTH_OF_CODE, flat_gaps_of, length_codes, read_postings

log = logging.getLogger(__name__)

DEFAULT_BOOSTS = {"title": 3.0, "body": 1.0}
DEFAULT_BM25 = {"B": 0.75, "K1": 1.2}
#: How matched words are marked in snippets printed by the CLI and in its JSON.
MATCH_OPEN, MATCH_CLOSE = "**", "**"
#: Snippet length in characters, and how much text comes before the first matched word.
SNIPPET_CHARS, SNIPPET_LEAD = 200, 60


class IndexMissing(RuntimeError):
    """No usable index where the site's settings say it is."""


class QueryError(ValueError):
    """A query the parser cannot use; the message is one line, for people."""


#: Longer queries are refused: no one types them, and Whoosh's parser takes seconds over them.
MAX_QUERY_CHARS = 2000


@dataclass
class Hit:
    title: str
    url: str
    date: str
    score: float
    snippet: str


def weighting_from_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Field boosts and BM25F parameters, shared by the CLI and the browser export."""
    settings = settings or {}
    bm25 = {**DEFAULT_BM25, **(settings.get("SEARCH_BM25") or {})}
    boosts = {**DEFAULT_BOOSTS, **(settings.get("SEARCH_FIELD_BOOSTS") or {})}
    return {"B": float(bm25["B"]), "K1": float(bm25["K1"]), "boosts": boosts}


def make_parser(schema, weighting: dict[str, Any]) -> MultifieldParser:
    parser = MultifieldParser(list(TEXT_FIELDS), schema, fieldboosts=weighting["boosts"],
                              phraseclass=AdjacentPhrase)
    parser.add_plugin(DateParserPlugin())
    parser.add_plugin(WordPrefixPlugin())
    return parser


class WordPrefix(whoosh_query.Prefix):
    """`word*` in a field of Broadsheet's analyser: the terms that `analysis.prefix_terms`
    says it looks for (beginning with the word or with its stem, or stems of the longer
    words it begins), in the index's order. Whoosh's Prefix matches the stem only, so
    `negotiat*` found nothing in an index that holds "negoti"."""

    def _btexts(self, ixreader):
        beginnings, whole = prefix_terms(self.text)
        found = set()
        for beginning in beginnings:
            found.update(ixreader.expand_prefix(self.fieldname, beginning))
        to_bytes = ixreader.schema[self.fieldname].to_bytes
        found.update(t for t in map(to_bytes, whole) if (self.fieldname, t) in ixreader)
        return sorted(found)


class WordPrefixPlugin(Plugin):
    """Turns the prefixes Whoosh's wildcard plugin finds into `WordPrefix` queries, made
    from the text as typed (Whoosh would hand the query class the stem only)."""

    def filters(self, parser):
        # After the wildcard plugin (50) makes the prefixes, before fields are assigned.
        return [(self.word_prefixes, 60)]

    def word_prefixes(self, parser, group):
        for i, node in enumerate(group):
            if type(node) is PrefixPlugin.PrefixNode:
                group[i] = _WordPrefixNode(node.text)
                group[i].__dict__.update(vars(node))
            elif isinstance(node, syntax.GroupNode):
                self.word_prefixes(parser, node)
        return group


class _WordPrefixNode(PrefixPlugin.PrefixNode):
    def query(self, parser):
        fieldname = self.fieldname or parser.fieldname
        field = parser.schema[fieldname] if parser.schema and fieldname in parser.schema else None
        if not isinstance(getattr(field, "analyzer", None), OnePassAnalyzer):
            return super().query(parser)
        return syntax.attach(WordPrefix(fieldname, self.text, boost=self.boost), self)


class AdjacentPhrase(whoosh_query.Phrase):
    """Whoosh's Phrase, matching "words next to each other" (slop 1) with a set lookup per
    position instead of Whoosh's general span search (a phrase over most of the corpus took
    several times as long as the same words without quotes). Same documents, same scores."""

    def matcher(self, searcher, context=None):
        field = searcher.schema[self.fieldname] if self.fieldname in searcher.schema else None
        if self.slop != 1 or len(self.words) < 2 or field is None or not field.format \
                or not field.format.supports("positions"):
            return super().matcher(searcher, context)
        reader, terms = searcher.reader(), []
        for word in self.words:
            try:
                word = field.to_bytes(word)
            except ValueError:
                return matching.NullMatcher()
            if (self.fieldname, word) not in reader:
                return matching.NullMatcher()
            terms.append(whoosh_query.Term(self.fieldname, word))
        m = _AdjacentMatcher([t.matcher(searcher, context) for t in terms])
        return matching.WrappingMatcher(m, boost=self.boost) if self.boost != 1.0 else m


class _AdjacentMatcher(SpanNear2.SpanNear2Matcher):
    def __init__(self, ms):
        super().__init__(ms, slop=1, ordered=True, mindist=1)

    def copy(self):
        return self.__class__([m.copy() for m in self.ms])

    def _get_spans(self):
        first, rest = self.ms[0], self.ms[1:]
        following = [set(m.value_as("positions")) for m in rest]
        n = len(rest)
        return [Span(p, p + n) for p in first.value_as("positions")
                if all(p + k in s for k, s in enumerate(following, 1))]


def model(weighting: dict[str, Any]) -> scoring.BM25F:
    return LengthTableBM25F(B=weighting["B"], K1=weighting["K1"])


class LengthTableBM25F(scoring.BM25F):
    """Whoosh's BM25F, reading each document's field length from a list made once per segment
    reader instead of from the length column for every scored document (the same numbers, so
    the same scores; a query over most of the corpus spent a fifth of its time there)."""

    def scorer(self, searcher, fieldname, text, qf=1):
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        if hasattr(scorer, "dfl"):
            scorer.dfl = _length_table(searcher.reader(), fieldname).__getitem__
        return scorer


def _length_table(reader, fieldname: str) -> list:
    """`reader.doc_field_length(d, fieldname, 1)` of every document `d`."""
    tables = reader.__dict__.setdefault("_broadsheet_lengths", {})
    if fieldname not in tables:
        codes = length_codes(reader, fieldname)
        if codes is None:
            tables[fieldname] = [reader.doc_field_length(d, fieldname, 1)
                                 for d in range(reader.doc_count_all())]
        else:
            tables[fieldname] = list(map(LENGTH_OF_CODE.__getitem__, codes))
    return tables[fieldname]


@dataclass
class _Open:
    stamp: tuple | None
    ix: Any
    searcher: Any
    parser: MultifieldParser


#: Open searchers by (index folder, weighting).
_open: dict[tuple[str, str], _Open] = {}


def open_index(output: Path, settings: dict[str, Any] | None = None, part: str = ""):
    """The index of `output` (`part`: an index inside its folder, such as VERSIONS_INDEX_DIR)."""
    path = index_path(output, (settings or {}).get("SEARCH_INDEX_PATH")) / part
    if not whoosh_index.exists_in(str(path), INDEX_NAME):
        raise IndexMissing(
            f"no search index at {path} (it is written by every build of {output}; "
            f"run `invoke rebuild --output {output}` or `invoke build --output {output}` first)")
    return whoosh_index.open_dir(str(path), indexname=INDEX_NAME)


def _searcher(output: Path, settings: dict[str, Any] | None, weighting: dict[str, Any], part: str = "") -> _Open:
    """The cached searcher of the index of `output` (or of its `part`), reopened if the folder changed."""
    path = index_path(output, (settings or {}).get("SEARCH_INDEX_PATH")) / part
    key = (str(path), repr(sorted(weighting.items())))
    folder = stamp(path)
    cached = _open.get(key)
    if cached is not None and cached.stamp == folder:
        return cached
    if cached is not None:
        cached.searcher.close()
        del _open[key]
    ix = open_index(output, settings, part)
    opened = _Open(folder, ix, ix.searcher(weighting=model(weighting)), make_parser(ix.schema, weighting))
    _open[key] = opened
    return opened


#: `version:all` in a query: earlier versions of articles are searched too (their own index).
ALL_VERSIONS = re.compile(r"(?<!\S)version:all(?!\S)", re.IGNORECASE)


def search(output: Path, text: str, limit: int = 10,
           settings: dict[str, Any] | None = None) -> tuple[list[Hit], int, float]:
    """Ranked hits for `text` in the site built into `output`: (hits, total matches, seconds).
    The latest texts only, unless `text` holds `version:all`: then earlier versions too, their
    hits (linking to the version pages) ranked among the others by score."""
    text, all_versions = ALL_VERSIONS.subn(" ", text)
    hits, total, seconds = _search_part(output, text, limit, settings, "")
    if not all_versions:
        return hits, total, seconds
    from . import VERSIONS_INDEX_DIR

    try:
        earlier, more, took = _search_part(output, text, limit, settings, VERSIONS_INDEX_DIR)
    except IndexMissing:  # a site built before versions were indexed: it has none to search
        return hits, total, seconds
    # Ties by day, then URL: what the search page's records hold, so that it orders the same.
    merged = sorted(hits + earlier, key=lambda h: (-h.score, h.date[:10], h.url))[:limit]
    return merged, total + more, seconds + took


def _search_part(output: Path, text: str, limit: int, settings: dict[str, Any] | None,
                 part: str) -> tuple[list[Hit], int, float]:
    weighting = weighting_from_settings(settings)
    opened = _searcher(output, settings, weighting, part)
    started = time.perf_counter()
    query = parse(opened.parser, text)
    results = top_hits(opened.searcher, query, limit)
    wanted = matched_terms(query, opened.searcher.reader())
    hits = []
    for hit in results:
        fields = hit.fields()
        hits.append(Hit(title=fields["title"], url=fields["url"], date=fields["display_date"],
                        score=round(hit.score, 4), snippet=snippet(fields["body"], wanted)))
    return hits, len(results), time.perf_counter() - started


def parse(parser: MultifieldParser, text: str):
    """The query `text` stands for, or QueryError saying in one line why there is none."""
    shown = repr(text if len(text) <= 60 else text[:57] + "...")
    if not text.strip():
        raise QueryError("empty query: give a word, a \"phrase\", title:word, year:2016 or date:[2016-01 to 2016-06]")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS:,}")
    try:
        query = parser.parse(text)
    except Exception as exc:  # noqa: BLE001 -- Whoosh's parser fails on some input (IndexError on "NOT NOT NOT")
        raise QueryError(f"cannot read the query {shown} ({type(exc).__name__}): check its OR, AND, NOT, "
                         "brackets and quotes") from None
    problems = []
    stack = [query]
    while stack:  # a loop, not recursion: a query may nest deeply
        node = stack.pop()
        if getattr(node, "error", None) is not None:
            problems.append(node.error)
        stack.extend(node.children())
    if problems:
        raise QueryError(f"cannot use the query {shown}: {_problem(problems[0])}")
    if type(query) is type(whoosh_query.NullQuery):
        raise QueryError(f"nothing to search for in {shown}: OR, AND and NOT need words beside them, and "
                         "very common words (the, of, ...) are not indexed")
    return query


def _problem(error) -> str:
    """Whoosh's note on a part of a query, for people: an exception for a number it could not
    read, the text alone for a date."""
    if isinstance(error, Exception):
        return " ".join(str(error).split()) + " (year: takes a year such as 2016)"
    return f"{' '.join(str(error).split())!r} is not a date (date:2016, date:2016-03 or date:[2016-01 to 2016-06])"


def matched_terms(query, reader) -> set[str]:
    """Index terms of the text fields that the query asks for (prefixes expanded), leaving
    out the words under NOT: the words a snippet marks."""
    terms: set[str] = set()

    def walk(node):
        if isinstance(node, whoosh_query.Not):
            return
        if node.is_leaf():
            terms.update(text.decode("utf-8") if isinstance(text, bytes) else text
                         for field, text in node.existing_terms(reader, expand=True)
                         if field in TEXT_FIELDS)
        for child in node.children():
            walk(child)

    walk(query)
    return terms


_WORD = re.compile(TOKEN_PATTERN)
_term_of = functools.lru_cache(maxsize=100_000)(term_of)


def snippet(body: str, wanted: set[str]) -> str:
    """About SNIPPET_CHARS characters of `body` from just before its first matched word
    (the start of the text when none matches), matched words between MATCH_OPEN/CLOSE.

    Words are analysed as the index analyses them, but only until the window is full, so
    the cost does not grow with the length of the article."""
    words = _WORD.finditer(body)
    start, marks = 0, []
    for match in words:
        if _term_of(match.group(0)) in wanted:
            start = _word_start(body, match.start() - SNIPPET_LEAD) if match.start() > SNIPPET_LEAD else 0
            marks.append(match.span())
            break
    end = min(len(body), start + SNIPPET_CHARS)
    if marks:
        for match in words:
            if match.end() > end:
                break
            if _term_of(match.group(0)) in wanted:
                marks.append(match.span())
    if end < len(body):
        space = body.rfind(" ", start, end)
        end = space if space > start + SNIPPET_CHARS // 2 else end
    pieces, at = [], start
    for s, e in marks:
        if e > end:
            break
        pieces += [body[at:s], MATCH_OPEN, body[s:e], MATCH_CLOSE]
        at = e
    pieces.append(body[at:end])
    text = " ".join("".join(pieces).split())
    return ("\u2026" if start else "") + text + ("\u2026" if end < len(body) else "")


def _word_start(body: str, at: int) -> int:
    """`at`, moved forward to the start of the next word if it falls inside one."""
    space = body.find(" ", at)
    return space + 1 if 0 <= space < at + 30 else at


def top_hits(searcher, query, limit: int | None):
    """The `limit` best hits in Whoosh's order (score, then document number), with the count
    of every match as their length: what scoring every match through Whoosh's matchers gives.

    Whoosh scores a document at a time through its tree of matchers, a dozen Python calls
    per document and term, and a common word matches most of the corpus (10,000 articles:
    50-90 ms for two words or a phrase). Here every match is scored a posting list at a time
    (`score_every_match`), as arrays. When a document's score is the sum of at most two parts at every
    step, the sums are Whoosh's to the last bit (addition of two numbers does not depend on
    their order); otherwise the documents that can reach the top are scored again by
    Whoosh's own matchers, so that hits, order and scores never differ from Whoosh's.

    Whoosh's block skipping (`optimize=True`) is no help: it skips nothing on a corpus where
    most words occur in most articles, then matches the query a second time to count the
    hits, and its estimate lost the best hit of "syrian marines" on the 10k corpus.
    """
    if limit is None:
        return _top_hits_by_matcher(searcher, query, None)
    context = searcher.context()
    with collection_paused():
        scores = score_every_match(searcher, query, context)
    if _sums_two_at_a_time(query):
        top = _best(scores, limit)
    else:
        top = _rescored_best(searcher, query, context, scores, limit)
        if top is None:
            log.warning("search: %s matched documents that Whoosh's matchers do not; "
                        "scored it document by document instead", query)
            return _top_hits_by_matcher(searcher, query, limit)
    results = Results(searcher, query, top)
    results.collector = _Matched(scores)
    return results


class _Matched:
    """What `Results` asks its collector for: how many documents matched, and which."""

    def __init__(self, scores: Matches):
        self.scores = scores

    def count(self) -> int:
        return len(self.scores.ids)

    def computes_count(self) -> bool:
        return True

    def all_ids(self):
        return self.scores.ids.tolist()


def _top_hits_by_matcher(searcher, query, limit: int | None):
    """Whoosh's own search, every match scored once by its matchers into a plain top-N heap:
    the reference that `top_hits` equals."""
    if limit is None:
        collector = collectors.UnlimitedCollector()
    else:
        collector = collectors.TopCollector(limit=limit, usequality=False, replace=0)
    searcher.search_with_collector(query, collector)
    return collector.results()


def _best(scores: Matches, limit: int, slack: float = 0.0) -> list[tuple[float, int]]:
    """[(score, docnum)] of the `limit` best, higher scores first, then lower numbers; with
    `slack`, also those within that fraction of the last one."""
    ids, values = scores
    if limit <= 0:
        return []
    if len(values) > limit:
        last = float(np.partition(values, len(values) - limit)[len(values) - limit])
        floor = last - slack * max(1.0, abs(last))
        keep = values >= floor
        ids, values = ids[keep], values[keep]
    order = np.lexsort((ids, -values))
    if not slack:
        order = order[:limit]
    return list(zip(values[order].tolist(), ids[order].tolist()))


#: Sums taken in another order differ from Whoosh's by a few units in the last place; the
#: documents within this fraction of the last hit's score are scored again.
_RESCORE_SLACK = 1e-9


def _rescored_best(searcher, query, context, scores: dict[int, float], limit: int):
    """`_best`, each candidate scored again by Whoosh's matchers; None if one of them is not
    a match for Whoosh."""
    candidates = sorted(d for _, d in _best(scores, limit, slack=_RESCORE_SLACK))
    exact = []
    for subsearcher, offset in searcher.leaf_searchers():
        end = offset + subsearcher.doc_count_all()
        mine = [d for d in candidates if offset <= d < end]
        matcher = query.matcher(subsearcher, context) if mine else None
        for docnum in mine:
            if matcher.is_active():
                matcher.skip_to(docnum - offset)
            if not matcher.is_active() or matcher.id() != docnum - offset:
                return None
            exact.append((matcher.score(), docnum))
    return _best(_from_dict({d: s for s, d in exact}), limit)


def _sums_two_at_a_time(node) -> bool:
    """Whether `score_every_match` adds up `node`'s scores exactly as Whoosh's matchers do:
    no AND, OR or phrase combines more than two parts."""
    kind = type(node)
    if kind is whoosh_query.And or kind is whoosh_query.Or:
        return len(node.subqueries) <= 2 and all(_sums_two_at_a_time(q) for q in node.subqueries)
    if kind is AdjacentPhrase:
        return len(node.words) <= 2
    return True  # a term, or a part scored by Whoosh's own matcher


class Matches(NamedTuple):
    """Matched documents in ascending order, and their scores."""

    ids: np.ndarray
    scores: np.ndarray


_NONE = Matches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


def _from_dict(found: dict[int, float]) -> Matches:
    if not found:
        return _NONE
    ids = np.fromiter(found.keys(), dtype=np.int64, count=len(found))
    scores = np.fromiter(found.values(), dtype=np.float64, count=len(found))
    order = np.argsort(ids, kind="stable")
    return Matches(ids[order], scores[order])


def score_every_match(searcher, query, context=None) -> Matches:
    """Every document that `query` matches, and its score.

    Terms and adjacent phrases of BM25F-scored fields are read a posting block at a time
    and scored a posting list at a time, with Whoosh's arithmetic (element by element, the
    same operations in the same order); AND, OR and NOT combine them as Whoosh's matchers
    do. Any other part of a query is scored by Whoosh's own matcher for it. A score equals
    Whoosh's up to the order in which its parts are added."""
    context = context or searcher.context()
    parts = []
    for subsearcher, offset in searcher.leaf_searchers():
        ids, scores = _score_node(query, subsearcher, context)
        parts.append(Matches(ids + offset if offset else ids, scores))
    if len(parts) == 1:
        return parts[0]
    return Matches(np.concatenate([p.ids for p in parts]), np.concatenate([p.scores for p in parts]))


#: What a document gets from Whoosh for each NOT of an AND it passes (InverseMatcher's weight).
_NOT_SCORE = 1.0


def _score_node(node, searcher, context) -> Matches:
    kind = type(node)
    if kind is whoosh_query.And:
        return _boosted(_score_and(node, searcher, context), node.boost)
    if kind is whoosh_query.Or and not node.minmatch and not node.scale \
            and not any(isinstance(q, whoosh_query.Not) for q in node.subqueries):
        return _boosted(_score_or(node, searcher, context), node.boost)
    found = None
    if kind is whoosh_query.Term:
        found = _score_term(node, searcher, context)
    elif kind is AdjacentPhrase:
        found = _score_adjacent_phrase(node, searcher, context)
    return found if found is not None else _score_by_matcher(node, searcher, context)


def _boosted(scores: Matches, boost: float) -> Matches:
    return scores if boost == 1.0 else Matches(scores.ids, scores.scores * boost)


def _score_and(node, searcher, context) -> Matches:
    wanted = [q for q in node.subqueries if not isinstance(q, whoosh_query.Not)]
    unwanted = [q.query for q in node.subqueries if isinstance(q, whoosh_query.Not)]
    if not wanted:
        return _score_by_matcher(node, searcher, context)
    parts = sorted((_score_node(q, searcher, context) for q in wanted), key=lambda m: len(m.ids))
    common = parts[0].ids
    for part in parts[1:]:
        common = np.intersect1d(common, part.ids, assume_unique=True)
    for q in unwanted:
        if len(common):
            common = np.setdiff1d(common, _score_node(q, searcher, context).ids, assume_unique=True)
    # Added in the order the dictionaries were: the smallest part first, then the next.
    scores = None
    for ids, values in parts:
        mine = values[np.searchsorted(ids, common)] if len(ids) != len(common) else values
        scores = mine if scores is None else scores + mine
    if unwanted:
        scores = scores + _NOT_SCORE * len(unwanted)
    return Matches(common, scores)


def _score_or(node, searcher, context) -> Matches:
    parts = sorted((_score_node(q, searcher, context) for q in node.subqueries), key=lambda m: len(m.ids))
    ids = _union([p.ids for p in parts])
    # As `get(d, 0.0) + s` over the parts, the largest first: 0.0 + s is s.
    scores = np.zeros(len(ids), dtype=np.float64)
    for k, (part_ids, values) in enumerate([parts[-1]] + parts[:-1]):
        at = np.searchsorted(ids, part_ids)
        if k == 0:
            scores[at] = values
        else:
            scores[at] += values
    return Matches(ids, scores)


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    """The sorted union of sorted arrays (by sorting: numpy's `union1d` hashes, ten times slower here)."""
    if len(arrays) == 1:
        return arrays[0]
    ids = np.concatenate(arrays)
    ids.sort(kind="stable")
    if len(ids) > 1:
        ids = ids[np.concatenate(([True], ids[1:] != ids[:-1]))]
    return ids


def _score_by_matcher(node, searcher, context) -> Matches:
    """Whoosh's matcher for `node`, read a document at a time."""
    scores = {}
    matcher = node.matcher(searcher, context)
    while matcher.is_active():
        scores[matcher.id()] = matcher.score()
        matcher.next()
    return _from_dict(scores)


def _term_bytes(searcher, fieldname: str, text) -> bytes | None:
    """The term as the index stores it, or None if it is not in the index."""
    try:
        text = searcher.schema[fieldname].to_bytes(text)
    except ValueError:
        return None
    return text if (fieldname, text) in searcher.reader() else None


def _bm25_scorer(searcher, context, fieldname: str, text: bytes):
    """Whoosh's BM25F scorer of a term, or None when the search scores it some other way."""
    weighting = context.weighting
    if not isinstance(weighting, scoring.BM25F) or not searcher.schema[fieldname].scorable:
        return None
    scorer = weighting.scorer(searcher, fieldname, text)
    return scorer if type(scorer) is scoring.BM25FScorer else None


def _score_term(node, searcher, context) -> Matches | None:
    if node.fieldname not in searcher.schema:
        return None
    text = _term_bytes(searcher, node.fieldname, node.text)
    if text is None:
        return _NONE
    scorer = _bm25_scorer(searcher, context, node.fieldname, text)
    postings = read_postings(searcher.reader(), node.fieldname, text) if scorer else None
    if postings is None:
        return None
    ids, weights, _ = postings
    ids = np.array(ids, dtype=np.int64)
    norms = _bm25_norms_array(searcher.reader(), node.fieldname, scorer.B, scorer.K1, scorer.avgfl)
    w = np.array(weights, dtype=np.float64)
    # Whoosh's `bm25()` times the boost, an operation at a time over the arrays (each
    # rounded as Python's is, so the same bits).
    scores = scorer.idf * ((w * (scorer.K1 + 1)) / (w + norms[ids]))
    if node.boost != 1.0:
        scores = scores * node.boost
    return Matches(ids, scores)


def _bm25_norms(reader, fieldname: str, B: float, K1: float, avgfl: float) -> list[float]:
    """`K1 * ((1 - B) + B * fl / avgfl)` of every document, as `bm25()` computes it, made
    once per segment reader."""
    tables = reader.__dict__.setdefault("_broadsheet_norms", {})
    key = (fieldname, B, K1, avgfl)
    if key not in tables:
        tables[key] = [K1 * ((1 - B) + B * fl / avgfl) if fl is not None else None
                       for fl in _length_table(reader, fieldname)]
    return tables[key]


def _bm25_norms_array(reader, fieldname: str, B: float, K1: float, avgfl: float) -> np.ndarray:
    """`_bm25_norms` as an array (NaN for a document without the field: it has no postings)."""
    tables = reader.__dict__.setdefault("_broadsheet_norm_arrays", {})
    key = (fieldname, B, K1, avgfl)
    if key not in tables:
        norms = _bm25_norms(reader, fieldname, B, K1, avgfl)
        tables[key] = np.array([math.nan if n is None else n for n in norms], dtype=np.float64)
    return tables[key]


def _score_adjacent_phrase(node, searcher, context) -> Matches | None:
    """The documents where the words stand next to each other in order, scored as the sum
    of the words' scores: what `_AdjacentMatcher` matches and scores.

    The documents that have every word are found first from postings without positions;
    positions are then read only for them, and matched as arrays: (document, position - k)
    of the k-th word is a start of the phrase when every word has it."""
    fieldname = node.fieldname
    if node.slop != 1 or len(node.words) < 2 or fieldname not in searcher.schema \
            or type(searcher.schema[fieldname].format) is not formats.Positions:
        return None
    reader, words = searcher.reader(), []
    for word in node.words:
        text = _term_bytes(searcher, fieldname, word)
        if text is None:
            return _NONE
        scorer = _bm25_scorer(searcher, context, fieldname, text)
        blocks: list[tuple[list[int], bytes]] = []
        postings = read_postings(reader, fieldname, text, blocks=blocks) if scorer else None
        if postings is None:
            return None
        ids, weights, _ = postings
        words.append((blocks, scorer, np.array(ids, dtype=np.int64), np.array(weights, dtype=np.float64)))
    common = words[0][2]
    for _, _, ids, _ in words[1:]:
        common = np.intersect1d(common, ids, assume_unique=True)
    if not len(common):
        return _NONE
    wanted = set(common.tolist())
    # Each word's weights at the common documents, and its positions there as keys
    # document index * _SPAN + position - its place in the phrase.
    starts = None
    picked = []
    for k, (blocks, scorer, ids, weights) in enumerate(words):
        mine = weights[np.searchsorted(ids, common)] if len(ids) != len(common) else weights
        picked.append((scorer, mine))
        counts = mine.astype(np.int64)
        gaps = flat_gaps_of(blocks, wanted, mine.tolist())
        flat = np.fromiter(gaps, dtype=np.int64, count=len(gaps))
        running = np.cumsum(flat)
        before = np.concatenate(([0], running[np.cumsum(counts)[:-1] - 1]))
        keys = np.repeat(np.arange(len(common), dtype=np.int64) * _SPAN - before, counts) + running - k
        starts = keys if starts is None else np.intersect1d(starts, keys, assume_unique=True)
    found = np.zeros(len(common), dtype=bool)
    found[starts // _SPAN] = True
    matched = common[found]
    norms = _bm25_norms_array(reader, fieldname, picked[0][0].B, picked[0][0].K1, picked[0][0].avgfl)[matched]
    scores = None
    for scorer, weights in picked:  # the words' scores added up in order, as `_AdjacentMatcher` does
        w = weights[found]
        word_scores = scorer.idf * ((w * (scorer.K1 + 1)) / (w + norms))
        scores = word_scores if scores is None else scores + word_scores
    if node.boost != 1.0:
        scores = scores * node.boost
    return Matches(matched, scores)


#: Wider than any position list: (document index, position) as one number.
_SPAN = 1 << 32


def top_urls(ix, text: str, weighting: dict[str, Any], limit: int = 10) -> list[str]:
    """URLs of the top hits, in order (the parity test compares these with the browser's)."""
    query = make_parser(ix.schema, weighting).parse(text)
    with ix.searcher(weighting=model(weighting)) as searcher:
        return [hit["url"] for hit in top_hits(searcher, query, limit)]


def hits_as_json(hits: list[Hit]) -> list[dict[str, Any]]:
    return [asdict(h) for h in hits]
