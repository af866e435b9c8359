"""broadsheet.catalog: front matter only, URLs as the build makes them, a fixed order."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import DATA, ROOT, build_site, ingest_into

from broadsheet import engine
from broadsheet import site
from broadsheet.article import Article, read_content_file
from broadsheet.catalog import read_catalog
from broadsheet.urls import article_paths


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The bundled sample plus the site test dumps (long titles, Persian, same titles), built."""
    base = tmp_path_factory.mktemp("catalog-site")
    raw = base / "raw"
    shutil.copytree(ROOT / "raw", raw)
    shutil.copytree(DATA / "site", raw / "site")
    ingest_into(raw, base / "content")
    # an archivist's slug, too long for a file name in UTF-8 bytes: the page name is cut
    edited = sorted((base / "content").rglob("*.md"))[0]
    text = edited.read_text(encoding="utf-8")
    slug = text.split("\nslug: ", 1)[1].split("\n", 1)[0]
    text = text.replace(f"\nslug: {slug}\n", f"\nslug: {'خبر-' * 40}{slug}\n")
    end = text.index("\n---\n", 4)
    edited.write_text(text[:end] + "\ntags:\n- Aleppo\n- ceasefire" + text[end:], encoding="utf-8")  # and tags
    build_site(base / "content", base / "output")
    return {"content": base / "content", "output": base / "output"}


@pytest.fixture(scope="module")
def catalog(built):
    return read_catalog(built["content"], site.load_settings("local"))


def test_every_article_page_of_the_built_site_is_in_the_catalog_at_its_url(built, catalog):
    output = built["output"]
    assert not catalog.problems
    for entry in catalog.entries:
        assert (output / entry.url).is_file(), entry.url
        assert entry.save_as == entry.url
    pages = {p.relative_to(output).as_posix() for p in output.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/*.html")}
    assert {e.url for e in catalog.entries} == pages
    assert len(pages) == len(list(built["content"].rglob("*.md"))) > 40


def test_a_slug_too_long_for_a_file_name_is_cut_as_the_page_is(built, catalog):
    cut = [e for e in catalog.entries if not e.url.endswith(f"/{Path(e.path).stem}.html")]
    assert len(cut) == 1 and cut[0].slug.startswith("خبر-") and cut[0].tags == ("Aleppo", "ceasefire")
    for entry in cut:
        assert len(entry.slug.encode()) <= site.load_settings("local")["SLUG_MAX_BYTES"]
        assert (built["output"] / entry.url).is_file()


def test_records_hold_what_the_front_matter_says(built, catalog):
    for entry in catalog.entries:
        data = (built["content"] / entry.path).read_bytes()
        article = Article.from_metadata(*read_content_file(data.decode("utf-8")))
        assert entry.digest == hashlib.sha256(data).hexdigest()
        assert (entry.title, entry.date, entry.signature, entry.source_id, entry.outlet, entry.facets,
                entry.related_json, list(entry.tags)) == (
            article.title, article.date, article.signature, article.source_id, article.outlet, article.facets,
            article.related_json, article.extra.get("tags", []))
        assert entry.date.tzinfo is not None


def test_order_is_date_then_url_and_the_same_on_a_local_cluster(built, catalog, monkeypatch):
    keys = [(e.date, e.url) for e in catalog.entries]
    assert keys == sorted(keys)
    monkeypatch.setattr(engine, "_LOCAL_CLUSTER_COST", 0)  # a cluster whatever the input's size
    monkeypatch.setattr(engine, "local_workers", lambda: 2)
    assert read_catalog(built["content"], site.load_settings("local")) == catalog


def test_only_the_front_matter_is_parsed_and_the_body_is_in_the_digest(tmp_path, built):
    content = tmp_path / "content"
    shutil.copytree(built["content"], content)
    path = sorted(content.rglob("*.md"))[0]
    data = path.read_bytes()
    before = read_catalog(content, site.load_settings("local"))
    end = data.index(b"\n---\n") + 5
    path.write_bytes(data[:end] + b"\xff\xfe not UTF-8, not Markdown \x00\n")
    after = read_catalog(content, site.load_settings("local"))
    rel = path.relative_to(content).as_posix()
    changed = [(a, b) for a, b in zip(before.entries, after.entries) if a != b]
    assert len(changed) == 1 and changed[0][0].path == rel
    old, new = changed[0]
    assert new.digest != old.digest and new.title == old.title and new.url == old.url


def test_a_file_without_a_record_is_named_and_the_others_are_read(tmp_path, built):
    content = tmp_path / "content"
    shutil.copytree(built["content"], content)
    (content / "2016" / "notes.md").write_text("Just notes, no front matter.\n", encoding="utf-8")
    (content / "2016" / "undated.md").write_text("---\ntitle: Undated\nslug: undated\n---\n\nText\n", encoding="utf-8")
    (content / "2016" / ".hidden.md").write_text("not an article\n", encoding="utf-8")
    (content / "2016" / "typed.md").write_text(
        "---\ntitle: Typed\nslug: typed\ndate: '2016-03-20T21:30:46+03:30'\ntags: {a: 1}\n---\n\nText\n",
        encoding="utf-8")
    result = read_catalog(content, site.load_settings("local"))
    assert [(p.path, p.reason) for p in result.problems] == [
        ("2016/notes.md", "no YAML front matter (expected a first line '---' and a closing '---')"),
        ("2016/typed.md", "tags: expected text or a list of texts, got a mapping of 1"),
        ("2016/undated.md", "front matter has no date"),
    ]
    assert len(result.entries) == len(read_catalog(built["content"], site.load_settings("local")).entries)


def test_urls_follow_the_settings(built):
    settings = site.load_settings("local", ARTICLE_URL="a/{date:%Y}/{slug}/",
                                  ARTICLE_SAVE_AS="a/{date:%Y}/{slug}/index.html",
                                  ARTICLE_LANG_URL="{lang}/{slug}.html", ARTICLE_LANG_SAVE_AS="{lang}/{slug}.html")
    entries = read_catalog(built["content"], settings).entries
    for e in entries:
        assert e.url == f"a/{e.date:%Y}/{e.slug}/" and e.save_as == e.url + "index.html"
    # another language, and an article's own url and save_as, as Pelican takes them
    assert article_paths({"lang": "fa"}, "s", entries[0].date, settings) == ("fa/s.html", "fa/s.html")
    assert article_paths({"url": "own.html", "save_as": "own.html"}, "s", entries[0].date, settings) == (
        "own.html", "own.html")
