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
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from whoosh import collectors, index as whoosh_index, matching, query as whoosh_query, scoring
from whoosh.qparser import MultifieldParser
from whoosh.query.spans import Span, SpanNear2
from whoosh.qparser.dateparse import DateParserPlugin

from .analysis import TOKEN_PATTERN, term_of
from .index import INDEX_NAME, TEXT_FIELDS, index_path

DEFAULT_BOOSTS = {"title": 3.0, "body": 1.0}
DEFAULT_BM25 = {"B": 0.75, "K1": 1.2}
#: How matched words are marked in snippets printed by the CLI and in its JSON.
MATCH_OPEN, MATCH_CLOSE = "**", "**"
#: Snippet length in characters, and how much text comes before the first matched word.
SNIPPET_CHARS, SNIPPET_LEAD = 200, 60


class IndexMissing(RuntimeError):
    """No usable index where the site's settings say it is."""


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
    return parser


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
    tables = reader.__dict__.setdefault("_broadsheet_lengths", {})
    if fieldname not in tables:
        tables[fieldname] = [reader.doc_field_length(d, fieldname, 1)
                             for d in range(reader.doc_count_all())]
    return tables[fieldname]


@dataclass
class _Open:
    stamp: tuple[int, int]
    ix: Any
    searcher: Any
    parser: MultifieldParser


#: Open searchers by (index folder, weighting).
_open: dict[tuple[str, str], _Open] = {}


def _folder_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def open_index(output: Path, settings: dict[str, Any] | None = None):
    path = index_path(output, (settings or {}).get("SEARCH_INDEX_PATH"))
    if not whoosh_index.exists_in(str(path), INDEX_NAME):
        raise IndexMissing(
            f"no search index at {path} (it is written by every build of {output}; "
            f"run `invoke build --output {output}` first)")
    return whoosh_index.open_dir(str(path), indexname=INDEX_NAME)


def _searcher(output: Path, settings: dict[str, Any] | None, weighting: dict[str, Any]) -> _Open:
    """The cached searcher of the index of `output`, reopened if the folder changed."""
    path = index_path(output, (settings or {}).get("SEARCH_INDEX_PATH"))
    key = (str(path), repr(sorted(weighting.items())))
    stamp = _folder_stamp(path)
    cached = _open.get(key)
    if cached is not None and cached.stamp == stamp:
        return cached
    if cached is not None:
        cached.searcher.close()
        del _open[key]
    ix = open_index(output, settings)
    opened = _Open(stamp, ix, ix.searcher(weighting=model(weighting)), make_parser(ix.schema, weighting))
    _open[key] = opened
    return opened


def search(output: Path, text: str, limit: int = 10,
           settings: dict[str, Any] | None = None) -> tuple[list[Hit], int, float]:
    """Ranked hits for `text` in the site built into `output`: (hits, total matches, seconds)."""
    weighting = weighting_from_settings(settings)
    opened = _searcher(output, settings, weighting)
    started = time.perf_counter()
    query = opened.parser.parse(text)
    results = top_hits(opened.searcher, query, limit)
    wanted = matched_terms(query, opened.searcher.reader())
    hits = []
    for hit in results:
        fields = hit.fields()
        hits.append(Hit(title=fields["title"], url=fields["url"], date=fields["display_date"],
                        score=round(hit.score, 4), snippet=snippet(fields["body"], wanted)))
    return hits, len(results), time.perf_counter() - started


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


def top_hits(searcher, query, limit: int):
    """The `limit` best hits, every match scored once (which also counts them).

    Whoosh's default search skips blocks of postings that it estimates cannot reach the top,
    then matches the query a second time to count the hits. On the synthetic corpus, where
    most words occur in most articles, nothing is skipped, so the second pass only cost time
    (a third of it), and the estimate was wrong at times: "syrian marines" lost its best hit.
    """
    collector = collectors.TopCollector(limit=limit, usequality=False, replace=0)
    searcher.search_with_collector(query, collector)
    return collector.results()


def top_urls(ix, text: str, weighting: dict[str, Any], limit: int = 10) -> list[str]:
    """URLs of the top hits, in order (the parity test compares these with the browser's)."""
    query = make_parser(ix.schema, weighting).parse(text)
    with ix.searcher(weighting=model(weighting)) as searcher:
        return [hit["url"] for hit in top_hits(searcher, query, limit)]


def hits_as_json(hits: list[Hit]) -> list[dict[str, Any]]:
    return [asdict(h) for h in hits]
