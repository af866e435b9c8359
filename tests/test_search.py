"""Search (plugins/search_index): the Whoosh index, `invoke search`, the browser index and page.

Sites are built for real from dumps written here (the synthetic corpus plus a few
hand-made articles in English, Arabic and with markup in the title) and from FA-KES.
The browser engine is checked against Whoosh under Node (analysis, ranking parity) and
in Chromium over a loopback HTTP server and from file://.
"""

from __future__ import annotations

import csv
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from broadsheet.cache import Store
from conftest import FAKES_CSV, FAKES_DIR, ROOT, build_site, ingest_into

sys.path.insert(0, str(ROOT / "plugins"))

from search_index import SOURCES, analysis, export  # noqa: E402
from search_index.index import INDEX_NAME, index_path  # noqa: E402
from search_index.query import search, top_urls, weighting_from_settings  # noqa: E402

from broadsheet.article import Article, Source  # noqa: E402
from broadsheet.dumps import render_dump  # noqa: E402

NODE = shutil.which("node") or "/usr/bin/node"
JS_DIR = ROOT / "theme" / "static" / "js"
NODE_QUERY = ROOT / "tests" / "search" / "node_query.js"
TEHRAN = ZoneInfo("Asia/Tehran")

needs_fakes = pytest.mark.skipif(
    not FAKES_CSV.exists(),
    reason=f"FA-KES is not in {FAKES_DIR}: download FA-KES-Dataset.csv from Zenodo record 2607278")

#: Hand-made articles with words nothing else in the corpus uses.
HANDMADE = [
    ("Zanzibar Ferry Inspection Ordered After Harbour Fire", datetime(2015, 6, 3, 10, 0, 0),
     ["Port authorities in Zanzibar ordered inspectors to begin inspecting every ferry after a fire.",
      "Officials said quarantine harbour procedures would stay in force until the inspections end."]),
    ("Statement From Damascus on the Ceasefire", datetime(2016, 2, 27, 18, 30, 0),
     ["The ministry published the statement in Arabic: قالَ الرئيسُ إنَّ الجيشَ السوريَّ مستعدٌّ للهدنة",
      "The spokesman, أحمد المصري, read it aloud; the poster said كـتـاب الهدنة in large letters."]),
    ('<img src=x onerror="window.__pwned=1"> Quokka Census Report', datetime(2017, 9, 12, 8, 15, 0),
     ["Rangers counted quokkas on the island; the <b>census</b> & survey took three weeks."]),
]


def write_dumps(raw: Path) -> None:
    from broadsheet.corpus import generate_corpus, write_corpus

    write_corpus(generate_corpus(60, seed=11), raw / "synthetic")
    for n, (title, date, paragraphs) in enumerate(HANDMADE):
        article = Article(title=title, date=date.replace(tzinfo=TEHRAN), paragraphs=paragraphs,
                          source=Source(file="", sha256="", bytes=0, encoding="utf-8"))
        (raw / f"handmade_{n}.txt").write_text(render_dump(article), encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("search")
    raw, content, output = base / "raw", base / "content", base / "output"
    raw.mkdir()
    write_dumps(raw)
    ingest_into(raw, content)
    build_site(content, output)
    return {"base": base, "content": content, "output": output}


def node_run(output: Path, queries=(), texts=(), limit=10, all=False, best=0, year=0) -> dict:
    payload = json.dumps({"queries": list(queries), "analyse": list(texts), "limit": limit, "all": all,
                          "best": best, "year": year})
    done = subprocess.run([NODE, str(NODE_QUERY), str(JS_DIR), str(output / "search")],
                          input=payload, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout)


def open_index(output: Path):
    from whoosh import index as whoosh_index

    return whoosh_index.open_dir(str(index_path(output)), indexname=INDEX_NAME)


# -- the index and the CLI ------------------------------------------------------------

def test_index_lives_beside_the_output_not_in_it(site):
    output = site["output"]
    assert (index_path(output) / f"_{INDEX_NAME}_1.toc").exists() or \
        any((index_path(output)).glob(f"_{INDEX_NAME}_*.toc"))
    assert not list(output.rglob("*.toc")) and not list(output.rglob("*.seg"))
    assert (output / "search.html").exists() and (output / "search" / "meta.js").exists()


@pytest.mark.parametrize("query, expected_title", [
    ("zanzibar", "Zanzibar Ferry Inspection"),                   # title word
    ('"quarantine harbour procedures"', "Zanzibar Ferry Inspection"),  # body phrase
    ("inspected ferries", "Zanzibar Ferry Inspection"),          # stemmed forms
    ("title:quokka", "Quokka Census Report"),
    ("الجيش", "Statement From Damascus"),                         # Arabic, diacritics in the text
    ("احمد", "Statement From Damascus"),                          # bare alef finds hamza alef
    ("كتاب", "Statement From Damascus"),                          # tatweel in the text
    ("إحمد OR nothingmatches", "Statement From Damascus"),        # alef variant in the query
    ("insp*", "Zanzibar Ferry Inspection"),
])
def test_cli_finds(site, query, expected_title):
    hits, total, _ = search(site["output"], query, 10)
    assert total >= 1 and any(expected_title in h.title for h in hits), (query, [h.title for h in hits])


def test_cli_prefix_matches_whole_words(site):
    """`negotiat*` finds the articles with "negotiations" although the index holds "negoti";
    a prefix still finds the words it begins, and their stems."""
    hits, total, _ = search(site["output"], "negotiat*", 10)
    _, words, _ = search(site["output"], "negotiations", 10)
    assert total == words > 0
    assert any("**Negotiations**" in h.snippet or "**negotiations**" in h.snippet for h in hits)
    for prefix, word in [("ambush*", "ambushed"), ("negoti*", "negotiations"), ("destroy*", "destroyed")]:
        _, total, _ = search(site["output"], prefix, 10)
        _, words, _ = search(site["output"], word, 10)
        assert total >= words > 0, prefix


def test_cli_snippet_marks_matched_words_near_them(site):
    hits, _, _ = search(site["output"], '"quarantine harbour procedures"', 5)
    assert "**quarantine** **harbour** **procedures**" in hits[0].snippet
    hits, _, _ = search(site["output"], "inspected NOT quokka", 5)
    assert "**inspecting**" in hits[0].snippet and "**quokka" not in hits[0].snippet.lower()
    hits, _, _ = search(site["output"], "insp*", 5)
    assert "**inspectors**" in hits[0].snippet


def test_cli_ranks_and_counts_every_match(site):
    """The CLI's top 10 and count are those of scoring every match (no block skipping)."""
    from search_index.query import make_parser, model

    ix, weighting = open_index(site["output"]), weighting_from_settings({})
    with ix.searcher(weighting=model(weighting)) as searcher:
        for text in PARITY_QUERIES:
            every = searcher.search(make_parser(ix.schema, weighting).parse(text), limit=None)
            hits, total, _ = search(site["output"], text, 10)
            assert total == len(every), text
            assert [h.url for h in hits] == [h["url"] for h in every[:10]], text


def test_adjacent_phrase_is_whooshs_phrase(site):
    """The CLI's faster phrase matcher finds the same documents with the same scores."""
    from whoosh.qparser import MultifieldParser

    from search_index.query import make_parser, model, top_hits

    ix, weighting = open_index(site["output"]), weighting_from_settings({})
    ours = make_parser(ix.schema, weighting)
    whooshs = MultifieldParser(["title", "body"], ix.schema, fieldboosts=weighting["boosts"])
    phrases = ['"syrian army"', '"killed in"', '"quarantine harbour procedures"', 'title:"ferry inspection"',
               '"the army"', '"army army"', '"أحمد المصري"', '"syrian army" OR "government forces" aleppo']
    with ix.searcher(weighting=model(weighting)) as searcher:
        for text in phrases:
            a, b = top_hits(searcher, ours.parse(text), 10), top_hits(searcher, whooshs.parse(text), 10)
            assert len(a) == len(b), text
            assert [(h.docnum, round(h.score, 9)) for h in a] == [(h.docnum, round(h.score, 9)) for h in b], text


#: Queries of every shape `top_hits` scores a posting list at a time, or partly by Whoosh's
#: own matchers: one word, two, three and four parts, phrases of two and three words,
#: NOT, prefixes, fields, years, boosts and words the index does not have.
SHAPES = ["army", "syrian army", "syrian army forces", "army OR police", "idlib OR hama OR homs",
          '"syrian army"', '"the syrian army"', '"quarantine harbour procedures"', '"killed in" aleppo',
          'title:"ferry inspection"',
          "army NOT syrian", "army NOT syrian NOT aleppo", "syria^2 army", "(army OR police)^0.5 killed",
          "insp*", "kill* aleppo", "negotiat*", "ambush* OR destroy*", "title:aleppo", "year:2016 aleppo",
          "zanzibar", "xyzzyplugh army",
          '"xyzzyplugh army"', "NOT army", "army ANDNOT syrian", "الجيش"]


def exact_hits(results):
    return len(results), sorted(results.docs()), [(h.docnum, h.score) for h in results]


def test_top_hits_are_whooshs_matches_bit_for_bit(site):
    """Scoring posting lists at a time finds Whoosh's count, top 10, order and scores exactly."""
    from search_index.query import _top_hits_by_matcher, make_parser, model, top_hits

    ix, weighting = open_index(site["output"]), weighting_from_settings({})
    parser = make_parser(ix.schema, weighting)
    with ix.searcher(weighting=model(weighting)) as searcher:
        for text in SHAPES + PARITY_QUERIES:
            query = parser.parse(text)
            for limit in (1, 10, 1000):
                assert exact_hits(top_hits(searcher, query, limit)) == \
                    exact_hits(_top_hits_by_matcher(searcher, query, limit)), (text, limit)


def _segments_holding(reader, fieldname: str, terms: list[bytes]):
    """(segment reader, term) for each segment holding each term: the block readers read one
    segment (a partitioned build's index has a segment per partition)."""
    found = [(leaf, term) for term in terms for leaf, _ in reader.leaf_readers() if (fieldname, term) in leaf]
    assert {term for _, term in found} == set(terms)
    return found


def test_position_gaps_are_whooshs_positions(site):
    from itertools import accumulate

    from search_index.whoosh_format import position_gaps, read_postings

    ix = open_index(site["output"])
    with ix.reader() as whole:
        decode = ix.schema["body"].format.decode_positions
        for reader, term in _segments_holding(whole, "body", [b"armi", b"syrian", b"kill", b"zanzibar"]):
            _, _, values = read_postings(reader, "body", term, values=True)
            assert values and [list(accumulate(g)) for g in position_gaps(values)] == \
                [decode(v) for v in values], term
            # Values without the final STOP (older Whoosh) are unpickled one at a time.
            assert position_gaps([v[:-1] for v in values]) == position_gaps(values), term


def test_gaps_cut_from_blocks_are_whooshs_positions(site):
    """Positions cut out of the posting blocks' bytes equal the values Whoosh unpickles, for
    every document of a term or some of them; a check that fails falls back to unpickling."""
    from itertools import accumulate

    from search_index.whoosh_format import flat_gaps_of, gaps_of, read_postings

    ix = open_index(site["output"])
    with ix.reader() as whole:
        decode = ix.schema["body"].format.decode_positions
        for reader, term in _segments_holding(whole, "body", [b"armi", b"syrian", b"kill", b"zanzibar"]):
            blocks = []
            ids, weights, _ = read_postings(reader, "body", term, blocks=blocks)
            _, _, values = read_postings(reader, "body", term, values=True)
            assert [d for block_ids, _ in blocks for d in block_ids] == ids
            expected = [decode(v) for v in values]
            assert [list(accumulate(g)) for g in gaps_of(blocks, set(ids), weights)] == expected, term
            some = set(ids[::3])
            picked = [(w, e) for d, w, e in zip(ids, weights, expected) if d in some]
            gaps = gaps_of(blocks, some, [w for w, _ in picked])
            assert [list(accumulate(g)) for g in gaps] == [e for _, e in picked], term
            wrong_counts = [w + 1 for w in weights]
            assert [list(accumulate(g)) for g in gaps_of(blocks, set(ids), wrong_counts)] == expected, term
            # The same gaps in one list, for every document or some.
            assert flat_gaps_of(blocks, set(ids), weights) == [x for g in gaps_of(blocks, set(ids), weights) for x in g]
            assert flat_gaps_of(blocks, some, [w for w, _ in picked]) == [x for g in gaps for x in g], term
            # Gaps that do not add up to the counts: gaps_of's lists (and its checks), flattened.
            assert flat_gaps_of(blocks, set(ids), wrong_counts) == [x for g in gaps_of(blocks, set(ids), weights) for x in g]


def test_plugin_acts_only_when_listed_in_plugins(site, tmp_path):
    """Signals stay connected after a build in this process: a build without the plugin
    writes no index and no browser shards."""
    from broadsheet import site as site_module

    plugins = [p for p in site_module.load_settings()["PLUGINS"] if p != "search_index"]
    output = tmp_path / "output"
    build_site(site["content"], output, PLUGINS=plugins)
    assert not (output / "search").exists() and not (output / "search.html").exists()
    assert not (index_path(output)).exists()


def test_cli_json_and_missing_index(site, tmp_path):
    done = subprocess.run([str(ROOT / "invoke"), "search", "zanzibar", "--output", str(site["output"]), "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    assert hits and set(hits[0]) == {"title", "url", "date", "score", "snippet"}
    assert "**Zanzibar**" in hits[0]["snippet"] or "Zanzibar" in hits[0]["title"]
    missing = subprocess.run([str(ROOT / "invoke"), "search", "x", "--output", str(tmp_path / "none")],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert missing.returncode == 2 and "no search index" in missing.stderr


def test_incremental_rebuild_touches_only_changed_articles(site, tmp_path):
    """A single build (one Pelican run) updates its index in place."""
    content, output = tmp_path / "content", tmp_path / "output"
    shutil.copytree(site["content"], content)
    build_site(content, output, partitioned=False)
    last = index_path(output) / "last-update.json"
    assert json.loads(last.read_text())["rebuilt"] is True

    build_site(content, output, partitioned=False)
    nothing = json.loads(last.read_text())
    assert (nothing["added"], nothing["changed"], nothing["removed"]) == ([], [], [])
    assert search(output, "marmosets", 5)[1] == 0  # the open searcher must see the next update

    # Source stamps let a build skip reading unchanged articles; stamps that disagree with
    # the index make it read them after all.
    kept = Store(last.parent)
    stamps = kept.load(SOURCES)
    assert len(stamps) == len(list(content.rglob("*.md")))
    kept.save(SOURCES, {k: [stamp, "not-the-hash"] for k, (stamp, _) in stamps.items()})
    build_site(content, output, partitioned=False)
    assert len(json.loads(last.read_text())["changed"]) == len(stamps)
    assert kept.load(SOURCES) == stamps

    files = sorted(content.rglob("*.md"))
    edited, removed = files[0], files[1]
    edited.write_text(edited.read_text().replace("\n\n", "\n\nA sentence about marmosets.\n\n", 1))
    removed.unlink()
    (content / files[2].relative_to(content).with_name("new-one.md")).write_text(
        files[2].read_text().replace("slug: ", "slug: brand-new-", 1))
    build_site(content, output, partitioned=False)
    report = json.loads(last.read_text())
    assert report["rebuilt"] is False
    assert len(report["changed"]) == 1 and len(report["removed"]) == 1 and len(report["added"]) == 1
    assert report["unchanged"] == len(files) - 2
    hits, _, _ = search(output, "marmosets", 5)
    assert [h.url for h in hits] == report["changed"]

    # The index now has a deleted document and more than one segment.
    from search_index.query import _top_hits_by_matcher, make_parser, model, top_hits

    ix, weighting = open_index(output), weighting_from_settings({})
    with ix.searcher(weighting=model(weighting)) as searcher:
        segments = [sub.reader() for sub, _ in searcher.leaf_searchers()]
        assert len(segments) > 1 and any(r.has_deletions() for r in segments)
        for text in ["army", "syrian army", '"syrian army"', "marmosets OR army", "army NOT syrian"]:
            query = make_parser(ix.schema, weighting).parse(text)
            assert exact_hits(top_hits(searcher, query, 10)) == \
                exact_hits(_top_hits_by_matcher(searcher, query, 10)), text


# -- the browser index ---------------------------------------------------------------

def test_js_analysis_agrees_with_whoosh(site):
    texts = [" ".join(p for p in (a[0], *a[2])) for a in HANDMADE]
    texts += [p.read_text() for p in sorted(site["content"].rglob("*.md"))[:40]]
    texts += ["Running runs ran runner generously generalizations yelling U.S.A. e-mail 3.14 "
              "agreed feed hopping conditional rational relational sensibility ponies caresses",
              "Café naïve ÉCOLE Straße İstanbul ٢٠١٦ میخواهم کتاب ۱۳۹۵ أإآٱ ى ـ"]
    js = node_run(site["output"], texts=texts)["analyse"]
    for text, terms in zip(texts, js):
        assert terms == analysis.analyse(text), text[:80]


def test_one_pass_analyzer_is_the_whoosh_chain(site):
    """The analyser the index uses gives the chain's tokens, positions and offsets exactly."""
    fast, chain = analysis.make_analyzer(), analysis.reference_chain()
    texts = [p.read_text() for p in sorted(site["content"].rglob("*.md"))]
    texts.append("The a U.S.A. e-mail Café ÉCOLE İstanbul ٢٠١٦ میخواهم کتاب أإآٱ ى ـ قالَ الرئيسُ of")
    for text in texts:
        for options in ({}, {"positions": True, "chars": True}, {"positions": True, "start_pos": 7},
                        {"mode": "query"}, {"removestops": False, "positions": True}):
            def tokens(analyzer):
                return [(t.text, getattr(t, "pos", None), getattr(t, "startchar", None), t.stopped)
                        for t in analyzer(text, **options)]
            assert tokens(fast) == tokens(chain), (text[:60], options)


def test_js_prefix_terms_are_pythons():
    """A prefix looks for the same beginnings and whole terms in both engines."""
    words = ["negotiat", "Negotiations", "ambush", "destroy", "generat", "palmyr", "insp", "the", "a",
             "toy", "hoping", "الجيش", "أحمد", "Café"]
    script = ("const vm = require('vm'), fs = require('fs'); const ctx = vm.createContext({});"
              "ctx.globalThis = ctx; vm.runInContext(fs.readFileSync(process.argv[1], 'utf8'), ctx);"
              "const A = ctx.BroadsheetAnalysis, words = JSON.parse(process.argv[2]);"
              "process.stdout.write(JSON.stringify({endings: A.PREFIX_ENDINGS,"
              " terms: words.map((w) => A.prefixTerms(w))}));")
    done = subprocess.run([NODE, "-e", script, str(JS_DIR / "search-analysis.js"), json.dumps(words)],
                          capture_output=True, text=True, check=True, timeout=60)
    js = json.loads(done.stdout)
    assert tuple(js["endings"]) == analysis.PREFIX_ENDINGS
    for word, terms in zip(words, js["terms"]):
        assert (terms["beginnings"], terms["whole"]) == tuple(map(list, analysis.prefix_terms(word))), word


def test_js_stop_words_are_whooshs():
    from whoosh.analysis.filters import STOP_WORDS

    src = (JS_DIR / "search-analysis.js").read_text()
    listed = src.split("var STOP_WORDS = {};")[1].split("].forEach")[0]
    assert set(re.findall(r'"([^"]+)"', listed)) == set(STOP_WORDS)


def test_shard_files_stay_bounded_in_bytes(site):
    """Buckets and document shards stay near their target size whatever the corpus size (a
    query loads a few of them); a long posting list is a file of its own; no folder holds
    more than FOLDER_SIZE files. Checked with small targets, so that this corpus needs many."""
    from search_index.index import open_or_create

    ix, _ = open_or_create(index_path(site["output"]))
    weighting = weighting_from_settings({})
    targets = {"TARGET_TERM_SHARD_BYTES": 500, "LIST_FILE_CHARS": 40, "TARGET_DOC_SHARD_BYTES": 1_500,
               "FOLDER_SIZE": 20}
    saved = {name: getattr(export, name) for name in targets}
    try:
        for name, value in targets.items():
            setattr(export, name, value)
        report = export.export_browser_index(ix, site["base"] / "small" / "search", weighting)
    finally:
        for name, value in saved.items():
            setattr(export, name, value)
    out = site["base"] / "small" / "search"
    meta = _register_payload((out / "meta.js").read_text())
    assert report.lists > 10 and meta["termShards"] > 20 and meta["docShards"] > 10
    assert meta["folderSize"] == 20
    for kind in ("t", "p", "l", "q", "d"):
        folders = [f for f in (out / kind).iterdir()]
        assert folders and all(len(list(f.iterdir())) <= 20 for f in folders), kind
    buckets = [p.stat().st_size for p in (out / "t").rglob("*.js")]
    assert len(buckets) == meta["termShards"] and max(buckets) < 8 * 500
    for shard in (out / "t").rglob("*.js"):
        for terms in _register_payload(shard.read_text(encoding="utf-8")).values():
            assert all(isinstance(v, int) or len(v) <= 40 for v in terms.values())
    docs = [p.stat().st_size for p in (out / "d").rglob("*.js")]
    assert len(docs) == meta["docShards"] and max(docs) < 3 * 1_500


def test_shards_carry_no_article_bodies(site):
    """Document shards hold what a result shows (title, URL, date, an excerpt), not the text."""
    body = next(iter(HANDMADE))[2][1]  # the Zanzibar article's second paragraph
    for shard in (site["output"] / "search" / "d").rglob("*.js"):
        text = shard.read_text(encoding="utf-8")
        assert "Zanzibar Ferry" not in text or body not in text
        assert all(len(r[3]) <= export.EXCERPT_CHARS for r in _register_payload(text) if r)


def _register_payload(text: str):
    return json.loads(text.split(",", 2)[2].rsplit(");", 1)[0])


def test_numbers_encoding_round_trips():
    numbers = [0, 1, 63, 64, 1727, 1728, 46655, 46656, 99_999, 2**31]
    assert export.decode_numbers(export.encode_numbers(numbers)) == numbers
    assert len(export.encode_numbers([5, 63])) == 2 and len(export.encode_numbers([64])) == 2
    assert '"' not in export.DIGITS and "\\" not in export.DIGITS


PARITY_QUERIES = [
    "syria", "army", "syrian army", "attack", "attacks killed", "government forces", "rebels",
    "Aleppo", "Damascus", "chemical", "chemical weapons", "airstrikes", "civilians killed",
    "ceasefire", "Russia", "Turkey", "Iran", "ISIS", "terrorists", "children", "hospital",
    "bombing", "coalition", "opposition", "province", "village", "troops", "militants",
    '"syrian army"', '"killed in"', "army OR police", "title:aleppo", "idlib", "homs", "hama",
    "regime", "fighters", "shelling", "mortar", "negotiations", "peace talks", "refugees",
    "killing", "killed", "wounded", "sources said", "reported", "officials", "zanzibar", "الجيش",
]


def parity(output: Path, queries: list[str]) -> tuple[float, list]:
    ix = open_index(output)
    weighting = weighting_from_settings({})
    js = {q["query"]: q for q in node_run(output, queries)["queries"]}
    misses = []
    for q in queries:
        expected = top_urls(ix, q, weighting, 10)
        got = js[q].get("urls")
        if got is None or set(got) != set(expected):
            misses.append((q, expected, got, js[q].get("error")))
    return 1 - len(misses) / len(queries), misses


def test_positions_are_loaded_only_for_phrases(site):
    plain = node_run(site["output"], ["zanzibar ferry"])["queries"][0]
    phrase = node_run(site["output"], ['"zanzibar ferry"'])["queries"][0]
    assert plain["urls"] == phrase["urls"] and plain["urls"]
    assert not [f for f in plain["shards"] if f.startswith("p/")]
    assert [f for f in phrase["shards"] if f.startswith("p/")]
    assert len([f for f in plain["shards"] if f.startswith("d/")]) <= 10


def test_browser_prefixes_find_what_the_cli_finds(site):
    queries = ["negotiat*", "ambush*", "negoti*", "destroy*", "kill* aleppo", "title:insp*"]
    js = {r["query"]: r for r in node_run(site["output"], queries)["queries"]}
    for q in queries:
        hits, total, _ = search(site["output"], q, 10)
        assert js[q]["total"] == total and total > 0, (q, js[q], total)
        assert set(js[q]["urls"]) == {h.url for h in hits}, q


def test_browser_ranking_matches_whoosh(site):
    score, misses = parity(site["output"], PARITY_QUERIES)
    assert score >= 0.9, misses


def small_export(site, name: str, **targets) -> Path:
    """The site's index exported again with small size targets (so that this corpus has long
    lists, in many chunks), into `<base>/<name>/search`; returns `<base>/<name>`."""
    from search_index.index import open_or_create

    ix, _ = open_or_create(index_path(site["output"]))
    saved = {name: getattr(export, name) for name in targets}
    try:
        for key, value in targets.items():
            setattr(export, key, value)
        export.export_browser_index(ix, site["base"] / name / "search", weighting_from_settings({}))
    finally:
        for key, value in saved.items():
            setattr(export, key, value)
    return site["base"] / name


def test_browser_ranks_the_best_from_the_best_chunks(site):
    """A word, or words ANDed, with long lists are ranked from their best chunks only, until
    the ten best are certain: the same ten as Whoosh's, and as ranking every match gives,
    having read fewer chunks than there are."""
    out = small_export(site, "chunked", LIST_FILE_CHARS=40, CHUNK_POSTINGS=4)
    words = [q for q in PARITY_QUERIES if not any(c in q for c in '":*') and " OR " not in q]
    best = {r["query"]: r for r in node_run(out, words)["queries"]}
    every = {r["query"]: r for r in node_run(out, words, all=True)["queries"]}
    ix, weighting = open_index(site["output"]), weighting_from_settings({})
    partial, misses = 0, []
    for q in words:
        assert best[q]["urls"] == every[q]["urls"][:len(best[q]["urls"])], q
        assert best[q]["scores"] == every[q]["scores"][:len(best[q]["scores"])], q
        if set(best[q]["urls"]) != set(top_urls(ix, q, weighting, 10)):  # as `parity` counts
            misses.append(q)
        if not best[q]["complete"]:
            partial += 1
            assert len(best[q]["urls"]) == 10
            assert len([s for s in best[q]["shards"] if s.startswith("l/")]) < \
                len([s for s in every[q]["shards"] if s.startswith("l/")]), q
    assert partial >= 5 and len(misses) <= len(words) // 10, misses


def test_browser_next_page_and_a_year_rank_from_the_best_chunks(site):
    """The next page (the 20 best) and the best of one year come from the best chunks and the
    pieces of the candidates, as the first page does: the same hits and scores as ranking
    every match and keeping the first 20, or those of the year, without reading every chunk."""
    out = small_export(site, "chunked-more", LIST_FILE_CHARS=40, CHUNK_POSTINGS=4, PIECE_POSTINGS=3)
    words = ["army", "syrian army", "attacks killed", "civilians killed", "government forces", "aleppo",
             "killed", "sources said"]
    every = {r["query"]: r for r in node_run(out, words, all=True, limit=100_000)["queries"]}
    year = 2016
    partial = 0
    for best, kwargs in ((20, {}), (10, {"year": year})):
        found = {r["query"]: r for r in node_run(out, words, limit=best, best=best, **kwargs)["queries"]}
        for q in words:
            full = every[q]
            ranked = [(u, s) for u, s, y in zip(full["urls"], full["scores"], full["years"]) if y == kwargs.get("year", y)]
            got = found[q]
            if not got["complete"]:
                partial += 1
                assert len(got["urls"]) == min(best, len(ranked)), (q, kwargs)
                assert len([s for s in got["shards"] if s.startswith("l/")]) < \
                    len([s for s in full["shards"] if s.startswith("l/")]), (q, kwargs)
                if kwargs:
                    assert set(got["years"]) == {year}, q
            else:  # every match known: the page filters them itself
                ranked = list(zip(full["urls"], full["scores"]))
            assert list(zip(got["urls"], got["scores"])) == ranked[:len(got["urls"])], (q, kwargs)
    assert partial >= 8


# -- FA-KES ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fakes_site(tmp_path_factory):
    if not FAKES_CSV.exists():
        pytest.skip(f"FA-KES is not in {FAKES_DIR}")
    from broadsheet.ingest import ingest
    from broadsheet.tables import load_mapping

    base = tmp_path_factory.mktemp("fakes-search")
    content, output = base / "content", base / "output"
    ingest(FAKES_CSV, content, "Asia/Tehran", mapping=load_mapping(ROOT / "mappings" / "fa-kes.yaml"))
    build_site(content, output)
    with FAKES_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"output": output, "rows": rows}


def distinctive_titles(rows) -> list[str]:
    """Titles that occur once in the table (repeated titles have no single intended article)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["article_title"].strip()] = counts.get(r["article_title"].strip(), 0) + 1
    titles = [t for t, n in counts.items() if n == 1 and len(analysis.analyse(t)) >= 3]
    return titles[::4]


def clean_query(title: str) -> str:
    return " ".join(w for w in "".join(c if c.isalnum() else " " for c in title).split()
                    if w not in ("AND", "OR", "NOT"))


@needs_fakes
def test_fakes_titles_found_by_cli(fakes_site):
    titles = distinctive_titles(fakes_site["rows"])
    found = 0
    for t in titles:
        hits, _, _ = search(fakes_site["output"], clean_query(t), 10)
        found += any(h.title.strip() == t for h in hits)
    assert found / len(titles) >= 0.95, (found, len(titles))


@needs_fakes
def test_fakes_parity(fakes_site):
    queries = PARITY_QUERIES + [clean_query(t) for t in distinctive_titles(fakes_site["rows"])[:30]]
    score, misses = parity(fakes_site["output"], queries)
    assert score >= 0.9, misses[:5]


# -- the browser ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def http_root(site):
    handler = functools.partial(_QuietHandler, directory=str(site["output"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(params=["http", "file"])
def root_url(request, site):
    if request.param == "http":
        return request.getfixturevalue("http_root")
    return site["output"].as_uri()


def watched_page(browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def results_text(page) -> str:
    return page.inner_text("#search-results")


@pytest.mark.browser
@pytest.mark.parametrize("query, expected", [
    ("zanzibar", "Zanzibar Ferry Inspection"),
    ('"quarantine harbour procedures"', "Zanzibar Ferry Inspection"),
    ("inspected", "Zanzibar Ferry Inspection"),
    ("الجيش", "Statement From Damascus"),
    ("احمد", "Statement From Damascus"),
])
def test_browser_query_from_url(browser, root_url, query, expected):
    from urllib.parse import quote

    page, errors = watched_page(browser)
    page.goto(f"{root_url}/search.html?q={quote(query)}")
    page.wait_for_selector("#search-results li a")
    assert expected in results_text(page)
    assert "result" in page.inner_text("#search-status")
    assert page.locator("#search-results mark").count() >= 1
    assert not errors
    page.close()


@pytest.mark.browser
def test_browser_prefix_matches_whole_words(browser, http_root, site):
    from urllib.parse import quote

    page, errors = watched_page(browser)
    counts = {}
    for query in ("negotiations", "negotiat*"):
        page.goto(f"{http_root}/search.html?q={quote(query)}")
        page.wait_for_selector("#search-results li a")
        counts[query] = int(page.inner_text("#search-status").split()[0])
    assert counts["negotiat*"] == counts["negotiations"] == search(site["output"], "negotiat*", 10)[1]
    assert "negotiations" in page.inner_text("#search-results mark").lower()
    assert not errors
    page.close()


@pytest.mark.browser
def test_browser_typing_zero_results_more_years_keyboard(browser, root_url):
    # Every wait is for the state the next line reads: each keystroke may start a debounced
    # search of its own, and the result list is filled after the status line is written.
    page, errors = watched_page(browser)
    page.goto(f"{root_url}/search.html")
    box, status = page.locator("input[type=search]"), page.locator("#search-status")
    items = page.locator("#search-results li")
    expect(box).to_have_count(1)
    box.type("xyzzyplugh")
    expect(status).to_have_text("0 results for \u201cxyzzyplugh\u201d")
    box.fill("")
    box.type("army")
    expect(status).to_have_text(re.compile(r"^\d+ results for \u201carmy\u201d$"))
    total = int(status.inner_text().split()[0])
    assert total > 10
    expect(items).to_have_count(10)
    page.click("#search-more")
    expect(items).to_have_count(min(20, total))
    # year filter narrows the list and the count
    years = page.eval_on_selector_all("#search-year option", "os => os.map(o => o.value).filter(Boolean)")
    page.select_option("#search-year", years[0])
    expect(status).to_have_text(re.compile(rf"^\d+ results? for \u201carmy\u201d in {years[0]}$"))
    in_year = int(status.inner_text().split()[0])
    assert 0 < in_year <= total
    expect(items).to_have_count(min(10, in_year))
    assert all(years[0] in d for d in page.eval_on_selector_all("#search-results .list-meta", "e => e.map(x => x.textContent)"))
    # keyboard: ↓ from the box to the first result, Enter opens it with the query
    box.focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#search-results a.search-result-link").first).to_be_focused()
    # The search page's own URL carries ?q=army too: wait for the article page itself.
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "q=army" in page.url and "search.html" not in page.url
    expect(page.locator("html")).to_have_attribute("data-search-marks", re.compile(r"^[1-9]\d*$"))
    assert page.locator("article mark.search-term").count() >= 1
    assert not errors
    page.close()


@pytest.mark.browser
def test_browser_page_shows_the_best_then_the_next_best(browser, site):
    """With long lists in chunks, the page shows the ten best at once ("the 10 best of up to
    N"), then the next ten, and the best of a year, each from the best chunks and the pieces
    of their candidates: the same hits, in the same order, as a full ranking."""
    chunked = site["base"] / "chunked-page"
    shutil.copytree(site["output"], chunked, ignore=shutil.ignore_patterns("search"))
    small_export(site, "chunked-page", LIST_FILE_CHARS=40, CHUNK_POSTINGS=4, PIECE_POSTINGS=3)
    full = node_run(site["output"], ["army"], all=True, limit=100_000)["queries"][0]
    assert not node_run(chunked, ["army"])["queries"][0]["complete"]
    page, errors = watched_page(browser)
    page.goto(f"{chunked.as_uri()}/search.html?q=army")
    page.wait_for_function("document.getElementById('search-status').textContent.includes('best of up to')")

    def shown():
        hrefs = page.eval_on_selector_all("#search-results li a", "as => as.map(a => a.getAttribute('href'))")
        return [h.split("?")[0] for h in hrefs]

    def same(hrefs, urls):
        return len(hrefs) == len(urls) and all(h.endswith(u) for h, u in zip(hrefs, urls))

    assert page.locator("#search-results li").count() == 10
    assert same(shown(), full["urls"][:10])
    page.click("#search-more")
    page.wait_for_function("document.querySelectorAll('#search-results li').length > 10")
    assert same(shown(), full["urls"][:20])
    assert page.inner_text("#search-status").startswith("The 20 best of up to")
    year = sorted(set(full["years"]))[len(set(full["years"])) // 2]
    page.select_option("#search-year", str(year))
    page.wait_for_function(f"document.getElementById('search-status').textContent.includes(' in {year}')")
    of_year = [u for u, y in zip(full["urls"], full["years"]) if y == year]
    assert same(shown(), of_year[:10])
    assert not errors
    page.close()


@pytest.mark.browser
def test_browser_index_text_is_never_html(browser, root_url):
    page, errors = watched_page(browser)
    page.goto(f"{root_url}/search.html?q=quokka")
    page.wait_for_selector("#search-results li a")
    assert page.locator("#search-results img, #search-results b").count() == 0
    assert "<img src=x" in results_text(page)
    assert page.evaluate("window.__pwned") is None
    page.close()


@pytest.mark.browser
def test_browser_says_when_the_index_is_missing(browser, site, tmp_path):
    broken = tmp_path / "site"
    shutil.copytree(site["output"], broken)
    shutil.rmtree(broken / "search")
    page, _ = watched_page(browser)
    page.goto(f"{broken.as_uri()}/search.html?q=army")
    page.wait_for_function("document.getElementById('search-status').textContent.includes('unavailable')")
    assert "search index could not be loaded" in page.inner_text("#search-status")
    page.close()


@pytest.mark.browser
def test_browser_loads_only_the_shards_a_query_needs(browser, http_root, site):
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{http_root}/search.html?q=zanzibar")
    page.wait_for_selector("#search-results li a")
    term_shards = [u for u in requested if "/search/t/" in u]
    assert len(term_shards) == 1
    assert not any("fetch" in u for u in requested)
    page.close()


@needs_fakes
@pytest.mark.browser
def test_fakes_titles_found_in_chromium(browser, fakes_site):
    titles = distinctive_titles(fakes_site["rows"])
    page = browser.new_page()
    page.goto(f"{fakes_site['output'].as_uri()}/search.html")
    page.wait_for_function("window.BroadsheetSearch !== undefined")
    found = page.evaluate("""async (queries) => {
        const engine = BroadsheetSearch.createEngine({base: "search/"});
        const out = [];
        for (const [q, title] of queries) {
            const r = await engine.search(q);
            const docs = await engine.documents(r.hits.slice(0, 10).map(h => h.doc));
            out.push(docs.some(d => d && d.title.trim() === title));
        }
        return out;
    }""", [[clean_query(t), t] for t in titles])
    assert sum(found) / len(titles) >= 0.95, (sum(found), len(titles))
    page.close()


# -- the bench ------------------------------------------------------------------------

def test_bench_search_scale_measures_bytes_and_cli(tmp_path):
    """`invoke bench --search-scale N`: search alone at N articles, every step measured."""
    from bench import at_scale, report

    r = at_scale.run_search_scale(60, tmp_path)
    for step in ("corpus", "ingest", "whoosh", "browser_bytes", "cli_queries", "cli_cold"):
        assert r[step]["status"] == "ok", (step, r[step])
    assert all(k["bytes"] > 0 and k["files"] >= 2 for k in r["browser_bytes"]["by_kind"].values())
    assert r["cli_queries"]["p95_ms"] > 0 and r["cli_queries"]["peak_rss_mib"] > 0
    md = report.write_search_scale(r, tmp_path / "results-search-60.json").read_text(encoding="utf-8")
    assert "bytes after meta.js" in md and "p95" in md


def test_whoosh_format_reads_the_installed_version():
    """The block readers read the files of one whoosh-reloaded release. Another release may lay
    them out otherwise: they then fall back to Whoosh's matchers (slow, but right), and this
    test fails until whoosh_format.py has been checked against it and WHOOSH_VERSION changed."""
    from search_index import whoosh_format

    installed = whoosh_format.installed_version()
    assert installed == whoosh_format.WHOOSH_VERSION, (
        f"whoosh-reloaded {installed} is installed, but plugins/search_index/whoosh_format.py reads the "
        f"files of {whoosh_format.WHOOSH_VERSION}: check its readers against the new release (the tests of "
        f"read_postings, gaps_of and length_codes), then change WHOOSH_VERSION")
    assert whoosh_format.KNOWN
    pinned = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert f"whoosh-reloaded=={whoosh_format.WHOOSH_VERSION}\n" in pinned
