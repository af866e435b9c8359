"""Search in a partitioned build (plugins/search_index/parts.py): each partition indexes its own
articles into a part, the driver joins the parts into the index the CLI searches and exports it.
The CLI answers as a single build's index does, and a rebuild indexes only changed partitions."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from broadsheet import site
from conftest import ROOT
from test_search import ingest_into, write_dumps

sys.path.insert(0, str(ROOT / "plugins"))

from search_index.index import index_path  # noqa: E402
from search_index.parts import PARTS_DIR  # noqa: E402
from search_index.query import search  # noqa: E402

QUERIES = ["army", "syrian army", '"syrian army"', "zanzibar", "kill* aleppo", "army NOT syrian",
           "marmosets OR army", "title:quokka", "year:2016", "date:[2015-01-01 to 2016-06-30]"]


def _build(content: Path, output: Path, **kw) -> None:
    site.build(content, output, "local", CACHE_PATH=str(output.parent / "cache"), **kw)


def _hits(output: Path) -> dict[str, tuple]:
    found = {}
    for q in QUERIES:
        hits, total, _ = search(output, q, 10)
        found[q] = (total, [(h.url, h.score, h.snippet) for h in hits])
    return found


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def content(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("parts")
    raw, content = base / "raw", base / "content"
    raw.mkdir()
    write_dumps(raw)
    ingest_into(raw, content)
    return content


def test_the_cli_answers_as_a_single_builds_index(content, tmp_path):
    _build(content, tmp_path / "single" / "site", partitioned=False)
    _build(content, tmp_path / "parted" / "site", partitioned=True, PARTITION_MAX_ARTICLES=7)
    parts = list((index_path(tmp_path / "parted" / "site") / PARTS_DIR).iterdir())
    assert len(parts) > 5  # a part per partition
    single, parted = _hits(tmp_path / "single" / "site"), _hits(tmp_path / "parted" / "site")
    assert all(total for total, _ in single.values())
    assert parted == single
    assert _files(tmp_path / "parted" / "site" / "search") == _files(tmp_path / "single" / "site" / "search")


def test_a_rebuild_indexes_only_changed_partitions(content, tmp_path):
    mine = tmp_path / "content"
    shutil.copytree(content, mine)
    output = tmp_path / "out" / "site"
    _build(mine, output, PARTITION_MAX_ARTICLES=7)
    folder = index_path(output)
    first = {p.name: p.stat().st_mtime_ns for p in (folder / PARTS_DIR).iterdir()}

    _build(mine, output, PARTITION_MAX_ARTICLES=7)
    assert {p.name: p.stat().st_mtime_ns for p in (folder / PARTS_DIR).iterdir()} == first
    nothing = json.loads((folder / "last-update.json").read_text())
    assert (nothing["added"], nothing["changed"], nothing["removed"]) == ([], [], [])

    edited = sorted(mine.rglob("*.md"))[5]
    edited.write_text(edited.read_text().replace("\n\n", "\n\nA sentence about marmosets.\n\n", 1))
    _build(mine, output, PARTITION_MAX_ARTICLES=7)
    now = {p.name for p in (folder / PARTS_DIR).iterdir()}
    assert len(now - set(first)) == 1 and len(set(first) - now) == 1  # the edited article's part
    report = json.loads((folder / "last-update.json").read_text())
    assert len(report["changed"]) == 1 and not report["added"] and not report["removed"]
    hits, total, _ = search(output, "marmosets", 5)
    assert total == 1 and [h.url for h in hits] == report["changed"]

    clean = tmp_path / "clean" / "site"
    _build(mine, clean, PARTITION_MAX_ARTICLES=7)
    assert _files(output / "search") == _files(clean / "search")
    assert _hits(output) == _hits(clean)


def test_articles_without_a_part_are_indexed_by_the_driver(content, tmp_path, monkeypatch):
    """A partition on a cluster that does not share the index folder leaves its part behind: the
    driver indexes those articles itself, to the same index (here joined in its own process)."""
    import search_index

    monkeypatch.setattr(search_index, "_write_part", lambda generator: None)
    _build(content, tmp_path / "driver" / "site", PARTITION_MAX_ARTICLES=7, SEARCH_IN_PARALLEL=False)
    parts = list((index_path(tmp_path / "driver" / "site") / PARTS_DIR).iterdir())
    assert len(parts) == 1
    _build(content, tmp_path / "single" / "site", partitioned=False)
    assert _hits(tmp_path / "driver" / "site") == _hits(tmp_path / "single" / "site")
    assert _files(tmp_path / "driver" / "site" / "search") == _files(tmp_path / "single" / "site" / "search")
