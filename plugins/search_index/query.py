"""Querying the index from Python: what `invoke search` calls.

Whoosh's query language: words are ANDed, `OR`, `NOT`, "quoted phrases", `prefix*`,
`title:word`, `year:2016`, `date:[2016-01-01 to 2016-06-30]`. Words without a field search
title and body, the title boosted by SEARCH_FIELD_BOOSTS.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from whoosh import highlight, index as whoosh_index, scoring
from whoosh.qparser import MultifieldParser
from whoosh.qparser.dateparse import DateParserPlugin

from .index import INDEX_NAME, TEXT_FIELDS, index_path

DEFAULT_BOOSTS = {"title": 3.0, "body": 1.0}
DEFAULT_BM25 = {"B": 0.75, "K1": 1.2}
#: How matched words are marked in snippets printed by the CLI and in its JSON.
MATCH_OPEN, MATCH_CLOSE = "**", "**"


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
    parser = MultifieldParser(list(TEXT_FIELDS), schema, fieldboosts=weighting["boosts"])
    parser.add_plugin(DateParserPlugin())
    return parser


def model(weighting: dict[str, Any]) -> scoring.BM25F:
    return scoring.BM25F(B=weighting["B"], K1=weighting["K1"])


class _MarkFormatter(highlight.Formatter):
    def format_token(self, text, token, replace=False):
        return f"{MATCH_OPEN}{highlight.get_text(text, token, replace)}{MATCH_CLOSE}"


def open_index(output: Path, settings: dict[str, Any] | None = None):
    path = index_path(output, (settings or {}).get("SEARCH_INDEX_PATH"))
    if not whoosh_index.exists_in(str(path), INDEX_NAME):
        raise IndexMissing(
            f"no search index at {path} (it is written by every build of {output}; "
            f"run `invoke build --output {output}` first)")
    return whoosh_index.open_dir(str(path), indexname=INDEX_NAME)


def search(output: Path, text: str, limit: int = 10,
           settings: dict[str, Any] | None = None) -> tuple[list[Hit], int, float]:
    """Ranked hits for `text` in the site built into `output`: (hits, total matches, seconds)."""
    weighting = weighting_from_settings(settings)
    ix = open_index(output, settings)
    started = time.perf_counter()
    query = make_parser(ix.schema, weighting).parse(text)
    with ix.searcher(weighting=model(weighting)) as searcher:
        results = searcher.search(query, limit=limit)
        results.fragmenter = highlight.ContextFragmenter(maxchars=200, surround=60)
        results.formatter = _MarkFormatter()
        hits = []
        for hit in results:
            snippet = hit.highlights("body") or hit["body"][:200]
            hits.append(Hit(title=hit["title"], url=hit["url"], date=hit["display_date"],
                            score=round(hit.score, 4), snippet=" ".join(snippet.split())))
        total = len(results)
    return hits, total, time.perf_counter() - started


def top_urls(ix, text: str, weighting: dict[str, Any], limit: int = 10) -> list[str]:
    """URLs of the top hits, in order (the parity test compares these with the browser's)."""
    query = make_parser(ix.schema, weighting).parse(text)
    with ix.searcher(weighting=model(weighting)) as searcher:
        return [hit["url"] for hit in searcher.search(query, limit=limit)]


def hits_as_json(hits: list[Hit]) -> list[dict[str, Any]]:
    return [asdict(h) for h in hits]
