"""The browser export re-reads from Whoosh only the terms of changed articles, and still writes
exactly what a fresh export writes."""

from __future__ import annotations

import hashlib
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from broadsheet.cache import STORE_FILE
from conftest import ROOT

sys.path.insert(0, str(ROOT / "plugins"))
from search_index.export import export_browser_index  # noqa: E402
from search_index.index import SearchDocument, update_index  # noqa: E402

WEIGHTING = {"B": 0.75, "K1": 1.2, "boosts": {"title": 3.0, "body": 1.0}}
WORDS = ("army units advanced near the city while negotiators met in geneva and aid convoys "
         "reached besieged districts after the ceasefire held for a week").split()
START = datetime(2016, 3, 20, 21, 30, 46, tzinfo=ZoneInfo("Asia/Tehran"))


def document(n: int, extra: str = "") -> SearchDocument:
    body = " ".join(WORDS[(n * 7 + i) % len(WORDS)] for i in range(30 + n % 11)) + extra
    return SearchDocument(key=f"a/{n}.html", url=f"a/{n}.html", title=f"Report {n} {WORDS[n % len(WORDS)]}",
                          body=body, date=START + timedelta(days=n), outlet="Outlet", labels=[])


def shards(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def export(index: Path, docs: list[SearchDocument], out: Path, table: Path | None):
    ix, _ = update_index(index, docs)
    return export_browser_index(ix, out, WEIGHTING, table)


@pytest.mark.parametrize("chunked", [False, True])
def test_changed_articles_reread_only_their_terms_and_match_a_fresh_export(tmp_path, monkeypatch, chunked):
    if chunked:  # long lists cut into chunks, best first, as at 100,000 articles
        from search_index import export as export_module

        monkeypatch.setattr(export_module, "LIST_FILE_CHARS", 20)
        monkeypatch.setattr(export_module, "CHUNK_POSTINGS", 3)
    docs = [document(n) for n in range(40)]
    table = tmp_path / "table.pickle"
    first = export(tmp_path / "ix", docs, tmp_path / "first", table)
    assert first.terms_read > 50

    docs[5] = document(5, " palmyra recaptured")  # a new word, and the old ones still there
    docs[17] = document(17, " ceasefire ceasefire")
    again = export(tmp_path / "ix", docs, tmp_path / "again", table)
    fresh = export(tmp_path / "fresh-ix", docs, tmp_path / "fresh", None)
    assert shards(tmp_path / "again") == shards(tmp_path / "fresh")
    assert 0 < again.terms_read < first.terms_read / 2
    assert (again.chunks > again.lists > 0) == chunked

    docs[5] = document(5)  # the word goes again: its postings go with it
    back = export(tmp_path / "ix", docs, tmp_path / "back", table)
    export(tmp_path / "fresh-ix-2", docs, tmp_path / "fresh-2", None)
    assert shards(tmp_path / "back") == shards(tmp_path / "fresh-2")
    assert back.terms_read < first.terms_read / 2


def test_added_or_removed_articles_read_everything_again(tmp_path):
    docs = [document(n) for n in range(30)]
    table = tmp_path / "table.pickle"
    first = export(tmp_path / "ix", docs, tmp_path / "first", table)
    docs.append(document(30))
    del docs[3]
    again = export(tmp_path / "ix", docs, tmp_path / "again", table)
    export(tmp_path / "fresh-ix", docs, tmp_path / "fresh", None)
    assert shards(tmp_path / "again") == shards(tmp_path / "fresh")
    assert again.terms_read >= first.terms_read - 5


def test_an_unreadable_table_means_a_full_export(tmp_path):
    docs = [document(n) for n in range(20)]
    table = tmp_path / "table.pickle"
    (tmp_path / STORE_FILE).write_bytes(b"not an SQLite file")
    export(tmp_path / "ix", docs, tmp_path / "out", table)
    export(tmp_path / "fresh-ix", docs, tmp_path / "fresh", None)
    assert shards(tmp_path / "out") == shards(tmp_path / "fresh")


def test_postings_read_by_blocks_are_whooshs(tmp_path, monkeypatch):
    """The export reads each term's postings a block at a time; what it gets is what Whoosh's
    matchers give, in an index of several segments with deleted documents, in small zlib
    blocks as well as in the index's own."""
    from search_index import index
    from search_index.export import _position_gaps_by_document

    monkeypatch.setattr(index, "CODEC_OPTIONS", {"blocklimit": 64, "compression": 3})
    docs = [document(n) for n in range(300)]  # postings of common words span several blocks
    update_index(tmp_path / "ix", docs)
    docs[5] = document(5, " palmyra recaptured")
    docs[140] = document(140, " ceasefire ceasefire")
    ix, _ = update_index(tmp_path / "ix", docs)
    with ix.searcher() as searcher:
        reader = searcher.reader()
        assert len(list(reader.leaf_readers())) > 1 and reader.has_deletions()
        checked = 0
        for fieldname in ("title", "body"):
            for raw in reader.lexicon(fieldname):
                text = raw.decode("utf-8")
                expected = [(d, [p - q for p, q in zip(poses, [0] + poses)])
                            for d, poses in reader.postings(fieldname, text).items_as("positions")]
                assert sorted(zip(*_position_gaps_by_document(reader, fieldname, text))) == sorted(expected), text
                checked += 1
    assert checked > 40
