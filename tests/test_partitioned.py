"""Partitioned builds (broadsheet/partitioned.py): the same bytes as a single build, whatever the
partitions, and what crosses a partition's edge (a year's end, a related link, earlier/later)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from broadsheet import site
from broadsheet.ingest import ingest
from conftest import ROOT
from test_rebuild import PLACES, Project, _same_as_a_clean_build, contents, make_source, title_of, write_dump

TIMEZONE = "Asia/Tehran"
#: Our dumps' numbers (their related ids, 1000950..., are no sample dump's) and their `days`
#: after the seed's date: 31 Dec 2016 11:30 and 1 Jan 2017 12:30, Tehran time.
EVE, DAY, OTHER = 950, 951, 952
NEW_YEARS_EVE, NEW_YEARS_DAY = 246, 247


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """The bundled sample and a few dumps of our own: two either side of a new year, and dumps
    listing each other as related."""
    base = tmp_path_factory.mktemp("partitioned")
    source = base / "raw"
    shutil.copytree(ROOT / "raw", source)
    write_dump(source, EVE, days=NEW_YEARS_EVE, related=(DAY, OTHER))
    write_dump(source, DAY, days=NEW_YEARS_DAY, related=(EVE,))
    write_dump(source, OTHER, days=3, related=(DAY,))
    content = base / "content"
    report = ingest(source, content, TIMEZONE)
    assert not report.rejected
    return content


def _build(content: Path, out: Path, settings: str = "local", **kw) -> dict[str, bytes]:
    extra = {"SITEURL": "https://archive.example.org"} if settings == "hosted" else {}
    site.build(content, out / "site", settings, SEARCH_INDEX_PATH=str(out / "index"),
               RELATED_GRAPH_REPORT=str(out / "graph.json"), **extra, **kw)
    return _files(out / "site")


@pytest.mark.parametrize("settings", ["local", "hosted"])
def test_every_partitioning_writes_what_a_single_build_writes(archive, tmp_path, settings):
    single = _build(archive, tmp_path / "single", settings, partitioned=False)
    assert len(single) > 300
    for most in (1, 7, 5000):
        parted = _build(archive, tmp_path / f"max-{most}", settings, partitioned=True, PARTITION_MAX_ARTICLES=most)
        differ = sorted(k for k in single.keys() | parted.keys() if single.get(k) != parted.get(k))
        assert not differ, f"PARTITION_MAX_ARTICLES={most}: {differ[:10]}"


def _page(files: dict[str, bytes], title: str) -> tuple[str, str]:
    """(path, HTML) of the article page whose <h1> is `title`."""
    for rel, data in files.items():
        if rel.endswith(".html") and re.match(r"\d{4}/\d\d/", rel):
            text = data.decode("utf-8")
            if f">{title}</h1>" in text:
                return rel, text
    raise AssertionError(f"no page titled {title!r}")


def test_what_crosses_a_partition_edge_is_on_the_pages(archive, tmp_path):
    """With a partition per article, each link to another article crosses partitions."""
    files = _build(archive, tmp_path / "one-each", partitioned=True, PARTITION_MAX_ARTICLES=1)
    eve_path, eve = _page(files, title_of(EVE))
    day_path, day = _page(files, title_of(DAY))
    assert eve_path.startswith("2016/12/") and day_path.startswith("2017/01/")
    day_file = Path(day_path).name
    # later in time, across the year's end
    later = re.search(r'rel="next"[^>]*href="([^"]+)"|href="([^"]+)"[^>]*rel="next"', eve)
    assert later and day_file in (later.group(1) or later.group(2))
    # a related link resolved to an article of another partition, and cited-by back
    assert re.search(rf'href="[^"]*{re.escape(day_file)}"[^>]*>{re.escape(title_of(DAY))}<', eve)
    assert title_of(EVE) in day and title_of(OTHER) in day  # cited by both
    assert "archive/2016/12/31/index.html" in files and "archive/2017/01/01/index.html" in files


def test_an_incremental_rebuild_shows_a_changed_title_on_another_partitions_pages(tmp_path, monkeypatch):
    monkeypatch.setenv("BROADSHEET_PARTITION_MAX_ARTICLES", "1")
    project = Project(tmp_path / "archive")
    make_source(project.base, range(1, 5))
    project.rebuild()
    write_dump(project.source, 3, retitled=" (edited)")  # the outlet retitled it
    project.rebuild()
    site_files = _files(project.output)
    _, four = _page(site_files, title_of(4))  # 3's neighbour in time, in a partition of its own
    assert f"{title_of(3)} (edited)" in four
    _same_as_a_clean_build(project, tmp_path / "clean")


def test_a_rebuild_renders_only_the_partitions_whose_inputs_changed(tmp_path, monkeypatch):
    """A partition per article: a changed dump re-renders its own partition and those whose
    pages show something of it (its neighbours in time); the others are linked as they were."""
    monkeypatch.setenv("BROADSHEET_PARTITION_MAX_ARTICLES", "1")
    project = Project(tmp_path / "archive")
    make_source(project.base, range(1, 8))
    first = project.rebuild()
    assert len(first.partitions["rendered"]) == 8 and first.partitions["reused"] == []
    again = project.rebuild()
    assert again.partitions["rendered"] == [] and len(again.partitions["reused"]) == 8
    write_dump(project.source, 4, variant=" (updated)")  # its text only: its title stays
    changed = project.rebuild()
    assert len(changed.partitions["rendered"]) == 1, changed.partitions
    write_dump(project.source, 4, variant=" (updated)", retitled=" (retitled)")
    retitled = project.rebuild()
    # itself, and the articles before and after it, whose pages name it (earlier/later)
    assert len(retitled.partitions["rendered"]) == 3, retitled.partitions
    _same_as_a_clean_build(project, tmp_path / "clean")


def test_front_matter_read_on_the_workers_builds_the_same_site(archive, tmp_path, monkeypatch):
    """The driver's front matter read ahead on a local cluster's workers (as a large archive's
    is) gives the same site, and a broken file is skipped for the same reason."""
    from broadsheet import engine

    content = tmp_path / "content"
    shutil.copytree(archive, content)
    broken = sorted(content.rglob("*.md"))[3]
    broken.write_text(broken.read_text(encoding="utf-8").replace("\ntitle:", "\ntitle: [a, list]\nx:", 1),
                      encoding="utf-8")

    def build(out: Path) -> tuple[dict[str, bytes], list]:
        conf = site.build(content, out / "site", "local", partitioned=True, SEARCH_INDEX_PATH=str(out / "index"),
                          RELATED_GRAPH_REPORT=str(out / "graph.json"))
        return _files(out / "site"), conf.get("SKIPPED_CONTENT")

    here, skipped_here = build(tmp_path / "here")
    read_ahead = []
    real_map = engine.Engine.map

    def counted(self, func, jobs, total, **kw):
        if kw.get("name") == "front-matter":
            read_ahead.append((total, self.client is not None))
        return real_map(self, func, jobs, total, **kw)

    monkeypatch.setattr(engine, "pays_for_a_local_cluster", lambda jobs, seconds: True)
    monkeypatch.setattr(engine.Engine, "map", counted)
    ahead, skipped_ahead = build(tmp_path / "ahead")
    articles = [p for p in content.rglob("*.md") if not p.relative_to(content).as_posix().startswith("pages/")]
    assert read_ahead == [(len(articles), True)]
    assert skipped_here == [{"file": broken.relative_to(content).as_posix(), "line": 2,
                             "reason": "title: expected text, got a list of 2"}]
    assert skipped_ahead == skipped_here
    assert ahead == here


def test_a_rebuild_reads_only_the_changed_articles_of_a_partition(tmp_path, monkeypatch):
    """Partitions of a month: March (the seed), April and May (three dumps each). A dump whose
    text changed is the only article read of its partition, and the changed articles of two
    partitions are read in one run; a retitled one is read with its neighbours in time, whose
    pages name it. The other articles' files are linked from the previous version."""
    monkeypatch.setenv("BROADSHEET_PARTITION_MAX_ARTICLES", "3")
    project = Project(tmp_path / "archive")
    make_source(project.base, [])
    days = {1: 15, 2: 15, 3: 16, 4: 50, 5: 50, 6: 51}  # after the seed's 20 March 2016
    for n, after in days.items():
        write_dump(project.source, n, days=after)
    first = project.rebuild()
    assert first.partitions["read"] == {"2016-03": 1, "2016-04": 3, "2016-05": 3}, first.partitions
    write_dump(project.source, 2, variant=" (updated)", days=days[2])  # its text only: its title stays
    write_dump(project.source, 5, variant=" (updated)", days=days[5])
    changed = project.rebuild()
    assert changed.partitions["read"] == {"2016-04": 1, "2016-05": 1}, changed.partitions
    assert changed.partitions["reused"] == ["2016-03"] and changed.partitions["runs"] == 1
    for n in (2, 5):
        page = next(p for p in project.output.rglob("*.html") if f">{title_of(n)}</h1>" in p.read_text("utf-8"))
        assert f"Report {n} from {PLACES[n]} (updated)." in page.read_text("utf-8")
    write_dump(project.source, 2, variant=" (updated)", retitled=" (retitled)", days=days[2])
    retitled = project.rebuild()
    assert retitled.partitions["read"] == {"2016-04": 3}, retitled.partitions
    again = project.rebuild()
    assert again.partitions["rendered"] == [] and len(again.partitions["reused"]) == 3
    _same_as_a_clean_build(project, tmp_path / "clean")


def test_the_drivers_facts_are_kept_in_a_file_that_goes_with_the_build(archive, tmp_path, monkeypatch):
    """The partitions' facts (data rows with each article's text) wait in a file, not in the
    driver's memory, and the file is removed when the build ends."""
    from broadsheet import fact_store

    made = []
    real = fact_store.FactStore.__init__

    def in_our_folder(self, folder=None):
        real(self, tmp_path / "facts")
        made.append(Path(self._folder.name))

    monkeypatch.setattr(fact_store.FactStore, "__init__", in_our_folder)
    files = _build(archive, tmp_path / "out", partitioned=True, PARTITION_MAX_ARTICLES=7)
    assert len(made) == 1 and not made[0].exists() and not any((tmp_path / "facts").iterdir())
    single = _build(archive, tmp_path / "single", partitioned=False)
    for rel in ("data/articles.jsonl", "data/articles.csv", "data/dublin_core.csv"):
        assert files[rel] == single[rel] and files[rel].count(b"\n") > 5, rel


def test_a_fact_store_gives_back_what_it_was_given_in_the_order_asked(tmp_path):
    from broadsheet.fact_store import FactStore

    store = FactStore(tmp_path)
    store.add({"b.html": {"row": ("b", 2), "script": "latn"}, "a.html": {"row": ("a", 1)}})
    store.add({"b.html": {"row": ("b", 3)}})
    assert list(store.each(["b.html", "a.html"], "row")) == [("b", 3), ("a", 1)]
    assert list(store.each(["a.html", "b.html"], "script", "none")) == ["none", "latn"]
    assert list(store.named("script")) == [("b.html", "latn")]
    with pytest.raises(KeyError, match="a.html"):
        list(store.each(["a.html"], "script"))
    store.close()
    assert not any(tmp_path.iterdir())
